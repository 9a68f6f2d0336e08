package debian

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"lazymirror/internal/decompress"
)

const corpus = "../testdata/corpus/debian"

// suite is one suite of the real corpus.
type suite struct {
	name, dir string // dir holds InRelease and main/binary-amd64/Packages.xz
}

var suites = []suite{
	{"bookworm", corpus + "/debian/dists/bookworm"},
	{"bookworm-updates", corpus + "/debian/dists/bookworm-updates"},
	{"bookworm-security", corpus + "/debian-security/dists/bookworm-security"},
}

func (s suite) inRelease(tb testing.TB) []byte {
	return readFile(tb, filepath.Join(s.dir, "InRelease"))
}
func (s suite) packagesXZ(tb testing.TB) []byte {
	return readFile(tb, filepath.Join(s.dir, "main/binary-amd64/Packages.xz"))
}

// packagesText decompresses each suite's Packages.xz once per test binary.
var packagesText = sync.OnceValue(func() map[string][]byte {
	m := map[string][]byte{}
	for _, s := range suites {
		if b, err := os.ReadFile(filepath.Join(s.dir, "main/binary-amd64/Packages.xz")); err == nil {
			m[s.name], _ = decompressBytes(b)
		}
	}
	return m
})

func decompressBytes(b []byte) ([]byte, error) {
	r, err := decompress.Open(bytes.NewReader(b), "Packages.xz", 0)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func decompressAll(tb testing.TB, b []byte) []byte {
	tb.Helper()
	out, err := decompressBytes(b)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func (s suite) packages(tb testing.TB) []byte {
	tb.Helper()
	b := packagesText()[s.name]
	if b == nil {
		tb.Fatalf("cannot read or decompress %s Packages.xz", s.name)
	}
	return b
}

func readFile(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// countStanzas counts Packages stanzas two ways that share no code with the
// parser: "Package:" lines, and blank-line separated paragraphs. They must agree.
func countStanzas(tb testing.TB, text []byte) int {
	tb.Helper()
	byField := bytes.Count(text, []byte("\nPackage: "))
	if bytes.HasPrefix(text, []byte("Package: ")) {
		byField++
	}
	byPara := len(strings.Split(strings.TrimSpace(string(text)), "\n\n"))
	if byField != byPara {
		tb.Fatalf("corpus disagrees with itself: %d Package lines, %d paragraphs", byField, byPara)
	}
	return byField
}

// packagesHead decompresses only the first bytes of a suite's Packages.xz.
func (s suite) packagesHead(tb testing.TB, n int64) []byte {
	tb.Helper()
	r, err := decompress.Open(bytes.NewReader(s.packagesXZ(tb)), "Packages.xz", 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, n))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// firstStanzas returns the first n stanzas of a Packages text.
func firstStanzas(text []byte, n int) []byte {
	off := 0
	for range n {
		i := bytes.Index(text[off:], []byte("\n\n"))
		if i < 0 {
			return text
		}
		off += i + 2
	}
	return text[:off]
}
