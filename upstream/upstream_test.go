package upstream

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"lazymirror/internal/decompress"
)

const (
	securityPackages  = "../testdata/corpus/debian/debian-security/dists/bookworm-security/main/binary-amd64/Packages.xz"
	bookwormInRelease = "../testdata/corpus/debian/debian/dists/bookworm/InRelease"
)

// clock is a controllable Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func newPool(t testing.TB, opts Options, bases ...string) *Pool {
	t.Helper()
	var us []*url.URL
	for _, b := range bases {
		us = append(us, mustURL(t, b))
	}
	return NewPool("test", us, opts)
}

func server(t testing.TB, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

// corpusFilenames returns up to n pool paths from the real bookworm-security
// Packages index that contain sub.
func corpusFilenames(t testing.TB, sub string, n int) []string {
	t.Helper()
	f, err := os.Open(securityPackages)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := decompress.Open(f, securityPackages, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() && len(out) < n {
		name, ok := strings.CutPrefix(sc.Text(), "Filename: ")
		if ok && strings.Contains(name, sub) {
			out = append(out, name)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("no Filename with %q in %s", sub, securityPackages)
	}
	return out
}

// closedRequest returns a Response as Get returns for a request to m
// admitted while m's breaker is closed, to report made-up outcomes on.
func closedRequest(m *Mirror) *Response { return &Response{Mirror: m} }

func readAll(t *testing.T, resp *Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestJoin checks the request line a mirror receives: base prefixes with
// and without a trailing slash, escaped bases, and real Debian pool paths
// with '+' and '~' (which must arrive literally, not as spaces or escapes).
func TestJoin(t *testing.T) {
	type tc struct{ rel, wantEscaped string }
	var cases []tc
	for _, name := range append(corpusFilenames(t, "+", 20), corpusFilenames(t, "~", 20)...) {
		cases = append(cases, tc{name, name})
	}
	cases = append(cases,
		tc{"iso/Fedora Workstation Live.iso", "iso/Fedora%20Workstation%20Live.iso"},
		tc{"a/100%.txt", "a/100%25.txt"},
		tc{"a/%2e%2e/x", "a/%252e%252e/x"},
		tc{"pool/main/ü/ßü_1.0~rc1+b2.deb", "pool/main/%C3%BC/%C3%9F%C3%BC_1.0~rc1+b2.deb"},
		tc{"x/q?#;,.txt", "x/q%3F%23%3B%2C.txt"},
	)
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s\n%s\n%s", r.URL.EscapedPath(), r.RequestURI, r.URL.Path)
	})
	bases := []struct{ base, escaped, decoded string }{
		{"", "/", "/"},
		{"/", "/", "/"},
		{"/pub/debian", "/pub/debian/", "/pub/debian/"},
		{"/pub/debian/", "/pub/debian/", "/pub/debian/"},
		{"/my%20repo/", "/my%20repo/", "/my repo/"},
		{"/a%2Bb/", "/a%2Bb/", "/a+b/"},
	}
	for _, b := range bases {
		p := newPool(t, Options{}, srv.URL+b.base)
		m := p.Candidates()[0]
		for _, c := range cases {
			resp, err := p.Get(context.Background(), m, c.rel, nil)
			if err != nil {
				t.Fatalf("base %q rel %q: %v", b.base, c.rel, err)
			}
			got := strings.Split(string(readAll(t, resp)), "\n")
			want := []string{b.escaped + c.wantEscaped, b.escaped + c.wantEscaped, b.decoded + c.rel}
			if !slices.Equal(got, want) {
				t.Errorf("base %q rel %q: server got (escaped, RequestURI, path) %q, want %q", b.base, c.rel, got, want)
			}
		}
	}
}

// TestFreshRequest checks that a request carries only the headers Get sets.
func TestFreshRequest(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		var keys []string
		for k, v := range r.Header {
			keys = append(keys, k+": "+strings.Join(v, ","))
		}
		slices.Sort(keys)
		fmt.Fprint(w, strings.Join(keys, "\n"))
	})
	p := newPool(t, Options{UserAgent: "lazymirror-test"}, srv.URL)
	resp, err := p.Get(context.Background(), p.Candidates()[0], "dists/bookworm/InRelease", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := string(readAll(t, resp))
	want := "Accept-Encoding: identity\nUser-Agent: lazymirror-test"
	if got != want {
		t.Errorf("request headers:\n%s\nwant:\n%s", got, want)
	}
}

// TestRedactedPassword checks that a password in a mirror URL is sent but
// never appears in errors or status.
func TestRedactedPassword(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		if user, pass, ok := r.BasicAuth(); !ok || user != "mirror" || pass != "s3cret" {
			t.Errorf("basic auth %q %q %v, want mirror s3cret", user, pass, ok)
		}
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	for _, base := range []string{srv.URL, refusedURL(t)} {
		u := mustURL(t, base)
		u.User = url.UserPassword("mirror", "s3cret")
		p := NewPool("test", []*url.URL{u}, Options{})
		m := p.Candidates()[0]
		_, err := p.Get(context.Background(), m, "repodata/repomd.xml", nil)
		if err == nil {
			t.Fatal("Get succeeded, want a failure")
		}
		st := p.Status()[0]
		for _, s := range []string{err.Error(), m.String(), st.URL, st.LastError} {
			if strings.Contains(s, "s3cret") {
				t.Errorf("password in %q", s)
			}
		}
	}
}

func TestBadPath(t *testing.T) {
	var requests atomic.Int64
	srv := server(t, func(w http.ResponseWriter, r *http.Request) { requests.Add(1) })
	p := newPool(t, Options{}, srv.URL+"/debian/")
	m := p.Candidates()[0]
	for _, rel := range []string{
		"", ".", "..", "../etc/passwd", "pool/../../etc/passwd", "pool/..", "/etc/passwd",
		"pool//x.deb", "pool/./x.deb", "pool/", "./pool", "pool/x\x00.deb", `pool\..\..\x`,
	} {
		_, err := p.Get(context.Background(), m, rel, nil)
		if !errors.Is(err, ErrBadPath) {
			t.Errorf("Get(%q) = %v, want ErrBadPath", rel, err)
		}
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("%d requests sent for bad paths", n)
	}
	if st := p.Status()[0]; st.Requests != 0 {
		t.Errorf("Status().Requests = %d, want 0", st.Requests)
	}
}

func TestNotFoundIsNotAFailure(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/gone" {
			w.WriteHeader(http.StatusGone)
			return
		}
		http.NotFound(w, r)
	})
	p := newPool(t, Options{BreakerFailures: 2}, srv.URL)
	m := p.Candidates()[0]
	for i := range 10 {
		rel := []string{"missing", "gone"}[i%2]
		_, err := p.Get(context.Background(), m, rel, nil)
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get(%q) = %v, want ErrNotFound", rel, err)
		}
	}
	st := p.Status()[0]
	if st.State != "closed" || st.ConsecutiveFailures != 0 || st.Failures != 0 || st.Requests != 10 {
		t.Errorf("status after 10 not-found = %+v, want closed, no failures, 10 requests", st)
	}
	if c := p.Candidates(); len(c) != 1 || c[0] != m {
		t.Errorf("Candidates() = %v, want the mirror", c)
	}
}

