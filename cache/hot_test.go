package cache

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"lazymirror/checksum"
)

// hotTestBlob returns n deterministic bytes that differ by seed, and their
// real digest.
func hotTestBlob(seed, n int) ([]byte, checksum.Digest) {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + i>>8 + seed*7)
	}
	// Bytes alone may repeat across seeds for tiny n: the seed is in the
	// first bytes too, so that every (seed, n) has its own digest.
	for i := 0; i < n && i < 8; i++ {
		b[i] = byte(seed >> (8 * i))
	}
	return b, checksum.Digest(sha256.Sum256(b))
}

// checkHot fails unless the budget holds and size is the sum of what is kept.
func checkHot(t *testing.T, h *hotBlobs) {
	t.Helper()
	var sum int64
	for d, e := range h.m {
		if got := checksum.Digest(sha256.Sum256(e.b)); got != d {
			t.Errorf("kept bytes of %s hash to %s", d, got)
		}
		sum += int64(len(e.b))
	}
	if h.size != sum {
		t.Errorf("size = %d, but the kept blobs hold %d bytes", h.size, sum)
	}
	if h.size > h.max {
		t.Errorf("size = %d, over the budget %d", h.size, h.max)
	}
}

func TestHotFits(t *testing.T) {
	tests := []struct {
		max, size int64
		want      bool
	}{
		{64 << 20, 0, true},
		{64 << 20, 1, true},
		{64 << 20, hotBlobMax, true},
		{64 << 20, hotBlobMax + 1, false},
		{64 << 20, 100 << 20, false},
		// A budget smaller than hotBlobMax bounds the size too.
		{10 << 10, 10 << 10, true},
		{10 << 10, 10<<10 + 1, false},
		{hotBlobMax, hotBlobMax, true},
		// Budget 0: nothing is kept, not even an empty blob (the
		// type's doc: "0: nothing is kept"; config: "0 = none").
		{0, 0, false},
		{0, 1, false},
		{0, hotBlobMax, false},
	}
	for _, tt := range tests {
		if got := newHotBlobs(tt.max).fits(tt.size); got != tt.want {
			t.Errorf("newHotBlobs(%d).fits(%d) = %v, want %v", tt.max, tt.size, got, tt.want)
		}
	}
}

func TestHotPutGet(t *testing.T) {
	for _, n := range []int{0, 1, 10 << 10, hotBlobMax} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			h := newHotBlobs(1 << 20)
			b, d := hotTestBlob(1, n)
			mod := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
			if _, ok := h.get(d); ok {
				t.Fatal("get before put found the blob")
			}
			put := h.put(d, b, mod)
			e, ok := h.get(d)
			if !ok {
				t.Fatal("get after put did not find the blob")
			}
			if e != put {
				t.Error("get returned another entry than put")
			}
			if !bytes.Equal(e.b, b) || !e.mod.Equal(mod) {
				t.Errorf("got %d bytes, mod %v; want %d bytes, mod %v", len(e.b), e.mod, len(b), mod)
			}
			if h.size != int64(n) {
				t.Errorf("size = %d, want %d", h.size, n)
			}
			_, other := hotTestBlob(2, n+1)
			if _, ok := h.get(other); ok {
				t.Error("get of a digest never put found something")
			}
			checkHot(t, h)
		})
	}
}

