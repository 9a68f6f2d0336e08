package index

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"lazymirror/checksum"
)

// clock is a controllable Options.Now.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func openTest(t testing.TB, opts Options) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "index.db")
	opts.UnsafeNoSync = true
	db, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return db, path
}

func digestOf(s string) checksum.Digest { return checksum.Digest(sha256.Sum256([]byte(s))) }

func mustSum(t testing.TB, algo, hex string) checksum.Sum {
	t.Helper()
	s, err := checksum.Parse(algo, hex)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// equalEntry compares entries; times by instant, sums by value.
func equalEntry(a, b Entry) bool {
	return a.Digest == b.Digest && a.Size == b.Size && a.Upstream.Equal(b.Upstream) &&
		a.Snapshot == b.Snapshot && a.Kind == b.Kind && a.Fetched.Equal(b.Fetched)
}

func TestEntryRoundTrip(t *testing.T) {
	db, _ := openTest(t, Options{})
	fetched := time.Date(2026, 7, 11, 10, 16, 37, 123, time.UTC)
	tests := []struct {
		name, path string
		e          Entry
	}{
		// The md5 is the bookworm InRelease's MD5Sum of main/binary-amd64/Packages.
		{"sha256 package", "pool/main/a/apt/apt_2.6.1_amd64.deb", Entry{Digest: digestOf("apt"), Size: 1234, Snapshot: 3, Kind: Package}},
		{"md5 only", "dists/bookworm/main/binary-amd64/Packages", Entry{Size: 50060337, Upstream: mustSum(t, "MD5Sum", "f230d61720e789abf5df55d6026230c6"), Snapshot: 1, Kind: Metadata}},
		{"sha1 and sha256", "Packages/x.rpm", Entry{Digest: digestOf("x"), Size: 0, Upstream: mustSum(t, "sha", "a9993e364706816aba3e25717850c26c9cd0d89d"), Kind: Package}},
		{"url-keyed, size unknown", "images/install.img", Entry{Size: -1, Kind: Other, Fetched: fetched}},
		{"root", "dists/bookworm/InRelease", Entry{Digest: digestOf("inrelease"), Size: 151075, Kind: Root, Snapshot: 1 << 40}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := db.Put("debian", tt.path, tt.e); err != nil {
				t.Fatal(err)
			}
			got, err := db.Lookup("debian", tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if !equalEntry(got, tt.e) {
				t.Errorf("Lookup = %+v, want %+v", got, tt.e)
			}
		})
	}
	if n, err := db.CountEntries("debian"); err != nil || n != len(tests) {
		t.Errorf("CountEntries = %d, %v; want %d", n, err, len(tests))
	}
	if err := db.Put("fedora", "Packages/a.rpm", Entry{Size: 1, Kind: Other}); err != nil {
		t.Fatal(err)
	}
	// A repo with a snapshot and no entries yet is a repo too.
	if err := db.PutSnapshot(&Snapshot{Repo: "bare", Root: "dists/stable"}); err != nil {
		t.Fatal(err)
	}
	if repos, err := db.Repos(); err != nil || !slices.Equal(repos, []string{"bare", "debian", "fedora"}) {
		t.Errorf("Repos = %v, %v; want [bare debian fedora]", repos, err)
	}
}

func TestNotFound(t *testing.T) {
	db, _ := openTest(t, Options{})
	if err := db.Put("debian", "a", Entry{Digest: digestOf("a")}); err != nil {
		t.Fatal(err)
	}
	d := digestOf("nothing")
	tests := []struct {
		name string
		err  error
	}{
		{"lookup unknown repo", func() error { _, err := db.Lookup("fedora", "a"); return err }()},
		{"lookup unknown path", func() error { _, err := db.Lookup("debian", "b"); return err }()},
		{"blob", func() error { _, err := db.Blob(d); return err }()},
		{"evict", func() error { _, err := db.Evict(d); return err }()},
		{"alias", func() error {
			_, err := db.Alias(mustSum(t, "sha1", "a9993e364706816aba3e25717850c26c9cd0d89d"))
			return err
		}()},
		{"current snapshot", func() error { _, err := db.CurrentSnapshot("debian", "dists/bookworm"); return err }()},
		{"update snapshot", db.UpdateSnapshot(&Snapshot{ID: 9, Repo: "debian"})},
		{"delete snapshot", db.DeleteSnapshot("debian", 9)},
		{"put snapshot unknown id", db.PutSnapshot(&Snapshot{ID: 9, Repo: "debian"})},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, ErrNotFound) {
			t.Errorf("%s: error %v, want ErrNotFound", tt.name, tt.err)
		}
	}
}

