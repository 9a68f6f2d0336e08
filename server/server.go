// Package server is lazymirror's HTTP face: it routes a request to a repo
// (by virtual host, by the first path segment, or as a forward proxy by the
// mirror URL), hands the cleaned path to the cache, and serves what comes
// back: a stored blob (Range, If-Range, HEAD, conditional requests; a
// small one from memory with its headers in one send, a large one by
// sendfile), or a download in progress streamed as it arrives.
//
// It speaks HTTP/1.1 through fasthttp rather than net/http: a hit on a
// small package is mostly the HTTP server's own work, and fasthttp's is a
// fraction of net/http's (README, Performance). lazymirror's own pages
// (admin endpoints, the status page) stay net/http handlers, adapted.
//
// It is not an open proxy: only configured repos are served, and only from
// their configured mirrors. Admin endpoints (/_/stats, /metrics) answer
// loopback clients, or anyone presenting the configured admin token.
package server

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

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
	// pages serves lazymirror's own paths (admin endpoints, the status
	// page): net/http handlers, through fasthttpadaptor. None of them is
	// on the hot path, and all answer small bodies.
	pages fasthttp.RequestHandler
	// ctx is what cache work of requests runs under: a fasthttp request's
	// own context must not outlive its handler, and a response body is
	// read after the handler returns. Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc
	statsCache
}

// New returns lazymirror's HTTP handler; HTTPServer wraps it in a server.
func New(c *cache.Cache, cfg *config.Config, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cache: c, cfg: cfg, log: log, metrics: newMetrics(c)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.Handle("GET /_/stats", s.admin(http.HandlerFunc(s.stats)))
	mux.Handle("POST /_/gc", s.admin(http.HandlerFunc(s.gc)))
	mux.Handle("POST /_/evict", s.admin(http.HandlerFunc(s.evict)))
	// Go's profiler, for operators chasing a slow path (admin only).
	mux.Handle("GET /_/debug/pprof/", s.admin(http.HandlerFunc(pprof.Index)))
	mux.Handle("GET /_/debug/pprof/profile", s.admin(http.HandlerFunc(pprof.Profile)))
	// pprof.Index serves the named profiles only under /debug/pprof/.
	mux.Handle("GET /_/debug/pprof/{name}", s.admin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pprof.Handler(r.PathValue("name")).ServeHTTP(w, r)
	})))
	mux.Handle("GET /metrics", s.admin(promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{})))
	mux.HandleFunc("GET /{$}", s.index)
	s.pages = fasthttpadaptor.NewFastHTTPHandler(mux)
	s.statsCache.maxAge = statsMaxAge
	s.statsCache.idle.L = &s.statsCache.mu
	s.refreshStats() // the first /_/stats need not wait for it
	return s
}

// HTTPServer returns the HTTP/1.1 server (fasthttp) for the handler.
func (s *Server) HTTPServer() *fasthttp.Server {
	srv := &fasthttp.Server{
		Handler: s.Handle,
		Name:    "lazymirror",
		// Room for dnf's multi-range requests (up to 256 ranges in one
		// Range header) and for a small package with its headers, so
		// that one goes out in a single send.
		ReadBufferSize:        16 << 10,
		WriteBufferSize:       inlineMax + 4<<10,
		ReadTimeout:           30 * time.Second,
		IdleTimeout:           2 * time.Minute,
		SecureErrorLogMessage: true,
		Logger:                slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		CloseOnShutdown:       true,
		// An idle keep-alive connection gives its buffers back (bounded
		// memory however many clients hold connections; no cost measured).
		ReduceMemoryUsage: true,
	}
	// No WriteTimeout: it would bound a whole response, and a slow link
	// may rightly take an hour over an ISO. A client that stops reading
	// (a hung VM, a stopped process) is dropped by the kernel instead,
	// once it accepts no byte for StallTimeout; the blocked write then
	// fails and the response lets go of its blob and fd. Set once per
	// connection, as it is accepted: a hit pays nothing for it.
	if d := s.cfg.StallTimeout; d > 0 {
		var warned sync.Once
		srv.ConnState = func(c net.Conn, state fasthttp.ConnState) {
			if state != fasthttp.StateNew {
				return
			}
			if err := setStallTimeout(c, d); err != nil {
				warned.Do(func() { s.log.Warn("stall_timeout not applied: stalled clients keep their connections", "err", err) })
			}
		}
	}
	return srv
}

