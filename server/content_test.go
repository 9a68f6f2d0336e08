package server

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"lazymirror/cache"
)

const testSize = 10_000

var (
	// testETag is shaped like the ETag of a stored blob: its sha256, quoted.
	testETag = `"` + strings.Repeat("5e", 32) + `"`
	// testMod has a fraction of a second, which Last-Modified (and so every
	// date a client sends back) drops.
	testMod = time.Date(2024, 5, 6, 7, 8, 9, 500_000_000, time.UTC)
	// testContent is the blob of the differential test.
	testContent = func() []byte {
		b := make([]byte, testSize)
		for i := range b {
			b[i] = byte(i % 251)
		}
		return b
	}()
)

func httpDate(t time.Time) string { return t.UTC().Format(http.TimeFormat) }

// errMalformed stands, in the tables, for any error but errNoOverlap.
var errMalformed = errors.New("malformed")

// manyRanges is a Range header of n copies of bytes 0-0.
func manyRanges(n int) string { return "bytes=" + strings.Repeat("0-0,", n-1) + "0-0" }

var parseRangeTests = []struct {
	name string
	s    string
	size int64
	want []byteRange
	err  error // nil, errNoOverlap or errMalformed
}{
	{"single", "bytes=0-499", testSize, []byteRange{{0, 500}}, nil},
	{"single middle", "bytes=500-999", testSize, []byteRange{{500, 500}}, nil},
	{"single byte", "bytes=42-42", testSize, []byteRange{{42, 1}}, nil},
	{"last byte", "bytes=9999-9999", testSize, []byteRange{{9999, 1}}, nil},
	{"open", "bytes=9500-", testSize, []byteRange{{9500, 500}}, nil},
	{"open from zero", "bytes=0-", testSize, []byteRange{{0, testSize}}, nil},
	{"suffix", "bytes=-500", testSize, []byteRange{{9500, 500}}, nil},
	{"suffix whole", "bytes=-10000", testSize, []byteRange{{0, testSize}}, nil},
	{"suffix larger than size", "bytes=-20000", testSize, []byteRange{{0, testSize}}, nil},
	{"multiple", "bytes=0-0,-1", testSize, []byteRange{{0, 1}, {9999, 1}}, nil},
	{"multiple three", "bytes=0-9,1000-1099,9000-", testSize, []byteRange{{0, 10}, {1000, 100}, {9000, 1000}}, nil},
	{"overlapping kept as sent", "bytes=0-99,50-149", testSize, []byteRange{{0, 100}, {50, 100}}, nil},
	{"ranges summing past size", "bytes=0-,-10000", testSize, []byteRange{{0, testSize}, {0, testSize}}, nil}, // served whole, 200
	{"spaces around commas", "bytes=0-1 , 2-3 ,\t4-5", testSize, []byteRange{{0, 2}, {2, 2}, {4, 2}}, nil},
	{"spaces around dash", "bytes= 0 - 1", testSize, []byteRange{{0, 2}}, nil},
	{"empty elements", "bytes=0-1,,2-3", testSize, []byteRange{{0, 2}, {2, 2}}, nil},
	{"blank element", "bytes=0-1, \t,2-3", testSize, []byteRange{{0, 2}, {2, 2}}, nil},
	{"leading and trailing commas", "bytes=,0-1,", testSize, []byteRange{{0, 2}}, nil},
	{"end past size clamped", "bytes=9990-20000", testSize, []byteRange{{9990, 10}}, nil},
	{"end huge clamped", "bytes=0-9223372036854775807", testSize, []byteRange{{0, testSize}}, nil},
	{"start at size", "bytes=10000-", testSize, nil, errNoOverlap},
	{"start at size with end", "bytes=10000-10005", testSize, nil, errNoOverlap},
	{"start past size", "bytes=20000-30000", testSize, nil, errNoOverlap},
	{"all unsatisfiable", "bytes=10000-,20000-20001", testSize, nil, errNoOverlap},
	{"unsatisfiable then satisfiable", "bytes=10000-,0-1", testSize, []byteRange{{0, 2}}, nil},
	{"satisfiable then unsatisfiable", "bytes=0-1,20000-", testSize, []byteRange{{0, 2}}, nil},
	{"suffix zero", "bytes=-0", testSize, nil, errNoOverlap},
	{"suffix zero and satisfiable", "bytes=-0,0-1", testSize, []byteRange{{0, 2}}, nil},
	{"size 0 open", "bytes=0-", 0, nil, errNoOverlap},
	{"size 0 first byte", "bytes=0-0", 0, nil, errNoOverlap},
	{"size 0 suffix", "bytes=-1", 0, nil, errNoOverlap},
	{"size 0 suffix zero", "bytes=-0", 0, nil, errNoOverlap},
	{"size 1 whole", "bytes=0-0", 1, []byteRange{{0, 1}}, nil},
	{"size 1 suffix", "bytes=-5", 1, []byteRange{{0, 1}}, nil},
	{"no bytes= prefix", "0-1", testSize, nil, errMalformed},
	{"other unit", "items=0-1", testSize, nil, errMalformed},
	{"prefix is case-sensitive", "Bytes=0-1", testSize, nil, errMalformed},
	{"end before start", "bytes=5-1", testSize, nil, errMalformed},
	{"not numbers", "bytes=a-b", testSize, nil, errMalformed},
	{"plus start", "bytes=+1-2", testSize, nil, errMalformed},
	{"plus end", "bytes=1-+2", testSize, nil, errMalformed},
	{"plus suffix", "bytes=-+2", testSize, nil, errMalformed},
	{"negative suffix", "bytes=--2", testSize, nil, errMalformed},
	{"no dash", "bytes=1", testSize, nil, errMalformed},
	{"two dashes", "bytes=1-2-3", testSize, nil, errMalformed},
	{"empty", "bytes=", testSize, nil, errMalformed},
	{"only commas", "bytes=, ,", testSize, nil, errMalformed},
	{"dash only", "bytes=-", testSize, nil, errMalformed},
	{"start overflows", "bytes=99999999999999999999-", testSize, nil, errMalformed},
	{"end overflows", "bytes=0-99999999999999999999", testSize, nil, errMalformed},
	{"malformed after unsatisfiable", "bytes=20000-,a-b", testSize, nil, errMalformed},
	{"malformed after satisfiable", "bytes=0-1,x", testSize, nil, errMalformed},
	{"maxRanges ranges", manyRanges(maxRanges), testSize, slices.Repeat([]byteRange{{0, 1}}, maxRanges), nil},
	{"more than maxRanges", manyRanges(maxRanges + 1), testSize, nil, errMalformed},
}

