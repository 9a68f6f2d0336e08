package server_test

import (
	"context"
	"strings"
	"testing"
)

// TestPreloadAfterUpdate: once apt-get update has fetched a suite's
// Packages index, lazymirror loads it in the background, so the index knows
// the packages before a client asks for one; and that load reads the copy
// the client got, fetching no Packages index a second time.
func TestPreloadAfterUpdate(t *testing.T) {
	arc := newAptArchive(t)
	h := newHarness(t, yamlRepos("debian: {type: deb, mirrors: ["+arc.a.URL()+"]}"))
	apt := arc.client(t, h.URL("debian"), "stable")
	if out, err := apt.Update(); err != nil {
		t.Fatalf("apt-get update: %v\n%s", err, out)
	}
	if err := h.cache.Idle(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, d := range arc.stable {
		if _, err := h.idx.Lookup("debian", d.Pool()); err != nil {
			t.Errorf("%s after apt-get update: %v; want it known before any client asks", d.Pool(), err)
		}
	}
	isPackages := func(rel string) bool {
		return strings.Contains(rel, "/binary-amd64/") && !strings.Contains(rel, "/debian-installer/")
	}
	if n := arc.a.Total(isPackages); n != 1 {
		t.Errorf("upstream fetches of the binary-amd64 Packages index: %d, want 1 (the client's)", n)
	}
}