// Handle serves one request: lazymirror's own paths, then repos.
func (s *Server) Handle(ctx *fasthttp.RequestCtx) {
	repo, rel, err := s.route(ctx)
	switch {
	case err != nil:
		s.fail(ctx, "", err)
	case repo == "":
		s.pages(ctx)
	case !ctx.IsGet() && !ctx.IsHead():
		ctx.Response.Header.Set("Allow", "GET, HEAD")
		ctx.Error("method not allowed", fasthttp.StatusMethodNotAllowed)
	default:
		s.serveRepo(ctx, repo, rel)
	}
}

// errNotProxy refuses a forward-proxy request for a URL no repo mirrors.
var errNotProxy = errors.New("not a configured mirror: lazymirror is not an open proxy")

// route finds the repo and repo-relative path of a request. repo is ""
// for lazymirror's own paths.
func (s *Server) route(ctx *fasthttp.RequestCtx) (repo, rel string, err error) {
	// The request target as sent (fasthttp's Path is normalized: a path
	// with ".." must be refused, not resolved to another).
	target := string(ctx.Request.Header.RequestURI())
	// Escapes are checked as sent, in either form: url.URL.EscapedPath
	// re-escapes the decoded path when the raw one holds a byte it would
	// have escaped ('"', '|', UTF-8), turning a "%2f" into a plain "/".
	esc, _, _ := strings.Cut(target, "?")
	if err := checkEscapes(esc); err != nil {
		return "", "", err
	}
	if !strings.HasPrefix(target, "/") { // absolute form: a forward proxy's client (Acquire::http::Proxy, dnf proxy=)
		u, err := url.ParseRequestURI(target)
		if err != nil || !u.IsAbs() {
			return "", "", fmt.Errorf("request target %q: %w", target, cache.ErrBadPath)
		}
		return s.routeProxy(u)
	}
	p, err := url.PathUnescape(esc)
	if err != nil {
		return "", "", fmt.Errorf("path %q: %w", esc, cache.ErrBadPath)
	}
	if rp, ok := s.cfg.RepoForHost(string(ctx.Request.Header.Host())); ok {
		rel, err := cache.CleanPath(p)
		return rp.Name, rel, err
	}
	first, rest, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
	if _, ok := s.cfg.Repo(first); !ok {
		if first == "" || first == "_" || first == "metrics" {
			return "", "", nil
		}
		return "", "", fmt.Errorf("%q: %w", first, cache.ErrUnknownRepo)
	}
	rel, err = cache.CleanPath(rest)
	return first, rel, err
}