func TestParseRange(t *testing.T) {
	for _, tt := range parseRangeTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRange(tt.s, tt.size)
			switch {
			case tt.err == errMalformed && (err == nil || errors.Is(err, errNoOverlap)):
				t.Fatalf("parseRange(%q, %d) = %v, %v; want a malformed-range error", tt.s, tt.size, got, err)
			case tt.err != errMalformed && !errors.Is(err, tt.err):
				t.Fatalf("parseRange(%q, %d) = %v, %v; want error %v", tt.s, tt.size, got, err, tt.err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("parseRange(%q, %d) = %v; want %v", tt.s, tt.size, got, tt.want)
			}
		})
	}
}

func FuzzParseRange(f *testing.F) {
	for _, tt := range parseRangeTests {
		f.Add(tt.s, tt.size)
	}
	f.Fuzz(func(t *testing.T, s string, size int64) {
		if size < 0 {
			size = ^size // -size-1: every int64 maps to a size, without overflow
		}
		ranges, err := parseRange(s, size)
		if err != nil {
			if ranges != nil {
				t.Fatalf("parseRange(%q, %d) = %v with error %v", s, size, ranges, err)
			}
			return
		}
		if len(ranges) == 0 || len(ranges) > maxRanges {
			t.Fatalf("parseRange(%q, %d): %d ranges, no error", s, size, len(ranges))
		}
		if !strings.HasPrefix(s, "bytes=") {
			t.Fatalf("parseRange(%q, %d) accepted a header without bytes=", s, size)
		}
		for _, r := range ranges {
			if r.start < 0 || r.length < 1 || r.length > size-r.start {
				t.Fatalf("parseRange(%q, %d): range %+v outside the content", s, size, r)
			}
			// The range as its Content-Range writes it parses back to itself.
			one := "bytes=" + strconv.FormatInt(r.start, 10) + "-" + strconv.FormatInt(r.start+r.length-1, 10)
			if got, err := parseRange(one, size); err != nil || len(got) != 1 || got[0] != r {
				t.Fatalf("parseRange(%q, %d) = %v, %v; want [%+v] (from %q)", one, size, got, err, r, s)
			}
			if cr, want := r.contentRange(size), "bytes "+one[len("bytes="):]+"/"+strconv.FormatInt(size, 10); cr != want {
				t.Fatalf("contentRange = %q; want %q", cr, want)
			}
		}
	})
}

