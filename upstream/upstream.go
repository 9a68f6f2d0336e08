// Package upstream is the set of upstream mirrors of one repository: how
// lazymirror talks to them (Get), which one it asks first (Candidates), and a
// circuit breaker per mirror that takes a failing or very slow mirror out of
// rotation.
//
// # The miss path
//
// The caller asks Candidates for the mirrors to try, in order, issues Get on
// the first, streams the body and reports the Response's outcome with
// exactly one of Success, Failure or Neutral; on failure it tries the next
// candidate. A Get that returns an error has recorded its request's
// outcome itself:
//
//	for _, m := range pool.Candidates() {
//		resp, err := pool.Get(ctx, m, rel, nil)
//		if err != nil {
//			continue // recorded by Get: a failure, or nothing for ErrNotFound, ErrNotModified, a 403...
//		}
//		err = store(resp.Body) // verifies size and checksum
//		resp.Body.Close()
//		if err != nil {
//			pool.Failure(resp, err) // or pool.Neutral(resp) for bytes merely older than wanted
//			continue
//		}
//		n, d := resp.Transferred()
//		pool.Success(resp, n, d)
//		break
//	}
//
// # Breaker
//
// Each mirror's breaker is closed (in rotation), open (out of rotation for
// Options.BreakerCooldown after Options.BreakerFailures consecutive
// failures) or half-open (cool-down over: one probe request may go through).
// A mirror that is not closed admits a single request at a time, its probe;
// Get refuses any other with ErrBreakerOpen without sending it. Only the
// probe's own outcome settles a breaker that is not closed: its Success
// closes the breaker, its Failure re-opens it and restarts the cool-down,
// and a neutral outcome frees the probe slot. The late outcome of a
// request admitted while the breaker was closed still counts (a failure
// among the consecutive ones, a success in the health figures) but leaves
// the breaker and its probe alone.
//
// A 404 or 410 is not a failure: a mirror that lags behind simply lacks a
// newer file. A 304 to a conditional request is not one either (to a
// request without validators it is a *StatusError), nor any other 4xx but
// 408 and 429: it is about the request (a path a client chose, which the
// mirror forbids), and any client could otherwise take a healthy mirror out
// of rotation. They all leave the breaker as it is.
//
// # Health
//
// Among closed mirrors Candidates prefers the healthier: each mirror keeps an
// exponentially weighted moving average of its throughput on large transfers
// (at least 1 MiB) and of its latency on small ones. A mirror's score is how
// far its averages lie from the pool's geometric mean (above for throughput,
// below for latency); a metric a mirror has no data for counts as the mean,
// so unknown mirrors sort as neutral, and ties keep the configured order.
// A large transfer slower on average than Options.MinSpeed counts as a
// failure.
//
// All state sits behind one mutex per Pool; the clock is Options.Now.
package upstream

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"
)

// Errors callers branch on.
var (
	// ErrNotFound is returned by Get for a 404 or 410: the mirror lacks the
	// file (perhaps it lags). It is not a mirror failure.
	ErrNotFound = errors.New("not found upstream")
	// ErrNotModified is returned by Get for a 304 to a conditional request.
	ErrNotModified = errors.New("not modified upstream")
	// ErrStalled is returned by a Response body that received no bytes for
	// Options.IdleTimeout. It is a mirror failure.
	ErrStalled = errors.New("upstream transfer stalled")
	// ErrBadPath is returned by Get, before any request, for a path that is
	// not a clean relative path.
	ErrBadPath = errors.New("bad upstream path")
	// ErrBreakerOpen is returned by Get, before any request, for a mirror
	// whose breaker is not closed while its one probe request is in flight.
	ErrBreakerOpen = errors.New("mirror circuit breaker open")
	// ErrRedirect is returned by Get when the mirror redirects to another
	// scheme or host, which is never followed. It is a mirror failure.
	ErrRedirect = errors.New("redirect to another host refused")
	// ErrSlow is what Success records as a failure for a large transfer
	// slower than Options.MinSpeed.
	ErrSlow = errors.New("transfer below minimum speed")
)