func TestInvalid(t *testing.T) {
	db, _ := openTest(t, Options{})
	tests := []struct {
		name string
		err  error
	}{
		{"empty repo", db.Put("", "a", Entry{})},
		{"empty path", db.Put("debian", "", Entry{})},
		{"short upstream sum", db.Put("debian", "a", Entry{Upstream: checksum.Sum{Algo: checksum.SHA1, Value: []byte{1}}})},
		{"unknown upstream algo", db.Put("debian", "a", Entry{Upstream: checksum.Sum{Algo: 99, Value: []byte{1}}})},
		{"unknown kind", db.Put("debian", "a", Entry{Kind: Root + 1})},
		{"zero blob digest", db.PutBlob(checksum.Digest{}, Blob{})},
		{"sha256 alias", db.PutAlias(digestOf("a").Sum(), digestOf("a"))},
		{"alias to zero digest", db.PutAlias(mustSum(t, "md5", "f230d61720e789abf5df55d6026230c6"), checksum.Digest{})},
		{"empty counter", db.AddCounters(map[string]int64{"": 1})},
		{"snapshot without repo", db.PutSnapshot(&Snapshot{})},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, ErrInvalid) {
			t.Errorf("%s: error %v, want ErrInvalid", tt.name, tt.err)
		}
	}
	if n, err := db.CountEntries("debian"); err != nil || n != 0 {
		t.Errorf("invalid puts left %d entries (%v)", n, err)
	}
}

func TestDeleteAndEntries(t *testing.T) {
	db, _ := openTest(t, Options{})
	recs, _ := inReleaseRecords(t, corpusInRelease)
	if err := db.PutEntries("debian", recs); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteEntry("debian", recs[0].Path); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteEntry("debian", "never/there"); err != nil {
		t.Errorf("deleting an absent entry: %v", err)
	}
	if _, err := db.Lookup("debian", recs[0].Path); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted entry: %v", err)
	}
	var (
		n    int
		prev string
	)
	err := db.Entries("debian", func(path string, e Entry) error {
		if path <= prev {
			t.Errorf("Entries out of order: %q after %q", path, prev)
		}
		prev = path
		n++
		return nil
	})
	if err != nil || n != len(recs)-1 {
		t.Errorf("Entries walked %d (%v), want %d", n, err, len(recs)-1)
	}
	stop := errors.New("stop")
	if err := db.Entries("debian", func(string, Entry) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("Entries did not return fn's error: %v", err)
	}
}

// TestPutEntriesInRelease ingests the SHA256 section of the real bookworm
// InRelease: one entry per line.
func TestPutEntriesInRelease(t *testing.T) {
	db, _ := openTest(t, Options{})
	recs, lines := inReleaseRecords(t, corpusInRelease)
	if lines == 0 {
		t.Fatal("no SHA256 lines")
	}
	if err := db.PutEntries("debian", recs); err != nil {
		t.Fatal(err)
	}
	if n, err := db.CountEntries("debian"); err != nil || n != lines {
		t.Errorf("CountEntries = %d, %v; want %d (SHA256 lines)", n, err, lines)
	}
	for _, r := range recs {
		got, err := db.Lookup("debian", r.Path)
		if err != nil || !equalEntry(got, r.Entry) {
			t.Fatalf("Lookup(%s) = %+v, %v; want %+v", r.Path, got, err, r.Entry)
		}
	}
}

func TestPutEntriesDuplicates(t *testing.T) {
	db, _ := openTest(t, Options{})
	recs, _ := inReleaseRecords(t, corpusInRelease)
	a, b := recs[0], recs[1]
	shared := b
	shared.Path = "dists/bookworm/by-hash/SHA256/" + b.Entry.Digest.String()
	later := a
	later.Entry.Digest, later.Entry.Size = b.Entry.Digest, b.Entry.Size
	in := []Record{a, shared, b, later}
	if err := db.PutEntries("debian", in); err != nil {
		t.Fatal(err)
	}
	if in[0].Path != a.Path || in[3].Entry.Digest != b.Entry.Digest {
		t.Error("PutEntries changed its argument")
	}
	want := map[string]Entry{a.Path: later.Entry, b.Path: b.Entry, shared.Path: b.Entry}
	for path, e := range want {
		if got, err := db.Lookup("debian", path); err != nil || !equalEntry(got, e) {
			t.Errorf("Lookup(%s) = %+v, %v; want %+v", path, got, err, e)
		}
	}
	if n, _ := db.CountEntries("debian"); n != len(want) {
		t.Errorf("CountEntries = %d, want %d", n, len(want))
	}
}

