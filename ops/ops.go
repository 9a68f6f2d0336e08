// Package ops holds lazymirror's offline maintenance operations on a data
// directory: Import (seed the store from .rpm and .deb files an operator
// already has) and Verify (re-hash every blob, find and quarantine corrupt
// ones). Both work on the same store.Store and index.DB that serve uses, so
// what they write is exactly what serve reads: a package imported here is a
// cache hit there as soon as some repository's metadata lists its checksum,
// and a blob Verify quarantined is fetched again on the next request.
//
// # Why import trusts structure, not content
//
// Import checks that each file is a whole package (the rpm headers parse and
// the header's size matches the file; the .deb's ar members and control file
// parse and the members end exactly at the end of the file), then stores it
// under its sha256. It does not decompress payloads: the cache serves a blob
// only for a path whose metadata names that blob's sha256, so an imported
// file whose bytes are damaged is never served, merely unused. The structure
// check exists so that an operator learns about junk and truncated copies.
//
// # Crash safety
//
// Import writes data before pointers: the store makes the blob durable
// (store.Adopt), then the index records it, and only then, with Move, is the
// source removed. A crash loses at most an index record of a blob that is
// already stored (the next import of the same file adds it, as does
// Verify's repair) and never loses a source file whose bytes are not
// durable in the store.
//
// Verify's repair renames a corrupt blob into a quarantine directory on the
// store's filesystem (rename(2) is atomic: the blob is either still in the
// store or wholly in quarantine), fsyncs both directories, and only then
// deletes the blob's index record. A crash in between leaves a record
// without a file, which the next Verify reports as missing and repairs.
//
// # Concurrency
//
// Both need the store's exclusive lock, which serve holds while it runs: the
// caller opens the store and index and passes them in. Both stream (one file
// at a time, a fixed-size buffer), so memory does not grow with file sizes,
// and stop at ctx's cancellation with what was done so far reported.
package ops

import (
	"context"
	"hash"
	"io"
	"os"
)

// Progress is a running total handed to a progress callback: after each
// buffer read (so a bar moves during a large file) and after each file.
type Progress struct {
	// Files is how many files are done; TotalFiles how many there are.
	Files, TotalFiles int
	// Bytes is how many bytes were read; TotalBytes how many there are.
	Bytes, TotalBytes int64
	// Path is the file being read.
	Path string
}

// Count is a number of files and their bytes.
type Count struct {
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
}

// add counts one file of size bytes.
func (c *Count) add(size int64) {
	c.Files++
	c.Bytes += size
}

// bufSize is the read size for hashing: large enough that the read syscalls
// cost little next to SHA-256 (see BenchmarkVerifyHash).
const bufSize = 1 << 20

// meter tracks Progress and reports it to a callback (which may be nil).
type meter struct {
	p  Progress
	fn func(Progress)
}

// report calls the callback with the current figures.
func (m *meter) report() {
	if m.fn != nil {
		m.fn(m.p)
	}
}

// fileDone counts one finished file.
func (m *meter) fileDone() {
	m.p.Files++
	m.report()
}

// hashFile reads f from its current offset to the end into every hash in
// hs, reporting progress per buffer, and returns the bytes read. It stops
// with ctx's error when ctx is done.
func hashFile(ctx context.Context, f *os.File, buf []byte, m *meter, hs ...hash.Hash) (int64, error) {
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		k, err := f.Read(buf)
		for _, h := range hs {
			h.Write(buf[:k])
		}
		n += int64(k)
		m.p.Bytes += int64(k)
		if k > 0 {
			m.report()
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}