func TestETagListMatch(t *testing.T) {
	const e = `"abc"`
	tests := []struct {
		name   string
		list   string
		etag   string
		strong bool
		want   bool
	}{
		{"strong same", e, e, true, true},
		{"strong different", `"abd"`, e, true, false},
		{"strong weak in list", `W/"abc"`, e, true, false},
		{"strong weak etag", `W/"abc"`, `W/"abc"`, true, false},
		{"strong star", "*", e, true, true},
		{"strong list", `"x", "abc"`, e, true, true},
		{"strong list no spaces", `"x","abc","y"`, e, true, true},
		{"strong list with spaces", ` "x" ,  "abc" `, e, true, true},
		{"strong list only weak", `"x", W/"abc"`, e, true, false},
		{"strong star in list", `"x", *`, e, true, true},
		{"strong unquoted", "abc", e, true, false},
		{"strong skips a malformed element", `abc, "abc"`, e, true, true},
		{"strong star prefix is no star", "*0", e, true, false},
		{"strong empty tag", `""`, e, true, false},
		{"strong no etag", "*", "", true, false},
		{"weak same", e, e, false, true},
		{"weak W/ in list", `W/"abc"`, e, false, true},
		{"weak W/ etag", e, `W/"abc"`, false, true},
		{"weak both W/", `W/"abc"`, `W/"abc"`, false, true},
		{"weak different", `W/"abd"`, e, false, false},
		{"weak star", "*", e, false, true},
		{"weak list", `"x", W/"abc"`, e, false, true},
		{"weak list with spaces", `  "x"  ,W/"y",  "abc"  `, e, false, true},
		{"weak list miss", `"x", W/"y"`, e, false, false},
		{"weak lowercase w/", `w/"abc"`, e, false, false},
		{"weak skips a malformed element", `abc, "abc"`, e, false, true},
		{"weak tags need commas", `"x""abc"`, e, false, false},
		{"weak no etag", "*", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := etagListMatch(tt.list, tt.etag, tt.strong); got != tt.want {
				t.Errorf("etagListMatch(%q, %q, strong=%v) = %v; want %v", tt.list, tt.etag, tt.strong, got, tt.want)
			}
		})
	}
}

var ifRangeTests = []struct {
	name    string
	ifRange string // "": no If-Range
	zeroMod bool
	want    bool
}{
	{"absent", "", false, true},
	{"etag match", testETag, false, true},
	{"etag match with spaces", "  " + testETag + " ", false, true},
	{"etag mismatch", `"0000"`, false, false},
	{"weak etag never matches", "W/" + testETag, false, false},
	{"etag with trailing garbage", testETag + "x", false, false},
	{"date equal to the second", httpDate(testMod), false, true},
	{"date equal RFC 850", testMod.UTC().Format(time.RFC850), false, true},
	{"date equal ANSI C", testMod.UTC().Format(time.ANSIC), false, true},
	{"date one second later", httpDate(testMod.Add(time.Second)), false, false},
	{"date one second earlier", httpDate(testMod.Add(-time.Second)), false, false},
	{"date much later", httpDate(testMod.Add(time.Hour)), false, false},
	{"malformed date", "yesterday", false, false},
	{"date without modification time", httpDate(testMod), true, false},
}

func TestIfRange(t *testing.T) {
	for _, tt := range ifRangeTests {
		t.Run(tt.name, func(t *testing.T) {
			var h fasthttp.RequestHeader
			if tt.ifRange != "" {
				h.Set("If-Range", tt.ifRange)
			}
			if got := ifRange(&h, testETag, modFor(tt.zeroMod)); got != tt.want {
				t.Errorf("ifRange(If-Range: %q) = %v; want %v", tt.ifRange, got, tt.want)
			}
		})
	}
}

func modFor(zero bool) time.Time {
	if zero {
		return time.Time{}
	}
	return testMod
}

