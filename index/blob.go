package index

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"lazymirror/checksum"
)

// Blob is the index's record of one stored blob, for eviction and statistics.
type Blob struct {
	// Size is the blob's length in bytes.
	Size int64
	// Stored is when the blob was committed to the store.
	Stored time.Time
	// LastAccess is the last hit recorded by Touch (LRU key).
	LastAccess time.Time
	// Hits counts the hits recorded by Touch.
	Hits uint64
	// Priority is the LFUDA key, maintained by the index: cache age + Hits.
	Priority float64
}

// PutBlob records (or replaces) the blob d. b.Priority is ignored: the index
// sets it to the current cache age plus b.Hits. Concurrent calls share one
// transaction (bbolt's Batch: one commit, one fsync, for downloads that end
// together), so a call may wait a couple of milliseconds for company.
func (db *DB) PutBlob(d checksum.Digest, b Blob) error {
	if d.IsZero() {
		return fmt.Errorf("put blob: zero digest: %w", ErrInvalid)
	}
	err := db.bolt.Batch(func(tx *bolt.Tx) error {
		b.Priority = cacheAge(tx) + float64(b.Hits)
		return tx.Bucket(bucketBlobs).Put(d[:], appendBlob(nil, b))
	})
	if err != nil {
		return fmt.Errorf("put blob %s: %w", d, err)
	}
	return nil
}

// Blob returns the record of blob d, or an error wrapping ErrNotFound.
// Hits recorded by Touch since the last flush are not included.
func (db *DB) Blob(d checksum.Digest) (Blob, error) {
	var b Blob
	err := db.bolt.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketBlobs).Get(d[:])
		if v == nil {
			return ErrNotFound
		}
		var err error
		b, err = decodeBlob(v)
		return err
	})
	if err != nil {
		return Blob{}, fmt.Errorf("blob %s: %w", d, err)
	}
	return b, nil
}

// DeleteBlob removes the record of blob d (a gc or verify decision); an
// absent record is not an error. Use Evict when the eviction policy chose d.
func (db *DB) DeleteBlob(d checksum.Digest) error {
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketBlobs).Delete(d[:])
	})
	if err != nil {
		return fmt.Errorf("delete blob %s: %w", d, err)
	}
	return nil
}

// Evict removes the record of blob d and, in the same transaction, raises
// the LFUDA cache age to its priority, so later hits outweigh old ones. It
// returns the removed record, or an error wrapping ErrNotFound.
func (db *DB) Evict(d checksum.Digest) (Blob, error) {
	var b Blob
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		blobs := tx.Bucket(bucketBlobs)
		v := blobs.Get(d[:])
		if v == nil {
			return ErrNotFound
		}
		var err error
		if b, err = decodeBlob(v); err != nil {
			return err
		}
		if b.Priority > cacheAge(tx) {
			err := tx.Bucket(bucketMeta).Put(keyAge, binary.BigEndian.AppendUint64(nil, math.Float64bits(b.Priority)))
			if err != nil {
				return err
			}
		}
		return blobs.Delete(d[:])
	})
	if err != nil {
		return Blob{}, fmt.Errorf("evict blob %s: %w", d, err)
	}
	return b, nil
}

// cacheAge returns the LFUDA cache age L (0 until the first eviction).
func cacheAge(tx *bolt.Tx) float64 {
	v := tx.Bucket(bucketMeta).Get(keyAge)
	if len(v) != 8 {
		return 0
	}
	return math.Float64frombits(binary.BigEndian.Uint64(v))
}

// Blobs calls fn for every blob record in digest order, inside one read
// transaction: fn must not call the DB. An error from fn stops the walk and
// is returned as is.
func (db *DB) Blobs(fn func(d checksum.Digest, b Blob) error) error {
	return db.bolt.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketBlobs).ForEach(func(k, v []byte) error {
			var d checksum.Digest
			if len(k) != len(d) {
				return fmt.Errorf("blob key %x: %w", k, ErrInvalid)
			}
			copy(d[:], k)
			b, err := decodeBlob(v)
			if err != nil {
				return fmt.Errorf("blob %s: %w", d, err)
			}
			return fn(d, b)
		})
	})
}

// Touch records a hit on blob d now. It only updates memory, never waits for
// a transaction; FlushAccess (or FlushEvery, or Close) writes the batch.
func (db *DB) Touch(d checksum.Digest) {
	now := db.now()
	db.mu.Lock()
	db.record(d, access{hits: 1, last: now})
	db.mu.Unlock()
}

// record adds a to the pending access of d. db.mu must be held.
func (db *DB) record(d checksum.Digest, a access) {
	p := db.access[d]
	p.hits += a.hits
	if a.last.After(p.last) {
		p.last = a.last
	}
	db.access[d] = p
}

// FlushAccess writes the hits recorded by Touch in one transaction: hit
// counts, last access times and LFUDA priorities. Hits on blobs without a
// record are dropped. On error the hits stay pending for the next flush.
func (db *DB) FlushAccess() error {
	db.mu.Lock()
	pending := db.access
	if len(pending) == 0 {
		db.mu.Unlock()
		return nil
	}
	db.access = make(map[checksum.Digest]access)
	db.mu.Unlock()

	digests := make([]checksum.Digest, 0, len(pending))
	for d := range pending {
		digests = append(digests, d)
	}
	slices.SortFunc(digests, func(a, b checksum.Digest) int { return slices.Compare(a[:], b[:]) })
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		blobs := tx.Bucket(bucketBlobs)
		age := cacheAge(tx)
		for i := range digests {
			key := digests[i][:]
			v := blobs.Get(key)
			if v == nil {
				continue
			}
			b, err := decodeBlob(v)
			if err != nil {
				return fmt.Errorf("blob %x: %w", key, err)
			}
			a := pending[digests[i]]
			b.Hits += a.hits
			if a.last.After(b.LastAccess) {
				b.LastAccess = a.last
			}
			b.Priority = age + float64(b.Hits)
			if err := blobs.Put(key, appendBlob(nil, b)); err != nil {
				return fmt.Errorf("blob %x: %w", key, err)
			}
		}
		return nil
	})
	if err != nil {
		db.mu.Lock()
		for d, a := range pending {
			db.record(d, a)
		}
		db.mu.Unlock()
		return fmt.Errorf("flush %d access records: %w", len(pending), err)
	}
	return nil
}

// FlushEvery calls FlushAccess every interval until ctx is done, then
// flushes once more. It returns the first flush error (the hits stay
// pending, so the caller may log it and start FlushEvery again) or the
// final flush's error.
func (db *DB) FlushEvery(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return db.FlushAccess()
		case <-t.C:
			if err := db.FlushAccess(); err != nil {
				return err
			}
		}
	}
}
