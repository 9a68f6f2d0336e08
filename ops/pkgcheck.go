package ops

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"pault.ag/go/debian/control"

	"lazymirror/internal/decompress"
)

// Errors a Skip's Err wraps, for callers that branch on why a file was skipped.
var (
	// ErrNotPackage: the file is not a package of the format its name says
	// (junk, another format, bytes after the package's end).
	ErrNotPackage = errors.New("not a package")
	// ErrTruncated: the file is shorter than its package headers say.
	ErrTruncated = errors.New("truncated package")
)

// format is a package file format Import reads.
type format int

// The formats, by file name extension.
const (
	unknown format = iota
	rpmFormat
	debFormat
)

// formatOf returns the format a file's name says it has. .drpm files (delta
// rpms) are not imported: they are another format, which check cannot read.
func formatOf(name string) format {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".rpm":
		return rpmFormat
	case ".deb", ".udeb":
		return debFormat
	}
	return unknown
}

// check reads the structure of a package file of size bytes and returns an
// error wrapping ErrNotPackage or ErrTruncated when it is not a whole package.
func check(f format, r io.ReaderAt, size int64) error {
	if f == rpmFormat {
		return checkRPM(r, size)
	}
	return checkDeb(r, size)
}

// rpm file layout (rpm's lib/rpmlib.h, lib/rpmtag.h, lib/header.c): a
// 96-byte lead, the signature header padded to 8 bytes, the header, the
// payload. A header is a 16-byte intro (magic, count, data size), count
// 16-byte index entries (tag, type, offset, count) and the data they index.
const (
	rpmMagic       = "\xed\xab\xee\xdb"
	rpmHeaderMagic = "\x8e\xad\xe8\x01"
	rpmLeadSize    = 96
	rpmMaxTags     = 0xffff     // rpm's HEADER_TAGS_MAX
	rpmMaxData     = 0x0fffffff // rpm's HEADER_DATA_MAX
	rpmSigSize     = 1000       // RPMSIGTAG_SIZE: header + payload bytes (int32)
	rpmSigLongSize = 270        // RPMSIGTAG_LONGSIZE: the same as int64, for packages over 4 GiB
	rpmInt16Type   = 3
	rpmInt32Type   = 4
	rpmInt64Type   = 5
)

// checkRPM reads the lead, the signature header and the header, checks that
// every index entry's values lie in its header's data, and compares the size
// the signature header declares for header + payload with the file's.
//
// It does not use github.com/cavaliergopher/rpm: FuzzCheck found that its
// v1.3.0 readHeader panics on a string entry that runs past the data
// (header.go:157), allocates an entry's values before checking that they
// fit (gigabytes from a few bytes), and reads fixed-size structures with a
// single Read. Only the structure is needed here, and it is small.
func checkRPM(r io.ReaderAt, size int64) error {
	lead := make([]byte, rpmLeadSize)
	n, _ := r.ReadAt(lead, 0)
	switch {
	case n == 0 || !bytes.HasPrefix(lead[:n], []byte(rpmMagic)) && !bytes.HasPrefix([]byte(rpmMagic), lead[:n]):
		return fmt.Errorf("%w: no rpm lead", ErrNotPackage)
	case n < rpmLeadSize:
		return fmt.Errorf("rpm lead ends early: %w", ErrTruncated)
	case lead[4] != 3 && lead[4] != 4:
		return fmt.Errorf("%w: rpm format %d", ErrNotPackage, lead[4])
	}
	sig, err := readRPMHeader(r, rpmLeadSize, size)
	if err != nil {
		return err
	}
	hdrOff := sig.end + (8-sig.data%8)%8
	if _, err := readRPMHeader(r, hdrOff, size); err != nil {
		return err
	}
	rest, ok := sig.int(r, rpmSigLongSize)
	if !ok {
		rest, ok = sig.int(r, rpmSigSize)
	}
	if !ok || rest <= 0 {
		return fmt.Errorf("%w: rpm signature header declares no size", ErrNotPackage)
	}
	return checkSize("rpm headers", hdrOff+rest, size)
}

