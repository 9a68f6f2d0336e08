package debian

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"lazymirror/checksum"
)

func FuzzRelease(f *testing.F) {
	for _, s := range suites {
		data := s.inRelease(f)
		f.Add(data)
		text, _ := clearsigned(data)
		f.Add(text[:min(len(text), 4096)])
		f.Add(bytes.Replace(data, []byte("SHA256:"), []byte("SHA512:"), 1))
		f.Add(bytes.Replace(data, []byte("main/binary-amd64/Packages\n"), []byte("main/../Packages\n"), 1))
		f.Add(bytes.Replace(data, []byte("\n-----BEGIN PGP SIGNATURE"), []byte("\nSuite: x\n-----BEGIN PGP SIGNATURE"), 1))
	}
	f.Add([]byte(releaseText("MD5Sum:\n d41d8cd98f00b204e9800998ecf8427e 0 main/binary-amd64/Packages\n")))
	f.Fuzz(func(t *testing.T, data []byte) {
		rel, err := ParseRelease(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrBadPath) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, file := range rel.Files {
			if checkPath(file.Path) != nil || seen[file.Path] || file.Size < 0 || len(file.Sums) == 0 {
				t.Fatalf("bad entry %+v", file)
			}
			seen[file.Path] = true
			algos := map[checksum.Algo]bool{}
			for _, s := range file.Sums {
				if algos[s.Algo] || len(s.Value) != s.Algo.Size() {
					t.Fatalf("bad sums %v", file.Sums)
				}
				algos[s.Algo] = true
			}
			if got, ok := rel.Lookup(file.Path); !ok || got.Path != file.Path {
				t.Fatalf("Lookup(%s) = %+v", file.Path, got)
			}
		}
	})
}

func FuzzPackages(f *testing.F) {
	for _, s := range suites {
		f.Add(firstStanzas(s.packagesHead(f, 256<<10), 50))
	}
	f.Add([]byte(stanzaText("Filename", "pool/../x")))
	f.Add([]byte(stanzaText("Tag", "x\n\n \n"+stanzaText("Size", "1"))))
	f.Add([]byte(strings.ReplaceAll(stanzaText("Tag", "x"), "\n", "\r\n")))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := parseAll(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrBadPath) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			return
		}
		for _, p := range got {
			if checkPath(p.Filename) != nil || p.Package == "" || p.Size < 0 || p.Best().IsZero() {
				t.Fatalf("bad entry %+v", p)
			}
		}
		if !comparable(data) {
			return
		}
		ref, err := refParse(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("accepted what go-debian refuses (%v): %q", err, data)
		}
		samePackages(t, got, ref)
	})
}

// comparable reports whether go-debian's reader must agree with ours on
// data. They differ, by design, where deb822 leaves room: a line of only
// spaces or tabs separates paragraphs here (as in apt) but continues a
// field in go-debian, and go-debian trims Unicode spaces and \v \f from
// values, which are data here.
func comparable(data []byte) bool {
	for line := range strings.SplitSeq(string(data), "\n") {
		trimmed := strings.Trim(line, " \t\r")
		if trimmed == "" && line != "" && line != "\r" || strings.TrimSpace(line) != trimmed {
			return false
		}
	}
	return true
}