var (
	before = httpDate(testMod.Add(-time.Hour))
	at     = httpDate(testMod) // the same second: not modified since
	after  = httpDate(testMod.Add(time.Hour))
)

var preconditionTests = []struct {
	name    string
	hdr     map[string]string
	zeroMod bool
	want    int
}{
	{"none", nil, false, 0},
	{"If-Match same", map[string]string{"If-Match": testETag}, false, 0},
	{"If-Match star", map[string]string{"If-Match": "*"}, false, 0},
	{"If-Match in list", map[string]string{"If-Match": `"x", ` + testETag}, false, 0},
	{"If-Match other", map[string]string{"If-Match": `"x"`}, false, 412},
	{"If-Match weak", map[string]string{"If-Match": "W/" + testETag}, false, 412},
	{"If-Unmodified-Since before", map[string]string{"If-Unmodified-Since": before}, false, 412},
	{"If-Unmodified-Since same second", map[string]string{"If-Unmodified-Since": at}, false, 0},
	{"If-Unmodified-Since after", map[string]string{"If-Unmodified-Since": after}, false, 0},
	{"If-Unmodified-Since malformed", map[string]string{"If-Unmodified-Since": "soon"}, false, 0},
	{"If-Unmodified-Since without modification time", map[string]string{"If-Unmodified-Since": before}, true, 0},
	{"If-None-Match same", map[string]string{"If-None-Match": testETag}, false, 304},
	{"If-None-Match weak", map[string]string{"If-None-Match": "W/" + testETag}, false, 304},
	{"If-None-Match star", map[string]string{"If-None-Match": "*"}, false, 304},
	{"If-None-Match in list", map[string]string{"If-None-Match": `"x", ` + testETag}, false, 304},
	{"If-None-Match other", map[string]string{"If-None-Match": `"x"`}, false, 0},
	{"If-Modified-Since before", map[string]string{"If-Modified-Since": before}, false, 0},
	{"If-Modified-Since same second", map[string]string{"If-Modified-Since": at}, false, 304},
	{"If-Modified-Since after", map[string]string{"If-Modified-Since": after}, false, 304},
	{"If-Modified-Since malformed", map[string]string{"If-Modified-Since": "soon"}, false, 0},
	{"If-Modified-Since without modification time", map[string]string{"If-Modified-Since": after}, true, 0},
	// RFC 9110 §13.2.2: If-Match, else If-Unmodified-Since; then
	// If-None-Match, else If-Modified-Since.
	{"failed If-Match beats If-None-Match", map[string]string{"If-Match": `"x"`, "If-None-Match": testETag}, false, 412},
	{"failed If-Match beats If-Modified-Since", map[string]string{"If-Match": `"x"`, "If-Modified-Since": after}, false, 412},
	{"failed If-Match with passing If-Unmodified-Since", map[string]string{"If-Match": `"x"`, "If-Unmodified-Since": after}, false, 412},
	{"If-Match overrides failing If-Unmodified-Since", map[string]string{"If-Match": testETag, "If-Unmodified-Since": before}, false, 0},
	{"failed If-Unmodified-Since beats If-None-Match", map[string]string{"If-Unmodified-Since": before, "If-None-Match": testETag}, false, 412},
	{"passing If-Match then If-None-Match", map[string]string{"If-Match": testETag, "If-None-Match": testETag}, false, 304},
	{"If-None-Match miss overrides If-Modified-Since", map[string]string{"If-None-Match": `"x"`, "If-Modified-Since": after}, false, 0},
	{"If-None-Match hit overrides If-Modified-Since", map[string]string{"If-None-Match": testETag, "If-Modified-Since": before}, false, 304},
	{"malformed If-Unmodified-Since ignored", map[string]string{"If-Unmodified-Since": "soon", "If-None-Match": testETag}, false, 304},
	{"malformed If-Modified-Since ignored", map[string]string{"If-Modified-Since": "soon", "If-Unmodified-Since": after}, false, 0},
	{"all four passing", map[string]string{"If-Match": testETag, "If-Unmodified-Since": after, "If-None-Match": `"x"`, "If-Modified-Since": before}, false, 0},
}

