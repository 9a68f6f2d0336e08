package pkgspec

import (
	"slices"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	debAmd64 := []string{"amd64", "all"}
	rpmX86 := []string{"x86_64", "noarch"}
	bash := []Candidate{
		{Version: "5.2.15-2", Arch: "amd64", Path: "a"},
		{Version: "5.2.15-2+b2", Arch: "amd64", Path: "b"},
		{Version: "5.2.15-2+b3", Arch: "i386", Path: "c"},
		{Version: "5.2.15-2+b1", Arch: "amd64", Path: "d"},
	}
	libc6 := []Candidate{
		{Version: "2.36-9+deb12u4", Arch: "i386", Path: "i386"},
		{Version: "2.36-9+deb12u4", Arch: "amd64", Path: "amd64"},
	}
	tests := []struct {
		name   string
		kind   Kind
		cands  []Candidate
		spec   Spec
		arches []string
		want   string // Path of the pick; "" = not found
	}{
		{"deb newest, other arch ignored", Deb, bash, Spec{}, debAmd64, "b"},
		{"deb exact", Deb, bash, Spec{Version: "5.2.15-2"}, debAmd64, "a"},
		{"deb exact with epoch 0", Deb, bash, Spec{Version: "0:5.2.15-2+b1"}, debAmd64, "d"},
		{"deb exact absent", Deb, bash, Spec{Version: "5.2.15-3"}, debAmd64, ""},
		{"deb exact of another arch", Deb, bash, Spec{Version: "5.2.15-2+b3"}, debAmd64, ""},
		{"deb spec arch beats arches", Deb, bash, Spec{Arch: "i386"}, debAmd64, "c"},
		{"deb no arches: any", Deb, bash, Spec{}, nil, "c"},
		{"deb arch order breaks ties", Deb, libc6, Spec{}, []string{"amd64", "i386"}, "amd64"},
		{"deb arch order breaks ties, reversed", Deb, libc6, Spec{}, []string{"i386", "amd64"}, "i386"},
		{"deb arch all", Deb, []Candidate{{Version: "2024a-0+deb12u1", Arch: "all", Path: "tz"}}, Spec{}, debAmd64, "tz"},
		{"deb tilde", Deb, []Candidate{{Version: "1.0", Arch: "amd64", Path: "final"}, {Version: "1.0~rc1", Arch: "amd64", Path: "rc"}}, Spec{}, debAmd64, "final"},
		{"deb epoch", Deb, []Candidate{{Version: "2.0-1", Arch: "amd64", Path: "2"}, {Version: "1:0.9-1", Arch: "amd64", Path: "e1"}}, Spec{}, debAmd64, "e1"},
		{"deb 1.0a", Deb, []Candidate{{Version: "1.0a", Arch: "amd64", Path: "a"}, {Version: "1.0", Arch: "amd64", Path: "1"}}, Spec{}, debAmd64, "a"},
		{"deb invalid candidate skipped", Deb, []Candidate{{Version: "x1", Arch: "amd64", Path: "bad"}, {Version: "1.0", Arch: "amd64", Path: "ok"}}, Spec{}, debAmd64, "ok"},
		{"deb invalid spec version", Deb, bash, Spec{Version: "latest"}, debAmd64, ""},
		{"deb no candidates", Deb, nil, Spec{}, debAmd64, ""},
		{"rpm 1.10 > 1.9", RPM, []Candidate{{Version: "1.9-1.el9", Arch: "x86_64", Path: "9"}, {Version: "1.10-1.el9", Arch: "x86_64", Path: "10"}, {Version: "1.2-1.el9", Arch: "x86_64", Path: "2"}}, Spec{}, rpmX86, "10"},
		{"rpm 1.0a > 1.0", RPM, []Candidate{{Version: "1.0a-1", Arch: "noarch", Path: "a"}, {Version: "1.0-1", Arch: "noarch", Path: "1"}}, Spec{}, rpmX86, "a"},
		{"rpm tilde", RPM, []Candidate{{Version: "1.0-1", Arch: "x86_64", Path: "final"}, {Version: "1.0~rc1-1", Arch: "x86_64", Path: "rc"}}, Spec{}, rpmX86, "final"},
		{"rpm caret", RPM, []Candidate{{Version: "1.0^git2-1", Arch: "x86_64", Path: "snap"}, {Version: "1.0-9", Arch: "x86_64", Path: "rel"}, {Version: "1.0.1-1", Arch: "x86_64", Path: "next"}}, Spec{}, rpmX86, "next"},
		{"rpm epoch", RPM, []Candidate{{Version: "1:1.0-1", Arch: "x86_64", Path: "e1"}, {Version: "2.0-1", Arch: "x86_64", Path: "e0"}}, Spec{}, rpmX86, "e1"},
		{"rpm release", RPM, []Candidate{{Version: "1.0-1.el9_1", Arch: "x86_64", Path: "u1"}, {Version: "1.0-1.el9", Arch: "x86_64", Path: "ga"}}, Spec{}, rpmX86, "u1"},
		{"rpm exact", RPM, []Candidate{{Version: "1:1.0-1", Arch: "x86_64", Path: "e1"}, {Version: "2.0-1", Arch: "x86_64", Path: "e0"}}, Spec{Version: "0:2.0-1"}, rpmX86, "e0"},
		// rpm -qa prints no epoch: a version without one matches any (as dnf does).
		{"rpm exact without epoch matches any epoch", RPM, []Candidate{{Version: "1:1.0-1", Arch: "x86_64", Path: "e1"}}, Spec{Version: "1.0-1"}, rpmX86, "e1"},
		{"rpm exact without epoch, newest epoch", RPM, []Candidate{{Version: "1:1.0-1", Arch: "x86_64", Path: "e1"}, {Version: "2:1.0-1", Arch: "x86_64", Path: "e2"}, {Version: "1.0-1", Arch: "x86_64", Path: "e0"}}, Spec{Version: "1.0-1"}, rpmX86, "e2"},
		{"rpm exact epoch 0 is epoch 0", RPM, []Candidate{{Version: "1:1.0-1", Arch: "x86_64", Path: "e1"}}, Spec{Version: "0:1.0-1"}, rpmX86, ""},
		{"rpm exact epoch must match", RPM, []Candidate{{Version: "1:1.0-1", Arch: "x86_64", Path: "e1"}}, Spec{Version: "2:1.0-1"}, rpmX86, ""},
		{"rpm version without release", RPM, []Candidate{{Version: "5.2.15-1.el9", Arch: "x86_64", Path: "1"}, {Version: "5.2.15-3.el9", Arch: "x86_64", Path: "3"}, {Version: "5.2.16-1.el9", Arch: "x86_64", Path: "new"}}, Spec{Version: "5.2.15"}, rpmX86, "3"},
		{"rpm other arch excluded", RPM, []Candidate{{Version: "2.34-100.el9", Arch: "i686", Path: "i686"}, {Version: "2.34-99.el9", Arch: "x86_64", Path: "x86_64"}}, Spec{}, rpmX86, "x86_64"},
		{"rpm spec arch", RPM, []Candidate{{Version: "2.34-100.el9", Arch: "i686", Path: "i686"}, {Version: "2.34-99.el9", Arch: "x86_64", Path: "x86_64"}}, Spec{Arch: "i686"}, rpmX86, "i686"},
		{"unknown kind", Kind(0), bash, Spec{}, debAmd64, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.Name, tt.spec.Line = "pkg", 7
			var asked []string
			found, notFound := Resolve(tt.kind, []Spec{tt.spec}, tt.arches, func(name string) []Candidate {
				asked = append(asked, name)
				cs := slices.Clone(tt.cands)
				for i := range cs {
					cs[i].Name = name
				}
				return cs
			})
			if !slices.Equal(asked, []string{"pkg"}) {
				t.Errorf("candidates asked for %q", asked)
			}
			if tt.want == "" {
				if len(found) != 0 || len(notFound) != 1 || notFound[0] != tt.spec {
					t.Fatalf("Resolve = %+v, %+v; want %+v not found", found, notFound, tt.spec)
				}
				return
			}
			if len(found) != 1 || len(notFound) != 0 || found[0].Spec != tt.spec || found[0].Candidate.Path != tt.want {
				t.Fatalf("Resolve = %+v, %+v; want %s", found, notFound, tt.want)
			}
		})
	}
}