// TestHotBudget: whatever the sequence of puts (of blobs that fit, as
// openStored only puts those) and gets, the budget holds, size is the sum
// of the kept blobs, and the blob just put is kept.
func TestHotBudget(t *testing.T) {
	const k = 1 << 10
	tests := []struct {
		name  string
		max   int64
		sizes []int // put in order; a negative size gets blob -size instead
	}{
		{"exact fill", 4 * k, []int{k, k, k, k}},
		{"one over", 4 * k, []int{k, k, k, k, k}},
		{"big after small", 4 * k, []int{k, k, k, 4 * k}},
		{"small after big", 4 * k, []int{4 * k, 1, 1, 1}},
		{"uneven", 10 * k, []int{3 * k, 7 * k, 2 * k, 5 * k, 10 * k, 1, 9 * k}},
		{"empty blobs", 2 * k, []int{0, 2 * k, 0, k, 0}},
		{"budget of one max blob", hotBlobMax, []int{hotBlobMax, hotBlobMax / 2, hotBlobMax/2 + 1, hotBlobMax}},
		{"again after eviction", 2 * k, []int{k, k, k, -1, -2, -3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHotBlobs(tt.max)
			sizes := map[int]int{}
			for i, n := range tt.sizes {
				seed := i
				if n < 0 {
					seed = -n - 1
					n = sizes[seed]
				}
				sizes[seed] = n
				if !h.fits(int64(n)) {
					t.Fatalf("bad case: %d bytes does not fit a budget of %d", n, tt.max)
				}
				b, d := hotTestBlob(seed, n)
				e := h.put(d, b, time.Time{})
				if got, ok := h.get(d); !ok || got != e {
					t.Errorf("put %d (%d bytes): not kept", i, n)
				}
				checkHot(t, h)
			}
		})
	}
	// Many random sequences, with gets between the puts.
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 50 {
		max := int64(1 + rng.IntN(2*hotBlobMax))
		h := newHotBlobs(max)
		var kept []checksum.Digest
		for i := range 100 {
			n := rng.IntN(int(min(max, hotBlobMax)) + 1)
			b, d := hotTestBlob(round*1000+i, n)
			h.put(d, b, time.Time{})
			kept = append(kept, d)
			for range rng.IntN(4) {
				h.get(kept[rng.IntN(len(kept))])
			}
			if _, ok := h.get(d); !ok {
				t.Fatalf("round %d, put %d: the blob just put is not kept", round, i)
			}
			checkHot(t, h)
			if t.Failed() {
				t.Fatalf("round %d (budget %d), put %d of %d bytes", round, max, i, n)
			}
		}
	}
}

// hotRuns is how often a case that depends on map order (the clock's hand
// starts at a random place) runs: a policy that ignored the marks would
// pick the wrong blob about half the time, so it cannot pass by luck.
const hotRuns = 32

type secondChanceCase struct {
	name   string
	max    int64
	sizes  []int // of the blobs put first, 0..n-1
	asked  []int // get since
	put    int   // size of the new blob
	kept   []int // must survive
	gone   []int // must be evicted
	nLeft  int   // how many of the first blobs survive
	reason string
}

// TestHotSecondChance: a put that must evict takes blobs nobody asked for
// since the hand last passed before those asked for.
func TestHotSecondChance(t *testing.T) {
	const k = 1 << 10
	tests := []secondChanceCase{
		{"one unasked", 2 * k, []int{k, k}, []int{0}, k, []int{0}, []int{1}, 1, "the unasked blob goes"},
		{"one unasked, asked first", 2 * k, []int{k, k}, []int{1}, k, []int{1}, []int{0}, 1, "the unasked blob goes"},
		{"two unasked, room for one", 3 * k, []int{k, k, k}, []int{1}, k, []int{1}, nil, 2, "an unasked blob goes"},
		{"two unasked, room for two", 3 * k, []int{k, k, k}, []int{1}, 2 * k, []int{1}, []int{0, 2}, 1, "both unasked blobs go"},
		{"unasked big enough", 4 * k, []int{k, 2 * k, k}, []int{0, 2}, 2 * k, []int{0, 2}, []int{1}, 2, "the big unasked blob goes"},
		{"all asked", 2 * k, []int{k, k}, []int{0, 1}, k, nil, nil, 1, "the second pass takes any"},
		{"unasked not enough", 3 * k, []int{k, k, k}, []int{0, 1}, 2 * k, nil, []int{2}, 1, "the unasked blob and one asked go"},
		{"no eviction needed", 4 * k, []int{k, k}, nil, 2 * k, []int{0, 1}, nil, 2, "nothing goes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range hotRuns {
				tt.run(t)
				if t.Failed() {
					return
				}
			}
		})
	}
}

func (tt secondChanceCase) run(t *testing.T) {
	t.Helper()
	h := newHotBlobs(tt.max)
	ds := make([]checksum.Digest, len(tt.sizes))
	for i, n := range tt.sizes {
		b, d := hotTestBlob(i, n)
		ds[i] = d
		h.put(d, b, time.Time{})
	}
	checkHot(t, h)
	for _, i := range tt.asked {
		if _, ok := h.get(ds[i]); !ok {
			t.Fatalf("blob %d was evicted before the put under test", i)
		}
	}
	nb, nd := hotTestBlob(len(tt.sizes), tt.put)
	h.put(nd, nb, time.Time{})
	checkHot(t, h)
	if _, ok := h.m[nd]; !ok {
		t.Error("the new blob is not kept")
	}
	for _, i := range tt.kept {
		if _, ok := h.m[ds[i]]; !ok {
			t.Errorf("blob %d was evicted (%s)", i, tt.reason)
		}
	}
	for _, i := range tt.gone {
		if _, ok := h.m[ds[i]]; ok {
			t.Errorf("blob %d was kept (%s)", i, tt.reason)
		}
	}
	left := 0
	for _, d := range ds {
		if _, ok := h.m[d]; ok {
			left++
		}
	}
	if left != tt.nLeft {
		t.Errorf("%d of the first blobs kept, want %d (%s)", left, tt.nLeft, tt.reason)
	}
}

