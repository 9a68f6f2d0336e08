package decompress

import (
	"errors"
	"fmt"
	"io"
)

// maxXZDict caps the LZMA2 dictionary an .xz block may declare. The
// decoder (github.com/ulikunitz/xz) allocates the declared size up front,
// whatever the content: a 64-byte file declaring 4 GiB costs 4 GiB. xz -9
// uses 64 MiB; the bound matches the zstd window bound in Open.
const maxXZDict = 128 << 20

// WORKAROUND: github.com/ulikunitz/xz (v0.5.17) has two flaws with hostile
// input, which xzGuard and xzChecked close:
//   - it allocates the dictionary a block header declares (up to 4 GiB)
//     with no bound, and ReaderConfig.DictCap is a minimum, not a cap;
//   - it reads the end of its input where a block header or the index
//     should start, or inside a block header, as the clean end of the
//     stream: an .xz of several blocks (what multi-threaded xz writes) cut
//     between two blocks decodes, without an error, to a prefix of its
//     content.
//
// xzGuard passes the compressed bytes through while walking the xz
// framing (stream header, block headers, LZMA2 chunk headers, index,
// footer, stream padding) without decoding anything: it fails a read that
// brings a block header with a dictionary over maxXZDict, and records
// whether the input so far ends where a stream may end.
type xzGuard struct {
	r   io.Reader
	err error // framing error, sticky

	state   xzState
	need    int        // bytes still to collect into buf, or to skip
	buf     [1024]byte // a header being collected
	n       int        // bytes in buf
	check   int        // size of the check field of the current stream
	off     int64      // bytes walked
	start   int64      // offset of the current block or index
	records uint64     // varints of the index still to read
	padding int64      // zero bytes after the last stream
}

type xzState uint8

const (
	xzStreamHeader xzState = iota // collecting the 12-byte stream header
	xzBlockOrIndex                // first byte of a block header, or 0 for the index
	xzBlockHeader                 // collecting a block header
	xzChunk                       // an LZMA2 control byte
	xzChunkHeader                 // collecting the rest of an LZMA2 chunk header
	xzSkip                        // skipping need bytes, then back to xzChunk
	xzBlockPad                    // block padding, then the check field
	xzIndexCount                  // the index's number-of-records varint
	xzIndexRecords                // the index's record varints
	xzIndexPad                    // index padding, then its CRC32 and the stream footer
	xzAfterStream                 // stream padding, or the next stream's header
)

var errXZFraming = errors.New("xz: bad framing")

func (g *xzGuard) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	n, err := g.r.Read(p)
	if ferr := g.walk(p[:n]); ferr != nil {
		g.err = ferr
		return 0, ferr
	}
	return n, err
}

// ended reports whether the input walked so far ends where an xz file may.
func (g *xzGuard) ended() bool {
	return g.err == nil && g.state == xzAfterStream && g.padding%4 == 0
}

