package pkgspec

import (
	"errors"
	"strings"
	"testing"

	"github.com/cavaliergopher/rpm"
)

// format writes s in the two-field dpkg form, which Parse must read back as
// s whatever its name looks like.
func format(s Spec) string {
	name := s.Name
	if s.Arch != "" {
		name += ":" + s.Arch
	}
	if s.Version == "" {
		return name + "\tinstall"
	}
	return name + "\t" + s.Version
}

func FuzzParse(f *testing.F) {
	for _, file := range []string{"dpkg-get-selections.txt", "dpkg-query-W.txt", "dpkg-query-W-arch.txt"} {
		lines := readLines(f, file)
		f.Add(strings.Join(lines[:20], "\n"))
		for _, l := range lines[:5] {
			f.Add(l)
		}
	}
	for _, p := range rpmPackages(f, "centos-stream9-baseos")[:50] {
		f.Add(nevra(p))
	}
	for _, l := range []string{"bash=5.2.15-2+b2", "libc6:amd64", "bash/amd64", "gpg-pubkey-8483c65d-5ccc5b19",
		"bash-1:5.2-3.fc38.x86_64", "nano\t\tdeinstall", "# comment\n\nbash # shell\r\n", "bash 1 2"} {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, list string) {
		specs, errs := Parse(strings.NewReader(list))
		lines := strings.Count(list, "\n") + 1
		for _, err := range errs {
			if !errors.Is(err, ErrSyntax) && !strings.Contains(err.Error(), "read package list") {
				t.Errorf("error %v is not ErrSyntax", err)
			}
		}
		for _, s := range specs {
			if s.Line < 1 || s.Line > lines || s.Name == "" {
				t.Fatalf("spec %+v from %d lines", s, lines)
			}
			again, errs := Parse(strings.NewReader(format(s)))
			s.Line = 1
			if len(errs) != 0 || len(again) != 1 || again[0] != s {
				t.Fatalf("%+v formatted as %q parses as %+v, %v", s, format(s), again, errs)
			}
		}
	})
}

func FuzzRPMVerCmp(f *testing.F) {
	for _, line := range readLines(f, "rpmvercmp.txt") {
		if fields := strings.Fields(line); len(fields) == 3 && !strings.HasPrefix(line, "#") {
			f.Add(fields[0], fields[1])
		}
	}
	pkgs := rpmPackages(f, "centos-stream9-baseos")
	for i := 1; i < 50; i++ {
		f.Add(pkgs[i-1].Version, pkgs[i].Version)
		f.Add(pkgs[i-1].Release, pkgs[i].Release)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ab, ba := rpmvercmp(a, b), rpmvercmp(b, a)
		if ab != -ba || ab < -1 || ab > 1 || rpmvercmp(a, a) != 0 {
			t.Fatalf("rpmvercmp(%q, %q) = %d, reversed %d", a, b, ab, ba)
		}
		if !strings.Contains(a+b, "^") {
			if want := rpm.CompareVersions(a, b); ab != want {
				t.Fatalf("rpmvercmp(%q, %q) = %d, cavaliergopher says %d", a, b, ab, want)
			}
		}
	})
}