// TestHotMarkLastsOneSweep: the hand clears the mark of a blob it passes
// over, so a blob asked for before a sweep but not since goes before one
// asked for since.
func TestHotMarkLastsOneSweep(t *testing.T) {
	const k = 1 << 10
	var ds [4]checksum.Digest
	var bs [4][]byte
	for i := range ds {
		bs[i], ds[i] = hotTestBlob(i, k)
	}
	for range hotRuns {
		h := newHotBlobs(2 * k)
		h.put(ds[0], bs[0], time.Time{})
		h.put(ds[1], bs[1], time.Time{})
		h.get(ds[0])
		h.get(ds[1])
		// Both asked: the first pass unmarks both, the second evicts one.
		h.put(ds[2], bs[2], time.Time{})
		checkHot(t, h)
		var old checksum.Digest
		switch _, ok0 := h.m[ds[0]]; {
		case ok0 && h.m[ds[1]] == nil:
			old = ds[0]
		case !ok0 && h.m[ds[1]] != nil:
			old = ds[1]
		default:
			t.Fatalf("after a put with both blobs asked for, want exactly one of them kept; have %d blobs", len(h.m))
		}
		// old was asked for before that sweep, the new blob since: old goes.
		h.get(ds[2])
		h.put(ds[3], bs[3], time.Time{})
		checkHot(t, h)
		if _, ok := h.m[old]; ok {
			t.Fatal("a blob unasked since the last sweep survived one asked for since")
		}
		if _, ok := h.m[ds[2]]; !ok {
			t.Fatal("the blob asked for since the last sweep was evicted")
		}
		if _, ok := h.m[ds[3]]; !ok {
			t.Fatal("the new blob is not kept")
		}
	}
}

// TestHotPutExisting: a second put of a digest keeps the first copy, and
// returns it, so that every response sends the same bytes.
func TestHotPutExisting(t *testing.T) {
	h := newHotBlobs(1 << 20)
	b, d := hotTestBlob(1, 4<<10)
	mod1 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	first := h.put(d, b, mod1)
	again := bytes.Clone(b)
	second := h.put(d, again, mod1.Add(time.Hour))
	if second != first {
		t.Fatal("put of a kept digest returned a new entry")
	}
	if &second.b[0] != &b[0] || !second.mod.Equal(mod1) {
		t.Error("put of a kept digest replaced its bytes or mod time")
	}
	if h.size != int64(len(b)) || len(h.m) != 1 {
		t.Errorf("size %d, %d blobs after putting one blob twice; want %d, 1", h.size, len(h.m), len(b))
	}
	checkHot(t, h)
}

func TestHotDrop(t *testing.T) {
	h := newHotBlobs(1 << 20)
	a, da := hotTestBlob(1, 3<<10)
	b, db := hotTestBlob(2, 5<<10)
	h.put(da, a, time.Time{})
	h.put(db, b, time.Time{})
	h.drop(da)
	if _, ok := h.get(da); ok {
		t.Error("a dropped blob is still kept")
	}
	if _, ok := h.get(db); !ok {
		t.Error("dropping one blob dropped another")
	}
	if h.size != int64(len(b)) {
		t.Errorf("size = %d after drop, want %d", h.size, len(b))
	}
	checkHot(t, h)
	// Dropping what is not kept changes nothing.
	h.drop(da)
	_, dc := hotTestBlob(3, 1)
	h.drop(dc)
	if h.size != int64(len(b)) || len(h.m) != 1 {
		t.Errorf("size %d, %d blobs after dropping absent blobs; want %d, 1", h.size, len(h.m), len(b))
	}
	// A dropped blob can be kept again, with its new bytes.
	a2 := bytes.Clone(a)
	if e := h.put(da, a2, time.Time{}); &e.b[0] != &a2[0] {
		t.Error("put after drop returned the dropped copy")
	}
	checkHot(t, h)
}
