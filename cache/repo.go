package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"lazymirror/checksum"
	"lazymirror/config"
	"lazymirror/index"
	"lazymirror/repomd"
	"lazymirror/upstream"
)

// errStale marks a root older than the current snapshot (a lagging mirror).
var errStale = errors.New("root is older than the current snapshot")

// errExpired marks a root past its Valid-Until, which apt refuses: another
// mirror's is preferred (a mirror that stopped syncing serves one).
var errExpired = errors.New("root is past its Valid-Until")

const (
	// maxRootSize bounds a root file read into memory (bookworm's InRelease is 151 kB).
	maxRootSize = 64 << 20
	// revalidateEvery coalesces the revalidations clients ask for: within
	// this long of the last one, the current snapshot is fresh enough.
	revalidateEvery = time.Second
	// refreshTimeout bounds one refresh of a root, detached from the client that caused it.
	refreshTimeout = 5 * time.Minute
	// absentRootTTL is how long a directory found to hold no yum repo is not probed again.
	absentRootTTL = 5 * time.Minute
	// maxAbsent bounds how many such directories a repo remembers.
	maxAbsent = 4096
	// stickyFor is how long a client's companion requests (Release.gpg,
	// repomd.xml.asc) are served from the snapshot it was last given.
	stickyFor = 2 * time.Minute
)

// repoState is one configured repo at run time.
type repoState struct {
	cfg      *config.Repo
	pool     *upstream.Pool
	counters repoCounters

	mu      sync.Mutex
	roots   map[string]*rootState
	absent  map[string]time.Time // yum: directories probed and found to hold no repodata
	flat    map[string]bool      // deb: the flat repositories' roots that have a snapshot
	anyFlat atomic.Bool          // len(flat) > 0, read without mu on every request
}

func newRepoState(cfg *config.Repo, pool *upstream.Pool) *repoState {
	return &repoState{cfg: cfg, pool: pool, roots: make(map[string]*rootState), absent: make(map[string]time.Time), flat: make(map[string]bool)}
}

// loadFlat learns the flat repositories' roots the index holds snapshots
// of, so that telling a path beside them (see Cache.flatListing) needs no
// index read.
func (rs *repoState) loadFlat(idx *index.DB) error {
	if rs.cfg.Type != config.Deb {
		return nil
	}
	snaps, err := idx.Snapshots(rs.cfg.Name)
	if err != nil {
		return err
	}
	for _, s := range snaps {
		if isFlat(s.Root) {
			rs.addFlat(s.Root)
		}
	}
	return nil
}

// addFlat records that the flat root key has a snapshot.
func (rs *repoState) addFlat(key string) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.flat[key] = true
	rs.anyFlat.Store(true)
}

// hasFlat reports whether the flat root key has a snapshot.
func (rs *repoState) hasFlat(key string) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.flat[key]
}

func (rs *repoState) classify(rel string) (class, string) {
	if rs.cfg.Type == config.Deb {
		return classifyDeb(rel)
	}
	return classifyRPM(rel)
}

// root returns the state of a snapshot root, loading its current snapshot
// from the index the first time.
func (rs *repoState) root(idx *index.DB, key string) (*rootState, error) {
	return rs.lookupRoot(idx, key, true)
}

// lookupRoot is root; unless keepEmpty, a root with no snapshot in the
// index is neither kept nor returned (nil, nil).
func (rs *repoState) lookupRoot(idx *index.DB, key string, keepEmpty bool) (*rootState, error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if st, ok := rs.roots[key]; ok {
		return st, nil
	}
	st := &rootState{key: key, lock: make(chan struct{}, 1), sticky: make(map[netip.Addr]stickyRef), implied: make(map[uint64]map[string]index.Entry)}
	snap, err := idx.CurrentSnapshot(rs.cfg.Name, key)
	switch {
	case err == nil:
		st.snap.Store(snap)
	case !errors.Is(err, index.ErrNotFound):
		return nil, err
	case !keepEmpty:
		return nil, nil
	}
	rs.roots[key] = st
	return st, nil
}

