package server_test

import (
	"net"
	"strings"

	"github.com/valyala/fasthttp"
	"testing"

	"lazymirror/server"
)

// TestAdminAccess: admin endpoints answer loopback clients, and others only
// with the admin token; repo paths and the health check answer anyone.
func TestAdminAccess(t *testing.T) {
	h := newHarness(t, "admin_token: s3cret\n"+yamlRepos("debian: {type: deb, mirrors: [http://127.0.0.1:1/debian/]}")[len("listen: 127.0.0.1:0\n"):])
	srv := server.New(h.cache, h.cfg, nil)
	defer srv.Close()
	tests := []struct {
		method, path, remote, auth string
		code                       int
	}{
		{"GET", "/_/stats", "127.0.0.1:5000", "", 200},
		{"GET", "/_/stats", "[::1]:5000", "", 200},
		{"GET", "/_/stats", "192.0.2.7:5000", "", 403},
		{"GET", "/_/stats", "192.0.2.7:5000", "Bearer wrong", 403},
		{"GET", "/_/stats", "192.0.2.7:5000", "Bearer s3cret", 200},
		{"GET", "/metrics", "192.0.2.7:5000", "", 403},
		{"GET", "/metrics", "127.0.0.1:5000", "", 200},
		{"POST", "/_/gc?dry_run=1", "192.0.2.7:5000", "", 403},
		{"POST", "/_/gc?dry_run=1", "127.0.0.1:5000", "", 200},
		{"GET", "/_/debug/pprof/", "192.0.2.7:5000", "", 403},
		{"GET", "/_/healthz", "192.0.2.7:5000", "", 200},
		{"POST", "/debian/pool/x.deb", "192.0.2.7:5000", "", 405},
	}
	for _, tt := range tests {
		var req fasthttp.Request
		req.Header.SetMethod(tt.method)
		req.SetRequestURI(tt.path)
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		remote, err := net.ResolveTCPAddr("tcp", tt.remote)
		if err != nil {
			t.Fatal(err)
		}
		var ctx fasthttp.RequestCtx
		ctx.Init(&req, remote, nil)
		srv.Handle(&ctx)
		if code := ctx.Response.StatusCode(); code != tt.code {
			t.Errorf("%s %s from %s (%q): %d, want %d", tt.method, tt.path, tt.remote, tt.auth, code, tt.code)
		}
	}
}

// TestProfiles: the profiler's index, and each profile it links to, answer
// under /_/debug/pprof/ (pprof.Index alone serves them only under
// /debug/pprof/).
func TestProfiles(t *testing.T) {
	h := newHarness(t, yamlRepos("debian: {type: deb, mirrors: [http://127.0.0.1:1/debian/]}"))
	for path, want := range map[string]string{
		"/_/debug/pprof/":                     "goroutine",
		"/_/debug/pprof/goroutine?debug=1":    "goroutine profile:",
		"/_/debug/pprof/heap?debug=1":         "heap profile:",
		"/_/debug/pprof/allocs?debug=1":       "heap profile:",
		"/_/debug/pprof/threadcreate?debug=1": "threadcreate profile:",
	} {
		code, body, _ := h.get(h.base+path, nil)
		if code != 200 || !strings.Contains(string(body), want) {
			t.Errorf("%s: %d, %.60q; want 200 with %q", path, code, body, want)
		}
	}
	if code, _, _ := h.get(h.base+"/_/debug/pprof/nosuch", nil); code != 404 {
		t.Errorf("an unknown profile: %d, want 404", code)
	}
}
