package pkgspec

import (
	"errors"
	"strings"
	"testing"
)

func TestParseLine(t *testing.T) {
	tests := []struct {
		name, line string
		want       Spec // zero: the line names nothing
		err        bool
	}{
		{"bare", "bash", Spec{Name: "bash"}, false},
		{"bare with dashes", "libgtk-3-0", Spec{Name: "libgtk-3-0"}, false},
		{"bare with digits and dashes", "gcc-12-base", Spec{Name: "gcc-12-base"}, false},
		{"bare plus", "libstdc++6", Spec{Name: "libstdc++6"}, false},
		{"bare with dots", "python3.11-minimal", Spec{Name: "python3.11-minimal"}, false},
		{"apt name=version", "bash=5.2.15-2+b2", Spec{Name: "bash", Version: "5.2.15-2+b2"}, false},
		{"apt epoch", "bsdutils=1:2.38.1-5+deb12u3", Spec{Name: "bsdutils", Version: "1:2.38.1-5+deb12u3"}, false},
		{"multiarch colon", "libc6:amd64", Spec{Name: "libc6", Arch: "amd64"}, false},
		{"multiarch slash", "bash/amd64", Spec{Name: "bash", Arch: "amd64"}, false},
		{"multiarch and version", "libc6:i386=2.36-9+deb12u4", Spec{Name: "libc6", Version: "2.36-9+deb12u4", Arch: "i386"}, false},
		{"get-selections install", "adduser\t\t\t\t\t\tinstall", Spec{Name: "adduser"}, false},
		{"get-selections multiarch", "binutils-common:amd64\t\t\t\tinstall", Spec{Name: "binutils-common", Arch: "amd64"}, false},
		{"get-selections hold", "linux-image-amd64\t\t\t\thold", Spec{Name: "linux-image-amd64"}, false},
		{"get-selections deinstall", "nano\t\t\t\t\t\tdeinstall", Spec{}, false},
		{"get-selections purge", "vim-tiny\t\t\t\t\tpurge", Spec{}, false},
		{"dpkg-query", "adduser\t3.134", Spec{Name: "adduser", Version: "3.134"}, false},
		{"dpkg-query epoch", "bsdutils\t1:2.38.1-5+deb12u3", Spec{Name: "bsdutils", Version: "1:2.38.1-5+deb12u3"}, false},
		{"dpkg-query arch", "libc6:amd64\t2.36-9+deb12u10", Spec{Name: "libc6", Version: "2.36-9+deb12u10", Arch: "amd64"}, false},
		{"dpkg-query not installed", "libfoo1\t", Spec{Name: "libfoo1"}, false},
		{"nevra", "bash-5.2.15-3.fc38.x86_64", Spec{Name: "bash", Version: "5.2.15-3.fc38", Arch: "x86_64"}, false},
		{"nevra dashed name", "kernel-core-6.5.6-300.fc39.x86_64", Spec{Name: "kernel-core", Version: "6.5.6-300.fc39", Arch: "x86_64"}, false},
		{"nevra i686", "glibc-2.38-7.fc39.i686", Spec{Name: "glibc", Version: "2.38-7.fc39", Arch: "i686"}, false},
		{"nevra noarch", "python3-pip-wheel-21.3.1-1.el9.noarch", Spec{Name: "python3-pip-wheel", Version: "21.3.1-1.el9", Arch: "noarch"}, false},
		{"nevra epoch", "bash-1:5.2-3.fc38.x86_64", Spec{Name: "bash", Version: "1:5.2-3.fc38", Arch: "x86_64"}, false},
		{"nevra caret", "xdg-desktop-portal-gnome-0^20231204.gb86afe3-1.el9.x86_64", Spec{Name: "xdg-desktop-portal-gnome", Version: "0^20231204.gb86afe3-1.el9", Arch: "x86_64"}, false},
		{"arch suffix, one dash", "kernel-core.x86_64", Spec{Name: "kernel-core.x86_64"}, false},
		{"unknown arch suffix", "foo-1.0-1.el9.sparc", Spec{Name: "foo-1.0-1.el9.sparc"}, false},
		{"gpg-pubkey", "gpg-pubkey-8483c65d-5ccc5b19", Spec{}, false},
		{"gpg-pubkey name", "gpg-pubkey", Spec{}, false},
		{"blank", "   \t ", Spec{}, false},
		{"comment", "# packages for the build hosts", Spec{}, false},
		{"trailing comment", "bash  # the shell", Spec{Name: "bash"}, false},
		{"crlf", "bash\r", Spec{Name: "bash"}, false},
		{"three fields", "bash 5.2 extra", Spec{}, true},
		{"apt list", "bash/stable,now 5.2.15-2+b2 amd64 [installed]", Spec{}, true},
		{"no name", "=1.0", Spec{}, true},
		{"empty version", "bash=", Spec{}, true},
		{"empty arch", "bash:", Spec{}, true},
		{"bad arch", "bash:am.d64", Spec{}, true},
		{"bad char", "ba$h", Spec{}, true},
		{"leading dash", "-bash", Spec{}, true},
		{"bad version char", "bash=5.2/1", Spec{}, true},
		{"two fields bad version", "bash\t5.2@1", Spec{}, true},
		{"nevra bad name", "foo@bar-1.0-1.el9.x86_64", Spec{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			specs, errs := Parse(strings.NewReader("# list\n" + tt.line + "\n"))
			if tt.err {
				if len(errs) != 1 || !errors.Is(errs[0], ErrSyntax) || !strings.HasPrefix(errs[0].Error(), "line 2: ") {
					t.Fatalf("Parse(%q) errors = %v, want one ErrSyntax on line 2", tt.line, errs)
				}
				if len(specs) != 0 {
					t.Fatalf("Parse(%q) = %+v with an error", tt.line, specs)
				}
				return
			}
			if len(errs) != 0 {
				t.Fatalf("Parse(%q): %v", tt.line, errs)
			}
			if tt.want == (Spec{}) {
				if len(specs) != 0 {
					t.Fatalf("Parse(%q) = %+v, want nothing", tt.line, specs)
				}
				return
			}
			tt.want.Line = 2
			if len(specs) != 1 || specs[0] != tt.want {
				t.Fatalf("Parse(%q) = %+v, want %+v", tt.line, specs, tt.want)
			}
		})
	}
}

