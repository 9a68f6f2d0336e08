package repomd

import (
	"context"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"lazymirror/checksum"
)

// Package is one <package> of primary.xml: what a mirror needs to map a
// path to a checksum.
type Package struct {
	Name, Arch, Epoch, Version, Release string
	Checksum                            checksum.Sum // the pkgid checksum; type "sha" is SHA-1
	Size                                int64        // <size package="...">, in bytes
	Location                            string       // location href, relative to the repository root, checked by CheckPath
	LocationBase                        string       // xml:base, if any; data only, never a host to fetch from
}

// rawPackage holds a package's values as the document spells them, before
// they are checked; both parsers fill one, and pkg turns it into a Package,
// so they cannot disagree on what is valid.
type rawPackage struct {
	name, arch, epoch, ver, rel, sumType, sum, size, href, base string
}

// pkg checks the values and builds the Package. Errors wrap ErrMalformed,
// and ErrBadPath for a bad href.
func (r *rawPackage) pkg() (Package, error) {
	p := Package{
		Name: strings.TrimSpace(r.name), Arch: strings.TrimSpace(r.arch),
		Epoch: r.epoch, Version: r.ver, Release: r.rel,
		Location: r.href, LocationBase: r.base,
	}
	switch {
	case p.Name == "":
		return p, malformed("no name")
	case p.Arch == "":
		return p, malformed("package %s: no arch", p.Name)
	case p.Version == "":
		return p, malformed("package %s: no version", p.Name)
	case r.href == "":
		return p, malformed("package %s: no location", p.Name)
	case strings.TrimSpace(r.sum) == "":
		return p, malformed("package %s: no checksum", p.Name)
	}
	for _, v := range []string{p.Name, p.Arch, p.Epoch, p.Version, p.Release, p.LocationBase} {
		if !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return p, malformed("package %.64q: control character or invalid UTF-8 in %.64q", p.Name, v)
		}
	}
	if err := CheckPath(r.href); err != nil {
		return p, fmt.Errorf("package %s: %w", p.Name, err)
	}
	var err error
	if p.Checksum, err = checksum.Parse(r.sumType, strings.TrimSpace(r.sum)); err != nil {
		return p, fmt.Errorf("package %s: %w: %w", p.Name, ErrMalformed, err)
	}
	if p.Size, err = parseCount("size package", r.size); err != nil {
		return p, fmt.Errorf("package %s: %w", p.Name, err)
	}
	return p, nil
}

// countCheck compares the packages parsed with the root's packages="N".
func countCheck(n int, want string) error {
	w, err := parseCount("metadata packages", strings.TrimSpace(want))
	if err != nil {
		return err
	}
	if int64(n) != w {
		return malformed("metadata says packages=%d, parsed %d", w, n)
	}
	return nil
}