// markAbsent remembers that dir holds no yum repo (see absentRootTTL).
// At maxAbsent directories it drops the expired ones, and all of them if
// none has expired: forgetting costs a probe, remembering without bound
// would let clients that ask for made-up paths grow the map for ever.
func (rs *repoState) markAbsent(dir string, now time.Time) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if len(rs.absent) >= maxAbsent {
		for d, at := range rs.absent {
			if now.Sub(at) >= absentRootTTL {
				delete(rs.absent, d)
			}
		}
		if len(rs.absent) >= maxAbsent {
			clear(rs.absent)
		}
	}
	rs.absent[dir] = now
}

// holds reports whether st is the state of its root.
func (rs *repoState) holds(st *rootState) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.roots[st.key] == st
}

// forget drops st, a root with no snapshot, so that roots no mirror has
// take no memory. Call with st's lock held: a request waiting for it then
// finds st dropped (holds is false) and starts again.
func (rs *repoState) forget(st *rootState) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.roots[st.key] == st && st.snap.Load() == nil {
		delete(rs.roots, st.key)
	}
}

// knownRoot returns the state of root key when it has a snapshot (in
// memory, or in the index after a restart), else nil. Unlike root, it
// keeps no state for a directory that has none: it is asked about the
// directories of paths no metadata describes.
func (rs *repoState) knownRoot(idx *index.DB, key string) *rootState {
	st, _ := rs.lookupRoot(idx, key, false)
	if st == nil || st.snap.Load() == nil {
		return nil
	}
	return st
}

// known returns the roots that have a snapshot.
func (rs *repoState) known() []*rootState {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var out []*rootState
	for _, st := range rs.roots {
		if st.snap.Load() != nil {
			out = append(out, st)
		}
	}
	return out
}

// rootState is one snapshot root ("dists/bookworm", a flat apt repository's
// directory, a yum repo directory; "" is the tree's top).
type rootState struct {
	key  string
	lock chan struct{} // held while refreshing or loading this root's indexes
	snap atomic.Pointer[index.Snapshot]
	prev atomic.Pointer[index.Snapshot] // the snapshot before the current one

	parsed any // *debian.Release of the current snapshot (deb), under lock

	mu      sync.Mutex
	sticky  map[netip.Addr]stickyRef          // client -> snapshot it was last given
	implied map[uint64]map[string]index.Entry // snapshot id -> entries its root implies (see impliedEntry)
}

type stickyRef struct {
	id   uint64
	when time.Time
}

