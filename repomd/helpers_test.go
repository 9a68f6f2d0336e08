package repomd

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"lazymirror/internal/decompress"
)

// corpus is the real yum metadata shared by the project's tests.
const corpus = "../testdata/corpus/rpm"

// repomdPaths lists every repodata/repomd.xml in the corpus.
func repomdPaths(tb testing.TB) []string {
	tb.Helper()
	var paths []string
	for _, pattern := range []string{"*/repodata/repomd.xml", "*/*/repodata/repomd.xml"} {
		m, err := filepath.Glob(filepath.Join(corpus, pattern))
		if err != nil {
			tb.Fatal(err)
		}
		paths = append(paths, m...)
	}
	if len(paths) < 10 {
		tb.Fatalf("found only %d repomd.xml files under %s", len(paths), corpus)
	}
	return paths
}

// repoRoot is the repository root of a repomd.xml path.
func repoRoot(repomdPath string) string { return filepath.Dir(filepath.Dir(repomdPath)) }

// parseRepomdFile parses the repomd.xml at path.
func parseRepomdFile(path string) (*Repomd, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseRepomd(f)
}

// loadRepomd parses the repomd.xml of a corpus repository directory.
func loadRepomd(tb testing.TB, dir string) *Repomd {
	tb.Helper()
	md, err := parseRepomdFile(filepath.Join(corpus, dir, "repodata", "repomd.xml"))
	if err != nil {
		tb.Fatal(err)
	}
	return md
}

// corpusPrimary returns the decompressed primary.xml of a corpus
// repository directory.
func corpusPrimary(dir string) ([]byte, error) {
	md, err := parseRepomdFile(filepath.Join(corpus, dir, "repodata", "repomd.xml"))
	if err != nil {
		return nil, err
	}
	d, ok := md.Primary()
	if !ok {
		return nil, os.ErrNotExist
	}
	pf, err := os.Open(filepath.Join(corpus, dir, d.Location))
	if err != nil {
		return nil, err
	}
	defer pf.Close()
	dec, err := decompress.Open(pf, d.Location, 0)
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	return io.ReadAll(dec)
}
