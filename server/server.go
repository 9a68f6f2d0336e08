// Package server is lazymirror's HTTP face: it routes a request to a repo
// (by virtual host, by the first path segment, or as a forward proxy by the
// mirror URL), hands the cleaned path to the cache, and serves what comes
// back: a stored blob through http.ServeContent (Range, If-Range, HEAD,
// conditional requests, and sendfile from the *os.File), or a download in
// progress streamed as it arrives.
//
// It is not an open proxy: only configured repos are served, and only from
// their configured mirrors. Admin endpoints (/_/stats, /metrics) answer
// loopback clients, or anyone presenting the configured admin token.
package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"lazymirror/cache"
	"lazymirror/config"
	"lazymirror/store"
	"lazymirror/upstream"
)

// Server serves the repos of one cache over HTTP.
type Server struct {
	cache   *cache.Cache
	cfg     *config.Config
	log     *slog.Logger
	metrics *metrics
	mux     *http.ServeMux
	statsCache
}

// New returns the HTTP handler of lazymirror.
func New(c *cache.Cache, cfg *config.Config, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cache: c, cfg: cfg, log: log, metrics: newMetrics(c), mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /_/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	s.mux.Handle("GET /_/stats", s.admin(http.HandlerFunc(s.stats)))
	s.mux.Handle("POST /_/gc", s.admin(http.HandlerFunc(s.gc)))
	// Go's profiler, for operators chasing a slow path (admin only).
	s.mux.Handle("GET /_/debug/pprof/", s.admin(http.HandlerFunc(pprof.Index)))
	s.mux.Handle("GET /_/debug/pprof/profile", s.admin(http.HandlerFunc(pprof.Profile)))
	s.mux.Handle("GET /metrics", s.admin(promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{})))
	s.mux.HandleFunc("GET /{$}", s.index)
	s.statsCache.maxAge = statsMaxAge
	s.statsCache.idle.L = &s.statsCache.mu
	s.refreshStats() // the first /_/stats need not wait for it
	return s
}

// ServeHTTP routes a request: admin paths, then repos.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	repo, rel, err := s.route(r)
	switch {
	case err != nil:
		s.fail(w, r, "", err)
	case repo == "":
		s.mux.ServeHTTP(w, r)
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	default:
		s.serveRepo(w, r, repo, rel)
	}
}

// errNotProxy refuses a forward-proxy request for a URL no repo mirrors.
var errNotProxy = errors.New("not a configured mirror: lazymirror is not an open proxy")

// route finds the repo and repo-relative path of a request. repo is ""
// for lazymirror's own paths.
func (s *Server) route(r *http.Request) (repo, rel string, err error) {
	// An encoded slash or backslash would let one path name another.
	if esc := strings.ToLower(r.URL.EscapedPath()); strings.Contains(esc, "%2f") || strings.Contains(esc, "%5c") || strings.Contains(esc, "%00") {
		return "", "", fmt.Errorf("encoded separator in %q: %w", r.URL.EscapedPath(), cache.ErrBadPath)
	}
	if r.URL.IsAbs() { // forward proxy: Acquire::http::Proxy, dnf proxy=
		return s.routeProxy(r.URL)
	}
	if rp, ok := s.cfg.RepoForHost(r.Host); ok {
		rel, err := cache.CleanPath(r.URL.Path)
		return rp.Name, rel, err
	}
	p := strings.TrimPrefix(r.URL.Path, "/")
	first, rest, _ := strings.Cut(p, "/")
	if _, ok := s.cfg.Repo(first); !ok {
		if first == "" || first == "_" || first == "metrics" {
			return "", "", nil
		}
		return "", "", fmt.Errorf("%q: %w", first, cache.ErrUnknownRepo)
	}
	rel, err = cache.CleanPath(rest)
	return first, rel, err
}

