package debian

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/ulikunitz/xz"
	"pault.ag/go/debian/control"

	"lazymirror/checksum"
	"lazymirror/internal/decompress"
)

// parseAll runs ParsePackages and keeps a copy of every entry.
func parseAll(r io.Reader) ([]*Package, error) {
	var out []*Package
	_, err := ParsePackages(r, func(p *Package) error {
		out = append(out, p.Clone())
		return nil
	})
	return out, err
}

// refParse is the reference: go-debian's control.ParagraphReader, with the
// fields read into a Package by plain string handling.
func refParse(r io.Reader) ([]*Package, error) {
	pr, err := control.NewParagraphReader(r, nil)
	if err != nil {
		return nil, err
	}
	var out []*Package
	for {
		para, err := pr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		var p Package
		seen := map[string]bool{}
		for _, key := range para.Order {
			lower, v := asciiLower(key), para.Values[key]
			if seen[lower] {
				return nil, fmt.Errorf("duplicate %s", key)
			}
			seen[lower] = true
			switch lower {
			case "package":
				p.Package = v
			case "version":
				p.Version = v
			case "architecture":
				p.Architecture = v
			case "filename":
				p.Filename = v
			case "size":
				if p.Size, err = strconv.ParseInt(v, 10, 64); err != nil {
					return nil, err
				}
			case "md5sum", "sha1", "sha256", "sha512":
				s, err := checksum.Parse(lower, v)
				if err != nil {
					return nil, err
				}
				p.Sums = append(p.Sums, s)
				if d, ok := s.Digest(); ok {
					p.SHA256 = d
				}
			}
		}
		if !seen["package"] || !seen["filename"] || !seen["size"] || len(p.Sums) == 0 {
			return nil, fmt.Errorf("incomplete stanza %q", p.Package)
		}
		out = append(out, &p)
	}
}

func asciiLower(s string) string {
	var lb [32]byte
	if l := lowerName(&lb, []byte(s)); l != nil {
		return string(l)
	}
	return s
}

func samePackages(t *testing.T, got, want []*Package) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d packages, reference has %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		same := g.Package == w.Package && g.Version == w.Version && g.Architecture == w.Architecture &&
			g.Filename == w.Filename && g.Size == w.Size && g.SHA256 == w.SHA256 && len(g.Sums) == len(w.Sums)
		for j := 0; same && j < len(g.Sums); j++ {
			same = g.Sums[j].Equal(w.Sums[j])
		}
		if !same {
			t.Fatalf("package %d: got %+v, reference %+v", i, g, w)
		}
	}
}

func TestParsePackagesReal(t *testing.T) {
	for _, s := range suites {
		t.Run(s.name, func(t *testing.T) {
			text := s.packages(t)
			got, err := parseAll(bytes.NewReader(text))
			if err != nil {
				t.Fatal(err)
			}
			if want := countStanzas(t, text); len(got) != want {
				t.Fatalf("%d stanzas, the text has %d", len(got), want)
			}
			ref, err := refParse(bytes.NewReader(text))
			if err != nil {
				t.Fatal(err)
			}
			samePackages(t, got, ref)
			for _, p := range got {
				if p.SHA256.IsZero() || p.Best().Algo != checksum.SHA256 {
					t.Fatalf("%s: no SHA256 (%v)", p.Package, p.Sums)
				}
				if s.name == "bookworm-security" && !strings.HasPrefix(p.Filename, "pool/updates/main/") {
					t.Fatalf("security package %s at %s", p.Package, p.Filename)
				}
			}
		})
	}
}

