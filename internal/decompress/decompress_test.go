package decompress

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/ulikunitz/xz"
)

const compressed = "../../testdata/corpus/rpm/createrepo_c/compressed_files"

func TestOpenCorpus(t *testing.T) {
	for _, base := range []string{"00_plain", "01_plain"} {
		want, err := os.ReadFile(filepath.Join(compressed, base+".txt"))
		if err != nil {
			t.Fatal(err)
		}
		// .fooN are the same data under misleading extensions: the magic decides.
		for _, ext := range []string{".txt", ".txt.gz", ".txt.xz", ".txt.zst", ".txt.bz2", ".foo0", ".foo1", ".foo2", ".foo3", ".foo4", ".foo5"} {
			name := base + ext
			t.Run(name, func(t *testing.T) {
				f, err := os.Open(filepath.Join(compressed, name))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				r, err := Open(f, name, 0)
				if errors.Is(err, ErrUnsupported) && filepath.Ext(name) != ".txt" {
					return // a zchunk file under a misleading name: refusing it is right
				}
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				got, err := io.ReadAll(r)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s: decompressed %d bytes, want %d equal to %s.txt", name, len(got), len(want), base)
				}
			})
		}
		t.Run(base+".txt.zck", func(t *testing.T) {
			f, err := os.Open(filepath.Join(compressed, base+".txt.zck"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := Open(f, "x.zck", 0); !errors.Is(err, ErrUnsupported) {
				t.Errorf("zchunk: err = %v, want ErrUnsupported", err)
			}
		})
	}
}

func TestBombIsAnError(t *testing.T) {
	const size = 64 << 20
	zero := make([]byte, 1<<20)
	var gz, x bytes.Buffer
	zw := gzip.NewWriter(&gz)
	xw, err := xz.NewWriter(&x)
	if err != nil {
		t.Fatal(err)
	}
	for range size / len(zero) {
		zw.Write(zero)
		xw.Write(zero)
	}
	zw.Close()
	xw.Close()
	for name, data := range map[string][]byte{"bomb.gz": gz.Bytes(), "bomb.xz": x.Bytes()} {
		r, err := Open(bytes.NewReader(data), name, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, r)
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s (%d compressed bytes): read %d bytes, err = %v; want ErrTooLarge", name, len(data), n, err)
		}
		// Exactly at the limit is fine.
		r, _ = Open(bytes.NewReader(data), name, size)
		if n, err := io.Copy(io.Discard, r); err != nil || n != size {
			t.Errorf("%s at limit: %d, %v", name, n, err)
		}
	}
}

func TestTruncatedIsAnError(t *testing.T) {
	for _, name := range []string{"00_plain.txt.gz", "00_plain.txt.xz", "00_plain.txt.zst", "00_plain.txt.bz2"} {
		data, err := os.ReadFile(filepath.Join(compressed, name))
		if err != nil {
			t.Fatal(err)
		}
		r, err := Open(bytes.NewReader(data[:len(data)*2/3]), name, 0)
		if err != nil {
			continue // header already broken: an error is what we want
		}
		if _, err := io.ReadAll(r); err == nil {
			t.Errorf("%s truncated: no error", name)
		}
	}
}

func TestReadAhead(t *testing.T) {
	src := make([]byte, 1<<20+123)
	for i := range src {
		src[i] = byte(i * 7)
	}
	ra := ReadAhead(bytes.NewReader(src), 4096, 3)
	got, err := io.ReadAll(ra)
	if err != nil || !bytes.Equal(got, src) {
		t.Fatalf("ReadAhead: %d bytes, err %v", len(got), err)
	}
	ra.Close()
	// WriteTo hands over the same bytes.
	var out bytes.Buffer
	ra = ReadAhead(bytes.NewReader(src), 4096, 3)
	if n, err := ra.(io.WriterTo).WriteTo(&out); err != nil || n != int64(len(src)) || !bytes.Equal(out.Bytes(), src) {
		t.Fatalf("WriteTo: %d bytes, err %v", n, err)
	}
	ra.Close()
	// Closing early stops the goroutine without reading the rest.
	ra = ReadAhead(bytes.NewReader(src), 4096, 3)
	buf := make([]byte, 10)
	if _, err := ra.Read(buf); err != nil {
		t.Fatal(err)
	}
	ra.Close()
	if _, err := ra.Read(buf); !errors.Is(err, ErrClosed) {
		t.Errorf("Read after Close: %v, want ErrClosed", err)
	}
	// A source cut short (io.ErrUnexpectedEOF) is not a clean end.
	ra = ReadAhead(io.MultiReader(bytes.NewReader(src[:5000]), errReader{io.ErrUnexpectedEOF}), 4096, 2)
	if _, err := io.ReadAll(ra); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated source: err = %v, want io.ErrUnexpectedEOF", err)
	}
	// An error from the source reaches the reader.
	boom := errors.New("boom")
	ra = ReadAhead(io.MultiReader(bytes.NewReader(src[:5000]), errReader{boom}), 4096, 2)
	if _, err := io.ReadAll(ra); !errors.Is(err, boom) {
		t.Errorf("err = %v, want boom", err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// TestExactLimit: a limit of exactly the decompressed size (what callers
// pass when metadata announces it) reads the whole file; one byte less is
// ErrTooLarge. osbuild's zstd files declare a window far larger than their
// content, which a memory cap tied to the limit would refuse.
func TestExactLimit(t *testing.T) {
	files := []string{
		filepath.Join(compressed, "01_plain.txt.gz"),
		filepath.Join(compressed, "01_plain.txt.xz"),
		filepath.Join(compressed, "01_plain.txt.zst"),
		filepath.Join(compressed, "01_plain.txt.bz2"),
	}
	zst, err := filepath.Glob("../../testdata/corpus/rpm/osbuild-custom-zstd/repodata/*.zst")
	if err != nil || len(zst) == 0 {
		t.Fatalf("no osbuild zstd files: %v", err)
	}
	for _, path := range append(files, zst...) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		read := func(limit int64) ([]byte, error) {
			r, err := Open(bytes.NewReader(data), path, limit)
			if err != nil {
				return nil, err
			}
			defer r.Close()
			return io.ReadAll(r)
		}
		want, err := read(0)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		size := int64(len(want))
		if got, err := read(size); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s with limit %d: %d bytes, %v", filepath.Base(path), size, len(got), err)
		}
		if _, err := read(size - 1); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s with limit %d: err = %v, want ErrTooLarge", filepath.Base(path), size-1, err)
		}
	}
}
