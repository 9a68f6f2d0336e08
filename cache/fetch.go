package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"lazymirror/checksum"
	"lazymirror/index"
	"lazymirror/internal/decompress"
	"lazymirror/store"
	"lazymirror/upstream"
)

// fetchSpec says what one flight downloads and how it is checked.
type fetchSpec struct {
	rs       *repoState
	rel      string          // path under each mirror's base URL
	digest   checksum.Digest // expected sha256; zero when not known
	size     int64           // expected size; -1 when not known
	upstream checksum.Sum    // the metadata's weaker checksum when no sha256 is known
	punish   bool            // bytes that do not match count against the mirror
	other    bool            // URL-keyed: no checksum, kept for OtherTTL
}

// key collapses flights: by content when it is known, else by URL.
func (s fetchSpec) key() string {
	switch {
	case !s.digest.IsZero():
		return "sha256:" + s.digest.String()
	case !s.upstream.IsZero():
		return s.upstream.String()
	}
	return "url:" + s.rs.cfg.Name + "/" + s.rel
}

// startFlight joins the flight for spec, starting it if none runs. Only
// the request that starts a download is a miss: one that joins a running
// download costs no upstream transfer, and counts as a hit.
func (c *Cache) startFlight(spec fetchSpec) *Object {
	f, leader := c.flights.joinAttached(spec.key(), c.ev.hold)
	if leader {
		c.wg.Add(1)
		go c.run(f, spec)
	}
	return &Object{Digest: spec.digest, Size: spec.size, Hit: !leader, ModTime: c.now(), fl: f, c: c}
}

// run is a flight's leader: it downloads under the cache's own bounded
// context, records the result, and ends the flight.
func (c *Cache) run(f *flight, spec fetchSpec) {
	defer c.wg.Done()
	ctx, cancel := context.WithTimeout(c.ctx, c.opts.FetchTimeout)
	defer cancel()
	held, ok := c.download(ctx, f, spec)
	// An eviction this download calls for runs as a flight of its own (so
	// Idle, and so stats and gc, wait for it), joined before this one
	// leaves the set so that the set is never empty in between.
	var evict *flight
	if c.ev.over() {
		if ef, leader := c.flights.join("evict"); leader {
			evict = ef
		} // else one runs, and checks the size again when done
	}
	// Out of the set before any eviction, and only then is the flight's
	// own hold let go: a request from now on finds the blob in the store
	// (or, once evicted, fetches it again) and never joins a flight whose
	// blob is gone.
	if ok && !spec.other {
		c.preload(spec.rs, spec.rel) // its flight joins before this one leaves
	}
	c.flights.remove(f)
	if ok {
		c.ev.release(held)
	}
	if evict != nil {
		_, err := c.Evict(ctx)
		if err != nil {
			c.log.Warn("eviction", "err", err)
		}
		evict.finish(checksum.Digest{}, 0, err, nil)
		c.flights.remove(evict)
	}
}

// download runs the flight's download (unless the blob was stored while
// the flight was set up), records it and ends the flight. When ok, the
// flight holds the blob against eviction; the caller releases it.
func (c *Cache) download(ctx context.Context, f *flight, spec fetchSpec) (held checksum.Digest, ok bool) {
	if !spec.digest.IsZero() {
		c.ev.hold(spec.digest, 1)
		if size, err := c.store.Stat(spec.digest); err == nil {
			f.finish(spec.digest, size, nil, c.ev.hold)
			return spec.digest, true
		}
		c.ev.release(spec.digest)
	}
	d, size, err := c.fetch(ctx, f, spec)
	if err != nil {
		f.finish(d, size, err, c.ev.hold)
		return d, false
	}
	// From its record on, the blob is an eviction candidate; the flight
	// holds it until it has left the set of flights (see run).
	c.ev.hold(d, 1)
	err = c.record(spec, d, size)
	f.finish(d, size, err, c.ev.hold)
	if err == nil {
		c.log.Debug("stored", "repo", spec.rs.cfg.Name, "path", spec.rel, "sha256", d, "bytes", size)
		// Requests that joined this download were hits on its blob, now
		// that it has a record to count them on.
		f.mu.Lock()
		joins := f.joins
		f.mu.Unlock()
		for range joins {
			c.idx.Touch(d)
		}
	}
	return d, true
}

