package server_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawDo sends a request exactly as given (request line, headers, no
// client-side cleaning) and returns the response's status and body.
func rawDo(t *testing.T, addr, req string) (int, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%.60q: %v", req, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%.60q: body: %v", req, err)
	}
	return resp.StatusCode, body
}

// TestClientPathErrors: a path no mirror can be asked for is the client's
// error (400), answered without trying the mirrors, never a 502 that
// reports the mirrors broken (and logs a warning per request).
func TestClientPathErrors(t *testing.T) {
	up := filesMirror(t, map[string][]byte{"a.txt": []byte("a\n")})
	h := newHarness(t, yamlRepos("files: {type: deb, mirrors: ["+up.URL()+"]}"))
	addr := strings.TrimPrefix(h.base, "http://")
	for _, target := range []string{
		"/files/x%ff.txt",           // invalid UTF-8
		"/files/%c0%ae%c0%ae/a.txt", // overlong "..": invalid UTF-8
		"/files/sub/",               // a directory
		"/files/",                   // the repo's top
		"/files",
	} {
		if code, _ := rawGet(t, addr, target, addr); code != http.StatusBadRequest {
			t.Errorf("GET %s: %d, want 400", target, code)
		}
	}
	if log := up.Log(); len(log) > 0 {
		t.Errorf("the mirror was asked for %q", log)
	}
	if code, body := rawGet(t, addr, "/files/a.txt", addr); code != 200 || string(body) != "a\n" {
		t.Errorf("GET /files/a.txt after them: %d %q", code, body)
	}
}

// TestProxyEncodedSlash: an encoded slash is refused in a forward-proxy
// request as in a plain one, whatever else the path holds (a '"', '|' or
// UTF-8 byte made url.URL re-escape the decoded path, "%2f" turning "/").
func TestProxyEncodedSlash(t *testing.T) {
	up := filesMirror(t, map[string][]byte{"a.txt": []byte("a\n")})
	h := newHarness(t, yamlRepos("files: {type: deb, mirrors: ["+up.URL()+"]}"))
	addr := strings.TrimPrefix(h.base, "http://")
	mirror := strings.TrimSuffix(up.URL(), "/")
	for _, target := range []string{
		mirror + "/sub%2fdir/a.txt",
		mirror + "/sub%2fdir/a\"b.txt",
		mirror + "/sub%2Fdir/a|b.txt",
		mirror + "/sub%2fdir/\xc3\xa9.txt",
		mirror + "/sub%5cdir/a\"b.txt",
	} {
		if code, _ := rawGet(t, addr, target, addr); code != http.StatusBadRequest {
			t.Errorf("GET %s: %d, want 400", target, code)
		}
	}
	if log := up.Log(); len(log) > 0 {
		t.Errorf("the mirror was asked for %q", log)
	}
}

// TestAdminFromBrowser: a web page in a browser on the server's own host
// connects from loopback, but drives no admin endpoint: not by posting a
// form to /_/gc (CSRF), nor by reading /_/stats, /metrics or the profiles
// under its own host name pointed at 127.0.0.1 (DNS rebinding). Local
// tools (curl, Prometheus) and token holders still get through.
func TestAdminFromBrowser(t *testing.T) {
	up := filesMirror(t, map[string][]byte{"a.txt": []byte("a\n")})
	h := newHarness(t, "admin_token: s3cret\n"+strings.TrimPrefix(yamlRepos("files: {type: deb, mirrors: ["+up.URL()+"]}"), "listen: 127.0.0.1:0\n"))
	addr := strings.TrimPrefix(h.base, "http://")
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	rebind := "rebind.attacker.example:" + port
	gc := "POST /_/gc?dry_run=1 HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 0\r\n"
	get := func(path string) string { return "GET " + path + " HTTP/1.1\r\n" }
	tests := []struct {
		name, req, host, hdr string
		code                 int
	}{
		{"cross-site form post", gc, addr, "Origin: http://attacker.example\r\nSec-Fetch-Site: cross-site\r\n", 403},
		{"cross-site form post, older browser", gc, addr, "Origin: http://attacker.example\r\n", 403},
		{"rebound page reads stats", get("/_/stats"), rebind, "", 403},
		{"rebound page reads metrics", get("/metrics"), rebind, "", 403},
		{"rebound page reads a profile", get("/_/debug/pprof/goroutine?debug=1"), rebind, "", 403},
		{"rebound page posts gc", gc, rebind, "Origin: http://" + rebind + "\r\nSec-Fetch-Site: same-origin\r\n", 403},
		{"curl posts gc", gc, addr, "", 200},
		{"same-origin post", gc, addr, "Origin: http://" + addr + "\r\nSec-Fetch-Site: same-origin\r\n", 200},
		{"stats by address", get("/_/stats"), addr, "", 200},
		{"stats by IPv6 address", get("/_/stats"), "[::1]:" + port, "", 200},
		{"stats as localhost", get("/_/stats"), "localhost:" + port, "", 200},
		{"metrics as localhost", get("/metrics"), "LOCALHOST", "", 200},
		{"token under any name", get("/_/stats"), rebind, "Authorization: Bearer s3cret\r\n", 200},
		{"health under any name", get("/_/healthz"), rebind, "", 200},
	}
	for _, tt := range tests {
		req := tt.req + "Host: " + tt.host + "\r\n" + tt.hdr + "Connection: close\r\n\r\n"
		if code, body := rawDo(t, addr, req); code != tt.code {
			t.Errorf("%s: %d %.60q, want %d", tt.name, code, body, tt.code)
		}
	}
}
