package pkgspec

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cavaliergopher/rpm"
)

// TestRPMVerCmp runs rpm's own test cases (testdata/rpmvercmp.txt).
func TestRPMVerCmp(t *testing.T) {
	n := 0
	for i, line := range readLines(t, "rpmvercmp.txt") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("rpmvercmp.txt line %d: %q", i+1, line)
		}
		want, err := strconv.Atoi(f[2])
		if err != nil {
			t.Fatalf("rpmvercmp.txt line %d: %v", i+1, err)
		}
		if got := rpmvercmp(f[0], f[1]); got != want {
			t.Errorf("rpmvercmp(%q, %q) = %d, want %d", f[0], f[1], got, want)
		}
		n++
	}
	if n < 100 {
		t.Fatalf("only %d cases", n)
	}
}

// TestRPMVerCmpCavaliergopher checks rpmvercmp against
// github.com/cavaliergopher/rpm's CompareVersions on the real version and
// release strings of CentOS Stream 9, sorted, each against its neighbours;
// strings with '^', which that library does not handle, are left out.
func TestRPMVerCmpCavaliergopher(t *testing.T) {
	seen := make(map[string]bool)
	for _, p := range rpmPackages(t, "centos-stream9-appstream") {
		for _, s := range []string{p.Version, p.Release} {
			if !strings.Contains(s, "^") {
				seen[s] = true
			}
		}
	}
	vs := slices.Sorted(func(yield func(string) bool) {
		for s := range seen {
			if !yield(s) {
				return
			}
		}
	})
	for i, a := range vs {
		for _, b := range vs[i+1 : min(i+8, len(vs))] {
			if got, want := rpmvercmp(a, b), rpm.CompareVersions(a, b); got != want {
				t.Errorf("rpmvercmp(%q, %q) = %d, cavaliergopher says %d", a, b, got, want)
			}
		}
	}
	t.Logf("%d distinct strings", len(vs))
}

func TestKindCompare(t *testing.T) {
	tests := []struct {
		kind Kind
		a, b string
		want int
	}{
		{Deb, "1.0~rc1", "1.0", -1},
		{Deb, "1.0~rc1-1", "1.0~rc2-1", -1},
		{Deb, "1.0", "1.0a", -1},
		{Deb, "1.9", "1.10", -1},
		{Deb, "2.0", "1:0.9", -1},
		{Deb, "1.0", "0:1.0", 0},
		{Deb, "2.36-9+deb12u4", "2.36-9+deb12u10", -1},
		{Deb, "1.0-1", "1.0+dfsg-1", -1},
		{Deb, "5.2.15-2", "5.2.15-2+b2", -1},
		{RPM, "1.9-1", "1.10-1", -1},
		{RPM, "1.0~rc1-1.el9", "1.0-1.el9", -1},
		{RPM, "1.0-1", "1.0a-1", -1},
		{RPM, "2.0-1", "1:1.0-1", -1},
		{RPM, "1.0-1", "0:1.0-1", 0},
		{RPM, "5.2.15", "5.2.15-3.el9", 0},
		{RPM, "1.0-1.el9", "1.0-1.el9_1", -1},
		{RPM, "0^20231204.gb86afe3-1.el9", "0.1-1.el9", -1},
		{RPM, "1.0-1.el9", "1.0^git1-1.el9", -1},
	}
	for _, tt := range tests {
		got, err := tt.kind.Compare(tt.a, tt.b)
		if err != nil || got != tt.want {
			t.Errorf("%v.Compare(%q, %q) = %d, %v; want %d", tt.kind, tt.a, tt.b, got, err, tt.want)
		}
		if got, err := tt.kind.Compare(tt.b, tt.a); err != nil || got != -tt.want {
			t.Errorf("%v.Compare(%q, %q) = %d, %v; want %d", tt.kind, tt.b, tt.a, got, err, -tt.want)
		}
	}
}

func TestKindCompareErrors(t *testing.T) {
	tests := []struct {
		kind Kind
		a    string
	}{
		{Deb, "abc"},
		{Deb, ""},
		{Deb, "1.0 1"},
		{RPM, ""},
		{RPM, "1:"},
		{RPM, "-1.el9"},
		{Kind(0), "1.0"},
	}
	for _, tt := range tests {
		if _, err := tt.kind.Compare(tt.a, "1.0"); !errors.Is(err, ErrVersion) {
			t.Errorf("%v.Compare(%q, 1.0) error = %v, want ErrVersion", tt.kind, tt.a, err)
		}
	}
}
