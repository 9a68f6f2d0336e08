package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"lazymirror/index"
	"lazymirror/repomd"
	"lazymirror/upstream"
)

// fetchRPMRoot fetches <root>/repodata/repomd.xml (with its .asc and .key,
// from the same mirror) and, when it is new, makes it the current snapshot:
// root files stored, every data record entered in the index, the primary
// fetched, verified and parsed into package entries, then the switch. A
// repomd.xml whose primary cannot be loaded never becomes current.
func (c *Cache) fetchRPMRoot(ctx context.Context, rs *repoState, st *rootState, cur *index.Snapshot, m *upstream.Mirror) (*index.Snapshot, error) {
	key := st.key
	xmlPath := joinRoot(key, "repodata/repomd.xml")
	var md *repomd.Repomd
	body, resp, err := c.getSmall(ctx, rs, m, xmlPath, validators(cur, m), func(b []byte) (err error) {
		md, err = repomd.ParseRepomd(bytes.NewReader(b))
		return err
	})
	if err != nil {
		return nil, err
	}
	t := repomdTime(md)
	if err := checkNewer(cur, xmlPath, body, t); errors.Is(err, upstream.ErrNotModified) {
		return c.touch(st, cur, m, resp)
	} else if err != nil {
		return nil, err
	}
	files := map[string][]byte{xmlPath: body}
	for _, name := range []string{"repodata/repomd.xml.asc", "repodata/repomd.xml.key"} {
		p := joinRoot(key, name)
		b, _, err := c.getSmall(ctx, rs, m, p, nil, nil)
		switch {
		case err == nil:
			files[p] = b
		case !errors.Is(err, upstream.ErrNotFound):
			return nil, err
		}
	}
	if err := checkSignature(cur, files, xmlPath, xmlPath+".asc"); err != nil {
		c.log.Warn("mirror serves a root with another root's signature", "repo", rs.cfg.Name, "mirror", m.String(), "err", err)
		return nil, err
	}
	snap := c.newSnapshot(rs, st, m, resp, md.Revision, t)
	// The primary is loaded before the switch: a repomd.xml whose packages
	// cannot be known never becomes current.
	if prim, ok := md.Primary(); ok {
		p := joinRoot(key, prim.Location)
		n, err := c.ingest(ctx, rs, p, dataEntry(prim), func(r io.Reader, bulk *index.Bulk) (int, error) {
			return ingestPrimary(ctx, r, key, prim, bulk)
		})
		if err != nil {
			return nil, fmt.Errorf("load primary: %w", err)
		}
		snap.Loaded = []string{p}
		c.log.Info("loaded primary", "repo", rs.cfg.Name, "path", p, "packages", n)
	}
	if err := c.commitRoot(rs, st, snap, files, rpmEntries(key, md)); err != nil {
		return nil, err
	}
	return snap, nil
}

// ingestPrimary parses a primary (compressed bytes) of the yum repo at root
// into package entries.
func ingestPrimary(ctx context.Context, r io.Reader, root string, prim repomd.Data, bulk *index.Bulk) (int, error) {
	return repomd.ParsePrimaryFile(ctx, r, prim.Location, prim.OpenChecksum, prim.OpenSize, func(pkg *repomd.Package) error {
		return bulk.Add(joinRoot(root, pkg.Location), entryFor(index.Package, pkg.Size, pkg.Checksum))
	})
}

// rpmEntries are the index entries a repomd.xml of the yum repo at root
// implies: one per data record.
func rpmEntries(root string, md *repomd.Repomd) []index.Record {
	recs := make([]index.Record, 0, len(md.Data))
	for _, d := range md.Data {
		recs = append(recs, index.Record{Path: joinRoot(root, d.Location), Entry: dataEntry(d)})
	}
	return recs
}

// dataEntry is the index entry of a repomd data record.
func dataEntry(d repomd.Data) index.Entry { return entryFor(index.Metadata, d.Size, d.Checksum) }

// repomdTime orders yum snapshots: the newest data timestamp, or the
// revision when it is a Unix time (createrepo's default), whichever is later.
func repomdTime(md *repomd.Repomd) time.Time {
	var ts int64
	for _, d := range md.Data {
		ts = max(ts, d.Timestamp)
	}
	if rev, err := strconv.ParseInt(md.Revision, 10, 64); err == nil && rev > 1e9 {
		ts = max(ts, rev)
	}
	return time.Unix(ts, 0).UTC()
}

// loadRPMFor finds the yum repo covering a package path, nearest ancestor
// directory with repodata/repomd.xml first, and loads it. Directories found
// to hold no repo are not asked again for a while. A package missing from
// a known repo's snapshot makes that snapshot revalidate (it may be new).
func (c *Cache) loadRPMFor(ctx context.Context, rs *repoState, rel string) error {
	for _, dir := range ancestors(rel) {
		rs.mu.Lock()
		st, known := rs.roots[dir]
		absentAt, absent := rs.absent[dir]
		rs.mu.Unlock()
		if known && st.snap.Load() != nil {
			_, err := c.current(ctx, rs, dir, true)
			return err
		}
		if absent && c.now().Sub(absentAt) < absentRootTTL {
			continue
		}
		_, err := c.current(ctx, rs, dir, false)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, ErrNotFound): // current forgot its state
			rs.markAbsent(dir, c.now())
		default:
			return err
		}
	}
	return nil
}