// acquire takes the root's lock, or gives up with ctx.
func (st *rootState) acquire(ctx context.Context) error {
	select {
	case st.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (st *rootState) unlock() { <-st.lock }

// install makes snap the current snapshot.
func (st *rootState) install(snap *index.Snapshot) {
	if old := st.snap.Swap(snap); old != nil && old.ID != snap.ID {
		st.prev.Store(old)
	}
}

// remember notes which snapshot a client was given.
func (st *rootState) remember(client netip.Addr, id uint64, now time.Time) {
	if !client.IsValid() {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.sticky) > 4096 {
		for k, v := range st.sticky {
			if now.Sub(v.when) > stickyFor {
				delete(st.sticky, k)
			}
		}
	}
	st.sticky[client] = stickyRef{id: id, when: now}
}

// forClient returns the snapshot a client was last given when it is the
// previous one and recent, else the current one.
func (st *rootState) forClient(client netip.Addr, now time.Time) *index.Snapshot {
	cur := st.snap.Load()
	prev := st.prev.Load()
	if !client.IsValid() || prev == nil {
		return cur
	}
	st.mu.Lock()
	ref, ok := st.sticky[client]
	st.mu.Unlock()
	if ok && ref.id == prev.ID && now.Sub(ref.when) < stickyFor {
		return prev
	}
	return cur
}

// impliedEntry returns the index entry that snap's root file implies for
// rel (an index file it lists, or a by-hash name of one); ok is false when
// the root does not list rel. The index holds one entry per path, the
// newest snapshot's: a client given an older root (a refresh ran between
// its InRelease and its Packages request) must be served what that root
// lists, or apt reports a hash sum mismatch. The root is parsed from the
// store once per snapshot; the current and previous snapshots' are kept.
func (c *Cache) impliedEntry(rs *repoState, st *rootState, snap *index.Snapshot, rel string) (e index.Entry, ok bool, err error) {
	st.mu.Lock()
	m, known := st.implied[snap.ID]
	st.mu.Unlock()
	if !known {
		recs, err := c.rootEntries(rs, st.key, snap)
		if err != nil {
			return index.Entry{}, false, fmt.Errorf("entries of snapshot %d of %s: %w", snap.ID, st.key, err)
		}
		m = make(map[string]index.Entry, len(recs))
		for _, r := range recs {
			m[r.Path] = r.Entry
		}
		st.mu.Lock()
		cur, prev := st.snap.Load(), st.prev.Load()
		for id := range st.implied {
			if (cur == nil || id != cur.ID) && (prev == nil || id != prev.ID) {
				delete(st.implied, id)
			}
		}
		st.implied[snap.ID] = m
		st.mu.Unlock()
	}
	e, ok = m[rel]
	return e, ok, nil
}

// rootEntries returns the index entries a snapshot's root file implies,
// parsed from its stored copy.
func (c *Cache) rootEntries(rs *repoState, key string, snap *index.Snapshot) ([]index.Record, error) {
	if rs.cfg.Type == config.Deb {
		rel, err := c.storedRelease(key, snap)
		if err != nil {
			return nil, err
		}
		return debEntries(key, rel), nil
	}
	p := joinRoot(key, "repodata/repomd.xml")
	ref, ok := snap.Files[p]
	if !ok {
		return nil, fmt.Errorf("no repomd.xml: %w", ErrNotFound)
	}
	b, err := c.readBlob(ref)
	if err != nil {
		return nil, err
	}
	md, err := repomd.ParseRepomd(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return rpmEntries(key, md), nil
}

// current returns the snapshot of a root, refreshing it from upstream when
// it is older than the repo's TTL or the client asked for revalidation.
// When upstream cannot be reached, a stale snapshot is served.
func (c *Cache) current(ctx context.Context, rs *repoState, key string, revalidate bool) (*index.Snapshot, error) {
	for {
		st, err := rs.root(c.idx, key)
		if err != nil {
			return nil, err
		}
		if snap := st.snap.Load(); snap != nil && c.fresh(rs, snap, revalidate) {
			return snap, nil
		}
		if err := st.acquire(ctx); err != nil {
			return nil, err
		}
		snap, dropped, err := c.currentLocked(ctx, rs, st, revalidate)
		st.unlock()
		if !dropped {
			return snap, err
		}
	}
}

// currentLocked is current for st, whose lock the caller holds. dropped
// reports that st was forgotten while the caller waited for the lock
// (see repoState.forget): the caller starts again with the root's new
// state.
func (c *Cache) currentLocked(ctx context.Context, rs *repoState, st *rootState, revalidate bool) (snap *index.Snapshot, dropped bool, err error) {
	if !rs.holds(st) {
		return nil, true, nil
	}
	cur := st.snap.Load()
	if cur != nil && c.fresh(rs, cur, revalidate) {
		return cur, false, nil // refreshed while this request waited
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
	defer cancel()
	snap, err = c.refresh(rctx, rs, st, cur)
	switch {
	case err == nil:
		return snap, false, nil
	case cur != nil && ctx.Err() == nil:
		c.log.Warn("metadata refresh failed; serving the current snapshot", "repo", rs.cfg.Name, "root", st.key, "err", err)
		return cur, false, nil
	case cur == nil:
		// A root no mirror gave us (a suite that does not exist, any
		// "<dir>/InRelease" a client makes up) keeps no state: a client
		// cannot grow the map without bound.
		rs.forget(st)
	}
	return nil, false, err
}

func (c *Cache) fresh(rs *repoState, snap *index.Snapshot, revalidate bool) bool {
	age := c.now().Sub(snap.FetchedAt)
	if revalidate {
		return age < min(revalidateEvery, rs.cfg.MetadataTTL)
	}
	return age < rs.cfg.MetadataTTL
}

// refresh asks each candidate mirror for the root until one answers with a
// root at least as new as the current one, and not expired if any mirror
// has one that is not.
func (c *Cache) refresh(ctx context.Context, rs *repoState, st *rootState, cur *index.Snapshot) (*index.Snapshot, error) {
	snap, err := c.refreshFrom(ctx, rs, st, cur, false)
	if errors.Is(err, errExpired) && ctx.Err() == nil {
		// Every root the mirrors have is expired (an archive of old
		// releases, whose clients set Check-Valid-Until false): the first
		// of them is better than none.
		return c.refreshFrom(ctx, rs, st, cur, true)
	}
	return snap, err
}

// refreshFrom is one pass of refresh over the mirrors. Unless expiredOK, a
// root past its Valid-Until is passed over for the next mirror's, and when
// no mirror had a better one the error wraps errExpired.
func (c *Cache) refreshFrom(ctx context.Context, rs *repoState, st *rootState, cur *index.Snapshot, expiredOK bool) (*index.Snapshot, error) {
	notFound, stale, expired := 0, 0, 0
	mirrors, errs := candidates(ctx, rs.pool)
	for _, m := range mirrors {
		var (
			snap *index.Snapshot
			err  error
		)
		if rs.cfg.Type == config.Deb {
			snap, err = c.fetchDebRoot(ctx, rs, st, cur, m, expiredOK)
		} else {
			snap, err = c.fetchRPMRoot(ctx, rs, st, cur, m)
		}
		switch {
		case err == nil:
			return snap, nil
		case errors.Is(err, upstream.ErrNotModified):
			return c.touch(st, cur, nil, nil)
		case errors.Is(err, upstream.ErrNotFound):
			notFound++
		case errors.Is(err, errStale):
			stale++
		case errors.Is(err, errExpired):
			expired++
		case ctx.Err() == nil:
			c.log.Warn("metadata fetch failed", "repo", rs.cfg.Name, "mirror", m.String(), "root", st.key, "err", err)
		}
		errs = append(errs, fmt.Errorf("%s: %w", m, err))
		if ctx.Err() != nil {
			break
		}
	}
	if expired > 0 {
		c.log.Info("mirrors serve a root past its Valid-Until", "repo", rs.cfg.Name, "root", st.key, "mirrors", expired)
		return nil, fmt.Errorf("root %q: %w", st.key, errors.Join(errs...))
	}
	if cur != nil && stale > 0 {
		return c.touch(st, cur, nil, nil) // every answer was older: keep what we have
	}
	if len(mirrors) > 0 && notFound == len(mirrors) {
		return nil, fmt.Errorf("root %q on every mirror: %w", st.key, ErrNotFound)
	}
	return nil, fmt.Errorf("root %q: %w: %w", st.key, ErrUpstream, errors.Join(errs...))
}

// touch records that upstream confirmed the current snapshot. When the
// confirmation was the same root sent whole (resp, from mirror m: another
// mirror than the one whose validators the snapshot holds, or new
// validators), the response's validators replace the snapshot's, so that
// the next revalidation of m is a conditional request.
func (c *Cache) touch(st *rootState, cur *index.Snapshot, m *upstream.Mirror, resp *upstream.Response) (*index.Snapshot, error) {
	if cur == nil {
		return nil, fmt.Errorf("root %q: not modified, but nothing cached: %w", st.key, ErrUpstream)
	}
	s := *cur
	s.FetchedAt = c.now()
	if resp != nil && (resp.ETag != "" || resp.LastModified != "") {
		s.Mirror, s.ETag, s.LastModified = m.String(), resp.ETag, resp.LastModified
	}
	if err := c.idx.UpdateSnapshot(&s); err != nil {
		return nil, err
	}
	st.snap.Store(&s)
	return &s, nil
}

// validators returns the conditional-GET validators for re-asking mirror m
// for the current root (only the mirror that gave them can honour them).
func validators(cur *index.Snapshot, m *upstream.Mirror) *upstream.Conditional {
	if cur == nil || cur.Mirror != m.String() || (cur.ETag == "" && cur.LastModified == "") {
		return nil
	}
	return &upstream.Conditional{ETag: cur.ETag, LastModified: cur.LastModified}
}

// checkNewer decides whether a root file dated t, fetched from a mirror,
// makes a new snapshot: upstream.ErrNotModified when it is the current
// one's, errStale when it is older (a lagging mirror; see
// index.Snapshot.DatedAfter), nil when it is new.
func checkNewer(cur *index.Snapshot, path string, body []byte, t time.Time) error {
	if cur == nil {
		return nil
	}
	if ref, ok := cur.Files[path]; ok && ref.Digest == checksum.Digest(sha256.Sum256(body)) {
		return upstream.ErrNotModified
	}
	if cur.DatedAfter(t) {
		return fmt.Errorf("%s of %s, current snapshot of %s: %w", path, t, cur.Time, errStale)
	}
	return nil
}

// checkSignature refuses, as errStale, a new root whose detached signature
// sig (fetched with it, both in files) is the current snapshot's while the
// root itself changed: a signature covers one root's bytes, so the mirror
// is in the middle of a sync (rsync copies repomd.xml before
// repomd.xml.asc). Paired in a snapshot, the two would fail every client's
// signature check until the next publish.
func checkSignature(cur *index.Snapshot, files map[string][]byte, root, sig string) error {
	b, ok := files[sig]
	if cur == nil || !ok {
		return nil
	}
	if ref, ok := cur.Files[sig]; !ok || ref.Digest != checksum.Digest(sha256.Sum256(b)) {
		return nil
	}
	if ref, ok := cur.Files[root]; ok && ref.Digest == checksum.Digest(sha256.Sum256(files[root])) {
		return nil // the same root, so the same signature
	}
	return fmt.Errorf("%s is the signature of the previous %s (mirror mid-sync): %w", sig, root, errStale)
}

// newSnapshot starts the snapshot a root fetched from m makes.
func (c *Cache) newSnapshot(rs *repoState, st *rootState, m *upstream.Mirror, resp *upstream.Response, version string, t time.Time) *index.Snapshot {
	return &index.Snapshot{
		Repo: rs.cfg.Name, Root: st.key, Files: make(map[string]index.FileRef),
		Version: version, Time: t, FetchedAt: c.now(), Mirror: m.String(),
		ETag: resp.ETag, LastModified: resp.LastModified,
	}
}

// commitRoot makes snap the current snapshot of st, data before pointer:
// its root files are stored, the entries it implies are written, and only
// then is the snapshot recorded and switched to (in memory last).
func (c *Cache) commitRoot(rs *repoState, st *rootState, snap *index.Snapshot, files map[string][]byte, recs []index.Record) error {
	for p, b := range files {
		ref, err := c.putSmall(b)
		if err != nil {
			return err
		}
		snap.Files[p] = ref
	}
	if err := c.idx.PutEntries(rs.cfg.Name, recs); err != nil {
		return err
	}
	if err := c.idx.PutSnapshot(snap); err != nil {
		return err
	}
	st.install(snap)
	if rs.cfg.Type == config.Deb && isFlat(st.key) {
		rs.addFlat(st.key)
	}
	c.log.Info("new snapshot", "repo", rs.cfg.Name, "root", st.key, "version", snap.Version, "entries", len(recs), "mirror", snap.Mirror)
	return nil
}

// entryFor is the index entry of content known by a metadata checksum: by
// its sha256 when that is the checksum, else by the weaker upstream sum
// until a download computes the sha256.
func entryFor(kind index.Kind, size int64, sum checksum.Sum) index.Entry {
	e := index.Entry{Size: size, Kind: kind}
	if d, ok := sum.Digest(); ok {
		e.Digest = d
	} else {
		e.Upstream = sum
	}
	return e
}

// getSmall fetches a small file (a root) whole into memory. When check is
// not nil it judges the bytes (a root must parse): bytes it refuses are the
// mirror's failure, so that each response has exactly one outcome.
func (c *Cache) getSmall(ctx context.Context, rs *repoState, m *upstream.Mirror, rel string, cond *upstream.Conditional, check func([]byte) error) ([]byte, *upstream.Response, error) {
	resp, err := rs.pool.Get(ctx, m, rel, cond)
	if err != nil {
		return nil, nil, err // Get recorded its outcome
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxRootSize+1))
	if err == nil && len(b) > maxRootSize {
		err = fmt.Errorf("larger than %d bytes", maxRootSize)
	}
	if err != nil {
		rs.pool.Failure(resp, err)
		return nil, nil, fmt.Errorf("read %s: %w", rel, err)
	}
	rs.counters.fetched.Add(int64(len(b)))
	if check != nil {
		if err := check(b); err != nil {
			err = fmt.Errorf("%s: %w", rel, err)
			rs.pool.Failure(resp, err) // a mirror serving a root that does not parse is broken
			return nil, nil, err
		}
	}
	n, took := resp.Transferred()
	rs.pool.Success(resp, n, took)
	return b, resp, nil
}

// putSmall stores bytes held in memory and returns their reference.
func (c *Cache) putSmall(b []byte) (index.FileRef, error) {
	d := checksum.Digest(sha256.Sum256(b))
	ref := index.FileRef{Digest: d, Size: int64(len(b))}
	if _, err := c.store.Stat(d); err == nil {
		return ref, nil
	}
	w, err := c.store.Create(d, int64(len(b)))
	if err != nil {
		return ref, err
	}
	if _, err := w.Write(b); err != nil {
		w.Abort(err)
		return ref, err
	}
	if _, err := w.Commit(); err != nil {
		return ref, err
	}
	return ref, c.record(fetchSpec{digest: d}, d, int64(len(b)))
}

// readBlob reads a small stored blob (a root file) whole.
func (c *Cache) readBlob(ref index.FileRef) ([]byte, error) {
	f, err := c.store.Open(ref.Digest)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxRootSize))
}

// openRoot serves a root file from the snapshot the client should see.
func (c *Cache) openRoot(ctx context.Context, rs *repoState, key string, req Request) (*Object, error) {
	// Companion files (signatures, keys, Release beside InRelease) never
	// trigger a refresh: they must match the root the client already has.
	primary := isPrimaryRoot(req.Path)
	snap, err := c.current(ctx, rs, key, req.Revalidate && primary)
	if err != nil {
		return nil, err
	}
	st, err := rs.root(c.idx, key)
	if err != nil {
		return nil, err
	}
	now := c.now()
	if primary {
		st.remember(req.Client, snap.ID, now)
	} else {
		snap = st.forClient(req.Client, now)
	}
	ref, ok := snap.Files[req.Path]
	if !ok {
		return nil, fmt.Errorf("snapshot %d of %s has no such file: %w", snap.ID, key, ErrNotFound)
	}
	o, ok := c.openStored(ref.Digest)
	if !ok {
		return nil, fmt.Errorf("root file %s (%s) missing from the store: %w", req.Path, ref.Digest, ErrNotFound)
	}
	o.Mutable, o.Class = true, classRoot.String()
	// Last-Modified is the root's own date, not when its blob was stored:
	// apt revalidates with If-Modified-Since, and two snapshots stored in
	// the same second must not look alike.
	if !snap.Time.IsZero() {
		o.ModTime = snap.Time
	}
	return o, nil
}

// isPrimaryRoot reports whether a root path is the file clients fetch first
// (InRelease, repomd.xml), as opposed to a companion fetched after it.
func isPrimaryRoot(rel string) bool {
	return hasBase(rel, "InRelease") || hasBase(rel, "repomd.xml")
}

func hasBase(rel, name string) bool {
	return rel == name || len(rel) > len(name) && rel[len(rel)-len(name)-1] == '/' && rel[len(rel)-len(name):] == name
}

// loadFor loads the metadata that may cover a package path the index does not know.
func (c *Cache) loadFor(ctx context.Context, rs *repoState, rel string) error {
	if rs.cfg.Type == config.Deb {
		return c.loadDebFor(ctx, rs, rel)
	}
	return c.loadRPMFor(ctx, rs, rel)
}
