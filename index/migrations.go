package index

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// migration moves the database from version-1 to version.
type migration struct {
	version int
	name    string
	migrate func(tx *bolt.Tx) error
}

// migrations MUST be ordered by version, each one version after the last.
// A migration decodes the encoding it replaces itself (decodeBlobV1); when
// a later version changes an encoding, copy the old encoder into the
// migrations that use it. A migration test MUST be added for each migration.
var migrations = []migration{
	{version: 1, name: "create buckets", migrate: createBuckets},
	{version: 2, name: "add blob eviction priority", migrate: addBlobPriority},
}

// schemaVersion is the version this binary writes.
func schemaVersion() int { return migrations[len(migrations)-1].version }

// migrate applies every pending migration, each in its own transaction that
// also records the new version, so a crash between two leaves a database at
// a consistent version that the next Open resumes from.
func migrate(bdb *bolt.DB) error {
	var have int
	err := bdb.View(func(tx *bolt.Tx) error {
		var err error
		have, err = readVersion(tx)
		return err
	})
	if err != nil {
		return err
	}
	if have > schemaVersion() {
		return fmt.Errorf("schema version %d, this lazymirror knows up to %d; upgrade lazymirror: %w", have, schemaVersion(), ErrNewerSchema)
	}
	for _, m := range migrations[have:] {
		err := bdb.Update(func(tx *bolt.Tx) error {
			if err := m.migrate(tx); err != nil {
				return err
			}
			meta, err := tx.CreateBucketIfNotExists(bucketMeta)
			if err != nil {
				return err
			}
			return meta.Put(keyVersion, binary.AppendUvarint(nil, uint64(m.version)))
		})
		if err != nil {
			return fmt.Errorf("migrate schema to version %d (%s): %w", m.version, m.name, err)
		}
	}
	return nil
}

// readVersion returns the schema version recorded in tx, 0 for a new file.
func readVersion(tx *bolt.Tx) (int, error) {
	v := nested(tx, bucketMeta)
	if v == nil {
		return 0, nil
	}
	raw := v.Get(keyVersion)
	if raw == nil {
		return 0, nil
	}
	n, k := binary.Uvarint(raw)
	if k != len(raw) || n > 1<<20 {
		return 0, fmt.Errorf("schema version %x: %w", raw, ErrInvalid)
	}
	return int(n), nil
}

// createBuckets is version 1: the top-level buckets.
func createBuckets(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketMeta, bucketEntries, bucketSnapshots, bucketBlobs, bucketAliases, bucketCounters} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// addBlobPriority is version 2: blob records gain the LFUDA priority. With no
// evictions recorded yet the cache age is 0, so each blob's priority starts
// at its hit count, which is what LFUDA would have computed.
func addBlobPriority(tx *bolt.Tx) error {
	b := tx.Bucket(bucketBlobs)
	var keys, vals [][]byte
	err := b.ForEach(func(k, v []byte) error {
		old, err := decodeBlobV1(v)
		if err != nil {
			return fmt.Errorf("blob %x: %w", k, err)
		}
		old.Priority = float64(old.Hits)
		keys = append(keys, bytes.Clone(k))
		vals = append(vals, appendBlob(nil, old))
		return nil
	})
	if err != nil {
		return err
	}
	// Put after ForEach: bbolt forbids changing a bucket while iterating it.
	for i, k := range keys {
		if err := b.Put(k, vals[i]); err != nil {
			return fmt.Errorf("blob %x: %w", k, err)
		}
	}
	return nil
}

// decodeBlobV1 reads the version 1 blob encoding, which addBlobPriority
// replaces: 1 | flags | size:varint | [stored] | [last access] | hits:uvarint.
func decodeBlobV1(v []byte) (Blob, error) {
	r := reader{buf: v}
	if enc := r.byte(); enc != 1 {
		return Blob{}, fmt.Errorf("blob encoding %d, want 1: %w", enc, ErrInvalid)
	}
	var b Blob
	flags := r.byte()
	b.Size = r.varint()
	b.Stored = r.time(flags&blobStored != 0)
	b.LastAccess = r.time(flags&blobLastAccess != 0)
	b.Hits = r.uvarint()
	return b, r.done(flags &^ (blobStored | blobLastAccess))
}
