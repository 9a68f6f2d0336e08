package server_test

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRangesAndConditionals checks Range (single, suffix, multi), If-Range,
// HEAD and conditional requests, against a blob already stored and against
// one not yet fetched, byte for byte against the package file.
func TestRangesAndConditionals(t *testing.T) {
	arc := newAptArchive(t)
	pool := arc.stable[2].Pool() // libbig-lm, 3 MiB
	want, err := os.ReadFile(filepath.Join(arc.dir, pool))
	if err != nil {
		t.Fatal(err)
	}
	etag := `"` + digestOf(t, filepath.Join(arc.dir, pool)).String() + `"`
	n := len(want)
	future := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	type part struct{ lo, hi int } // inclusive
	tests := []struct {
		name   string
		method string
		hdr    map[string]string
		code   int
		parts  []part // expected ranges; nil: the whole file (or nothing for 304/HEAD)
		// cachedOnly: an uncached blob has no modification time a client could know.
		cachedOnly bool
	}{
		{"full", "GET", nil, 200, nil, false},
		{"single range", "GET", map[string]string{"Range": "bytes=100-199"}, 206, []part{{100, 199}}, false},
		{"open range", "GET", map[string]string{"Range": fmt.Sprintf("bytes=%d-", n-1000)}, 206, []part{{n - 1000, n - 1}}, false},
		{"suffix range", "GET", map[string]string{"Range": "bytes=-500"}, 206, []part{{n - 500, n - 1}}, false},
		{"multi range", "GET", map[string]string{"Range": "bytes=0-9,1000-1099,2000000-2000099"}, 206, []part{{0, 9}, {1000, 1099}, {2000000, 2000099}}, false},
		{"unsatisfiable", "GET", map[string]string{"Range": fmt.Sprintf("bytes=%d-", n+10)}, 416, nil, false},
		{"head", "HEAD", nil, 200, nil, false},
		{"if-none-match hit", "GET", map[string]string{"If-None-Match": etag}, 304, nil, false},
		{"if-none-match miss", "GET", map[string]string{"If-None-Match": `"nope"`}, 200, nil, false},
		{"if-range match", "GET", map[string]string{"Range": "bytes=5-9", "If-Range": etag}, 206, []part{{5, 9}}, false},
		{"if-range stale", "GET", map[string]string{"Range": "bytes=5-9", "If-Range": `"old"`}, 200, nil, false},
		{"if-modified-since", "GET", map[string]string{"If-Modified-Since": future}, 304, nil, true},
	}
	check := func(t *testing.T, h *harness, method string, hdr map[string]string, code int, parts []part) {
		req, _ := http.NewRequest(method, h.URL("debian")+"/"+pool, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != code {
			t.Fatalf("status %d, want %d", resp.StatusCode, code)
		}
		if code == 200 && resp.Header.Get("ETag") != etag {
			t.Errorf("ETag %q, want %q", resp.Header.Get("ETag"), etag)
		}
		switch {
		case code == 200 && method == "HEAD":
			if resp.ContentLength != int64(n) || len(body) != 0 {
				t.Errorf("HEAD: Content-Length %d, body %d bytes", resp.ContentLength, len(body))
			}
		case code == 200:
			if !bytes.Equal(body, want) {
				t.Errorf("body: %d bytes, not the package", len(body))
			}
		case code == 206 && len(parts) == 1:
			p := parts[0]
			if !bytes.Equal(body, want[p.lo:p.hi+1]) {
				t.Errorf("range body differs")
			}
			if cr := fmt.Sprintf("bytes %d-%d/%d", p.lo, p.hi, n); resp.Header.Get("Content-Range") != cr {
				t.Errorf("Content-Range %q, want %q", resp.Header.Get("Content-Range"), cr)
			}
		case code == 206:
			mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
			if err != nil || mt != "multipart/byteranges" {
				t.Fatalf("Content-Type %q", resp.Header.Get("Content-Type"))
			}
			mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
			for i, p := range parts {
				pt, err := mr.NextPart()
				if err != nil {
					t.Fatalf("part %d: %v", i, err)
				}
				got, _ := io.ReadAll(pt)
				if cr := fmt.Sprintf("bytes %d-%d/%d", p.lo, p.hi, n); pt.Header.Get("Content-Range") != cr || !bytes.Equal(got, want[p.lo:p.hi+1]) {
					t.Errorf("part %d: %q, %d bytes", i, pt.Header.Get("Content-Range"), len(got))
				}
			}
			if _, err := mr.NextPart(); err != io.EOF {
				t.Errorf("more parts than asked for")
			}
		}
	}
	repo := "debian: {type: deb, mirrors: [" + arc.a.URL() + "], suites: [stable]}"
	cached := newHarness(t, yamlRepos(repo))
	if code, _, _ := cached.get(cached.URL("debian")+"/"+pool, nil); code != 200 {
		t.Fatalf("warming the cache: %d", code)
	}
	for _, tt := range tests {
		t.Run("cached/"+tt.name, func(t *testing.T) { check(t, cached, tt.method, tt.hdr, tt.code, tt.parts) })
		if !tt.cachedOnly {
			t.Run("uncached/"+tt.name, func(t *testing.T) { check(t, newHarness(t, yamlRepos(repo)), tt.method, tt.hdr, tt.code, tt.parts) })
		}
	}
}
