package upstream

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Conditional holds the validators of a cached copy, for revalidation.
type Conditional struct {
	ETag         string // sent as If-None-Match when not empty
	LastModified string // sent as If-Modified-Since when not empty
}

// validators returns the validators of a 200 response that can validate a
// later request. A Last-Modified is one only when the response's Date is at
// least a second later (RFC 9110 §8.8.2.2): a file served in the second it
// was written may change again within that second, and If-Modified-Since
// would call the new one unmodified. The same goes for an ETag made from
// the modification time and size, as nginx's and many others' are: a
// response with such a fresh Last-Modified keeps neither validator, and its
// revalidation asks for the file whole (a mirror publishing twice in a
// second, or a test fixture, is then seen at once).
func validators(h http.Header) (etag, lastModified string) {
	etag, lastModified = h.Get("ETag"), h.Get("Last-Modified")
	if lastModified == "" {
		return etag, ""
	}
	t, err := http.ParseTime(lastModified)
	if err != nil {
		return etag, ""
	}
	if date, err := http.ParseTime(h.Get("Date")); err != nil || date.Sub(t) < time.Second {
		return "", ""
	}
	return etag, lastModified
}

// Response is a 200 answer from a mirror. The caller must close Body.
type Response struct {
	// Body fails with ErrStalled when no bytes arrive for
	// Options.IdleTimeout, and with the caller's context error when that
	// ends first.
	Body          io.ReadCloser
	ContentLength int64 // -1 if unknown
	// ETag and LastModified are the response's validators, when they can
	// validate a later request (see validators).
	ETag         string
	LastModified string
	Mirror       *Mirror
	Header       http.Header

	body  *idleReader
	probe uint64 // the request's probe ticket (see Pool.admit); 0: not a probe
}

// Transferred returns the body bytes read so far and the time since Get
// started (Options.Now), the figures Pool.Success wants.
func (r *Response) Transferred() (int64, time.Duration) {
	return r.body.n.Load(), r.body.now().Sub(r.body.start)
}

// Repo returns the name of the repository the pool serves.
func (p *Pool) Repo() string { return p.repo }

// Get fetches rel, a clean percent-decoded path relative to the repository
// root, from mirror m, with a request built fresh (no client header is ever
// forwarded). cond, if not nil, makes it a conditional request.
//
// Errors: ErrBadPath for a rel that is empty or not clean (".." or "."
// elements, a leading or trailing or doubled "/", NUL or backslash), and
// ErrBreakerOpen when m's probe is in flight, both without a request;
// ErrNotFound for 404 and 410; ErrNotModified for 304 to a request with a
// validator (a *StatusError, a mirror failure, to one without); ErrRedirect for a
// redirect to another scheme or host; *StatusError for any other status but
// 200; otherwise the transport's error, wrapped. Redirects within the same
// scheme and host are followed.
//
// A Get that sends a request and returns an error has recorded its outcome
// as Failure would have (a 404, a 304, a client error or the caller giving
// up count for nothing, and free m's probe slot when the request was the
// probe); the caller reports nothing for it. The outcome of a Response is
// the caller's to report.
func (p *Pool) Get(ctx context.Context, m *Mirror, rel string, cond *Conditional) (*Response, error) {
	if !validRel(rel) {
		return nil, fmt.Errorf("get %q from %s: %w", rel, m, ErrBadPath)
	}
	u := join(m.base, rel)
	ctx, cancel := context.WithCancelCause(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		cancel(nil)
		return nil, fmt.Errorf("get %s: %w", u.Redacted(), err)
	}
	req.Header.Set("User-Agent", p.opts.UserAgent)
	// Ask for the file's own bytes: a server that sends a .gz with
	// Content-Encoding: gzip must not have it decompressed on the way.
	req.Header.Set("Accept-Encoding", "identity")
	conditional := false // a 304 answers only a request with a validator
	if cond != nil {
		if cond.ETag != "" {
			req.Header.Set("If-None-Match", cond.ETag)
			conditional = true
		}
		if cond.LastModified != "" {
			req.Header.Set("If-Modified-Since", cond.LastModified)
			conditional = true
		}
	}
	ticket, err := p.admit(m)
	if err != nil {
		cancel(nil)
		return nil, err
	}
	start := p.opts.Now()
	resp, err := p.client.Do(req)
	if err != nil {
		cancel(nil)
		err = fmt.Errorf("mirror %s: %w", m, err)
		p.record(m, ticket, err)
		return nil, err
	}
	switch code := resp.StatusCode; {
	case code == http.StatusOK:
		body := newIdleReader(resp.Body, cancel, p.opts.IdleTimeout, p.opts.Now, start)
		etag, lastModified := validators(resp.Header)
		return &Response{
			Body:          body,
			ContentLength: resp.ContentLength,
			ETag:          etag,
			LastModified:  lastModified,
			Mirror:        m,
			Header:        resp.Header,
			body:          body,
			probe:         ticket,
		}, nil
	case code == http.StatusNotFound, code == http.StatusGone, code == http.StatusNotModified && conditional:
		p.drain(resp, cancel)
		cancel(nil)
		// The mirror answered: neither proof of health nor failure.
		if code == http.StatusNotModified {
			err = fmt.Errorf("get %s: %w", u.Redacted(), ErrNotModified)
		} else {
			err = fmt.Errorf("get %s: status %d: %w", u.Redacted(), code, ErrNotFound)
		}
		p.record(m, ticket, err)
		return nil, err
	default:
		p.drain(resp, cancel)
		cancel(nil)
		err := &StatusError{Code: code, URL: u.Redacted()}
		p.record(m, ticket, err) // a failure unless about the request (clientError)
		return nil, err
	}
}

