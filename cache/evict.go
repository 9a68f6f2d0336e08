package cache

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"lazymirror/checksum"
	"lazymirror/config"
	"lazymirror/index"
)

// lowWater is the fraction of max_size eviction brings the store down to,
// so that it does not run again at the next download.
const lowWater = 0.9

// evictor keeps the store under the configured size. It runs in the
// goroutine of the download that pushed the store over the limit, after
// that download's clients have their bytes: requests are never stalled.
type evictor struct {
	max    int64  // bytes; 0: no limit
	policy string // config.EvictLFUDA or config.EvictLRU

	running sync.Mutex  // one eviction at a time; others skip
	stuck   atomic.Bool // the last pass could not get under max

	// records makes "is there a record of d? then add (or drop) it and
	// count its bytes" one step, per digest: two downloads of the same
	// bytes under different flight keys, and gc and an eviction that
	// listed the same record, would otherwise each count it.
	records [64]sync.Mutex

	mu    sync.Mutex
	total int64                   // bytes of the blob records
	inUse map[checksum.Digest]int // blobs open for a client: never evicted
}

// hold and release count the clients reading a blob.
func (ev *evictor) hold(d checksum.Digest, n int) {
	ev.mu.Lock()
	ev.inUse[d] += n
	ev.mu.Unlock()
}

// lockRecord locks the record of d against another record or drop of it.
func (ev *evictor) lockRecord(d checksum.Digest) func() {
	mu := &ev.records[d[0]%byte(len(ev.records))]
	mu.Lock()
	return mu.Unlock
}

func (ev *evictor) release(d checksum.Digest) {
	ev.mu.Lock()
	if ev.inUse[d]--; ev.inUse[d] <= 0 {
		delete(ev.inUse, d)
	}
	ev.mu.Unlock()
}

// removeUnlessUsed runs remove unless a client holds d, and says whether it
// ran. Holding ev.mu meanwhile (an unlink: microseconds) makes the check
// and the removal one step: a client that holds d after it finds the blob
// gone from the store, and fetches it again, never a blob that vanishes
// under its hold.
func (ev *evictor) removeUnlessUsed(d checksum.Digest, remove func() error) (bool, error) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if ev.inUse[d] > 0 {
		return false, nil
	}
	return true, remove()
}

// evictRecord drops the record of blob d as eviction does (the LFUDA cache
// age follows it).
func (c *Cache) evictRecord(d checksum.Digest) error {
	_, err := c.idx.Evict(d)
	return err
}

// blobRecord is a blob and its record, as listed for removal.
type blobRecord struct {
	d checksum.Digest
	b index.Blob
}

// dropBlob removes blob d from the index and the store unless a client
// holds it, and says whether it did and how many bytes its record counted
// (none when another drop removed it meanwhile). The record goes first,
// through unrecord, then the file: a crash between leaves an orphan file
// (verify finds it), never a record of a missing blob. A blob a client
// holds is left as it is; one a client took meanwhile keeps its file, and
// gets its record back (without the hits flushed in between).
func (c *Cache) dropBlob(d checksum.Digest, unrecord func(checksum.Digest) error) (removed bool, size int64, err error) {
	defer c.ev.lockRecord(d)()
	if c.ev.used(d) {
		return false, 0, nil
	}
	// gc and an eviction list records before they drop them: when the
	// other one dropped d meanwhile, it counted the bytes off, and a
	// record put back now would name a file that is gone.
	cur, err := c.idx.Blob(d)
	if errors.Is(err, index.ErrNotFound) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, err
	}
	if err := unrecord(d); err != nil && !errors.Is(err, index.ErrNotFound) {
		return false, 0, err
	}
	removed, err = c.ev.removeUnlessUsed(d, func() error { return c.removeBlob(d) })
	if err != nil {
		return false, 0, fmt.Errorf("remove blob %s: %w", d, err)
	}
	if !removed {
		return false, 0, c.idx.PutBlob(d, cur)
	}
	c.ev.add(-cur.Size)
	return true, cur.Size, nil
}

