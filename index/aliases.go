package index

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"lazymirror/checksum"
)

// aliasKey is a sum as an alias key: its algorithm byte, then its value.
func aliasKey(s checksum.Sum) []byte { return append([]byte{byte(s.Algo)}, s.Value...) }

// PutAlias records that the content with upstream sum s (md5, sha1, sha512)
// has sha256 d. A sha256 or malformed s, or a zero d, is ErrInvalid.
func (db *DB) PutAlias(s checksum.Sum, d checksum.Digest) error {
	if err := validSum(s); err != nil || s.IsZero() || s.Algo == checksum.SHA256 || d.IsZero() {
		return fmt.Errorf("put alias %s -> %s: %w", s, d, ErrInvalid)
	}
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAliases).Put(aliasKey(s), d[:])
	})
	if err != nil {
		return fmt.Errorf("put alias %s: %w", s, err)
	}
	return nil
}

// Alias returns the sha256 recorded for s, or an error wrapping ErrNotFound.
func (db *DB) Alias(s checksum.Sum) (checksum.Digest, error) {
	var d checksum.Digest
	err := db.bolt.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketAliases).Get(aliasKey(s))
		if v == nil {
			return ErrNotFound
		}
		if len(v) != len(d) {
			return fmt.Errorf("value %x: %w", v, ErrInvalid)
		}
		copy(d[:], v)
		return nil
	})
	if err != nil {
		return d, fmt.Errorf("alias %s: %w", s, err)
	}
	return d, nil
}

// AddCounters adds each delta to its named counter, all in one transaction.
func (db *DB) AddCounters(deltas map[string]int64) error {
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCounters)
		for name, delta := range deltas {
			if name == "" {
				return fmt.Errorf("empty counter name: %w", ErrInvalid)
			}
			n, err := counter(name, b.Get([]byte(name)))
			if err != nil {
				return err
			}
			if err := b.Put([]byte(name), binary.AppendVarint(nil, n+delta)); err != nil {
				return fmt.Errorf("counter %s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("add counters: %w", err)
	}
	return nil
}

// Counters returns every counter.
func (db *DB) Counters() (map[string]int64, error) {
	out := make(map[string]int64)
	err := db.bolt.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCounters).ForEach(func(k, v []byte) error {
			n, err := counter(string(k), v)
			out[string(k)] = n
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read counters: %w", err)
	}
	return out, nil
}

// counter decodes a counter value; nil (absent) is 0.
func counter(name string, v []byte) (int64, error) {
	if v == nil {
		return 0, nil
	}
	n, k := binary.Varint(v)
	if k <= 0 || k != len(v) {
		return 0, fmt.Errorf("counter %s value %x: %w", name, v, ErrInvalid)
	}
	return n, nil
}