// checkResolution checks, from the candidates themselves, what Resolve
// returned for specs: every spec is in exactly one list, in order; every pick
// is allowed and has the asked version; no allowed candidate is newer than
// a pick for a spec without version; and no allowed candidate exists for a
// spec not found.
func checkResolution(t *testing.T, kind Kind, specs []Spec, arches []string, cands map[string][]Candidate, found []Match, notFound []Spec) {
	t.Helper()
	if len(found)+len(notFound) != len(specs) {
		t.Fatalf("%d specs gave %d found and %d not found", len(specs), len(found), len(notFound))
	}
	allowed := func(s Spec, c Candidate) bool {
		if c.Name != s.Name || s.Arch != "" && c.Arch != s.Arch || s.Arch == "" && !slices.Contains(arches, c.Arch) {
			return false
		}
		if s.Version == "" {
			return true
		}
		d, err := kind.Compare(c.Version, s.Version)
		return err == nil && d == 0
	}
	fi, ni := 0, 0
	for _, s := range specs {
		if fi < len(found) && found[fi].Spec == s {
			pick := found[fi].Candidate
			fi++
			if !allowed(s, pick) {
				t.Errorf("%+v resolved to %+v", s, pick)
			}
			for _, c := range cands[s.Name] {
				if d, err := kind.Compare(c.Version, pick.Version); allowed(s, c) && err == nil && d > 0 {
					t.Errorf("%+v resolved to %s, but %s is newer", s, pick.Version, c.Version)
				}
			}
			continue
		}
		if ni >= len(notFound) || notFound[ni] != s {
			t.Fatalf("%+v is missing from both lists or out of order", s)
		}
		ni++
		for _, c := range cands[s.Name] {
			if allowed(s, c) {
				t.Errorf("%+v not found, but %+v qualifies", s, c)
			}
		}
	}
}

