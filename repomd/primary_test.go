package repomd

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"

	"lazymirror/checksum"
)

// collect runs a primary parser and returns the packages it reported.
func collect(parse func(io.Reader, func(*Package) error) (int, error), doc []byte) ([]Package, error) {
	var pkgs []Package
	n, err := parse(bytes.NewReader(doc), func(p *Package) error {
		pkgs = append(pkgs, *p)
		return nil
	})
	if err == nil && n != len(pkgs) {
		return pkgs, errors.New("count differs from packages reported")
	}
	return pkgs, err
}

var packagesAttr = regexp.MustCompile(`<metadata [^>]*packages="(\d+)"`)

// TestCorpusPrimary parses the primary of every corpus repository with
// ParsePrimaryFile, as stored and checked against repomd's open-checksum,
// and compares with the reference parser and with counts taken from the
// bytes.
func TestCorpusPrimary(t *testing.T) {
	checks := map[string]func(t *testing.T, pkgs []Package){
		"centos-stream9-appstream": wantCount(17649),
		"centos-stream9-baseos":    wantCount(1125),
		"pulp-fixtures/repo-sha": func(t *testing.T, pkgs []Package) {
			wantCount(35)(t, pkgs)
			for _, p := range pkgs {
				if p.Checksum.Algo != checksum.SHA1 {
					t.Errorf("%s: %v, want sha1 (type \"sha\")", p.Name, p.Checksum)
				}
			}
		},
		"pulp-fixtures/repo-xz-xmlbase": func(t *testing.T, pkgs []Package) {
			wantCount(35)(t, pkgs)
			for _, p := range pkgs {
				if p.LocationBase == "" || strings.Contains(p.Location, "/") {
					t.Errorf("%s: base %q href %q", p.Name, p.LocationBase, p.Location)
				}
			}
		},
		"pulp-fixtures/repo-bz2": wantCount(35),
		"osbuild-custom-zstd":    wantCount(1),
		"createrepo_c/repo_with_duplicate_packages": func(t *testing.T, pkgs []Package) {
			times := map[string]int{}
			for _, p := range pkgs {
				times[p.Location+" "+p.Checksum.String()]++
			}
			for k, n := range times {
				if n != 2 {
					t.Errorf("%s listed %d times, want 2", k, n)
				}
			}
		},
	}
	for _, path := range repomdPaths(t) {
		root := repoRoot(path)
		repo := filepath.ToSlash(strings.TrimPrefix(root, corpus+"/"))
		t.Run(repo, func(t *testing.T) {
			d, ok := loadRepomd(t, repo).Primary()
			if !ok {
				t.Fatal("no primary record")
			}
			pf, err := os.Open(filepath.Join(root, d.Location))
			if err != nil {
				t.Fatal(err)
			}
			defer pf.Close()
			var got []Package
			n, err := ParsePrimaryFile(context.Background(), pf, d.Location, d.OpenChecksum, d.OpenSize, func(p *Package) error {
				got = append(got, *p)
				return nil
			})
			if err != nil || n != len(got) {
				t.Fatalf("ParsePrimaryFile: %d packages, %v", n, err)
			}
			raw, err := corpusPrimary(repo)
			if err != nil {
				t.Fatal(err)
			}
			m := packagesAttr.FindSubmatch(raw)
			if m == nil {
				t.Fatal("no packages= attribute")
			}
			if want, _ := strconv.Atoi(string(m[1])); n != want {
				t.Errorf("parsed %d packages, packages=%d", n, want)
			}
			if c := bytes.Count(raw, []byte("<package ")); c != n {
				t.Errorf("parsed %d packages, the bytes have %d \"<package \"", n, c)
			}
			ref, err := collect(ParsePrimaryXML, raw)
			if err != nil {
				t.Fatalf("ParsePrimaryXML: %v", err)
			}
			if !reflect.DeepEqual(got, ref) {
				t.Errorf("ParsePrimary and ParsePrimaryXML differ")
			}
			for _, p := range got {
				if p.Name == "" || p.Arch == "" || p.Version == "" || p.Size <= 0 || p.Checksum.IsZero() {
					t.Errorf("incomplete package %+v", p)
				}
			}
			if check := checks[repo]; check != nil {
				check(t, got)
			}
		})
	}
}

func wantCount(n int) func(*testing.T, []Package) {
	return func(t *testing.T, pkgs []Package) {
		t.Helper()
		if len(pkgs) != n {
			t.Errorf("got %d packages, want %d", len(pkgs), n)
		}
	}
}