func (g *xzGuard) walk(b []byte) error {
	for len(b) > 0 {
		switch g.state {
		case xzSkip, xzBlockPad, xzIndexPad:
			// Bytes whose content the decoder checks: chunk data; block
			// padding and check; index padding, CRC32 and stream footer.
			k := min(g.need, len(b))
			g.need -= k
			g.off += int64(k)
			b = b[k:]
			if g.need == 0 {
				switch g.state {
				case xzSkip:
					g.state = xzChunk
				case xzBlockPad:
					g.state = xzBlockOrIndex
				default:
					g.state, g.padding = xzAfterStream, 0
				}
			}
			continue
		case xzAfterStream:
			if b[0] == 0 {
				g.padding++
				g.off++
				b = b[1:]
				continue
			}
			if g.padding%4 != 0 {
				return fmt.Errorf("%w: stream padding of %d bytes", errXZFraming, g.padding)
			}
			g.state, g.n, g.need = xzStreamHeader, 0, 12
			continue
		}
		c := b[0]
		b = b[1:]
		g.off++
		switch g.state {
		case xzStreamHeader, xzBlockHeader, xzChunkHeader:
			g.buf[g.n] = c
			g.n++
			if g.n < g.need {
				continue
			}
			if err := g.header(); err != nil {
				return err
			}
		case xzBlockOrIndex:
			g.start = g.off - 1
			if c == 0 {
				g.state, g.records = xzIndexCount, 0
				continue
			}
			g.buf[0], g.n, g.need = c, 1, (int(c)+1)*4 // at most 1024
			g.state = xzBlockHeader
		case xzChunk:
			switch {
			case c == 0: // end of the block's data
				pad := (4 - (g.off-g.start)%4) % 4
				g.state, g.need = xzBlockPad, int(pad)+g.check
				if g.need == 0 {
					g.state = xzBlockOrIndex
				}
			case c == 1 || c == 2: // uncompressed chunk: 2 bytes of size
				g.buf[0], g.n, g.need, g.state = c, 1, 3, xzChunkHeader
			case c >= 0x80: // LZMA chunk: 4 bytes of sizes, and properties from 0xC0
				g.buf[0], g.n, g.need, g.state = c, 1, 5, xzChunkHeader
				if c >= 0xC0 {
					g.need = 6
				}
			default:
				return fmt.Errorf("%w: LZMA2 control byte %#x", errXZFraming, c)
			}
		case xzIndexCount, xzIndexRecords:
			// Varints: only their ends matter (a byte without the high bit).
			if g.state == xzIndexCount {
				g.records = g.records | uint64(c&0x7f)<<(7*g.n)
				g.n++
				if c&0x80 != 0 {
					if g.n >= 9 {
						return fmt.Errorf("%w: index record count", errXZFraming)
					}
					continue
				}
				g.n, g.records = 0, 2*g.records
				g.state = xzIndexRecords
			} else if c&0x80 == 0 {
				g.records--
			}
			if g.records == 0 {
				pad := (4 - (g.off-g.start)%4) % 4
				g.state, g.need = xzIndexPad, int(pad)+4+12
			}
		}
	}
	return nil
}

// header handles a complete stream, block or chunk header in buf.
func (g *xzGuard) header() error {
	h := g.buf[:g.n]
	switch g.state {
	case xzStreamHeader:
		if string(h[:6]) != "\xfd7zXZ\x00" {
			return fmt.Errorf("%w: no stream header", errXZFraming)
		}
		if id := h[7] & 0x0f; id == 0 {
			g.check = 0
		} else {
			g.check = 4 << ((id - 1) / 3)
		}
		g.state = xzBlockOrIndex
	case xzBlockHeader:
		if err := checkBlockHeader(h); err != nil {
			return err
		}
		g.state = xzChunk
	case xzChunkHeader:
		size := int(h[1])<<8 | int(h[2]) + 1 // uncompressed chunk: its size
		if h[0] >= 0x80 {
			size = int(h[3])<<8 | int(h[4]) + 1 // LZMA chunk: its compressed size
		}
		g.state, g.need = xzSkip, size
	}
	g.n = 0
	return nil
}

// checkBlockHeader fails a block header whose LZMA2 filter declares a
// dictionary over maxXZDict. Other malformations are the decoder's to find.
func checkBlockHeader(h []byte) error {
	flags := h[1]
	pos := 2
	end := len(h) - 4 // the CRC32
	varint := func() uint64 {
		var v uint64
		for i := 0; i < 9 && pos < end; i++ {
			c := h[pos]
			pos++
			v |= uint64(c&0x7f) << (7 * i)
			if c&0x80 == 0 {
				break
			}
		}
		return v
	}
	if flags&0x40 != 0 {
		varint() // compressed size
	}
	if flags&0x80 != 0 {
		varint() // uncompressed size
	}
	for range int(flags&0x03) + 1 {
		id, size := varint(), varint()
		if id == 0x21 && size == 1 && pos < end {
			d := h[pos]
			if d >= 40 || uint64(2|d&1)<<(d/2+11) > maxXZDict { // 40 is 4 GiB - 1
				return fmt.Errorf("xz: block declares an LZMA2 dictionary over %d bytes: %w", maxXZDict, ErrTooLarge)
			}
		}
		pos += int(min(size, uint64(end)))
	}
	return nil
}