// TestResolveDebCorpus resolves this host's real dpkg lists against the
// real bookworm, bookworm-updates and bookworm-security Packages files.
func TestResolveDebCorpus(t *testing.T) {
	cands := debCandidates(t)
	lookup := func(name string) []Candidate { return cands[name] }
	arches := []string{"amd64", "all"}
	for _, file := range []string{"dpkg-get-selections.txt", "dpkg-query-W.txt", "dpkg-query-W-arch.txt"} {
		specs := parseAll(t, strings.Join(readLines(t, file), "\n"))
		found, notFound := Resolve(Deb, specs, arches, lookup)
		checkResolution(t, Deb, specs, arches, cands, found, notFound)
		if len(found) <= len(notFound) {
			t.Errorf("%s: only %d of %d found", file, len(found), len(specs))
		}
		t.Logf("%s: %d specs, %d found, %d not found", file, len(specs), len(found), len(notFound))
	}
	multi := 0
	for _, cs := range cands {
		if len(cs) > 1 {
			multi++
		}
	}
	t.Logf("%d names with more than one candidate", multi)
}

// TestResolveRPMCorpus resolves every package of the real CentOS Stream 9
// AppStream primary, by NEVRA (it must find exactly that version) and by
// name (the newest).
func TestResolveRPMCorpus(t *testing.T) {
	pkgs := rpmPackages(t, "centos-stream9-appstream")
	cands := rpmCandidates(pkgs)
	lookup := func(name string) []Candidate { return cands[name] }
	arches := []string{"x86_64", "noarch"}
	var nevras, names strings.Builder
	for _, p := range pkgs {
		nevras.WriteString(nevra(p) + "\n")
		names.WriteString(p.Name + "\n")
	}
	for _, list := range []string{nevras.String(), names.String()} {
		specs := parseAll(t, list)
		found, notFound := Resolve(RPM, specs, arches, lookup)
		checkResolution(t, RPM, specs, arches, cands, found, notFound)
		t.Logf("%d specs, %d found, %d not found", len(specs), len(found), len(notFound))
	}
	multi := 0
	for _, cs := range cands {
		if len(cs) > 1 {
			multi++
		}
	}
	t.Logf("%d names with more than one candidate", multi)
}