// TestNewestSnapshotWins: an ingest from an older snapshot does not replace
// what a newer snapshot recorded for the same path.
func TestNewestSnapshotWins(t *testing.T) {
	db, _ := openTest(t, Options{})
	newer := Entry{Digest: digestOf("new"), Size: 3, Snapshot: 7, Kind: Package}
	older := Entry{Digest: digestOf("old"), Size: 3, Snapshot: 5, Kind: Package}
	urlKeyed := Entry{Digest: digestOf("url"), Size: 3, Kind: Other}
	newest := Entry{Digest: digestOf("newest"), Size: 6, Snapshot: 8, Kind: Package}
	const p = "pool/main/t/tzdata/tzdata_2024a-0+deb12u1_all.deb"
	steps := []struct {
		put  Entry
		want Entry
	}{
		{newer, newer},
		{older, newer},
		{urlKeyed, newer},
		{newest, newest},
	}
	for i, s := range steps {
		if err := db.PutEntries("debian", []Record{{Path: p, Entry: s.put}}); err != nil {
			t.Fatal(err)
		}
		if got, err := db.Lookup("debian", p); err != nil || !equalEntry(got, s.want) {
			t.Errorf("step %d: Lookup = %+v, %v; want %+v", i, got, err, s.want)
		}
	}
}

func TestBulkDebianPackages(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the 50 MB bookworm Packages")
	}
	recs := mustRecords(t, debianPackages)
	distinct := make(map[string]bool, len(recs))
	for _, r := range recs {
		distinct[r.Path] = true
	}
	db, _ := openTest(t, Options{})
	bulk := db.NewBulk("debian", 20_000)
	for _, r := range recs {
		if err := bulk.Add(r.Path, r.Entry); err != nil {
			t.Fatal(err)
		}
	}
	if err := bulk.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := db.CountEntries("debian"); err != nil || n != len(distinct) {
		t.Errorf("CountEntries = %d, %v; want %d (%d stanzas)", n, err, len(distinct), len(recs))
	}
	for i := 0; i < len(recs); i += 997 {
		r := recs[i]
		if got, err := db.Lookup("debian", r.Path); err != nil || !equalEntry(got, r.Entry) {
			t.Errorf("Lookup(%s) = %+v, %v; want %+v", r.Path, got, err, r.Entry)
		}
	}
}

func TestBulkStickyError(t *testing.T) {
	db, _ := openTest(t, Options{})
	bulk := db.NewBulk("debian", 2)
	if err := bulk.Add("a", Entry{}); err != nil {
		t.Fatal(err)
	}
	err := bulk.Add("", Entry{})
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("Add of an empty path: %v", err)
	}
	if err := bulk.Add("c", Entry{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Add after an error: %v", err)
	}
	if err := bulk.Close(); !errors.Is(err, ErrInvalid) {
		t.Errorf("Close after an error: %v", err)
	}
	if n, _ := db.CountEntries("debian"); n != 0 {
		t.Errorf("the failed chunk left %d entries", n)
	}
}