// rpmHeader is where one header's parts are in the file.
type rpmHeader struct {
	store   int64  // offset of the data
	data    int64  // size of the data
	end     int64  // offset just past the header
	entries []byte // the index entries, 16 bytes each
}

// readRPMHeader reads the header at off and checks that it fits in the
// file and that every entry's values fit in its data.
func readRPMHeader(r io.ReaderAt, off, size int64) (*rpmHeader, error) {
	var intro [16]byte
	if _, err := r.ReadAt(intro[:], off); err != nil {
		return nil, fmt.Errorf("rpm header at %d ends early: %w", off, ErrTruncated)
	}
	if string(intro[:4]) != rpmHeaderMagic {
		return nil, fmt.Errorf("%w: bad rpm header magic at %d", ErrNotPackage, off)
	}
	count := int64(binary.BigEndian.Uint32(intro[8:12]))
	data := int64(binary.BigEndian.Uint32(intro[12:16]))
	if count > rpmMaxTags || data > rpmMaxData {
		return nil, fmt.Errorf("%w: rpm header at %d: %d entries, %d bytes: too large", ErrNotPackage, off, count, data)
	}
	h := &rpmHeader{store: off + 16 + 16*count, data: data}
	h.end = h.store + data
	if h.end > size {
		return nil, fmt.Errorf("%w: the rpm header at %d says %d bytes, the file has %d", ErrTruncated, off, h.end-off, size-off)
	}
	h.entries = make([]byte, 16*count)
	if _, err := r.ReadAt(h.entries, off+16); err != nil {
		return nil, fmt.Errorf("%w: rpm header at %d: %v", ErrNotPackage, off, err)
	}
	for e := h.entries; len(e) > 0; e = e[16:] {
		elem := int64(1) // strings and binary: at least a byte per value
		switch binary.BigEndian.Uint32(e[4:8]) {
		case rpmInt16Type:
			elem = 2
		case rpmInt32Type:
			elem = 4
		case rpmInt64Type:
			elem = 8
		}
		o, n := int64(binary.BigEndian.Uint32(e[8:12])), int64(binary.BigEndian.Uint32(e[12:16]))
		if o+n*elem > data {
			return nil, fmt.Errorf("%w: rpm header at %d: tag %d's values do not fit", ErrNotPackage, off, binary.BigEndian.Uint32(e[:4]))
		}
	}
	return h, nil
}

// int returns the first value of the int32 or int64 entry tag.
func (h *rpmHeader) int(r io.ReaderAt, tag uint32) (int64, bool) {
	for e := h.entries; len(e) > 0; e = e[16:] {
		if binary.BigEndian.Uint32(e[:4]) != tag {
			continue
		}
		var v [8]byte
		o := h.store + int64(binary.BigEndian.Uint32(e[8:12]))
		switch binary.BigEndian.Uint32(e[4:8]) {
		case rpmInt32Type:
			if _, err := r.ReadAt(v[:4], o); err == nil {
				return int64(binary.BigEndian.Uint32(v[:4])), true
			}
		case rpmInt64Type:
			if _, err := r.ReadAt(v[:], o); err == nil {
				return int64(binary.BigEndian.Uint64(v[:])), true
			}
		}
		return 0, false
	}
	return 0, false
}

// checkSize compares the size a package's structure implies with the file's.
func checkSize(what string, want, got int64) error {
	switch {
	case got < want:
		return fmt.Errorf("%w: the %s say %d bytes, the file has %d", ErrTruncated, what, want, got)
	case got > want:
		return fmt.Errorf("%w: %d bytes after its end (the %s say %d bytes)", ErrNotPackage, got-want, what, want)
	}
	return nil
}

// Debian binary package layout (deb(5)): an ar archive whose members are
// debian-binary ("2.0\n"), control.tar[.gz|.xz|.zst] and data.tar[.*].
const (
	arMagic     = "!<arch>\n"
	arHeaderLen = 60
	// controlLimit bounds the decompressed control member: real ones are
	// kilobytes, a crafted one must not make import allocate gigabytes.
	controlLimit = 64 << 20
)

