package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"lazymirror/checksum"
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
	body, resp, err := c.getSmall(ctx, rs, m, xmlPath, validators(cur, m))
	if err != nil {
		return nil, err
	}
	md, err := repomd.ParseRepomd(bytes.NewReader(body))
	if err != nil {
		err = fmt.Errorf("%s: %w", xmlPath, err)
		rs.pool.Failure(m, err) // a mirror serving a root that does not parse is broken
		return nil, err
	}
	t := repomdTime(md)
	if cur != nil {
		if ref, ok := cur.Files[xmlPath]; ok && ref.Digest == checksum.Digest(sha256.Sum256(body)) {
			return nil, upstream.ErrNotModified
		}
		if t.Before(cur.Time) {
			return nil, fmt.Errorf("%s of %s, current snapshot %s: %w", xmlPath, t, cur.Time, errStale)
		}
	}
	files := map[string][]byte{xmlPath: body}
	for _, name := range []string{"repodata/repomd.xml.asc", "repodata/repomd.xml.key"} {
		p := joinRoot(key, name)
		b, _, err := c.getSmall(ctx, rs, m, p, nil)
		switch {
		case err == nil:
			files[p] = b
		case !errors.Is(err, upstream.ErrNotFound):
			return nil, err
		}
	}
	snap := &index.Snapshot{
		Repo: rs.cfg.Name, Root: key, Files: make(map[string]index.FileRef),
		Version: md.Revision, Time: t, FetchedAt: c.now(), Mirror: m.String(),
		ETag: resp.ETag, LastModified: resp.LastModified,
	}
	for p, b := range files {
		ref, err := c.putSmall(b)
		if err != nil {
			return nil, err
		}
		snap.Files[p] = ref
	}
	recs := make([]index.Record, 0, len(md.Data))
	for _, d := range md.Data {
		recs = append(recs, index.Record{Path: joinRoot(key, d.Location), Entry: dataEntry(d)})
	}
	if err := c.idx.PutEntries(rs.cfg.Name, recs); err != nil {
		return nil, err
	}
	if prim, ok := md.Primary(); ok {
		p := joinRoot(key, prim.Location)
		n, err := c.ingest(ctx, rs, p, dataEntry(prim), func(r io.Reader, bulk *index.Bulk) (int, error) {
			return repomd.ParsePrimaryFile(ctx, r, prim.Location, prim.OpenChecksum, prim.OpenSize, func(pkg *repomd.Package) error {
				e := index.Entry{Size: pkg.Size, Kind: index.Package}
				if d, ok := pkg.Checksum.Digest(); ok {
					e.Digest = d
				} else {
					e.Upstream = pkg.Checksum
				}
				return bulk.Add(joinRoot(key, pkg.Location), e)
			})
		})
		if err != nil {
			return nil, fmt.Errorf("load primary: %w", err)
		}
		snap.Loaded = []string{p}
		c.log.Info("loaded primary", "repo", rs.cfg.Name, "path", p, "packages", n)
	}
	if err := c.idx.PutSnapshot(snap); err != nil {
		return nil, err
	}
	st.install(snap)
	c.log.Info("new snapshot", "repo", rs.cfg.Name, "root", key, "revision", md.Revision, "mirror", m.String())
	return snap, nil
}

// dataEntry is the index entry of a repomd data record.
func dataEntry(d repomd.Data) index.Entry {
	e := index.Entry{Size: d.Size, Kind: index.Metadata}
	if dg, ok := d.Checksum.Digest(); ok {
		e.Digest = dg
	} else {
		e.Upstream = d.Checksum
	}
	return e
}

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
		case errors.Is(err, ErrNotFound):
			rs.mu.Lock()
			rs.absent[dir] = c.now()
			delete(rs.roots, dir)
			rs.mu.Unlock()
		default:
			return err
		}
	}
	return nil
}
