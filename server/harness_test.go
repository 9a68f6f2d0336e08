package server_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"lazymirror/cache"
	"lazymirror/checksum"
	"lazymirror/config"
	"lazymirror/index"
	"lazymirror/internal/fixture"
	"lazymirror/server"
	"lazymirror/store"
)

// harness runs a real lazymirror (store, index, cache, HTTP server) on
// 127.0.0.1 for one test.
type harness struct {
	t       testing.TB
	cfg     *config.Config
	store   *store.Store
	idx     *index.DB
	cache   *cache.Cache
	srv     *fasthttp.Server
	base    string // "http://127.0.0.1:N"
	handler *server.Server
	dir     string
	// wrapLog, when set, wraps the log handler lazymirror logs to (a test
	// watching for a record).
	wrapLog func(slog.Handler) slog.Handler
}

// newHarness starts lazymirror with a YAML configuration (the real parser).
// The listen address in the YAML is ignored: the harness picks a port.
func newHarness(t testing.TB, yaml string) *harness {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	h := &harness{t: t, cfg: cfg, dir: t.TempDir()}
	h.start()
	return h
}

func (h *harness) start() {
	t := h.t
	var err error
	if h.store, err = store.Open(h.dir); err != nil {
		t.Fatal(err)
	}
	if h.idx, err = index.Open(filepath.Join(h.dir, "index.db"), index.Options{Timeout: time.Second}); err != nil {
		t.Fatal(err)
	}
	var lh slog.Handler = slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})
	if h.wrapLog != nil {
		lh = h.wrapLog(lh)
	}
	log := slog.New(lh)
	h.cache, err = cache.New(context.Background(), cache.Options{Store: h.store, Index: h.idx, Config: h.cfg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	h.handler = server.New(h.cache, h.cfg, log)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.srv, h.base = h.handler.HTTPServer(), "http://"+ln.Addr().String()
	go h.srv.Serve(ln)
	t.Cleanup(h.stop)
}

// stop shuts lazymirror down (idempotent).
func (h *harness) stop() {
	if h.srv == nil {
		return
	}
	if err := h.srv.Shutdown(); err != nil {
		h.t.Errorf("shutdown: %v", err)
	}
	h.handler.Close()
	h.cache.Close(context.Background())
	h.idx.Close()
	h.store.Close()
	h.srv = nil
}

// restart stops lazymirror and starts it again on the same data.
func (h *harness) restart() {
	h.stop()
	h.start()
}

// URL returns lazymirror's base URL for a repo ("http://127.0.0.1:N/<repo>").
func (h *harness) URL(repo string) string { return h.base + "/" + repo }

// get fetches a URL through lazymirror and returns status, body and headers.
func (h *harness) get(url string, hdr map[string]string) (int, []byte, http.Header) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("GET %s: body: %v", url, err)
	}
	return resp.StatusCode, body, resp.Header
}

// getOK is get for a request that must succeed: any status but 200 fails
// the test. It returns the body.
func (h *harness) getOK(url string, hdr map[string]string) []byte {
	h.t.Helper()
	code, body, _ := h.get(url, hdr)
	if code != http.StatusOK {
		h.t.Fatalf("GET %s: status %d", url, code)
	}
	return body
}

// blobs returns the digests in the store.
func (h *harness) blobs() map[checksum.Digest]int64 {
	h.t.Helper()
	out := make(map[checksum.Digest]int64)
	err := h.store.Walk(context.Background(), func(d checksum.Digest, size int64) error {
		out[d] = size
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

// hasBlob reports whether the store holds the bytes of a file.
func hasBlob(t *testing.T, blobs map[checksum.Digest]int64, file string) bool {
	t.Helper()
	return blobs[digestOf(t, file)] > 0
}

func digestOf(t *testing.T, file string) checksum.Digest {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := checksum.SHA256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	var d checksum.Digest
	copy(d[:], h.Sum(nil))
	return d
}

// sameFile fails the test unless two files have the same bytes.
func sameFile(t *testing.T, got, want string) {
	t.Helper()
	if digestOf(t, got) != digestOf(t, want) {
		t.Errorf("%s differs from %s", got, want)
	}
}

// testWriter sends logs to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// yamlRepos renders a config with the given repo lines.
func yamlRepos(lines ...string) string {
	return fmt.Sprintf("listen: 127.0.0.1:0\nupstream:\n  breaker_failures: 2\n  breaker_cooldown: 1h\nrepos:\n%s\n", "  "+strings.Join(lines, "\n  "))
}

// httpGet returns a URL's body, or an error for any status but 200.
func httpGet(url string) ([]byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, err
}

// digestBytes is the sha256 of b.
func digestBytes(b []byte) checksum.Digest { return checksum.Digest(sha256.Sum256(b)) }

// fileBytes is deterministic content of n bytes that differs by seed.
func fileBytes(seed, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + i>>8 + seed*101)
	}
	return b
}

// filesMirror serves files (name -> bytes) from a fresh tree under /up/.
// A repo with no suites mirrors it: the paths are cached by URL.
func filesMirror(t testing.TB, files map[string][]byte) *fixture.Mirror {
	t.Helper()
	dir := t.TempDir()
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return fixture.NewMirror(t, dir, "/up/")
}
