// Package cache is the lazy mirror itself: it resolves a path in a
// configured repo to bytes it can serve, fetching metadata and packages from
// the repo's upstream mirrors on first use and keeping them in the
// content-addressed store. The HTTP server, prefetch and import all go
// through it, so there is one fetch path.
//
// A request's way (see DESIGN.md):
//
//   - Root metadata (InRelease, Release, Release.gpg; repomd.xml, .asc, .key)
//     is served from the current snapshot of its root ("dists/<suite>", a flat
//     apt repository's directory, or the yum repo directory). A snapshot
//     older than the repo's metadata TTL, or a client asking for
//     revalidation, causes one conditional GET upstream; a
//     changed root becomes the new snapshot only after it parsed and the
//     files it lists were entered in the index, and never when it is older
//     than the current one (a lagging mirror cannot roll a snapshot back).
//     Root files are blobs too, so a root and its signature always come from
//     one snapshot.
//   - Indexed paths (anything a root lists: Packages.xz, by-hash/..., primary)
//     and packages (from parsed Packages and primary files) are served by
//     checksum: immutable. A package path the index does not know yet loads
//     the metadata that covers it first.
//   - Anything else is cached by URL with a TTL and served unverified.
//
// A miss is one flight per blob however many clients ask (see flight).
package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"lazymirror/checksum"
	"lazymirror/config"
	"lazymirror/index"
	"lazymirror/stats"
	"lazymirror/store"
	"lazymirror/upstream"
)

// Errors callers branch on (the server maps them to HTTP statuses).
var (
	// ErrUnknownRepo: the request names no configured repo.
	ErrUnknownRepo = errors.New("unknown repo")
	// ErrNotFound: neither the index nor any mirror has the path.
	ErrNotFound = errors.New("not found")
	// ErrUpstream: every mirror failed (down, broken, or served bytes that do not match the metadata).
	ErrUpstream = errors.New("upstream failed")
)

// Options configure a Cache.
type Options struct {
	Store  *store.Store
	Index  *index.DB
	Config *config.Config
	Logger *slog.Logger
	// Now is the clock (tests control it); time.Now when nil.
	Now func() time.Time
	// FetchTimeout bounds one download of one blob over all its attempts (default 30m).
	FetchTimeout time.Duration
	// OtherTTL is how long a URL-keyed file (not described by metadata) is served before it is fetched again (default 10m).
	OtherTTL time.Duration
	// Transport, when set, is the HTTP transport to upstream mirrors (tests).
	Transport http.RoundTripper
}

// Cache is the lazy mirror: see the package doc.
type Cache struct {
	store   *store.Store
	idx     *index.DB
	log     *slog.Logger
	now     func() time.Time
	opts    Options
	repos   map[string]*repoState
	flights flights
	flush   flusher
	ev      evictor
	hot     *hotBlobs

	ctx    context.Context // lifetime of downloads; cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // running flights
}

// New builds a Cache for the repos in opts.Config. ctx bounds every
// download the cache starts; Close cancels it too.
func New(ctx context.Context, opts Options) (*Cache, error) {
	if opts.Store == nil || opts.Index == nil || opts.Config == nil {
		return nil, errors.New("cache: store, index and config are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.FetchTimeout <= 0 {
		opts.FetchTimeout = 30 * time.Minute
	}
	if opts.OtherTTL <= 0 {
		opts.OtherTTL = 10 * time.Minute
	}
	c := &Cache{
		store: opts.Store,
		idx:   opts.Index,
		log:   opts.Logger,
		now:   opts.Now,
		opts:  opts,
		repos: make(map[string]*repoState),
		hot:   newHotBlobs(opts.Config.MemoryCache),
	}
	if err := c.initEvictor(opts.Config); err != nil {
		return nil, err
	}
	c.ctx, c.cancel = context.WithCancel(ctx)
	up := opts.Config.Upstream
	for i := range opts.Config.Repos {
		r := &opts.Config.Repos[i]
		pool := upstream.NewPool(r.Name, r.Mirrors, upstream.Options{
			ConnectTimeout:  up.ConnectTimeout,
			HeaderTimeout:   up.HeaderTimeout,
			IdleTimeout:     up.IdleTimeout,
			BreakerFailures: up.BreakerFailures,
			BreakerCooldown: up.BreakerCooldown,
			MinSpeed:        up.MinSpeed,
			Now:             opts.Now,
			Transport:       opts.Transport,
			UserAgent:       "lazymirror",
		})
		rs := newRepoState(r, pool)
		if err := rs.loadFlat(opts.Index); err != nil {
			return nil, fmt.Errorf("repo %s: %w", r.Name, err)
		}
		c.repos[r.Name] = rs
	}
	return c, nil
}

// Close stops the cache: downloads still running when ctx ends are
// cancelled, which drops their temp files; nothing half-written becomes
// visible. It waits for them to end.
func (c *Cache) Close(ctx context.Context) error {
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		c.cancel()
		<-done
	}
	c.cancel()
	// Leave the final figures in the index, for `stats` with no server.
	rep, err := c.Report(ctx)
	if err == nil {
		err = stats.Save(c.idx, rep)
	}
	return err
}

