package index

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"lazymirror/checksum"
)

// FileRef is a root file a snapshot serves.
type FileRef struct {
	Digest checksum.Digest
	Size   int64
}

// Snapshot is one consistent view of a metadata root: its root files and
// what they imply. A root has one current snapshot and keeps older ones as
// history until DeleteSnapshot.
type Snapshot struct {
	// ID is assigned by PutSnapshot: monotonic and unique in the database.
	ID uint64
	// Repo is the repository the snapshot belongs to.
	Repo string
	// Root is the metadata root: "dists/bookworm" (apt), "releases/40/Everything/x86_64/os" or "" (yum).
	Root string
	// Files are the root files served from this snapshot, by path relative to the repo
	// ("dists/bookworm/InRelease", ".../repodata/repomd.xml.asc", ...).
	Files map[string]FileRef
	// Version is what orders snapshots as upstream spells it (apt Date, yum revision); informational.
	Version string
	// Time is the parsed Date or repomd timestamp; PutSnapshot refuses to go back in Time.
	Time time.Time
	// FetchedAt is when upstream last confirmed the snapshot (revalidation).
	FetchedAt time.Time
	// Mirror is the mirror the snapshot came from.
	Mirror string
	// ETag and LastModified are the root file's validators for conditional revalidation.
	ETag, LastModified string
	// Loaded lists the index files (Packages.xz, primary.xml.zst...) already ingested as entries.
	Loaded []string
}

// snapshotEncoding is the version field of the JSON snapshot value.
const snapshotEncoding = 1

// snapshotJSON is a snapshot's stored form; ID and Repo come from its keys.
type snapshotJSON struct {
	V            int                 `json:"v"`
	Root         string              `json:"root"`
	Files        map[string]fileJSON `json:"files,omitempty"`
	Version      string              `json:"version,omitempty"`
	Time         time.Time           `json:"time"`
	FetchedAt    time.Time           `json:"fetched_at"`
	Mirror       string              `json:"mirror,omitempty"`
	ETag         string              `json:"etag,omitempty"`
	LastModified string              `json:"last_modified,omitempty"`
	Loaded       []string            `json:"loaded,omitempty"`
}

type fileJSON struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

func encodeSnapshot(s *Snapshot) ([]byte, error) {
	j := snapshotJSON{
		V: snapshotEncoding, Root: s.Root, Version: s.Version, Time: s.Time, FetchedAt: s.FetchedAt,
		Mirror: s.Mirror, ETag: s.ETag, LastModified: s.LastModified, Loaded: s.Loaded,
	}
	if len(s.Files) > 0 {
		j.Files = make(map[string]fileJSON, len(s.Files))
		for p, f := range s.Files {
			j.Files[p] = fileJSON{SHA256: f.Digest.String(), Size: f.Size}
		}
	}
	return json.Marshal(j)
}

func decodeSnapshot(repo string, id uint64, v []byte) (*Snapshot, error) {
	var j snapshotJSON
	if err := json.Unmarshal(v, &j); err != nil {
		return nil, fmt.Errorf("snapshot %d: %w: %w", id, ErrInvalid, err)
	}
	if j.V != snapshotEncoding {
		return nil, fmt.Errorf("snapshot %d: encoding %d: %w", id, j.V, ErrInvalid)
	}
	s := &Snapshot{
		ID: id, Repo: repo, Root: j.Root, Version: j.Version, Time: j.Time, FetchedAt: j.FetchedAt,
		Mirror: j.Mirror, ETag: j.ETag, LastModified: j.LastModified, Loaded: j.Loaded,
	}
	if len(j.Files) > 0 {
		s.Files = make(map[string]FileRef, len(j.Files))
		for p, f := range j.Files {
			d, err := checksum.ParseDigest(f.SHA256)
			if err != nil {
				return nil, fmt.Errorf("snapshot %d file %s: %w: %w", id, p, ErrInvalid, err)
			}
			s.Files[p] = FileRef{Digest: d, Size: f.Size}
		}
	}
	return s, nil
}

