package server_test

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"

	"github.com/valyala/fasthttp"

	"lazymirror/internal/fixture"
)

// benchHarness serves files "f<size>" of the given sizes from a fixture
// mirror, and returns a harness whose repo "b" mirrors it. Paths outside
// any metadata are cached by URL: the hit path is the same as a package's.
func benchHarness(b *testing.B, sizes ...int) (*harness, *fixture.Mirror) {
	b.Helper()
	files := make(map[string][]byte)
	for _, n := range sizes {
		files["f"+strconv.Itoa(n)] = fileBytes(0, n)
	}
	m := filesMirror(b, files)
	h := newHarness(b, yamlRepos("b: {type: deb, mirrors: ["+m.URL()+"]}"))
	return h, m
}

func fetchAll(b *testing.B, c *http.Client, url string) int64 {
	resp, err := c.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		b.Fatalf("GET %s: %d, %v", url, resp.StatusCode, err)
	}
	return n
}

// BenchmarkServeHit serves a stored blob (ServeContent, sendfile) over
// loopback HTTP/1.1 keep-alive: 10 KB and 100 MB.
func BenchmarkServeHit(b *testing.B) {
	for _, size := range []int{10 << 10, 100 << 20} {
		b.Run(strconv.Itoa(size>>10)+"KiB", func(b *testing.B) {
			h, _ := benchHarness(b, size)
			url := h.URL("b") + "/f" + strconv.Itoa(size)
			c := &http.Client{}
			fetchAll(b, c, url) // warm
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				fetchAll(b, c, url)
			}
		})
	}
}

// BenchmarkServeMiss streams a 256 MiB blob nobody fetched yet from the
// upstream through the store to the client; the blob is forgotten between
// iterations.
func BenchmarkServeMiss(b *testing.B) {
	const size = 256 << 20
	h, _ := benchHarness(b, size)
	url := h.URL("b") + "/f" + strconv.Itoa(size)
	c := &http.Client{}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		fetchAll(b, c, url)
		b.StopTimer()
		for d := range h.blobs() {
			if err := h.store.Remove(d); err != nil {
				b.Fatal(err)
			}
		}
		if err := h.idx.DeleteEntry("b", "f"+strconv.Itoa(size)); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkHandleHit runs the request handler alone (no connection) on a
// 10 KB blob served from memory: the user-space cost of a small hit.
func BenchmarkHandleHit(b *testing.B) {
	const size = 10 << 10
	h, _ := benchHarness(b, size)
	url := h.URL("b") + "/f" + strconv.Itoa(size)
	fetchAll(b, &http.Client{}, url) // stored
	var req fasthttp.Request
	req.SetRequestURI("/b/f" + strconv.Itoa(size))
	req.SetHost("127.0.0.1")
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		h.handler.Handle(&ctx)
		if ctx.Response.StatusCode() != 200 || len(ctx.Response.Body()) != size {
			b.Fatalf("status %d, %d bytes", ctx.Response.StatusCode(), len(ctx.Response.Body()))
		}
	}
}