// Idle waits until no download runs (each one's index records and any
// eviction it started are done), or ctx is done.
func (c *Cache) Idle(ctx context.Context) error { return c.flights.idle(ctx) }

// InFlight returns the number of downloads running now.
func (c *Cache) InFlight() int { return c.flights.count() }

// Repos returns the names of the configured repos.
func (c *Cache) Repos() []string {
	names := make([]string, 0, len(c.repos))
	for _, r := range c.opts.Config.Repos {
		names = append(names, r.Name)
	}
	return names
}

// Request is one path asked of the cache.
type Request struct {
	Repo string
	// Path is the repo-relative path, already cleaned by CleanPath.
	Path string
	// Revalidate asks for a root file to be revalidated upstream now
	// (the client sent Cache-Control: no-cache or max-age=0).
	Revalidate bool
	// Client identifies the client (its address; the zero Addr: unknown),
	// so the companion files of a root (Release.gpg, repomd.xml.asc) come
	// from the snapshot that client was just given.
	Client netip.Addr
}

// Object is something the cache can serve: a committed blob, or one still
// being downloaded that the caller may follow as it grows.
type Object struct {
	// Digest is the blob's sha256 when known before the download ends (always, once File is set).
	Digest checksum.Digest
	// Size is the length in bytes, -1 when not known until the download ends.
	Size int64
	// Mutable is true for roots and URL-keyed files: they change at the same URL.
	Mutable bool
	// Class says how the path was resolved ("root", "indexed", "package", "other"), for logs and metrics.
	Class string
	// Hit is true when the bytes were already stored when the request came.
	Hit bool
	// ModTime is when the blob was stored (or the root fetched).
	ModTime time.Time

	file  *os.File
	bytes []byte // the blob, when held in memory (then file is nil)
	fl    *flight
	c     *Cache
}

// File returns the committed blob's file, or nil while it is still being
// downloaded, or when its bytes are in memory (see Bytes).
func (o *Object) File() *os.File { return o.file }

// Bytes returns the committed blob when its bytes are held in memory (a
// small blob): they must not be modified. Else it returns nil.
func (o *Object) Bytes() []byte { return o.bytes }

// Stored reports whether the blob is committed: File or Bytes is set.
func (o *Object) Stored() bool { return o.file != nil || o.bytes != nil }

// Content returns the committed blob's bytes, from its file or from
// memory; nil while it is still being downloaded.
func (o *Object) Content() *io.SectionReader {
	switch {
	case o.bytes != nil:
		return io.NewSectionReader(bytes.NewReader(o.bytes), 0, o.Size)
	case o.file != nil:
		return io.NewSectionReader(o.file, 0, o.Size)
	}
	return nil
}

// Wait blocks until the download ends, after which the object is Stored.
// It returns the download's error, or ctx's.
func (o *Object) Wait(ctx context.Context) error {
	if o.Stored() {
		return nil
	}
	d, size, err := o.fl.wait(ctx)
	if err != nil {
		return err
	}
	f, err := o.c.store.Open(d)
	if err != nil {
		return fmt.Errorf("open %s after download: %w", d, err)
	}
	o.file, o.Digest, o.Size = f, d, size // held by the flight until Close
	return nil
}

// Follow returns a reader of the object's bytes from the start: the blob
// when committed, else the running download as it grows. A download that
// fails makes the reader fail (never a short read that ends in io.EOF).
func (o *Object) Follow(ctx context.Context) (io.ReadCloser, error) {
	if o.Stored() {
		return io.NopCloser(o.Content()), nil
	}
	fr, err := o.fl.follow(ctx)
	if err != nil {
		return nil, err
	}
	if fr != nil {
		return fr, nil
	}
	if err := o.Wait(ctx); err != nil {
		return nil, err
	}
	return io.NopCloser(o.Content()), nil
}

// Close releases the object: its file, and its hold against eviction.
func (o *Object) Close() error {
	switch {
	case o.fl != nil:
		o.fl.detach(o.c.ev.release)
	case o.file != nil:
		o.c.ev.release(o.Digest)
	}
	if o.file != nil {
		return o.file.Close()
	}
	return nil
}

