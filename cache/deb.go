package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"lazymirror/checksum"
	"lazymirror/config"
	"lazymirror/debian"
	"lazymirror/index"
	"lazymirror/upstream"
)

// fetchDebRoot fetches dists/<suite>/InRelease, or a flat repository's
// <dir>/InRelease (or, where a mirror has none, Release + Release.gpg),
// from one mirror and, when it is new, makes it the current snapshot: root
// files stored as blobs, every index file it lists (and its by-hash paths)
// entered in the index, then the switch. A root past its Valid-Until is
// errExpired, unless expiredOK.
func (c *Cache) fetchDebRoot(ctx context.Context, rs *repoState, st *rootState, cur *index.Snapshot, m *upstream.Mirror, expiredOK bool) (*index.Snapshot, error) {
	key := st.key
	cond := validators(cur, m)
	inPath, relPath, gpgPath := joinRoot(key, "InRelease"), joinRoot(key, "Release"), joinRoot(key, "Release.gpg")
	files := make(map[string][]byte)
	first := inPath
	var rel *debian.Release
	parse := func(b []byte) (err error) {
		rel, err = debian.ParseRelease(bytes.NewReader(b))
		return err
	}
	body, resp, err := c.getSmall(ctx, rs, m, inPath, cond, parse)
	if errors.Is(err, upstream.ErrNotFound) {
		first = relPath
		body, resp, err = c.getSmall(ctx, rs, m, relPath, cond, parse)
	}
	if err != nil {
		return nil, err
	}
	if !expiredOK && rel.Expired(c.now()) {
		return nil, fmt.Errorf("%s valid until %s: %w", first, rel.ValidUntil, errExpired)
	}
	if err := checkNewer(cur, first, body, rel.Date); errors.Is(err, upstream.ErrNotModified) {
		return c.touch(st, cur, m, resp)
	} else if err != nil {
		return nil, err
	}
	files[first] = body
	// Release and Release.gpg from the same mirror: apt asks for them only
	// when InRelease is missing, but they must then match it.
	// A mirror that lacks one of them (404) makes a snapshot without it;
	// one that fails to answer fails this refresh, which tries the next
	// mirror: a snapshot that serves Release without its Release.gpg
	// because of a passing error would keep doing so until the next
	// publish (the same InRelease is not a new snapshot).
	if first == inPath {
		b, _, err := c.getSmall(ctx, rs, m, relPath, nil, nil)
		switch {
		case err == nil:
			if r2, err := debian.ParseRelease(bytes.NewReader(b)); err == nil && r2.Date.Equal(rel.Date) && len(r2.Files) == len(rel.Files) {
				files[relPath] = b
			} else {
				c.log.Warn("Release does not match InRelease; serving InRelease only", "repo", rs.cfg.Name, "mirror", m.String(), "root", key)
			}
		case !errors.Is(err, upstream.ErrNotFound):
			return nil, fmt.Errorf("%s: %w", relPath, err)
		}
	}
	if _, ok := files[relPath]; ok {
		b, _, err := c.getSmall(ctx, rs, m, gpgPath, nil, nil)
		switch {
		case err == nil:
			files[gpgPath] = b
		case !errors.Is(err, upstream.ErrNotFound):
			return nil, fmt.Errorf("%s: %w", gpgPath, err)
		}
	}
	if err := checkSignature(cur, files, relPath, gpgPath); err != nil {
		c.log.Warn("mirror serves a root with another root's signature", "repo", rs.cfg.Name, "mirror", m.String(), "err", err)
		return nil, err
	}
	snap := c.newSnapshot(rs, st, m, resp, rel.Date.UTC().Format(time.RFC1123), rel.Date)
	st.parsed = rel
	if err := c.commitRoot(rs, st, snap, files, debEntries(key, rel)); err != nil {
		st.parsed = nil
		return nil, err
	}
	if cur != nil {
		c.reloadDirs(rs, st, loadedDirs(key, cur.Loaded))
	}
	return snap, nil
}