// ParsePrimary streams a primary.xml (already decompressed) and calls fn
// for each package, in document order, and returns the number of packages
// passed to fn.
//
// fn must not keep p: the Package it points to is reused for the next
// package. It may keep a copy (*p), whose strings and checksum are not
// reused. An error from fn stops the parse and is returned as is.
//
// Packages are the <package> children of the <metadata> root; anything
// else is skipped. The parse stops at the end of the root element, and fails
// with an error wrapping ErrMalformed if the root is not closed, if the
// number of packages differs from the root's packages="N", on XML syntax
// errors in what it reads, and on a package without a valid name, arch,
// version, checksum, size or location (ErrBadPath too for a bad location).
// Values, tags and nesting are capped (ErrLimit). A package may reach fn
// before a later error is found: callers commit what fn saw only when
// ParsePrimary returns nil.
func ParsePrimary(r io.Reader, fn func(p *Package) error) (int, error) {
	s := newScanner(r)
	var f fields
	if _, err := s.next(nil); err != nil {
		if err == io.EOF {
			err = malformed("no root element")
		}
		return 0, fmt.Errorf("primary: %w", err)
	}
	if string(localName(s.name())) != "metadata" {
		return 0, fmt.Errorf("primary: root element is <%.40s>, not <metadata>: %w", s.name(), ErrMalformed)
	}
	var count span
	err := s.attrs(func(name, raw []byte) error {
		if string(localName(name)) == "packages" {
			return f.set(&count, raw)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("primary: %w", err)
	}
	want := string(f.vals[count.start:count.end])
	var (
		n    int
		p    Package
		open = !s.selfClose
	)
	for open {
		tok, err := s.next(nil)
		if err != nil {
			return n, fmt.Errorf("primary: after %d packages: %w", n, err)
		}
		if tok == tokEnd {
			break // the root's end: its children were consumed whole
		}
		if string(localName(s.name())) != "package" {
			if err := s.skip(); err != nil {
				return n, fmt.Errorf("primary: after %d packages: %w", n, err)
			}
			continue
		}
		raw, err := f.parsePackage(s)
		if err == nil {
			p, err = raw.pkg()
		}
		if err != nil {
			return n, fmt.Errorf("primary: package %d: %w", n+1, err)
		}
		if err := fn(&p); err != nil {
			return n, err
		}
		n++
	}
	if err := countCheck(n, want); err != nil {
		return n, fmt.Errorf("primary: %w", err)
	}
	return n, nil
}

// span is a value's place in fields.vals.
type span struct{ start, end int }

// fields collects one package's values, decoded, in one buffer, so that a
// package costs one string allocation however many values it has.
type fields struct {
	vals []byte // the decoded values, back to back

	name, arch, epoch, ver, rel, sumType, sum, size, href, base span
}

// set decodes an attribute value into vals.
func (f *fields) set(dst *span, raw []byte) error {
	start := len(f.vals)
	if err := appendText(&f.vals, raw, false); err != nil {
		return err
	}
	*dst = span{start, len(f.vals)}
	return nil
}

// text collects the character data directly inside the element whose
// start tag was just read, as encoding/xml does for a string field: the
// text of nested elements is not part of it.
func (f *fields) text(s *scanner, dst *span) error {
	start := len(f.vals)
	if !s.selfClose {
		for {
			tok, err := s.next(&f.vals)
			if err != nil {
				return err
			}
			if tok == tokEnd {
				break
			}
			if err := s.skip(); err != nil {
				return err
			}
		}
	}
	*dst = span{start, len(f.vals)}
	return nil
}

// skip consumes the rest of the element whose start tag was just read.
func (s *scanner) skip() error {
	if s.selfClose {
		return nil
	}
	d := s.depth()
	for s.depth() >= d {
		if _, err := s.next(nil); err != nil {
			return err
		}
	}
	return nil
}

// parsePackage reads a <package> element after its start tag. Like
// encoding/xml decoding into a struct, a repeated element's text replaces
// the earlier one and a repeated element's attributes replace only those
// it has.
func (f *fields) parsePackage(s *scanner) (rawPackage, error) {
	*f = fields{vals: f.vals[:0]}
	for open := !s.selfClose; open; {
		tok, err := s.next(nil)
		if err != nil {
			return rawPackage{}, err
		}
		if tok == tokEnd {
			break
		}
		switch string(localName(s.name())) {
		case "name":
			err = f.text(s, &f.name)
		case "arch":
			err = f.text(s, &f.arch)
		case "checksum":
			if err = f.attrs(s, want{"type", &f.sumType}); err == nil {
				err = f.text(s, &f.sum)
			}
		case "version":
			if err = f.attrs(s, want{"epoch", &f.epoch}, want{"ver", &f.ver}, want{"rel", &f.rel}); err == nil {
				err = s.skip()
			}
		case "size":
			if err = f.attrs(s, want{"package", &f.size}); err == nil {
				err = s.skip()
			}
		case "location":
			if err = f.attrs(s, want{"href", &f.href}, want{"xml:base", &f.base}); err == nil {
				err = s.skip()
			}
		default:
			err = s.skip()
		}
		if err != nil {
			return rawPackage{}, err
		}
	}
	all := string(f.vals)
	v := func(sp span) string { return all[sp.start:sp.end] }
	return rawPackage{
		name: v(f.name), arch: v(f.arch), epoch: v(f.epoch), ver: v(f.ver), rel: v(f.rel),
		sumType: v(f.sumType), sum: v(f.sum), size: v(f.size), href: v(f.href), base: v(f.base),
	}, nil
}

// want names an attribute to keep and where.
type want struct {
	name string
	dst  *span
}

// attrs stores the wanted attributes of the last start tag. "xml:base" is
// matched whole (encoding/xml maps the xml prefix to its namespace); other
// names by local name, as encoding/xml matches an attribute field without
// a namespace. A repeated attribute replaces the earlier one.
func (f *fields) attrs(s *scanner, wants ...want) error {
	return s.attrs(func(name, raw []byte) error {
		local := localName(name)
		for _, w := range wants {
			if w.name == "xml:base" && string(name) == w.name || w.name != "xml:base" && string(local) == w.name {
				if err := f.set(w.dst, raw); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// ParsePrimaryFile parses a primary.xml as stored: gzip, xz, zstd, bzip2 or
// plain, recognised by its magic bytes (name is for error messages).
// Decompression and checking run in a goroutine ahead of the parse
// (decompress.ReadAhead), so they overlap. When openSize >= 0 the
// decompressed stream must have exactly that size (ErrSize; reading stops
// one byte past it, which bounds decompression bombs), and when open is not
// the zero Sum it must have that checksum (ErrChecksum); both come from the
// repomd.xml record (OpenSize, OpenChecksum). Everything after the root
// element is read and checked too. Parse errors and fn are as for
// ParsePrimary; fn sees packages before the checksum is known, so callers
// commit what fn saw only when ParsePrimaryFile returns nil. A done ctx
// stops the parse at the next read.
func ParsePrimaryFile(ctx context.Context, r io.Reader, name string, open checksum.Sum, openSize int64, fn func(p *Package) error) (int, error) {
	var n int
	err := readOpen(ctx, r, name, open, openSize, func(r io.Reader) (err error) {
		n, err = ParsePrimary(r, fn)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("primary %s: %w", name, err)
	}
	return n, nil
}