// checkEscapes refuses an escaped path with an encoded slash, backslash
// or NUL, which would let one path name another.
func checkEscapes(esc string) error {
	for rest := esc; ; {
		i := strings.IndexByte(rest, '%')
		if i < 0 || i+3 > len(rest) {
			return nil
		}
		switch strings.ToLower(rest[i+1 : i+3]) {
		case "2f", "5c", "00":
			return fmt.Errorf("encoded separator in %q: %w", esc, cache.ErrBadPath)
		}
		rest = rest[i+1:]
	}
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
func (s *Server) serveRepo(ctx *fasthttp.RequestCtx, repo, rel string) {
	start := time.Now()
	client, _ := netip.AddrFromSlice(ctx.RemoteIP())
	req := cache.Request{Repo: repo, Path: rel, Revalidate: wantsRevalidation(&ctx.Request.Header), Client: client.Unmap()}
	o, err := s.cache.Open(s.ctx, req)
	if err != nil {
		s.fail(ctx, repo, err)
		s.changed()
		return
	}
	s.metrics.request(repo, o)
	s.setHeaders(&ctx.Response.Header, repo, rel, o)
	b := &body{s: s, repo: repo, rel: rel, o: o, start: start}
	if err := s.serveObject(ctx, o, b); err != nil {
		s.fail(ctx, repo, err)
	}
	if b.r == nil { // no body (HEAD, 304, 416, a failure), or an inline one
		b.n = int64(len(ctx.Response.Body()))
		b.CloseWithError(nil)
		return
	}
	ctx.Response.SetBodyStream(b, int(b.size))
}

// contentType is the media type of a repository file, by its extension:
// from a fixed list of what repositories hold, not the host's MIME
// database, whose answers differ between hosts (and whose first lookup
// reads files while a client waits).
func contentType(rel string) string {
	switch path.Ext(rel) {
	case ".xml":
		return "text/xml; charset=utf-8"
	case ".gz":
		return "application/gzip"
	case ".xz":
		return "application/x-xz"
	case ".bz2":
		return "application/x-bzip2"
	case ".zst":
		return "application/zstd"
	case ".asc", ".gpg", ".sig":
		return "application/pgp-signature"
	case ".key":
		return "application/pgp-keys"
	case ".json":
		return "application/json"
	case ".txt":
		return "text/plain; charset=utf-8"
	case ".html":
		return "text/html; charset=utf-8"
	}
	return "application/octet-stream"
}

// setHeaders sets what every response of an object carries. Packages and
// by-hash files never change; anything else may change at its URL, so
// caches between lazymirror and clients keep it no longer than the repo's
// metadata TTL.
func (s *Server) setHeaders(h *fasthttp.ResponseHeader, repo, rel string, o *cache.Object) {
	if o.Class == "package" {
		h.SetContentType("application/octet-stream")
	} else {
		h.SetContentType(contentType(rel))
	}
	// Keys as fasthttp writes them (SetCanonical skips normalizing them:
	// this runs on every hit).
	if !o.Digest.IsZero() {
		var etag [2 + 2*len(o.Digest)]byte
		etag[0], etag[len(etag)-1] = '"', '"'
		hex.Encode(etag[1:], o.Digest[:])
		h.SetCanonical([]byte("Etag"), etag[:])
	}
	if o.Class == "package" || strings.Contains(rel, "/by-hash/") {
		h.SetCanonical([]byte("Cache-Control"), []byte("public, max-age=31536000, immutable"))
	} else if rc, ok := s.cfg.Repo(repo); ok {
		h.SetCanonical([]byte("Cache-Control"), strconv.AppendInt([]byte("public, max-age="), int64(rc.MetadataTTL.Seconds()), 10))
	}
	if o.Hit {
		h.SetCanonical([]byte("X-Cache"), []byte("HIT"))
	} else {
		h.SetCanonical([]byte("X-Cache"), []byte("MISS"))
	}
}

// serveObject answers with the object: a stored blob as serveStored does; a
// download in progress streamed as it arrives, except for requests that
// need the whole file first (Range, conditionals), which wait for it.
// Errors are the cache's, for fail.
func (s *Server) serveObject(ctx *fasthttp.RequestCtx, o *cache.Object, b *body) error {
	h := &ctx.Request.Header
	if !o.Stored() && ctx.IsHead() && o.Size >= 0 && !o.Digest.IsZero() {
		ctx.Response.Header.SetContentLength(int(o.Size))
		return nil
	}
	if !o.Stored() && (ctx.IsHead() || h.Peek("Range") != nil || h.Peek("If-None-Match") != nil || h.Peek("If-Modified-Since") != nil ||
		h.Peek("If-Match") != nil || h.Peek("If-Unmodified-Since") != nil) {
		if err := o.Wait(s.ctx); err != nil {
			return err
		}
	}
	if o.Stored() {
		return serveStored(ctx, o, b)
	}
	return s.stream(ctx, o, b)
}

// stream sends a download as it arrives. Nothing is sent before the first
// buffer is full (or the blob ends): an attempt that fails before that is
// not the client's problem, which follows the next attempt instead. Once
// bytes are sent, a failure breaks the response off.
func (s *Server) stream(ctx *fasthttp.RequestCtx, o *cache.Object, b *body) error {
	buf := make([]byte, 64<<10)
	for tries := 0; ; tries++ {
		rd, err := o.Follow(s.ctx)
		if err != nil {
			return err
		}
		n, err := io.ReadFull(rd, buf)
		whole := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) // the blob fits in buf
		if err != nil && !whole {
			rd.Close()
			if tries < 8 {
				continue // that attempt failed before any byte was sent: follow the next
			}
			return err
		}
		if whole {
			rd.Close()
			ctx.Response.SetBodyRaw(buf[:n])
			return nil
		}
		b.head, b.r, b.closer = buf[:n], rd, rd
		b.size = o.Size
		if sz, ok := rd.(interface{ Size() int64 }); ok && b.size < 0 {
			b.size = sz.Size() // the mirror's Content-Length, which the download must match
		}
		return nil
	}
}

// body is a repo response's body as fasthttp sends it, after the handler
// returned: head, then r. It counts what is sent, and when fasthttp is
// done with it (all sent, or the client gone), releases the object and
// records the request.
type body struct {
	s      *Server
	repo   string
	rel    string
	o      *cache.Object
	start  time.Time
	head   []byte
	r      io.Reader // nil: no streamed body
	closer io.Closer // of r, if it needs closing
	size   int64     // -1: unknown (chunked)
	n      int64     // bytes sent
}

