package repomd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode"
)

// Caps of the primary.xml scanner. Real primaries stay far below them: the
// longest tag in CentOS Stream 9 AppStream is under 1 KB, the longest href
// under 200 bytes.
const (
	maxTag      = 1 << 20  // one start or end tag, attributes included
	maxValue    = 16 << 10 // one value the parser keeps (name, href, ...)
	maxPkgBytes = 64 << 10 // all values kept for one package
	maxDepth    = 256      // element nesting
	bufSize     = 128 << 10
)

// token kinds returned by scanner.next.
type token int

const (
	tokStart token = iota // a start tag; a self-closing one is not pushed
	tokEnd                // an end tag, already matched against its start
)

// scanner is a narrow XML tokenizer for primary.xml. It reads through a
// window of its own buffer and reports start and end tags only: character
// data, comments, CDATA, processing instructions and directives are skipped
// without being built, except for character data the caller asks to keep.
// It follows encoding/xml wherever encoding/xml accepts a document (entity
// and "\r\n" handling, how comments, CDATA and directives end), so both
// parsers agree; where encoding/xml rejects a document, the scanner may be
// more lenient.
type scanner struct {
	r    io.Reader
	buf  []byte
	pos  int   // next unread byte
	end  int   // end of the bytes read into buf
	rerr error // sticky error from r (io.EOF at the end)

	tag       []byte // the last start tag, "<" to ">"; valid until the next call
	nameLen   int    // length of its name (tag[1:1+nameLen])
	selfClose bool   // the tag ended with "/>"

	names []byte // names of open elements, concatenated
	marks []int  // where each open element's name starts in names
}

func newScanner(r io.Reader) *scanner {
	return &scanner{r: r, buf: make([]byte, bufSize)}
}

func (s *scanner) depth() int { return len(s.marks) }

// name returns the last start tag's name.
func (s *scanner) name() []byte { return s.tag[1 : 1+s.nameLen] }

func malformed(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrMalformed)
}

func limited(what string, max int) error {
	return fmt.Errorf("%s over %d bytes: %w: %w", what, max, ErrMalformed, ErrLimit)
}

// fill reads more input after buf[pos:end], moving that window to the
// front of buf. It fails with ErrLimit when the window already holds max
// bytes, and with io.ErrUnexpectedEOF when the input has ended.
func (s *scanner) fill(max int, what string) error {
	n := s.end - s.pos
	if n >= max {
		return limited(what, max)
	}
	if s.rerr != nil {
		if s.rerr == io.EOF {
			return fmt.Errorf("%s: %w: %w", what, io.ErrUnexpectedEOF, ErrMalformed)
		}
		return s.rerr
	}
	if s.pos > 0 {
		copy(s.buf, s.buf[s.pos:s.end])
		s.pos, s.end = 0, n
	}
	if s.end == len(s.buf) {
		s.buf = append(s.buf, make([]byte, min(len(s.buf), max+1-len(s.buf)))...)
	}
	for range 100 {
		m, err := s.r.Read(s.buf[s.end:])
		s.end += m
		if err != nil {
			if err != io.EOF {
				err = fmt.Errorf("read: %w", err)
			}
			s.rerr = err
			if m > 0 {
				return nil
			}
			return s.fill(max, what)
		}
		if m > 0 {
			return nil
		}
	}
	s.rerr = fmt.Errorf("read: %w", io.ErrNoProgress)
	return s.rerr
}

// ensure makes at least n bytes available from pos unless the input ends first.
func (s *scanner) ensure(n int) error {
	for s.end-s.pos < n {
		if err := s.fill(maxTag, "markup"); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return nil
			}
			return err
		}
	}
	return nil
}