// idKey is a snapshot id as a key: big-endian, so keys sort by id.
func idKey(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

// rootKey is a root as a key: bbolt keys cannot be empty and "" is a valid root.
func rootKey(root string) []byte { return []byte("/" + root) }

// repoSnapshots returns the byid and current buckets of repo, nil when absent.
func repoSnapshots(tx *bolt.Tx, repo string) (byID, current *bolt.Bucket) {
	r := nested(tx, bucketSnapshots, []byte(repo))
	if r == nil {
		return nil, nil
	}
	return r.Bucket(bucketByID), r.Bucket(bucketCurrent)
}

// getSnapshot reads snapshot id of repo from byID, wrapping ErrNotFound.
func getSnapshot(byID *bolt.Bucket, repo string, id uint64) (*Snapshot, error) {
	var v []byte
	if byID != nil {
		v = byID.Get(idKey(id))
	}
	if v == nil {
		return nil, fmt.Errorf("snapshot %d of %s: %w", id, repo, ErrNotFound)
	}
	return decodeSnapshot(repo, id, v)
}

// currentID returns the current snapshot id of root, 0 when there is none.
func currentID(current *bolt.Bucket, root string) uint64 {
	if current == nil {
		return 0
	}
	v := current.Get(rootKey(root))
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// MaxFuture is how far ahead of its FetchedAt a snapshot may be dated and
// still order snapshots (see DatedAfter): generous, for clocks that drift.
const MaxFuture = 24 * time.Hour

// DatedAfter reports whether s is newer than a root dated t, as snapshots
// are ordered: by Time, unless s was dated more than MaxFuture after it
// was last fetched (a mirror's wrong clock, a publisher's mistake), for
// then it would refuse every rightly dated root until its date came.
func (s *Snapshot) DatedAfter(t time.Time) bool {
	return s.Time.After(t) && (s.FetchedAt.IsZero() || !s.Time.After(s.FetchedAt.Add(MaxFuture)))
}

// PutSnapshot stores s and makes it the current snapshot of (s.Repo, s.Root),
// keeping the previous one as history. A zero s.ID gets the next id; a
// non-zero one must name a stored snapshot of s.Repo (ErrNotFound), which is
// rewritten and made current again. It fails with ErrStale when the current
// snapshot is DatedAfter s.Time (a zero Time is older than any), so a
// lagging mirror cannot roll a root back.
func (db *DB) PutSnapshot(s *Snapshot) error {
	if s.Repo == "" {
		return fmt.Errorf("put snapshot: empty repo: %w", ErrInvalid)
	}
	val, err := encodeSnapshot(s)
	if err != nil {
		return fmt.Errorf("put snapshot of %s %q: %w", s.Repo, s.Root, err)
	}
	id := s.ID
	err = db.bolt.Update(func(tx *bolt.Tx) error {
		byID, err := createNested(tx, bucketSnapshots, []byte(s.Repo), bucketByID)
		if err != nil {
			return err
		}
		current, err := createNested(tx, bucketSnapshots, []byte(s.Repo), bucketCurrent)
		if err != nil {
			return err
		}
		if cur := currentID(current, s.Root); cur != 0 {
			c, err := getSnapshot(byID, s.Repo, cur)
			if err != nil {
				return err
			}
			if c.DatedAfter(s.Time) {
				return fmt.Errorf("current snapshot %d is from %s, this one from %s: %w", cur, c.Time, s.Time, ErrStale)
			}
		}
		if id == 0 {
			if id, err = tx.Bucket(bucketSnapshots).NextSequence(); err != nil {
				return err
			}
		} else if byID.Get(idKey(id)) == nil {
			return fmt.Errorf("snapshot %d: %w", id, ErrNotFound)
		}
		if err := byID.Put(idKey(id), val); err != nil {
			return err
		}
		return current.Put(rootKey(s.Root), idKey(id))
	})
	if err != nil {
		return fmt.Errorf("put snapshot of %s %q: %w", s.Repo, s.Root, err)
	}
	s.ID = id
	return nil
}

// UpdateSnapshot rewrites a stored snapshot (FetchedAt, Loaded, validators...)
// without changing which snapshot is current. It fails with ErrNotFound for
// an unknown s.ID and with ErrInvalid when s.Root differs from the stored one.
func (db *DB) UpdateSnapshot(s *Snapshot) error {
	val, err := encodeSnapshot(s)
	if err != nil {
		return fmt.Errorf("update snapshot %d: %w", s.ID, err)
	}
	err = db.bolt.Update(func(tx *bolt.Tx) error {
		byID, _ := repoSnapshots(tx, s.Repo)
		old, err := getSnapshot(byID, s.Repo, s.ID)
		if err != nil {
			return err
		}
		if old.Root != s.Root {
			return fmt.Errorf("root %q, stored %q: %w", s.Root, old.Root, ErrInvalid)
		}
		return byID.Put(idKey(s.ID), val)
	})
	if err != nil {
		return fmt.Errorf("update snapshot %d of %s: %w", s.ID, s.Repo, err)
	}
	return nil
}

// CurrentSnapshot returns the current snapshot of (repo, root), or an error
// wrapping ErrNotFound.
func (db *DB) CurrentSnapshot(repo, root string) (*Snapshot, error) {
	var s *Snapshot
	err := db.bolt.View(func(tx *bolt.Tx) error {
		byID, current := repoSnapshots(tx, repo)
		id := currentID(current, root)
		if id == 0 {
			return ErrNotFound
		}
		var err error
		s, err = getSnapshot(byID, repo, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("current snapshot of %s %q: %w", repo, root, err)
	}
	return s, nil
}

// Snapshots returns every retained snapshot of repo, newest (highest id) first.
func (db *DB) Snapshots(repo string) ([]*Snapshot, error) {
	var out []*Snapshot
	err := db.bolt.View(func(tx *bolt.Tx) error {
		byID, _ := repoSnapshots(tx, repo)
		if byID == nil {
			return nil
		}
		c := byID.Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			if len(k) != 8 {
				return fmt.Errorf("snapshot key %x: %w", k, ErrInvalid)
			}
			s, err := decodeSnapshot(repo, binary.BigEndian.Uint64(k), v)
			if err != nil {
				return err
			}
			out = append(out, s)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("snapshots of %s: %w", repo, err)
	}
	return out, nil
}

// DeleteSnapshot removes a retained snapshot. It fails with ErrNotFound for
// an unknown id and with ErrCurrent for the current snapshot of its root.
// Entries the snapshot recorded stay; garbage collection finds them by
// Entry.Snapshot.
func (db *DB) DeleteSnapshot(repo string, id uint64) error {
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		byID, current := repoSnapshots(tx, repo)
		s, err := getSnapshot(byID, repo, id)
		if err != nil {
			return err
		}
		if currentID(current, s.Root) == id {
			return ErrCurrent
		}
		return byID.Delete(idKey(id))
	})
	if err != nil {
		return fmt.Errorf("delete snapshot %d of %s: %w", id, repo, err)
	}
	return nil
}
