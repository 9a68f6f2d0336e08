package index

import (
	"sync"
	"sync/atomic"
)

// maxLookups bounds the memo: past it, it starts again empty.
const maxLookups = 1 << 16

// lookups memoizes Lookup, the index read of every request: a bbolt read
// transaction costs more than the rest of a hit on a small blob.
// Every committed change to the entries bumps gen, and a memo answer is
// used only while gen is what it was before its read transaction began,
// so no answer outlives a change that could alter it.
type lookups struct {
	gen atomic.Uint64
	mu  sync.RWMutex
	m   map[lookupKey]lookup
}

type lookupKey struct{ repo, path string }

type lookup struct {
	e     Entry
	found bool
	gen   uint64
}

func (l *lookups) get(repo, path string) (lookup, bool) {
	g := l.gen.Load()
	l.mu.RLock()
	v, ok := l.m[lookupKey{repo, path}]
	l.mu.RUnlock()
	return v, ok && v.gen == g
}

// put records what a read transaction that began at generation g found.
func (l *lookups) put(repo, path string, v lookup) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil || len(l.m) >= maxLookups {
		l.m = make(map[lookupKey]lookup)
	}
	l.m[lookupKey{repo, path}] = v
}

// changed is called after a committed change to the entries.
func (l *lookups) changed() { l.gen.Add(1) }
