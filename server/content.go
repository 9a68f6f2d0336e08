package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"lazymirror/cache"
)

// inlineMax is the largest body sent inline: read into the response
// buffer, so headers and body leave in one send. Larger bodies go out by
// sendfile, after the headers.
const inlineMax = 64 << 10

// serveStored answers a request for a stored blob as net/http's
// ServeContent does: the conditional requests of RFC 9110 §13 (ETag, the
// blob's sha256, and Last-Modified, when it was stored), Range and If-Range
// (§14: single ranges, suffixes, multipart/byteranges for several), HEAD.
// The body is left in b for the handler to hand to fasthttp, or inline in
// the response.
func serveStored(ctx *fasthttp.RequestCtx, o *cache.Object, b *body) error {
	req, h := &ctx.Request.Header, &ctx.Response.Header
	etag := string(h.Peek("ETag"))
	if !o.ModTime.IsZero() {
		h.SetLastModified(o.ModTime)
	}
	h.Set("Accept-Ranges", "bytes")
	switch code := preconditions(req, etag, o.ModTime); code {
	case fasthttp.StatusNotModified:
		h.Del("Content-Type")
		h.Del("Last-Modified")
		ctx.SetStatusCode(code)
		return nil
	case fasthttp.StatusPreconditionFailed:
		ctx.Error(fasthttp.StatusMessage(code), code)
		return nil
	}
	size := o.Size
	var ranges []byteRange
	// Empty content has no byte to range over: it is sent whole (as
	// net/http does, for clients that send Range on every request).
	if hr := string(req.Peek("Range")); hr != "" && size > 0 && ifRange(req, etag, o.ModTime) {
		var err error
		ranges, err = parseRange(hr, size)
		if err != nil {
			if errors.Is(err, errNoOverlap) {
				h.Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
			}
			h.Del("ETag")
			code := fasthttp.StatusRequestedRangeNotSatisfiable
			ctx.SetStatusCode(code)
			ctx.SetBodyString(fasthttp.StatusMessage(code))
			h.SetContentType("text/plain; charset=utf-8")
			return nil
		}
		var sum int64
		for _, r := range ranges {
			sum += r.length
		}
		if sum > size { // a client asking for more than the whole: send it whole (as net/http does)
			ranges = nil
		}
	}
	switch len(ranges) {
	case 0:
		ctx.SetStatusCode(fasthttp.StatusOK)
		return b.blob(ctx, o, 0, size)
	case 1:
		r := ranges[0]
		ctx.SetStatusCode(fasthttp.StatusPartialContent)
		h.Set("Content-Range", r.contentRange(size))
		return b.blob(ctx, o, r.start, r.length)
	}
	content := o.Content()
	// Several ranges: multipart/byteranges, each part's headers from one
	// buffer, each part's bytes read from the file when sent.
	var hdrs bytes.Buffer
	mw := multipart.NewWriter(&hdrs)
	ct := string(h.ContentType())
	var parts []io.Reader
	last := 0
	for _, r := range ranges {
		if _, err := mw.CreatePart(textproto.MIMEHeader{"Content-Range": {r.contentRange(size)}, "Content-Type": {ct}}); err != nil {
			return fmt.Errorf("multipart headers: %w", err)
		}
		parts = append(parts, bytes.NewReader(hdrs.Bytes()[last:hdrs.Len()]), io.NewSectionReader(content, r.start, r.length))
		last = hdrs.Len()
		b.size += r.length
	}
	if err := mw.Close(); err != nil {
		return fmt.Errorf("multipart headers: %w", err)
	}
	// hdrs does not grow from here: the readers above share its bytes.
	parts = append(parts, bytes.NewReader(hdrs.Bytes()[last:]))
	b.size += int64(hdrs.Len())
	h.SetContentType("multipart/byteranges; boundary=" + mw.Boundary())
	ctx.SetStatusCode(fasthttp.StatusPartialContent)
	if ctx.IsHead() {
		h.SetContentLength(int(b.size))
		return nil
	}
	b.r = io.MultiReader(parts...)
	return nil
}

// blob sets the body to length bytes of the blob from start: from memory
// when the cache holds it there; else read inline when small, or streamed
// (by sendfile: fasthttp's body writer sees the file through the
// LimitedReader).
func (b *body) blob(ctx *fasthttp.RequestCtx, o *cache.Object, start, length int64) error {
	if ctx.IsHead() {
		ctx.Response.Header.SetContentLength(int(length))
		return nil
	}
	if mem := o.Bytes(); mem != nil {
		ctx.Response.SetBodyRaw(mem[start : start+length]) // sent as it is: no copy
		return nil
	}
	f := o.File()
	if length <= inlineMax {
		// The response's own (pooled) buffer takes the bytes: no allocation.
		buf := ctx.Response.SwapBody(nil)
		if int64(cap(buf)) < length {
			buf = make([]byte, length)
		}
		buf = buf[:length]
		if _, err := f.ReadAt(buf, start); err != nil {
			return fmt.Errorf("read blob: %w", err)
		}
		ctx.Response.SwapBody(buf)
		return nil
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return fmt.Errorf("seek blob: %w", err)
	}
	b.r, b.size = &io.LimitedReader{R: f, N: length}, length
	return nil
}

