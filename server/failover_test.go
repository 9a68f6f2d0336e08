package server_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"lazymirror/internal/fixture"
)

// TestFailoverFollower: a client streaming attempt 1 of a download (mirror
// A, cut off mid-transfer) has its response broken off: it never gets a
// complete 200 with A's partial bytes followed by B's. The flight then
// fetches the package from B, and a later client gets the right bytes.
func TestFailoverFollower(t *testing.T) {
	arc := newAptArchive(t)
	h := newHarness(t, yamlRepos("debian: {type: deb, mirrors: ["+arc.a.URL()+", "+arc.b.URL()+"], suites: [stable]}"))
	big := arc.stable[2] // libbig-lm, 3 MiB
	want, err := os.ReadFile(filepath.Join(arc.dir, big.Pool()))
	if err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	arc.a.SetFault(big.Pool(), fixture.Fault{Gate: gate, FirstBytes: 512 << 10, Truncate: 1 << 20})
	resp, err := http.Get(h.URL("debian") + "/" + big.Pool())
	if err != nil {
		close(gate)
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, 256<<10)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		close(gate)
		t.Fatalf("first bytes while attempt 1 is held: %v", err)
	}
	if !bytes.Equal(first, want[:len(first)]) {
		t.Error("first bytes differ from the package")
	}
	close(gate) // A sends up to 1 MiB, then cuts the connection
	rest, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode == http.StatusOK {
		got := append(first, rest...)
		if !bytes.Equal(got, want) {
			t.Fatalf("the client of attempt 1 got a complete 200 of %d bytes that are not the package (%d bytes)", len(got), len(want))
		}
	}
	if got := h.getOK(h.URL("debian")+"/"+big.Pool(), nil); !bytes.Equal(got, want) {
		t.Fatalf("after failover: %d bytes, want the package's %d", len(got), len(want))
	}
	if a, b := arc.a.Requests(big.Pool()), arc.b.Requests(big.Pool()); a != 1 || b != 1 {
		t.Errorf("upstream requests: A %d, B %d; want 1 each", a, b)
	}
}

// TestCloseEndsStalledDownload: Cache.Close, once its context is done,
// cancels a download stalled upstream: Close returns, the client's
// response is broken off (never a clean end), and neither the temp file
// nor a blob of the partial bytes is left.
func TestCloseEndsStalledDownload(t *testing.T) {
	arc := newAptArchive(t)
	h := newHarness(t, yamlRepos("debian: {type: deb, mirrors: ["+arc.a.URL()+"], suites: [stable]}"))
	big := arc.stable[2]
	gate := make(chan struct{})
	defer close(gate)
	arc.a.SetFault(big.Pool(), fixture.Fault{Gate: gate, FirstBytes: 512 << 10})
	resp, err := http.Get(h.URL("debian") + "/" + big.Pool())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadFull(resp.Body, make([]byte, 128<<10)); err != nil {
		t.Fatalf("first bytes: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h.cache.Close(ctx)
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Error("the client's response ended cleanly after its download was cancelled")
	}
	if hasBlob(t, h.blobs(), filepath.Join(arc.dir, big.Pool())) {
		t.Error("the cancelled download was stored")
	}
	tmp, err := os.ReadDir(filepath.Join(h.dir, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	if len(tmp) != 0 {
		t.Errorf("temp files left after Close: %d", len(tmp))
	}
}
