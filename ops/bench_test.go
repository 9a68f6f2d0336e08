package ops

import (
	"context"
	"crypto/sha256"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"lazymirror/checksum"
)

// BenchmarkVerifyHash compares Verify's way of hashing a file (1 MiB reads
// into SHA-256) with crypto/sha256 over the same bytes already in memory,
// the ceiling. The file is in the page cache, as sha256sum's would be when
// run on the same data (compare: sha256sum FILE).
func BenchmarkVerifyHash(b *testing.B) {
	data := make([]byte, 64<<20)
	rand.NewChaCha8([32]byte{}).Read(data)
	path := filepath.Join(b.TempDir(), "blob")
	if err := os.WriteFile(path, data, 0o444); err != nil {
		b.Fatal(err)
	}
	want := checksum.Digest(sha256.Sum256(data))
	b.Run("hashFile", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		buf := make([]byte, bufSize)
		for b.Loop() {
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			h := checksum.SHA256.New()
			if _, err := hashFile(context.Background(), f, buf, &meter{}, h); err != nil {
				b.Fatal(err)
			}
			f.Close()
			if checksum.Digest(h.Sum(nil)) != want {
				b.Fatal("wrong digest")
			}
		}
	})
	b.Run("sha256-in-memory", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if sha256.Sum256(data) != want {
				b.Fatal("wrong digest")
			}
		}
	})
}

// BenchmarkVerify runs Verify over a store of 64 blobs of 1 MiB, with the
// index walk for missing blobs.
func BenchmarkVerify(b *testing.B) {
	st, idx, _ := openData(b)
	rng := rand.NewChaCha8([32]byte{1})
	blob := make([]byte, 1<<20)
	for range 64 {
		rng.Read(blob)
		restore(b, st, idx, blob)
	}
	b.ReportAllocs()
	b.SetBytes(64 << 20)
	for b.Loop() {
		rep, err := Verify(context.Background(), st, idx, VerifyOptions{})
		if err != nil || rep.Checked.Files != 64 || len(rep.Corrupt)+len(rep.Missing) > 0 {
			b.Fatalf("%+v %v", rep, err)
		}
	}
}