// preconditions evaluates If-Match, If-Unmodified-Since, If-None-Match and
// If-Modified-Since in RFC 9110 §13.2.2's order, for a GET or HEAD. It
// returns 304, 412, or 0 to go on.
func preconditions(h *fasthttp.RequestHeader, etag string, mod time.Time) int {
	if im := string(h.Peek("If-Match")); im != "" {
		if !etagListMatch(im, etag, true) {
			return fasthttp.StatusPreconditionFailed
		}
	} else if ius, ok := headerTime(h, "If-Unmodified-Since"); ok && !mod.IsZero() && mod.Truncate(time.Second).After(ius) {
		return fasthttp.StatusPreconditionFailed
	}
	if inm := string(h.Peek("If-None-Match")); inm != "" {
		if etagListMatch(inm, etag, false) {
			return fasthttp.StatusNotModified
		}
	} else if ims, ok := headerTime(h, "If-Modified-Since"); ok && !mod.IsZero() && !mod.Truncate(time.Second).After(ims) {
		return fasthttp.StatusNotModified
	}
	return 0
}

// headerTime parses an HTTP date header; ok is false when it is absent or
// malformed (which RFC 9110 says to ignore).
func headerTime(h *fasthttp.RequestHeader, key string) (time.Time, bool) {
	v := h.Peek(key)
	if len(v) == 0 {
		return time.Time{}, false
	}
	t, err := http.ParseTime(string(v))
	return t, err == nil
}

// ifRange reports whether a Range request's If-Range (if any) still holds:
// the strong ETag, or the exact Last-Modified date.
func ifRange(h *fasthttp.RequestHeader, etag string, mod time.Time) bool {
	ir := trimOWS(string(h.Peek("If-Range")))
	switch {
	case ir == "":
		return true
	case strings.HasPrefix(ir, `"`) || strings.HasPrefix(ir, "W/"):
		return strongMatch(ir, etag)
	}
	t, err := http.ParseTime(ir)
	return err == nil && !mod.IsZero() && mod.Truncate(time.Second).Equal(t)
}

// etagListMatch reports whether an If-Match / If-None-Match list names
// etag ("*" names any): strong comparison for If-Match, weak for
// If-None-Match.
func etagListMatch(list, etag string, strong bool) bool {
	if etag == "" {
		return false
	}
	for t := range strings.SplitSeq(list, ",") {
		t = trimOWS(t)
		switch {
		case t == "*":
			return true
		case strong && strongMatch(t, etag):
			return true
		case !strong && strings.TrimPrefix(t, "W/") == strings.TrimPrefix(etag, "W/"):
			return true
		}
	}
	return false
}

// strongMatch is RFC 9110's strong comparison: neither tag weak, same value.
func strongMatch(a, b string) bool {
	return a == b && !strings.HasPrefix(a, "W/")
}

// trimOWS trims RFC 9110's optional whitespace: spaces and tabs only.
func trimOWS(s string) string { return strings.Trim(s, " \t") }

// byteRange is one satisfiable range of a Range header.
type byteRange struct{ start, length int64 }

func (r byteRange) contentRange(size int64) string {
	return "bytes " + strconv.FormatInt(r.start, 10) + "-" + strconv.FormatInt(r.start+r.length-1, 10) + "/" + strconv.FormatInt(size, 10)
}

// errNoOverlap is a Range header none of whose ranges is satisfiable (416
// with Content-Range: bytes */size).
var errNoOverlap = errors.New("no range overlaps the content")

// maxRanges bounds the ranges of one request (dnf asks for up to 256).
const maxRanges = 1024

// parseRange parses a Range header (RFC 9110 §14.1.2) for content of size
// bytes: "bytes=" then ranges "first-last", "first-" or "-suffix",
// separated by commas. Ranges past the end are dropped; if none is left
// the error is errNoOverlap. Malformed headers are an error too.
func parseRange(s string, size int64) ([]byteRange, error) {
	spec, ok := strings.CutPrefix(s, "bytes=")
	if !ok {
		return nil, fmt.Errorf("range %q: not bytes=", s)
	}
	var ranges []byteRange
	noOverlap := false
	for ra := range strings.SplitSeq(spec, ",") {
		ra = trimOWS(ra)
		if ra == "" {
			continue
		}
		if len(ranges) == maxRanges {
			return nil, fmt.Errorf("range %q: more than %d ranges", s, maxRanges)
		}
		first, last, ok := strings.Cut(ra, "-")
		if !ok {
			return nil, fmt.Errorf("range %q: no '-' in %q", s, ra)
		}
		first, last = trimOWS(first), trimOWS(last)
		if first == "" { // a suffix: the last N bytes
			n, err := strconv.ParseInt(last, 10, 64)
			if err != nil || n < 0 || last[0] == '+' {
				return nil, fmt.Errorf("range %q: bad suffix %q", s, ra)
			}
			if n == 0 || size == 0 {
				noOverlap = true
				continue
			}
			n = min(n, size)
			ranges = append(ranges, byteRange{start: size - n, length: n})
			continue
		}
		start, err := strconv.ParseInt(first, 10, 64)
		if err != nil || start < 0 || first[0] == '+' {
			return nil, fmt.Errorf("range %q: bad start in %q", s, ra)
		}
		end := size - 1
		if last != "" {
			e, err := strconv.ParseInt(last, 10, 64)
			if err != nil || e < start || last[0] == '+' {
				return nil, fmt.Errorf("range %q: bad end in %q", s, ra)
			}
			end = min(e, size-1)
		}
		if start >= size {
			noOverlap = true
			continue
		}
		ranges = append(ranges, byteRange{start: start, length: end - start + 1})
	}
	if len(ranges) == 0 && noOverlap {
		return nil, errNoOverlap
	}
	if len(ranges) == 0 {
		return nil, fmt.Errorf("range %q: no ranges", s)
	}
	return ranges, nil
}
