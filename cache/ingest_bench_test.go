package cache

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"lazymirror/debian"
	"lazymirror/index"
	"lazymirror/internal/decompress"
	"lazymirror/internal/fixture"
	"lazymirror/repomd"
)

const corpus = "../testdata/corpus/debian/debian/dists/bookworm"

// bookworm writes the real bookworm main amd64 Packages as .xz (the
// corpus's file) and .gz (made here) into dir, and returns their paths, the
// Release entry of the uncompressed form and its size.
func bookworm(tb testing.TB, dir string) (files map[string]string, plain debian.File) {
	tb.Helper()
	in, err := os.Open(filepath.Join(corpus, "InRelease"))
	if err != nil {
		tb.Fatal(err)
	}
	defer in.Close()
	rel, err := debian.ParseRelease(in)
	if err != nil {
		tb.Fatal(err)
	}
	plain, ok := rel.Lookup("main/binary-amd64/Packages")
	if !ok {
		tb.Fatal("InRelease lists no main/binary-amd64/Packages")
	}
	xz := filepath.Join(corpus, "main/binary-amd64/Packages.xz")
	raw := decompressed(tb, xz)
	gz := filepath.Join(dir, "Packages.gz")
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(raw)
	zw.Close()
	if err := os.WriteFile(gz, buf.Bytes(), 0o644); err != nil {
		tb.Fatal(err)
	}
	return map[string]string{"xz": xz, "gz": gz}, plain
}

func decompressed(tb testing.TB, path string) []byte {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	dr, err := decompress.Open(f, path, 0)
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := io.ReadAll(dr)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// peakHeap samples the heap while a benchmark runs and reports its peak
// above what was live at the start (the benchmark's own input bytes).
type peakHeap struct {
	stop       chan struct{}
	wg         sync.WaitGroup
	base, peak uint64
}

func startPeakHeap() *peakHeap {
	runtime.GC()
	p := &peakHeap{stop: make(chan struct{})}
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	p.base = sample[0].Value.Uint64()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			p.peak = max(p.peak, sample[0].Value.Uint64())
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return p
}

func (p *peakHeap) report(b *testing.B) {
	close(p.stop)
	p.wg.Wait()
	b.ReportMetric(float64(p.peak-min(p.base, p.peak))/(1<<20), "peak-heap-MB")
}

func openIndex(b *testing.B) *index.DB {
	b.Helper()
	db, err := index.Open(filepath.Join(b.TempDir(), "index.db"), index.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return db
}

// BenchmarkIngestPackages measures the whole ingest of bookworm main amd64
// (63,440 packages) from compressed bytes to entries committed in bbolt
// (fsync on), and its phases apart: decompress only, parse only (from
// decompressed bytes in memory), commit only (the parsed records).
func BenchmarkIngestPackages(b *testing.B) {
	files, plain := bookworm(b, b.TempDir())
	ctx := context.Background()
	for _, name := range []string{"xz", "gz"} {
		b.Run(name+"/total", func(b *testing.B) {
			b.SetBytes(plain.Size)
			ph := startPeakHeap()
			for b.Loop() {
				b.StopTimer()
				db := openIndex(b)
				f, err := os.Open(files[name])
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				bulk := db.NewBulk("debian", 0)
				n, err := ingestPackages(ctx, f, "Packages."+name, plain, bulk)
				if err == nil {
					err = bulk.Close()
				}
				if err != nil || n != 63440 {
					b.Fatalf("ingest: %d packages, %v", n, err)
				}
				b.StopTimer()
				f.Close()
				db.Close()
				b.StartTimer()
			}
			ph.report(b)
		})
		b.Run(name+"/decompress", func(b *testing.B) {
			b.SetBytes(plain.Size)
			for b.Loop() {
				f, err := os.Open(files[name])
				if err != nil {
					b.Fatal(err)
				}
				dr, err := decompress.Open(f, name, 0)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, dr); err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
		})
	}
	raw := decompressed(b, files["xz"])
	var recs []index.Record
	b.Run("parse", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			recs = recs[:0]
			_, err := debian.ParsePackages(bytes.NewReader(raw), func(p *debian.Package) error {
				recs = append(recs, index.Record{Path: p.Filename, Entry: entryFor(index.Package, p.Size, p.Best())})
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("commit", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			db := openIndex(b)
			b.StartTimer()
			if err := db.PutEntries("debian", recs); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			db.Close()
			b.StartTimer()
		}
	})
}

// BenchmarkIngestPrimary70k measures a 70,596-package primary.xml.zst
// (the real CentOS Stream 9 AppStream primary expanded 4x, as
// gen-primary.sh does) from compressed bytes to entries committed in bbolt.
func BenchmarkIngestPrimary70k(b *testing.B) {
	src, err := filepath.Glob("../testdata/corpus/rpm/centos-stream9-appstream/repodata/*-primary.xml.gz")
	if err != nil || len(src) != 1 {
		b.Fatalf("AppStream primary: %v %v", src, err)
	}
	big := fixture.ExpandPrimary(b, src[0], 4)
	prim := repomd.Data{Location: "repodata/primary.xml.zst", OpenChecksum: big.Sum, OpenSize: big.Size}
	ctx := context.Background()
	b.SetBytes(big.Size)
	ph := startPeakHeap()
	for b.Loop() {
		b.StopTimer()
		db := openIndex(b)
		f, err := os.Open(big.Zst)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		bulk := db.NewBulk("centos", 0)
		n, err := ingestPrimary(ctx, f, "os", prim, bulk)
		if err == nil {
			err = bulk.Close()
		}
		if err != nil || n != big.Packages {
			b.Fatalf("ingest: %d of %d packages, %v", n, big.Packages, err)
		}
		b.StopTimer()
		f.Close()
		db.Close()
		b.StartTimer()
	}
	ph.report(b)
}