// TestModifiedPrimaries runs both parsers on createrepo_c's hand-edited
// primaries: they must agree whenever the reference accepts.
func TestModifiedPrimaries(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(corpus, "createrepo_c/modified_repo_files/*primary*.xml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no modified primaries: %v", err)
	}
	want := map[string]bool{ // accepted?
		"error_00-primary.xml":             false, // a package without checksum
		"long_primary.xml":                 true,
		"multiple_warnings_00-primary.xml": true, // warnings only; the <package> inside <bar> is not counted
		"repo_01_ampersand-primary.xml":    true,
		"unknown_element_00-primary.xml":   true,
		"unknown_element_01-primary.xml":   false, // a package nested in <bar> is not a package: count mismatch
		"unknown_element_02-primary.xml":   true,
	}
	for _, p := range paths {
		doc, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(p)
		fast, ferr := collect(ParsePrimary, doc)
		ref, rerr := collect(ParsePrimaryXML, doc)
		t.Logf("%s: fast %d %v; xml %d %v", name, len(fast), ferr, len(ref), rerr)
		if (ferr == nil) != (rerr == nil) || !reflect.DeepEqual(fast, ref) {
			t.Errorf("%s: parsers differ: fast %v, xml %v", name, ferr, rerr)
		}
		if ok, known := want[name]; known && ok != (ferr == nil) {
			t.Errorf("%s: accepted=%v, want %v (%v)", name, ferr == nil, ok, ferr)
		}
		if ferr != nil && !errors.Is(ferr, ErrMalformed) {
			t.Errorf("%s: %v does not wrap ErrMalformed", name, ferr)
		}
	}
}

