package ops

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"lazymirror/checksum"
)

// TestImportSymlinks: symbolic links in an imported tree are followed. A
// link to a regular file imports that file, read once however many names
// lead to it; a link to a directory is walked, once, and a link to an
// ancestor ends; a link to nothing, to a loop of links or to a pipe is
// skipped with ErrBadLink while the rest is imported. The source tree is
// left as it was: no file changed or hard-linked, no link removed.
func TestImportSymlinks(t *testing.T) {
	deb, rpm := packages(t)
	debBytes, rpmBytes := readFile(t, deb), readFile(t, rpm)
	for _, tt := range []struct {
		name string
		// tree makes the files and links in src; out is a directory
		// outside src.
		tree    func(t *testing.T, src, out string)
		want    [][]byte // the packages imported
		skipped []string // the links skipped (ErrBadLink), relative to src
	}{{
		name: "link to a file outside",
		tree: func(t *testing.T, src, out string) {
			symlink(t, writeFile(t, out, "a.deb", debBytes), src, "a.deb")
		},
		want: [][]byte{debBytes},
	}, {
		// A content-addressed pool (Pulp's): the target has no package name.
		name: "link named like a package",
		tree: func(t *testing.T, src, out string) {
			symlink(t, writeFile(t, out, "artifact/3f/9a1c", rpmBytes), src, "Packages/b.rpm")
		},
		want: [][]byte{rpmBytes},
	}, {
		name: "two links and the file",
		tree: func(t *testing.T, src, out string) {
			writeFile(t, src, "pool/a.deb", debBytes)
			symlink(t, "../pool/a.deb", src, "dists/a.deb")
			symlink(t, "../pool/a.deb", src, "dists/same.deb")
		},
		want: [][]byte{debBytes},
	}, {
		name: "links to a directory",
		tree: func(t *testing.T, src, out string) {
			writeFile(t, src, "pool/a.deb", debBytes)
			writeFile(t, out, "rpms/b.rpm", rpmBytes)
			symlink(t, filepath.Join(out, "rpms"), src, "rpms")
			symlink(t, filepath.Join(out, "rpms"), src, "pool/rpms-again")
			symlink(t, "pool", src, "current") // to a directory in the tree
		},
		want: [][]byte{debBytes, rpmBytes},
	}, {
		name: "links to ancestors",
		tree: func(t *testing.T, src, out string) {
			writeFile(t, src, "pool/a.deb", debBytes)
			symlink(t, "..", src, "pool/up")
			symlink(t, src, src, "pool/deep/root")
			symlink(t, "../..", src, "pool/deep/top")
		},
		want: [][]byte{debBytes},
	}, {
		name: "dangling links",
		tree: func(t *testing.T, src, out string) {
			writeFile(t, src, "a.deb", debBytes)
			symlink(t, "gone.deb", src, "b.deb")
			symlink(t, filepath.Join(out, "nowhere"), src, "pool")
		},
		want:    [][]byte{debBytes},
		skipped: []string{"b.deb", "pool"},
	}, {
		name: "loop of links",
		tree: func(t *testing.T, src, out string) {
			writeFile(t, src, "a.deb", debBytes)
			symlink(t, "y.rpm", src, "x.rpm")
			symlink(t, "x.rpm", src, "y.rpm")
		},
		want:    [][]byte{debBytes},
		skipped: []string{"x.rpm", "y.rpm"},
	}, {
		name: "link to a pipe",
		tree: func(t *testing.T, src, out string) {
			writeFile(t, src, "a.deb", debBytes)
			pipe := filepath.Join(out, "pipe")
			if err := syscall.Mkfifo(pipe, 0o644); err != nil {
				t.Fatal(err)
			}
			symlink(t, pipe, src, "p.deb")
		},
		want:    [][]byte{debBytes},
		skipped: []string{"p.deb"},
	}} {
		t.Run(tt.name, func(t *testing.T) {
			src, out := resolvedTempDir(t), t.TempDir()
			tt.tree(t, src, out)
			before := snapshot(t, src, out)
			st, idx, _ := openData(t)
			var last Progress
			rep, err := Import(context.Background(), st, idx, []string{src}, ImportOptions{Link: true, Progress: func(p Progress) { last = p }})
			if err != nil {
				t.Fatal(err)
			}
			var want Count
			for _, b := range tt.want {
				want.add(int64(len(b)))
				if _, err := st.Stat(checksum.Digest(sha256.Sum256(b))); err != nil {
					t.Errorf("package of %d bytes not in the store: %v", len(b), err)
				}
			}
			if rep.Imported != want || rep.Present != (Count{}) || last.TotalFiles != len(tt.want) {
				t.Errorf("imported %+v, present %+v, %d files read; want %+v imported, each file read once", rep.Imported, rep.Present, last.TotalFiles, want)
			}
			var skipped []string
			for _, s := range rep.Skipped {
				if !errors.Is(s.Err, ErrBadLink) || s.Reason == "" {
					t.Errorf("skipped %s for %v (%q), want %v", s.Path, s.Err, s.Reason, ErrBadLink)
				}
				rel, _ := filepath.Rel(src, s.Path)
				skipped = append(skipped, rel)
			}
			if slices.Sort(skipped); !slices.Equal(skipped, tt.skipped) {
				t.Errorf("skipped %q, want %q", skipped, tt.skipped)
			}
			if after := snapshot(t, src, out); !slices.Equal(after, before) {
				t.Errorf("the source changed:\n%q\nwas:\n%q", after, before)
			}
		})
	}
}