func (ev *evictor) used(d checksum.Digest) bool {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return ev.inUse[d] > 0
}

// add counts bytes stored (or, negative, removed).
func (ev *evictor) add(n int64) {
	ev.mu.Lock()
	ev.total += n
	ev.mu.Unlock()
}

// size returns the bytes of the blob records.
func (ev *evictor) size() int64 {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return ev.total
}

// over reports whether the store exceeds its limit.
func (ev *evictor) over() bool {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return ev.max > 0 && ev.total > ev.max
}

// initEvictor sums the stored blobs at start.
func (c *Cache) initEvictor(cfg *config.Config) error {
	c.ev = evictor{max: cfg.MaxSize, policy: cfg.Eviction, inUse: make(map[checksum.Digest]int)}
	return c.idx.Blobs(func(_ checksum.Digest, b index.Blob) error {
		c.ev.total += b.Size
		return nil
	})
}

// EvictReport says what an eviction removed, or, in a dry run, would.
type EvictReport struct {
	// DryRun: nothing was removed; Blobs, Bytes, Left and Evicted say what
	// the run would have done.
	DryRun bool `json:"dry_run"`
	// Limit is the size the run brought the store down to (or tried to).
	Limit int64 `json:"limit"`
	Blobs int   `json:"blobs"`
	Bytes int64 `json:"bytes"`
	// Left is what the store holds afterwards.
	Left int64 `json:"left"`
	// Evicted lists the blobs removed, in policy order (lowest first).
	Evicted []EvictedBlob `json:"evicted"`
}

// EvictedBlob is one blob an eviction removed (or would remove), with the
// record that ranked it.
type EvictedBlob struct {
	Digest     string    `json:"digest"`
	Size       int64     `json:"size"`
	Hits       uint64    `json:"hits"`
	LastAccess time.Time `json:"last_access"`
	// Priority is the LFUDA key (cache age + hits).
	Priority float64 `json:"priority"`
}

// Evict removes blobs, lowest priority first (LFUDA: age + hits; LRU: last
// access), until the store is under the low-water mark of max_size. Never
// evicted: blobs clients are reading, and the metadata every snapshot
// needs (root files, and any file an index entry marks as metadata). Entries
// keep pointing at evicted blobs: a later request fetches them again.
func (c *Cache) Evict(ctx context.Context) (EvictReport, error) {
	limit := int64(float64(c.ev.max) * lowWater)
	rep := EvictReport{Limit: limit, Evicted: []EvictedBlob{}}
	if !c.ev.running.TryLock() {
		return rep, nil // another eviction runs, and checks the size again when done
	}
	defer c.ev.running.Unlock()
	for {
		rep.Left = c.ev.size()
		// Downloads that ended during a pass may have pushed it over again.
		if !c.ev.over() {
			return rep, nil
		}
		r, err := c.evictOnce(ctx, limit, false)
		rep.Blobs, rep.Bytes, rep.Left = rep.Blobs+r.Blobs, rep.Bytes+r.Bytes, r.Left
		rep.Evicted = append(rep.Evicted, r.Evicted...)
		// Said once, not at every download while it lasts.
		if stuck := r.Left > c.ev.max && ctx.Err() == nil; stuck != c.ev.stuck.Swap(stuck) && stuck {
			c.log.Warn("the store stays over max_size: what is left is metadata the current snapshots need and blobs clients are reading; raise max_size", "left", r.Left, "max", c.ev.max)
		}
		if err != nil || r.Blobs == 0 {
			return rep, err
		}
	}
}