// refusedURL returns the URL of a listener that has closed: connections to
// it are refused.
func refusedURL(t *testing.T) string {
	s := httptest.NewServer(http.NotFoundHandler())
	s.Close()
	return s.URL
}

func TestBreakerOpensAndReopens(t *testing.T) {
	good := server(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	failing := server(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	tests := []struct {
		name  string
		url   string
		check func(error) bool
	}{
		{"status 500", failing.URL, func(err error) bool {
			var se *StatusError
			return errors.As(err, &se) && se.Code == http.StatusInternalServerError
		}},
		{"connection refused", refusedURL(t), func(err error) bool { return err != nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			p := newPool(t, Options{BreakerFailures: 3, BreakerCooldown: 30 * time.Second, Now: clk.Now}, tt.url, good.URL)
			bad, ok := p.Candidates()[0], p.Candidates()[1]
			fail := func() {
				t.Helper()
				_, err := p.Get(context.Background(), bad, "Packages.xz", nil)
				if !tt.check(err) {
					t.Fatalf("Get = %v, want failure", err)
				}
			}
			wantCandidates := func(want ...*Mirror) {
				t.Helper()
				if got := p.Candidates(); !slices.Equal(got, want) {
					t.Fatalf("Candidates() = %v, want %v", got, want)
				}
			}
			for range 2 {
				fail()
			}
			wantCandidates(bad, ok)
			fail()
			if st := p.Status()[0]; st.State != "open" || st.ConsecutiveFailures != 3 || !st.OpenedAt.Equal(clk.Now()) || st.LastError == "" {
				t.Fatalf("status after 3 failures = %+v, want open", st)
			}
			wantCandidates(ok)
			clk.Advance(30*time.Second - 1)
			wantCandidates(ok)
			clk.Advance(1)
			wantCandidates(bad, ok) // the probe goes first
			if st := p.Status()[0]; st.State != "half-open" {
				t.Fatalf("state after cool-down = %q, want half-open", st.State)
			}
			fail() // the probe fails: open again, for a whole new cool-down
			if st := p.Status()[0]; st.State != "open" || !st.OpenedAt.Equal(clk.Now()) {
				t.Fatalf("status after failed probe = %+v, want open since now", st)
			}
			wantCandidates(ok)
			clk.Advance(30 * time.Second)
			wantCandidates(bad, ok)
		})
	}
}

// holdServer answers /hold with headers and the first bytes of a real
// InRelease, then waits for release (or the client to leave) before the
// rest; /missing with 404; /fail with 500; anything else with 200.
type holdServer struct {
	*httptest.Server
	release  chan struct{}
	requests atomic.Int64
	data     []byte
}

func newHoldServer(t *testing.T) *holdServer {
	data, err := os.ReadFile(bookwormInRelease)
	if err != nil {
		t.Fatal(err)
	}
	h := &holdServer{release: make(chan struct{}), data: data}
	h.Server = server(t, func(w http.ResponseWriter, r *http.Request) {
		h.requests.Add(1)
		switch r.URL.Path {
		case "/missing":
			http.NotFound(w, r)
		case "/fail":
			http.Error(w, "boom", http.StatusBadGateway)
		case "/hold":
			w.Write(h.data[:4096])
			w.(http.Flusher).Flush()
			select {
			case <-h.release:
				w.Write(h.data[4096:])
			case <-r.Context().Done():
			}
		default:
			w.Write(h.data)
		}
	})
	t.Cleanup(func() { close(h.release) }) // runs before the server's Close
	return h
}

func TestProbe(t *testing.T) {
	clk := newClock()
	bad := newHoldServer(t)
	good := server(t, func(w http.ResponseWriter, r *http.Request) {})
	p := newPool(t, Options{BreakerFailures: 1, BreakerCooldown: time.Minute, Now: clk.Now}, bad.URL, good.URL)
	mb, mg := p.Candidates()[0], p.Candidates()[1]
	if _, err := p.Get(context.Background(), mb, "fail", nil); err == nil {
		t.Fatal("Get(fail) succeeded, want a 502")
	}
	if got := p.Candidates(); !slices.Equal(got, []*Mirror{mg}) {
		t.Fatalf("Candidates() after failure = %v, want only %v", got, mg)
	}
	clk.Advance(time.Minute)

	// A 404 answers the probe without proving anything: still half-open,
	// and the probe slot is free again.
	if _, err := p.Get(context.Background(), mb, "missing", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("probe Get(missing) = %v, want ErrNotFound", err)
	}
	if got := p.Candidates(); !slices.Equal(got, []*Mirror{mb, mg}) {
		t.Fatalf("Candidates() after 404 probe = %v, want the half-open %v (its probe) then %v", got, mb, mg)
	}

	// Many callers try the half-open mirror at once: exactly one request is
	// sent; it is held mid-body while the others are refused.
	before := bad.requests.Load()
	const callers = 16
	var wg sync.WaitGroup
	responses := make(chan *Response, callers)
	var refused atomic.Int64
	for range callers {
		wg.Go(func() {
			resp, err := p.Get(context.Background(), mb, "hold", nil)
			switch {
			case err == nil:
				responses <- resp
			case errors.Is(err, ErrBreakerOpen):
				refused.Add(1)
			default:
				t.Errorf("Get(hold) = %v", err)
			}
		})
	}
	wg.Wait()
	close(responses)
	if n := bad.requests.Load() - before; n != 1 || refused.Load() != callers-1 || len(responses) != 1 {
		t.Fatalf("%d requests sent, %d refused, %d responses; want 1, %d, 1", n, refused.Load(), len(responses), callers-1)
	}
	if got := p.Candidates(); !slices.Equal(got, []*Mirror{mg}) {
		t.Fatalf("Candidates() during probe = %v, want only %v", got, mg)
	}
	if st := p.Status()[0]; st.State != "half-open" || st.Failures != 1 {
		t.Fatalf("status during probe = %+v, want half-open with 1 failure", st)
	}
	resp := <-responses
	bad.release <- struct{}{}
	if body := readAll(t, resp); !bytes.Equal(body, bad.data) {
		t.Fatalf("probe body: %d bytes, want the %d of %s", len(body), len(bad.data), bookwormInRelease)
	}
	n, d := resp.Transferred()
	if n != int64(len(bad.data)) || d != 0 {
		t.Errorf("Transferred() = %d, %s; want %d, 0 (the clock did not move)", n, d, len(bad.data))
	}
	p.Success(resp, n, d)
	if st := p.Status()[0]; st.State != "closed" || st.ConsecutiveFailures != 0 || st.Bytes != n {
		t.Fatalf("status after probe success = %+v, want closed", st)
	}
	if got := p.Candidates(); !slices.Equal(got, []*Mirror{mb, mg}) {
		t.Fatalf("Candidates() after recovery = %v, want both in configured order", got)
	}
}

// TestAllOpen checks the fallback: with every breaker open, the mirror
// whose cool-down ends first is still tried, as a probe.
func TestAllOpen(t *testing.T) {
	clk := newClock()
	a, b := newHoldServer(t), newHoldServer(t)
	p := newPool(t, Options{BreakerFailures: 1, BreakerCooldown: time.Minute, Now: clk.Now}, b.URL, a.URL)
	mb, ma := p.Candidates()[0], p.Candidates()[1]
	p.Failure(closedRequest(ma), errors.New("reset"))
	clk.Advance(10 * time.Second)
	p.Failure(closedRequest(mb), errors.New("reset"))
	clk.Advance(10 * time.Second)
	if got := p.Candidates(); !slices.Equal(got, []*Mirror{ma}) {
		t.Fatalf("Candidates() with all open = %v, want %v (its cool-down ends first)", got, ma)
	}
	resp, err := p.Get(context.Background(), ma, "hold", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Candidates(); !slices.Equal(got, []*Mirror{mb}) {
		t.Fatalf("Candidates() while %v probes = %v, want %v", ma, got, mb)
	}
	if _, err := p.Get(context.Background(), ma, "hold", nil); !errors.Is(err, ErrBreakerOpen) {
		t.Fatalf("second Get during probe = %v, want ErrBreakerOpen", err)
	}
	a.release <- struct{}{}
	readAll(t, resp)
	n, d := resp.Transferred()
	p.Success(resp, n, d)
	if got := p.Candidates(); !slices.Equal(got, []*Mirror{ma}) {
		t.Fatalf("Candidates() after probe success = %v, want %v", got, ma)
	}
}

func TestStall(t *testing.T) {
	h := newHoldServer(t)
	p := newPool(t, Options{IdleTimeout: 200 * time.Millisecond}, h.URL)
	m := p.Candidates()[0]
	// The deadline only bounds a broken idle timer: the read must end with
	// ErrStalled long before it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := p.Get(ctx, m, "hold", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if !errors.Is(err, ErrStalled) {
		t.Fatalf("read = %v, want ErrStalled", err)
	}
	if !bytes.Equal(got, h.data[:4096]) {
		t.Errorf("read %d bytes before the stall, want the 4096 sent", len(got))
	}
	p.Failure(resp, err)
	if st := p.Status()[0]; st.Failures != 1 || !strings.Contains(st.LastError, ErrStalled.Error()) {
		t.Errorf("status after stall = %+v, want one stall failure", st)
	}
}

func TestHeaderTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) })
	p := newPool(t, Options{HeaderTimeout: 200 * time.Millisecond}, srv.URL)
	// The deadline only bounds a broken header timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := p.Get(ctx, p.Candidates()[0], "repodata/repomd.xml", nil)
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "awaiting response headers") {
		t.Fatalf("Get = %v, want the transport's header timeout", err)
	}
}