// StatusError is an upstream response status that is neither 200 nor one of
// those Get maps to a sentinel error. It is a mirror failure unless it is a
// 4xx other than 408 and 429 (see clientError).
type StatusError struct {
	Code int    // HTTP status code
	URL  string // the URL requested
}

// Error reports the URL and status.
func (e *StatusError) Error() string {
	return fmt.Sprintf("get %s: upstream status %d %s", e.URL, e.Code, http.StatusText(e.Code))
}

// Options configures a Pool. Zero fields take the defaults shown.
type Options struct {
	ConnectTimeout  time.Duration // dial and TLS handshake timeout (default 10s)
	HeaderTimeout   time.Duration // wait for response headers (default 30s)
	IdleTimeout     time.Duration // no body bytes for this long: the body read fails with ErrStalled (default 60s)
	BreakerFailures int           // consecutive failures that open the breaker (default 3)
	BreakerCooldown time.Duration // open to half-open after this (default 30s)
	// MinSpeed in bytes/s: a transfer of at least 1 MiB that averages below
	// it counts as a failure (default 10 KB/s; negative disables).
	MinSpeed int64
	// Now is the clock for the breaker and health (default time.Now).
	Now func() time.Time
	// Transport sends the requests (default: a tuned *http.Transport with
	// the timeouts above, keep-alives, 16 idle connections per host and no
	// proxy from the environment).
	Transport http.RoundTripper
	// UserAgent is sent with every request (default "lazymirror").
	UserAgent string
}

// Defaults for Options.
const (
	DefaultConnectTimeout  = 10 * time.Second
	DefaultHeaderTimeout   = 30 * time.Second
	DefaultIdleTimeout     = 60 * time.Second
	DefaultBreakerFailures = 3
	DefaultBreakerCooldown = 30 * time.Second
	DefaultMinSpeed        = 10_000
	DefaultUserAgent       = "lazymirror"
)

const (
	// largeTransfer is the size from which a transfer measures throughput
	// (and MinSpeed applies) rather than latency.
	largeTransfer = 1 << 20
	// ewmaWeight is the weight of a new sample in the moving averages.
	ewmaWeight = 0.3
)