// EvictTo evicts as Evict does, in the same order and sparing the same
// blobs, down to `to` bytes whatever max_size says (an operator making room
// now). With dryRun it removes nothing and reports what would go, skipping
// the blobs clients hold now as the real run would. It waits for a running
// eviction to end.
func (c *Cache) EvictTo(ctx context.Context, to int64, dryRun bool) (EvictReport, error) {
	if to < 0 {
		return EvictReport{Limit: to, DryRun: dryRun, Evicted: []EvictedBlob{}}, fmt.Errorf("evict to %d bytes: a size is not negative", to)
	}
	c.ev.running.Lock()
	defer c.ev.running.Unlock()
	return c.evictOnce(ctx, to, dryRun)
}

// evictOnce is one pass of eviction: it removes blobs in policy order until
// the store holds no more than limit bytes, or, with dryRun, lists what it
// would remove and removes nothing. The caller holds c.ev.running.
func (c *Cache) evictOnce(ctx context.Context, limit int64, dryRun bool) (EvictReport, error) {
	rep := EvictReport{DryRun: dryRun, Limit: limit, Evicted: []EvictedBlob{}}
	total := c.ev.size()
	rep.Left = total
	if total <= limit {
		return rep, nil
	}
	if err := c.idx.FlushAccess(); err != nil { // priorities from every hit so far
		return rep, err
	}
	keep, err := c.protected()
	if err != nil {
		return rep, err
	}
	var cands []blobRecord
	err = c.idx.Blobs(func(d checksum.Digest, b index.Blob) error {
		if !keep[d] {
			cands = append(cands, blobRecord{d, b})
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	slices.SortFunc(cands, func(a, b blobRecord) int {
		if c.ev.policy == config.EvictLRU {
			return a.b.LastAccess.Compare(b.b.LastAccess)
		}
		return cmp.Or(cmp.Compare(a.b.Priority, b.b.Priority), a.b.LastAccess.Compare(b.b.LastAccess))
	})
	for _, cd := range cands {
		if total <= limit || ctx.Err() != nil {
			break
		}
		if c.ev.used(cd.d) {
			continue
		}
		size := cd.b.Size
		if !dryRun {
			var removed bool
			removed, size, err = c.dropBlob(cd.d, c.evictRecord)
			if err != nil {
				return rep, fmt.Errorf("evict: %w", err)
			}
			if !removed { // a client took it meanwhile, or gc dropped it
				continue
			}
		}
		total -= size
		rep.Blobs++
		rep.Bytes += size
		rep.Evicted = append(rep.Evicted, EvictedBlob{Digest: cd.d.String(), Size: size, Hits: cd.b.Hits, LastAccess: cd.b.LastAccess, Priority: cd.b.Priority})
	}
	rep.Left = total
	if rep.Blobs > 0 && !dryRun {
		c.log.Info("evicted", "blobs", rep.Blobs, "bytes", rep.Bytes, "left", rep.Left, "limit", limit, "max", c.ev.max, "policy", c.ev.policy)
	}
	return rep, ctx.Err()
}

// protected returns the blobs eviction must keep: the files of every
// snapshot in memory (current and previous) and of the two newest the index
// records for each root (what gc retains; a cache that has not loaded its
// roots yet, as evict on the data directory, has none in memory), and every
// blob an entry marks as metadata or root.
func (c *Cache) protected() (map[checksum.Digest]bool, error) {
	keep := make(map[checksum.Digest]bool)
	for name, rs := range c.repos {
		snaps, err := c.idx.Snapshots(name) // newest first
		if err != nil {
			return nil, err
		}
		retained := make(map[string]int)
		snaps = slices.DeleteFunc(snaps, func(s *index.Snapshot) bool {
			retained[s.Root]++
			return retained[s.Root] > 2
		})
		for _, st := range rs.known() {
			snaps = append(snaps, st.snap.Load(), st.prev.Load())
		}
		for _, s := range snaps {
			if s == nil {
				continue
			}
			for _, ref := range s.Files {
				keep[ref.Digest] = true
			}
		}
		err = c.idx.Entries(name, func(_ string, e index.Entry) error {
			if (e.Kind == index.Metadata || e.Kind == index.Root) && !e.Digest.IsZero() {
				keep[e.Digest] = true
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return keep, nil
}