// errNoCandidate is a pass over the mirrors' error when there was no mirror
// to ask: every breaker is open and its probe in flight.
var errNoCandidate = fmt.Errorf("every mirror's breaker is open and its probe in flight: %w", upstream.ErrBreakerOpen)

// probeWait bounds how long a request with no mirror to ask waits for a
// probe in flight to settle (see candidates).
const probeWait = 30 * time.Second

// candidates returns the mirrors of pool to try, in order, and nil errs,
// or no mirror and errs saying why. With no candidate (every breaker
// open, its probe in flight) it waits, up to probeWait, for a probe to
// settle and asks again: with one mirror, the requests that come during
// its probe then follow the probe's outcome instead of failing at once.
func candidates(ctx context.Context, pool *upstream.Pool) (mirrors []*upstream.Mirror, errs []error) {
	if mirrors = pool.Candidates(); len(mirrors) > 0 {
		return mirrors, nil
	}
	wctx, cancel := context.WithTimeout(ctx, probeWait)
	defer cancel()
	if pool.WaitProbe(wctx) == nil {
		if mirrors = pool.Candidates(); len(mirrors) > 0 {
			return mirrors, nil
		}
	}
	return nil, []error{errNoCandidate}
}

// fetch tries each candidate mirror in turn.
func (c *Cache) fetch(ctx context.Context, f *flight, spec fetchSpec) (checksum.Digest, int64, error) {
	notFound := 0
	mirrors, errs := candidates(ctx, spec.rs.pool)
	for _, m := range mirrors {
		d, size, err := c.attempt(ctx, f, spec, m)
		if err == nil {
			return d, size, nil
		}
		if errors.Is(err, upstream.ErrNotFound) {
			notFound++
		} else {
			c.log.Warn("upstream fetch failed", "repo", spec.rs.cfg.Name, "mirror", m.String(), "path", spec.rel, "err", err)
		}
		errs = append(errs, fmt.Errorf("%s: %w", m, err))
		if ctx.Err() != nil {
			break
		}
	}
	if len(mirrors) > 0 && notFound == len(mirrors) {
		return checksum.Digest{}, 0, fmt.Errorf("on every mirror: %w", ErrNotFound)
	}
	return checksum.Digest{}, 0, fmt.Errorf("%w: %w", ErrUpstream, errors.Join(errs...))
}

// attempt downloads spec from one mirror through a store writer that
// clients follow. On any failure the writer is aborted (followers fail),
// and the mirror is charged unless it merely lacked the file or (for
// metadata) had other bytes at that path.
func (c *Cache) attempt(ctx context.Context, f *flight, spec fetchSpec, m *upstream.Mirror) (checksum.Digest, int64, error) {
	pool := spec.rs.pool
	resp, err := pool.Get(ctx, m, spec.rel, nil)
	if err != nil {
		return checksum.Digest{}, 0, err // Get recorded its outcome
	}
	defer resp.Body.Close()
	// Exactly one outcome per response: Success, Failure, or (bytes merely
	// out of date, a lagging mirror's metadata) Neutral.
	mismatch := func(err error) error {
		if spec.punish {
			pool.Failure(resp, err)
		} else {
			pool.Neutral(resp)
		}
		return err
	}
	if spec.size >= 0 && resp.ContentLength >= 0 && resp.ContentLength != spec.size {
		return checksum.Digest{}, 0, mismatch(fmt.Errorf("mirror announces %d bytes, metadata says %d: %w", resp.ContentLength, spec.size, store.ErrSizeMismatch))
	}
	// With no size from the metadata, the mirror's Content-Length binds the
	// download: a body cut short is then an error, not a shorter blob.
	size := spec.size
	if size < 0 {
		size = resp.ContentLength
	}
	w, err := c.store.Create(spec.digest, size, extras(spec)...)
	if err != nil {
		pool.Neutral(resp)
		return checksum.Digest{}, 0, err
	}
	f.setWriter(w)
	n, err := copyChunks(w, resp.Body)
	spec.rs.counters.fetched.Add(n)
	// The attempt is withdrawn before it is aborted: a client that comes
	// to follow it in between would get the abort, try again, and could
	// use up its tries on this attempt instead of following the next.
	// The mirror's outcome is recorded before followers can see the end
	// of the blob (Abort, or the last byte that waits for the check), so
	// that a client's next request finds the breaker as this transfer left
	// it.
	if err != nil {
		f.setWriter(nil)
		pool.Failure(resp, err)
		err = fmt.Errorf("after %d bytes: %w", n, err)
		w.Abort(err)
		return checksum.Digest{}, 0, err
	}
	if spec.size >= 0 && n != spec.size {
		err = fmt.Errorf("got %d bytes, metadata says %d: %w", n, spec.size, store.ErrSizeMismatch)
	} else {
		err = w.Verify()
	}
	if err != nil {
		f.setWriter(nil)
		w.Abort(mismatch(err))
		return checksum.Digest{}, 0, err
	}
	got, took := resp.Transferred()
	pool.Success(resp, got, took)
	// A failure from here on is this machine's (fsync, rename), not the
	// mirror's.
	d, err := w.Commit()
	if err != nil {
		f.setWriter(nil)
		return checksum.Digest{}, 0, err
	}
	return d, n, nil
}

