// Package pkgspec reads the package lists operators have at hand and
// resolves each name against repository metadata; it is the library behind
// `lazymirror prefetch`.
//
// # Input forms
//
// Parse reads one package a line. A '#' starts a comment that runs to the end
// of the line; blank lines are ignored. The form is recognised per line, so a
// list may mix them:
//
//	bash                            bare name: the newest version
//	bash=5.2.15-2+b2                apt style name=version
//	libc6:amd64  bash/amd64         Debian multiarch name:arch, or name/arch
//	libc6:amd64=2.36-9+deb12u4      both
//	bash<TAB>install                dpkg --get-selections: install and hold
//	                                count; deinstall, purge and unknown lines
//	                                are skipped
//	bash<TAB>5.2.15-2+b2            dpkg-query -W (also with
//	                                -f '${Package}:${Architecture}\t${Version}\n')
//	bash-5.2.15-3.fc38.x86_64       rpm -qa NEVRA; epoch as bash-1:5.2-3.fc38.x86_64
//	bash                            rpm -qa --qf '%{NAME}\n'
//
// Lines whose first word is gpg-pubkey or starts with gpg-pubkey- (the keys
// rpm -qa lists beside packages, "gpg-pubkey-8483c65d-5ccc5b19") are skipped.
//
// # Telling an rpm NEVRA from a Debian name with dashes
//
// A single word is an rpm NEVRA line when, and only when, it ends in
// ".ARCH" for a known rpm architecture (x86_64, i386, i486, i586, i686,
// noarch, aarch64, armv7hl, armv7hnl, ppc64, ppc64le, s390, s390x, riscv64,
// loongarch64, src, nosrc) and what precedes it has at least two dashes, with
// a non-empty name before the second-last dash: name-version-release.arch,
// where neither version nor release contains a dash (rpm forbids it). Debian
// package names do not end in such a suffix (the tests check every name of
// bookworm), so "kernel-core-6.5.6-300.fc39.x86_64" is a NEVRA while
// "libgtk-3-0", "python3-pkg-resources" and "gcc-12-base" are bare names. A
// word with an arch suffix but fewer than two dashes ("bash.x86_64", dnf's
// name.arch) is not a NEVRA either; it is taken as a bare name and will not
// resolve. A NEVRA's epoch stays in the Spec's Version: "1:5.2-3.fc38".
//
// # Resolution
//
// Resolve picks, for each Spec, one Candidate from those the caller supplies
// for its name: the exact version when the Spec gives one, otherwise the
// newest, by dpkg's version ordering (Kind Deb, through
// pault.ag/go/debian/version) or rpm's (Kind RPM, rpmvercmp on epoch, version
// and release; see Kind.Compare). The candidate source is a function so that
// the caller can serve it from whatever metadata it has parsed.
package pkgspec

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrSyntax means a line of a package list is in none of the accepted forms
// or names an invalid package name, architecture or version.
var ErrSyntax = errors.New("invalid package list line")

// Spec is one package a list asks for.
type Spec struct {
	Line    int    // 1-based line number in the list
	Name    string // package name
	Version string // "" = newest; for rpm "version-release" or "epoch:version-release" (also bare "version")
	Arch    string // "" = any allowed architecture (the caller's --arch decides)
}

// Parse reads a package list (see the package documentation for the forms)
// and returns the specs it names in list order. Each line that cannot be
// parsed adds an error wrapping ErrSyntax that names its line number; the
// other lines are still returned. A read error, or a line longer than
// bufio.MaxScanTokenSize, ends the list with an error naming the line.
func Parse(r io.Reader) ([]Spec, []error) {
	var (
		specs []Spec
		errs  []error
	)
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		s, ok, err := parseLine(sc.Text())
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("line %d: %w", n, err))
		case ok:
			s.Line = n
			specs = append(specs, s)
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("line %d: read package list: %w", n+1, err))
	}
	return specs, errs
}

// parseLine parses one line; ok is false for lines that name nothing
// (blank, comment, deselected, gpg-pubkey).
func parseLine(line string) (s Spec, ok bool, err error) {
	if i := strings.IndexByte(line, '#'); i >= 0 {
		line = line[:i]
	}
	fields := strings.Fields(line)
	if len(fields) == 0 || fields[0] == "gpg-pubkey" || strings.HasPrefix(fields[0], "gpg-pubkey-") {
		return Spec{}, false, nil // blank, or a key rpm -qa lists
	}
	switch len(fields) {
	case 1:
		return parseWord(fields[0])
	case 2:
		switch fields[1] {
		case "install", "hold": // dpkg --get-selections
			s, err = parseNameArch(fields[0])
			return s, err == nil, err
		case "deinstall", "purge", "unknown":
			return Spec{}, false, nil
		}
		// dpkg-query -W: name[:arch] TAB version
		s, err = parseNameVersion(fields[0], fields[1])
		return s, err == nil, err
	default:
		return Spec{}, false, fmt.Errorf("%q: want a package, name and version, or name and selection state: %w", strings.Join(fields, " "), ErrSyntax)
	}
}

