package prefetch

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"

	"lazymirror/config"
	"lazymirror/internal/fixture"
	"lazymirror/pkgspec"
	"lazymirror/server"
)

// TestHTTPFetch: through a running lazymirror, a prefetch has the packages
// downloaded and verified while only their first bytes cross the
// connection; the sizes come from Content-Range, a second run reports
// hits, and a client then gets every package with no upstream fetch.
func TestHTTPFetch(t *testing.T) {
	fixture.Require(t, "dpkg-deb", "apt-ftparchive", "gpg")
	debs := []fixture.Deb{
		{Name: "a-lm", Version: "1.0", Arch: "amd64", Size: 300 << 10},
		{Name: "b-lm", Version: "1.0", Arch: "all", Size: 200 << 10},
	}
	arc := t.TempDir()
	fixture.AptRepo(t, arc, nil, "amd64", fixture.Suite{Name: "stable", Debs: debs})
	m := fixture.NewMirror(t, arc, "/debian/")
	yaml := "repos:\n  debian: {type: deb, mirrors: [" + m.URL() + "]}\n"
	c := newCache(t, t.TempDir(), yaml)
	cfg, err := config.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	h := server.New(c, cfg, nil)
	t.Cleanup(h.Close)
	var sent atomic.Int64 // body bytes lazymirror answered with for packages
	srv := h.HTTPServer()
	srv.Handler = countBodies(h.Handle, &sent, "/debian/pool/")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })

	specs, errs := pkgspec.Parse(strings.NewReader("a-lm\nb-lm\n"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	g := HTTPGetter{Base: "http://" + ln.Addr().String(), Repo: "debian"}
	opts := Options{Kind: pkgspec.Deb, Roots: []string{"stable"}, Arches: []string{"amd64", "all"}, Jobs: 2}
	res, err := Run(context.Background(), g, specs, opts)
	if err != nil {
		t.Fatal(err)
	}
	var want int64
	for _, d := range debs {
		fi, err := os.Stat(filepath.Join(arc, d.Pool()))
		if err != nil {
			t.Fatal(err)
		}
		want += fi.Size()
	}
	if len(res.Fetched) != 2 || res.Bytes != want || len(res.Failed) > 0 {
		t.Fatalf("first run: fetched %v, %d bytes (want 2, %d), failed %v", names(res.Fetched), res.Bytes, want, res.Failed)
	}
	if n := sent.Load(); n != int64(len(debs)) {
		t.Errorf("lazymirror sent %d package bytes to the prefetch, want one a package", n)
	}
	res, err = Run(context.Background(), g, specs, opts)
	if err != nil || len(res.Cached) != 2 {
		t.Fatalf("second run: %v, cached %v", err, names(res.Cached))
	}
	isPool := func(rel string) bool { return strings.HasPrefix(rel, "pool/") }
	before := m.Total(isPool)
	for _, d := range debs {
		body, hit, err := g.Get(context.Background(), d.Pool())
		if err != nil || !hit {
			t.Fatalf("%s after prefetch: hit %v, %v", d.Pool(), hit, err)
		}
		body.Close()
	}
	if got := m.Total(isPool); got != before {
		t.Errorf("%d upstream package fetches after the prefetch, want 0", got-before)
	}
}

// countBodies adds up the body lengths h answers with for paths under
// prefix.
func countBodies(h fasthttp.RequestHandler, n *atomic.Int64, prefix string) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		h(ctx)
		switch {
		case !strings.HasPrefix(string(ctx.Path()), prefix):
		case ctx.Response.IsBodyStream():
			n.Add(int64(ctx.Response.Header.ContentLength()))
		default:
			n.Add(int64(len(ctx.Response.Body())))
		}
	}
}