// TestCallerCancel checks that a caller who gives up mid-body does not
// count against the mirror.
func TestCallerCancel(t *testing.T) {
	h := newHoldServer(t)
	p := newPool(t, Options{}, h.URL)
	m := p.Candidates()[0]
	ctx, cancel := context.WithCancel(context.Background())
	resp, err := p.Get(ctx, m, "hold", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadFull(resp.Body, make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	cancel()
	_, err = io.ReadAll(resp.Body)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("read after cancel = %v, want context.Canceled", err)
	}
	p.Failure(resp, err)
	if st := p.Status()[0]; st.Failures != 0 {
		t.Errorf("status after cancel = %+v, want no failure", st)
	}
}

func TestSlowTransfer(t *testing.T) {
	tests := []struct {
		name     string
		minSpeed int64
		n        int64
		d        time.Duration
		slow     bool
	}{
		{"2 MiB in 10 minutes", 0, 2 << 20, 10 * time.Minute, true},
		{"2 MiB in 1 second", 0, 2 << 20, time.Second, false},
		{"2 MiB in 0s", 0, 2 << 20, 0, false},
		{"small transfers measure latency only", 0, 100 << 10, 10 * time.Minute, false},
		{"at the minimum", 0, 2 << 20, time.Duration(float64(2<<20) / DefaultMinSpeed * float64(time.Second)), false},
		{"disabled", -1, 2 << 20, 10 * time.Minute, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPool(t, Options{BreakerFailures: 1, MinSpeed: tt.minSpeed, Now: newClock().Now}, "http://127.0.0.1:1/")
			m := p.Candidates()[0]
			p.Success(closedRequest(m), tt.n, tt.d)
			st := p.Status()[0]
			if slow := st.Failures == 1 && st.State == "open" && strings.Contains(st.LastError, ErrSlow.Error()); slow != tt.slow {
				t.Errorf("status = %+v, want slow %v", st, tt.slow)
			}
			if st.Bytes != tt.n {
				t.Errorf("Bytes = %d, want %d", st.Bytes, tt.n)
			}
		})
	}
}

