package cache

import (
	"sync"
	"sync/atomic"
	"time"

	"lazymirror/checksum"
)

// hotBlobMax is the largest blob kept in memory. A hit on a small package
// is mostly system calls (open, fstat, read, close) around one send; held
// in memory, it is the send alone.
const hotBlobMax = 64 << 10

// hotBlobs keeps the bytes of small blobs that clients asked for, up to a
// budget, replacing with the clock algorithm (a blob asked for since the
// hand last passed gets a second chance). The bytes were verified against
// their digest when read from disk, and blobs never change, so a copy is
// right for as long as it is kept, whatever happens to the file.
type hotBlobs struct {
	max int64 // byte budget; 0: nothing is kept

	mu   sync.RWMutex
	m    map[checksum.Digest]*hotBlob
	size int64
}

type hotBlob struct {
	b    []byte // never written after it is kept: responses send it as it is
	mod  time.Time
	used atomic.Bool
}

func newHotBlobs(max int64) *hotBlobs {
	return &hotBlobs{max: max, m: make(map[checksum.Digest]*hotBlob)}
}

// fits reports whether a blob of size bytes is one to keep.
func (h *hotBlobs) fits(size int64) bool {
	return h.max > 0 && size <= hotBlobMax && size <= h.max
}

func (h *hotBlobs) get(d checksum.Digest) (*hotBlob, bool) {
	h.mu.RLock()
	e, ok := h.m[d]
	h.mu.RUnlock()
	if ok {
		e.used.Store(true)
	}
	return e, ok
}

// put keeps b as d's bytes, evicting others to stay within the budget.
func (h *hotBlobs) put(d checksum.Digest, b []byte, mod time.Time) *hotBlob {
	e := &hotBlob{b: b, mod: mod}
	h.mu.Lock()
	defer h.mu.Unlock()
	if old, ok := h.m[d]; ok {
		return old
	}
	// Map iteration starts at a random place: the hand. The first pass
	// passes over (and unmarks) blobs asked for since; a second, if the
	// first did not free enough, takes any.
	for pass := 0; pass < 2 && h.size+int64(len(b)) > h.max; pass++ {
		for k, v := range h.m {
			if h.size+int64(len(b)) <= h.max {
				break
			}
			if v.used.Swap(false) && pass == 0 {
				continue
			}
			delete(h.m, k)
			h.size -= int64(len(v.b))
		}
	}
	h.m[d] = e
	h.size += int64(len(b))
	return e
}

// drop forgets d: its file left the store (eviction, gc, corruption), and
// memory holds only what the store has.
func (h *hotBlobs) drop(d checksum.Digest) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e, ok := h.m[d]; ok {
		delete(h.m, d)
		h.size -= int64(len(e.b))
	}
}