// next skips to the next start or end tag and consumes it. With keep set,
// character data on the way (text and CDATA) is decoded and appended to
// *keep. At the end of the input it returns io.EOF if no element is open.
func (s *scanner) next(keep *[]byte) (token, error) {
	for {
		if err := s.text(keep); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) && s.depth() == 0 {
				return 0, io.EOF
			}
			return 0, err
		}
		if err := s.ensure(9); err != nil {
			return 0, err
		}
		b := s.buf[s.pos:s.end]
		if len(b) < 2 {
			return 0, malformed("unexpected end of input after <")
		}
		switch b[1] {
		case '/':
			return tokEnd, s.endTag()
		case '?':
			// Like encoding/xml: a processing instruction ends at the first "?>".
			if err := s.skipPast(2, "?>"); err != nil {
				return 0, err
			}
		case '!':
			if err := s.bang(keep); err != nil {
				return 0, err
			}
		default:
			return tokStart, s.startTag()
		}
	}
}

// bang consumes the comment, CDATA section or directive at pos.
func (s *scanner) bang(keep *[]byte) error {
	b := s.buf[s.pos:s.end]
	switch {
	case bytes.HasPrefix(b, []byte("<!--")):
		// Like encoding/xml: a comment ends at the first "-->" after "<!--".
		return s.skipPast(4, "-->")
	case bytes.HasPrefix(b, []byte("<![CDATA[")):
		return s.cdata(keep)
	case bytes.HasPrefix(b, []byte("<!-")) || bytes.HasPrefix(b, []byte("<![")):
		return malformed("invalid markup %q", b[:min(len(b), 9)])
	}
	return s.directive()
}

// text consumes character data up to the next '<', appending it decoded to
// *keep when keep is not nil.
func (s *scanner) text(keep *[]byte) error {
	if keep == nil {
		// Between tags there is mostly a short indent: look at a few bytes
		// before paying for a vectorised search.
		for i := s.pos; i < min(s.pos+16, s.end); i++ {
			if s.buf[i] == '<' {
				s.pos = i
				return nil
			}
		}
		for {
			if i := bytes.IndexByte(s.buf[s.pos:s.end], '<'); i >= 0 {
				s.pos += i
				return nil
			}
			s.pos = s.end
			if err := s.fill(maxTag, "text"); err != nil {
				return err
			}
		}
	}
	for {
		if i := bytes.IndexByte(s.buf[s.pos:s.end], '<'); i >= 0 {
			err := appendText(keep, s.buf[s.pos:s.pos+i], false)
			s.pos += i
			return err
		}
		if err := s.fill(maxValue, "value"); err != nil {
			return err
		}
	}
}

// skipPast consumes input up to and including the first term at or after
// pos+from, without keeping it.
func (s *scanner) skipPast(from int, term string) error {
	s.pos += from
	for {
		if i := bytes.Index(s.buf[s.pos:s.end], []byte(term)); i >= 0 {
			s.pos += i + len(term)
			return nil
		}
		s.pos = max(s.pos, s.end-(len(term)-1))
		if err := s.fill(maxTag, "markup"); err != nil {
			return err
		}
	}
}

// cdata consumes a CDATA section at pos, appending its content to *keep
// when keep is not nil.
func (s *scanner) cdata(keep *[]byte) error {
	const open, term = len("<![CDATA["), "]]>"
	if keep == nil {
		return s.skipPast(open, term)
	}
	for {
		if i := bytes.Index(s.buf[s.pos+open:s.end], []byte(term)); i >= 0 {
			err := appendText(keep, s.buf[s.pos+open:s.pos+open+i], true)
			s.pos += open + i + len(term)
			return err
		}
		if err := s.fill(maxValue+open, "value"); err != nil {
			return err
		}
	}
}