func TestOrdering(t *testing.T) {
	type success struct {
		mirror int
		n      int64
		d      time.Duration
	}
	tests := []struct {
		name    string
		reports []success
		want    []int // configured indexes, in candidate order
	}{
		{"no data keeps configured order", nil, []int{0, 1, 2, 3}},
		{"throughput: better first, unknown neutral", []success{
			{2, 100 << 20, time.Second}, {0, 10 << 20, time.Second},
		}, []int{2, 1, 3, 0}},
		{"latency: lower first, unknown neutral", []success{
			{3, 1000, 10 * time.Millisecond}, {1, 1000, time.Second},
		}, []int{3, 0, 2, 1}},
		{"one mirror known is neutral too", []success{{3, 10 << 20, time.Second}}, []int{0, 1, 2, 3}},
		{"moving average follows recent samples", []success{
			{0, 10 << 20, time.Second}, {1, 50 << 20, time.Second},
			{1, 2 << 20, time.Second}, {1, 2 << 20, time.Second}, {1, 2 << 20, time.Second},
			{1, 2 << 20, time.Second}, {1, 2 << 20, time.Second}, {1, 2 << 20, time.Second},
		}, []int{0, 2, 3, 1}},
		{"equal health keeps configured order", []success{
			{1, 10 << 20, time.Second}, {2, 10 << 20, time.Second},
		}, []int{0, 1, 2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPool(t, Options{Now: newClock().Now}, "http://a/", "http://b/", "http://c/", "http://d/")
			ms := p.Candidates()
			for _, s := range tt.reports {
				p.Success(closedRequest(ms[s.mirror]), s.n, s.d)
			}
			var want []*Mirror
			for _, i := range tt.want {
				want = append(want, ms[i])
			}
			if got := p.Candidates(); !slices.Equal(got, want) {
				t.Errorf("Candidates() = %v, want %v", got, want)
			}
		})
	}
}

