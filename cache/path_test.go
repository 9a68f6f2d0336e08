package cache

import (
	"errors"
	"slices"
	"strings"
	"testing"
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
		{"a/./b", "", true},
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
