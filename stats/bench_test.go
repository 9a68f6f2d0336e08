package stats

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"lazymirror/checksum"
	"lazymirror/index"
)

// BenchmarkCompute computes the report over an index of 1,000,000 paths
// and 200,000 blobs (each blob reached by five paths in two repos): what
// the server's background recomputation costs; and loads the report a
// stopped server saved: what `stats` with no server running costs.
func BenchmarkCompute(b *testing.B) {
	const blobs, perBlob = 200_000, 5
	db, err := index.Open(filepath.Join(b.TempDir(), "index.db"), index.Options{UnsafeNoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	recs := map[string][]index.Record{}
	for i := range blobs {
		var d checksum.Digest
		binary.BigEndian.PutUint64(d[:], uint64(i)+1)
		if err := db.PutBlob(d, index.Blob{Size: 100_000, Stored: now}); err != nil {
			b.Fatal(err)
		}
		for j := range perBlob {
			repo := []string{"debian", "ubuntu"}[j%2]
			recs[repo] = append(recs[repo], index.Record{Path: fmt.Sprintf("pool/%d/p%d_%d.deb", i%1000, i, j), Entry: index.Entry{Digest: d, Size: 100_000, Kind: index.Package}})
		}
	}
	for repo, rs := range recs {
		if err := db.PutEntries(repo, rs); err != nil {
			b.Fatal(err)
		}
	}
	var r *Report
	b.Run("compute", func(b *testing.B) {
		for b.Loop() {
			r, err = Compute(db, []string{"debian", "ubuntu"}, nil, now)
			if err != nil || r.Paths != blobs*perBlob || r.Blobs != blobs {
				b.Fatalf("report: %d paths, %d blobs, %v", r.Paths, r.Blobs, err)
			}
		}
	})
	// What `stats` costs with no server running, after a server stopped
	// and saved its last report.
	if err := Save(db, r); err != nil {
		b.Fatal(err)
	}
	b.Run("load", func(b *testing.B) {
		for b.Loop() {
			if got, err := Load(db); err != nil || got == nil || got.Paths != r.Paths {
				b.Fatalf("load: %v %v", got, err)
			}
		}
	})
}
