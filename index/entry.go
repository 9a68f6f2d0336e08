package index

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"
	"unsafe"

	bolt "go.etcd.io/bbolt"

	"lazymirror/checksum"
)

// Kind says how an entry came to be known, and so how far it is trusted.
type Kind uint8

// The kinds of entry. The zero Kind is Other, the least trusted.
const (
	// Other is a URL-keyed file no metadata vouches for (.treeinfo, images):
	// cached with a TTL from Fetched, unverified.
	Other Kind = iota
	// Package is a package file listed in an index (.rpm, .deb).
	Package
	// Metadata is an index file a root lists: primary.xml.*, Packages.xz, by-hash paths.
	Metadata
	// Root is a root metadata file: InRelease, Release(.gpg), repomd.xml(.asc, .key).
	Root
)

// String returns the kind's lower-case name.
func (k Kind) String() string {
	switch k {
	case Other:
		return "other"
	case Package:
		return "package"
	case Metadata:
		return "metadata"
	case Root:
		return "root"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Entry is what the index knows about one (repo, path).
type Entry struct {
	// Digest is the sha256 of the content; zero while only a weaker upstream sum is known.
	Digest checksum.Digest
	// Size is the content length in bytes, -1 when unknown.
	Size int64
	// Upstream is the upstream's own checksum when it is not sha256 (sha1, md5, sha512); zero otherwise.
	Upstream checksum.Sum
	// Snapshot is the id of the snapshot that recorded the entry (0: none, e.g. URL-keyed).
	Snapshot uint64
	// Kind says how the entry came to be known.
	Kind Kind
	// Fetched is when an Other entry was fetched (for its TTL); zero otherwise.
	Fetched time.Time
}

// Record is one entry for bulk ingest.
type Record struct {
	Path  string
	Entry Entry
}

// DefaultChunk is how many entries PutEntries and a Bulk commit per
// transaction: large enough that ingest is a few commits, small enough to
// bound a transaction's memory.
const DefaultChunk = 50_000

// Lookup returns the entry for (repo, path), or an error wrapping
// ErrNotFound. Its answers are memoized until the entries change. The
// Entry's Upstream value is shared with later answers: do not modify it.
func (db *DB) Lookup(repo, path string) (Entry, error) {
	v, ok := db.lookups.get(repo, path)
	if !ok {
		var err error
		if v, err = db.lookup(repo, path); err != nil {
			return Entry{}, err
		}
	}
	if !v.found {
		return Entry{}, fmt.Errorf("lookup %s %s: %w", repo, path, ErrNotFound)
	}
	return v.e, nil
}

// lookup reads (repo, path) in a read transaction, and memoizes it.
func (db *DB) lookup(repo, path string) (lookup, error) {
	var (
		e     Entry
		found bool
	)
	gen := db.lookups.gen.Load() // before the transaction: a change it misses bumps gen after
	err := db.bolt.View(func(tx *bolt.Tx) error {
		b := nested(tx, bucketEntries, readKey(repo))
		if b == nil {
			return nil
		}
		v := b.Get(readKey(path))
		if v == nil {
			return nil
		}
		found = true
		var err error
		e, err = decodeEntry(v)
		return err
	})
	if err != nil {
		return lookup{}, fmt.Errorf("lookup %s %s: %w", repo, path, err)
	}
	v := lookup{e: e, found: found, gen: gen}
	db.lookups.put(repo, path, v)
	return v, nil
}

// readKey returns s's bytes without copying, for read transactions on the
// hot path: bbolt's Get and read-only Bucket only compare the key, never
// modify or keep it. Write transactions keep keys until commit, so they
// must use copies.
func readKey(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// Put records one entry in its own transaction. Like PutEntries, it keeps
// an existing entry recorded by a newer snapshot (a higher Snapshot id).
func (db *DB) Put(repo, path string, e Entry) error {
	return db.writeSorted(repo, []Record{{Path: path, Entry: e}})
}

// PutEntries records many entries of one repo. It sorts them by path into a
// new slice (bbolt inserts sorted keys many times faster), keeps the last of
// duplicate paths, and commits chunks of DefaultChunk entries, each in one
// transaction; recs itself is not modified.
// Where the index already holds an entry from a newer snapshot (higher
// Snapshot id) for a path, that entry is kept: the newest snapshot's answer
// is served.
func (db *DB) PutEntries(repo string, recs []Record) error {
	sorted := sortRecords(recs)
	for len(sorted) > 0 {
		n := min(len(sorted), DefaultChunk)
		if err := db.writeSorted(repo, sorted[:n]); err != nil {
			return err
		}
		sorted = sorted[n:]
	}
	return nil
}

// sortRecords returns recs sorted by path, keeping only the last record of
// each path; recs itself is left alone. It sorts indexes, not the large
// Records, with the index as tie-break so "last" survives an unstable sort.
func sortRecords(recs []Record) []Record {
	order := make([]int, len(recs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		if c := strings.Compare(recs[a].Path, recs[b].Path); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	out := make([]Record, 0, len(recs))
	for i, o := range order {
		if i+1 < len(order) && recs[order[i+1]].Path == recs[o].Path {
			continue
		}
		out = append(out, recs[o])
	}
	return out
}

// maxEntryLen bounds an encoded entry: header, digest, size, sha512 upstream,
// snapshot, fetched.
const maxEntryLen = 3 + 32 + 3*binary.MaxVarintLen64 + 1 + 64

// sortedFillPercent is the page fill for sorted inserts.
const sortedFillPercent = 0.9

// writeSorted writes recs, sorted by path without duplicates, in one transaction.
func (db *DB) writeSorted(repo string, recs []Record) error {
	if repo == "" {
		return fmt.Errorf("put entries: empty repo: %w", ErrInvalid)
	}
	// bbolt keeps keys and values until commit: encode them all into one arena.
	size := 0
	for _, r := range recs {
		size += len(r.Path) + maxEntryLen
	}
	arena := make([]byte, 0, size)
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		b, err := createNested(tx, bucketEntries, []byte(repo))
		if err != nil {
			return err
		}
		// Keys arrive sorted, mostly as appends: fill pages instead of
		// splitting them half-empty (bbolt's default of 0.5).
		b.FillPercent = sortedFillPercent
		for _, r := range recs {
			if r.Path == "" {
				return fmt.Errorf("empty path: %w", ErrInvalid)
			}
			if err := validSum(r.Entry.Upstream); err != nil {
				return fmt.Errorf("%s: %w", r.Path, err)
			}
			if r.Entry.Kind > Root {
				return fmt.Errorf("%s: %s: %w", r.Path, r.Entry.Kind, ErrInvalid)
			}
			start := len(arena)
			arena = append(arena, r.Path...)
			key := arena[start:len(arena):len(arena)]
			if old := b.Get(key); old != nil {
				if oe, err := decodeEntry(old); err == nil && oe.Snapshot > r.Entry.Snapshot {
					continue
				}
			}
			start = len(arena)
			arena = appendEntry(arena, r.Entry)
			if err := b.Put(key, arena[start:len(arena):len(arena)]); err != nil {
				return fmt.Errorf("%s: %w", r.Path, err)
			}
		}
		return nil
	})
	db.lookups.changed() // after the commit (or a failed one: harmless)
	if err != nil {
		return fmt.Errorf("put %d entries in %s: %w", len(recs), repo, err)
	}
	return nil
}

// validSum checks that a non-zero sum has a known algorithm and a value of its size.
func validSum(s checksum.Sum) error {
	if s.IsZero() {
		return nil
	}
	if s.Algo.Size() == 0 || len(s.Value) != s.Algo.Size() {
		return fmt.Errorf("checksum %s: %w", s, ErrInvalid)
	}
	return nil
}

// Bulk streams entries of one repo into the index for a parser: Add buffers,
// each full chunk is sorted and committed in one transaction, Close commits
// the rest. Later Adds of a path win over earlier ones. A Bulk is not safe
// for concurrent use; after an error every call returns it.
type Bulk struct {
	db    *DB
	repo  string
	chunk int
	recs  []Record
	err   error
}

// NewBulk starts a bulk ingest into repo committing chunk entries per
// transaction (DefaultChunk when chunk <= 0).
func (db *DB) NewBulk(repo string, chunk int) *Bulk {
	if chunk <= 0 {
		chunk = DefaultChunk
	}
	return &Bulk{db: db, repo: repo, chunk: chunk}
}

// Add buffers one entry, committing the buffer when it holds a chunk.
func (b *Bulk) Add(path string, e Entry) error {
	if b.err != nil {
		return b.err
	}
	b.recs = append(b.recs, Record{Path: path, Entry: e})
	if len(b.recs) >= b.chunk {
		b.flush()
	}
	return b.err
}

// Close commits the buffered entries and returns the first error of the ingest.
func (b *Bulk) Close() error {
	if b.err == nil {
		b.flush()
	}
	return b.err
}

func (b *Bulk) flush() {
	if len(b.recs) > 0 {
		b.err = b.db.writeSorted(b.repo, sortRecords(b.recs))
	}
	b.recs = b.recs[:0]
}

// DeleteEntry removes (repo, path); removing an absent entry is not an error.
func (db *DB) DeleteEntry(repo, path string) error {
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		b := nested(tx, bucketEntries, []byte(repo))
		if b == nil {
			return nil
		}
		return b.Delete([]byte(path))
	})
	db.lookups.changed()
	if err != nil {
		return fmt.Errorf("delete %s %s: %w", repo, path, err)
	}
	return nil
}

// Entries calls fn for every entry of repo in path order, inside one read
// transaction: fn must not call the DB. An error from fn stops the walk and
// is returned as is.
func (db *DB) Entries(repo string, fn func(path string, e Entry) error) error {
	return db.bolt.View(func(tx *bolt.Tx) error {
		b := nested(tx, bucketEntries, []byte(repo))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			e, err := decodeEntry(v)
			if err != nil {
				return fmt.Errorf("entry %s %s: %w", repo, k, err)
			}
			return fn(string(k), e)
		})
	})
}

// CountEntries returns how many entries repo has (0 for an unknown repo).
func (db *DB) CountEntries(repo string) (int, error) {
	n := 0
	err := db.bolt.View(func(tx *bolt.Tx) error {
		if b := nested(tx, bucketEntries, []byte(repo)); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("count entries of %s: %w", repo, err)
	}
	return n, nil
}

// Repos returns the names of the repos that have entries or snapshots,
// sorted.
func (db *DB) Repos() ([]string, error) {
	var out []string
	err := db.bolt.View(func(tx *bolt.Tx) error {
		for _, top := range [][]byte{bucketEntries, bucketSnapshots} {
			err := tx.Bucket(top).ForEachBucket(func(k []byte) error {
				out = append(out, string(k))
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list repos: %w", err)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
