package server_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// TestEviction fills the store past max_size with a known access pattern:
// the blobs that survive are the ones each policy predicts, the current
// snapshot's metadata survives, and clients see no error while evictions run.
func TestEviction(t *testing.T) {
	const blob = 100 << 10
	for _, tt := range []struct {
		policy  string
		survive []int // of f1..f6
		evicted []int
	}{
		// Hits after the misses f1..f5: f1 f1 f1 f3 f3 f2 f4 f5.
		// LRU drops the least recently used: f1, then f3.
		{"lru", []int{2, 4, 5, 6}, []int{1, 3}},
		// LFUDA drops the least used (fetch counts once): f6 (1 use), then
		// f2 (2 uses, least recently used of those with 2).
		{"lfuda", []int{1, 3, 4, 5}, []int{2, 6}},
	} {
		t.Run(tt.policy, func(t *testing.T) {
			arc := newAptArchive(t)
			files := make([][]byte, 9)
			for i := 1; i <= 8; i++ {
				files[i] = bytes.Repeat([]byte{byte(i)}, blob)
				if err := os.WriteFile(filepath.Join(arc.dir, fmt.Sprintf("f%d", i)), files[i], 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// The limit leaves room for the metadata and five blobs, not six.
			var meta int64
			for _, p := range []string{"InRelease", "Release", "Release.gpg", "main/binary-amd64/Packages.gz"} {
				fi, err := os.Stat(filepath.Join(arc.dir, "dists/stable", p))
				if err != nil {
					t.Fatal(err)
				}
				meta += fi.Size()
			}
			max := meta + 5*blob + blob/2
			h := newHarness(t, fmt.Sprintf("max_size: %d\neviction: %s\n", max, tt.policy)+
				yamlRepos("debian: {type: deb, mirrors: [" + arc.a.URL() + "], suites: [stable]}")[len("listen: 127.0.0.1:0\n"):])
			get := func(i int) {
				t.Helper()
				code, body, _ := h.get(fmt.Sprintf("%s/f%d", h.URL("debian"), i), nil)
				if code != 200 || !bytes.Equal(body, files[i]) {
					t.Fatalf("f%d: %d, %d bytes", i, code, len(body))
				}
			}
			// Metadata of the current snapshot: the root and its Packages index.
			if code, _, _ := h.get(h.URL("debian")+"/dists/stable/InRelease", nil); code != 200 {
				t.Fatal("InRelease")
			}
			if code, _, _ := h.get(h.URL("debian")+"/dists/stable/main/binary-amd64/Packages.gz", nil); code != 200 {
				t.Fatal("Packages.gz")
			}
			// A client has its bytes once they are verified, before the
			// download is on disk and in the index; a request meanwhile joins
			// the download and counts when it ends. Settling between the
			// phases makes every access below a plain hit, in order.
			idle := func() {
				if err := h.cache.Idle(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			for i := 1; i <= 5; i++ {
				get(i)
			}
			idle()
			for _, i := range []int{1, 1, 1, 3, 3, 2, 4, 5} {
				get(i)
			}
			get(6) // over the limit: eviction
			idle()
			blobs := h.blobs()
			for i := 1; i <= 6; i++ {
				_, stored := blobs[digestBytes(files[i])]
				if want := slices.Contains(tt.survive, i); stored != want {
					t.Errorf("f%d stored = %v, want %v (survivors %v)", i, stored, want, tt.survive)
				}
			}
			for _, p := range []string{"InRelease", "Release", "main/binary-amd64/Packages.gz"} {
				if !hasBlob(t, blobs, filepath.Join(arc.dir, "dists/stable", p)) {
					t.Errorf("metadata %s was evicted", p)
				}
			}
			// An evicted blob is fetched again on the next request.
			before := arc.a.Requests(fmt.Sprintf("f%d", tt.evicted[0]))
			get(tt.evicted[0])
			if arc.a.Requests(fmt.Sprintf("f%d", tt.evicted[0])) != before+1 {
				t.Errorf("evicted f%d was not fetched again", tt.evicted[0])
			}

			// Clients reading while more downloads push evictions see no errors.
			var wg sync.WaitGroup
			errs := make(chan error, 64)
			for c := 0; c < 4; c++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for round := 0; round < 10; round++ {
						i := 1 + (c+round)%6
						resp, err := httpGet(fmt.Sprintf("%s/f%d", h.URL("debian"), i))
						if err != nil || !bytes.Equal(resp, files[i]) {
							errs <- fmt.Errorf("f%d during eviction: %v", i, err)
						}
					}
				}()
			}
			get(7)
			get(8)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if err := h.cache.Idle(context.Background()); err != nil {
				t.Fatal(err)
			}
			var total int64
			for _, n := range h.blobs() {
				total += n
			}
			if total > max {
				t.Errorf("store holds %d bytes after eviction, limit %d", total, max)
			}
		})
	}
}