// snippet is one real package (createrepo_c's primary_snippet_01.xml),
// which the tests below edit.
func snippet(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(corpus, "createrepo_c/repodata_snippets/primary_snippet_01.xml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// wrap makes a primary.xml of package elements.
func wrap(n int, pkgs string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="` + strconv.Itoa(n) + `">
` + pkgs + "</metadata>\n"
}

// TestPrimarySyntax edits a real package into the XML forms the scanner
// must read like encoding/xml does, and checks both parsers agree on the
// value that comes out.
func TestPrimarySyntax(t *testing.T) {
	tests := []struct {
		name     string
		old, new string
		field    func(Package) string
		want     string
	}{
		{"entities in text", "<name>super_kernel</name>", "<name>a&amp;b&lt;&gt;&quot;&apos;&#65;&#x42;</name>", pkgName, `a&b<>"'AB`},
		{"entities in attribute", `rel="2"`, `rel="2&amp;&#x2e;3"`, pkgRel, "2&.3"},
		{"single quotes", `rel="2"`, `rel='2"x'`, pkgRel, `2"x`},
		{"> and / inside a value", `rel="2"`, `rel="2>/"`, pkgRel, "2>/"},
		{"CDATA", "<name>super_kernel</name>", "<name><![CDATA[a&b<c>]]>d</name>", pkgName, "a&b<c>d"},
		{"comment inside a value", "<name>super_kernel</name>", "<name>su<!-- x > -->per</name>", pkgName, "super"},
		{"nested element text is not the value", "<name>super_kernel</name>", "<name>a<x>b</x>c</name>", pkgName, "ac"},
		{"last of repeated elements", "<name>super_kernel</name>", "<name>a</name><name>b</name>", pkgName, "b"},
		{"repeated element keeps absent attributes", `<version epoch="0" ver="6.0.1" rel="2"/>`, `<version epoch="0" ver="6.0.1" rel="2"/><version ver="7"/>`, pkgVersion, "0:7-2"},
		{"white space in tags", `<version epoch="0" ver="6.0.1" rel="2"/>`, "<version\n\tepoch = \"1\"\r\n ver=\"2\"rel=\"3\"  />", pkgVersion, "1:2-3"},
		{"CR LF around a value", "<name>super_kernel</name>", "<name>\r\n  x\r</name>", pkgName, "x"},
		{"namespaced elements", "<name>super_kernel</name>", `<rpm:name>x</rpm:name>`, pkgName, "x"},
		{"end tag with space", "<name>super_kernel</name>", "<name>x</name  >", pkgName, "x"},
		{"processing instruction and directive", "<name>super_kernel</name>", `<?pi x?><!DOCTYPE x [<!ENTITY a "<>">]><name>y</name>`, pkgName, "y"},
		{"xml:base kept as data", `<location href=`, `<location xml:base="http://evil.example/" href=`, func(p Package) string { return p.LocationBase }, "http://evil.example/"},
		{"checksum type sha", `<checksum type="sha256" pkgid="YES">152824bff2aa6d54f429d43e87a3ff3a0286505c6d93ec87692b5e3a9e3b97bf`, `<checksum type="sha" pkgid="YES">` + strings.Repeat("ab", 20), func(p Package) string { return p.Checksum.String() }, "sha1:" + strings.Repeat("ab", 20)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pkg := snippet(t)
			if !strings.Contains(pkg, tc.old) {
				t.Fatalf("%q not in the snippet", tc.old)
			}
			doc := []byte(wrap(1, strings.Replace(pkg, tc.old, tc.new, 1)))
			fast, err := collect(ParsePrimary, doc)
			if err != nil {
				t.Fatalf("ParsePrimary: %v", err)
			}
			ref, err := collect(ParsePrimaryXML, doc)
			if err != nil {
				t.Fatalf("ParsePrimaryXML: %v", err)
			}
			if !reflect.DeepEqual(fast, ref) {
				t.Errorf("parsers differ:\n%+v\n%+v", fast, ref)
			}
			if got := tc.field(fast[0]); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func pkgName(p Package) string    { return p.Name }
func pkgRel(p Package) string     { return p.Release }
func pkgVersion(p Package) string { return p.Epoch + ":" + p.Version + "-" + p.Release }

// TestPrimaryRejects checks that both parsers reject hostile and broken
// packages with the specific error.
func TestPrimaryRejects(t *testing.T) {
	tests := []struct {
		name     string
		old, new string
		want     error
	}{
		{"parent dir href", `href="super_kernel`, `href="../../super_kernel`, ErrBadPath},
		{"absolute href", `href="super_kernel`, `href="/super_kernel`, ErrBadPath},
		{"url href", `href="super_kernel`, `href="http://evil.example/super_kernel`, ErrBadPath},
		{"no checksum", `<checksum type="sha256" pkgid="YES">152824bff2aa6d54f429d43e87a3ff3a0286505c6d93ec87692b5e3a9e3b97bf</checksum>`, "", ErrMalformed},
		{"unknown checksum type", `type="sha256"`, `type="crc32"`, checksum.ErrUnknownAlgo},
		{"short checksum", `3b97bf</checksum>`, `</checksum>`, checksum.ErrMalformed},
		{"bad size", `package="2845"`, `package="-1"`, ErrMalformed},
		{"no name", "<name>super_kernel</name>", "", ErrMalformed},
		{"unknown entity", "<name>super_kernel</name>", "<name>a&foo;</name>", ErrMalformed},
		{"mismatched end tag", "<name>super_kernel</name>", "<name>x</arch>", ErrMalformed},
		{"control character", "<name>super_kernel</name>", "<name>a&#x7f;</name>", ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := []byte(wrap(1, strings.Replace(snippet(t), tc.old, tc.new, 1)))
			for name, parse := range map[string]func(io.Reader, func(*Package) error) (int, error){"fast": ParsePrimary, "xml": ParsePrimaryXML} {
				if _, err := collect(parse, doc); !errors.Is(err, tc.want) || !errors.Is(err, ErrMalformed) {
					t.Errorf("%s: got %v, want %v", name, err, tc.want)
				}
			}
		})
	}
}

// TestPrimaryTruncated cuts the real BaseOS primary at many places: no cut
// may parse as complete.
func TestPrimaryTruncated(t *testing.T) {
	raw, err := corpusPrimary("centos-stream9-baseos")
	if err != nil {
		t.Fatal(err)
	}
	lastPkg := bytes.LastIndex(raw, []byte("</package>")) + len("</package>")
	cuts := []int{0, 10, len(raw) / 3, len(raw) / 2, lastPkg, lastPkg + 1, len(raw) - len("</metadata>\n"), len(raw) - 2}
	for _, cut := range cuts {
		if n, err := ParsePrimary(bytes.NewReader(raw[:cut]), func(*Package) error { return nil }); !errors.Is(err, ErrMalformed) {
			t.Errorf("cut at %d of %d: %d packages, %v; want ErrMalformed", cut, len(raw), n, err)
		}
	}
	// A whole package removed, root still closed: the count catches it.
	first := bytes.Index(raw, []byte("<package "))
	second := bytes.Index(raw[first+1:], []byte("<package ")) + first + 1
	dropped := append(append([]byte{}, raw[:first]...), raw[second:]...)
	if _, err := ParsePrimary(bytes.NewReader(dropped), func(*Package) error { return nil }); !errors.Is(err, ErrMalformed) {
		t.Errorf("package removed: %v, want ErrMalformed", err)
	}
	// A truncated compressed stream fails in decompression.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	zw.Close()
	if _, err := ParsePrimaryFile(context.Background(), bytes.NewReader(gz.Bytes()[:gz.Len()/2]), "primary.xml.gz", checksum.Sum{}, -1, func(*Package) error { return nil }); err == nil {
		t.Error("truncated gzip parsed")
	}
}

// TestPrimaryFileChecks covers ParsePrimaryFile's open-size and
// open-checksum checks, the decompression bound, fn errors and cancellation.
func TestPrimaryFileChecks(t *testing.T) {
	md := loadRepomd(t, "pulp-fixtures/repo-bz2")
	d, _ := md.Primary()
	stored, err := os.ReadFile(filepath.Join(corpus, "pulp-fixtures/repo-bz2", d.Location))
	if err != nil {
		t.Fatal(err)
	}
	wrongSum := checksum.Sum{Algo: d.OpenChecksum.Algo, Value: bytes.Repeat([]byte{1}, d.OpenChecksum.Algo.Size())}
	stop := errors.New("stop")
	canceled, cancel := context.WithCancel(context.Background())
	cancel()

	// A bomb: a valid start and then 256 MiB of white space inside the root.
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	zw.Write([]byte(wrap(1, "")[:120]))
	space := bytes.Repeat([]byte(" "), 1<<20)
	for range 256 {
		zw.Write(space)
	}
	zw.Close()

	tests := []struct {
		name  string
		ctx   context.Context
		data  []byte
		sum   checksum.Sum
		size  int64
		fn    func(*Package) error
		want  error
		wantN int
	}{
		{"good", context.Background(), stored, d.OpenChecksum, d.OpenSize, nil, nil, 35},
		{"no checks", context.Background(), stored, checksum.Sum{}, -1, nil, nil, 35},
		{"wrong open-checksum", context.Background(), stored, wrongSum, d.OpenSize, nil, ErrChecksum, 35},
		{"wrong open-size", context.Background(), stored, d.OpenChecksum, d.OpenSize + 1, nil, ErrSize, 35},
		{"open-size too small", context.Background(), stored, d.OpenChecksum, d.OpenSize / 2, nil, ErrSize, -1},
		{"bomb", context.Background(), bomb.Bytes(), d.OpenChecksum, d.OpenSize, nil, ErrSize, 0},
		{"fn error", context.Background(), stored, d.OpenChecksum, d.OpenSize, func(*Package) error { return stop }, stop, 0},
		{"canceled", canceled, stored, d.OpenChecksum, d.OpenSize, nil, context.Canceled, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fn := tc.fn
			if fn == nil {
				fn = func(*Package) error { return nil }
			}
			n, err := ParsePrimaryFile(tc.ctx, bytes.NewReader(tc.data), d.Location, tc.sum, tc.size, fn)
			if (tc.want == nil) != (err == nil) || !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
			if tc.wantN >= 0 && n != tc.wantN {
				t.Errorf("got %d packages, want %d", n, tc.wantN)
			}
		})
	}
}

// endless reads prefix, then fill bytes up to total.
type endless struct {
	prefix []byte
	fill   byte
	left   int64
	read   int64
}

func (e *endless) Read(p []byte) (int, error) {
	if e.left <= 0 {
		return 0, io.EOF
	}
	n := copy(p, e.prefix)
	e.prefix = e.prefix[n:]
	for i := n; i < len(p) && int64(i) < e.left; i++ {
		p[i] = e.fill
		n = i + 1
	}
	e.left -= int64(n)
	e.read += int64(n)
	return n, nil
}

// TestPrimaryLimits feeds 1 GiB values: they must fail with ErrLimit after
// reading little more than the cap, not be allocated.
func TestPrimaryLimits(t *testing.T) {
	const giB = 1 << 30
	head := wrap(1, "")[:120] + "<package><name>"
	tests := []struct {
		name   string
		prefix string
		fill   byte
	}{
		{"attribute", head + `x</name><arch a="`, 'x'},
		{"kept text", head, 'x'},
		{"tag", head + "</name><arch ", 'a'},
		{"depth", head + "</name>", '<'},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &endless{prefix: []byte(tc.prefix), fill: tc.fill, left: giB}
			if tc.name == "depth" {
				r = &endless{prefix: []byte(tc.prefix + strings.Repeat("<a>", maxDepth)), fill: ' ', left: giB}
			}
			_, err := ParsePrimary(r, func(*Package) error { return nil })
			if !errors.Is(err, ErrLimit) {
				t.Fatalf("got %v, want ErrLimit", err)
			}
			if r.read > 4*maxTag {
				t.Errorf("read %d bytes before failing", r.read)
			}
		})
	}
	// Large text that is skipped is streamed, not capped.
	big := strings.Replace(snippet(t), "<description>", "<description>"+strings.Repeat("long text ", 1<<20), 1)
	if _, err := collect(ParsePrimary, []byte(wrap(1, big))); err != nil {
		t.Errorf("10 MB description: %v", err)
	}
}