// TestParseMixed checks that forms mix in one list and that the line
// numbers of specs and errors are right.
func TestParseMixed(t *testing.T) {
	list := "# fleet\n\nbash\nlibc6:amd64\t2.36-9+deb12u10\nbash 1 2\nkernel-core-6.5.6-300.fc39.x86_64\nnano\t\tdeinstall\nvim=2:9.0.1378-2\n"
	specs, errs := Parse(strings.NewReader(list))
	want := []Spec{
		{Line: 3, Name: "bash"},
		{Line: 4, Name: "libc6", Version: "2.36-9+deb12u10", Arch: "amd64"},
		{Line: 6, Name: "kernel-core", Version: "6.5.6-300.fc39", Arch: "x86_64"},
		{Line: 8, Name: "vim", Version: "2:9.0.1378-2"},
	}
	if len(specs) != len(want) {
		t.Fatalf("Parse = %+v, want %+v", specs, want)
	}
	for i := range want {
		if specs[i] != want[i] {
			t.Errorf("spec %d = %+v, want %+v", i, specs[i], want[i])
		}
	}
	if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), "line 5: ") {
		t.Errorf("errors = %v, want one on line 5", errs)
	}
}

func TestParseLongLine(t *testing.T) {
	specs, errs := Parse(strings.NewReader("bash\n" + strings.Repeat("a", 70000) + "\nzsh\n"))
	if len(specs) != 1 || len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), "line 2: ") {
		t.Fatalf("Parse = %+v, %v; want bash and an error on line 2", specs, errs)
	}
}