func TestPreconditions(t *testing.T) {
	for _, tt := range preconditionTests {
		t.Run(tt.name, func(t *testing.T) {
			var h fasthttp.RequestHeader
			for k, v := range tt.hdr {
				h.Set(k, v)
			}
			if got := preconditions(&h, testETag, modFor(tt.zeroMod)); got != tt.want {
				t.Errorf("preconditions(%v) = %d; want %d", tt.hdr, got, tt.want)
			}
		})
	}
}

// served is what the differential test compares of a response.
type served struct {
	code         int
	contentRange string
	multipart    bool
	length       string // Content-Length, of a 200 or 206 only
}

// serveNetHTTP answers a HEAD request for the first size bytes of
// testContent with net/http's ServeContent.
func serveNetHTTP(size int64, mod time.Time, hdr map[string]string) served {
	r := httptest.NewRequest(http.MethodHead, "/x", nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	w.Header().Set("ETag", testETag)
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, "x", mod, bytes.NewReader(testContent[:size]))
	s := served{
		code:         w.Code,
		contentRange: w.Header().Get("Content-Range"),
		multipart:    strings.HasPrefix(w.Header().Get("Content-Type"), "multipart/byteranges;"),
	}
	if s.code == http.StatusOK || s.code == http.StatusPartialContent {
		s.length = w.Header().Get("Content-Length")
	}
	return s
}

// serveOurs answers the same request with serveStored. It is a HEAD: an
// Object made outside package cache has no bytes to read, but for GET and
// HEAD alike serveStored and ServeContent decide the same way; only the
// body differs.
func serveOurs(t *testing.T, size int64, mod time.Time, hdr map[string]string) served {
	t.Helper()
	var req fasthttp.Request
	req.Header.SetMethod(fasthttp.MethodHead)
	req.SetRequestURI("/x")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, nil, nil)
	h := &ctx.Response.Header
	h.Set("ETag", testETag)
	h.SetContentType("application/octet-stream")
	if err := serveStored(&ctx, &cache.Object{Size: size, ModTime: mod}, &body{}); err != nil {
		t.Fatalf("serveStored: %v", err)
	}
	s := served{
		code:         ctx.Response.StatusCode(),
		contentRange: string(h.Peek("Content-Range")),
		multipart:    strings.HasPrefix(string(h.ContentType()), "multipart/byteranges;"),
	}
	if s.code == http.StatusOK || s.code == http.StatusPartialContent {
		s.length = strconv.Itoa(h.ContentLength())
	}
	return s
}

// netHTTPDifferences are the cases of TestContentMatchesNetHTTP (by name,
// or by group for the If-Range cases) where serveStored knowingly answers
// otherwise than net/http (Go 1.26), and how. The test fails if one of them
// stops differing, so that this list stays true. Beyond what the test
// compares, headers differ too: on a 412 serveStored sends a text body and
// no ETag or Last-Modified (net/http: no body, both kept); on a 416 it keeps
// Last-Modified (net/http drops it); on a 304 it sends Accept-Ranges.
var netHTTPDifferences = map[string]string{
	// RFC 9110 §14.1.1: a suffix-length of 0 is unsatisfiable. net/http
	// takes it as an empty range.
	"range/suffix zero":                 "ours 416 bytes */10000; net/http 206 bytes 10000-9999/10000",
	"range/suffix zero and satisfiable": "ours 206 bytes 0-1/10000; net/http 206 multipart of the empty range and 0-1",
	// RFC 9110's grammar is digits only; net/http's strconv.ParseInt also
	// takes a sign.
	"range/plus start":  "ours 416; net/http 206 bytes 1-2/10000",
	"range/plus end":    "ours 416; net/http 206 bytes 1-2/10000",
	"range/plus suffix": "ours 416; net/http 206 bytes 9998-9999/10000",
	// A ranges-specifier needs at least one range (RFC 9110 §14.1.2):
	// content.go rejects one without; net/http ignores it.
	"range/empty":       "ours 416; net/http 200",
	"range/only commas": "ours 416; net/http 200",
	// Content of size 0 is sent whole (200) whatever the Range; net/http
	// answers a suffix range, even -0, with 206 and the invalid
	// "bytes 0--1/0".
	"range/size 0 suffix":      "ours 200; net/http 206 bytes 0--1/0",
	"range/size 0 suffix zero": "ours 200; net/http 206 bytes 0--1/0",
	// maxRanges: net/http has no limit.
	"range/more than maxRanges": "ours 416; net/http 206 multipart",
	// content.go splits ETag lists at commas and skips what is not a tag;
	// net/http scans tags one after the other, stops at the first
	// malformed one, and takes a '*' starting a token as "*".
	"extra/If-None-Match malformed element then match": "ours 304; net/http 200",
	"extra/If-Match malformed element then match":      "ours 200; net/http 412",
	"extra/If-Match star prefix":                       "ours 412; net/http 200",
	"extra/If-None-Match tags without comma":           "ours 200; net/http 304",
	// net/http reads a tag at the start of If-Range and ignores the rest.
	"if-range/etag with trailing garbage": "ours 200 (If-Range fails); net/http honours the Range (206 or 416)",
	// net/http also takes a modification time at the Unix epoch as unknown.
	"extra/If-Modified-Since modified at the epoch": "ours 304; net/http 200",
}