func TestSnapshots(t *testing.T) {
	db, _ := openTest(t, Options{})
	inrelease := func(date string) *Snapshot {
		tm, err := time.Parse(time.RFC1123, date)
		if err != nil {
			t.Fatal(err)
		}
		return &Snapshot{
			Repo: "debian", Root: "dists/bookworm", Version: date, Time: tm, Mirror: "http://deb.mirror.lan/debian",
			Files: map[string]FileRef{"dists/bookworm/InRelease": {Digest: digestOf(date), Size: 151075}},
		}
	}
	first := inrelease("Sat, 10 May 2026 10:16:37 UTC")
	second := inrelease("Sat, 11 Jul 2026 10:16:37 UTC")
	yum := &Snapshot{Repo: "debian", Root: "", Version: "1716330110"}
	for _, s := range []*Snapshot{first, second, yum} {
		if err := db.PutSnapshot(s); err != nil {
			t.Fatal(err)
		}
	}
	if !(first.ID < second.ID && second.ID < yum.ID) {
		t.Fatalf("ids not monotonic: %d %d %d", first.ID, second.ID, yum.ID)
	}
	cur, err := db.CurrentSnapshot("debian", "dists/bookworm")
	if err != nil || cur.ID != second.ID || cur.Files["dists/bookworm/InRelease"] != second.Files["dists/bookworm/InRelease"] || !cur.Time.Equal(second.Time) {
		t.Fatalf("CurrentSnapshot = %+v, %v; want %+v", cur, err, second)
	}
	if cur, err := db.CurrentSnapshot("debian", ""); err != nil || cur.ID != yum.ID {
		t.Errorf("CurrentSnapshot of the top root = %+v, %v", cur, err)
	}

	// A lagging mirror's older InRelease must not become current.
	stale := inrelease("Fri, 09 May 2026 10:16:37 UTC")
	if err := db.PutSnapshot(stale); !errors.Is(err, ErrStale) || stale.ID != 0 {
		t.Errorf("PutSnapshot(older) = %v, id %d; want ErrStale", err, stale.ID)
	}

	// Revalidation updates without switching.
	first.FetchedAt = time.Date(2026, 7, 12, 0, 0, 0, 0, time.UTC)
	first.Loaded = []string{"dists/bookworm/main/binary-amd64/Packages.xz"}
	if err := db.UpdateSnapshot(first); err != nil {
		t.Fatal(err)
	}
	if cur, _ := db.CurrentSnapshot("debian", "dists/bookworm"); cur.ID != second.ID {
		t.Errorf("UpdateSnapshot switched current to %d", cur.ID)
	}
	moved := *first
	moved.Root = "dists/trixie"
	if err := db.UpdateSnapshot(&moved); !errors.Is(err, ErrInvalid) {
		t.Errorf("UpdateSnapshot moving root: %v", err)
	}

	all, err := db.Snapshots("debian")
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for _, s := range all {
		ids = append(ids, s.ID)
	}
	if fmt.Sprint(ids) != fmt.Sprint([]uint64{yum.ID, second.ID, first.ID}) {
		t.Errorf("Snapshots ids = %v, want newest first", ids)
	}
	if got := all[2]; !got.FetchedAt.Equal(first.FetchedAt) || fmt.Sprint(got.Loaded) != fmt.Sprint(first.Loaded) {
		t.Errorf("updated snapshot read back as %+v", got)
	}

	if err := db.DeleteSnapshot("debian", second.ID); !errors.Is(err, ErrCurrent) {
		t.Errorf("DeleteSnapshot(current) = %v, want ErrCurrent", err)
	}
	if err := db.DeleteSnapshot("debian", first.ID); err != nil {
		t.Fatal(err)
	}
	if all, _ := db.Snapshots("debian"); len(all) != 2 {
		t.Errorf("after delete %d snapshots, want 2", len(all))
	}
	if err := db.PutSnapshot(inrelease("Sun, 12 Jul 2026 10:16:37 UTC")); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteSnapshot("debian", second.ID); err != nil {
		t.Errorf("DeleteSnapshot of a superseded snapshot: %v", err)
	}
}