// directive consumes a <!DOCTYPE ...>-style directive at pos the way
// encoding/xml does: the byte after "<!" is taken as is, quoted '<' and '>'
// do not nest, and a comment inside ends at "-->".
func (s *scanner) directive() error {
	s.pos += 2
	if _, err := s.getc(); err != nil {
		return err
	}
	var quote byte
	depth := 0
	for {
		c, err := s.getc()
		if err != nil {
			return err
		}
		if quote == 0 && c == '>' && depth == 0 {
			return nil
		}
	handle:
		switch {
		case c == quote:
			quote = 0
		case quote != 0:
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			depth--
		case c == '<':
			for i := range len("!--") {
				if c, err = s.getc(); err != nil {
					return err
				}
				if c != "!--"[i] {
					depth++
					goto handle
				}
			}
			if err := s.skipPast(0, "-->"); err != nil {
				return err
			}
		}
	}
}

func (s *scanner) getc() (byte, error) {
	if s.pos == s.end {
		if err := s.fill(maxTag, "directive"); err != nil {
			return 0, err
		}
	}
	s.pos++
	return s.buf[s.pos-1], nil
}

// nameStops are the bytes that end a name in a tag: encoding/xml's white
// space, '/', '=' and '>' (all below 64, so a mask holds them).
const nameStops = 1<<' ' | 1<<'\t' | 1<<'\n' | 1<<'\r' | 1<<'/' | 1<<'=' | 1<<'>'

// nameEnd returns the length of the name at the start of b.
func nameEnd(b []byte) int {
	for i, c := range b {
		if c < 64 && nameStops&(1<<c) != 0 {
			return i
		}
	}
	return len(b)
}

// startTag consumes the start tag at pos. Its attributes are parsed
// later, by attrs, and only for the tags a caller needs.
func (s *scanner) startTag() error {
	n, err := s.tagLen()
	if err != nil {
		return err
	}
	s.tag = s.buf[s.pos : s.pos+n]
	s.pos += n
	s.nameLen = nameEnd(s.tag[1:])
	if s.nameLen == 0 {
		return malformed("tag %.40q has no name", s.tag)
	}
	s.selfClose = s.tag[n-2] == '/'
	if s.selfClose {
		return nil
	}
	if s.depth() == maxDepth {
		return fmt.Errorf("elements nested over %d deep: %w: %w", maxDepth, ErrMalformed, ErrLimit)
	}
	s.marks = append(s.marks, len(s.names))
	s.names = append(s.names, s.name()...)
	return nil
}

// tagLen returns the length of the start tag at pos, '>' included, reading
// more input as needed. Quotes are tracked, since '>' may appear in
// attribute values.
func (s *scanner) tagLen() (int, error) {
	// Fast path: the first '>' ends the tag when no single quote comes
	// before it and the double quotes before it pair up.
	if j := bytes.IndexByte(s.buf[s.pos:s.end], '>'); j >= 0 {
		t := s.buf[s.pos : s.pos+j]
		if bytes.Count(t, []byte{'"'})%2 == 0 && bytes.IndexByte(t, '\'') < 0 {
			return j + 1, nil
		}
	}
	var quote byte
	for i := 1; ; {
		for ; s.pos+i < s.end; i++ {
			c := s.buf[s.pos+i]
			switch {
			case quote != 0:
				if c == quote {
					quote = 0
				}
			case c == '"' || c == '\'':
				quote = c
			case c == '>':
				return i + 1, nil
			}
		}
		if err := s.fill(maxTag, "tag"); err != nil {
			return 0, err
		}
	}
}

// endTag consumes the end tag at pos and closes the innermost open element,
// which must have the same name.
func (s *scanner) endTag() error {
	if s.depth() == 0 {
		return malformed("end tag without a start")
	}
	top := len(s.marks) - 1
	open := s.names[s.marks[top]:]
	for {
		if i := bytes.IndexByte(s.buf[s.pos:s.end], '>'); i >= 0 {
			t := s.buf[s.pos+2 : s.pos+i]
			s.pos += i + 1
			if !bytes.Equal(t, open) { // not the plain "</name>"
				n := nameEnd(t)
				if len(bytes.Trim(t[n:], " \t\r\n")) != 0 || !bytes.Equal(t[:n], open) {
					return malformed("element <%.40s> closed by %.40q", open, t)
				}
			}
			s.names, s.marks = s.names[:s.marks[top]], s.marks[:top]
			return nil
		}
		if err := s.fill(maxTag, "tag"); err != nil {
			return err
		}
	}
}