func (o Options) withDefaults() Options {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.HeaderTimeout <= 0 {
		o.HeaderTimeout = DefaultHeaderTimeout
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.BreakerFailures <= 0 {
		o.BreakerFailures = DefaultBreakerFailures
	}
	if o.BreakerCooldown <= 0 {
		o.BreakerCooldown = DefaultBreakerCooldown
	}
	if o.MinSpeed == 0 {
		o.MinSpeed = DefaultMinSpeed
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Transport == nil {
		o.Transport = newTransport(o)
	}
	if o.UserAgent == "" {
		o.UserAgent = DefaultUserAgent
	}
	return o
}

func newTransport(o Options) *http.Transport {
	d := &net.Dialer{Timeout: o.ConnectTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 nil, // never from the environment: the mirror URL is what we mean
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   o.ConnectTimeout,
		ResponseHeaderTimeout: o.HeaderTimeout,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
	}
}

// Pool is the set of mirrors of one repository. Its methods are safe for
// concurrent use.
type Pool struct {
	repo    string
	opts    Options
	client  *http.Client
	mirrors []*Mirror // configured order

	mu      sync.Mutex    // guards every Mirror's state, settled and waiting
	settled chan struct{} // closed (and set to nil) when a probe settles; nil: nobody waits
	waiting int           // callers in WaitProbe
}

// Mirror is one upstream base URL of a repository.
type Mirror struct {
	base *url.URL
	idx  int         // position in the configured order
	s    mirrorState // guarded by Pool.mu
}

type mirrorState struct {
	open        bool      // breaker not closed
	openedAt    time.Time // when it last opened
	probe       uint64    // ticket of the one request a non-closed breaker admits, in flight; 0: none
	tickets     uint64    // the last probe ticket handed out
	consecutive int       // consecutive failures (reset by a success that closes the breaker or finds it closed)

	requests, failures, bytes int64
	lastError                 string

	throughput float64 // EWMA, bytes/s; 0: no sample yet
	latency    float64 // EWMA, seconds; 0: no sample yet
}

// NewPool returns the pool of mirrors for repo, tried in the given order
// until health data says otherwise. Each URL is the repository root on that
// mirror; NewPool keeps its own copies.
func NewPool(repo string, mirrors []*url.URL, opts Options) *Pool {
	p := &Pool{repo: repo, opts: opts.withDefaults()}
	p.client = &http.Client{Transport: p.opts.Transport, CheckRedirect: sameOrigin}
	for _, u := range mirrors {
		base := *u
		base.RawQuery, base.Fragment, base.RawFragment = "", "", ""
		p.mirrors = append(p.mirrors, &Mirror{base: &base, idx: len(p.mirrors)})
	}
	return p
}

// URL returns a copy of the mirror's base URL.
func (m *Mirror) URL() *url.URL {
	u := *m.base
	return &u
}

// String returns the mirror's base URL, any password replaced by "xxxxx".
func (m *Mirror) String() string { return m.base.Redacted() }

// Candidates returns the mirrors to try, in order: at most one half-open
// mirror whose cool-down has elapsed and whose probe is not yet in flight
// (the one that opened earliest) first, so that a recovered mirror is
// probed and comes back even while the others are healthy (if the probe
// fails, the caller goes on to the next); then every closed mirror,
// healthiest first (unknown health is neutral; ties keep the configured
// order). Open
// mirrors are left out, with one exception: when no mirror is closed or
// half-open, Candidates returns the open mirror whose cool-down ends first,
// so a repository whose mirrors all broke briefly still tries one rather
// than failing every request for a whole cool-down; Get sends it as that
// mirror's probe. The result is empty only when every mirror's probe is in
// flight.
func (p *Pool) Candidates() []*Mirror {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.opts.Now()
	closed := make([]*Mirror, 0, len(p.mirrors)) // room for the half-open one too
	var halfOpen, soonest *Mirror
	for _, m := range p.mirrors {
		switch {
		case !m.s.open:
			closed = append(closed, m)
		case m.s.probe != 0:
		case !p.cooling(m, now):
			if halfOpen == nil || m.s.openedAt.Before(halfOpen.s.openedAt) {
				halfOpen = m
			}
		default:
			if soonest == nil || m.s.openedAt.Before(soonest.s.openedAt) {
				soonest = m
			}
		}
	}
	if len(closed) > 1 {
		scores := p.scores()
		slices.SortStableFunc(closed, func(a, b *Mirror) int { return cmp.Compare(scores[b.idx], scores[a.idx]) })
	}
	switch {
	case halfOpen != nil:
		return append([]*Mirror{halfOpen}, closed...)
	case len(closed) == 0 && soonest != nil:
		return []*Mirror{soonest}
	}
	return closed
}

// cooling reports whether m's breaker is open and its cool-down not over.
func (p *Pool) cooling(m *Mirror, now time.Time) bool {
	return m.s.open && now.Before(m.s.openedAt.Add(p.opts.BreakerCooldown))
}

// scores rates every mirror's health, by configured position: the sum over throughput and latency of
// how far, in log space, the mirror's average lies on the good side of the
// pool's geometric mean. A metric without samples scores 0 (neutral).
func (p *Pool) scores() []float64 {
	tput := p.logMean(func(s *mirrorState) float64 { return s.throughput })
	lat := p.logMean(func(s *mirrorState) float64 { return s.latency })
	scores := make([]float64, len(p.mirrors))
	for i, m := range p.mirrors {
		var score float64
		if m.s.throughput > 0 {
			score += math.Log(m.s.throughput) - tput
		}
		if m.s.latency > 0 {
			score -= math.Log(m.s.latency) - lat
		}
		scores[i] = score
	}
	return scores
}

// logMean returns the mean logarithm of metric over the mirrors that have a
// sample of it.
func (p *Pool) logMean(metric func(*mirrorState) float64) float64 {
	var sum float64
	var n int
	for _, m := range p.mirrors {
		if v := metric(&m.s); v > 0 {
			sum += math.Log(v)
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

// admit counts a request to m, claiming the probe slot when m's breaker is
// not closed. It returns the request's probe ticket, 0 for a request
// admitted while the breaker is closed, and fails with ErrBreakerOpen when
// the slot is taken.
func (p *Pool) admit(m *Mirror) (ticket uint64, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if m.s.open {
		if m.s.probe != 0 {
			return 0, fmt.Errorf("mirror %s: probe in flight: %w", m, ErrBreakerOpen)
		}
		m.s.tickets++
		m.s.probe = m.s.tickets
	}
	m.s.requests++
	return m.s.probe, nil
}

// isProbe reports whether ticket is m's probe in flight. p.mu must be held.
func isProbe(m *Mirror, ticket uint64) bool {
	return ticket != 0 && ticket == m.s.probe
}

// Success reports that the body of r, a Response from Get, arrived whole:
// n bytes in d (r.Transferred). It updates the health of r's mirror; when
// r is the probe, or the breaker is closed, it also resets the consecutive
// failures and closes the breaker. The success of a request admitted while
// the breaker was closed leaves a breaker that has opened since as it is.
// A transfer of at least 1 MiB slower than Options.MinSpeed is recorded as
// a Failure (ErrSlow) instead.
func (p *Pool) Success(r *Response, n int64, d time.Duration) {
	m := r.Mirror
	p.mu.Lock()
	defer p.mu.Unlock()
	probe := isProbe(m, r.probe)
	m.s.bytes += n
	secs := max(d.Seconds(), 1e-6)
	if n < largeTransfer {
		m.s.latency = ewma(m.s.latency, secs)
	} else {
		speed := float64(n) / secs
		m.s.throughput = ewma(m.s.throughput, speed)
		if speed < float64(p.opts.MinSpeed) { // never when MinSpeed is negative (disabled)
			p.fail(m, probe, fmt.Errorf("mirror %s: %d bytes in %s (%.0f B/s, minimum %d B/s): %w",
				m, n, d, speed, p.opts.MinSpeed, ErrSlow))
			return
		}
	}
	if m.s.open && !probe {
		return // only the probe settles a breaker that is not closed
	}
	m.s.consecutive = 0
	m.s.open, m.s.probe = false, 0
	p.probeSettled()
}

func ewma(avg, sample float64) float64 {
	if avg == 0 {
		return sample
	}
	return avg + ewmaWeight*(sample-avg)
}

// Failure reports that the body of r, a Response from Get, failed with err
// (ErrStalled, a reset, a checksum mismatch that proves the mirror broken).
// It counts towards the breaker of r's mirror: it opens a closed breaker
// after Options.BreakerFailures consecutive failures, and re-opens one that
// is not closed, restarting the cool-down, when r is the probe (a request
// admitted while the breaker was closed leaves it as it is). Errors that
// say nothing against the mirror make it a Neutral: ErrNotFound,
// ErrNotModified, a *StatusError of a client error (see clientError) and
// context.Canceled (the caller gave up). It logs nothing.
func (p *Pool) Failure(r *Response, err error) {
	p.record(r.Mirror, r.probe, err)
}

// record settles a request to m with probe ticket ticket (0: not a probe)
// that ended with err, as Failure documents.
func (p *Pool) record(m *Mirror, ticket uint64, err error) {
	var se *StatusError
	neutral := errors.Is(err, ErrNotFound) || errors.Is(err, ErrNotModified) ||
		errors.As(err, &se) && clientError(se.Code) || errors.Is(err, context.Canceled)
	p.mu.Lock()
	defer p.mu.Unlock()
	if neutral {
		p.neutral(m, ticket)
		return
	}
	p.fail(m, isProbe(m, ticket), err)
}

// clientError reports whether an upstream status is about the request
// rather than the mirror: a 4xx other than 408 (the mirror timed out
// reading it) and 429 (the mirror sheds load).
func clientError(code int) bool {
	return code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests
}

// fail records a failure of a request to m: the probe's re-opens the
// breaker for a new cool-down, another request's opens a closed breaker
// after Options.BreakerFailures consecutive failures. p.mu must be held.
func (p *Pool) fail(m *Mirror, probe bool, err error) {
	m.s.failures++
	m.s.consecutive++
	m.s.lastError = err.Error()
	if probe || !m.s.open && m.s.consecutive >= p.opts.BreakerFailures {
		m.s.open, m.s.probe = true, 0
		m.s.openedAt = p.opts.Now()
		p.probeSettled()
	}
}

// Neutral reports that r, a Response from Get, ended in a way that says
// nothing about its mirror's health, for example bytes that are merely
// older than wanted from a lagging mirror. When r is the probe it frees the
// probe slot; the breaker stays as it is.
func (p *Pool) Neutral(r *Response) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.neutral(r.Mirror, r.probe)
}

// neutral settles a request to m that proved nothing. p.mu must be held.
func (p *Pool) neutral(m *Mirror, ticket uint64) {
	if isProbe(m, ticket) {
		m.s.probe = 0
		p.probeSettled()
	}
}

// probeSettled wakes the callers of WaitProbe. p.mu must be held.
func (p *Pool) probeSettled() {
	if p.settled != nil {
		close(p.settled)
		p.settled = nil
	}
}

// WaitProbe waits until a probe in flight settles, so that a caller who
// found no candidate (every mirror's breaker open, its probe in flight)
// can ask Candidates again and follow the probe's outcome instead of
// failing at once; a repository with one mirror has no other to try. It
// returns nil at once when no probe is in flight, and ctx's error when
// ctx ends first.
func (p *Pool) WaitProbe(ctx context.Context) error {
	p.mu.Lock()
	inFlight := slices.ContainsFunc(p.mirrors, func(m *Mirror) bool { return m.s.probe != 0 })
	if !inFlight {
		p.mu.Unlock()
		return nil
	}
	if p.settled == nil {
		p.settled = make(chan struct{})
	}
	ch := p.settled
	p.waiting++
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.waiting--
		p.mu.Unlock()
	}()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Waiting returns how many callers wait in WaitProbe now.
func (p *Pool) Waiting() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waiting
}

// MirrorStatus is a snapshot of one mirror's state for stats and the status
// page.
type MirrorStatus struct {
	URL                 string // Mirror.String: password redacted
	State               string // "closed", "open" or "half-open"
	ConsecutiveFailures int
	Requests            int64 // requests sent
	Failures            int64 // failures recorded
	Bytes               int64 // body bytes of successful transfers
	LastError           string
	OpenedAt            time.Time     // when the breaker last opened; zero if never
	Throughput          float64       // moving average over large transfers, bytes/s; 0 if unknown
	Latency             time.Duration // moving average over small transfers; 0 if unknown
}

// Status returns every mirror's state, in configured order.
func (p *Pool) Status() []MirrorStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.opts.Now()
	out := make([]MirrorStatus, 0, len(p.mirrors))
	for _, m := range p.mirrors {
		state := "closed"
		switch {
		case p.cooling(m, now) && m.s.probe == 0:
			state = "open"
		case m.s.open:
			state = "half-open"
		}
		out = append(out, MirrorStatus{
			URL:                 m.String(),
			State:               state,
			ConsecutiveFailures: m.s.consecutive,
			Requests:            m.s.requests,
			Failures:            m.s.failures,
			Bytes:               m.s.bytes,
			LastError:           m.s.lastError,
			OpenedAt:            m.s.openedAt,
			Throughput:          m.s.throughput,
			Latency:             time.Duration(m.s.latency * float64(time.Second)),
		})
	}
	return out
}