// Open resolves a request to an Object. Errors wrap ErrUnknownRepo,
// ErrNotFound, ErrUpstream, ErrBadPath or the context's error.
func (c *Cache) Open(ctx context.Context, req Request) (*Object, error) {
	rs, ok := c.repos[req.Repo]
	if !ok {
		return nil, fmt.Errorf("%q: %w", req.Repo, ErrUnknownRepo)
	}
	cls, root := c.classify(rs, req.Path)
	var (
		o   *Object
		err error
	)
	switch cls {
	case classRoot:
		o, err = c.openRoot(ctx, rs, root, req)
	case classIndexed:
		o, err = c.openIndexed(ctx, rs, root, req)
	case classPackage:
		o, err = c.openPackage(ctx, rs, req.Path)
	default:
		o, err = c.openOther(ctx, rs, req.Path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s/%s: %w", req.Repo, req.Path, err)
	}
	if o.Class == "" {
		o.Class = cls.String()
	}
	rs.counters.add(o.Hit)
	if o.Hit && o.Stored() { // a join is counted when its download ends
		c.idx.Touch(o.Digest)
	}
	return o, nil
}

// classify is rs.classify, which tells most paths by their names; a deb
// path it leaves unclassified is an index file when a flat repository's
// root above it lists it (see flatListing).
func (c *Cache) classify(rs *repoState, rel string) (class, string) {
	cls, root := rs.classify(rel)
	if cls == classOther && rs.cfg.Type == config.Deb {
		if key, ok := c.flatListing(rs, rel); ok {
			return classIndexed, key
		}
	}
	return cls, root
}

// openIndexed serves a file a root lists, by checksum: the checksum the
// root the client was given lists (see impliedEntry), else the index's.
func (c *Cache) openIndexed(ctx context.Context, rs *repoState, root string, req Request) (*Object, error) {
	rel := req.Path
	if _, err := c.current(ctx, rs, root, false); err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	e, ok := c.clientEntry(rs, root, req)
	if !ok {
		var err error
		e, err = c.idx.Lookup(rs.cfg.Name, rel)
		if errors.Is(err, index.ErrNotFound) {
			// Not listed by the root (a client guessing a compression the
			// archive does not publish, a directory index): plain URL cache.
			return c.openOther(ctx, rs, rel)
		}
		if err != nil {
			return nil, err
		}
	}
	o, err := c.openEntry(rs, rel, e, false)
	if err == nil && o.Stored() {
		c.preload(rs, rel) // stored already; a download preloads when it ends (see run)
	}
	return o, err
}

// clientEntry returns the entry for an indexed path that the root the
// client was given implies; ok is false when that root does not list the
// path (older by-hash names are in the index) or cannot be read.
func (c *Cache) clientEntry(rs *repoState, root string, req Request) (index.Entry, bool) {
	st := rs.knownRoot(c.idx, root)
	if st == nil {
		return index.Entry{}, false
	}
	snap := st.forClient(req.Client, c.now())
	if snap == nil {
		return index.Entry{}, false
	}
	e, ok, err := c.impliedEntry(rs, st, snap, req.Path)
	if err != nil {
		c.log.Warn("reading a snapshot's root; serving the index's entry", "repo", rs.cfg.Name, "path", req.Path, "err", err)
	}
	return e, ok
}

// openPackage serves a package by checksum, loading the metadata that
// covers its path first when the index does not know it yet.
func (c *Cache) openPackage(ctx context.Context, rs *repoState, rel string) (*Object, error) {
	e, err := c.idx.Lookup(rs.cfg.Name, rel)
	if errors.Is(err, index.ErrNotFound) {
		if err := c.loadFor(ctx, rs, rel); err != nil {
			return nil, err
		}
		e, err = c.idx.Lookup(rs.cfg.Name, rel)
	}
	if errors.Is(err, index.ErrNotFound) {
		c.log.Debug("package not in any loaded metadata; caching by URL", "repo", rs.cfg.Name, "path", rel)
		return c.openOther(ctx, rs, rel)
	}
	if err != nil {
		return nil, err
	}
	return c.openEntry(rs, rel, e, true)
}

// openEntry serves an index entry: from the store when present, else
// through a flight. punish says whether bytes that do not match count
// against the mirror (packages: yes; metadata: no, a lagging mirror may
// have other bytes at the same path).
func (c *Cache) openEntry(rs *repoState, rel string, e index.Entry, punish bool) (*Object, error) {
	if !e.Digest.IsZero() {
		if o, ok := c.openStored(e.Digest); ok {
			return o, nil
		}
	} else if !e.Upstream.IsZero() {
		if d, err := c.idx.Alias(e.Upstream); err == nil {
			if o, ok := c.openStored(d); ok {
				return o, nil
			}
		}
	}
	spec := fetchSpec{rs: rs, rel: rel, digest: e.Digest, size: e.Size, upstream: e.Upstream, punish: punish}
	return c.startFlight(spec), nil
}

// openStored opens a committed blob; ok is false when the store lacks it.
// A small blob is read into memory (hotBlobs) once, and verified then:
// a file found corrupt is quarantined, and the blob fetched again.
func (c *Cache) openStored(d checksum.Digest) (*Object, bool) {
	if e, ok := c.hot.get(d); ok {
		return &Object{Digest: d, Size: int64(len(e.b)), Hit: true, ModTime: e.mod, bytes: e.b, c: c}, true
	}
	// Held from before the open: eviction removes no blob a client holds,
	// so the file is not gone by the time its bytes are kept in memory.
	c.ev.hold(d, 1)
	f, err := c.store.Open(d)
	if err != nil {
		c.ev.release(d)
		return nil, false
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		c.ev.release(d)
		return nil, false
	}
	if !c.hot.fits(fi.Size()) {
		return &Object{Digest: d, Size: fi.Size(), Hit: true, ModTime: fi.ModTime(), file: f, c: c}, true
	}
	defer c.ev.release(d)
	defer f.Close()
	b := make([]byte, fi.Size())
	if _, err := f.ReadAt(b, 0); err != nil {
		c.log.Warn("reading a stored blob", "blob", d, "err", err)
		return nil, false
	}
	if got := checksum.Digest(sha256.Sum256(b)); got != d {
		c.quarantine(d, got, fi.Size())
		return nil, false
	}
	e := c.hot.put(d, b, fi.ModTime())
	return &Object{Digest: d, Size: fi.Size(), Hit: true, ModTime: e.mod, bytes: e.b, c: c}, true
}

// removeBlob removes a blob from the store, and from memory.
func (c *Cache) removeBlob(d checksum.Digest) error {
	c.hot.drop(d)
	return c.store.Remove(d)
}

// quarantine moves a stored blob of size bytes whose bytes hash to got out
// of the store (to DATA_DIR/quarantine, as verify --repair does) and
// forgets its record, so that it is fetched again.
func (c *Cache) quarantine(d, got checksum.Digest, size int64) {
	defer c.ev.lockRecord(d)() // against a drop of d counting its bytes off too
	dst, err := c.store.Quarantine(d, filepath.Join(c.store.Root(), "quarantine"))
	if err == nil {
		c.ev.add(-size) // its download will count it again
		err = c.idx.DeleteBlob(d)
	}
	c.log.Error("stored blob is corrupt: quarantined, to be fetched again", "blob", d, "content_sha256", got, "moved_to", dst, "err", err)
}

// openOther serves a path no metadata describes, cached by URL for OtherTTL.
func (c *Cache) openOther(ctx context.Context, rs *repoState, rel string) (*Object, error) {
	e, err := c.idx.Lookup(rs.cfg.Name, rel)
	if err == nil && e.Kind == index.Other && c.now().Sub(e.Fetched) < c.opts.OtherTTL {
		if o, ok := c.openStored(e.Digest); ok {
			o.Mutable, o.Class = true, classOther.String()
			return o, nil
		}
	}
	o := c.startFlight(fetchSpec{rs: rs, rel: rel, size: -1, other: true})
	o.Mutable, o.Class = true, classOther.String()
	return o, nil
}

// RepoStats are a repo's request figures since the cache started.
type RepoStats struct {
	Repo                   string
	Requests, Hits, Misses int64
	// FetchedBytes is what was read from upstream mirrors; ServedBytes what was sent to clients.
	FetchedBytes, ServedBytes int64
	// ProbeWaiters is how many requests wait now for a mirror's probe
	// (every breaker open, each probe in flight).
	ProbeWaiters int
	Mirrors      []upstream.MirrorStatus
}

// Stats returns every repo's figures, in configured order.
func (c *Cache) Stats() []RepoStats {
	out := make([]RepoStats, 0, len(c.repos))
	for _, name := range c.Repos() {
		rs := c.repos[name]
		out = append(out, RepoStats{
			Repo:         name,
			Requests:     rs.counters.requests.Load(),
			Hits:         rs.counters.hits.Load(),
			Misses:       rs.counters.misses.Load(),
			FetchedBytes: rs.counters.fetched.Load(),
			ServedBytes:  rs.counters.served.Load(),
			ProbeWaiters: rs.pool.Waiting(),
			Mirrors:      rs.pool.Status(),
		})
	}
	return out
}
