package debian

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// maxLine caps one line of a control file: a longer line is an error after
// maxLine bytes, never a larger allocation. Lines longer than readBuf (rare:
// none in bookworm) are gathered in a separate buffer that grows up to
// maxLine; a fixed 1 MiB read buffer cost 3 ms per small file in allocation
// and zeroing per file.
const (
	maxLine = 1 << 20
	readBuf = 64 << 10
)

// lineKind says what a deb822 line is.
type lineKind uint8

const (
	lineBlank lineKind = iota // paragraph separator: empty or only spaces and tabs
	lineField                 // "Name: value"
	lineCont                  // continuation of the previous field, starts with a space or tab
)

// scanner splits deb822 text (RFC 822-like paragraphs) into lines with
// bufio.Reader.ReadSlice, so a line is a view of the read buffer and the
// scan allocates nothing per line. It enforces the line cap and a cap on
// the bytes of one paragraph.
type scanner struct {
	br       *bufio.Reader
	line     int // number of the line last returned, from 1
	para     int // bytes of the current paragraph so far
	maxPara  int
	sawField bool   // the current paragraph has a field (continuations are legal)
	long     []byte // a line longer than the read buffer
}

func newScanner(r io.Reader, maxPara int) *scanner {
	return &scanner{br: bufio.NewReaderSize(r, readBuf), maxPara: maxPara}
}

// next returns the next line. For lineField, name and value are set (value
// trimmed of surrounding white space); for lineCont, value is the trimmed
// line. The slices are valid until the next call. At the end it returns
// io.EOF; malformed lines are errors wrapping ErrMalformed.
func (s *scanner) next() (kind lineKind, name, value []byte, err error) {
	raw, err := s.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		if s.long == nil {
			s.long = make([]byte, 0, maxLine) // once, and only for a long line
		}
		s.long = append(s.long[:0], raw...)
		for errors.Is(err, bufio.ErrBufferFull) {
			raw, err = s.br.ReadSlice('\n')
			if len(s.long)+len(raw) > maxLine {
				return 0, nil, nil, fmt.Errorf("line %d is longer than %d bytes: %w", s.line+1, maxLine, ErrMalformed)
			}
			s.long = append(s.long, raw...)
		}
		raw = s.long
	}
	switch {
	case err == io.EOF && len(raw) > 0:
		// A last line without a newline: return it now, io.EOF next time.
	case err != nil:
		if err == io.EOF {
			return 0, nil, nil, io.EOF
		}
		return 0, nil, nil, fmt.Errorf("read line %d: %w", s.line+1, err)
	}
	s.line++
	line := trimRight(raw)
	if len(line) == 0 {
		s.para, s.sawField = 0, false
		return lineBlank, nil, nil, nil
	}
	if s.para += len(raw); s.para > s.maxPara {
		return 0, nil, nil, fmt.Errorf("line %d: paragraph is longer than %d bytes: %w", s.line, s.maxPara, ErrMalformed)
	}
	if line[0] == ' ' || line[0] == '\t' {
		if !s.sawField {
			return 0, nil, nil, fmt.Errorf("line %d: continuation line without a field: %w", s.line, ErrMalformed)
		}
		return lineCont, nil, trimLeft(line), nil
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 || !isName(line[:colon]) {
		return 0, nil, nil, fmt.Errorf("line %d: %.40q is not a \"Field: value\" line: %w", s.line, line, ErrMalformed)
	}
	s.sawField = true
	return lineField, line[:colon], trimLeft(line[colon+1:]), nil
}

// The helpers below are hand-written because bytes.TrimRight and
// bytes.ContainsAny build a character set on every call, which showed in
// the profile of ParsePackages (one call per line, 1.3 M lines in bookworm).

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func trimRight(b []byte) []byte {
	for len(b) > 0 && isBlank(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func trimLeft(b []byte) []byte {
	for len(b) > 0 && isBlank(b[0]) {
		b = b[1:]
	}
	return b
}

// isName reports whether a field name has no white space.
func isName(b []byte) bool {
	for _, c := range b {
		if isBlank(c) {
			return false
		}
	}
	return true
}

// lowerName writes the ASCII lower case of a field name into buf and returns
// it, so that names can be matched case-insensitively (deb822 field names are)
// with a string switch that does not allocate. Names longer than buf cannot be
// a field this package reads and come back empty.
func lowerName(buf *[32]byte, name []byte) []byte {
	if len(name) > len(buf) {
		return nil
	}
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return buf[:len(name)]
}
