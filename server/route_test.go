package server_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rawGet sends a request line exactly as given (no client-side cleaning)
// and returns the status code and body.
func rawGet(t *testing.T, addr, target, host string) (int, []byte) {
	t.Helper()
	return rawDo(t, addr, fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target, host))
}

// TestRouting: the same package by path prefix, by virtual host, and as a
// forward proxy (absolute URI naming a configured mirror) — with '+' sent as
// "%2b" and as '+'; hostile and unconfigured requests are refused.
func TestRouting(t *testing.T) {
	arc := newAptArchive(t)
	h := newHarness(t, yamlRepos("debian: {type: deb, mirrors: ["+arc.a.URL()+"], hosts: [debian-mirror.lan], suites: [stable]}"))
	addr := strings.TrimPrefix(h.base, "http://")
	plus := arc.stable[1].Pool() // plus-lm_1.0+dfsg-1~bpo12+1_amd64.deb
	want, err := os.ReadFile(filepath.Join(arc.dir, plus))
	if err != nil {
		t.Fatal(err)
	}
	escaped := strings.NewReplacer("+", "%2b", "~", "%7e").Replace(plus)
	mirror := strings.TrimSuffix(arc.a.URL(), "/")
	ok := []struct{ name, target, host string }{
		{"path", "/debian/" + plus, addr},
		{"path, %2b", "/debian/" + escaped, addr},
		{"virtual host", "/" + plus, "debian-mirror.lan"},
		{"virtual host with port", "/" + escaped, "debian-mirror.lan:8080"},
		{"forward proxy to the mirror", mirror + "/" + escaped, addr},
		{"forward proxy to the virtual host", "http://debian-mirror.lan/" + plus, "debian-mirror.lan"},
	}
	for _, tt := range ok {
		if code, body := rawGet(t, addr, tt.target, tt.host); code != 200 || !bytes.Equal(body, want) {
			t.Errorf("%s: %s → status %d, %d bytes; want 200 and the package", tt.name, tt.target, code, len(body))
		}
	}
	if n := arc.a.Requests(plus); n != 1 {
		t.Errorf("upstream requests for the package = %d, want 1 (all spellings are one path)", n)
	}
	refused := []struct {
		name, target, host string
		code               int
	}{
		{"dot-dot", "/debian/pool/../dists/stable/InRelease", addr, 400},
		{"encoded dot-dot", "/debian/pool/%2e%2e/dists/stable/InRelease", addr, 400},
		{"encoded slash", "/debian/pool%2fmain/x.deb", addr, 400},
		{"NUL", "/debian/pool/a%00.deb", addr, 400},
		{"empty segment", "/debian/pool//main/x.deb", addr, 400},
		{"unknown repo", "/nosuch/pool/x.deb", addr, 404},
		{"open proxy", "http://example.invalid/debian/pool/x.deb", addr, 403},
		{"other port of the mirror host", "http://" + addr + "/debian/x", addr, 403},
	}
	for _, tt := range refused {
		if got, _ := rawGet(t, addr, tt.target, tt.host); got != tt.code {
			t.Errorf("%s: %s → %d, want %d", tt.name, tt.target, got, tt.code)
		}
	}
}
