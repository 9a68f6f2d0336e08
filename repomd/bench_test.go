package repomd

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"lazymirror/internal/fixture"
)

// bigPrimary returns the 70,596-package benchmark primary: the CentOS
// Stream 9 AppStream one of the corpus, expanded 4 times (cached across
// runs by fixture.ExpandPrimary).
func bigPrimary(b *testing.B) fixture.BigPrimary {
	const repo = "centos-stream9-appstream"
	d, ok := loadRepomd(b, repo).Primary()
	if !ok {
		b.Fatalf("%s: no primary", repo)
	}
	return fixture.ExpandPrimary(b, filepath.Join(corpus, repo, d.Location), 4)
}

// benchParse parses the file path picks from the big primary with parse.
func benchParse(b *testing.B, path func(fixture.BigPrimary) string, parse func(f *os.File, p fixture.BigPrimary) (int, error)) {
	big := bigPrimary(b)
	fi, err := os.Stat(path(big))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(big.Size) // throughput in decompressed bytes
	fixture.Measure(b, func() {
		f, err := os.Open(path(big))
		if err != nil {
			b.Fatal(err)
		}
		n, err := parse(f, big)
		f.Close()
		if err != nil || n != big.Packages {
			b.Fatalf("parsed %d packages, want %d: %v", n, big.Packages, err)
		}
	})
	b.ReportMetric(float64(fi.Size())/1e6, "file-MB")
}

func nothing(*Package) error { return nil }

func xmlPath(p fixture.BigPrimary) string { return p.XML }

// parseFile parses a compressed primary, checked against its open size and checksum.
func parseFile(f *os.File, p fixture.BigPrimary) (int, error) {
	return ParsePrimaryFile(context.Background(), f, f.Name(), p.Sum, p.Size, nothing)
}

func BenchmarkParsePrimary70k(b *testing.B) {
	benchParse(b, xmlPath, func(f *os.File, _ fixture.BigPrimary) (int, error) { return ParsePrimary(f, nothing) })
}

func BenchmarkParsePrimary70kXML(b *testing.B) {
	benchParse(b, xmlPath, func(f *os.File, _ fixture.BigPrimary) (int, error) { return ParsePrimaryXML(f, nothing) })
}

func BenchmarkParsePrimary70kZst(b *testing.B) {
	benchParse(b, func(p fixture.BigPrimary) string { return p.Zst }, parseFile)
}

func BenchmarkParsePrimary70kGz(b *testing.B) {
	benchParse(b, func(p fixture.BigPrimary) string { return p.Gz }, parseFile)
}
