package ops

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"

	"lazymirror/checksum"
)

// TestImportOverCorruptBlob: when the store's copy of a package is damaged
// (a flipped bit on disk), importing a good copy with --move must not take
// the damaged blob for the package and delete the only good copy: the
// store ends with the good bytes.
func TestImportOverCorruptBlob(t *testing.T) {
	deb, _ := packages(t)
	debBytes := readFile(t, deb)
	d := checksum.Digest(sha256.Sum256(debBytes))
	st, idx, dir := openData(t)
	first := t.TempDir()
	writeFile(t, first, filepath.Base(deb), debBytes)
	if _, err := Import(context.Background(), st, idx, []string{first}, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	flipByte(t, blobPath(dir, d)) // the disk damaged it

	src := t.TempDir()
	good := writeFile(t, src, filepath.Base(deb), debBytes)
	rep, err := Import(context.Background(), st, idx, []string{src}, ImportOptions{Move: true})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := os.ReadFile(blobPath(dir, d))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stored, debBytes) {
		_, serr := os.Stat(good)
		t.Fatalf("the store still holds the damaged bytes (report %+v; source left: %v)", rep, serr == nil)
	}
	if rep.Imported.Files != 1 || rep.Present.Files != 0 {
		t.Errorf("imported %+v, present %+v; want the package imported", rep.Imported, rep.Present)
	}
	if _, err := idx.Blob(d); err != nil {
		t.Errorf("record: %v", err)
	}
	if v := verify(t, st, idx, VerifyOptions{}); len(v.Corrupt)+len(v.Missing)+len(v.Orphans) != 0 {
		t.Errorf("verify after import: %+v", v)
	}
}