func TestTouchAndFlush(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	db, _ := openTest(t, Options{Now: clk.now})
	popular, rare, gone := digestOf("popular"), digestOf("rare"), digestOf("gone")
	stored := clk.t
	for _, d := range []checksum.Digest{popular, rare} {
		if err := db.PutBlob(d, Blob{Size: 1 << 20, Stored: stored, Priority: 1e9}); err != nil {
			t.Fatal(err)
		}
	}
	if b, _ := db.Blob(popular); b.Priority != 0 {
		t.Errorf("PutBlob kept the caller's priority %v", b.Priority)
	}
	for range 3 {
		clk.t = clk.t.Add(time.Second)
		db.Touch(popular)
	}
	db.Touch(rare)
	db.Touch(gone) // no record: dropped at flush
	if b, _ := db.Blob(popular); b.Hits != 0 {
		t.Errorf("Touch wrote before a flush: %+v", b)
	}
	if err := db.FlushAccess(); err != nil {
		t.Fatal(err)
	}
	b, err := db.Blob(popular)
	if err != nil {
		t.Fatal(err)
	}
	if b.Hits != 3 || !b.LastAccess.Equal(clk.t) || !b.Stored.Equal(stored) || b.Priority != 3 || b.Size != 1<<20 {
		t.Errorf("popular after flush: %+v", b)
	}

	// LFUDA: evicting rare raises the cache age to its priority (1), so one
	// new hit on popular puts it at 1 + 4.
	ev, err := db.Evict(rare)
	if err != nil || ev.Hits != 1 || ev.Priority != 1 {
		t.Fatalf("Evict(rare) = %+v, %v", ev, err)
	}
	db.Touch(popular)
	if err := db.FlushAccess(); err != nil {
		t.Fatal(err)
	}
	if b, _ := db.Blob(popular); b.Hits != 4 || b.Priority != 5 {
		t.Errorf("popular after eviction and a hit: %+v, want priority 5", b)
	}
	if _, err := db.Blob(gone); !errors.Is(err, ErrNotFound) {
		t.Errorf("a Touch created a record: %v", err)
	}

	var n int
	if err := db.Blobs(func(d checksum.Digest, b Blob) error { n++; return nil }); err != nil || n != 1 {
		t.Errorf("Blobs walked %d (%v), want 1", n, err)
	}
	if err := db.DeleteBlob(popular); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Blob(popular); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted blob: %v", err)
	}
}

// TestAccessSurvivesClose: Close flushes; FlushEvery flushes when its context ends.
func TestAccessSurvivesClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	d := digestOf("blob")
	db, err := Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.PutBlob(d, Blob{Size: 4}); err != nil {
		t.Fatal(err)
	}
	db.Touch(d)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := db.FlushEvery(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	db.Touch(d)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if b, err := db.Blob(d); err != nil || b.Hits != 2 {
		t.Errorf("after reopen %+v, %v; want 2 hits", b, err)
	}
}

func TestAliases(t *testing.T) {
	db, _ := openTest(t, Options{})
	// bookworm main/binary-amd64/Packages, from the InRelease's MD5Sum and SHA256 sections.
	md5 := mustSum(t, "MD5Sum", "f230d61720e789abf5df55d6026230c6")
	d, err := checksum.ParseDigest("515e692f2c4121c6fcec444ef100cc18f79a991910615f3a88c8b7becfc94d2f")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.PutAlias(md5, d); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Alias(md5); err != nil || got != d {
		t.Errorf("Alias = %s, %v; want %s", got, err, d)
	}
	// Same bytes under another algorithm are another key.
	other := checksum.Sum{Algo: checksum.SHA1, Value: append(md5.Value, 0, 0, 0, 0)}
	if _, err := db.Alias(other); !errors.Is(err, ErrNotFound) {
		t.Errorf("Alias(sha1) = %v, want ErrNotFound", err)
	}
}

func TestCounters(t *testing.T) {
	db, _ := openTest(t, Options{})
	steps := []map[string]int64{
		{"hits": 3, "bytes_served": 1 << 40},
		{"hits": 2, "misses": 1},
		{"bytes_served": -5},
	}
	for _, s := range steps {
		if err := db.AddCounters(s); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.Counters()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"hits": 5, "misses": 1, "bytes_served": 1<<40 - 5}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Counters = %v, want %v", got, want)
	}
}

// TestLocked: bbolt's flock conflicts between two opens of one file even
// within a process, so the second Open times out with ErrLocked.
func TestLocked(t *testing.T) {
	db, path := openTest(t, Options{})
	_, err := Open(path, Options{Timeout: 50 * time.Millisecond})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "is in use (is lazymirror serve running?)") || !strings.Contains(err.Error(), path) {
		t.Fatalf("second Open = %v, want ErrLocked naming the file", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	// openTest's cleanup closes db again; closing a closed bbolt DB is a no-op.
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
}

// writeRaw builds a database with raw bbolt calls, as an older or newer
// lazymirror would have left it.
func writeRaw(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bdb.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := bdb.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	future := schemaVersion() + 1
	writeRaw(t, path, func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket([]byte("meta"))
		if err != nil {
			return err
		}
		return meta.Put([]byte("version"), binary.AppendUvarint(nil, uint64(future)))
	})
	_, err := Open(path, Options{})
	if !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("Open = %v, want ErrNewerSchema", err)
	}
	for _, want := range []string{fmt.Sprint(future), fmt.Sprint(schemaVersion()), "upgrade lazymirror"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// The refused file was closed: it can be opened (and refused) again.
	if _, err := Open(path, Options{Timeout: 50 * time.Millisecond}); !errors.Is(err, ErrNewerSchema) {
		t.Errorf("second Open = %v", err)
	}
}