// debEntries are the index entries a Release implies: each listed file,
// and the by-hash path of each of its checksums, which names the same bytes.
func debEntries(key string, rel *debian.Release) []index.Record {
	recs := make([]index.Record, 0, 3*len(rel.Files))
	for _, f := range rel.Files {
		e := entryFor(index.Metadata, f.Size, f.Best())
		recs = append(recs, index.Record{Path: joinRoot(key, f.Path), Entry: e})
		for _, s := range f.Sums {
			if bh := debian.ByHashPath(dirOf(f.Path), s); bh != "" {
				recs = append(recs, index.Record{Path: joinRoot(key, bh), Entry: e})
			}
		}
	}
	return recs
}

// release returns the parsed Release of a root's current snapshot, parsing
// it from the store after a restart. The caller holds st's lock.
func (c *Cache) release(st *rootState, snap *index.Snapshot) (*debian.Release, error) {
	if rel, ok := st.parsed.(*debian.Release); ok && rel != nil {
		return rel, nil
	}
	rel, err := c.storedRelease(st.key, snap)
	if err != nil {
		return nil, err
	}
	st.parsed = rel
	return rel, nil
}

// storedRelease parses the stored InRelease (else Release) of snapshot snap
// of root key.
func (c *Cache) storedRelease(key string, snap *index.Snapshot) (*debian.Release, error) {
	for _, name := range []string{"InRelease", "Release"} {
		ref, ok := snap.Files[joinRoot(key, name)]
		if !ok {
			continue
		}
		b, err := c.readBlob(ref)
		if err != nil {
			return nil, err
		}
		rel, err := debian.ParseRelease(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s of snapshot %d of %s: %w", name, snap.ID, key, err)
		}
		return rel, nil
	}
	return nil, fmt.Errorf("snapshot %d of %s has no Release: %w", snap.ID, key, ErrNotFound)
}

