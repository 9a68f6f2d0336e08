package index

import (
	"math"
	"testing"
	"time"
)

// FuzzDecodeEntry: arbitrary bytes decode to an error or to an entry that
// survives re-encoding; never a panic. (Encodings are not canonical: an
// overlong varint decodes, so the bytes themselves may change.) Seeds are
// real entries.
func FuzzDecodeEntry(f *testing.F) {
	recs, _ := inReleaseRecords(f, corpusInRelease)
	for _, r := range recs[:8] {
		f.Add(appendEntry(nil, r.Entry))
	}
	f.Add(appendEntry(nil, Entry{Size: -1, Kind: Other, Fetched: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)}))
	f.Add(appendEntry(nil, Entry{Size: 50060337, Upstream: mustSum(f, "MD5Sum", "f230d61720e789abf5df55d6026230c6"), Kind: Metadata}))
	f.Fuzz(func(t *testing.T, v []byte) {
		e, err := decodeEntry(v)
		if err != nil {
			return
		}
		again, err := decodeEntry(appendEntry(nil, e))
		if err != nil || !equalEntry(again, e) {
			t.Errorf("%x: decoded %+v, re-encoded and decoded %+v, %v", v, e, again, err)
		}
	})
}

// FuzzDecodeBlob: as FuzzDecodeEntry, for blob records.
func FuzzDecodeBlob(f *testing.F) {
	recs, _ := inReleaseRecords(f, corpusInRelease)
	stored := time.Date(2026, 7, 11, 10, 16, 37, 0, time.UTC)
	for i, r := range recs[:4] {
		f.Add(appendBlob(nil, Blob{Size: r.Entry.Size, Stored: stored, LastAccess: stored.Add(time.Duration(i) * time.Hour), Hits: uint64(i), Priority: float64(i) + 0.5}))
	}
	f.Add(appendBlob(nil, Blob{}))
	f.Fuzz(func(t *testing.T, v []byte) {
		b, err := decodeBlob(v)
		if err != nil {
			return
		}
		again, err := decodeBlob(appendBlob(nil, b))
		same := again.Size == b.Size && again.Stored.Equal(b.Stored) && again.LastAccess.Equal(b.LastAccess) &&
			again.Hits == b.Hits && math.Float64bits(again.Priority) == math.Float64bits(b.Priority)
		if err != nil || !same {
			t.Errorf("%x: decoded %+v, re-encoded and decoded %+v, %v", v, b, again, err)
		}
	})
}
