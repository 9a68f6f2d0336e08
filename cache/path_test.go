package cache

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"lazymirror/debian"
)

func TestCleanPath(t *testing.T) {
	tests := []struct {
		in, want string
		bad      bool
	}{
		{"/pool/main/b/bash/bash_5.2.15-2+b2_amd64.deb", "pool/main/b/bash/bash_5.2.15-2+b2_amd64.deb", false},
		{"dists/bookworm/InRelease", "dists/bookworm/InRelease", false},
		{"dists/", "dists/", false},
		{"", "", false},
		{"a/../b", "", true},
		{"../etc/passwd", "", true},
		{"a/./b", "a/b", false},
		// apt asks for a flat repository's files as <base>/./<file>.
		{"./InRelease", "InRelease", false},
		{"/./hello_1.0_all.deb", "hello_1.0_all.deb", false},
		{"sub/./Packages.xz", "sub/Packages.xz", false},
		{"./", "", false},
		{".", "", false},
		{"a/./", "a/", false},
		{"a/.", "a", false},
		{"./../etc/passwd", "", true},
		{".//a", "", true},
		{"a/.//b", "", true},
		{"a//b", "", true},
		{"a//", "", true},
		{"a/b\x00.deb", "", true},
		{`a\..\b`, "", true},
		{"..", "", true},
		{strings.Repeat("a/", 3000), "", true},
	}
	for _, tt := range tests {
		got, err := CleanPath(tt.in)
		if tt.bad {
			if !errors.Is(err, ErrBadPath) {
				t.Errorf("CleanPath(%q) = %q, %v; want ErrBadPath", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("CleanPath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestClassify(t *testing.T) {
	deb := []struct {
		in   string
		cls  class
		root string
	}{
		{"dists/bookworm/InRelease", classRoot, "dists/bookworm"},
		{"dists/bookworm/Release.gpg", classRoot, "dists/bookworm"},
		{"dists/bookworm-security/main/binary-amd64/by-hash/SHA256/" + strings.Repeat("a", 64), classIndexed, "dists/bookworm-security"},
		{"dists/bookworm/main/i18n/Translation-en.bz2", classIndexed, "dists/bookworm"},
		{"pool/updates/main/o/openssl/libssl3_3.0.15-1~deb12u1_amd64.deb", classPackage, ""},
		{"pool/main/d/debian-installer/x.udeb", classPackage, ""},
		{"dists/bookworm/", classOther, ""},
		{"README", classOther, ""},
		{"pool/main/b/bash/bash_5.2.15-2.dsc", classOther, ""},
	}
	for _, tt := range deb {
		if cls, root := classifyDeb(tt.in); cls != tt.cls || root != tt.root {
			t.Errorf("classifyDeb(%q) = %v %q, want %v %q", tt.in, cls, root, tt.cls, tt.root)
		}
	}
	// A flat repository ("deb URL ./", "deb URL sub/"): its root files are
	// a snapshot root keyed by their directory; its packages are packages
	// wherever they are; its index files are told by its Release, at run
	// time (Cache.classify), so here they are other.
	flat := []struct {
		in   string
		cls  class
		root string
	}{
		{"InRelease", classRoot, ""},
		{"Release", classRoot, ""},
		{"Release.gpg", classRoot, ""},
		{"sub/InRelease", classRoot, "sub"},
		{"vendor/apt/Release.gpg", classRoot, "vendor/apt"},
		{"hello_1.0_all.deb", classPackage, ""},
		{"sub/hello-udeb_1.0_amd64.udeb", classPackage, ""},
		{"sub/hello-dbgsym_1.0_amd64.ddeb", classPackage, ""},
		{"Packages.xz", classOther, ""},
		{"sub/Packages", classOther, ""},
		{"by-hash/SHA256/" + strings.Repeat("b", 64), classOther, ""},
	}
	for _, tt := range flat {
		if cls, root := classifyDeb(tt.in); cls != tt.cls || root != tt.root {
			t.Errorf("flat: classifyDeb(%q) = %v %q, want %v %q", tt.in, cls, root, tt.cls, tt.root)
		}
	}
	// An ordinary archive's paths keep the class they always had: nothing
	// in or under dists/ or pool/ is a flat root, whatever its name, and
	// the top-level files of a Debian mirror are other.
	ordinary := []struct {
		in   string
		cls  class
		root string
	}{
		{"README", classOther, ""},
		{"README.html", classOther, ""},
		{"ls-lR.gz", classOther, ""},
		{"project/trace/master", classOther, ""},
		{"indices/files/arch-amd64.list.gz", classOther, ""},
		{"doc/FAQ/debian-faq.en.html", classOther, ""},
		{"dists/InRelease", classOther, ""},
		{"dists/Release", classOther, ""},
		{"pool/InRelease", classOther, ""},
		{"pool/main/Release", classOther, ""},
		{"pool/main/h/hello/Release.gpg", classOther, ""},
		{"dists/bookworm/Release", classRoot, "dists/bookworm"},
		{"dists/bookworm/main/binary-amd64/Release", classIndexed, "dists/bookworm"},
		{"dists/bookworm/main/installer-amd64/current/images/MANIFEST", classIndexed, "dists/bookworm"},
		{"dists/bookworm/main/binary-amd64/Packages.xz", classIndexed, "dists/bookworm"},
		{"pool/main/h/hello/hello_2.10-3_amd64.deb", classPackage, ""},
		{"pool/main/h/hello/hello_2.10.orig.tar.gz", classOther, ""},
		// A repo whose mirror URL is the host's top (paths under "debian/"):
		// its dists/ is not a flat root either.
		{"debian/dists/bookworm/InRelease", classOther, ""},
		{"debian/dists/bookworm/main/binary-amd64/Packages.xz", classOther, ""},
		{"debian/pool/main/h/hello/Release", classOther, ""},
	}
	for _, tt := range ordinary {
		if cls, root := classifyDeb(tt.in); cls != tt.cls || root != tt.root {
			t.Errorf("ordinary: classifyDeb(%q) = %v %q, want %v %q", tt.in, cls, root, tt.cls, tt.root)
		}
	}
	rpm := []struct {
		in   string
		cls  class
		root string
	}{
		{"releases/40/Everything/x86_64/os/repodata/repomd.xml", classRoot, "releases/40/Everything/x86_64/os"},
		{"repodata/repomd.xml.asc", classRoot, ""},
		{"updates/40/x86_64/repodata/abc-primary.xml.zst", classIndexed, "updates/40/x86_64"},
		{"releases/40/Everything/x86_64/os/Packages/b/bash-5.2.26-3.fc40.x86_64.rpm", classPackage, ""},
		{"updates/40/x86_64/drpms/a.drpm", classPackage, ""},
		{"releases/40/Everything/x86_64/os/.treeinfo", classOther, ""},
		{"releases/40/Everything/x86_64/os/images/pxeboot/vmlinuz", classOther, ""},
	}
	for _, tt := range rpm {
		if cls, root := classifyRPM(tt.in); cls != tt.cls || root != tt.root {
			t.Errorf("classifyRPM(%q) = %v %q, want %v %q", tt.in, cls, root, tt.cls, tt.root)
		}
	}
}

func TestDebArchAndAncestors(t *testing.T) {
	for in, want := range map[string]string{
		"pool/main/c/ca-certificates/ca-certificates_20230311+deb12u1_all.deb": "all",
		"pool/main/b/bash/bash_5.2.15-2+b2_amd64.deb":                          "amd64",
		"pool/main/x/weird.deb":                                                "",
	} {
		if got := debArch(in); got != want {
			t.Errorf("debArch(%q) = %q, want %q", in, got, want)
		}
	}
	if got := ancestors("a/b/c.rpm"); !slices.Equal(got, []string{"a/b", "a", ""}) {
		t.Errorf("ancestors = %q", got)
	}
	if got := ancestors("c.rpm"); !slices.Equal(got, []string{""}) {
		t.Errorf("ancestors(top) = %q", got)
	}
}

// TestFlatRootPaths: a root key "" (a flat repository at the tree's top)
// joins, splits and names its files like any other.
func TestFlatRootPaths(t *testing.T) {
	for _, tt := range []struct{ root, p, joined string }{
		{"", "InRelease", "InRelease"},
		{"sub", "InRelease", "sub/InRelease"},
		{"dists/bookworm", "main/binary-amd64/Packages.xz", "dists/bookworm/main/binary-amd64/Packages.xz"},
	} {
		if got := joinRoot(tt.root, tt.p); got != tt.joined {
			t.Errorf("joinRoot(%q, %q) = %q, want %q", tt.root, tt.p, got, tt.joined)
		}
		if got := inRoot(tt.root, tt.joined); got != tt.p {
			t.Errorf("inRoot(%q, %q) = %q, want %q", tt.root, tt.joined, got, tt.p)
		}
	}
	if got := loadedDirs("", []string{"Packages.xz"}); !slices.Equal(got, []string{""}) {
		t.Errorf("loadedDirs of a top flat root = %q, want [\"\"]", got)
	}
	if got := loadedDirs("sub", []string{"sub/Packages.gz"}); !slices.Equal(got, []string{""}) {
		t.Errorf("loadedDirs of flat root sub = %q, want [\"\"]", got)
	}
	if got := loadedDirs("dists/stable", []string{"dists/stable/main/binary-amd64/Packages.gz"}); !slices.Equal(got, []string{"main/binary-amd64"}) {
		t.Errorf("loadedDirs of dists/stable = %q", got)
	}
	hex := strings.Repeat("c", 64)
	for _, tt := range []struct {
		key, p, dir string
		ok          bool
	}{
		{"", "Packages.xz", "", true},
		{"", "by-hash/SHA256/" + hex, "", true},
		{"sub", "Packages", "", true},
		{"", "Sources.xz", "", false},
		{"", "other/Packages.xz", "", false}, // apt reads a flat root's own Packages only
		{"dists/stable", "main/binary-amd64/Packages.xz", "main/binary-amd64", true},
		{"dists/stable", "main/binary-amd64/by-hash/SHA256/" + hex, "main/binary-amd64", true},
		{"dists/stable", "main/debian-installer/binary-amd64/Packages.xz", "", false},
		{"dists/stable", "Packages.xz", "", false},
	} {
		if dir, ok := packagesDirOf(tt.key, tt.p); dir != tt.dir || ok != tt.ok {
			t.Errorf("packagesDirOf(%q, %q) = %q, %v; want %q, %v", tt.key, tt.p, dir, ok, tt.dir, tt.ok)
		}
	}
}

// TestFlatDebEntries: a flat root's Release at the top lists its files
// relative to the top, and their by-hash names beside them, with no "./"
// or leading "/".
func TestFlatDebEntries(t *testing.T) {
	b := []byte("Package: a\n")
	text := fmt.Sprintf("Date: Sat, 01 Jun 2024 00:00:00 UTC\nAcquire-By-Hash: yes\nSHA256:\n %x %d Packages\n", sha256.Sum256(b), len(b))
	rel, err := debian.ParseRelease(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string][]string{
		"":    {"Packages", fmt.Sprintf("by-hash/SHA256/%x", sha256.Sum256(b))},
		"sub": {"sub/Packages", fmt.Sprintf("sub/by-hash/SHA256/%x", sha256.Sum256(b))},
	} {
		var got []string
		for _, r := range debEntries(key, rel) {
			got = append(got, r.Path)
		}
		if !slices.Equal(got, want) {
			t.Errorf("debEntries(%q) paths = %q, want %q", key, got, want)
		}
	}
}

// FuzzCleanPath: whatever a client sends, a clean path never climbs out of
// the repo, never holds NUL or a backslash, and cleaning is idempotent.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"pool/main/a.deb", "a/../b", "dists/", "%2e%2e", "a\x00b", "/a/b/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		got, err := CleanPath(p)
		if err != nil {
			return
		}
		for _, seg := range strings.Split(got, "/") {
			if seg == ".." || seg == "." {
				t.Fatalf("CleanPath(%q) = %q keeps a dot segment", p, got)
			}
		}
		if strings.ContainsAny(got, "\x00\\") || strings.HasPrefix(got, "/") {
			t.Fatalf("CleanPath(%q) = %q", p, got)
		}
		if again, err := CleanPath(got); err != nil || again != got {
			t.Fatalf("CleanPath not idempotent on %q: %q, %v", got, again, err)
		}
	})
}
