package index

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// PutReport stores a statistics report (opaque bytes) with the id of the
// transaction that stores it, so that Report can tell whether anything was
// written to the index since.
func (db *DB) PutReport(data []byte) error {
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		v := binary.BigEndian.AppendUint64(nil, uint64(tx.ID()))
		return tx.Bucket(bucketMeta).Put(keyReport, append(v, data...))
	})
	if err != nil {
		return fmt.Errorf("put report: %w", err)
	}
	return nil
}

// Report returns the report PutReport stored, and whether the index is
// unchanged since (no write transaction committed after it). data is nil
// when none was stored.
func (db *DB) Report() (data []byte, current bool, err error) {
	err = db.bolt.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketMeta).Get(keyReport)
		if len(v) < 8 {
			return nil
		}
		current = binary.BigEndian.Uint64(v[:8]) == uint64(tx.ID())
		data = bytes.Clone(v[8:])
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("report: %w", err)
	}
	return data, current, nil
}
