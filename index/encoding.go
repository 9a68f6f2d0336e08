package index

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"lazymirror/checksum"
)

// Entry flag bits (see the package doc for the layouts).
const (
	entryDigest   = 1 << 0
	entryUpstream = 1 << 1
	entryFetched  = 1 << 2
)

// Blob flag bits.
const (
	blobStored     = 1 << 0
	blobLastAccess = 1 << 1
)

// Value encoding versions written by this binary.
const (
	entryEncoding = 1
	blobEncoding  = 2
)

// appendEntry appends e's encoding to dst.
func appendEntry(dst []byte, e Entry) []byte {
	var flags byte
	if !e.Digest.IsZero() {
		flags |= entryDigest
	}
	if !e.Upstream.IsZero() {
		flags |= entryUpstream
	}
	if !e.Fetched.IsZero() {
		flags |= entryFetched
	}
	dst = append(dst, entryEncoding, byte(e.Kind), flags)
	if flags&entryDigest != 0 {
		dst = append(dst, e.Digest[:]...)
	}
	dst = binary.AppendVarint(dst, e.Size)
	if flags&entryUpstream != 0 {
		dst = append(dst, byte(e.Upstream.Algo))
		dst = append(dst, e.Upstream.Value...)
	}
	dst = binary.AppendUvarint(dst, e.Snapshot)
	if flags&entryFetched != 0 {
		dst = binary.AppendVarint(dst, e.Fetched.UnixNano())
	}
	return dst
}

// decodeEntry parses an entry value. It copies what it keeps, so v may be
// bbolt memory that dies with the transaction.
func decodeEntry(v []byte) (Entry, error) {
	r := reader{buf: v}
	if enc := r.byte(); enc != entryEncoding {
		return Entry{}, fmt.Errorf("entry encoding %d: %w", enc, ErrInvalid)
	}
	var e Entry
	e.Kind = Kind(r.byte())
	if e.Kind > Root {
		return Entry{}, fmt.Errorf("entry kind %d: %w", e.Kind, ErrInvalid)
	}
	flags := r.byte()
	if flags&entryDigest != 0 {
		copy(e.Digest[:], r.bytes(len(e.Digest)))
	}
	e.Size = r.varint()
	if flags&entryUpstream != 0 {
		algo := checksum.Algo(r.byte())
		if algo.Size() == 0 {
			return Entry{}, fmt.Errorf("entry upstream algorithm %d: %w", algo, ErrInvalid)
		}
		e.Upstream = checksum.Sum{Algo: algo, Value: append([]byte(nil), r.bytes(algo.Size())...)}
	}
	e.Snapshot = r.uvarint()
	e.Fetched = r.time(flags&entryFetched != 0)
	return e, r.done(flags &^ (entryDigest | entryUpstream | entryFetched))
}

// appendBlob appends b's encoding to dst.
func appendBlob(dst []byte, b Blob) []byte {
	var flags byte
	if !b.Stored.IsZero() {
		flags |= blobStored
	}
	if !b.LastAccess.IsZero() {
		flags |= blobLastAccess
	}
	dst = append(dst, blobEncoding, flags)
	dst = binary.AppendVarint(dst, b.Size)
	if flags&blobStored != 0 {
		dst = binary.AppendVarint(dst, b.Stored.UnixNano())
	}
	if flags&blobLastAccess != 0 {
		dst = binary.AppendVarint(dst, b.LastAccess.UnixNano())
	}
	dst = binary.AppendUvarint(dst, b.Hits)
	return binary.BigEndian.AppendUint64(dst, math.Float64bits(b.Priority))
}

// decodeBlob parses a blob value.
func decodeBlob(v []byte) (Blob, error) {
	r := reader{buf: v}
	if enc := r.byte(); enc != blobEncoding {
		return Blob{}, fmt.Errorf("blob encoding %d: %w", enc, ErrInvalid)
	}
	var b Blob
	flags := r.byte()
	b.Size = r.varint()
	b.Stored = r.time(flags&blobStored != 0)
	b.LastAccess = r.time(flags&blobLastAccess != 0)
	b.Hits = r.uvarint()
	b.Priority = math.Float64frombits(binary.BigEndian.Uint64(r.bytes(8)))
	return b, r.done(flags &^ (blobStored | blobLastAccess))
}

// reader decodes a value field by field. Its error is sticky: after the
// first short or malformed field every read returns zero, and done reports
// the error.
type reader struct {
	buf []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("truncated or malformed %s: %w", what, ErrInvalid)
	}
	r.buf = nil
}

func (r *reader) byte() byte {
	if len(r.buf) < 1 {
		r.fail("byte")
		return 0
	}
	c := r.buf[0]
	r.buf = r.buf[1:]
	return c
}

// bytes returns the next n bytes, or n zero bytes after an error.
func (r *reader) bytes(n int) []byte {
	if len(r.buf) < n {
		r.fail("field")
		return make([]byte, n)
	}
	b := r.buf[:n]
	r.buf = r.buf[n:]
	return b
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.buf)
	if n <= 0 {
		r.fail("varint")
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.buf)
	if n <= 0 {
		r.fail("uvarint")
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

// time reads a Unix-nanosecond timestamp when present, else returns the zero time.
func (r *reader) time(present bool) time.Time {
	if !present {
		return time.Time{}
	}
	return time.Unix(0, r.varint())
}

// done reports the first error, or an error for unknown flag bits or
// trailing bytes.
func (r *reader) done(unknownFlags byte) error {
	switch {
	case r.err != nil:
		return r.err
	case unknownFlags != 0:
		return fmt.Errorf("unknown flags %#x: %w", unknownFlags, ErrInvalid)
	case len(r.buf) != 0:
		return fmt.Errorf("%d trailing bytes: %w", len(r.buf), ErrInvalid)
	}
	return nil
}
