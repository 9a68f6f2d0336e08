package debian

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/clearsign"

	"lazymirror/checksum"
)

// maxRelease caps a Release or InRelease file. Real ones are well under
// 1 MiB (bookworm's InRelease is 151 kB).
const maxRelease = 32 << 20

// Release is the parsed Release (or InRelease) file of one suite.
type Release struct {
	Origin, Label, Suite, Codename, Version string
	// Date and ValidUntil are zero when the field is absent.
	Date, ValidUntil time.Time
	// AcquireByHash is set by "Acquire-By-Hash: yes": index files may be
	// fetched by their checksum under by-hash/ (see ByHashPath).
	AcquireByHash bool
	// Architectures and Components are the space-separated field values.
	Architectures, Components []string
	// NoSupportForArchitectureAll is set by "No-Support-for-Architecture-all:
	// Packages": architecture "all" packages appear in each binary-<arch>
	// index rather than only in binary-all.
	NoSupportForArchitectureAll bool
	// Files is the union of the MD5Sum, SHA1, SHA256 and SHA512 sections,
	// merged by path, in first-seen order.
	Files []File
}

// File is one index file a Release lists.
type File struct {
	// Path is relative to dists/<suite>/, e.g. "main/binary-amd64/Packages.xz".
	Path string
	Size int64
	// Sums holds every algorithm the Release gives for the path.
	Sums []checksum.Sum
}

// Best returns the strongest checksum of the file (the zero Sum if none).
func (f File) Best() checksum.Sum { return checksum.Best(f.Sums...) }

// SHA256 returns the file's SHA-256, if the Release lists one.
func (f File) SHA256() (checksum.Digest, bool) {
	for _, s := range f.Sums {
		if d, ok := s.Digest(); ok {
			return d, true
		}
	}
	return checksum.Digest{}, false
}

// Verify reads r to the end and checks that it has f's size and strongest
// checksum, returning an error wrapping ErrChecksumMismatch if not.
func (f File) Verify(r io.Reader) error {
	v := f.verifier()
	if _, err := io.Copy(v, r); err != nil {
		return fmt.Errorf("verify %s: %w", f.Path, err)
	}
	return f.check(v)
}

// verifier returns a checksum.Verifier for content that must have f's size
// and strongest checksum.
func (f File) verifier() *checksum.Verifier { return checksum.NewVerifier(f.Best(), f.Size) }

// check returns v's mismatch, if any, wrapped in ErrChecksumMismatch.
func (f File) check(v *checksum.Verifier) error {
	if err := v.Check(); err != nil {
		return fmt.Errorf("%s: %w: %w", f.Path, ErrChecksumMismatch, err)
	}
	return nil
}

// Lookup returns the entry for path (relative to dists/<suite>/).
func (r *Release) Lookup(path string) (File, bool) {
	i := slices.IndexFunc(r.Files, func(f File) bool { return f.Path == path })
	if i < 0 {
		return File{}, false
	}
	return r.Files[i], true
}

// Expired reports whether the Release has a Valid-Until before now.
func (r *Release) Expired(now time.Time) bool {
	return !r.ValidUntil.IsZero() && r.ValidUntil.Before(now)
}

var signedHeader = []byte("-----BEGIN PGP SIGNED MESSAGE-----")

// ParseRelease parses a plain Release or a clearsigned InRelease. For an
// InRelease it strips the armor framing and un-dash-escapes lines; it does
// NOT verify the signature (see VerifyInRelease). Errors wrap ErrMalformed,
// or ErrBadPath for an unsafe path in a checksum section. A path listed with
// two different sizes, or twice with different sums of one algorithm, is
// ErrMalformed.
func ParseRelease(r io.Reader) (*Release, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxRelease+1))
	if err != nil {
		return nil, fmt.Errorf("read release: %w", err)
	}
	if len(data) > maxRelease {
		return nil, fmt.Errorf("release is larger than %d bytes: %w", maxRelease, ErrMalformed)
	}
	if bytes.HasPrefix(data, signedHeader) {
		if data, err = clearsigned(data); err != nil {
			return nil, err
		}
	}
	rel, err := parseRelease(data)
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	return rel, nil
}

// clearsigned returns the message text of a clearsigned document. Anything
// but white space after the signature is an error: apt refuses it too, and
// it is a way to smuggle unsigned text past a careless reader.
func clearsigned(data []byte) ([]byte, error) {
	b, rest := clearsign.Decode(data)
	if b == nil {
		return nil, fmt.Errorf("inrelease: broken clearsigned framing: %w", ErrMalformed)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("inrelease: data after the signature: %w", ErrMalformed)
	}
	return b.Plaintext, nil
}

// releaseField is what parseRelease does with a field's value.
type releaseField uint8

const (
	fieldIgnored releaseField = iota // unknown field: skip it and its continuation lines
	fieldSingle                      // known one-line field: continuation lines are an error
	fieldSums                        // checksum section: each continuation line is "<hex> <size> <path>"
)

