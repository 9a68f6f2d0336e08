// Package decompress opens the compressed files that repository metadata
// comes in (gzip, xz, zstd, bzip2, or none) behind one bounded reader.
//
// Metadata is hostile input: a few kilobytes of xz can expand to gigabytes.
// Every reader returned here stops with ErrTooLarge once it has produced
// more than its limit, so a decompression bomb is an error, never an
// unbounded allocation or an endless parse.
package decompress

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Format is a compression format.
type Format int

// The formats yum and apt metadata use.
const (
	None Format = iota
	Gzip
	XZ
	Zstd
	Bzip2
)

// String names the format as its file extension does ("gz", "xz", ...).
func (f Format) String() string {
	switch f {
	case Gzip:
		return "gz"
	case XZ:
		return "xz"
	case Zstd:
		return "zst"
	case Bzip2:
		return "bz2"
	}
	return "none"
}

// Errors callers branch on.
var (
	// ErrTooLarge means the decompressed stream exceeded the caller's limit.
	ErrTooLarge = errors.New("decompressed data exceeds limit")
	// ErrUnsupported means the data is in a compression format this package cannot read (e.g. zchunk).
	ErrUnsupported = errors.New("unsupported compression format")
)

// DefaultLimit caps decompressed metadata at 4 GiB: the largest real primary
// (Fedora Everything) is under 1 GiB uncompressed, bookworm's Packages 50 MB.
const DefaultLimit = 4 << 30

// FormatOf returns the format a file name's extension announces.
// Names without a known extension are None; ".zck" is reported as
// unsupported by Open through magic detection.
func FormatOf(name string) Format {
	switch {
	case strings.HasSuffix(name, ".gz"):
		return Gzip
	case strings.HasSuffix(name, ".xz"):
		return XZ
	case strings.HasSuffix(name, ".zst"):
		return Zstd
	case strings.HasSuffix(name, ".bz2"):
		return Bzip2
	}
	return None
}

var magics = []struct {
	f     Format
	magic []byte
}{
	{Gzip, []byte{0x1f, 0x8b}},
	{XZ, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}},
	{Zstd, []byte{0x28, 0xb5, 0x2f, 0xfd}},
	{Bzip2, []byte("BZh")},
}

// zchunkMagic starts a zchunk file ("\0ZCK1"), which dnf can read but this package cannot.
var zchunkMagic = []byte{0, 'Z', 'C', 'K', '1'}

// Sniff returns the format its magic bytes announce, or None.
func Sniff(head []byte) Format {
	for _, m := range magics {
		if bytes.HasPrefix(head, m.magic) {
			return m.f
		}
	}
	return None
}

// Open returns a reader of r's decompressed bytes. The format comes from the
// data's magic bytes (a file named .gz that is really plain text is read as
// plain text; name is only used in error messages). The reader fails with
// ErrTooLarge after limit bytes (DefaultLimit when limit <= 0).
func Open(r io.Reader, name string, limit int64) (io.ReadCloser, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(6)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("decompress %s: %w", name, err)
	}
	if bytes.HasPrefix(head, zchunkMagic) {
		return nil, fmt.Errorf("decompress %s: zchunk: %w", name, ErrUnsupported)
	}
	var (
		dec   io.Reader
		close func() error
	)
	switch f := Sniff(head); f {
	case Gzip:
		z, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("decompress %s: gzip: %w", name, err)
		}
		dec, close = z, z.Close
	case XZ:
		g := &xzGuard{r: br, need: 12} // the stream header
		z, err := xz.ReaderConfig{SingleStream: false}.NewReader(g)
		if err != nil {
			return nil, fmt.Errorf("decompress %s: xz: %w", name, err)
		}
		dec = &xzChecked{r: z, g: g}
	case Zstd:
		// Bound the decoder's window so a crafted frame header cannot make it
		// allocate gigabytes up front. Not by limit (WithDecoderMaxMemory):
		// real encoders declare windows far larger than small contents (the
		// osbuild repodata in testdata), and limited bounds the output.
		z, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(128<<20))
		if err != nil {
			return nil, fmt.Errorf("decompress %s: zstd: %w", name, err)
		}
		dec, close = z, func() error { z.Close(); return nil }
	case Bzip2:
		dec = bzip2.NewReader(br)
	default:
		dec = br
	}
	return &limited{r: dec, left: limit, limit: limit, name: name, close: close}, nil
}

// limited fails with ErrTooLarge instead of returning io.EOF early, so a
// truncated parse can never be mistaken for a complete one.
type limited struct {
	r     io.Reader
	left  int64
	limit int64
	name  string
	close func() error
}

func (l *limited) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// Probe one byte: exactly limit bytes followed by EOF is fine.
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n > 0 {
			return 0, fmt.Errorf("decompress %s: more than %d bytes: %w", l.name, l.limit, ErrTooLarge)
		}
		if err == nil {
			return 0, nil
		}
		return 0, l.wrap(err)
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, l.wrap(err)
}

func (l *limited) wrap(err error) error {
	if err == nil || errors.Is(err, io.EOF) {
		return err
	}
	return fmt.Errorf("decompress %s: %w", l.name, err)
}

func (l *limited) Close() error {
	if l.close != nil {
		return l.close()
	}
	return nil
}

// xzChecked turns the io.EOF of the xz decoder into io.ErrUnexpectedEOF
// unless its input ended where an xz file may (see xzGuard).
type xzChecked struct {
	r io.Reader
	g *xzGuard
}

func (x *xzChecked) Read(p []byte) (int, error) {
	n, err := x.r.Read(p)
	if errors.Is(err, io.EOF) && !x.g.ended() {
		err = fmt.Errorf("xz: stream ends without its index and footer: %w", io.ErrUnexpectedEOF)
	}
	return n, err
}