// parseWord parses a line of one word: name, name=version, name:arch,
// name/arch, name:arch=version, or an rpm NEVRA.
func parseWord(w string) (Spec, bool, error) {
	if nameArch, ver, ok := strings.Cut(w, "="); ok {
		s, err := parseNameVersion(nameArch, ver)
		return s, err == nil, err
	}
	if s, ok, err := parseNEVRA(w); ok || err != nil {
		return s, ok, err
	}
	s, err := parseNameArch(w)
	return s, err == nil, err
}

// parseNEVRA parses name-[epoch:]version-release.arch. ok is false, with no
// error, when w does not have that shape (it is then a bare name).
func parseNEVRA(w string) (s Spec, ok bool, err error) {
	dot := strings.LastIndexByte(w, '.')
	if dot < 0 || !rpmArch(w[dot+1:]) {
		return Spec{}, false, nil
	}
	nvr := w[:dot]
	rel := strings.LastIndexByte(nvr, '-')
	if rel < 0 {
		return Spec{}, false, nil
	}
	ver := strings.LastIndexByte(nvr[:rel], '-')
	if ver <= 0 || rel == ver+1 || rel == len(nvr)-1 {
		return Spec{}, false, nil
	}
	s = Spec{Name: nvr[:ver], Arch: w[dot+1:]}
	if err := checkName(s.Name); err != nil {
		return Spec{}, false, err
	}
	s.Version = nvr[ver+1:]
	if err := checkVersion(s.Version); err != nil {
		return Spec{}, false, err
	}
	return s, true, nil
}

// rpmArch reports whether a is an rpm architecture name that ends NEVRA
// lines.
func rpmArch(a string) bool {
	switch a {
	case "x86_64", "i386", "i486", "i586", "i686", "noarch",
		"aarch64", "armv7hl", "armv7hnl", "ppc64", "ppc64le", "s390", "s390x",
		"riscv64", "loongarch64", "src", "nosrc":
		return true
	}
	return false
}

// parseNameVersion parses a name with an optional architecture (see
// parseNameArch) and its version.
func parseNameVersion(nameArch, ver string) (Spec, error) {
	s, err := parseNameArch(nameArch)
	if err != nil {
		return Spec{}, err
	}
	if err := checkVersion(ver); err != nil {
		return Spec{}, err
	}
	s.Version = ver
	return s, nil
}

// parseNameArch parses name, name:arch or name/arch.
func parseNameArch(w string) (Spec, error) {
	var s Spec
	if i := strings.IndexAny(w, ":/"); i >= 0 {
		s.Arch = w[i+1:]
		if err := checkArch(s.Arch); err != nil {
			return Spec{}, fmt.Errorf("%q: %w", w, err)
		}
		w = w[:i]
	}
	if err := checkName(w); err != nil {
		return Spec{}, err
	}
	s.Name = w
	return s, nil
}

// checkName accepts Debian and rpm package names: an ASCII letter or digit,
// then letters, digits and "._+-".
func checkName(n string) error {
	if n == "" || !isAlnum(n[0]) {
		return fmt.Errorf("package name %q: must start with a letter or digit: %w", n, ErrSyntax)
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; !isAlnum(c) && !strings.ContainsRune("._+-", rune(c)) {
			return fmt.Errorf("package name %q: invalid character %q: %w", n, c, ErrSyntax)
		}
	}
	return nil
}

// checkArch accepts architecture names of both worlds (amd64, all,
// x86_64, armv7hl): ASCII letters, digits, '_' and '-'.
func checkArch(a string) error {
	if a == "" {
		return fmt.Errorf("empty architecture: %w", ErrSyntax)
	}
	for i := 0; i < len(a); i++ {
		if c := a[i]; !isAlnum(c) && c != '_' && c != '-' {
			return fmt.Errorf("architecture %q: invalid character %q: %w", a, c, ErrSyntax)
		}
	}
	return nil
}

// checkVersion accepts the characters of Debian and rpm versions: ASCII
// letters, digits and ".+~:_^-". Whether the version is valid for one kind
// is checked when it is compared (Resolve).
func checkVersion(v string) error {
	if v == "" {
		return fmt.Errorf("empty version: %w", ErrSyntax)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; !isAlnum(c) && !strings.ContainsRune(".+~:_^-", rune(c)) {
			return fmt.Errorf("version %q: invalid character %q: %w", v, c, ErrSyntax)
		}
	}
	return nil
}

func isAlnum(c byte) bool { return isDigit(c) || isAlpha(c) }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
