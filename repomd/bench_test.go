package repomd

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"lazymirror/checksum"
)

// bigPrimary is the 70,596-package benchmark primary, generated once per
// test binary run into a temporary directory that TestMain removes.
var bigPrimary struct {
	once    sync.Once
	dir     string
	xml     string       // path of primary.xml
	sum     checksum.Sum // its sha256
	size    int64
	n       int // packages
	err     error
	zstOnce sync.Once
	gzOnce  sync.Once
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bigPrimary.dir != "" {
		os.RemoveAll(bigPrimary.dir)
	}
	os.Exit(code)
}

const bigCopies = 4

var (
	genVersion  = regexp.MustCompile(`(<version epoch="[^"]*" ver="[^"]*" rel=")([^"]*)(")`)
	genChecksum = regexp.MustCompile(`(<checksum type="sha256" pkgid="YES">)([0-9a-f]{64})(</checksum>)`)
	genLocation = regexp.MustCompile(`(<location href=")Packages/`)
	genCount    = regexp.MustCompile(`packages="\d+"`)
)

// replaceFirst replaces the first match of re in s with f(submatches).
func replaceFirst(re *regexp.Regexp, s string, f func(m []string) string) string {
	loc := re.FindStringSubmatchIndex(s)
	if loc == nil {
		return s
	}
	m := make([]string, len(loc)/2)
	for i := range m {
		m[i] = s[loc[2*i]:loc[2*i+1]]
	}
	return s[:loc[0]] + f(m) + s[loc[1]:]
}

// expandPrimary writes the real CentOS Stream 9 AppStream primary expanded
// copies times to w, exactly as testdata/corpus/gen-primary.sh does: copy 0
// unchanged; copy k>0 of each package gets rel += ".cpK", pkgid =
// sha256("<old pkgid>/K") and location "Packages/cpK/<file>".
func expandPrimary(w io.Writer, copies int) (int, error) {
	text := string(readCorpusPrimary("centos-stream9-appstream"))
	start := strings.Index(text, "<package ")
	end := strings.LastIndex(text, "</metadata>")
	if start < 0 || end < start {
		return 0, fmt.Errorf("appstream primary has no packages")
	}
	head, body, tail := text[:start], text[start:end], text[end:]
	pkgs := strings.Split(body, "<package ")[1:]
	n := len(pkgs) * copies
	head = replaceFirst(genCount, head, func([]string) string { return `packages="` + strconv.Itoa(n) + `"` })
	bw := bufio.NewWriter(w)
	bw.WriteString(head)
	for k := range copies {
		cp := ".cp" + strconv.Itoa(k)
		for _, p := range pkgs {
			p = "<package " + p
			if k > 0 {
				p = replaceFirst(genVersion, p, func(m []string) string { return m[1] + m[2] + cp + m[3] })
				p = replaceFirst(genChecksum, p, func(m []string) string {
					h := sha256.Sum256([]byte(m[2] + "/" + strconv.Itoa(k)))
					return m[1] + hex.EncodeToString(h[:]) + m[3]
				})
				p = replaceFirst(genLocation, p, func(m []string) string { return m[1] + "Packages/cp" + strconv.Itoa(k) + "/" })
			}
			bw.WriteString(p)
		}
	}
	bw.WriteString(tail)
	return n, bw.Flush()
}

// benchPrimary returns the path of the generated primary.xml, or of its
// compressed form when ext is ".zst" or ".gz".
func benchPrimary(b *testing.B, ext string) string {
	bp := &bigPrimary
	bp.once.Do(func() {
		if bp.dir, bp.err = os.MkdirTemp("", "repomd-bench-"); bp.err != nil {
			return
		}
		bp.xml = filepath.Join(bp.dir, "primary.xml")
		f, err := os.Create(bp.xml)
		if err != nil {
			bp.err = err
			return
		}
		h := sha256.New()
		cw := &countWriter{w: io.MultiWriter(f, h)}
		bp.n, bp.err = expandPrimary(cw, bigCopies)
		if err := f.Close(); bp.err == nil {
			bp.err = err
		}
		bp.sum, bp.size = checksum.Sum{Algo: checksum.SHA256, Value: h.Sum(nil)}, cw.n
	})
	if bp.err != nil {
		b.Fatalf("generate benchmark primary: %v", bp.err)
	}
	compress := func(once *sync.Once, newW func(io.Writer) (io.WriteCloser, error)) {
		once.Do(func() { bp.err = compressFile(bp.xml, bp.xml+ext, newW) })
		if bp.err != nil {
			b.Fatalf("compress benchmark primary: %v", bp.err)
		}
	}
	switch ext {
	case ".zst":
		compress(&bp.zstOnce, func(w io.Writer) (io.WriteCloser, error) {
			return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedBetterCompression))
		})
	case ".gz":
		compress(&bp.gzOnce, func(w io.Writer) (io.WriteCloser, error) { return gzip.NewWriterLevel(w, 6) })
	}
	return bp.xml + ext
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func compressFile(src, dst string, newW func(io.Writer) (io.WriteCloser, error)) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	zw, err := newW(out)
	if err == nil {
		_, err = io.Copy(zw, in)
		if cerr := zw.Close(); err == nil {
			err = cerr
		}
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// heapPeak samples HeapInuse every 4096 packages while a benchmark parses.
type heapPeak struct {
	calls int
	peak  uint64
}

func (h *heapPeak) sample(*Package) error {
	h.calls++
	if h.calls%4096 == 1 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		h.peak = max(h.peak, ms.HeapInuse)
	}
	return nil
}

func benchParse(b *testing.B, ext string, parse func(f *os.File, fn func(*Package) error) (int, error)) {
	path := benchPrimary(b, ext)
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(bigPrimary.size) // throughput in decompressed bytes
	b.ReportMetric(float64(fi.Size())/1e6, "file-MB")
	b.ReportAllocs()
	runtime.GC()
	var h heapPeak
	cpu0 := cpuTime()
	for b.Loop() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		n, err := parse(f, h.sample)
		f.Close()
		if err != nil || n != bigPrimary.n {
			b.Fatalf("parsed %d packages, want %d: %v", n, bigPrimary.n, err)
		}
	}
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(float64(h.peak)/1e6, "peak-heap-MB")
}

func BenchmarkParsePrimary70k(b *testing.B) {
	benchParse(b, "", func(f *os.File, fn func(*Package) error) (int, error) { return ParsePrimary(f, fn) })
}

func BenchmarkParsePrimary70kXML(b *testing.B) {
	benchParse(b, "", func(f *os.File, fn func(*Package) error) (int, error) { return ParsePrimaryXML(f, fn) })
}

func BenchmarkParsePrimary70kZst(b *testing.B) {
	benchParse(b, ".zst", func(f *os.File, fn func(*Package) error) (int, error) {
		return ParsePrimaryFile(context.Background(), f, f.Name(), bigPrimary.sum, bigPrimary.size, fn)
	})
}

func BenchmarkParsePrimary70kGz(b *testing.B) {
	benchParse(b, ".gz", func(f *os.File, fn func(*Package) error) (int, error) {
		return ParsePrimaryFile(context.Background(), f, f.Name(), bigPrimary.sum, bigPrimary.size, fn)
	})
}
