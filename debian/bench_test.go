package debian

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"syscall"
	"testing"
	"time"

	"pault.ag/go/debian/control"

	"lazymirror/internal/decompress"
)

// measure runs run and reports, besides ns/op (wall time, which a busy
// machine inflates), cpu-ms/op (user+system time of the process: all cores,
// GC included) and peak-heap-MB: the peak of the heap sampled every
// millisecond, above the heap at the start.
func measure(b *testing.B, run func()) {
	b.Helper()
	var before, after syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &before); err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &after); err != nil {
			b.Fatal(err)
		}
		cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
		b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
	}()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	runtime.GC()
	base := read()
	done, peak := make(chan struct{}), make(chan uint64)
	go func() {
		var max uint64
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				peak <- max
				return
			case <-tick.C:
				max = maxU(max, read())
			}
		}
	}()
	run()
	close(done)
	b.ReportMetric(float64(maxU(<-peak, base)-base)/1e6, "peak-heap-MB")
}

func maxU(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

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
		b.ReportAllocs()
		measure(b, func() {
			for b.Loop() {
				f := open()
				check(ParsePackages(f, func(*Package) error { return nil }))
				f.Close()
			}
		})
	})
	b.Run("go-debian-ParagraphReader", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		measure(b, func() {
			for b.Loop() {
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
			}
		})
	})
	b.Run("go-debian-ParseBinaryIndex", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		measure(b, func() {
			for b.Loop() {
				f := open()
				idx, err := control.ParseBinaryIndex(bufio.NewReader(f))
				check(len(idx), err)
				f.Close()
			}
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
			b.ReportAllocs()
			measure(b, func() {
				for b.Loop() {
					r, err := decompress.Open(bytes.NewReader(in.data), in.name, 0)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := io.Copy(io.Discard, r); err != nil {
						b.Fatal(err)
					}
					r.Close()
				}
			})
		})
		b.Run(in.name+"/serial", func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			measure(b, func() {
				for b.Loop() {
					r, err := decompress.Open(bytes.NewReader(in.data), in.name, 0)
					if err != nil {
						b.Fatal(err)
					}
					v := newVerifier(want)
					if _, err := ParsePackages(io.TeeReader(r, v), func(*Package) error { return nil }); err != nil {
						b.Fatal(err)
					}
					if err := v.check(); err != nil {
						b.Fatal(err)
					}
					r.Close()
				}
			})
		})
		b.Run(in.name+"/combined", func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			measure(b, func() {
				for b.Loop() {
					f := open()
					if _, err := ParsePackagesFile(b.Context(), f, in.name, want, func(*Package) error { return nil }); err != nil {
						b.Fatal(err)
					}
					f.Close()
				}
			})
		})
	}
}