// TestParseDpkg parses real dpkg output of one host in three forms and checks
// them against each other: the same packages, in the same order, with the
// same versions and architectures.
func TestParseDpkg(t *testing.T) {
	sel := parseAll(t, strings.Join(readLines(t, "dpkg-get-selections.txt"), "\n"))
	query := parseAll(t, strings.Join(readLines(t, "dpkg-query-W.txt"), "\n"))
	withArch := parseAll(t, strings.Join(readLines(t, "dpkg-query-W-arch.txt"), "\n"))
	n := len(readLines(t, "dpkg-get-selections.txt"))
	if len(sel) != n || len(query) != n || len(withArch) != n {
		t.Fatalf("%d lines gave %d, %d, %d specs", n, len(sel), len(query), len(withArch))
	}
	multiarch := 0
	for i := range sel {
		s, q, a := sel[i], query[i], withArch[i]
		if s.Line != i+1 || s.Version != "" {
			t.Errorf("selection %+v: want line %d, no version", s, i+1)
		}
		if s.Name != q.Name || s.Name != a.Name || s.Arch != q.Arch {
			t.Errorf("line %d: %+v, %+v and %+v name different packages", i+1, s, q, a)
		}
		if q.Version == "" || q.Version != a.Version {
			t.Errorf("line %d: versions %q and %q", i+1, q.Version, a.Version)
		}
		if a.Arch == "" || q.Arch != "" && q.Arch != a.Arch {
			t.Errorf("line %d: architectures %q and %q", i+1, q.Arch, a.Arch)
		}
		if q.Arch != "" {
			multiarch++
		}
	}
	if multiarch == 0 {
		t.Error("no name:arch line in dpkg-query -W output")
	}
}

// TestParseRPMQA formats every package of the real CentOS Stream 9 primary
// files as rpm -qa prints it (NEVRA, and %{NAME}) and parses it back.
func TestParseRPMQA(t *testing.T) {
	for _, dir := range []string{"centos-stream9-baseos", "centos-stream9-appstream"} {
		pkgs := rpmPackages(t, dir)
		var nevras, names strings.Builder
		for _, p := range pkgs {
			nevras.WriteString(nevra(p) + "\n")
			names.WriteString(p.Name + "\n")
		}
		bare := parseAll(t, names.String())
		full := parseAll(t, nevras.String())
		if len(full) != len(pkgs) || len(bare) != len(pkgs) {
			t.Fatalf("%s: %d packages gave %d NEVRA and %d name specs", dir, len(pkgs), len(full), len(bare))
		}
		epochs := 0
		for i, p := range pkgs {
			if want := (Spec{Line: i + 1, Name: p.Name, Version: evr(p), Arch: p.Arch}); full[i] != want {
				t.Errorf("%s: %q parsed as %+v, want %+v", dir, nevra(p), full[i], want)
			}
			if want := (Spec{Line: i + 1, Name: p.Name}); bare[i] != want {
				t.Errorf("%s: %q parsed as %+v, want %+v", dir, p.Name, bare[i], want)
			}
			if strings.Contains(full[i].Version, ":") {
				epochs++
			}
		}
		t.Logf("%s: %d packages, %d with an epoch", dir, len(pkgs), epochs)
	}
}

// TestParseDebianNames checks that no real Debian package name is taken for
// an rpm NEVRA: every name of bookworm main parses as itself.
func TestParseDebianNames(t *testing.T) {
	cands := debCandidates(t)
	var list strings.Builder
	for name := range cands {
		list.WriteString(name + "\n")
	}
	specs := parseAll(t, list.String())
	if len(specs) != len(cands) {
		t.Fatalf("%d names gave %d specs", len(cands), len(specs))
	}
	for _, s := range specs {
		if _, ok := cands[s.Name]; !ok || s.Arch != "" || s.Version != "" {
			t.Errorf("line %d parsed as %+v", s.Line, s)
		}
	}
}
