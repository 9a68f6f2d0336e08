package repomd

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// smallCorpusPrimaries returns the real primaries of the corpus under 8 KB
// (decompressed; larger seeds make fuzzing crawl), the hand-edited ones and
// the snippets wrapped in a root.
const seedMax = 8 << 10

func smallCorpusPrimaries(f *testing.F) [][]byte {
	var seeds [][]byte
	for _, path := range repomdPaths(f) {
		repo, _ := filepath.Rel(corpus, repoRoot(path))
		if raw, err := corpusPrimary(filepath.ToSlash(repo)); err == nil && len(raw) < seedMax {
			seeds = append(seeds, raw)
		}
	}
	edited, _ := filepath.Glob(filepath.Join(corpus, "createrepo_c/modified_repo_files/*primary*.xml"))
	snippets, _ := filepath.Glob(filepath.Join(corpus, "createrepo_c/repodata_snippets/primary_snippet_*.xml"))
	for _, p := range append(edited, snippets...) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		if len(b) >= seedMax {
			continue
		}
		if !bytes.Contains(b, []byte("<metadata")) {
			b = []byte(wrap(bytes.Count(b, []byte("<package ")), string(b)))
		}
		seeds = append(seeds, b)
	}
	return seeds
}

// FuzzPrimary checks that the scanner never panics or hangs, and that it
// gives exactly the packages encoding/xml gives whenever encoding/xml
// accepts the input (the scanner may fail instead only on its size caps).
func FuzzPrimary(f *testing.F) {
	for _, s := range smallCorpusPrimaries(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		fast, ferr := collect(ParsePrimary, doc)
		if ferr != nil && !errors.Is(ferr, ErrMalformed) {
			t.Fatalf("ParsePrimary error does not wrap ErrMalformed: %v", ferr)
		}
		ref, rerr := collect(ParsePrimaryXML, doc)
		if rerr != nil {
			return
		}
		if ferr != nil {
			if errors.Is(ferr, ErrLimit) {
				return
			}
			t.Fatalf("ParsePrimaryXML accepts (%d packages), ParsePrimary fails: %v", len(ref), ferr)
		}
		if !reflect.DeepEqual(fast, ref) {
			t.Fatalf("parsers differ:\nfast %+v\nxml  %+v", fast, ref)
		}
	})
}

// FuzzRepomd checks that ParseRepomd never panics, that every error wraps
// ErrMalformed, and that every location it returns passes CheckPath.
func FuzzRepomd(f *testing.F) {
	for _, p := range repomdPaths(f) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`<repomd><data type="x"><location href="../a"/><checksum type="sha">00</checksum></data></repomd>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		md, err := ParseRepomd(bytes.NewReader(doc))
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		for _, d := range md.Data {
			if err := CheckPath(d.Location); err != nil || d.Type == "" || d.Checksum.IsZero() {
				t.Fatalf("accepted bad record %+v: %v", d, err)
			}
		}
	})
}