func parseRelease(data []byte) (*Release, error) {
	rel := &Release{}
	s := newScanner(bytes.NewReader(data), maxRelease)
	seen := map[string]bool{}
	byPath := map[string]int{}
	var (
		cur   releaseField
		algo  checksum.Algo
		buf   [32]byte
		ended bool // a blank line followed the paragraph: only blank lines may come
	)
	for {
		kind, name, value, err := s.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch {
		case kind == lineBlank:
			ended = len(seen) > 0
			continue
		case ended:
			return nil, fmt.Errorf("line %d: more than one paragraph: %w", s.line, ErrMalformed)
		case kind == lineCont:
			switch cur {
			case fieldSingle:
				return nil, fmt.Errorf("line %d: unexpected continuation line: %w", s.line, ErrMalformed)
			case fieldSums:
				if err := rel.addFile(byPath, algo, value); err != nil {
					return nil, fmt.Errorf("line %d: %w", s.line, err)
				}
			}
			continue
		}
		lower := string(lowerName(&buf, name))
		if lower == "" {
			lower = string(bytes.ToLower(name))
		}
		if seen[lower] {
			return nil, fmt.Errorf("line %d: duplicate field %s: %w", s.line, name, ErrMalformed)
		}
		seen[lower] = true
		cur, err = rel.setField(lower, string(value))
		if err != nil {
			return nil, fmt.Errorf("line %d: %s: %w", s.line, name, err)
		}
		if cur == fieldSums {
			algo = sumAlgo(lower)
		}
	}
	if len(seen) == 0 {
		return nil, fmt.Errorf("no fields: %w", ErrMalformed)
	}
	return rel, nil
}

// sumAlgo returns the algorithm of a lower-case checksum field name, or
// Unknown for any other name.
func sumAlgo(lower string) checksum.Algo {
	for _, f := range sumFields {
		if f.lower == lower {
			return f.algo
		}
	}
	return checksum.Unknown
}

// setField stores one Release field (name in lower case) and says how its
// continuation lines are handled.
func (rel *Release) setField(lower, value string) (releaseField, error) {
	var err error
	switch lower {
	case "origin":
		rel.Origin = value
	case "label":
		rel.Label = value
	case "suite":
		rel.Suite = value
	case "codename":
		rel.Codename = value
	case "version":
		rel.Version = value
	case "date":
		rel.Date, err = parseDate(value)
	case "valid-until":
		rel.ValidUntil, err = parseDate(value)
	case "acquire-by-hash":
		rel.AcquireByHash, err = parseBool(value)
	case "architectures":
		rel.Architectures = strings.Fields(value)
	case "components":
		rel.Components = strings.Fields(value)
	case "no-support-for-architecture-all":
		rel.NoSupportForArchitectureAll = value == "Packages"
	default:
		if sumAlgo(lower) == checksum.Unknown {
			return fieldIgnored, nil
		}
		if value != "" {
			return 0, fmt.Errorf("checksum section with a value on its first line: %w", ErrMalformed)
		}
		return fieldSums, nil
	}
	return fieldSingle, err
}

// addFile adds one checksum-section line, "<hex> <size> <path>", merging it
// with an earlier entry for the same path.
func (rel *Release) addFile(byPath map[string]int, algo checksum.Algo, line []byte) error {
	f := strings.Fields(string(line))
	if len(f) != 3 {
		return fmt.Errorf("checksum line %q is not \"<hex> <size> <path>\": %w", line, ErrMalformed)
	}
	sum, err := checksum.FromHex(algo, f[0])
	if err != nil {
		return fmt.Errorf("%s: %w: %w", f[2], ErrMalformed, err)
	}
	size, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || size < 0 {
		return fmt.Errorf("%s: size %q: %w", f[2], f[1], ErrMalformed)
	}
	path := f[2]
	if err := checkPath(path); err != nil {
		return err
	}
	i, ok := byPath[path]
	if !ok {
		byPath[path] = len(rel.Files)
		rel.Files = append(rel.Files, File{Path: path, Size: size, Sums: []checksum.Sum{sum}})
		return nil
	}
	file := &rel.Files[i]
	if file.Size != size {
		return fmt.Errorf("%s: listed with sizes %d and %d: %w", path, file.Size, size, ErrMalformed)
	}
	for _, s := range file.Sums {
		if s.Algo == algo {
			if !s.Equal(sum) {
				return fmt.Errorf("%s: listed with %s and %s: %w", path, s, sum, ErrMalformed)
			}
			return nil
		}
	}
	file.Sums = append(file.Sums, sum)
	return nil
}

// dateLayouts are the forms of Date and Valid-Until seen in archives: RFC
// 1123 with a zone name ("Sat, 11 Jul 2026 10:16:37 UTC", Debian) or an
// offset ("+0000", some third-party repositories), day with or without a
// leading zero.
var dateLayouts = []string{
	"Mon, _2 Jan 2006 15:04:05 MST",
	"Mon, _2 Jan 2006 15:04:05 -0700",
}

func parseDate(v string) (time.Time, error) {
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("date %q: %w", v, ErrMalformed)
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "yes", "true":
		return true, nil
	case "no", "false":
		return false, nil
	}
	return false, fmt.Errorf("boolean %q: %w", v, ErrMalformed)
}
