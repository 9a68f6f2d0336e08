package server_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"lazymirror/internal/fixture"
)

// bigOnMirrorA is the test archive behind lazymirror through its mirror A
// alone, and its 3 MiB package (libbig-lm) with that package's bytes.
func bigOnMirrorA(t *testing.T) (*aptArchive, *harness, fixture.Deb, []byte) {
	t.Helper()
	arc := newAptArchive(t)
	h := newHarness(t, yamlRepos("debian: {type: deb, mirrors: ["+arc.a.URL()+"], suites: [stable]}"))
	big := arc.stable[2]
	want, err := os.ReadFile(filepath.Join(arc.dir, big.Pool()))
	if err != nil {
		t.Fatal(err)
	}
	return arc, h, big, want
}

// TestConcurrentFirstRequests: 32 clients ask at once for a package nobody
// fetched yet. lazymirror makes one upstream request, streams it to every
// client while it arrives (each gets its first bytes while the upstream is
// still held mid-transfer), and all get the right bytes.
func TestConcurrentFirstRequests(t *testing.T) {
	arc, h, big, want := bigOnMirrorA(t)
	gate := make(chan struct{})
	arc.a.SetFault(big.Pool(), fixture.Fault{Gate: gate, FirstBytes: 256 << 10})

	const clients = 32
	var (
		wg        sync.WaitGroup
		firstByte sync.WaitGroup
		mu        sync.Mutex
		failures  []string
	)
	wg.Add(clients)
	firstByte.Add(clients)
	for range clients {
		go func() {
			defer wg.Done()
			fail := func(msg string) {
				mu.Lock()
				failures = append(failures, msg)
				mu.Unlock()
			}
			resp, err := http.Get(h.URL("debian") + "/" + big.Pool())
			if err != nil {
				firstByte.Done()
				fail(err.Error())
				return
			}
			defer resp.Body.Close()
			one := make([]byte, 1)
			_, err = io.ReadFull(resp.Body, one)
			firstByte.Done()
			if err != nil {
				fail("first byte: " + err.Error())
				return
			}
			rest, err := io.ReadAll(resp.Body)
			if err != nil {
				fail("body: " + err.Error())
				return
			}
			if !bytes.Equal(append(one, rest...), want) {
				fail("wrong bytes")
			}
		}()
	}
	// Every client has its first byte while the upstream is still held at
	// 256 KiB of 3 MiB: streamed, not stored-then-served.
	got := make(chan struct{})
	go func() { firstByte.Wait(); close(got) }()
	select {
	case <-got:
	case <-time.After(time.Minute): // a watchdog, not synchronisation
		close(gate)
		wg.Wait()
		t.Fatal("clients got no byte while the upstream transfer was held: the miss was not streamed")
	}
	close(gate)
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	if n := arc.a.Requests(big.Pool()); n != 1 {
		t.Errorf("upstream requests for the package = %d, want 1", n)
	}
}

