package debian

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"

	"lazymirror/checksum"
	"lazymirror/internal/ctxio"
	"lazymirror/internal/decompress"
)

// maxStanza caps one Packages stanza. Real ones are a few kilobytes; the
// largest in bookworm main is under 64 kB.
const maxStanza = 4 << 20

// maxPackages caps a decompressed Packages file whose size the caller does
// not know (bookworm main amd64 is 50 MB; the largest archives' are under
// 100 MB).
const maxPackages = 1 << 30

// Package is what a mirror needs from one Packages stanza.
type Package struct {
	Package, Version, Architecture string
	// Filename is the pool path, relative to the archive root
	// ("pool/main/c/ca-certificates/ca-certificates_20230311+deb12u1_all.deb"),
	// without the leading "./" of a flat repository's ("./hello_1.0_all.deb"
	// is "hello_1.0_all.deb").
	Filename string
	Size     int64
	// SHA256 is the stanza's SHA256, zero if it has none.
	SHA256 checksum.Digest
	// Sums holds every checksum the stanza gives (MD5sum, SHA1, SHA256,
	// SHA512), in the stanza's order.
	Sums []checksum.Sum
}

// Best returns the strongest checksum of the package.
func (p *Package) Best() checksum.Sum { return checksum.Best(p.Sums...) }

// Clone returns a copy of p that shares no memory with it.
func (p *Package) Clone() *Package {
	c := *p
	c.Sums = make([]checksum.Sum, len(p.Sums))
	for i, s := range p.Sums {
		c.Sums[i] = checksum.Sum{Algo: s.Algo, Value: slices.Clone(s.Value)}
	}
	return &c
}

// Bits for the fields ParsePackages reads, to catch duplicates and missing ones.
const (
	hasPackage = 1 << iota
	hasVersion
	hasArchitecture
	hasFilename
	hasSize
	hasMD5
	hasSHA1
	hasSHA256
	hasSHA512
	hasSum = hasMD5 | hasSHA1 | hasSHA256 | hasSHA512
)

// stanzaFields maps the lower-case names of the fields ParsePackages reads
// to their bits.
var stanzaFields = map[string]int{
	"package":      hasPackage,
	"version":      hasVersion,
	"architecture": hasArchitecture,
	"filename":     hasFilename,
	"size":         hasSize,
	"md5sum":       hasMD5,
	"sha1":         hasSHA1,
	"sha256":       hasSHA256,
	"sha512":       hasSHA512,
}

// sumSlots places each checksum field's bytes in stanza.buf.
var sumSlots = map[int]struct {
	algo checksum.Algo
	off  int
}{
	hasMD5:    {checksum.MD5, 0},
	hasSHA1:   {checksum.SHA1, 16},
	hasSHA256: {checksum.SHA256, 16 + 20},
	hasSHA512: {checksum.SHA512, 16 + 20 + 32},
}

// stanza accumulates one Packages stanza. Its Package and the checksum
// bytes it points into are reused from stanza to stanza.
type stanza struct {
	p        Package
	has      int  // hasX bits of the fields seen
	line     int  // line of the stanza's first field, 0 between stanzas
	lastRead bool // the last field is one read here (so it has no continuation)
	sums     [4]checksum.Sum
	buf      [16 + 20 + 32 + 64]byte // MD5, SHA1, SHA256, SHA512 values
	arch     string                  // last Architecture: stanzas share a few, so reuse the string
}

// ParsePackages reads a decompressed Packages file and calls fn for every
// stanza, returning how many it passed to fn.
//
// fn must not retain the *Package or its Sums beyond the call: both are
// reused for the next stanza (the strings may be kept; Clone copies the
// rest). An error from fn stops the parse and is returned as is.
//
// A stanza without Package, Filename, Size or any checksum, a read field
// given twice or continued on a second line, an invalid size or checksum,
// a line over 1 MiB or a stanza over 4 MiB is an error wrapping
// ErrMalformed that names the line (and the package when known); an unsafe
// Filename wraps ErrBadPath. Other fields are skipped unread.
func ParsePackages(r io.Reader, fn func(*Package) error) (int, error) {
	s := newScanner(r, maxStanza)
	var st stanza
	n := 0
	flush := func() error {
		if st.line == 0 {
			return nil
		}
		if err := st.complete(); err != nil {
			return err
		}
		n++
		err := fn(&st.p)
		st.reset()
		return err
	}
	for {
		kind, name, value, err := s.next()
		if err == io.EOF {
			return n, flush()
		}
		if err != nil {
			return n, st.wrap(err)
		}
		switch kind {
		case lineBlank:
			err = flush()
		case lineField:
			if st.line == 0 {
				st.line = s.line
			}
			if err = st.field(name, value); err != nil {
				err = st.wrap(fmt.Errorf("line %d: %s: %w", s.line, name, err))
			}
		case lineCont:
			if st.lastRead {
				err = st.wrap(fmt.Errorf("line %d: continuation of a one-line field: %w", s.line, ErrMalformed))
			}
		}
		if err != nil {
			return n, err
		}
	}
}

