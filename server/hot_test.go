package server_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"lazymirror/checksum"
)

// blobPath is where the store keeps blob d under the harness's data dir.
func blobPath(h *harness, d checksum.Digest) string {
	hex := d.String()
	return filepath.Join(h.dir, "blobs", "sha256", hex[:2], hex)
}

// flipByte inverts the byte at off of a (read-only) blob file in place and
// returns the file's new content.
func flipByte(t *testing.T, path string, off int) []byte {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0xff
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, fi.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
	return b
}

func idle(t *testing.T, h *harness) {
	t.Helper()
	if err := h.cache.Idle(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// getWant fetches path through lazymirror and fails unless it is a 200
// with want's bytes and the given X-Cache.
func getWant(t *testing.T, h *harness, repo, path string, want []byte, xcache string) {
	t.Helper()
	code, body, hdr := h.get(h.URL(repo)+"/"+path, nil)
	if code != 200 || !bytes.Equal(body, want) {
		t.Fatalf("GET %s: status %d, %d bytes (sha256 %s); want 200, %d bytes (sha256 %s)",
			path, code, len(body), digestBytes(body), len(want), digestBytes(want))
	}
	if got := hdr.Get("X-Cache"); got != xcache {
		t.Fatalf("GET %s: X-Cache %q, want %q", path, got, xcache)
	}
}

func anyPath(string) bool { return true }

// TestCorruptSmallBlobRefetched: a small stored blob whose file went bad
// while lazymirror was down is not served. The first request after the
// restart reads it, finds it does not match its digest, moves it to
// DATA_DIR/quarantine, forgets its record, and fetches it again from
// upstream: the client gets the right bytes. The next request is a hit.
// With max_size set, the refetched blob must not count twice against it
// (the quarantined one is gone from the store).
func TestCorruptSmallBlobRefetched(t *testing.T) {
	const name, size = "small", 10 << 10
	for _, tt := range []struct {
		name    string
		maxSize int64 // 0: no limit
	}{
		{"no limit", 0},
		{"max_size", size * 3 / 2}, // room for the blob once, not twice
	} {
		t.Run(tt.name, func(t *testing.T) {
			want := fileBytes(1, size)
			m := filesMirror(t, map[string][]byte{name: want})
			top := "memory_cache: 1048576\n"
			if tt.maxSize > 0 {
				top += fmt.Sprintf("max_size: %d\n", tt.maxSize)
			}
			h := newHarness(t, top+yamlRepos("b: {type: deb, mirrors: ["+m.URL()+"]}"))

			getWant(t, h, "b", name, want, "MISS")
			idle(t, h)
			d := digestBytes(want)
			if n := h.blobs()[d]; n != size {
				t.Fatalf("after the miss the store holds %d bytes of the blob, want %d", n, size)
			}
			rec0, err := h.idx.Blob(d)
			if err != nil {
				t.Fatal(err)
			}
			upPath, upAll := m.Requests(name), m.Total(anyPath)

			h.stop()
			corrupt := flipByte(t, blobPath(h, d), size/2)
			h.start()

			// Verified on the first read: the upstream is asked again.
			getWant(t, h, "b", name, want, "MISS")
			if n := m.Requests(name); n != upPath+1 {
				t.Errorf("upstream requests for %s: %d, want %d (one refetch)", name, n, upPath+1)
			}
			if n := m.Total(anyPath); n != upAll+1 {
				t.Errorf("upstream requests in all: %d, want %d", n, upAll+1)
			}
			idle(t, h)
			q, err := os.ReadFile(filepath.Join(h.dir, "quarantine", d.String()))
			if err != nil {
				t.Errorf("the corrupt blob is not in quarantine: %v", err)
			} else if !bytes.Equal(q, corrupt) {
				t.Errorf("quarantine holds %d bytes (sha256 %s), not the corrupt file", len(q), digestBytes(q))
			}
			if b, err := os.ReadFile(blobPath(h, d)); err != nil || !bytes.Equal(b, want) {
				t.Errorf("the store's blob after the refetch: %v, sha256 %s; want the real bytes", err, digestBytes(b))
			}
			// The record of the corrupt blob went with it: the refetch made a new one.
			if rec, err := h.idx.Blob(d); err != nil || !rec.Stored.After(rec0.Stored) {
				t.Errorf("blob record after the refetch: stored %v (%v); want a new record, stored after %v", rec.Stored, err, rec0.Stored)
			}
			if n := h.blobs()[d]; n != size {
				t.Fatalf("after the refetch the store holds %d bytes of the blob, want %d", n, size)
			}

			// Stored again, right: a hit, not another upstream request.
			getWant(t, h, "b", name, want, "HIT")
			if n := m.Total(anyPath); n != upAll+1 {
				t.Errorf("upstream requests in all after the hit: %d, want %d", n, upAll+1)
			}
		})
	}
}

// TestSmallBlobServedFromMemory: once a small blob has been read for a hit
// its bytes are served from memory, verified then: a file changed on disk
// afterwards does not reach clients, and no upstream request is made.
func TestSmallBlobServedFromMemory(t *testing.T) {
	const name, size = "small", 10 << 10
	want := fileBytes(1, size)
	m := filesMirror(t, map[string][]byte{name: want})
	h := newHarness(t, "memory_cache: 1048576\n"+yamlRepos("b: {type: deb, mirrors: ["+m.URL()+"]}"))
	getWant(t, h, "b", name, want, "MISS")
	idle(t, h)
	getWant(t, h, "b", name, want, "HIT") // read and verified: kept in memory
	up := m.Total(anyPath)
	flipByte(t, blobPath(h, digestBytes(want)), size/2)
	for range 2 {
		getWant(t, h, "b", name, want, "HIT")
	}
	if n := m.Total(anyPath); n != up {
		t.Errorf("upstream requests: %d, want %d (served from memory)", n, up)
	}
}

// TestEvictedSmallBlobNotFromMemory: a small blob held in memory and then
// evicted from the store is not served from memory any more: its entry
// still points at it, but the next request is a miss, fetched again from
// upstream. Blobs that were not evicted stay hits.
func TestEvictedSmallBlobNotFromMemory(t *testing.T) {
	const size = 10 << 10
	files := make(map[string][]byte)
	names := []string{"s1", "s2", "s3", "s4"}
	for i, n := range names {
		files[n] = fileBytes(i+1, size)
	}
	m := filesMirror(t, files)
	// Room for three blobs and a half: the fourth pushes one out (LRU: s1).
	h := newHarness(t, fmt.Sprintf("memory_cache: 1048576\nmax_size: %d\neviction: lru\n", 3*size+size/2)+
		yamlRepos("b: {type: deb, mirrors: ["+m.URL()+"]}"))
	for _, n := range names[:3] {
		getWant(t, h, "b", n, files[n], "MISS")
	}
	idle(t, h)
	// Hits read each small blob into memory.
	for _, n := range names[:3] {
		getWant(t, h, "b", n, files[n], "HIT")
	}
	getWant(t, h, "b", names[3], files[names[3]], "MISS") // over max_size: eviction
	idle(t, h)

	blobs := h.blobs()
	var evicted, kept []string
	for _, n := range names[:3] {
		if _, ok := blobs[digestBytes(files[n])]; ok {
			kept = append(kept, n)
		} else {
			evicted = append(evicted, n)
		}
	}
	if len(evicted) == 0 {
		t.Fatalf("no blob of %v was evicted: the test needs one (store: %d blobs)", names[:3], len(blobs))
	}
	// The blobs still stored are hits.
	for _, n := range kept {
		before := m.Requests(n)
		getWant(t, h, "b", n, files[n], "HIT")
		if got := m.Requests(n); got != before {
			t.Errorf("stored %s: %d upstream requests, want %d", n, got, before)
		}
	}
	// The evicted ones were in memory too, but are fetched again.
	for _, n := range evicted {
		before := m.Requests(n)
		getWant(t, h, "b", n, files[n], "MISS")
		if got := m.Requests(n); got != before+1 {
			t.Errorf("evicted %s: %d upstream requests, want %d (fetched again)", n, got, before+1)
		}
	}
}
