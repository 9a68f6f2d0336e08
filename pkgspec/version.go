package pkgspec

import (
	"cmp"
	"errors"
	"fmt"
	"strings"

	"pault.ag/go/debian/version"
)

// Kind is the packaging world of a repository; it decides how versions are
// ordered.
type Kind int

// The kinds of repository.
const (
	Deb Kind = iota + 1 // Debian/apt: dpkg version ordering
	RPM                 // yum/dnf: rpm version ordering
)

// ErrVersion means a version string is not valid for its Kind.
var ErrVersion = errors.New("invalid version")

// String returns "deb" or "rpm".
func (k Kind) String() string {
	switch k {
	case Deb:
		return "deb"
	case RPM:
		return "rpm"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Compare orders two versions of kind k: -1 if a is older than b, 0 if they
// are equal, 1 if a is newer.
//
// Deb versions ("[epoch:]upstream[-revision]") are parsed and compared as dpkg
// does (pault.ag/go/debian/version); a version dpkg rejects (for example one
// not starting with a digit) is an error wrapping ErrVersion.
//
// RPM versions are "[epoch:]version[-release]": a missing epoch is 0, epochs,
// versions and releases are compared with rpmvercmp (rpm's lib/rpmvercmp.c,
// including '~' and '^'), and, as in rpm's dependency comparison, a release
// is compared only when both sides have one, so "5.2.15" equals every
// "5.2.15-R". An empty version is an error wrapping ErrVersion. Compare
// fails for any other Kind.
func (k Kind) Compare(a, b string) (int, error) {
	va, err := k.parse(a)
	if err != nil {
		return 0, err
	}
	vb, err := k.parse(b)
	if err != nil {
		return 0, err
	}
	return k.order(va, vb), nil
}

// ver is a version parsed for one Kind.
type ver struct {
	deb                   version.Version
	epoch, version, relse string // rpm
}

// parse parses s as a version of kind k, for order.
func (k Kind) parse(s string) (ver, error) {
	switch k {
	case Deb:
		v, err := version.Parse(s)
		if err != nil {
			return ver{}, fmt.Errorf("deb version %q: %v: %w", s, err, ErrVersion)
		}
		return ver{deb: v}, nil
	case RPM:
		var v ver
		rest := s
		if e, r, ok := strings.Cut(s, ":"); ok {
			v.epoch, rest = e, r
		}
		if v.epoch == "" {
			v.epoch = "0"
		}
		v.version = rest
		if i := strings.LastIndexByte(rest, '-'); i >= 0 {
			v.version, v.relse = rest[:i], rest[i+1:]
		}
		if v.version == "" {
			return ver{}, fmt.Errorf("rpm version %q: empty version: %w", s, ErrVersion)
		}
		return v, nil
	}
	return ver{}, fmt.Errorf("version %q: unknown kind %v: %w", s, k, ErrVersion)
}

// order is Compare on parsed versions.
func (k Kind) order(a, b ver) int {
	if k == Deb {
		return cmp.Compare(version.Compare(a.deb, b.deb), 0) // its magnitude is arbitrary
	}
	if c := rpmvercmp(a.epoch, b.epoch); c != 0 {
		return c
	}
	if c := rpmvercmp(a.version, b.version); c != 0 {
		return c
	}
	if a.relse == "" || b.relse == "" {
		return 0
	}
	return rpmvercmp(a.relse, b.relse)
}

// rpmvercmp is rpm's version segment comparison (lib/rpmvercmp.c): the
// strings are split into runs of ASCII digits and ASCII letters, everything
// else separating them; digit runs compare numerically and beat letter runs;
// '~' sorts before anything, even the end of the string ("1.0~rc1" <
// "1.0"); '^' sorts after the end of the string but before any other
// segment ("1.0" < "1.0^git1" < "1.0.1").
//
// github.com/cavaliergopher/rpm's CompareVersions implements the same
// algorithm without '^', which CentOS Stream 9 versions use
// ("0^20231204.gb86afe3"); the tests check that both agree on strings
// without '^'.
func rpmvercmp(a, b string) int {
	if a == b {
		return 0
	}
	for a != "" || b != "" {
		a = strings.TrimLeftFunc(a, isVerSep)
		b = strings.TrimLeftFunc(b, isVerSep)

		if strings.HasPrefix(a, "~") || strings.HasPrefix(b, "~") {
			if !strings.HasPrefix(a, "~") {
				return 1
			}
			if !strings.HasPrefix(b, "~") {
				return -1
			}
			a, b = a[1:], b[1:]
			continue
		}
		if strings.HasPrefix(a, "^") || strings.HasPrefix(b, "^") {
			switch {
			case a == "":
				return -1
			case b == "":
				return 1
			case a[0] != '^':
				return 1
			case b[0] != '^':
				return -1
			}
			a, b = a[1:], b[1:]
			continue
		}
		if a == "" || b == "" {
			break
		}

		class := isAlpha
		if isDigit(a[0]) {
			class = isDigit
		}
		var sa, sb string
		sa, a = span(a, class)
		sb, b = span(b, class)
		if sb == "" { // different classes: a digit run beats a letter run
			if isDigit(sa[0]) {
				return 1
			}
			return -1
		}
		if isDigit(sa[0]) {
			sa, sb = strings.TrimLeft(sa, "0"), strings.TrimLeft(sb, "0")
			if len(sa) != len(sb) {
				if len(sa) > len(sb) {
					return 1
				}
				return -1
			}
		}
		if c := strings.Compare(sa, sb); c != 0 {
			return c
		}
	}
	switch {
	case a == "" && b == "":
		return 0
	case a == "":
		return -1
	}
	return 1
}

// isVerSep reports whether rpmvercmp skips r between segments.
func isVerSep(r rune) bool {
	return r >= 0x80 || !isAlnum(byte(r)) && r != '~' && r != '^'
}

// span splits s after its leading run of bytes in class.
func span(s string, class func(byte) bool) (run, rest string) {
	i := 0
	for i < len(s) && class(s[i]) {
		i++
	}
	return s[:i], s[i:]
}