// loadDebFor loads the Packages indexes that may list a pool path: those of
// the package's architecture (from its file name), in every component, of
// every suite known. Suites come from the config and from clients' requests.
// For an "all" package (or a name without an architecture) it loads the
// architectures clients use; when it cannot tell which those are, the
// binary-all indexes first, and every architecture's only if the package
// is not there: a cold cache asked for an "all" package would otherwise
// fetch and parse the Packages of every architecture of the archive (over
// 100 MB for bookworm).
func (c *Cache) loadDebFor(ctx context.Context, rs *repoState, rel string) error {
	for _, suite := range rs.cfg.Suites {
		if _, err := c.current(ctx, rs, debian.SuiteRoot(suite), false); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	arch := debArch(rel)
	archless := arch == "" || arch == "all"
	guessed := false // some suite's client architectures were not known
	load := func(every bool) error {
		var errs []error
		for _, st := range rs.known() {
			err := c.loadDebDirs(ctx, rs, st, func(r *debian.Release) []string {
				if isFlat(st.key) {
					return flatPackagesDirs(r) // every architecture's packages in one index
				}
				arches := []string{arch}
				switch {
				case !archless:
				case every:
					arches = r.Architectures
				default:
					var known bool
					if arches, known = c.clientArches(r, st); !known {
						guessed = true
					}
				}
				return packagesDirs(r, arches)
			})
			if err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	if err := load(false); err != nil || !guessed {
		return err
	}
	if _, err := c.idx.Lookup(rs.cfg.Name, rel); !errors.Is(err, index.ErrNotFound) {
		return nil
	}
	return load(true)
}

// clientArches returns the architectures clients of a suite use, as far as
// the cache can tell: those whose Packages it loaded already and those whose
// index a client fetched (see fetchedArches). When it cannot tell, it
// returns "all" and known false.
func (c *Cache) clientArches(rel *debian.Release, st *rootState) (arches []string, known bool) {
	var dirs []string
	if snap := st.snap.Load(); snap != nil {
		dirs = loadedDirs(st.key, snap.Loaded)
	}
	fetched := c.fetchedArches(rel)
	out := slices.DeleteFunc(slices.Clone(rel.Architectures), func(a string) bool {
		return !slices.Contains(fetched, a) && !slices.ContainsFunc(dirs, func(d string) bool { return path.Base(d) == "binary-"+a })
	})
	if len(out) == 0 {
		return []string{"all"}, false
	}
	return out, true
}

// loadDebDirs loads the Packages index of each directory dirsOf names in
// the current snapshot's Release, skipping those already loaded.
func (c *Cache) loadDebDirs(ctx context.Context, rs *repoState, st *rootState, dirsOf func(*debian.Release) []string) error {
	if err := st.acquire(ctx); err != nil {
		return err
	}
	defer st.unlock()
	snap := st.snap.Load()
	rel, err := c.release(st, snap)
	if err != nil {
		return err
	}
	for _, dir := range dirsOf(rel) {
		if slices.Contains(loadedDirs(st.key, snap.Loaded), dir) {
			continue
		}
		loaded, err := c.loadPackagesDir(ctx, rs, st.key, rel, dir)
		if err != nil {
			return err
		}
		s := *snap
		s.Loaded = append(slices.Clone(snap.Loaded), loaded)
		if err := c.idx.UpdateSnapshot(&s); err != nil {
			return err
		}
		st.snap.Store(&s)
		snap = &s
	}
	return nil
}

// loadedDirs returns the "<component>/binary-<arch>" directories (for a
// flat root: "") whose Packages index a snapshot of root key loaded.
func loadedDirs(key string, loaded []string) []string {
	var dirs []string
	for _, p := range loaded {
		dirs = append(dirs, dirOf(inRoot(key, p)))
	}
	return dirs
}

// reloadDirs loads, for a new snapshot, the Packages indexes the previous
// one had loaded, in the background: the index then knows the new packages
// before a client asks, and gc can tell superseded packages from current ones.
func (c *Cache) reloadDirs(rs *repoState, st *rootState, prev []string) {
	if len(prev) == 0 {
		return
	}
	c.loadInBackground(rs, st, "reload", func(rel *debian.Release) []string {
		return slices.DeleteFunc(slices.Clone(prev), func(dir string) bool {
			_, ok := rel.Lookup(joinRoot(dir, "Packages"))
			return !ok
		})
	})
}

// preload loads, in the background, the Packages index of a deb root that
// a client was just given (rel: <root>/<component>/binary-<arch>/Packages*
// or a by-hash name there), unless the current snapshot has it already.
// apt asks for packages next, and the index then knows them instead of
// making the first of those requests wait for the load (1.5 s for
// bookworm's main/binary-amd64). The load reads the stored copy the client
// got: no second download.
func (c *Cache) preload(rs *repoState, rel string) {
	if rs.cfg.Type != config.Deb {
		return
	}
	cls, key := c.classify(rs, rel)
	if cls != classIndexed {
		return
	}
	dir, ok := packagesDirOf(key, inRoot(key, rel))
	if !ok {
		return
	}
	st := rs.knownRoot(c.idx, key)
	if st == nil {
		return
	}
	if snap := st.snap.Load(); snap == nil || slices.Contains(loadedDirs(key, snap.Loaded), dir) {
		return
	}
	c.loadInBackground(rs, st, "preload "+joinRoot(dir, "Packages"), func(rel *debian.Release) []string {
		var dirs []string
		if isFlat(key) {
			dirs = flatPackagesDirs(rel)
		} else {
			dirs = packagesDirs(rel, []string{strings.TrimPrefix(path.Base(dir), "binary-")})
		}
		return slices.DeleteFunc(dirs, func(d string) bool { return d != dir })
	})
}

// packagesDirOf returns the "<component>/binary-<arch>" directory (for a
// flat root: "", its own) of a path relative to root key that names one
// of its Packages indexes, directly or by hash.
func packagesDirOf(key, p string) (string, bool) {
	dir, base := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	if i := strings.Index("/"+p, "/by-hash/"); i >= 0 {
		dir, base = strings.TrimSuffix(p[:i], "/"), "Packages"
	}
	if !strings.HasPrefix(base, "Packages") {
		return "", false
	}
	if isFlat(key) {
		return "", dir == ""
	}
	if strings.Contains(dir, "/debian-installer/") || !strings.HasPrefix(path.Base(dir), "binary-") {
		return "", false
	}
	return dir, true
}

// isFlat reports whether a deb snapshot root is a flat repository's
// directory (see classifyDeb) rather than dists/<suite>.
func isFlat(key string) bool { return !strings.HasPrefix(key, "dists/") }

// flatPackagesDirs lists the directories of a flat repository's Release
// that have a Packages index: its own ("") or none. apt reads a flat
// repository's Packages beside its Release only, for every architecture.
func flatPackagesDirs(rel *debian.Release) []string {
	for _, name := range packagesVariants {
		if _, ok := rel.Lookup(name); ok {
			return []string{""}
		}
	}
	return nil
}

// flatListing returns the flat root that lists rel, a path classifyDeb
// leaves unclassified: the nearest directory above rel with a snapshot
// whose Release lists rel (the current snapshot's, or the previous one's,
// which a client may still be working from), else the nearest directory
// with a snapshot when the index holds rel as metadata (a by-hash name an
// older snapshot listed). ok is false for anything else: an ordinary
// mirror's README or ls-lR.gz, a file beside a flat Release that it does
// not list.
func (c *Cache) flatListing(rs *repoState, rel string) (key string, ok bool) {
	if !rs.anyFlat.Load() {
		return "", false // the common case, on a hit's path
	}
	nearest, found := "", false
	for _, dir := range ancestors(rel) {
		if !rs.hasFlat(dir) || !flatDir(dir) {
			continue
		}
		st := rs.knownRoot(c.idx, dir)
		if st == nil {
			continue
		}
		for _, snap := range []*index.Snapshot{st.snap.Load(), st.prev.Load()} {
			if snap == nil {
				continue
			}
			if _, ok, err := c.impliedEntry(rs, st, snap, rel); err == nil && ok {
				return dir, true
			}
		}
		if !found {
			nearest, found = dir, true
		}
	}
	if found {
		if e, err := c.idx.Lookup(rs.cfg.Name, rel); err == nil && e.Kind == index.Metadata {
			return nearest, true
		}
	}
	return "", false
}

// loadInBackground runs loadDebDirs for a root in a goroutine, as a flight
// with no download: Idle (and so stats and gc) waits for it, and a second
// call while one runs for the same what is dropped.
func (c *Cache) loadInBackground(rs *repoState, st *rootState, what string, dirsOf func(*debian.Release) []string) {
	f, leader := c.flights.join(what + ":" + rs.cfg.Name + "/" + st.key)
	if !leader {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer c.flights.remove(f)
		ctx, cancel := context.WithTimeout(c.ctx, refreshTimeout)
		defer cancel()
		err := c.loadDebDirs(ctx, rs, st, dirsOf)
		if err != nil {
			c.log.Warn("load package indexes in the background", "repo", rs.cfg.Name, "root", st.key, "why", what, "err", err)
		}
		f.finish(checksum.Digest{}, 0, err, nil)
	}()
}

// fetchedArches returns the architectures whose Packages index a client
// already fetched (its blob is stored). Only an index whose bytes belong to
// one architecture counts: an empty one (debian-installer, a component with
// nothing for an architecture) or one that lists only "all" packages is the
// same blob for several architectures, and the one stored copy would claim
// them all, so that a client asking for an "all" package made lazymirror
// load the Packages of every architecture of the archive.
func (c *Cache) fetchedArches(rel *debian.Release) []string {
	owners := make(map[checksum.Digest][]string) // index blob → architectures listing it
	for _, a := range rel.Architectures {
		for _, dir := range packagesDirs(rel, []string{a}) {
			for _, name := range packagesVariants {
				if f, ok := rel.Lookup(dir + "/" + name); ok {
					if d, ok := f.SHA256(); ok && !slices.Contains(owners[d], a) {
						owners[d] = append(owners[d], a)
					}
				}
			}
		}
	}
	var out []string
	for d, archs := range owners {
		if len(archs) != 1 || slices.Contains(out, archs[0]) {
			continue
		}
		if _, err := c.store.Stat(d); err == nil {
			out = append(out, archs[0])
		}
	}
	return out // in no particular order
}

// packagesDirs lists the "<component>/binary-<arch>" directories of a
// Release that have a Packages index, for the given architectures.
func packagesDirs(rel *debian.Release, arches []string) []string {
	var dirs []string
	for _, f := range rel.Files {
		dir, base := path.Split(f.Path)
		dir = strings.TrimSuffix(dir, "/")
		if !strings.HasPrefix(base, "Packages") || strings.Contains(dir, "/debian-installer/") || slices.Contains(dirs, dir) {
			continue
		}
		for _, a := range arches {
			if strings.HasSuffix(dir, "/binary-"+a) {
				dirs = append(dirs, dir)
			}
		}
	}
	return dirs
}

// packagesVariants are the forms of a Packages index in the order they are
// tried when none is stored yet: gzip first (Go decompresses it ~7x faster
// than xz; see the debian package benchmarks), then xz, then plain.
var packagesVariants = []string{"Packages.gz", "Packages.xz", "Packages"}

// loadPackagesDir fetches one Packages index of dir (the first variant a
// mirror has, preferring one already stored), checks it against the
// Release's entry for the uncompressed file, and enters its packages.
// It returns the path it loaded.
func (c *Cache) loadPackagesDir(ctx context.Context, rs *repoState, key string, rel *debian.Release, dir string) (string, error) {
	plain, _ := rel.Lookup(joinRoot(dir, "Packages"))
	var variants []debian.File
	for _, name := range packagesVariants {
		if f, ok := rel.Lookup(joinRoot(dir, name)); ok {
			variants = append(variants, f)
		}
	}
	// One already stored costs no transfer.
	slices.SortStableFunc(variants, func(a, b debian.File) int {
		return c.storedRank(a) - c.storedRank(b)
	})
	var errs []error
	for _, f := range variants {
		p := joinRoot(key, f.Path)
		if f.Size == 0 {
			return p, nil // an empty index lists nothing
		}
		e := entryFor(index.Metadata, f.Size, f.Best())
		n, err := c.ingest(ctx, rs, p, e, func(r io.Reader, bulk *index.Bulk) (int, error) {
			return ingestPackages(ctx, r, f.Path, plain, bulk)
		})
		if err == nil {
			c.log.Info("loaded package index", "repo", rs.cfg.Name, "path", p, "packages", n)
			return p, nil
		}
		errs = append(errs, err)
	}
	return "", fmt.Errorf("load %s: %w", joinRoot(key, joinRoot(dir, "Packages")), errors.Join(errs...))
}

// ingestPackages parses a Packages index (compressed bytes), checked
// against the Release entry of its uncompressed form when plain is set,
// into package entries.
func ingestPackages(ctx context.Context, r io.Reader, name string, plain debian.File, bulk *index.Bulk) (int, error) {
	return debian.ParsePackagesFile(ctx, r, name, plain, func(pkg *debian.Package) error {
		return bulk.Add(pkg.Filename, entryFor(index.Package, pkg.Size, pkg.Best()))
	})
}

func (c *Cache) storedRank(f debian.File) int {
	if d, ok := f.SHA256(); ok {
		if _, err := c.store.Stat(d); err == nil {
			return 0
		}
	}
	return 1
}

// ingest fetches a metadata file (through a flight, so a client asking for
// it at the same time shares the download) and parses it into the index.
func (c *Cache) ingest(ctx context.Context, rs *repoState, p string, e index.Entry, parse func(io.Reader, *index.Bulk) (int, error)) (int, error) {
	o, err := c.fetchWhole(ctx, fetchSpec{rs: rs, rel: p, digest: e.Digest, size: e.Size, upstream: e.Upstream})
	if err != nil {
		return 0, err
	}
	defer o.Close()
	// A load's buffers (decompression windows, parse batches: tens of MB
	// for bookworm's main/binary-amd64) are garbage once it ends. Go keeps
	// such memory for reuse; a daemon that loads a few times a day should
	// give it back, not hold 100 MB of RSS until the next load.
	defer debug.FreeOSMemory()
	bulk := c.idx.NewBulk(rs.cfg.Name, 0)
	n, err := parse(o.Content(), bulk)
	if cerr := bulk.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, fmt.Errorf("%s: %w", p, err)
	}
	return n, nil
}
