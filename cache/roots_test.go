package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"lazymirror/config"
	"lazymirror/internal/fixture"
	"lazymirror/upstream"
)

// TestUnknownRootsKeepNoState: roots no mirror has (made-up suites, any
// "<dir>/InRelease" a client asks for) are answered 404 and leave no state
// behind, so a client cannot grow the cache's memory without bound; a
// real suite's root keeps its state and snapshot.
func TestUnknownRootsKeepNoState(t *testing.T) {
	fixture.Require(t, "dpkg-deb", "apt-ftparchive")
	arc := t.TempDir()
	fixture.AptRepo(t, arc, nil, "amd64", fixture.Suite{Name: "stable", Debs: []fixture.Deb{{Name: "a-lm", Version: "1.0", Arch: "amd64", Size: 1 << 10}}})
	m := fixture.NewMirror(t, arc, "/debian/")
	c := newTestCache(t, "repos:\n  debian: {type: deb, mirrors: ["+m.URL()+"]}\n")
	open := func(p string) error {
		o, err := c.Open(context.Background(), Request{Repo: "debian", Path: p})
		if err == nil {
			err = o.Wait(context.Background())
			o.Close()
		}
		return err
	}
	for i := range 50 {
		for _, p := range []string{
			fmt.Sprintf("dists/nosuch-%d/InRelease", i),
			fmt.Sprintf("dists/nosuch-%d/main/binary-amd64/Packages.xz", i),
			fmt.Sprintf("vendor-%d/InRelease", i),
			fmt.Sprintf("vendor-%d/sub/Release.gpg", i),
		} {
			if err := open(p); !errors.Is(err, ErrNotFound) {
				t.Fatalf("%s: %v, want ErrNotFound", p, err)
			}
		}
	}
	if err := open("dists/stable/Release"); err != nil {
		t.Fatal(err)
	}
	rs := c.repos["debian"]
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if len(rs.roots) != 1 || rs.roots["dists/stable"] == nil || rs.roots["dists/stable"].snap.Load() == nil {
		keys := make([]string, 0, len(rs.roots))
		for k := range rs.roots {
			keys = append(keys, k)
		}
		t.Errorf("root states after 200 requests for roots no mirror has: %d (%q), want only dists/stable's, with its snapshot", len(keys), keys)
	}
}

// TestMarkAbsentBounded: the directories found to hold no yum repo stay
// under maxAbsent however many a client makes up; expired ones go first.
func TestMarkAbsentBounded(t *testing.T) {
	rs := newRepoState(&config.Repo{Name: "fedora", Type: config.RPM}, nil)
	start := time.Unix(1e9, 0)
	for i := range maxAbsent - 1 {
		rs.markAbsent(fmt.Sprint("old/", i), start)
	}
	later := start.Add(absentRootTTL)
	rs.markAbsent("fresh/0", later)
	rs.markAbsent("fresh/1", later) // at the bound: every old one has expired
	if len(rs.absent) != 2 {
		t.Errorf("%d remembered after the expired were dropped, want 2", len(rs.absent))
	}
	for i := range 3 * maxAbsent {
		rs.markAbsent(fmt.Sprint("new/", i), later)
		if len(rs.absent) > maxAbsent {
			t.Fatalf("%d directories remembered, more than %d", len(rs.absent), maxAbsent)
		}
	}
	if _, ok := rs.absent[fmt.Sprint("new/", 3*maxAbsent-1)]; !ok {
		t.Error("the latest directory is not remembered")
	}
}

// TestCandidatesWaitForProbe: a repo's one mirror has its breaker open and
// its probe held. A caller who gives up while waiting gets errNoCandidate
// (which wraps upstream.ErrBreakerOpen); one who waits gets the mirror
// back once the probe succeeded.
func TestCandidatesWaitForProbe(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("bytes of f"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := fixture.NewMirror(t, dir, "/m/")
	base, err := url.Parse(m.URL())
	if err != nil {
		t.Fatal(err)
	}
	pool := upstream.NewPool("r", []*url.URL{base}, upstream.Options{BreakerFailures: 1, BreakerCooldown: time.Hour})
	ctx := context.Background()
	resp, err := pool.Get(ctx, pool.Candidates()[0], "f", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	pool.Failure(resp, errors.New("reset")) // opens the breaker
	gate := make(chan struct{})
	m.SetFault("f", fixture.Fault{Gate: gate, FirstBytes: 1})
	probe, err := pool.Get(ctx, pool.Candidates()[0], "f", nil)
	if err != nil {
		close(gate)
		t.Fatal(err)
	}
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if got, errs := candidates(gone, pool); len(got) != 0 || len(errs) != 1 || !errors.Is(errs[0], upstream.ErrBreakerOpen) {
		t.Errorf("candidates during the probe, caller gone = %v, %v; want none and errNoCandidate", got, errs)
	}
	type result struct {
		mirrors []*upstream.Mirror
		errs    []error
	}
	waited := make(chan result, 1)
	go func() {
		got, errs := candidates(ctx, pool)
		waited <- result{got, errs}
	}()
	for deadline := time.Now().Add(time.Minute); pool.Waiting() != 1; runtime.Gosched() {
		select {
		case r := <-waited:
			close(gate)
			t.Fatalf("candidates returned %v, %v while the probe was held", r.mirrors, r.errs)
		default:
		}
		if time.Now().After(deadline) { // a watchdog, not synchronisation
			close(gate)
			t.Fatal("candidates does not wait for the probe")
		}
	}
	close(gate)
	if _, err := io.Copy(io.Discard, probe.Body); err != nil {
		t.Fatal(err)
	}
	probe.Body.Close()
	n, d := probe.Transferred()
	pool.Success(probe, n, d)
	if r := <-waited; len(r.mirrors) != 1 || r.errs != nil {
		t.Errorf("candidates waiting for the probe = %v, %v; want the mirror", r.mirrors, r.errs)
	}
}
