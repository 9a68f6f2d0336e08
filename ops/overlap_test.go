package ops

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestImportOverlappingPaths: a file named twice on the command line (a
// directory and its subdirectory, the same directory with a trailing slash
// or through a symbolic link) is one package: imported once, not also
// counted as already present, and with --move not reported as skipped
// because the first pass removed it.
func TestImportOverlappingPaths(t *testing.T) {
	deb, rpm := packages(t)
	debBytes, rpmBytes := readFile(t, deb), readFile(t, rpm)
	whole := Count{2, int64(len(debBytes) + len(rpmBytes))}
	for _, move := range []bool{false, true} {
		src := t.TempDir()
		writeFile(t, src, "pool/"+filepath.Base(deb), debBytes)
		writeFile(t, src, "pool/"+filepath.Base(rpm), rpmBytes)
		alias := filepath.Join(t.TempDir(), "dvd")
		if err := os.Symlink(src, alias); err != nil {
			t.Fatal(err)
		}
		st, idx, _ := openData(t)
		paths := []string{src, filepath.Join(src, "pool"), src + "/", alias, filepath.Join(src, "pool", filepath.Base(deb))}
		rep, err := Import(context.Background(), st, idx, paths, ImportOptions{Move: move})
		if err != nil {
			t.Fatalf("move %v: %v", move, err)
		}
		if rep.Imported != whole || rep.Present != (Count{}) || len(rep.Skipped) != 0 {
			t.Errorf("move %v: imported %+v, present %+v, skipped %+v; want %+v imported, nothing else", move, rep.Imported, rep.Present, rep.Skipped, whole)
		}
		if move {
			if _, err := os.Stat(filepath.Join(src, "pool", filepath.Base(deb))); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("move: source still there: %v", err)
			}
		}
	}
}