// TestMigrateFromV1 writes a version 1 database by hand (blob records
// without priority) and checks that Open migrates it to the current schema
// with every record readable.
func TestMigrateFromV1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	recs, _ := inReleaseRecords(t, corpusInRelease)
	stored := time.Date(2026, 7, 11, 10, 16, 37, 0, time.UTC)
	lastAccess := stored.Add(time.Hour)
	blobs := map[checksum.Digest]uint64{recs[0].Entry.Digest: 7, recs[1].Entry.Digest: 0}
	writeRaw(t, path, func(tx *bolt.Tx) error {
		top := map[string]*bolt.Bucket{}
		for _, name := range []string{"meta", "entries", "snapshots", "blobs", "aliases", "counters"} {
			b, err := tx.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			top[name] = b
		}
		if err := top["meta"].Put([]byte("version"), []byte{1}); err != nil {
			return err
		}
		repo, err := top["entries"].CreateBucket([]byte("debian"))
		if err != nil {
			return err
		}
		for _, r := range recs {
			// entry encoding 1: version, kind, flags (digest), sha256, size, snapshot.
			v := append([]byte{1, byte(r.Entry.Kind), 1}, r.Entry.Digest[:]...)
			v = binary.AppendVarint(v, r.Entry.Size)
			v = binary.AppendUvarint(v, r.Entry.Snapshot)
			if err := repo.Put([]byte(r.Path), v); err != nil {
				return err
			}
		}
		for d, hits := range blobs {
			// blob encoding 1: version, flags (stored, last access), size, stored, last access, hits.
			v := []byte{1, 3}
			v = binary.AppendVarint(v, 151075)
			v = binary.AppendVarint(v, stored.UnixNano())
			v = binary.AppendVarint(v, lastAccess.UnixNano())
			v = binary.AppendUvarint(v, hits)
			if err := top["blobs"].Put(d[:], v); err != nil {
				return err
			}
		}
		return top["counters"].Put([]byte("hits"), binary.AppendVarint(nil, 7))
	})

	db, err := Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.bolt.View(func(tx *bolt.Tx) error {
		v, err := readVersion(tx)
		if err == nil && v != schemaVersion() {
			err = fmt.Errorf("version %d after Open, want %d", v, schemaVersion())
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for d, hits := range blobs {
		b, err := db.Blob(d)
		if err != nil {
			t.Fatal(err)
		}
		if b.Hits != hits || b.Priority != float64(hits) || b.Size != 151075 || !b.Stored.Equal(stored) || !b.LastAccess.Equal(lastAccess) {
			t.Errorf("migrated blob %s = %+v", d, b)
		}
	}
	if n, err := db.CountEntries("debian"); err != nil || n != len(recs) {
		t.Errorf("CountEntries = %d, %v; want %d", n, err, len(recs))
	}
	if e, err := db.Lookup("debian", recs[2].Path); err != nil || !equalEntry(e, recs[2].Entry) {
		t.Errorf("Lookup after migration = %+v, %v", e, err)
	}
	if c, err := db.Counters(); err != nil || c["hits"] != 7 {
		t.Errorf("Counters after migration = %v, %v", c, err)
	}
	// The migrated records work with the current code.
	d := recs[0].Entry.Digest
	db.Touch(d)
	if err := db.FlushAccess(); err != nil {
		t.Fatal(err)
	}
	if b, _ := db.Blob(d); b.Hits != 8 || b.Priority != 8 {
		t.Errorf("hit on a migrated blob: %+v", b)
	}
}

// TestConcurrentTouch: hits recorded from many goroutines while flushes run
// are all counted once.
func TestConcurrentTouch(t *testing.T) {
	db, _ := openTest(t, Options{})
	recs, _ := inReleaseRecords(t, corpusInRelease)
	blobs := recs[:8]
	for _, r := range blobs {
		if err := db.PutBlob(r.Entry.Digest, Blob{Size: r.Entry.Size}); err != nil {
			t.Fatal(err)
		}
	}
	const workers, touches = 4, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range touches {
				db.Touch(blobs[(w+i)%len(blobs)].Entry.Digest)
				if _, err := db.Lookup("debian", "absent"); !errors.Is(err, ErrNotFound) {
					t.Error(err)
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			if err := db.FlushAccess(); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	if err := db.FlushAccess(); err != nil {
		t.Fatal(err)
	}
	var hits uint64
	if err := db.Blobs(func(_ checksum.Digest, b Blob) error { hits += b.Hits; return nil }); err != nil {
		t.Fatal(err)
	}
	if hits != workers*touches {
		t.Errorf("%d hits recorded, want %d", hits, workers*touches)
	}
}

// TestLookupFollowsChanges: Lookup's memo never answers with what the
// entries held before a change: each write below is seen by the Lookup
// that follows it, whether the memo held the path as absent or present.
func TestLookupFollowsChanges(t *testing.T) {
	db, _ := openTest(t, Options{})
	lookup := func(want Entry, found bool) {
		t.Helper()
		for range 2 { // the second answer comes from the memo
			e, err := db.Lookup("debian", "pool/a.deb")
			switch {
			case found && err != nil:
				t.Fatalf("lookup: %v", err)
			case !found && !errors.Is(err, ErrNotFound):
				t.Fatalf("lookup: %v, %+v; want not found", err, e)
			case found && (e.Digest != want.Digest || e.Size != want.Size):
				t.Fatalf("lookup: %x %d, want %x %d", e.Digest, e.Size, want.Digest, want.Size)
			}
		}
	}
	lookup(Entry{}, false)
	first := Entry{Digest: digestOf("a1"), Size: 1, Snapshot: 1, Kind: Package}
	if err := db.Put("debian", "pool/a.deb", first); err != nil {
		t.Fatal(err)
	}
	lookup(first, true)
	second := Entry{Digest: digestOf("a2"), Size: 2, Snapshot: 2, Kind: Package}
	bulk := db.NewBulk("debian", 0)
	if err := bulk.Add("pool/a.deb", second); err != nil {
		t.Fatal(err)
	}
	if err := bulk.Close(); err != nil {
		t.Fatal(err)
	}
	lookup(second, true)
	if err := db.DeleteEntry("debian", "pool/a.deb"); err != nil {
		t.Fatal(err)
	}
	lookup(Entry{}, false)
}

// TestDatedAfter: snapshots order by date, unless the current one was dated
// more than MaxFuture after it was fetched; PutSnapshot follows it.
func TestDatedAfter(t *testing.T) {
	fetched := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name      string
		cur       Snapshot
		next      time.Time
		want      bool
		wantStale bool
	}{
		{"older root", Snapshot{Time: fetched, FetchedAt: fetched}, fetched.Add(-time.Hour), true, true},
		{"newer root", Snapshot{Time: fetched, FetchedAt: fetched}, fetched.Add(time.Hour), false, false},
		{"same date", Snapshot{Time: fetched, FetchedAt: fetched}, fetched, false, false},
		{"current a little ahead", Snapshot{Time: fetched.Add(MaxFuture), FetchedAt: fetched}, fetched, true, true},
		{"current dated days ahead", Snapshot{Time: fetched.Add(48 * time.Hour), FetchedAt: fetched}, fetched, false, false},
		{"no fetch time: by date", Snapshot{Time: fetched.Add(48 * time.Hour)}, fetched, true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cur.DatedAfter(tt.next); got != tt.want {
				t.Errorf("DatedAfter = %t, want %t", got, tt.want)
			}
			db, _ := openTest(t, Options{})
			cur := tt.cur
			cur.Repo, cur.Root = "debian", "dists/stable"
			if err := db.PutSnapshot(&cur); err != nil {
				t.Fatal(err)
			}
			next := &Snapshot{Repo: "debian", Root: "dists/stable", Time: tt.next, FetchedAt: fetched}
			if err := db.PutSnapshot(next); errors.Is(err, ErrStale) != tt.wantStale {
				t.Errorf("PutSnapshot of the next root: %v, want stale %t", err, tt.wantStale)
			}
		})
	}
}
