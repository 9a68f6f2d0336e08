package cache

import (
	"context"
	"crypto/sha256"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"lazymirror/checksum"
	"lazymirror/config"
	"lazymirror/index"
	"lazymirror/store"
)

// newRecordCache builds a Cache on a fresh store and index, with one
// URL-keyed-only repo whose mirror is never asked (the tests below drive
// record and dropBlob directly).
func newRecordCache(t *testing.T) *Cache {
	return newTestCache(t, "listen: 127.0.0.1:0\nmax_size: 1000000\nrepos:\n  r: {type: deb, mirrors: [http://127.0.0.1:1/]}\n")
}

// newTestCache builds a Cache of the configuration yaml on a fresh store
// and index, closed when the test ends.
func newTestCache(t *testing.T, yaml string) *Cache {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	idx, err := index.Open(filepath.Join(dir, "index.db"), index.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	c, err := New(context.Background(), Options{Store: st, Index: idx, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// storeBlob commits b to c's store (no record) and returns its digest.
func storeBlob(t *testing.T, c *Cache, b []byte) checksum.Digest {
	t.Helper()
	d := checksum.Digest(sha256.Sum256(b))
	w, err := c.store.Create(d, int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return d
}

// checkTotal fails unless the evictor's byte total is the sum of the blob
// records, and every record has its file.
func checkTotal(t *testing.T, c *Cache) {
	t.Helper()
	var sum int64
	err := c.idx.Blobs(func(d checksum.Digest, b index.Blob) error {
		sum += b.Size
		if _, err := c.store.Stat(d); err != nil {
			t.Errorf("record of blob %s, whose file is missing: %v", d, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c.ev.mu.Lock()
	total := c.ev.total
	c.ev.mu.Unlock()
	if total != sum {
		t.Errorf("evictor total = %d, but the blob records add up to %d", total, sum)
	}
}

// TestDropBlobTwice: gc and an eviction (started by a download while gc
// parses metadata) each list blob records first and drop them later, so
// both may drop the same blob. The second drop finds no record: it must
// neither count the bytes off a second time nor, when a client holds the
// digest meanwhile, put back a record of a file that is gone.
func TestDropBlobTwice(t *testing.T) {
	for _, second := range []struct {
		name     string
		unrecord func(c *Cache) func(checksum.Digest) error
	}{
		{"gc then evict", func(c *Cache) func(checksum.Digest) error { return c.evictRecord }},
		{"evict then gc", func(c *Cache) func(checksum.Digest) error { return c.idx.DeleteBlob }},
	} {
		for _, held := range []bool{false, true} {
			name := second.name
			if held {
				name += ", held"
			}
			t.Run(name, func(t *testing.T) {
				c := newRecordCache(t)
				b := []byte("a blob both gc and the evictor listed")
				d := storeBlob(t, c, b)
				spec := fetchSpec{rs: c.repos["r"], rel: "f", digest: d, size: int64(len(b))}
				if err := c.record(spec, d, int64(len(b))); err != nil {
					t.Fatal(err)
				}
				first := c.idx.DeleteBlob
				if second.name == "evict then gc" {
					first = c.evictRecord
				}
				if removed, size, err := c.dropBlob(d, first); err != nil || !removed || size != int64(len(b)) {
					t.Fatalf("first drop: removed %v, %d bytes, %v; want %d bytes", removed, size, err, len(b))
				}
				checkTotal(t, c)
				if held { // a flight for d holds it before it finds the file gone
					c.ev.hold(d, 1)
				}
				if _, _, err := c.dropBlob(d, second.unrecord(c)); err != nil {
					t.Fatalf("second drop: %v", err)
				}
				checkTotal(t, c)
			})
		}
	}
}

// TestRecordConcurrent: two downloads under different flight keys (a
// URL-keyed file and a file known by checksum, or two URLs with the same
// bytes) commit the same blob at once. There is one record: the bytes are
// counted once.
func TestRecordConcurrent(t *testing.T) {
	c := newRecordCache(t)
	b := []byte("the same bytes at two URLs")
	d := storeBlob(t, c, b)
	const n = 4
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			<-start
			spec := fetchSpec{rs: c.repos["r"], rel: "f" + string(rune('a'+i)), digest: d, size: int64(len(b))}
			if err := c.record(spec, d, int64(len(b))); err != nil {
				errs <- err
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	checkTotal(t, c)
}