// routeProxy maps an absolute request URI to the repo that serves its
// host as a virtual host, or one of whose mirrors it names.
func (s *Server) routeProxy(u *url.URL) (string, string, error) {
	if rp, ok := s.cfg.RepoForHost(u.Host); ok {
		rel, err := cache.CleanPath(u.Path)
		return rp.Name, rel, err
	}
	for _, rp := range s.cfg.Repos {
		for _, m := range rp.Mirrors {
			if m.Scheme == u.Scheme && strings.EqualFold(m.Host, u.Host) && strings.HasPrefix(u.Path, m.Path) {
				rel, err := cache.CleanPath(strings.TrimPrefix(u.Path, m.Path))
				return rp.Name, rel, err
			}
		}
	}
	return "", "", fmt.Errorf("%s: %w", u.Redacted(), errNotProxy)
}

// serveRepo serves one repo path.
func (s *Server) serveRepo(w http.ResponseWriter, r *http.Request, repo, rel string) {
	start := time.Now()
	defer s.changed() // hit or miss, served or failed: the figures moved
	req := cache.Request{Repo: repo, Path: rel, Revalidate: wantsRevalidation(r.Header), Client: clientIP(r)}
	o, err := s.cache.Open(r.Context(), req)
	if err != nil {
		s.fail(w, r, repo, err)
		return
	}
	defer o.Close()
	s.metrics.request(repo, o)
	cw := &countingWriter{ResponseWriter: w}
	s.setHeaders(cw, repo, rel, o)
	err = s.serveObject(cw, r, repo, o)
	s.metrics.served(repo, cw.n)
	s.cache.Served(repo, cw.n)
	if err != nil {
		s.log.Warn("response broken off", "repo", repo, "path", rel, "sent", cw.n, "err", err)
		panic(http.ErrAbortHandler) // the client must not take a short body for a whole one
	}
	if s.log.Enabled(r.Context(), slog.LevelDebug) {
		s.log.Debug("served", "repo", repo, "path", rel, "class", o.Class, "hit", o.Hit, "bytes", cw.n, "dur", time.Since(start))
	}
}

// setHeaders sets what every response of an object carries. Packages and
// by-hash files never change; anything else may change at its URL, so
// caches between lazymirror and clients keep it no longer than the repo's
// metadata TTL.
func (s *Server) setHeaders(w http.ResponseWriter, repo, rel string, o *cache.Object) {
	h := w.Header()
	ct := mime.TypeByExtension(path.Ext(rel))
	if ct == "" || o.Class == "package" {
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct)
	if !o.Digest.IsZero() {
		h.Set("ETag", `"`+o.Digest.String()+`"`)
	}
	if o.Class == "package" || strings.Contains(rel, "/by-hash/") {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else if rc, ok := s.cfg.Repo(repo); ok {
		h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(rc.MetadataTTL.Seconds())))
	}
	if o.Hit {
		h.Set("X-Cache", "HIT")
	} else {
		h.Set("X-Cache", "MISS")
	}
}

// serveObject writes the object. A stored blob goes through ServeContent;
// a download in progress is streamed, except for requests that need the
// whole file first (Range, conditionals), which wait for it.
func (s *Server) serveObject(w http.ResponseWriter, r *http.Request, repo string, o *cache.Object) error {
	if o.File() == nil && r.Method == http.MethodHead && o.Size >= 0 && !o.Digest.IsZero() {
		w.Header().Set("Content-Length", strconv.FormatInt(o.Size, 10))
		return nil
	}
	if o.File() == nil && (r.Header.Get("Range") != "" || r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Modified-Since") != "" || r.Method == http.MethodHead) {
		if err := o.Wait(r.Context()); err != nil {
			s.fail(w, r, repo, err)
			return nil
		}
	}
	if f := o.File(); f != nil {
		defer cork(r)()
		http.ServeContent(w, r, "", o.ModTime, f)
		return nil
	}
	return s.stream(w, r, repo, o)
}

