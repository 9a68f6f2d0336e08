package server_test

import (
	"net/http/httptest"
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
		r := httptest.NewRequest(tt.method, tt.path, nil)
		r.RemoteAddr = tt.remote
		if tt.auth != "" {
			r.Header.Set("Authorization", tt.auth)
		}
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		if w.Code != tt.code {
			t.Errorf("%s %s from %s (%q): %d, want %d", tt.method, tt.path, tt.remote, tt.auth, w.Code, tt.code)
		}
	}
}
