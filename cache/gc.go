package cache

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path"
	"slices"
	"time"

	"lazymirror/checksum"
	"lazymirror/config"
	"lazymirror/debian"
	"lazymirror/index"
	"lazymirror/repomd"
)

// GCOptions tune GC.
type GCOptions struct {
	// OlderThan spares blobs stored more recently than this (a client may
	// still be working from an older snapshot's metadata).
	OlderThan time.Duration
	// DryRun reports what would be dropped and changes nothing.
	DryRun bool
}

// GCReport says what GC dropped (or would drop).
type GCReport struct {
	Snapshots int   `json:"snapshots"`
	Entries   int   `json:"entries"`
	Blobs     int   `json:"blobs"`
	Bytes     int64 `json:"bytes"`
	// Skipped names roots whose listing could not be read (their indexes
	// were evicted), and repos the configuration does not name: nothing of
	// those was dropped.
	Skipped []string `json:"skipped,omitempty"`
}

// GC drops what no retained snapshot needs any more: snapshots older than
// the previous one of each root; entries for paths that neither the current
// nor the previous snapshot of any root lists (superseded package versions,
// index files of old snapshots); and then blobs no entry and no retained
// snapshot points at, once stored longer than opts.OlderThan. URL-keyed
// entries are left to their TTL. A repo whose retained listings cannot all
// be read (an index file evicted) is skipped whole: GC never guesses.
func (c *Cache) GC(ctx context.Context, opts GCOptions) (GCReport, error) {
	var rep GCReport
	if err := c.Idle(ctx); err != nil {
		return rep, err
	}
	cutoff := c.now().Add(-opts.OlderThan)
	keepBlobs := make(map[checksum.Digest]bool)
	// A repo the index has but the configuration does not name (a gc run
	// with another config, or none; a repo taken out of it) cannot be
	// judged: everything it points at stays.
	known, err := c.idx.Repos()
	if err != nil {
		return rep, err
	}
	for _, name := range known {
		if _, ok := c.repos[name]; ok {
			continue
		}
		if err := c.keepAll(name, keepBlobs); err != nil {
			return rep, err
		}
		rep.Skipped = append(rep.Skipped, fmt.Sprintf("%s: not in the configuration, kept whole", name))
	}
	for _, name := range c.Repos() {
		rs := c.repos[name]
		snaps, err := c.idx.Snapshots(name)
		if err != nil {
			return rep, err
		}
		// The two newest snapshots of each root are retained (Snapshots is newest first).
		retained := make(map[string]int)
		var keep, drop []*index.Snapshot
		for _, s := range snaps {
			if retained[s.Root] < 2 {
				retained[s.Root]++
				keep = append(keep, s)
			} else {
				drop = append(drop, s)
			}
		}
		// Package indexes any snapshot of a root loaded: each retained one
		// must have loaded them too, or its listing is incomplete.
		used := make(map[string][]string)
		for _, s := range snaps {
			used[s.Root] = append(used[s.Root], loadedDirs(s.Root, s.Loaded)...)
		}
		listed := make(map[string]bool)
		complete := true
		for _, s := range keep {
			for _, ref := range s.Files {
				keepBlobs[ref.Digest] = true
			}
			if err := c.listed(ctx, rs, s, used[s.Root], listed); err != nil {
				rep.Skipped = append(rep.Skipped, fmt.Sprintf("%s/%s: %v", name, s.Root, err))
				complete = false
			}
		}
		var stale []string
		err = c.idx.Entries(name, func(p string, e index.Entry) error {
			switch {
			case e.Kind == index.Other || listed[p]:
				keepBlobs[e.Digest] = true
			case complete:
				stale = append(stale, p)
			default:
				keepBlobs[e.Digest] = true
			}
			return nil
		})
		if err != nil {
			return rep, err
		}
		if !complete {
			continue
		}
		rep.Entries += len(stale)
		rep.Snapshots += len(drop)
		if opts.DryRun {
			continue
		}
		for _, p := range stale {
			if err := c.idx.DeleteEntry(name, p); err != nil {
				return rep, err
			}
		}
		for _, s := range drop {
			if err := c.idx.DeleteSnapshot(name, s.ID); err != nil {
				return rep, err
			}
		}
	}
	var cands []blobRecord
	err = c.idx.Blobs(func(d checksum.Digest, b index.Blob) error {
		if !keepBlobs[d] && b.Stored.Before(cutoff) {
			cands = append(cands, blobRecord{d, b})
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	for _, cd := range cands {
		if opts.DryRun {
			if !c.ev.used(cd.d) {
				rep.Blobs++
				rep.Bytes += cd.b.Size
			}
			continue
		}
		// Whether a client holds it is asked at the removal itself: a
		// client may have taken it since the listing.
		removed, size, err := c.dropBlob(cd.d, c.idx.DeleteBlob)
		if err != nil {
			return rep, err
		}
		if removed {
			rep.Blobs++
			rep.Bytes += size
		}
	}
	c.log.Info("gc", "dry_run", opts.DryRun, "snapshots", rep.Snapshots, "entries", rep.Entries, "blobs", rep.Blobs, "bytes", rep.Bytes)
	return rep, nil
}

// keepAll marks every blob repo's snapshots and entries point at.
func (c *Cache) keepAll(repo string, keep map[checksum.Digest]bool) error {
	snaps, err := c.idx.Snapshots(repo)
	if err != nil {
		return err
	}
	for _, s := range snaps {
		for _, ref := range s.Files {
			keep[ref.Digest] = true
		}
	}
	return c.idx.Entries(repo, func(_ string, e index.Entry) error {
		keep[e.Digest] = true
		return nil
	})
}

// listed adds every path a snapshot lists to set: the index files of its
// root (and their by-hash names), and the packages of the indexes it loaded.
// For apt, the snapshot must have loaded every index directory of dirs that
// its Release lists (see reloadDirs).
func (c *Cache) listed(ctx context.Context, rs *repoState, s *index.Snapshot, dirs []string, set map[string]bool) error {
	read := func(p string) ([]byte, error) {
		if ref, ok := s.Files[p]; ok {
			return c.readBlob(ref)
		}
		return nil, fmt.Errorf("snapshot %d has no %s", s.ID, p)
	}
	parseLoaded := func(parse func(p string, r io.Reader) error) error {
		for _, p := range s.Loaded {
			e, err := c.idx.Lookup(rs.cfg.Name, p)
			if err != nil {
				return err
			}
			f, err := c.store.Open(e.Digest)
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			err = parse(p, f)
			f.Close()
			if err != nil {
				return err
			}
		}
		return nil
	}
	if rs.cfg.Type == config.Deb {
		b, err := read(joinRoot(s.Root, "InRelease"))
		if err != nil {
			if b, err = read(joinRoot(s.Root, "Release")); err != nil {
				return err
			}
		}
		rel, err := debian.ParseRelease(bytes.NewReader(b))
		if err != nil {
			return err
		}
		for _, r := range debEntries(s.Root, rel) {
			set[r.Path] = true
		}
		have := loadedDirs(s.Root, s.Loaded)
		for _, dir := range dirs {
			if _, ok := rel.Lookup(joinRoot(dir, "Packages")); ok && !slices.Contains(have, dir) {
				return fmt.Errorf("snapshot %d has not loaded %s yet", s.ID, joinRoot(s.Root, joinRoot(dir, "Packages")))
			}
		}
		return parseLoaded(func(p string, r io.Reader) error {
			_, err := debian.ParsePackagesFile(ctx, r, p, debian.File{}, func(pkg *debian.Package) error {
				set[pkg.Filename] = true
				return nil
			})
			return err
		})
	}
	b, err := read(joinRoot(s.Root, "repodata/repomd.xml"))
	if err != nil {
		return err
	}
	md, err := repomd.ParseRepomd(bytes.NewReader(b))
	if err != nil {
		return err
	}
	for _, d := range md.Data {
		set[joinRoot(s.Root, d.Location)] = true
	}
	return parseLoaded(func(p string, r io.Reader) error {
		_, err := repomd.ParsePrimaryFile(ctx, r, path.Base(p), checksum.Sum{}, -1, func(pkg *repomd.Package) error {
			set[joinRoot(s.Root, pkg.Location)] = true
			return nil
		})
		return err
	})
}