// field stores one field line of the stanza if it is one ParsePackages reads.
func (st *stanza) field(name, value []byte) error {
	var lb [32]byte
	bit := stanzaFields[string(lowerName(&lb, name))]
	st.lastRead = bit != 0
	if bit == 0 {
		return nil
	}
	if st.has&bit != 0 {
		return fmt.Errorf("field given twice: %w", ErrMalformed)
	}
	st.has |= bit
	switch bit {
	case hasPackage:
		if len(value) == 0 {
			return fmt.Errorf("empty: %w", ErrMalformed)
		}
		st.p.Package = string(value)
	case hasVersion:
		st.p.Version = string(value)
	case hasArchitecture:
		if string(value) != st.arch {
			st.arch = string(value)
		}
		st.p.Architecture = st.arch
	case hasFilename:
		// A flat repository's index (apt-ftparchive packages ., as
		// dpkg-scanpackages writes it too) names its files "./name.deb",
		// which apt asks for as <base>/./name.deb: <base>/name.deb.
		name := value
		for bytes.HasPrefix(name, []byte("./")) {
			name = name[2:]
		}
		st.p.Filename = string(name)
		return checkPath(st.p.Filename)
	case hasSize:
		var err error
		st.p.Size, err = parseSize(value)
		return err
	default:
		slot := sumSlots[bit]
		v := st.buf[slot.off : slot.off+slot.algo.Size() : slot.off+slot.algo.Size()]
		if len(value) != 2*len(v) {
			return fmt.Errorf("%d hex digits, want %d: %w", len(value), 2*len(v), ErrMalformed)
		}
		if _, err := hex.Decode(v, value); err != nil {
			return fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		st.p.Sums = append(st.sums[:len(st.p.Sums)], checksum.Sum{Algo: slot.algo, Value: v})
		if bit == hasSHA256 {
			st.p.SHA256 = checksum.Digest(v)
		}
	}
	return nil
}

// complete checks that the stanza has what a mirror needs.
func (st *stanza) complete() error {
	var missing string
	switch {
	case st.has&hasPackage == 0:
		missing = "Package"
	case st.has&hasFilename == 0:
		missing = "Filename"
	case st.has&hasSize == 0:
		missing = "Size"
	case st.has&hasSum == 0:
		missing = "a checksum (MD5sum, SHA1, SHA256 or SHA512)"
	default:
		return nil
	}
	return st.wrap(fmt.Errorf("stanza at line %d has no %s: %w", st.line, missing, ErrMalformed))
}

// wrap names the stanza's package in err, when it is known.
func (st *stanza) wrap(err error) error {
	if st.p.Package == "" {
		return fmt.Errorf("packages: %w", err)
	}
	return fmt.Errorf("packages: package %s: %w", st.p.Package, err)
}

func (st *stanza) reset() {
	st.p = Package{Sums: st.sums[:0]}
	st.has, st.line = 0, 0
	st.lastRead = false
}

// parseSize parses a Size field: decimal digits only, at most 18 of them
// (no overflow, and no archive has an exabyte package).
func parseSize(v []byte) (int64, error) {
	if len(v) == 0 || len(v) > 18 {
		return 0, fmt.Errorf("size %q: %w", v, ErrMalformed)
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("size %q: %w", v, ErrMalformed)
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}

// ParsePackagesFile parses a Packages file in any compression
// internal/decompress reads (recognised by its magic bytes; name is for
// messages), decompressing in another goroutine so that it overlaps the
// parse (decompress.ReadAhead). Unless want is the zero File, the
// uncompressed bytes must have want's size and strongest checksum (pass the
// Release entry of the uncompressed "…/Packages", which apt lists even when
// only compressed files are served): more bytes than want.Size stop the
// read early, and a mismatch is an error wrapping ErrChecksumMismatch. The
// check completes only at the end: fn sees entries before it, so treat them
// as provisional until ParsePackagesFile returns nil. fn follows the rules
// of ParsePackages. Cancelling ctx stops the read.
func ParsePackagesFile(ctx context.Context, r io.Reader, name string, want File, fn func(*Package) error) (int, error) {
	// An entry of size 0 is real (bookworm lists empty indexes) and vouches
	// for zero bytes: only the zero File means "no entry, no check".
	known := want.Path != "" || want.Size != 0 || len(want.Sums) > 0
	limit := int64(maxPackages)
	if known {
		limit = max(want.Size, 1) // decompress.Open reads limit 0 as its default
	}
	dr, err := decompress.Open(ctxio.Reader(ctx, r), name, limit)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", name, err)
	}
	defer dr.Close()
	ra := decompress.ReadAhead(dr, readAheadChunk, readAheadDepth)
	defer ra.Close()

	var src io.Reader = ra
	var v *checksum.Verifier
	if known {
		v = want.verifier()
		src = io.TeeReader(ra, v)
	}
	n, err := ParsePackages(src, fn)
	switch {
	case errors.Is(err, decompress.ErrTooLarge) && v != nil:
		return n, fmt.Errorf("%s: larger than the %d bytes the release lists: %w: %w", name, want.Size, ErrChecksumMismatch, err)
	case err != nil:
		return n, fmt.Errorf("%s: %w", name, err)
	case v != nil:
		if err := want.check(v); err != nil {
			return n, fmt.Errorf("%s: %w", name, err)
		}
	}
	return n, nil
}

// Read-ahead geometry for ParsePackagesFile: a few chunks in flight keep
// both cores busy without holding much memory.
const (
	readAheadChunk = 256 << 10
	readAheadDepth = 4
)
