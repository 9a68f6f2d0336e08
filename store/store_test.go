package store

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"lazymirror/checksum"
)

// Corpus files used as blob contents.
const (
	corpusRPM     = "../testdata/corpus/rpm/librepo/repo_yum_01/filesystem-2.4.44-1.fc16.i686.rpm"
	corpusPrimary = "../testdata/corpus/rpm/librepo/repo_yum_01/repodata/4543ad62e4d86337cd1949346f9aec976b847b58-primary.xml.gz"
	corpusRepomd  = "../testdata/corpus/rpm/librepo/repo_yum_01/repodata/repomd.xml"
	corpusEmpty   = "../testdata/corpus/rpm/createrepo_c/packages/empty-0-0.x86_64.rpm"
	corpusRelease = "../testdata/corpus/debian/debian/dists/bookworm/InRelease"
	corpusBig     = "../testdata/corpus/debian/debian/dists/bookworm/main/binary-amd64/Packages.xz"
)

func readFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func openStore(tb testing.TB, dir string) *Store {
	tb.Helper()
	s, err := Open(dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// primarySHA1 returns the sha1 that the repo's primary.xml gives for the
// corpus RPM, so the extra-sum test checks against the upstream's value.
func primarySHA1(t *testing.T) checksum.Sum {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(readFile(t, corpusPrimary)))
	if err != nil {
		t.Fatal(err)
	}
	xml, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`<checksum type="(sha1?)" pkgid="YES">([0-9a-f]+)</checksum>`).FindSubmatch(xml)
	if m == nil {
		t.Fatal("no package checksum in primary.xml")
	}
	sum, err := checksum.Parse(string(m[1]), string(m[2]))
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// writeChunks writes data to w in chunks of the given size.
func writeChunks(w io.Writer, data []byte, chunk int) error {
	for len(data) > 0 {
		n := min(chunk, len(data))
		if _, err := w.Write(data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// blobs lists the committed blobs via Walk.
func blobs(t *testing.T, s *Store) map[checksum.Digest]int64 {
	t.Helper()
	got := map[checksum.Digest]int64{}
	err := s.Walk(context.Background(), func(d checksum.Digest, size int64) error {
		got[d] = size
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func assertTmpEmpty(t *testing.T, dir string) {
	t.Helper()
	left, err := os.ReadDir(filepath.Join(dir, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("tmp/ not empty: %v", left)
	}
}

// assertBlob checks that the store holds exactly data under d, read-only.
func assertBlob(t *testing.T, s *Store, d checksum.Digest, data []byte) {
	t.Helper()
	f, err := s.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("blob %s: %d bytes differ from the %d written", d, len(got), len(data))
	}
	if fi, err := f.Stat(); err != nil || fi.Mode().Perm() != 0o444 {
		t.Errorf("blob %s mode = %v, %v; want 0444", d, fi.Mode(), err)
	}
	if size, err := s.Stat(d); err != nil || size != int64(len(data)) {
		t.Errorf("Stat(%s) = %d, %v; want %d", d, size, err, len(data))
	}
}

func flip(b []byte) []byte {
	c := bytes.Clone(b)
	c[len(c)/2] ^= 0xff
	return c
}

func TestCommit(t *testing.T) {
	rpm := readFile(t, corpusRPM)
	digest := checksum.Digest(sha256.Sum256(rpm))
	size := int64(len(rpm))
	sha1Sum := primarySHA1(t)
	md5Value := md5.Sum(rpm)
	md5Sum := checksum.Sum{Algo: checksum.MD5, Value: md5Value[:]}
	badDigest := checksum.Digest(flip(digest[:]))

	tests := []struct {
		name      string
		unknown   bool
		want      checksum.Digest
		size      int64
		extra     []checksum.Sum
		chunk     int
		writeErr  error    // expected from Write
		commitErr error    // expected from Commit
		errText   []string // the error text must contain these
	}{
		{name: "right", want: digest, size: size, chunk: 1 << 20},
		{name: "right-size-unknown", want: digest, size: -1, chunk: 4096},
		{name: "right-extras", want: digest, size: size, extra: []checksum.Sum{sha1Sum, md5Sum}, chunk: 7919},
		{name: "unknown-digest", unknown: true, chunk: 65536},
		{name: "unknown-digest-sha1", unknown: true, extra: []checksum.Sum{sha1Sum}, chunk: 65536},
		{name: "wrong-digest", want: badDigest, size: size, chunk: 32768,
			commitErr: ErrDigestMismatch, errText: []string{badDigest.String(), digest.String()}},
		{name: "wrong-sha1", want: digest, size: size, chunk: 32768,
			extra:     []checksum.Sum{{Algo: checksum.SHA1, Value: flip(sha1Sum.Value)}},
			commitErr: ErrDigestMismatch, errText: []string{"sha1", sha1Sum.Hex(), checksum.Sum{Value: flip(sha1Sum.Value)}.Hex()}},
		{name: "wrong-md5-unknown-digest", unknown: true, chunk: 32768,
			extra:     []checksum.Sum{{Algo: checksum.MD5, Value: flip(md5Sum.Value)}},
			commitErr: ErrDigestMismatch, errText: []string{"md5", md5Sum.Hex()}},
		{name: "short", want: digest, size: size + 1, chunk: 32768,
			commitErr: ErrSizeMismatch, errText: []string{strconv.FormatInt(size+1, 10), strconv.FormatInt(size, 10)}},
		{name: "long", want: digest, size: size - 1, chunk: 32768,
			writeErr: ErrSizeMismatch, errText: []string{strconv.FormatInt(size-1, 10)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir)
			var w *Writer
			var err error
			if tt.unknown {
				w, err = s.CreateUnknown(tt.extra...)
			} else {
				w, err = s.Create(tt.want, tt.size, tt.extra...)
			}
			if err != nil {
				t.Fatal(err)
			}
			err = writeChunks(w, rpm, tt.chunk)
			if !errors.Is(err, tt.writeErr) {
				t.Fatalf("Write error = %v, want %v", err, tt.writeErr)
			}
			if err == nil {
				if w.Written() != size {
					t.Errorf("Written() = %d, want %d", w.Written(), size)
				}
				var d checksum.Digest
				d, err = w.Commit()
				if !errors.Is(err, tt.commitErr) {
					t.Fatalf("Commit error = %v, want %v", err, tt.commitErr)
				}
				if err == nil {
					if d != digest {
						t.Fatalf("Commit() = %s, want %s", d, digest)
					}
					assertBlob(t, s, d, rpm)
				}
			}
			for _, s := range tt.errText {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			if err != nil {
				if got := blobs(t, s); len(got) != 0 {
					t.Errorf("blobs after a failed write: %v", got)
				}
				if _, err := w.Commit(); !errors.Is(err, ErrClosed) {
					t.Errorf("Commit after failure = %v, want ErrClosed", err)
				}
			}
			assertTmpEmpty(t, dir)
		})
	}
}

func TestCreateUnknownAlgo(t *testing.T) {
	s := openStore(t, t.TempDir())
	if _, err := s.Create(checksum.Digest{}, -1, checksum.Sum{}); !errors.Is(err, checksum.ErrUnknownAlgo) {
		t.Errorf("Create with a zero extra sum = %v, want ErrUnknownAlgo", err)
	}
}

func TestConcurrentWriters(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	rpm := readFile(t, corpusRPM)
	digest := checksum.Digest(sha256.Sum256(rpm))
	const writers = 8
	errs := make(chan error, writers)
	for i := range writers {
		go func() {
			w, err := s.Create(digest, int64(len(rpm)))
			if err != nil {
				errs <- err
				return
			}
			if err := writeChunks(w, rpm, 1000+i*4099); err != nil {
				errs <- err
				return
			}
			_, err = w.Commit()
			errs <- err
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	assertBlob(t, s, digest, rpm)
	assertTmpEmpty(t, dir)
}

func TestLocked(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(dir)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "store "+dir+" is in use by another lazymirror process") {
		t.Errorf("second Open = %v, want ErrLocked naming %s", err, dir)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s2.Close()
}

func TestOrphanSweep(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	data := readFile(t, corpusRepomd)
	w, err := s.CreateUnknown()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data[:100]); err != nil {
		t.Fatal(err)
	}
	// Stray files and directories, as a crash might leave (or a person).
	if err := os.WriteFile(filepath.Join(dir, "tmp", "blob-stray"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "tmp", "subdir", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	s.Close() // the writer is never committed: its temp file is an orphan now
	s = openStore(t, dir)
	assertTmpEmpty(t, dir)
	if got := blobs(t, s); len(got) != 0 {
		t.Errorf("blobs after sweep: %v", got)
	}
}

func TestRemoveWalkStat(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	want := map[checksum.Digest]int64{}
	var data = map[checksum.Digest][]byte{}
	for _, path := range []string{corpusRepomd, corpusEmpty, corpusRelease} {
		b := readFile(t, path)
		w, err := s.CreateUnknown()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(b); err != nil {
			t.Fatal(err)
		}
		d, err := w.Commit()
		if err != nil {
			t.Fatal(err)
		}
		want[d] = int64(len(b))
		data[d] = b
	}
	// Files Walk must skip: not a digest, upper-case hex, a digest in the wrong directory.
	var some checksum.Digest
	for d := range want {
		some = d
	}
	wrongDir := "00"
	if some.String()[:2] == wrongDir {
		wrongDir = "01"
	}
	for _, junk := range []string{
		filepath.Join(some.String()[:2], "notes.txt"),
		filepath.Join(some.String()[:2], strings.ToUpper(some.String())),
		filepath.Join(wrongDir, some.String()),
	} {
		p := filepath.Join(dir, "blobs", "sha256", junk)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("junk"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := blobs(t, s)
	if len(got) != len(want) {
		t.Fatalf("Walk found %v, want %v", got, want)
	}
	for d, size := range want {
		if got[d] != size {
			t.Errorf("Walk: %s has size %d, want %d", d, got[d], size)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Walk(ctx, func(checksum.Digest, int64) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("Walk with cancelled ctx = %v", err)
	}

	// An open descriptor survives Remove; Remove is idempotent.
	f, err := s.Open(some)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for range 2 {
		if err := s.Remove(some); err != nil {
			t.Fatalf("Remove: %v", err)
		}
	}
	if b, err := io.ReadAll(f); err != nil || !bytes.Equal(b, data[some]) {
		t.Errorf("read after Remove: %d bytes, %v", len(b), err)
	}
	if _, err := s.Stat(some); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stat after Remove = %v, want ErrNotFound", err)
	}
	if _, err := s.Open(some); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), some.String()) {
		t.Errorf("Open after Remove = %v, want ErrNotFound naming the digest", err)
	}
}

func TestAdopt(t *testing.T) {
	rpm := readFile(t, corpusRPM)
	digest := checksum.Digest(sha256.Sum256(rpm))
	for _, link := range []bool{true, false} {
		name := map[bool]string{true: "link", false: "copy"}[link]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir)
			// A private copy: the corpus must stay as it is.
			src := filepath.Join(t.TempDir(), "pkg.rpm")
			if err := os.WriteFile(src, rpm, 0o644); err != nil {
				t.Fatal(err)
			}
			for range 2 { // the second time is a no-op
				d, size, err := s.Adopt(context.Background(), src, link)
				if err != nil {
					t.Fatal(err)
				}
				if d != digest || size != int64(len(rpm)) {
					t.Fatalf("Adopt = %s, %d; want %s, %d", d, size, digest, len(rpm))
				}
				assertBlob(t, s, d, rpm)
				assertTmpEmpty(t, dir)
				if got := blobs(t, s); len(got) != 1 {
					t.Errorf("blobs after Adopt: %v", got)
				}
			}
			srcInfo, err := os.Stat(src)
			if err != nil {
				t.Fatal(err)
			}
			blobInfo, err := os.Stat(s.path(digest))
			if err != nil {
				t.Fatal(err)
			}
			if os.SameFile(srcInfo, blobInfo) {
				t.Errorf("blob shares the source's inode: a write to the source would change it")
			}
			if srcInfo.Mode().Perm() != 0o644 {
				t.Errorf("source mode %v after Adopt, want it left 0644", srcInfo.Mode())
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		s := openStore(t, t.TempDir())
		if _, _, err := s.Adopt(context.Background(), filepath.Join(t.TempDir(), "nope.rpm"), true); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Adopt of a missing file = %v, want ErrNotExist", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		dir := t.TempDir()
		s := openStore(t, dir)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for _, link := range []bool{true, false} {
			if _, _, err := s.Adopt(ctx, corpusRPM, link); !errors.Is(err, context.Canceled) {
				t.Errorf("Adopt(link=%v) with cancelled ctx = %v", link, err)
			}
		}
		assertTmpEmpty(t, dir)
	})
}

// mountTmpfs mounts a tmpfs of the given size on a new directory, skipping the
// test where mounting is not permitted (not root), except in CI, which runs
// as root: there it is a failure.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir, err := tryTmpfs(t, size)
	if errors.Is(err, syscall.EPERM) && os.Getenv("CI") != "true" {
		t.Skipf("cannot mount tmpfs (run as root): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// tryTmpfs mounts a tmpfs of the given size on a new directory, unmounted
// when the test ends.
func tryTmpfs(tb testing.TB, size string) (string, error) {
	dir := tb.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		return "", err
	}
	tb.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			tb.Error(err)
		}
	})
	return dir, nil
}

func TestFullDisk(t *testing.T) {
	dir := mountTmpfs(t, "1m")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	big := readFile(t, corpusBig) // 8.9 MB: does not fit
	w, err := s.Create(checksum.Digest(sha256.Sum256(big)), int64(len(big)))
	if err != nil {
		t.Fatal(err)
	}
	fl := w.NewReader()
	defer fl.Close()
	err = writeChunks(w, big, 1<<16)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("writing past a full disk = %v, want ENOSPC", err)
	}
	if _, err := io.ReadAll(fl); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("follower of a full-disk write = %v, want ENOSPC", err)
	}
	assertTmpEmpty(t, dir)
	if got := blobs(t, s); len(got) != 0 {
		t.Errorf("blobs after a full disk: %v", got)
	}
}

func TestAdoptAcrossFilesystems(t *testing.T) {
	rpm := readFile(t, corpusRPM)
	src := filepath.Join(mountTmpfs(t, "4m"), "pkg.rpm")
	if err := os.WriteFile(src, rpm, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := openStore(t, dir)
	d, _, err := s.Adopt(context.Background(), src, true) // EXDEV: falls back to a copy
	if err != nil {
		t.Fatal(err)
	}
	assertBlob(t, s, d, rpm)
	assertTmpEmpty(t, dir)
}

// TestCommitOverExisting: when a file already has the blob's final name,
// Commit keeps it only if it is a regular file of the verified size (a
// concurrent writer won: same digest, same bytes); any other file there is
// corrupt and is replaced, atomically, by the verified temp file.
func TestCommitOverExisting(t *testing.T) {
	rpm := readFile(t, corpusRPM)
	digest := checksum.Digest(sha256.Sum256(rpm))
	writeFile := func(b []byte) func(t *testing.T, path string) {
		return func(t *testing.T, path string) {
			if err := os.WriteFile(path, b, 0o444); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name     string
		existing func(t *testing.T, path string) // puts something at the final path; nil: nothing
		keep     bool                            // the existing file must stay (same inode)
		err      error                           // expected from Commit
	}{
		{name: "absent"},
		{name: "same bytes", existing: writeFile(rpm), keep: true},
		{name: "truncated", existing: writeFile(rpm[:len(rpm)/2])},
		{name: "empty", existing: writeFile(nil)},
		{name: "longer", existing: writeFile(append(bytes.Clone(rpm), "trailing junk"...))},
		{name: "symlink", existing: func(t *testing.T, path string) {
			target := filepath.Join(t.TempDir(), "elsewhere")
			writeFile(rpm)(t, target)
			if err := os.Symlink(target, path); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "directory", existing: func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o755); err != nil {
				t.Fatal(err)
			}
		}, keep: true, err: syscall.EEXIST}, // os.Rename will not replace a directory
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir)
			final := s.path(digest)
			var before os.FileInfo
			if tt.existing != nil {
				if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
					t.Fatal(err)
				}
				tt.existing(t, final)
				var err error
				if before, err = os.Lstat(final); err != nil {
					t.Fatal(err)
				}
			}
			w, err := s.Create(digest, int64(len(rpm)))
			if err != nil {
				t.Fatal(err)
			}
			if err := writeChunks(w, rpm, 1<<16); err != nil {
				t.Fatal(err)
			}
			d, err := w.Commit()
			if !errors.Is(err, tt.err) {
				t.Fatalf("Commit = %s, %v; want error %v", d, err, tt.err)
			}
			after, lerr := os.Lstat(final)
			if lerr != nil {
				t.Fatal(lerr)
			}
			if kept := before != nil && os.SameFile(before, after); kept != tt.keep {
				t.Errorf("existing %v kept = %v, want %v (now %v)", before.Mode(), kept, tt.keep, after.Mode())
			}
			if err == nil {
				if !after.Mode().IsRegular() {
					t.Errorf("blob is a %v, want a regular file", after.Mode())
				}
				assertBlob(t, s, d, rpm)
			}
			assertTmpEmpty(t, dir)
		})
	}
}