// arMember is one member of an ar archive: its name and where its bytes are.
type arMember struct {
	name      string
	off, size int64
}

// readAr lists the members of the ar archive r of size bytes. A member
// header or member that runs past the end of the file is ErrTruncated.
//
// pault.ag/go/debian/deb would parse this too, but it takes a clean end of
// the file for the end of the archive (a .deb cut inside its data member
// loads without error), and its decompressors' modules (kjk/lzma, xi2/xz)
// are not in this module's dependencies.
func readAr(r io.ReaderAt, size int64) ([]arMember, error) {
	magic := make([]byte, len(arMagic))
	if _, err := r.ReadAt(magic, 0); err != nil || string(magic) != arMagic {
		return nil, fmt.Errorf("%w: no ar archive header", ErrNotPackage)
	}
	var members []arMember
	hdr := make([]byte, arHeaderLen)
	for off := int64(len(arMagic)); off < size; {
		if size-off == 1 && len(members) > 0 && members[len(members)-1].size%2 == 1 {
			break // the last member's padding
		}
		if size-off < arHeaderLen {
			return nil, fmt.Errorf("ar member header at %d ends early: %w", off, ErrTruncated)
		}
		if _, err := r.ReadAt(hdr, off); err != nil {
			return nil, fmt.Errorf("ar member header at %d: %w", off, err)
		}
		if string(hdr[58:60]) != "`\n" {
			return nil, fmt.Errorf("%w: bad ar member header at %d", ErrNotPackage, off)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(hdr[48:58])), 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%w: bad ar member size %q at %d", ErrNotPackage, hdr[48:58], off)
		}
		m := arMember{name: strings.TrimSuffix(strings.TrimSpace(string(hdr[:16])), "/"), off: off + arHeaderLen, size: n}
		if m.off+n > size {
			return nil, fmt.Errorf("%w: ar member %s says %d bytes, the file has %d after its header", ErrTruncated, m.name, n, size-m.off)
		}
		members = append(members, m)
		off = m.off + n + n%2
	}
	return members, nil
}

// checkDeb checks the ar archive's extent, its members' names and order,
// and that the control member holds a control file naming the package.
func checkDeb(r io.ReaderAt, size int64) error {
	ms, err := readAr(r, size)
	if err != nil {
		return err
	}
	if len(ms) < 3 || ms[0].name != "debian-binary" || !strings.HasPrefix(ms[1].name, "control.tar") || !strings.HasPrefix(ms[2].name, "data.tar") {
		return fmt.Errorf("%w: deb: the ar members are not debian-binary, control.tar*, data.tar*", ErrNotPackage)
	}
	version := make([]byte, min(ms[0].size, 16))
	if _, err := r.ReadAt(version, ms[0].off); err != nil || !strings.HasPrefix(string(version), "2.") {
		return fmt.Errorf("%w: deb: format %q is not 2.x", ErrNotPackage, version)
	}
	return checkControl(io.NewSectionReader(r, ms[1].off, ms[1].size), ms[1].name)
}

// debControl is what a binary package's control file must name.
type debControl struct {
	Package      string `required:"true"`
	Version      string `required:"true"`
	Architecture string `required:"true"`
}

// checkControl finds ./control in the control member and parses it.
func checkControl(member io.Reader, name string) error {
	dec, err := decompress.Open(member, name, controlLimit)
	if err != nil {
		return fmt.Errorf("%w: deb: %v", ErrNotPackage, err)
	}
	defer dec.Close()
	tr := tar.NewReader(dec)
	for {
		h, err := tr.Next()
		if err != nil {
			return fmt.Errorf("%w: deb: %s has no control file: %v", ErrNotPackage, name, err)
		}
		if path.Clean(h.Name) != "control" {
			continue
		}
		var c debControl
		if err := control.Unmarshal(&c, tr); err != nil {
			return fmt.Errorf("%w: deb: control file: %v", ErrNotPackage, err)
		}
		return nil
	}
}