func (b *body) Read(p []byte) (int, error) {
	if len(b.head) > 0 {
		n := copy(p, b.head)
		b.head = b.head[n:]
		b.n += int64(n)
		return n, nil
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	return n, err
}

// WriteTo lets fasthttp's body writer reach the file under r, so that
// sendfile is used where it can be.
func (b *body) WriteTo(w io.Writer) (int64, error) {
	var total int64
	if len(b.head) > 0 {
		n, err := w.Write(b.head)
		b.head = b.head[n:]
		b.n += int64(n)
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	n, err := io.Copy(w, b.r)
	b.n += n
	return total + n, err
}

// CloseWithError is called by fasthttp once the body is sent or sending
// it failed (fasthttp then closes the connection, so the client never
// takes a short body for a whole one).
func (b *body) CloseWithError(err error) error {
	s := b.s
	if b.closer != nil {
		b.closer.Close()
	}
	s.metrics.served(b.repo, b.n)
	s.cache.Served(b.repo, b.n)
	s.changed() // hit or miss, served or failed: the figures moved
	if err != nil {
		s.log.Warn("response broken off", "repo", b.repo, "path", b.rel, "sent", b.n, "err", err)
	} else if s.log.Enabled(s.ctx, slog.LevelDebug) {
		s.log.Debug("served", "repo", b.repo, "path", b.rel, "class", b.o.Class, "hit", b.o.Hit, "bytes", b.n, "dur", time.Since(b.start))
	}
	return b.o.Close()
}

// fail answers an error with a status and a generic message; the error
// itself goes to the log, never to the client.
func (s *Server) fail(ctx *fasthttp.RequestCtx, repo string, err error) {
	code := status(err)
	lvl := slog.LevelInfo
	if code >= 500 {
		lvl = slog.LevelWarn
	}
	s.log.Log(s.ctx, lvl, "request failed", "repo", repo, "target", string(ctx.RequestURI()), "status", code, "err", err)
	ctx.Error(fasthttp.StatusMessage(code), code) // resets the response: no headers of the object
	s.metrics.failed(repo, code)
}

// status maps an error to an HTTP status, in one place.
func status(err error) int {
	switch {
	case errors.Is(err, cache.ErrBadPath), errors.Is(err, upstream.ErrBadPath):
		// upstream.ErrBadPath: a path no mirror can be asked for (the
		// repo's top, a directory), refused before any request: the
		// client's error, not the mirrors'.
		return http.StatusBadRequest
	case errors.Is(err, errNotProxy):
		return http.StatusForbidden
	case errors.Is(err, cache.ErrUnknownRepo), errors.Is(err, cache.ErrNotFound), errors.Is(err, upstream.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable // the server is stopping
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, upstream.ErrStalled):
		return http.StatusGatewayTimeout
	case errors.Is(err, cache.ErrUpstream), errors.Is(err, store.ErrDigestMismatch), errors.Is(err, store.ErrSizeMismatch):
		return http.StatusBadGateway
	}
	return http.StatusInternalServerError
}

// wantsRevalidation reports whether a client asked for fresh metadata
// (apt sends Cache-Control: max-age=0 on update; others no-cache).
func wantsRevalidation(h *fasthttp.RequestHeader) bool {
	for _, v := range h.PeekAll("Cache-Control") {
		for d := range strings.SplitSeq(string(v), ",") {
			d = strings.ToLower(strings.TrimSpace(d))
			if d == "no-cache" || d == "max-age=0" {
				return true
			}
		}
	}
	return strings.EqualFold(string(h.Peek("Pragma")), "no-cache")
}

// clientIP is a net/http request's client address, without the port.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// admin lets loopback clients through, and others with the admin token.
//
// A loopback client counts only when it is not a browser on this host
// doing another site's bidding: its request must name the server by an IP
// address or "localhost" (names DNS rebinding cannot point here, which
// would let a page read /_/stats or the profiles), and a POST must not be
// cross-origin (another site's form posting to /_/gc). The token needs
// neither check: no browser sends it on its own.
func (s *Server) admin(h http.Handler) http.Handler {
	csrf := http.NewCrossOriginProtection()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ip := net.ParseIP(clientIP(r)); ip != nil && ip.IsLoopback() && localHost(r.Host) && csrf.Check(r) == nil {
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

// localHost reports whether a Host header names the server as no other
// site's page can: by an IP address, as "localhost", or not at all (only
// non-browser HTTP/1.0 clients omit it).
func localHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if _, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")); err == nil {
		return true
	}
	return host == "" || strings.EqualFold(host, "localhost")
}