func TestRedirect(t *testing.T) {
	var foreign atomic.Int64
	other := server(t, func(w http.ResponseWriter, r *http.Request) { foreign.Add(1) })
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/moved":
			http.Redirect(w, r, other.URL+"/moved", http.StatusFound)
		case "/old":
			http.Redirect(w, r, "/new", http.StatusMovedPermanently)
		case "/new":
			io.WriteString(w, "new")
		}
	})
	p := newPool(t, Options{}, srv.URL)
	m := p.Candidates()[0]
	_, err := p.Get(context.Background(), m, "moved", nil)
	if !errors.Is(err, ErrRedirect) || !strings.Contains(err.Error(), "redirect") {
		t.Errorf("Get(moved) = %v, want ErrRedirect", err)
	}
	if n := foreign.Load(); n != 0 {
		t.Errorf("the other host got %d requests", n)
	}
	resp, err := p.Get(context.Background(), m, "old", nil)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); string(body) != "new" {
		t.Errorf("same-host redirect body %q, want %q", body, "new")
	}
}

func TestConditional(t *testing.T) {
	data, err := os.ReadFile(bookwormInRelease)
	if err != nil {
		t.Fatal(err)
	}
	modTime := time.Date(2025, 9, 6, 9, 12, 35, 0, time.UTC)
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"bookworm-inrelease"`)
		http.ServeContent(w, r, "InRelease", modTime, bytes.NewReader(data))
	})
	p := newPool(t, Options{}, srv.URL)
	m := p.Candidates()[0]
	resp, err := p.Get(context.Background(), m, "dists/bookworm/InRelease", nil)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); !bytes.Equal(body, data) {
		t.Fatalf("body %d bytes, want %d", len(body), len(data))
	}
	if resp.ETag != `"bookworm-inrelease"` || resp.LastModified != modTime.Format(http.TimeFormat) || resp.ContentLength != int64(len(data)) || resp.Mirror != m {
		t.Fatalf("response = %+v", resp)
	}
	tests := []struct {
		name string
		cond Conditional
		want error
	}{
		{"both validators", Conditional{ETag: resp.ETag, LastModified: resp.LastModified}, ErrNotModified},
		{"etag", Conditional{ETag: resp.ETag}, ErrNotModified},
		{"last-modified", Conditional{LastModified: resp.LastModified}, ErrNotModified},
		{"other etag", Conditional{ETag: `"older"`}, nil},
		{"older date", Conditional{LastModified: modTime.Add(-time.Hour).Format(http.TimeFormat)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := p.Get(context.Background(), m, "dists/bookworm/InRelease", &tt.cond)
			if tt.want == nil && err == nil {
				readAll(t, resp)
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Get = %v, want %v", err, tt.want)
			}
		})
	}
	if st := p.Status()[0]; st.Failures != 0 || st.State != "closed" {
		t.Errorf("status = %+v, want no failures", st)
	}
}

// TestValidators: a response's validators validate later requests only
// when its Last-Modified is at least a second before its Date (RFC 9110
// §8.8.2.2); within that second the file may change again unseen by
// If-Modified-Since, or by an ETag made of modification time and size.
func TestValidators(t *testing.T) {
	date := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) string { return date.Add(d).Format(http.TimeFormat) }
	tests := []struct {
		name, etag, lastModified, date string
		wantETag, wantLastModified     string
	}{
		{"an hour before", `"a"`, at(-time.Hour), at(0), `"a"`, at(-time.Hour)},
		{"a second before", `"a"`, at(-time.Second), at(0), `"a"`, at(-time.Second)},
		{"the same second", `"a"`, at(0), at(0), "", ""},
		{"after the date", `"a"`, at(time.Hour), at(0), "", ""},
		{"no date", `"a"`, at(-time.Hour), "", "", ""},
		{"malformed last-modified", `"a"`, "yesterday", at(0), `"a"`, ""},
		{"etag alone", `"a"`, "", at(0), `"a"`, ""},
		{"none", "", "", at(0), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := server(t, func(w http.ResponseWriter, r *http.Request) {
				if tt.date == "" {
					w.Header()["Date"] = nil // net/http adds none
				} else {
					w.Header().Set("Date", tt.date)
				}
				if tt.etag != "" {
					w.Header().Set("ETag", tt.etag)
				}
				if tt.lastModified != "" {
					w.Header().Set("Last-Modified", tt.lastModified)
				}
				io.WriteString(w, "InRelease")
			})
			p := newPool(t, Options{}, srv.URL)
			resp, err := p.Get(context.Background(), p.Candidates()[0], "dists/bookworm/InRelease", nil)
			if err != nil {
				t.Fatal(err)
			}
			readAll(t, resp)
			if resp.ETag != tt.wantETag || resp.LastModified != tt.wantLastModified {
				t.Errorf("validators %q, %q; want %q, %q", resp.ETag, resp.LastModified, tt.wantETag, tt.wantLastModified)
			}
		})
	}
}

// TestConcurrent drives every method from many goroutines; run with -race.
func TestConcurrent(t *testing.T) {
	clk := newClock()
	h := newHoldServer(t)
	failing := server(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusServiceUnavailable)
	})
	p := newPool(t, Options{BreakerFailures: 2, BreakerCooldown: time.Second, Now: clk.Now}, failing.URL, h.URL, refusedURL(t))
	var sent atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 20 {
				if g == 0 {
					clk.Advance(100 * time.Millisecond)
				}
				p.Status()
				for _, m := range p.Candidates() {
					resp, err := p.Get(context.Background(), m, "dists/bookworm/InRelease", nil)
					if !errors.Is(err, ErrBreakerOpen) {
						sent.Add(1)
					}
					if err != nil {
						continue
					}
					if _, err := io.Copy(io.Discard, resp.Body); err != nil {
						p.Failure(resp, err)
					} else if i%3 == 0 {
						p.Neutral(resp)
					} else {
						n, d := resp.Transferred()
						p.Success(resp, n, d)
					}
					resp.Body.Close()
					break
				}
			}
		})
	}
	wg.Wait()
	var requests int64
	for _, st := range p.Status() {
		requests += st.Requests
	}
	if requests != sent.Load() {
		t.Errorf("Status counts %d requests, %d were sent", requests, sent.Load())
	}
}

func FuzzJoin(f *testing.F) {
	for _, name := range corpusFilenames(f, "+", 5) {
		f.Add(name)
	}
	for _, name := range corpusFilenames(f, "~", 5) {
		f.Add(name)
	}
	for _, s := range []string{"a b/100%.iso", "ü/ß", "x/q?#;,", "../x", "a//b", "%2e%2e/x"} {
		f.Add(s)
	}
	base := mustURL(f, "http://127.0.0.1/pub/my%20repo/")
	f.Fuzz(func(t *testing.T, rel string) {
		if !validRel(rel) {
			return
		}
		for _, seg := range strings.Split(rel, "/") {
			if seg == "" || seg == "." || seg == ".." {
				t.Fatalf("validRel(%q) with segment %q", rel, seg)
			}
		}
		u := join(base, rel)
		back, err := url.Parse(u.String())
		if err != nil {
			t.Fatalf("join(%q) = %q does not parse: %v", rel, u, err)
		}
		if back.Path != "/pub/my repo/"+rel || back.RawQuery != "" || back.Fragment != "" || back.Host != base.Host {
			t.Fatalf("join(%q) = %q parses back to path %q query %q fragment %q", rel, u, back.Path, back.RawQuery, back.Fragment)
		}
	})
}

func BenchmarkCandidates(b *testing.B) {
	var bases []string
	for i := range 8 {
		bases = append(bases, fmt.Sprintf("http://mirror%d.example/debian/", i))
	}
	p := newPool(b, Options{Now: newClock().Now}, bases...)
	for i, m := range p.Candidates() {
		p.Success(closedRequest(m), 4<<20, time.Duration(i+1)*time.Second)
		p.Success(closedRequest(m), 4<<10, time.Duration(8-i)*time.Millisecond)
	}
	b.ReportAllocs()
	for b.Loop() {
		p.Candidates()
	}
}

func BenchmarkGet(b *testing.B) {
	data := bytes.Repeat([]byte("lazymirror"), 1<<17) // 1.25 MiB
	srv := server(b, func(w http.ResponseWriter, r *http.Request) { w.Write(data) })
	p := newPool(b, Options{}, srv.URL)
	m := p.Candidates()[0]
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		resp, err := p.Get(context.Background(), m, "pool/main/x/x_1.0+b1_all.deb", nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		n, d := resp.Transferred()
		p.Success(resp, n, d)
	}
}

// TestStallOnlyWhileReading checks that the idle timeout measures the
// mirror, not the caller: a caller that pauses between reads for longer
// than IdleTimeout (a slow disk behind the store, a read-ahead whose
// buffer is full) still gets the whole body, which the mirror sent at once,
// and no ErrStalled that would count against the mirror.
func TestStallOnlyWhileReading(t *testing.T) {
	data, err := os.ReadFile(bookwormInRelease)
	if err != nil {
		t.Fatal(err)
	}
	sent := make(chan struct{})
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write(data)
		close(sent)
	})
	const idle = 20 * time.Millisecond
	p := newPool(t, Options{IdleTimeout: idle}, srv.URL)
	m := p.Candidates()[0]
	resp, err := p.Get(context.Background(), m, "dists/bookworm/InRelease", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	head := make([]byte, 100)
	if _, err := io.ReadFull(resp.Body, head); err != nil {
		t.Fatal(err)
	}
	<-sent // every byte is on its way: from now on only the caller is slow
	// The caller's pause, not a synchronisation: the mirror has nothing
	// left to do, and nothing may time out while nobody reads.
	time.Sleep(10 * idle)
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		p.Failure(resp, err)
		t.Fatalf("read after a pause of the caller = %v, want the rest of the body; mirror status %+v", err, p.Status()[0])
	}
	if got := append(head, rest...); !bytes.Equal(got, data) {
		t.Errorf("body %d bytes, want the %d sent", len(got), len(data))
	}
}

// TestClientErrorIsNotAFailure checks that a 4xx about the request itself
// (403 for a dotfile or a directory whose listing is off, 400, 405, 414,
// 451...) does not count against the mirror: the path comes from a
// client, and any client could otherwise take a healthy mirror out of
// rotation with a few requests. A 429 (the mirror sheds load) and a 408
// still count. On a probe, such an answer frees the probe slot as a 404
// does.
func TestClientErrorIsNotAFailure(t *testing.T) {
	clk := newClock()
	codes := map[string]int{
		"/debian/.htaccess": http.StatusForbidden, "/debian/dists": http.StatusForbidden,
		"/debian/bad": http.StatusBadRequest, "/debian/method": http.StatusMethodNotAllowed,
		"/debian/long": http.StatusRequestURITooLong, "/debian/legal": http.StatusUnavailableForLegalReasons,
		"/debian/busy": http.StatusTooManyRequests, "/debian/slow": http.StatusRequestTimeout,
	}
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		if code, ok := codes[r.URL.Path]; ok {
			http.Error(w, http.StatusText(code), code)
			return
		}
		io.WriteString(w, "ok")
	})
	p := newPool(t, Options{BreakerFailures: 2, BreakerCooldown: time.Minute, Now: clk.Now}, srv.URL+"/debian/")
	m := p.Candidates()[0]
	get := func(rel string) error {
		t.Helper()
		resp, err := p.Get(context.Background(), m, rel, nil)
		if err != nil {
			return err
		}
		readAll(t, resp)
		n, d := resp.Transferred()
		p.Success(resp, n, d)
		return nil
	}
	for range 3 {
		for _, rel := range []string{".htaccess", "dists", "bad", "method", "long", "legal"} {
			var se *StatusError
			if err := get(rel); !errors.As(err, &se) || se.Code != codes["/debian/"+rel] {
				t.Fatalf("Get(%q) = %v, want its status", rel, err)
			}
		}
	}
	if st := p.Status()[0]; st.State != "closed" || st.Failures != 0 {
		t.Fatalf("status after 18 client errors = %+v, want closed with no failure", st)
	}

	// 429 and 408 say the mirror is in trouble: they open the breaker.
	get("busy")
	get("slow")
	if st := p.Status()[0]; st.State != "open" || st.Failures != 2 {
		t.Fatalf("status after 429 and 408 = %+v, want open with 2 failures", st)
	}

	// A probe answered 403 proves nothing: the mirror stays half-open and
	// its probe slot is free for the next request, whose success closes it.
	clk.Advance(time.Minute)
	get(".htaccess")
	if st := p.Status()[0]; st.State != "half-open" || st.Failures != 2 {
		t.Fatalf("status after a 403 probe = %+v, want half-open with 2 failures", st)
	}
	if err := get("dists/bookworm/InRelease"); err != nil {
		t.Fatalf("second probe: %v", err)
	}
	if st := p.Status()[0]; st.State != "closed" {
		t.Fatalf("status after a successful probe = %+v, want closed", st)
	}
}

// TestUnconditionalNotModified checks that a 304 to a request without
// validators (a broken mirror or a cache in front of it) is not taken for
// "your copy is current": the caller has no copy this mirror could have
// validated, and would keep serving what it has as confirmed.
func TestUnconditionalNotModified(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotModified)
	})
	p := newPool(t, Options{}, srv.URL)
	m := p.Candidates()[0]
	for _, cond := range []*Conditional{nil, {}} {
		_, err := p.Get(context.Background(), m, "dists/bookworm/InRelease", cond)
		var se *StatusError
		if errors.Is(err, ErrNotModified) || !errors.As(err, &se) || se.Code != http.StatusNotModified {
			t.Errorf("Get with validators %+v = %v, want a *StatusError 304", cond, err)
		}
	}
	if _, err := p.Get(context.Background(), m, "dists/bookworm/InRelease", &Conditional{ETag: `"a"`}); !errors.Is(err, ErrNotModified) {
		t.Errorf("conditional Get = %v, want ErrNotModified", err)
	}
}

// TestLateOutcomeKeepsProbe checks that only a probe's own outcome settles
// the half-open state: request A, sent while the breaker was closed, ends
// (its caller gives up, or it fails, or it succeeds) while probe B is in
// flight. A's outcome is recorded (a failure counts) but neither frees B's
// slot for a second probe C nor closes or re-opens the breaker; B's success
// then closes it.
func TestLateOutcomeKeepsProbe(t *testing.T) {
	tests := []struct {
		name     string
		relA     string // "hold" stops mid-body until A's caller gives up
		late     func(p *Pool, a *Response, cancelA context.CancelFunc) error
		failures int64 // Status().Failures after A's outcome
	}{
		{"canceled", "hold", func(p *Pool, a *Response, cancelA context.CancelFunc) error {
			cancelA()
			_, err := io.ReadAll(a.Body)
			if !errors.Is(err, context.Canceled) {
				return fmt.Errorf("read after cancel = %v, want context.Canceled", err)
			}
			p.Failure(a, err)
			return nil
		}, 1},
		{"failed", "hold", func(p *Pool, a *Response, cancelA context.CancelFunc) error {
			cancelA()
			p.Failure(a, errors.New("connection reset by peer"))
			return nil
		}, 2},
		{"succeeded", "dists/bookworm/InRelease", func(p *Pool, a *Response, cancelA context.CancelFunc) error {
			if _, err := io.ReadAll(a.Body); err != nil {
				return err
			}
			n, d := a.Transferred()
			p.Success(a, n, d)
			return nil
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			bad := newHoldServer(t)
			good := server(t, func(w http.ResponseWriter, r *http.Request) {})
			p := newPool(t, Options{BreakerFailures: 1, BreakerCooldown: time.Minute, Now: clk.Now}, bad.URL, good.URL)
			mb, mg := p.Candidates()[0], p.Candidates()[1]

			// (1) A is admitted while the breaker is closed.
			ctxA, cancelA := context.WithCancel(context.Background())
			defer cancelA()
			a, err := p.Get(ctxA, mb, tt.relA, nil)
			if err != nil {
				t.Fatalf("Get A: %v", err)
			}
			defer a.Body.Close()
			// (2) Another request fails and opens the breaker; the
			// cool-down passes.
			if _, err := p.Get(context.Background(), mb, "fail", nil); err == nil {
				t.Fatal("Get(fail) succeeded, want a 502")
			}
			if st := p.Status()[0]; st.State != "open" {
				t.Fatalf("status after a failure = %+v, want open", st)
			}
			clk.Advance(time.Minute)
			// (3) Probe B is admitted.
			b, err := p.Get(context.Background(), mb, "dists/bookworm/InRelease", nil)
			if err != nil {
				t.Fatalf("probe B: %v", err)
			}
			defer b.Body.Close()
			// (4) A ends late.
			if err := tt.late(p, a, cancelA); err != nil {
				t.Fatal(err)
			}
			if st := p.Status()[0]; st.State != "half-open" || st.Failures != tt.failures {
				t.Fatalf("status after A's late outcome = %+v, want half-open with %d failures", st, tt.failures)
			}
			// (5) B is still the one probe: C is refused without a request.
			before := bad.requests.Load()
			if _, err := p.Get(context.Background(), mb, "dists/bookworm/InRelease", nil); !errors.Is(err, ErrBreakerOpen) {
				t.Fatalf("Get C during probe B = %v, want ErrBreakerOpen", err)
			}
			if n := bad.requests.Load() - before; n != 0 {
				t.Fatalf("%d requests sent during probe B, want 0", n)
			}
			if got := p.Candidates(); !slices.Equal(got, []*Mirror{mg}) {
				t.Fatalf("Candidates() during probe B = %v, want only %v", got, mg)
			}
			// B's own success closes the breaker.
			if body := readAll(t, b); !bytes.Equal(body, bad.data) {
				t.Fatalf("probe body: %d bytes, want %d", len(body), len(bad.data))
			}
			n, d := b.Transferred()
			p.Success(b, n, d)
			if st := p.Status()[0]; st.State != "closed" || st.ConsecutiveFailures != 0 {
				t.Fatalf("status after probe B's success = %+v, want closed", st)
			}
			if got := p.Candidates(); !slices.Equal(got, []*Mirror{mb, mg}) {
				t.Fatalf("Candidates() after recovery = %v, want both in configured order", got)
			}
		})
	}
}

// TestAnswerKeepsConnection: answers with a small body (a 404 page, a 403)
// leave their connection to the mirror open for the next request.
func TestAnswerKeepsConnection(t *testing.T) {
	var conns atomic.Int64
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/forbidden" {
			http.Error(w, strings.Repeat("forbidden ", 100), http.StatusForbidden)
			return
		}
		http.Error(w, strings.Repeat("not found ", 100), http.StatusNotFound)
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	p := newPool(t, Options{}, s.URL)
	m := p.Candidates()[0]
	for i := range 6 {
		rel := []string{"missing", "forbidden"}[i%2]
		if _, err := p.Get(context.Background(), m, rel, nil); err == nil {
			t.Fatalf("Get(%q) succeeded", rel)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("6 requests took %d connections, want 1", n)
	}
}

// TestWaitProbe: with the one mirror's probe in flight (no candidate),
// WaitProbe blocks until the probe settles or the caller gives up, and
// returns at once when no probe is in flight; after the probe's success
// the mirror is a candidate again.
func TestWaitProbe(t *testing.T) {
	clk := newClock()
	a := newHoldServer(t)
	p := newPool(t, Options{BreakerFailures: 1, BreakerCooldown: time.Minute, Now: clk.Now}, a.URL)
	ma := p.Candidates()[0]
	if err := p.WaitProbe(context.Background()); err != nil {
		t.Fatalf("WaitProbe with no probe in flight = %v", err)
	}
	p.Failure(closedRequest(ma), errors.New("reset"))
	resp, err := p.Get(context.Background(), ma, "hold", nil) // the probe
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Candidates(); len(got) != 0 {
		t.Fatalf("Candidates() during the only mirror's probe = %v, want none", got)
	}
	// Blocked: only the caller giving up ends the wait.
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() { gaveUp <- p.WaitProbe(ctx) }()
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitProbe while the probe is held, caller gone = %v, want context.Canceled", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- p.WaitProbe(context.Background()) }()
	for deadline := time.Now().Add(time.Minute); p.Waiting() != 1; runtime.Gosched() {
		select {
		case err := <-waited:
			t.Fatalf("WaitProbe returned %v while the probe was held", err)
		default:
		}
		if time.Now().After(deadline) { // a watchdog, not synchronisation
			t.Fatal("WaitProbe is not waiting")
		}
	}
	a.release <- struct{}{}
	readAll(t, resp)
	n, d := resp.Transferred()
	p.Success(resp, n, d)
	if err := <-waited; err != nil {
		t.Fatalf("WaitProbe after the probe settled = %v", err)
	}
	if got := p.Candidates(); !slices.Equal(got, []*Mirror{ma}) {
		t.Fatalf("Candidates() after the probe's success = %v, want %v", got, ma)
	}
}