// Chunking of a download into the store: the upstream body is read ahead
// in its own goroutine (so reading the network overlaps writing and hashing
// the previous chunk), in chunks of chunkSize bytes, which the store hashes
// in parallel with writing them (it does so for writes of 64 KiB or more);
// followers wake once per chunk.
const (
	chunkSize  = 128 << 10
	chunkDepth = 8
)

// copyChunks copies body to w (see chunkSize). It returns body's error as
// it is: a body cut short is an error, never an end. It closes body.
func copyChunks(w io.Writer, body io.ReadCloser) (int64, error) {
	ra := decompress.ReadAhead(body, chunkSize, chunkDepth)
	n, err := ra.(io.WriterTo).WriteTo(w) // whole chunks, no copy
	body.Close()                          // unblocks the read-ahead if it is still reading
	ra.Close()
	return n, err
}

// extras are the weaker sums a download must match besides its sha256.
func extras(spec fetchSpec) []checksum.Sum {
	if spec.digest.IsZero() && !spec.upstream.IsZero() {
		return []checksum.Sum{spec.upstream}
	}
	return nil
}

// record enters a committed download in the index: the blob record, and
// what was learnt (the sha256 of a path known only by a weaker sum, or a
// URL-keyed file's current digest). Data before the pointer: the blob is
// already durable when this runs.
func (c *Cache) record(spec fetchSpec, d checksum.Digest, size int64) error {
	now := c.now()
	if err := c.recordBlob(d, index.Blob{Size: size, Stored: now, LastAccess: now, Hits: 1}); err != nil {
		return err
	}
	switch {
	case spec.other:
		return c.idx.Put(spec.rs.cfg.Name, spec.rel, index.Entry{Digest: d, Size: size, Kind: index.Other, Fetched: now})
	case spec.digest.IsZero() && !spec.upstream.IsZero():
		if err := c.idx.PutAlias(spec.upstream, d); err != nil {
			return err
		}
		e, err := c.idx.Lookup(spec.rs.cfg.Name, spec.rel)
		if err == nil && e.Upstream.Equal(spec.upstream) {
			e.Digest = d
			return c.idx.Put(spec.rs.cfg.Name, spec.rel, e)
		}
	}
	return nil
}

// recordBlob enters the record b of blob d, and counts its bytes, unless
// d has a record already (another download of the same bytes, under
// another flight key, may be recording it at the same time).
func (c *Cache) recordBlob(d checksum.Digest, b index.Blob) error {
	defer c.ev.lockRecord(d)()
	if _, err := c.idx.Blob(d); !errors.Is(err, index.ErrNotFound) {
		return nil
	}
	// The request that fetched it is its first use.
	if err := c.idx.PutBlob(d, b); err != nil {
		return err
	}
	c.ev.add(b.Size)
	return nil
}

// fetchWhole runs a flight for spec to its end and opens the result: the
// metadata loaders need whole files.
func (c *Cache) fetchWhole(ctx context.Context, spec fetchSpec) (*Object, error) {
	var o *Object
	if !spec.digest.IsZero() {
		if stored, ok := c.openStored(spec.digest); ok {
			return stored, nil
		}
	}
	o = c.startFlight(spec)
	if err := o.Wait(ctx); err != nil {
		return nil, err
	}
	return o, nil
}