// maxDrain is the largest answer body (a 404 page, say) drain reads.
const maxDrain = 64 << 10

// drain reads the rest of a small answer's body before closing it, so that
// its connection is kept for the next request to the mirror instead of
// dropped (a revalidation that meets a 404 would otherwise dial again). A
// body of unknown or larger size is just closed; one that stalls for the
// idle timeout is cut.
func (p *Pool) drain(resp *http.Response, cancel context.CancelCauseFunc) {
	if resp.ContentLength >= 0 && resp.ContentLength <= maxDrain {
		t := time.AfterFunc(p.opts.IdleTimeout, func() { cancel(ErrStalled) })
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
		t.Stop()
	}
	resp.Body.Close()
}

// validRel reports whether rel is a clean relative path: what fs.ValidPath
// accepts, except the root ".", NUL and backslashes (a traversal on
// servers that treat it as a separator).
func validRel(rel string) bool {
	return fs.ValidPath(rel) && rel != "." && !strings.ContainsAny(rel, "\x00\\")
}

// join returns base with rel appended to its path. Path holds the decoded
// form and RawPath the escaped one, each segment of rel escaped by
// url.PathEscape: '+' stays '+', '~' stays '~', a space becomes %20, '%'
// becomes %25. base's own escaping is kept.
func join(base *url.URL, rel string) *url.URL {
	u := *base
	segs := strings.Split(rel, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	u.Path = strings.TrimSuffix(base.Path, "/") + "/" + rel
	u.RawPath = strings.TrimSuffix(base.EscapedPath(), "/") + "/" + strings.Join(segs, "/")
	return &u
}

// sameOrigin is the client's CheckRedirect: it follows a redirect only to
// the scheme and host of the original request, and at most 10 of them.
func sameOrigin(req *http.Request, via []*http.Request) error {
	first := via[0].URL
	if req.URL.Scheme != first.Scheme || req.URL.Host != first.Host {
		return fmt.Errorf("%s redirects to %s: %w", first.Redacted(), req.URL.Redacted(), ErrRedirect)
	}
	if len(via) >= 10 {
		return fmt.Errorf("%s: %d redirects: %w", first.Redacted(), len(via), ErrRedirect)
	}
	return nil
}

// idleReader fails a body that receives no bytes for idle: a timer, armed
// while a Read waits on the mirror, cancels the request's context (so the
// blocked Read returns) and marks the reader stalled. Time the caller spends
// between Reads is not the mirror's: bytes the mirror already sent wait in
// the connection's buffers. It also counts the bytes read.
type idleReader struct {
	body    io.ReadCloser
	cancel  context.CancelCauseFunc
	idle    time.Duration
	timer   *time.Timer
	stalled atomic.Bool
	n       atomic.Int64
	now     func() time.Time
	start   time.Time
}

func newIdleReader(body io.ReadCloser, cancel context.CancelCauseFunc, idle time.Duration, now func() time.Time, start time.Time) *idleReader {
	r := &idleReader{body: body, cancel: cancel, idle: idle, now: now, start: start}
	r.timer = time.AfterFunc(idle, func() {
		r.stalled.Store(true)
		cancel(ErrStalled)
	})
	r.timer.Stop() // armed by each Read
	return r
}

// Read reads from the body, returning ErrStalled once the idle timer fired.
func (r *idleReader) Read(p []byte) (int, error) {
	r.timer.Reset(r.idle)
	n, err := r.body.Read(p)
	r.timer.Stop()
	r.n.Add(int64(n))
	if err != nil && err != io.EOF && r.stalled.Load() {
		err = fmt.Errorf("no body bytes for %s: %w", r.idle, ErrStalled)
	}
	return n, err
}

// Close stops the idle timer, closes the body and ends the request.
func (r *idleReader) Close() error {
	r.timer.Stop()
	err := r.body.Close()
	r.cancel(nil)
	return err
}
