package ops

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"lazymirror/checksum"
	"lazymirror/index"
	"lazymirror/store"
)

// blobPath is where the store keeps blob d (its documented layout).
func blobPath(dataDir string, d checksum.Digest) string {
	return filepath.Join(dataDir, "blobs", "sha256", d.String()[:2], d.String())
}

// flipByte inverts one byte in the middle of a file (blobs are 0444).
func flipByte(t testing.TB, path string) []byte {
	t.Helper()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	b := readFile(t, path)
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(path, b, 0o444); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVerify: a flipped byte in one blob is found, and only it; report-only
// changes nothing; --repair quarantines it and drops its record; a blob
// removed behind the index's back is missing, and repair drops its record;
// then everything verifies clean.
func TestVerify(t *testing.T) {
	deb, rpm := packages(t)
	src := t.TempDir()
	debBytes, rpmBytes := readFile(t, deb), readFile(t, rpm)
	writeFile(t, src, "x.deb", debBytes)
	writeFile(t, src, "x.rpm", rpmBytes)
	// A blob of several read buffers, as the cache would store it.
	big := bytes.Repeat(debBytes, 3*bufSize/len(debBytes)+1)
	st, idx, dir := openData(t)
	if _, err := Import(context.Background(), st, idx, []string{src}, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	restore(t, st, idx, big)
	bigD := checksum.Digest(sha256.Sum256(big))
	debD, rpmD := checksum.Digest(sha256.Sum256(debBytes)), checksum.Digest(sha256.Sum256(rpmBytes))
	total := Count{3, int64(len(debBytes) + len(rpmBytes) + len(big))}

	// Clean.
	rep := verify(t, st, idx, VerifyOptions{})
	if rep.Checked != total || len(rep.Corrupt) != 0 || len(rep.Missing) != 0 {
		t.Fatalf("clean store: %+v, want %+v checked and nothing wrong", rep, total)
	}

	flipped := flipByte(t, blobPath(dir, bigD))
	rep = verify(t, st, idx, VerifyOptions{})
	if len(rep.Corrupt) != 1 || rep.Corrupt[0].Digest != bigD || rep.Corrupt[0].Quarantined != "" || len(rep.Missing) != 0 {
		t.Fatalf("report-only: %+v, want exactly %s corrupt", rep, bigD)
	}
	if got := checksum.Digest(sha256.Sum256(flipped)); !strings.Contains(rep.Corrupt[0].Reason, got.String()) {
		t.Errorf("reason %q does not name the content's sha256 %s", rep.Corrupt[0].Reason, got)
	}
	if _, err := st.Stat(bigD); err != nil {
		t.Errorf("report-only moved the blob: %v", err)
	}
	if _, err := idx.Blob(bigD); err != nil {
		t.Errorf("report-only dropped the record: %v", err)
	}

	if _, err := Verify(context.Background(), st, idx, VerifyOptions{Repair: true}); !errors.Is(err, ErrNoQuarantine) {
		t.Errorf("repair without a quarantine directory: %v", err)
	}
	quarantine := filepath.Join(dir, "quarantine")
	rep = verify(t, st, idx, VerifyOptions{Repair: true, QuarantineDir: quarantine})
	if len(rep.Corrupt) != 1 || rep.Corrupt[0].Quarantined != filepath.Join(quarantine, bigD.String()) {
		t.Fatalf("repair: %+v", rep)
	}
	if q := readFile(t, rep.Corrupt[0].Quarantined); !bytes.Equal(q, flipped) {
		t.Error("the quarantined file does not hold the corrupt bytes")
	}
	if _, err := st.Stat(bigD); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the corrupt blob is still in the store: %v", err)
	}
	if _, err := idx.Blob(bigD); !errors.Is(err, index.ErrNotFound) {
		t.Errorf("the corrupt blob's record is still in the index: %v", err)
	}

	// The same digest corrupt again: quarantined under another name.
	restore(t, st, idx, big)
	flipByte(t, blobPath(dir, bigD))
	rep = verify(t, st, idx, VerifyOptions{Repair: true, QuarantineDir: quarantine})
	if len(rep.Corrupt) != 1 || rep.Corrupt[0].Quarantined != filepath.Join(quarantine, bigD.String()+".1") {
		t.Fatalf("second repair: %+v", rep)
	}

	// Missing: the file goes, the record stays.
	if err := st.Remove(rpmD); err != nil {
		t.Fatal(err)
	}
	rep = verify(t, st, idx, VerifyOptions{})
	if len(rep.Corrupt) != 0 || !slices.Equal(rep.Missing, []checksum.Digest{rpmD}) {
		t.Fatalf("missing: %+v, want %s missing", rep, rpmD)
	}
	verify(t, st, idx, VerifyOptions{Repair: true, QuarantineDir: quarantine})
	rep = verify(t, st, idx, VerifyOptions{})
	if rep.Checked != (Count{1, int64(len(debBytes))}) || len(rep.Corrupt) != 0 || len(rep.Missing) != 0 {
		t.Fatalf("after repair: %+v, want only the deb, sound", rep)
	}
	if _, err := idx.Blob(debD); err != nil {
		t.Errorf("repair touched a sound blob's record: %v", err)
	}
}

// TestVerifyCancel: a cancelled context stops Verify with its error.
func TestVerifyCancel(t *testing.T) {
	st, idx, _ := openData(t)
	restore(t, st, idx, []byte("some blob"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Verify(ctx, st, idx, VerifyOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// verify runs Verify and fails the test on error.
func verify(t testing.TB, st *store.Store, idx *index.DB, opts VerifyOptions) VerifyReport {
	t.Helper()
	rep, err := Verify(context.Background(), st, idx, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// restore stores data and records it, as a refetch would.
func restore(t testing.TB, st *store.Store, idx *index.DB, data []byte) {
	t.Helper()
	d := checksum.Digest(sha256.Sum256(data))
	w, err := st.Create(d, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := idx.PutBlob(d, index.Blob{Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
}