func TestContentMatchesNetHTTP(t *testing.T) {
	type diffCase struct {
		name, group string
		size        int64
		mod         time.Time
		hdr         map[string]string
	}
	cases := []diffCase{
		{"extra/If-None-Match malformed element then match", "", testSize, testMod, map[string]string{"If-None-Match": "abc, " + testETag}},
		{"extra/If-Match malformed element then match", "", testSize, testMod, map[string]string{"If-Match": "abc, " + testETag}},
		{"extra/If-Match star prefix", "", testSize, testMod, map[string]string{"If-Match": "*0"}},
		{"extra/If-None-Match tags without comma", "", testSize, testMod, map[string]string{"If-None-Match": `"x"` + testETag}},
		{"extra/If-None-Match star after a tag", "", testSize, testMod, map[string]string{"If-None-Match": `"x", *`}},
		{"extra/Range trailing no-break space", "", testSize, testMod, map[string]string{"Range": "bytes=0-99\u00a0"}},
		{"extra/Range trailing vertical tab", "", testSize, testMod, map[string]string{"Range": "bytes=0-99\v"}},
		{"extra/If-Range only a Unicode space", "", testSize, testMod, map[string]string{"If-Range": "\u205f", "Range": "bytes=0-99"}},
		{"extra/If-Modified-Since modified at the epoch", "", testSize, time.Unix(0, 0), map[string]string{"If-Modified-Since": after}},
	}
	for _, tt := range parseRangeTests {
		cases = append(cases, diffCase{"range/" + tt.name, "", tt.size, testMod, map[string]string{"Range": tt.s}})
	}
	for _, tt := range preconditionTests {
		cases = append(cases, diffCase{"precondition/" + tt.name, "", testSize, modFor(tt.zeroMod), tt.hdr})
		// The same with a Range, which applies only when no precondition stops the request.
		hdr := map[string]string{"Range": "bytes=0-99"}
		for k, v := range tt.hdr {
			hdr[k] = v
		}
		cases = append(cases, diffCase{"precondition with range/" + tt.name, "", testSize, modFor(tt.zeroMod), hdr})
	}
	for _, tt := range ifRangeTests {
		for _, r := range []string{"bytes=0-99", "bytes=0-9,20-29", "bytes=20000-", "bytes=a-b"} {
			hdr := map[string]string{"Range": r}
			if tt.ifRange != "" {
				hdr["If-Range"] = tt.ifRange
			}
			cases = append(cases, diffCase{"if-range/" + tt.name + "/" + r, "if-range/" + tt.name, testSize, modFor(tt.zeroMod), hdr})
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := serveNetHTTP(c.size, c.mod, c.hdr)
			got := serveOurs(t, c.size, c.mod, c.hdr)
			why, known := netHTTPDifferences[c.name]
			if !known && c.group != "" {
				why, known = netHTTPDifferences[c.group]
			}
			switch {
			case known && got == want:
				t.Errorf("%q: both answer %+v, yet listed as a difference (%s)", c.hdr, got, why)
			case known:
				t.Logf("known difference (%s): ours %+v, net/http %+v", why, got, want)
			case got != want:
				t.Errorf("%q: serveStored %+v; net/http %+v", c.hdr, got, want)
			}
		})
	}
	// Every listed difference names a case.
	for name := range netHTTPDifferences {
		if !slices.ContainsFunc(cases, func(c diffCase) bool { return c.name == name || c.group == name }) {
			t.Errorf("netHTTPDifferences[%q] names no case", name)
		}
	}
}