// TestMirrorFaults: a dead mirror is skipped; a mirror serving corrupted
// bytes never has them reach a client as a complete response, the other
// mirror serves the package, and the bad mirror's breaker opens.
func TestMirrorFaults(t *testing.T) {
	arc := newAptArchive(t)
	h := newHarness(t, yamlRepos("debian: {type: deb, mirrors: ["+arc.a.URL()+", "+arc.b.URL()+"], suites: [stable]}"))
	pkg := func(i int) (string, []byte) {
		p := arc.stable[i].Pool()
		b, err := os.ReadFile(filepath.Join(arc.dir, p))
		if err != nil {
			t.Fatal(err)
		}
		return p, b
	}

	// A down: served through B.
	arc.a.SetDown(true)
	p0, want0 := pkg(0)
	if code, body, _ := h.get(h.URL("debian")+"/"+p0, nil); code != 200 || !bytes.Equal(body, want0) {
		t.Fatalf("with mirror A down: status %d, %d bytes (want 200, %d)", code, len(body), len(want0))
	}
	arc.a.SetDown(false)

	// A corrupts two packages: each first response is broken off or an
	// error, never a complete 200 with other bytes; B then serves them.
	for _, i := range []int{1, 2} {
		p, want := pkg(i)
		arc.a.SetFault(p, fixture.Fault{Corrupt: true})
		resp, err := http.Get(h.URL("debian") + "/" + p)
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == 200 && !bytes.Equal(body, want) {
				t.Fatalf("%s: a complete 200 response with corrupted bytes reached the client", p)
			}
		}
		code, body, _ := h.get(h.URL("debian")+"/"+p, nil)
		if code != 200 || !bytes.Equal(body, want) {
			t.Fatalf("%s after the corrupt attempt: status %d, %d bytes, want the real %d", p, code, len(body), len(want))
		}
	}
	var stateA string
	for _, rs := range h.cache.Stats() {
		for _, m := range rs.Mirrors {
			if m.URL == arc.a.URL() {
				stateA = m.State
			}
		}
	}
	if stateA != "open" {
		t.Errorf("mirror A's breaker is %q after two corrupt transfers, want open", stateA)
	}
	// With A's breaker open, the next miss goes to B alone.
	p3, want3 := pkg(3)
	before := arc.a.Requests(p3)
	if code, body, _ := h.get(h.URL("debian")+"/"+p3, nil); code != 200 || !bytes.Equal(body, want3) {
		t.Fatalf("%s: %d", p3, code)
	}
	if arc.a.Requests(p3) != before {
		t.Errorf("a mirror with an open breaker was asked")
	}
}

// TestUnparsableRootOpensBreaker: a mirror whose InRelease does not parse
// has failed that request, once: after breaker_failures such refreshes its
// breaker is open (a success counted before the parse used to reset it).
func TestUnparsableRootOpensBreaker(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "dists", "stable"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dists", "stable", "InRelease"), []byte("Origin: x\n\x00not a control file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := fixture.NewMirror(t, dir, "/up/")
	h := newHarness(t, yamlRepos("debian: {type: deb, mirrors: ["+m.URL()+"]}"))
	state := func() string {
		for _, rs := range h.cache.Stats() {
			for _, ms := range rs.Mirrors {
				return ms.State
			}
		}
		return ""
	}
	for i := range 2 {
		if s := state(); s != "closed" {
			t.Fatalf("before refresh %d: breaker %q, want closed", i+1, s)
		}
		if code, _, _ := h.get(h.URL("debian")+"/dists/stable/InRelease", nil); code == http.StatusOK {
			t.Fatalf("refresh %d: an InRelease that does not parse was served", i+1)
		}
	}
	if s := state(); s != "open" {
		t.Errorf("breaker %q after two roots that do not parse, want open", s)
	}
}

// TestCorruptStreamNeverCompletes: with one mirror, which sends a large
// package (streamed to the client while it arrives, past the server's
// first buffer) with corrupted bytes, the client never gets a complete 200
// response: the last byte waits for the sha256 check, which fails, so the
// connection breaks. Each try is a new upstream transfer (nothing corrupt
// is kept); a fast transfer used to end before the check did.
func TestCorruptStreamNeverCompletes(t *testing.T) {
	arc, h, big, want := bigOnMirrorA(t)
	arc.a.SetFault(big.Pool(), fixture.Fault{Corrupt: true})
	const tries = 5
	for i := range tries {
		resp, err := http.Get(h.URL("debian") + "/" + big.Pool())
		if err != nil {
			continue
		}
		body, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		if rerr == nil && resp.StatusCode == http.StatusOK {
			t.Fatalf("try %d: a complete 200 response (%d bytes, equal to the package: %v) for a corrupted transfer", i, len(body), bytes.Equal(body, want))
		}
	}
	if n := arc.a.Requests(big.Pool()); n < tries {
		t.Errorf("upstream requests = %d, want at least %d (a corrupt transfer must not be kept)", n, tries)
	}
	arc.a.SetFault(big.Pool(), fixture.Fault{})
	if code, body, _ := h.get(h.URL("debian")+"/"+big.Pool(), nil); code != http.StatusOK || !bytes.Equal(body, want) {
		t.Fatalf("once the mirror is fixed: status %d, %d bytes, want the real %d", code, len(body), len(want))
	}
}