// TestSharedPoolPath: bookworm and bookworm-updates list one pool file,
// with a '+' in its name, identically.
func TestSharedPoolPath(t *testing.T) {
	const path = "pool/main/c/ca-certificates/ca-certificates_20230311+deb12u1_all.deb"
	var found []*Package
	for _, s := range suites[:2] {
		_, err := ParsePackages(bytes.NewReader(s.packages(t)), func(p *Package) error {
			if p.Filename == path {
				found = append(found, p.Clone())
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(found) != 2 || found[0].SHA256 != found[1].SHA256 || found[0].Size != found[1].Size || found[0].Size == 0 {
		t.Fatalf("%s: %+v", path, found)
	}
}

// TestFlatFilename: a flat repository's "./name.deb" (apt-ftparchive
// packages ., dpkg-scanpackages .) is the path apt asks for, "name.deb";
// "sub/name.deb" and pool paths are kept as written.
func TestFlatFilename(t *testing.T) {
	for in, want := range map[string]string{
		"./hello_1.0_all.deb":         "hello_1.0_all.deb",
		"././hello_1.0_all.deb":       "hello_1.0_all.deb",
		"./sub/hello_1.0_all.deb":     "sub/hello_1.0_all.deb",
		"sub/hello_1.0_all.deb":       "sub/hello_1.0_all.deb",
		"pool/main/h/hello/hello.deb": "pool/main/h/hello/hello.deb",
	} {
		var got string
		if _, err := ParsePackages(strings.NewReader(stanzaText("Filename", in)), func(p *Package) error {
			got = p.Filename
			return nil
		}); err != nil || got != want {
			t.Errorf("Filename %q: got %q, %v; want %q", in, got, err, want)
		}
	}
}

// stanzaText is a valid stanza with one field replaced or added.
func stanzaText(field, value string) string {
	fields := []string{
		"Package: hello", "Version: 2.10-3", "Architecture: amd64",
		"Filename: pool/main/h/hello/hello_2.10-3_amd64.deb", "Size: 53024",
		"MD5sum: 0ba4e0ad0b0c7e8bd2b5e2f9a3bd2c6e",
		"SHA256: 61b2d2e3c3c4a4b1a7fbb4e9e0d1c8f0a6d1d2b3e4f5a6b7c8d9e0f1a2b3c4d5",
		"Description: example\n a continuation\n .\n more",
	}
	for i, f := range fields {
		if strings.HasPrefix(f, field+":") {
			if value == "\x00drop" {
				return strings.Join(append(fields[:i:i], fields[i+1:]...), "\n") + "\n"
			}
			fields[i] = field + ": " + value
			return strings.Join(fields, "\n") + "\n"
		}
	}
	return strings.Join(fields, "\n") + "\n" + field + ": " + value + "\n"
}

func TestParsePackagesHostile(t *testing.T) {
	tests := []struct {
		name, text string
		want       error
	}{
		{"valid", stanzaText("Tag", "x"), nil},
		{"valid twice", stanzaText("Tag", "x") + "\n\n \t\n" + stanzaText("Tag", "y"), nil},
		{"crlf", strings.ReplaceAll(stanzaText("Tag", "x"), "\n", "\r\n"), nil},
		{"dotdot", stanzaText("Filename", "pool/../../etc/passwd"), ErrBadPath},
		{"flat dot dotdot", stanzaText("Filename", "./../etc/passwd"), ErrBadPath},
		{"only dot", stanzaText("Filename", "./"), ErrBadPath},
		{"inner dot", stanzaText("Filename", "pool/./a.deb"), ErrBadPath},
		{"absolute", stanzaText("Filename", "/etc/passwd"), ErrBadPath},
		{"nul", stanzaText("Filename", "pool/a\x00.deb"), ErrBadPath},
		{"backslash", stanzaText("Filename", `pool\a.deb`), ErrBadPath},
		{"empty filename", stanzaText("Filename", ""), ErrBadPath},
		{"no filename", stanzaText("Filename", "\x00drop"), ErrMalformed},
		{"no size", stanzaText("Size", "\x00drop"), ErrMalformed},
		{"no package", stanzaText("Package", "\x00drop"), ErrMalformed},
		{"empty package", stanzaText("Package", ""), ErrMalformed},
		{"no checksum", strings.Replace(stanzaText("MD5sum", "\x00drop"), "SHA256", "X-SHA256", 1), ErrMalformed},
		{"negative size", stanzaText("Size", "-1"), ErrMalformed},
		{"size with junk", stanzaText("Size", "12a"), ErrMalformed},
		{"huge size", stanzaText("Size", strings.Repeat("9", 30)), ErrMalformed},
		{"short sha256", stanzaText("SHA256", "abcd"), ErrMalformed},
		{"non-hex sha256", stanzaText("SHA256", strings.Repeat("zz", 32)), ErrMalformed},
		{"duplicate field", stanzaText("Filename", "pool/a.deb\nFilename: pool/b.deb"), ErrMalformed},
		{"duplicate in other case", stanzaText("Tag", "x\nfilename: pool/b.deb"), ErrMalformed},
		{"continued filename", stanzaText("Filename", "pool/a.deb\n ../../x"), ErrMalformed},
		{"no colon", stanzaText("Tag", "x\nnonsense"), ErrMalformed},
		{"leading continuation", " x\n" + stanzaText("Tag", "x"), ErrMalformed},
		{"unknown fields only", "Foo: bar\n\n" + stanzaText("Tag", "x"), ErrMalformed},
		{"10 MB line", stanzaText("Description", strings.Repeat("x", 10<<20)), ErrMalformed},
		{"huge stanza", stanzaText("Description", strings.Repeat("x\n ", 3<<20)), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := ParsePackages(strings.NewReader(tt.text), func(p *Package) error {
				if p.Filename == "" || p.Size == 0 || p.Best().IsZero() {
					t.Errorf("incomplete entry %+v", p)
				}
				return nil
			})
			if tt.want == nil && err != nil || !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), "line") {
				t.Errorf("error %q does not name the line", err)
			}
			if err == nil && n == 0 {
				t.Error("no stanzas")
			}
		})
	}
}

// TestLongLineDoesNotAllocate: a 10 MB line costs the fixed line buffer, not
// a 10 MB allocation.
func TestLongLineDoesNotAllocate(t *testing.T) {
	text := stanzaText("Description", strings.Repeat("x", 10<<20))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := ParsePackages(strings.NewReader(text), func(*Package) error { return nil })
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 2*maxLine {
		t.Errorf("allocated %d bytes for a 10 MB line", got)
	}
}

func TestParsePackagesCallbackError(t *testing.T) {
	stop := errors.New("stop")
	n, err := ParsePackages(bytes.NewReader(suites[1].packages(t)), func(*Package) error { return stop })
	if err != stop || n != 1 {
		t.Fatalf("n, err = %d, %v; want 1, the callback's error", n, err)
	}
}

func gzipped(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func xzed(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w, err := xz.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestParsePackagesFileReal(t *testing.T) {
	for _, s := range suites {
		t.Run(s.name, func(t *testing.T) {
			rel, err := ParseRelease(bytes.NewReader(s.inRelease(t)))
			if err != nil {
				t.Fatal(err)
			}
			plain, _ := rel.Lookup("main/binary-amd64/Packages")
			xzEntry, _ := rel.Lookup("main/binary-amd64/Packages.xz")
			compressed := s.packagesXZ(t)
			want := countStanzas(t, s.packages(t))
			ctx := t.Context()
			count := func(*Package) error { return nil }

			// The uncompressed entry vouches for the decompressed bytes.
			n, err := ParsePackagesFile(ctx, bytes.NewReader(compressed), "Packages.xz", plain, count)
			if err != nil || n != want {
				t.Fatalf("against the Packages entry: n, err = %d, %v; want %d", n, err, want)
			}
			// The .xz entry is the archive's .xz, not the corpus' recompressed one.
			if err := xzEntry.Verify(bytes.NewReader(compressed)); !errors.Is(err, ErrChecksumMismatch) {
				t.Errorf("raw .xz against the Packages.xz entry: err = %v, want ErrChecksumMismatch", err)
			}
			if err := plain.Verify(bytes.NewReader(s.packages(t))); err != nil {
				t.Errorf("decompressed bytes against the Packages entry: %v", err)
			}
			if _, err := ParsePackagesFile(ctx, bytes.NewReader(compressed), "Packages.xz", xzEntry, count); !errors.Is(err, ErrChecksumMismatch) {
				t.Errorf("against the Packages.xz entry: err = %v, want ErrChecksumMismatch", err)
			}
			// Right size, wrong sum.
			wrong := File{Path: plain.Path, Size: plain.Size, Sums: []checksum.Sum{checksum.Digest(sha256.Sum256(nil)).Sum()}}
			if _, err := ParsePackagesFile(ctx, bytes.NewReader(compressed), "Packages.xz", wrong, count); !errors.Is(err, ErrChecksumMismatch) || !strings.Contains(err.Error(), "sha256") {
				t.Errorf("wrong sha256: err = %v, want a sha256 ErrChecksumMismatch", err)
			}
			// gzip, as apt also fetches; and with no entry, no check.
			gz := gzipped(t, s.packages(t))
			for _, w := range []File{plain, {}} {
				if n, err := ParsePackagesFile(ctx, bytes.NewReader(gz), "Packages.gz", w, count); err != nil || n != want {
					t.Fatalf("gz against %+v: n, err = %d, %v", w, n, err)
				}
			}
		})
	}
}

func TestParsePackagesFileBombs(t *testing.T) {
	zeros := make([]byte, 32<<20)
	newlines := bytes.Repeat([]byte("\n"), 32<<20)
	small := File{Path: "Packages", Size: 4096, Sums: []checksum.Sum{checksum.Digest(sha256.Sum256(nil)).Sum()}}
	tests := []struct {
		name string
		data []byte
		want File
		err  error
	}{
		{"gz zeros", gzipped(t, zeros), File{}, ErrMalformed},
		{"xz zeros", xzed(t, zeros), File{}, ErrMalformed},
		{"gz newlines, size known", gzipped(t, newlines), small, decompress.ErrTooLarge},
		{"xz newlines, size known", xzed(t, newlines), small, ErrChecksumMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.data) > 64<<10 {
				t.Fatalf("not a bomb: %d compressed bytes", len(tt.data))
			}
			_, err := ParsePackagesFile(t.Context(), bytes.NewReader(tt.data), tt.name, tt.want, func(*Package) error { return nil })
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
		})
	}
}

func TestParsePackagesFileCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := ParsePackagesFile(ctx, bytes.NewReader(suites[2].packagesXZ(t)), "Packages.xz", File{}, func(*Package) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
