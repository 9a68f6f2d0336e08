package cache

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"lazymirror/checksum"
	"lazymirror/index"
)

// TestEvictToDryRun: EvictTo's dry run removes nothing and lists exactly
// the blobs the real run then removes, in the same (LFUDA) order; both skip
// a blob a client holds and the metadata an entry marks, and the real run
// brings the store to the size asked for.
func TestEvictToDryRun(t *testing.T) {
	ctx := context.Background()
	c := newRecordCache(t)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 1000
	var ds []checksum.Digest
	// Blob i has i+1 hits: LFUDA ranks them 0, 1, 2, ...
	for i := range 6 {
		b := make([]byte, n)
		b[0] = byte(i)
		d := storeBlob(t, c, b)
		if err := c.recordBlob(d, index.Blob{Size: n, Stored: base, LastAccess: base.Add(time.Duration(i) * time.Minute), Hits: uint64(i + 1)}); err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	// Blob 0 is metadata an entry needs; a client reads blob 2.
	if err := c.idx.Put("r", "dists/stable/InRelease", index.Entry{Digest: ds[0], Size: n, Kind: index.Root}); err != nil {
		t.Fatal(err)
	}
	c.ev.hold(ds[2], 1)
	defer c.ev.release(ds[2])

	const to = 3 * n // six blobs: three must go
	dry, err := c.EvictTo(ctx, to, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{ds[1].String(), ds[3].String(), ds[4].String()}
	if got := names(dry.Evicted); !slices.Equal(got, want) {
		t.Errorf("dry run would evict %v, want blobs 1, 3, 4: %v", got, want)
	}
	if !dry.DryRun || dry.Blobs != 3 || dry.Bytes != 3*n || dry.Left != 3*n || dry.Limit != to {
		t.Errorf("dry run report %+v", dry)
	}
	for i, d := range ds {
		if _, err := c.store.Stat(d); err != nil {
			t.Errorf("dry run removed blob %d: %v", i, err)
		}
	}
	checkTotal(t, c)

	run, err := c.EvictTo(ctx, to, false)
	if err != nil {
		t.Fatal(err)
	}
	if run.DryRun || !reflect.DeepEqual(names(run.Evicted), names(dry.Evicted)) || run.Bytes != dry.Bytes || run.Left != dry.Left {
		t.Errorf("real run %+v disagrees with the dry run %+v", run, dry)
	}
	for i, d := range ds {
		_, err := c.store.Stat(d)
		if gone := err != nil; gone != slices.Contains([]int{1, 3, 4}, i) {
			t.Errorf("blob %d gone = %v (%v)", i, gone, err)
		}
	}
	checkTotal(t, c)
	if left := c.ev.size(); left > to {
		t.Errorf("store holds %d bytes, want ≤ %d", left, to)
	}

	// Below what the protected and held blobs need: it stops there.
	rep, err := c.EvictTo(ctx, 0, false)
	if err != nil || rep.Blobs != 1 || rep.Left != 2*n {
		t.Errorf("evict to 0: %+v, %v; want blob 5 gone, blobs 0 and 2 kept", rep, err)
	}
	if _, err := c.EvictTo(ctx, -1, true); err == nil {
		t.Error("evict to -1 accepted")
	}
	// Under the size asked for: nothing to do, and the list is empty, not nil.
	rep, err = c.EvictTo(ctx, 10*n, true)
	if err != nil || rep.Blobs != 0 || rep.Evicted == nil {
		t.Errorf("evict to more than the store holds: %+v, %v", rep, err)
	}
}

func names(bs []EvictedBlob) []string {
	var s []string
	for _, b := range bs {
		s = append(s, b.Digest)
	}
	return s
}
