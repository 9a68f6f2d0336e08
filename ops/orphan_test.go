package ops

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"lazymirror/checksum"
	"lazymirror/index"
)

// TestVerifyOrphan: a blob the store holds but the index has no record of
// (what an import killed between storing and recording leaves, or an
// eviction killed between its two steps) is invisible to eviction and to
// stats, so it takes disk space for good. Verify reports it; --repair
// records it, so that it counts again; a sound orphan is not corrupt.
func TestVerifyOrphan(t *testing.T) {
	deb, _ := packages(t)
	st, idx, dir := openData(t)
	// The import was killed after the store made the blob durable and
	// before the index recorded it.
	d, size, err := st.Adopt(context.Background(), deb, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := checksum.Digest(sha256.Sum256(readFile(t, deb))); d != want {
		t.Fatalf("adopted as %s, want %s", d, want)
	}
	rep := verify(t, st, idx, VerifyOptions{})
	if len(rep.Corrupt) != 0 || len(rep.Missing) != 0 {
		t.Fatalf("orphan: %+v, want it neither corrupt nor missing", rep)
	}
	if !slices.Equal(rep.Orphans, []checksum.Digest{d}) {
		t.Fatalf("orphans %v, want [%s]: verify does not see a blob the index does not record", rep.Orphans, d)
	}
	if _, err := idx.Blob(d); !errors.Is(err, index.ErrNotFound) {
		t.Fatalf("report-only recorded the orphan: %v", err)
	}

	rep = verify(t, st, idx, VerifyOptions{Repair: true, QuarantineDir: filepath.Join(dir, "quarantine")})
	if !slices.Equal(rep.Orphans, []checksum.Digest{d}) {
		t.Fatalf("repair: orphans %v, want [%s]", rep.Orphans, d)
	}
	b, err := idx.Blob(d)
	if err != nil {
		t.Fatalf("repair did not record the orphan: %v", err)
	}
	if b.Size != size {
		t.Errorf("recorded size %d, want %d", b.Size, size)
	}
	if _, err := os.Stat(blobPath(dir, d)); err != nil {
		t.Errorf("repair moved a sound orphan: %v", err)
	}
	rep = verify(t, st, idx, VerifyOptions{})
	if len(rep.Orphans)+len(rep.Corrupt)+len(rep.Missing) != 0 || rep.Checked.Files != 1 {
		t.Errorf("after repair: %+v, want one sound blob", rep)
	}
}
