package stats

import (
	"crypto/sha256"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"lazymirror/checksum"
	"lazymirror/index"
	"lazymirror/upstream"
)

// TestComputeSaveLoad: figures from a small index, computed by hand; a saved
// report loads back equal (without live mirror states) until the next write.
func TestComputeSaveLoad(t *testing.T) {
	idx, err := index.Open(filepath.Join(t.TempDir(), "index.db"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	a, b := checksum.Digest(sha256.Sum256([]byte("a"))), checksum.Digest(sha256.Sum256([]byte("b")))
	missing := checksum.Digest(sha256.Sum256([]byte("not stored")))
	now := time.Now()
	for d, size := range map[checksum.Digest]int64{a: 100, b: 30} {
		if err := idx.PutBlob(d, index.Blob{Size: size, Stored: now}); err != nil {
			t.Fatal(err)
		}
	}
	put := func(repo, path string, d checksum.Digest, size int64) {
		if err := idx.Put(repo, path, index.Entry{Digest: d, Size: size, Kind: index.Package}); err != nil {
			t.Fatal(err)
		}
	}
	put("debian", "pool/a.deb", a, 100)
	put("debian", "pool/b.deb", b, 30)
	put("ubuntu", "pool/a.deb", a, 100)
	put("ubuntu", "pool/c.deb", missing, 7) // not stored: not a path
	err = idx.AddCounters(map[string]int64{
		RepoCounter("debian", CounterRequests): 4, RepoCounter("debian", CounterHits): 3, RepoCounter("debian", CounterMisses): 1,
		MirrorCounter("debian", "http://m/debian/", CounterFailures): 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	live := map[string][]upstream.MirrorStatus{"debian": {{URL: "http://m/debian/", State: "open", LastError: "boom"}}}
	r, err := Compute(idx, []string{"debian", "ubuntu"}, live, now)
	if err != nil {
		t.Fatal(err)
	}
	if r.Blobs != 2 || r.StoredBytes != 130 || r.Paths != 3 || r.LogicalBytes != 230 || r.SharedPaths != 2 || r.SavedBytes != 100 {
		t.Errorf("report %+v; want 2 blobs (130 B), 3 paths (230 B), 2 shared, 100 B saved", r)
	}
	if r.Requests != 4 || r.Hits != 3 || r.HitRatio != 0.75 || r.Repos[0].Mirrors[0].Failures != 2 || r.Repos[0].Mirrors[0].State != "open" {
		t.Errorf("totals %+v, mirrors %+v", r.Totals, r.Repos[0].Mirrors)
	}
	if len(r.TopShared) != 1 || r.TopShared[0].Paths != 2 || r.TopShared[0].Digest != a.String() {
		t.Errorf("top shared %+v, want a.deb's blob on 2 paths", r.TopShared)
	}

	if err := Save(idx, r); err != nil {
		t.Fatal(err)
	}
	got, err := Load(idx)
	if err != nil || got == nil {
		t.Fatalf("Load = %v, %v", got, err)
	}
	if got.Repos[0].Mirrors[0].State != "" || r.Repos[0].Mirrors[0].State != "open" {
		t.Errorf("saved report keeps a live breaker state, or Save changed the caller's report")
	}
	if !reflect.DeepEqual(got.Totals, r.Totals) || got.Paths != r.Paths || got.SavedBytes != r.SavedBytes || !got.Generated.Equal(r.Generated) {
		t.Errorf("loaded %+v, want %+v", got, r)
	}
	// Any write makes the saved report stale.
	if err := idx.AddCounters(map[string]int64{RepoCounter("debian", CounterRequests): 1}); err != nil {
		t.Fatal(err)
	}
	if got, err := Load(idx); got != nil || err != nil {
		t.Errorf("Load after a write = %v, %v; want nil", got, err)
	}
}
