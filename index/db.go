package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"lazymirror/checksum"
)

// Errors callers branch on with errors.Is. They are always wrapped with context.
var (
	// ErrNotFound is returned when a path, snapshot, blob or alias is not in the index.
	ErrNotFound = errors.New("not found")
	// ErrLocked is returned by Open when another DB (in this process or
	// another) holds the file for longer than Options.Timeout.
	ErrLocked = errors.New("index locked")
	// ErrNewerSchema is returned by Open for a database written by a newer lazymirror.
	ErrNewerSchema = errors.New("index schema is newer than this binary")
	// ErrInvalid is returned for an argument the index cannot store: an empty
	// repo or path, a malformed checksum, a corrupt value.
	ErrInvalid = errors.New("invalid index argument")
	// ErrStale is returned by PutSnapshot for a snapshot older (by Time) than
	// the current one of its root: a lagging mirror must not roll it back.
	ErrStale = errors.New("snapshot older than current")
	// ErrCurrent is returned by DeleteSnapshot for a snapshot that is current.
	ErrCurrent = errors.New("snapshot is current")
)

// Bucket and key names: the schema in the package doc, in one place.
var (
	bucketMeta      = []byte("meta")
	bucketEntries   = []byte("entries")
	bucketSnapshots = []byte("snapshots")
	bucketBlobs     = []byte("blobs")
	bucketAliases   = []byte("aliases")
	bucketCounters  = []byte("counters")

	bucketByID    = []byte("byid")
	bucketCurrent = []byte("current")

	keyVersion = []byte("version")
	keyAge     = []byte("age")
	keyReport  = []byte("report")
)

// DefaultTimeout is how long Open waits for the file lock when Options.Timeout is zero.
const DefaultTimeout = time.Second

// initialMmapSize is address space, not disk: the file grows as data does.
const initialMmapSize = 256 << 20

// Options configure Open. The zero value is ready to use.
type Options struct {
	// Timeout bounds the wait for the file lock; zero means DefaultTimeout.
	Timeout time.Duration
	// Now is the clock for access times; nil means time.Now.
	Now func() time.Time
	// UnsafeNoSync skips fsync on commit: a crash can corrupt the database.
	// For tests and benchmarks only.
	UnsafeNoSync bool
}

// DB is an open index. It is safe for concurrent use.
type DB struct {
	bolt *bolt.DB
	path string
	now  func() time.Time

	mu     sync.Mutex // guards access
	access map[checksum.Digest]access

	lookups lookups
}

// access is what Touch has recorded for one blob since the last flush.
type access struct {
	hits uint64
	last time.Time
}

// batchDelay bounds how long PutBlob waits to share a commit.
const batchDelay = 2 * time.Millisecond

// Open opens (creating if needed) the index at path and migrates it to the
// current schema. It fails with ErrLocked when the file stays locked past
// opts.Timeout and with ErrNewerSchema when a newer lazymirror wrote it.
func Open(path string, opts Options) (*DB, error) {
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if err := checkLength(path); err != nil {
		return nil, fmt.Errorf("open index %s: %w", path, err)
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      timeout,
		NoSync:       opts.UnsafeNoSync,
		FreelistType: bolt.FreelistMapType,
		// Map address space up front: growing the map makes bbolt copy
		// every dirty node of a large ingest out of the old mapping, and
		// waits for all read transactions (Lookups) to finish.
		InitialMmapSize: initialMmapSize,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("index %s is in use (is lazymirror serve running?): %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open index %s: %w", path, err)
	}
	if err := migrate(bdb); err != nil {
		return nil, errors.Join(fmt.Errorf("index %s: %w", path, err), bdb.Close())
	}
	// Blob records of downloads ending together share one commit (see
	// PutBlob); a lone one waits this long for company.
	bdb.MaxBatchDelay = batchDelay
	return &DB{bolt: bdb, path: path, now: now, access: make(map[checksum.Digest]access)}, nil
}

// checkLength refuses an index file shorter than its last commit says it
// is (a partial copy, a restore onto a full disk): bbolt would read the
// missing pages through its mapping and the process would die of SIGBUS.
// It reads the two meta pages as bbolt does and checks the high water mark
// of the one bbolt would use, the valid one with the higher transaction id.
// A missing or empty file (a new index) and meta pages that do not validate
// are left to bbolt to create or refuse.
func checkLength(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return nil // bolt.Open creates it, or reports why it cannot
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	pageSize := int64(os.Getpagesize())
	var best *boltMeta
	for i := range int64(2) {
		m := readBoltMeta(f, i*pageSize)
		if m == nil {
			continue
		}
		if i == 0 {
			pageSize = int64(m.pageSize)
		}
		if best == nil || m.txid > best.txid {
			best = m
		}
	}
	if best == nil {
		return nil
	}
	if need := int64(best.pgid) * int64(best.pageSize); best.pgid > 1<<48 || fi.Size() < need {
		return fmt.Errorf("file is %d bytes, its last commit (transaction %d) needs %d: truncated: %w", fi.Size(), best.txid, need, ErrInvalid)
	}
	return nil
}

// boltMeta is the part of a bbolt meta page checkLength needs.
type boltMeta struct {
	pageSize uint32
	pgid     uint64 // high water mark: pages [0, pgid) are in the file
	txid     uint64
}

// readBoltMeta reads the bbolt meta page at off (after a 16-byte page header:
// magic, version, page size, flags u32; root, sequence, freelist, pgid, txid,
// checksum u64, in native byte order) and returns it when it validates as
// bbolt's does (magic, version 2, FNV-64a checksum), else nil.
func readBoltMeta(f *os.File, off int64) *boltMeta {
	var buf [16 + 64]byte
	if _, err := f.ReadAt(buf[:], off); err != nil {
		return nil
	}
	m := buf[16:]
	le := binary.NativeEndian
	h := fnv.New64a()
	h.Write(m[:56])
	if le.Uint32(m[0:]) != 0xED0CDAED || le.Uint32(m[4:]) != 2 || le.Uint64(m[56:]) != h.Sum64() {
		return nil
	}
	ps := le.Uint32(m[8:])
	if ps < 512 || ps > 1<<20 {
		return nil
	}
	return &boltMeta{pageSize: ps, pgid: le.Uint64(m[40:]), txid: le.Uint64(m[48:])}
}

// Close writes pending access records, then closes the file.
func (db *DB) Close() error {
	ferr := db.FlushAccess()
	if err := db.bolt.Close(); err != nil {
		return errors.Join(ferr, fmt.Errorf("close index %s: %w", db.path, err))
	}
	return ferr
}

// nested walks a chain of nested buckets from the root, returning nil when a
// link is missing.
func nested(tx *bolt.Tx, names ...[]byte) *bolt.Bucket {
	b := tx.Bucket(names[0])
	for _, n := range names[1:] {
		if b == nil {
			return nil
		}
		b = b.Bucket(n)
	}
	return b
}

// createNested is nested for a write transaction: it creates missing links.
func createNested(tx *bolt.Tx, names ...[]byte) (*bolt.Bucket, error) {
	b, err := tx.CreateBucketIfNotExists(names[0])
	for _, n := range names[1:] {
		if err != nil {
			return nil, err
		}
		b, err = b.CreateBucketIfNotExists(n)
	}
	return b, err
}
