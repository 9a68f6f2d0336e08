package store

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"testing"

	"lazymirror/checksum"
)

// FuzzWriter writes data in chunks of pseudo-random sizes (drawn from seed),
// with a follower reading alongside, and commits with the right or a wrong
// expected digest and size. Invariants: a right commit stores exactly data
// and the follower reads exactly data; a wrong one fails with a mismatch
// error, the follower gets an error (never a clean end) and nothing is left
// in tmp/ or blobs/.
func FuzzWriter(f *testing.F) {
	for _, path := range []string{corpusRepomd, corpusEmpty, corpusRelease} {
		b := readFile(f, path)
		f.Add(b, uint64(len(b)), false, false)
		f.Add(b, uint64(7), true, false)
		f.Add(b, uint64(4096), false, true)
	}
	f.Add([]byte{}, uint64(1), false, false)
	// A tmpfs where possible: fsync there costs nothing, so the fuzzer
	// explores the writer rather than waiting for a (shared) disk.
	root, err := tryTmpfs(f, "256m")
	if err != nil {
		root = f.TempDir()
	}
	f.Fuzz(func(t *testing.T, data []byte, seed uint64, wrongDigest, wrongSize bool) {
		dir, err := os.MkdirTemp(root, "store-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		fuzzWriter(t, dir, data, seed, wrongDigest, wrongSize)
	})
}

// fuzzWriter is FuzzWriter's body for one input, on a store in dir.
func fuzzWriter(t *testing.T, dir string, data []byte, seed uint64, wrongDigest, wrongSize bool) {
	s := openStore(t, dir)
	d := checksum.Digest(sha256.Sum256(data))
	want, size := d, int64(len(data))
	if wrongDigest {
		want[seed%32] ^= 1 << (seed % 8)
	}
	if wrongSize {
		size += int64(seed%3) - 1 // one short (or unknown when data is empty), right, or one long
	}
	w, err := s.Create(want, size)
	if err != nil {
		t.Fatal(err)
	}
	followed := make(chan result, 1)
	follow("follower", w.NewReader(), seed%2 == 0, followed)

	var werr error
	for rest, x := data, seed; len(rest) > 0 && werr == nil; {
		x = x*6364136223846793005 + 1442695040888963407 // LCG: the chunking comes from the seed
		n := min(len(rest), 1+int(x>>33)%(2*len(data)/3+1))
		_, werr = w.Write(rest[:n])
		rest = rest[n:]
	}
	var got checksum.Digest
	cerr := werr
	if werr == nil {
		got, cerr = w.Commit()
	}
	r := <-followed
	ok := want == d && (size == int64(len(data)) || size < 0) // -1: size unknown
	if !ok {
		if cerr == nil || !(errors.Is(cerr, ErrDigestMismatch) || errors.Is(cerr, ErrSizeMismatch)) {
			t.Fatalf("commit with wrong digest/size = %v, want a mismatch error", cerr)
		}
		if r.err == nil || r.err == io.EOF {
			t.Fatalf("follower of a failed write ended cleanly with %d bytes", len(r.data))
		}
		if left := blobs(t, s); len(left) != 0 {
			t.Fatalf("blobs after a failed write: %v", left)
		}
		assertTmpEmpty(t, dir)
		return
	}
	if cerr != nil || got != d {
		t.Fatalf("Commit = %s, %v; want %s", got, cerr, d)
	}
	if r.err != nil || !bytes.Equal(r.data, data) {
		t.Fatalf("follower read %d bytes, %v; want the %d written", len(r.data), r.err, len(data))
	}
	assertBlob(t, s, d, data)
	assertTmpEmpty(t, dir)
}