// TestProbeInFlight: a repository's one mirror fails twice in a row
// (breaker_failures: 2), so its breaker opens as each failure reaches the
// client, before the client's next request. The next miss is the mirror's
// probe; a miss that comes while the probe is held has no mirror to ask
// and waits for the probe rather than failing: once the probe succeeds,
// the breaker closes and that miss is served too.
func TestProbeInFlight(t *testing.T) {
	arc := newAptArchive(t)
	h := newHarness(t, yamlRepos("debian: {type: deb, mirrors: ["+arc.a.URL()+"], suites: [stable]}"))
	state := func() string {
		for _, rs := range h.cache.Stats() {
			for _, m := range rs.Mirrors {
				return m.State
			}
		}
		return ""
	}
	for _, i := range []int{0, 1} {
		p := arc.stable[i].Pool()
		arc.a.SetFault(p, fixture.Fault{Corrupt: true})
		if code, _, _ := h.get(h.URL("debian")+"/"+p, nil); code == http.StatusOK {
			t.Fatalf("%s: a corrupt transfer was served with 200", p)
		}
		arc.a.SetFault(p, fixture.Fault{})
	}
	if s := state(); s != "open" {
		t.Fatalf("breaker %q after two corrupt transfers in a row, want open", s)
	}

	big := arc.stable[2].Pool()
	gate := make(chan struct{})
	arc.a.SetFault(big, fixture.Fault{Gate: gate, FirstBytes: 256 << 10})
	resp, err := http.Get(h.URL("debian") + "/" + big)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadFull(resp.Body, make([]byte, 1)); err != nil { // the probe is under way
		close(gate)
		t.Fatal(err)
	}
	probe := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, resp.Body)
		probe <- err
	}()
	other := arc.stable[3].Pool()
	want, err := os.ReadFile(filepath.Join(arc.dir, other))
	if err != nil {
		close(gate)
		t.Fatal(err)
	}
	type result struct {
		code int
		body []byte
	}
	during := make(chan result, 1)
	go func() {
		code, body, _ := h.get(h.URL("debian")+"/"+other, nil)
		during <- result{code, body}
	}()
	// The probe is held until that request waits for it: shown in stats
	// and in /metrics.
	for deadline := time.Now().Add(time.Minute); h.cache.Stats()[0].ProbeWaiters != 1; runtime.Gosched() {
		select {
		case r := <-during:
			close(gate)
			t.Fatalf("%s asked for during the probe ended before it (status %d) instead of waiting for it", other, r.code)
		default:
		}
		if time.Now().After(deadline) { // a watchdog, not synchronisation
			close(gate)
			t.Fatal("no request waits for the probe")
		}
	}
	if _, body, _ := h.get(h.base+"/metrics", nil); !bytes.Contains(body, []byte(`lazymirror_probe_waiters{repo="debian"} 1`)) {
		t.Errorf("/metrics does not show the request waiting for the probe")
	}
	close(gate)
	if err := <-probe; err != nil {
		t.Fatalf("the probe's response: %v", err)
	}
	if r := <-during; r.code != http.StatusOK || !bytes.Equal(r.body, want) {
		t.Errorf("%s asked for during the probe: status %d, %d bytes; want 200 and the package", other, r.code, len(r.body))
	}
	if n := arc.a.Requests(other); n != 1 {
		t.Errorf("upstream requests for %s = %d, want 1", other, n)
	}
	if s := state(); s != "closed" {
		t.Errorf("breaker %q after the probe succeeded, want closed", s)
	}
}