// attrs calls fn with each attribute of the last start tag, in order; raw
// is the undecoded value between the quotes.
func (s *scanner) attrs(fn func(name, raw []byte) error) error {
	b := s.tag[1+s.nameLen : len(s.tag)-1]
	if s.selfClose {
		b = b[:len(b)-1]
	}
	for {
		b = trimSpace(b)
		if len(b) == 0 {
			return nil
		}
		n := nameEnd(b)
		name := b[:n]
		b = trimSpace(b[n:])
		if n == 0 || len(b) == 0 || b[0] != '=' {
			return malformed("bad attribute in %.60q", s.tag)
		}
		b = trimSpace(b[1:])
		if len(b) == 0 || (b[0] != '"' && b[0] != '\'') {
			return malformed("unquoted attribute value in %.60q", s.tag)
		}
		end := bytes.IndexByte(b[1:], b[0])
		if end < 0 {
			return malformed("unterminated attribute value in %.60q", s.tag)
		}
		if err := fn(name, b[1:1+end]); err != nil {
			return err
		}
		b = b[end+2:]
	}
}

// trimSpace drops encoding/xml's white space from the start of b.
func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}

// localName drops a namespace prefix the way encoding/xml does: only when
// the name has exactly one colon with something on both sides.
func localName(name []byte) []byte {
	i := bytes.IndexByte(name, ':')
	if i <= 0 || i == len(name)-1 || bytes.IndexByte(name[i+1:], ':') >= 0 {
		return name
	}
	return name[i+1:]
}

// appendText decodes raw character data or an attribute value as
// encoding/xml does (the five predefined entities, &#N; and &#xN;, "\r\n"
// and "\r" to "\n"; in CDATA only the line ends) and appends it to *dst.
func appendText(dst *[]byte, raw []byte, cdata bool) error {
	if len(*dst)+len(raw) > maxPkgBytes {
		return limited("values of one package", maxPkgBytes)
	}
	if bytes.IndexByte(raw, '\r') < 0 && (cdata || bytes.IndexByte(raw, '&') < 0) {
		*dst = append(*dst, raw...)
		return nil
	}
	var prev byte // the previous raw byte; an entity resets it, as in encoding/xml
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '&' && !cdata:
			r, n := entity(raw[i:])
			if n == 0 {
				return malformed("invalid character entity in %.40q", raw[i:])
			}
			*dst = append(*dst, r...)
			i += n
			prev = 0
			continue
		case c == '\r':
			*dst = append(*dst, '\n')
		case c == '\n' && prev == '\r':
		default:
			*dst = append(*dst, c)
		}
		prev = c
		i++
	}
	return nil
}

var predefined = []struct{ ref, text string }{
	{"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"}, {"&apos;", "'"}, {"&quot;", `"`},
}

// entity decodes the entity reference at the start of b and returns its
// text and length, or a length of 0 if encoding/xml would reject it.
func entity(b []byte) (string, int) {
	for _, p := range predefined {
		if bytes.HasPrefix(b, []byte(p.ref)) {
			return p.text, len(p.ref)
		}
	}
	if len(b) < 3 || b[1] != '#' {
		return "", 0
	}
	i, base := 2, 10
	if b[i] == 'x' {
		i, base = 3, 16
	}
	start := i
	for i < len(b) && (b[i] >= '0' && b[i] <= '9' || base == 16 && (b[i]|0x20 >= 'a' && b[i]|0x20 <= 'f')) {
		i++
	}
	if i == len(b) || b[i] != ';' {
		return "", 0
	}
	n, err := strconv.ParseUint(string(b[start:i]), base, 64)
	if err != nil || n > unicode.MaxRune {
		return "", 0
	}
	return string(rune(n)), i + 1
}