// stream sends a download as it arrives. Nothing is sent before the first
// buffer is full (or the blob ends): an attempt that fails before that is
// not the client's problem, which follows the next attempt instead. Once
// bytes are sent, a failure breaks the response off.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, repo string, o *cache.Object) error {
	ctx := r.Context()
	buf := make([]byte, 64<<10)
	for tries := 0; ; tries++ {
		rd, err := o.Follow(ctx)
		if err != nil {
			s.fail(w, r, repo, err)
			return nil
		}
		n, err := io.ReadFull(rd, buf)
		whole := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) // the blob fits in buf
		if err != nil && !whole {
			rd.Close()
			if ctx.Err() == nil && tries < 8 {
				continue // that attempt failed before any byte was sent: follow the next
			}
			s.fail(w, r, repo, err)
			return nil
		}
		defer rd.Close()
		size := o.Size
		if sz, ok := rd.(interface{ Size() int64 }); ok && size < 0 {
			size = sz.Size() // the mirror's Content-Length, which the download must match
		}
		if size >= 0 {
			w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		}
		w.WriteHeader(http.StatusOK)
		if _, werr := w.Write(buf[:n]); werr != nil || whole {
			return nil // all sent, or the client left (the download goes on for the others)
		}
		_, err = io.CopyBuffer(w, rd, buf)
		return err
	}
}

// fail answers an error with a status and a generic message; the error
// itself goes to the log, never to the client.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, repo string, err error) {
	code := status(err)
	lvl := slog.LevelInfo
	if code >= 500 {
		lvl = slog.LevelWarn
	}
	if code != 499 {
		s.log.Log(r.Context(), lvl, "request failed", "repo", repo, "path", r.URL.Path, "status", code, "err", err)
		http.Error(w, http.StatusText(code), code)
	}
	s.metrics.failed(repo, code)
}

// status maps an error to an HTTP status, in one place.
func status(err error) int {
	switch {
	case errors.Is(err, cache.ErrBadPath):
		return http.StatusBadRequest
	case errors.Is(err, errNotProxy):
		return http.StatusForbidden
	case errors.Is(err, cache.ErrUnknownRepo), errors.Is(err, cache.ErrNotFound), errors.Is(err, upstream.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, context.Canceled):
		return 499 // the client left; nothing is written
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, upstream.ErrStalled):
		return http.StatusGatewayTimeout
	case errors.Is(err, cache.ErrUpstream), errors.Is(err, store.ErrDigestMismatch), errors.Is(err, store.ErrSizeMismatch):
		return http.StatusBadGateway
	}
	return http.StatusInternalServerError
}

// wantsRevalidation reports whether a client asked for fresh metadata
// (apt sends Cache-Control: max-age=0 on update; others no-cache).
func wantsRevalidation(h http.Header) bool {
	for _, v := range h.Values("Cache-Control") {
		for d := range strings.SplitSeq(v, ",") {
			d = strings.ToLower(strings.TrimSpace(d))
			if d == "no-cache" || d == "max-age=0" {
				return true
			}
		}
	}
	return strings.EqualFold(h.Get("Pragma"), "no-cache")
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// admin lets loopback clients through, and others with the admin token.
func (s *Server) admin(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ip := net.ParseIP(clientIP(r)); ip != nil && ip.IsLoopback() {
			h.ServeHTTP(w, r)
			return
		}
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if s.cfg.AdminToken != "" && ok && subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.AdminToken)) == 1 {
			h.ServeHTTP(w, r)
			return
		}
		http.Error(w, "admin endpoints answer loopback clients or the admin token", http.StatusForbidden)
	})
}

// countingWriter counts body bytes while keeping the ResponseWriter's
// io.ReaderFrom, so ServeContent still reaches sendfile.
type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

func (c *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	rf, ok := c.ResponseWriter.(io.ReaderFrom)
	if !ok { // a wrapper between net/http and this handler hides it
		return io.Copy(struct{ io.Writer }{c}, r)
	}
	n, err := rf.ReadFrom(r)
	c.n += n
	return n, err
}

// Unwrap lets http.ResponseController reach the real writer.
func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
