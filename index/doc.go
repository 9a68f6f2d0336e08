// Package index is lazymirror's database: one bbolt file that records which
// (repo, path) maps to which blob, the snapshots of each repository's
// metadata, a record per stored blob for eviction and statistics, checksum
// aliases and counters. The blobs themselves live in the store; the index
// only points at them, and a blob is committed to the store before the index
// points at it, so a crash leaves at worst an orphan blob, never a dangling
// entry.
//
// # Crash safety
//
// Every change is one bbolt transaction: it is either on disk in full or not
// at all (bbolt fsyncs each commit unless Options.UnsafeNoSync is set, which
// only tests and benchmarks may do). Bulk ingest commits sorted chunks of
// about 50,000 entries, each in its own transaction; an interrupted ingest
// leaves whole chunks. Callers add an index file to its snapshot's Loaded
// list (UpdateSnapshot) only after Bulk.Close succeeded, so an interrupted
// ingest is simply redone.
// Access records (Touch) are kept in memory and written in one transaction
// per FlushAccess: a crash loses at most the hits since the last flush.
//
// # Schema
//
// The bucket tree below is the schema. Update this tree, add a migration to
// migrations (migrations.go) and so bump the schema version each time the
// structure or an encoding changes; add a migration test for it too.
//
//	meta/                       schema bookkeeping
//	  version : uvarint         schema version (the last migration applied)
//	  age     : float64 (8B BE) LFUDA cache age L: raised to the priority of
//	                            each evicted blob (since v2; absent = 0)
//	  report  : txid (8B BE) + JSON   the last statistics report and the
//	                            transaction that stored it (optional: absent
//	                            = none; older binaries ignore it)
//	entries/
//	  <repo>/                   one nested bucket per repository
//	    <path> : entry          path relative to the repo, as served
//	snapshots/                  bucket sequence = last snapshot id assigned
//	  <repo>/
//	    byid/
//	      <id : uint64 BE> : JSON snapshot (rare and large)
//	    current/
//	      "/"+<root> : <id : uint64 BE>   current snapshot per metadata root
//	blobs/
//	  <sha256 : 32B> : blob
//	aliases/
//	  <algo : 1B><sum : algo size> : <sha256 : 32B>   md5/sha1/sha512 -> sha256
//	counters/
//	  <name> : zigzag varint
//
// Value encodings start with an encoding version byte; varints are
// encoding/binary's; times are Unix nanoseconds, present only when their
// flag bit is set (the zero time.Time is stored as absent).
//
//	entry (encoding 1):
//	  1 | kind:1B | flags:1B (1 digest, 2 upstream, 4 fetched)
//	    | [sha256:32B] | size:varint | [algo:1B value:algo size]
//	    | snapshot:uvarint | [fetched:varint]
//	blob (encoding 2, since v2; encoding 1 lacked the priority):
//	  2 | flags:1B (1 stored, 2 last access) | size:varint
//	    | [stored:varint] | [last access:varint] | hits:uvarint
//	    | priority:float64 (8B BE)
//
// # Eviction priority
//
// The index keeps each blob's LFUDA key (Blob.Priority) itself, because the
// hits arrive here: priority = L + hits, where L is the cache age in meta.
// Evict removes a blob's record and raises L to that blob's priority, so
// blobs popular long ago age out against blobs popular now.
//
// # Concurrency
//
// A DB is safe for concurrent use. Its file is locked while open: a second
// Open, from this process or another, fails with ErrLocked after
// Options.Timeout. Callbacks passed to Entries and Blobs run inside a read
// transaction and must not call the DB.
package index
