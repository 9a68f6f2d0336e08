package cache

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

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
// (verify finds it), never a record of a missing blob. A blob a client took
// meanwhile keeps its file, and gets its record back.
func (c *Cache) dropBlob(d checksum.Digest, unrecord func(checksum.Digest) error) (removed bool, size int64, err error) {
	defer c.ev.lockRecord(d)()
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

// EvictReport says what an eviction removed.
type EvictReport struct {
	Blobs int
	Bytes int64
	// Left is what the store holds afterwards.
	Left int64
}

// Evict removes blobs, lowest priority first (LFUDA: age + hits; LRU: last
// access), until the store is under the low-water mark of max_size. Never
// evicted: blobs clients are reading, and the metadata every snapshot
// needs (root files, and any file an index entry marks as metadata). Entries
// keep pointing at evicted blobs: a later request fetches them again.
func (c *Cache) Evict(ctx context.Context) (EvictReport, error) {
	var rep EvictReport
	if !c.ev.running.TryLock() {
		return rep, nil // another eviction runs, and checks the size again when done
	}
	defer c.ev.running.Unlock()
	for {
		r, err := c.evictOnce(ctx)
		rep.Blobs, rep.Bytes, rep.Left = rep.Blobs+r.Blobs, rep.Bytes+r.Bytes, r.Left
		// Downloads that ended meanwhile may have pushed it over again.
		if err != nil || r.Blobs == 0 || !c.ev.over() {
			return rep, err
		}
	}
}

// evictOnce is one pass of Evict.
func (c *Cache) evictOnce(ctx context.Context) (EvictReport, error) {
	var rep EvictReport
	c.ev.mu.Lock()
	total, limit := c.ev.total, int64(float64(c.ev.max)*lowWater)
	c.ev.mu.Unlock()
	rep.Left = total
	if c.ev.max <= 0 || total <= c.ev.max {
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
		removed, size, err := c.dropBlob(cd.d, c.evictRecord)
		if err != nil {
			return rep, fmt.Errorf("evict: %w", err)
		}
		if !removed { // a client took it meanwhile, or gc dropped it
			continue
		}
		total -= size
		rep.Blobs++
		rep.Bytes += size
	}
	rep.Left = total
	if rep.Blobs > 0 {
		c.log.Info("evicted", "blobs", rep.Blobs, "bytes", rep.Bytes, "left", rep.Left, "max", c.ev.max, "policy", c.ev.policy)
	}
	// Said once, not at every download while it lasts.
	if stuck := total > c.ev.max && ctx.Err() == nil; stuck != c.ev.stuck.Swap(stuck) && stuck {
		c.log.Warn("the store stays over max_size: what is left is metadata the current snapshots need and blobs clients are reading; raise max_size", "left", total, "max", c.ev.max)
	}
	return rep, ctx.Err()
}

// protected returns the blobs eviction must keep: the files of every
// snapshot in memory (current and previous), and every blob an entry marks
// as metadata or root.
func (c *Cache) protected() (map[checksum.Digest]bool, error) {
	keep := make(map[checksum.Digest]bool)
	for _, rs := range c.repos {
		for _, st := range rs.known() {
			for _, s := range []*index.Snapshot{st.snap.Load(), st.prev.Load()} {
				if s == nil {
					continue
				}
				for _, ref := range s.Files {
					keep[ref.Digest] = true
				}
			}
		}
		err := c.idx.Entries(rs.cfg.Name, func(_ string, e index.Entry) error {
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
