package store

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"

	"lazymirror/checksum"
)

// TestAdoptSourceModifiedLater: a blob adopted with link=true must not
// change when the source file is later rewritten in place (same inode):
// its owner (or root, whom mode 0444 does not stop) may do that at any time.
func TestAdoptSourceModifiedLater(t *testing.T) {
	rpm := readFile(t, corpusRPM)
	dir := t.TempDir()
	s := openStore(t, dir)
	src := filepath.Join(t.TempDir(), "pkg.rpm")
	if err := os.WriteFile(src, rpm, 0o644); err != nil {
		t.Fatal(err)
	}
	d, _, err := s.Adopt(context.Background(), src, true)
	if err != nil {
		t.Fatal(err)
	}
	if d != checksum.Digest(sha256.Sum256(rpm)) {
		t.Fatalf("Adopt = %s, want the rpm's digest", d)
	}
	// The user rewrites the file in place: chmod back (the owner may), then
	// open without O_CREAT|O_EXCL, truncate and write.
	if err := os.Chmod(src, 0o644); err != nil {
		t.Fatal(err)
	}
	other := make([]byte, len(rpm))
	for i := range other {
		other[i] = byte(i)
	}
	if err := os.WriteFile(src, other, 0o644); err != nil {
		t.Fatal(err)
	}
	assertBlob(t, s, d, rpm)
}