// TestImportMoveSymlinks: with Move, a file in the tree is removed once
// stored, also when links to it (relative, absolute) came first and the
// tree is named by a relative path; a file outside the tree, reached
// through a link, is imported but stays, as do the links.
func TestImportMoveSymlinks(t *testing.T) {
	deb, rpm := packages(t)
	debBytes, rpmBytes := readFile(t, deb), readFile(t, rpm)
	src, out := resolvedTempDir(t), t.TempDir()
	inside := writeFile(t, src, "pool/a.deb", debBytes)
	outside := writeFile(t, out, "rpms/b.rpm", rpmBytes)
	links := []string{ // walked before pool/
		symlink(t, "../pool/a.deb", src, "dists/a.deb"),
		symlink(t, inside, src, "dists/b.deb"),
		symlink(t, filepath.Join(out, "rpms"), src, "rpms"),
	}
	t.Chdir(filepath.Dir(src))
	st, idx, _ := openData(t)
	rep, err := Import(context.Background(), st, idx, []string{filepath.Base(src)}, ImportOptions{Move: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Imported.Files != 2 || rep.Present.Files != 0 || len(rep.Skipped) != 0 {
		t.Errorf("imported %+v, present %+v, skipped %+v; want both packages imported, each read once", rep.Imported, rep.Present, rep.Skipped)
	}
	if _, err := os.Lstat(inside); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s, in the tree, not removed: %v", inside, err)
	}
	for _, p := range append(links, outside) {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s removed: %v", p, err)
		}
	}
}

// symlink makes dir/name a symbolic link to target and returns its path.
func symlink(t *testing.T, target, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// resolvedTempDir is t.TempDir with symbolic links resolved, as Import
// resolves the paths it is given, so that the paths it reports are under it.
func resolvedTempDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// snapshot describes every entry under dirs, links not followed: its
// path, type and link count, and its link target or content's sha256.
func snapshot(t *testing.T, dirs ...string) []string {
	t.Helper()
	var s []string
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			what := ""
			switch {
			case d.Type()&fs.ModeSymlink != 0:
				what, err = os.Readlink(path)
			case d.Type().IsRegular():
				var b []byte
				b, err = os.ReadFile(path)
				what = fmt.Sprintf("%x", sha256.Sum256(b))
			}
			s = append(s, fmt.Sprintf("%s %v %d %s", path, fi.Mode(), fi.Sys().(*syscall.Stat_t).Nlink, what))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return s
}
