package debian

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"pault.ag/go/debian/control"

	"lazymirror/internal/decompress"
	"lazymirror/internal/fixture"
)

// tempFile writes data to a file and returns a function that opens it, so
// that benchmarks read their input from a file, as the server does, and
// the peak heap is the parser's, not the input's.
func tempFile(b *testing.B, data []byte) func() *os.File {
	name := filepath.Join(b.TempDir(), "input")
	if err := os.WriteFile(name, data, 0o600); err != nil {
		b.Fatal(err)
	}
	return func() *os.File {
		f, err := os.Open(name)
		if err != nil {
			b.Fatal(err)
		}
		return f
	}
}

func BenchmarkParsePackages(b *testing.B) {
	text := decompressAll(b, suites[0].packagesXZ(b)) // not the cached copy: its memory would count
	want := countStanzas(b, text)
	open := tempFile(b, text)
	size := int64(len(text))
	check := func(n int, err error) {
		if err != nil || n != want {
			b.Fatalf("n, err = %d, %v; want %d", n, err, want)
		}
	}
	b.Run("lazymirror", func(b *testing.B) {
		b.SetBytes(size)
		fixture.Measure(b, func() {
			f := open()
			check(ParsePackages(f, func(*Package) error { return nil }))
			f.Close()
		})
	})
	b.Run("go-debian-ParagraphReader", func(b *testing.B) {
		b.SetBytes(size)
		fixture.Measure(b, func() {
			f := open()
			pr, err := control.NewParagraphReader(f, nil)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for _, err = pr.Next(); err == nil; _, err = pr.Next() {
				n++
			}
			check(n, nil)
			f.Close()
		})
	})
	b.Run("go-debian-ParseBinaryIndex", func(b *testing.B) {
		b.SetBytes(size)
		fixture.Measure(b, func() {
			f := open()
			idx, err := control.ParseBinaryIndex(bufio.NewReader(f))
			check(len(idx), err)
			f.Close()
		})
	})
}

// BenchmarkParsePackagesXZ measures the ingest of bookworm main amd64 from
// compressed bytes: decompression alone, and decompression with the parse
// and the check against the Release entry, overlapped (ParsePackagesFile)
// or serial. The parse alone is BenchmarkParsePackages/lazymirror.
func BenchmarkParsePackagesXZ(b *testing.B) {
	text := decompressAll(b, suites[0].packagesXZ(b)) // not the cached copy: its memory would count
	rel, err := ParseRelease(bytes.NewReader(suites[0].inRelease(b)))
	if err != nil {
		b.Fatal(err)
	}
	want, _ := rel.Lookup("main/binary-amd64/Packages")
	inputs := []struct {
		name string
		data []byte
	}{
		{"xz", suites[0].packagesXZ(b)},
		{"gz", gzipped(b, text)},
	}
	size := int64(len(text))
	for _, in := range inputs {
		open := tempFile(b, in.data)
		b.Run(in.name+"/decompress-only", func(b *testing.B) {
			b.SetBytes(size)
			fixture.Measure(b, func() {
				r, err := decompress.Open(bytes.NewReader(in.data), in.name, 0)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, r); err != nil {
					b.Fatal(err)
				}
				r.Close()
			})
		})
		b.Run(in.name+"/serial", func(b *testing.B) {
			b.SetBytes(size)
			fixture.Measure(b, func() {
				r, err := decompress.Open(bytes.NewReader(in.data), in.name, 0)
				if err != nil {
					b.Fatal(err)
				}
				v := want.verifier()
				if _, err := ParsePackages(io.TeeReader(r, v), func(*Package) error { return nil }); err != nil {
					b.Fatal(err)
				}
				if err := want.check(v); err != nil {
					b.Fatal(err)
				}
				r.Close()
			})
		})
		b.Run(in.name+"/combined", func(b *testing.B) {
			b.SetBytes(size)
			fixture.Measure(b, func() {
				f := open()
				if _, err := ParsePackagesFile(b.Context(), f, in.name, want, func(*Package) error { return nil }); err != nil {
					b.Fatal(err)
				}
				f.Close()
			})
		})
	}
}
