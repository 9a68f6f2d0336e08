package store

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"lazymirror/checksum"
)

// dirOpens watches directories for being opened themselves (IN_OPEN with no
// name: the directory, not an entry in it). Where the store opens one of the
// directories these tests watch, it is syncDir opening it to fsync it, so
// an open seen here is the fsync a test cannot otherwise observe (it shows
// the directory was opened for syncDir, not that the disk honoured the
// fsync).
type dirOpens struct {
	fd   int
	dirs map[int]string // watch descriptor → directory, as the test named it
}

// watchOpens starts watching dirs (named relative to base) for opens.
func watchOpens(t *testing.T, base string, dirs ...string) *dirOpens {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Fatalf("inotify_init1: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	w := &dirOpens{fd: fd, dirs: map[int]string{}}
	for _, d := range dirs {
		wd, err := unix.InotifyAddWatch(fd, filepath.Join(base, d), unix.IN_OPEN|unix.IN_ONLYDIR)
		if err != nil {
			t.Fatalf("inotify_add_watch %s: %v", d, err)
		}
		w.dirs[wd] = d
	}
	return w
}

// opened returns, for every watched directory, whether it was opened since
// the watch began. The kernel queues the event inside open(2), so every
// open made before the call is in the queue: no waiting is needed.
func (w *dirOpens) opened(t *testing.T) map[string]bool {
	t.Helper()
	got := map[string]bool{}
	for _, d := range w.dirs {
		got[d] = false
	}
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Read(w.fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return got
		}
		if err != nil {
			t.Fatalf("read inotify: %v", err)
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			wd := int(int32(binary.NativeEndian.Uint32(buf[off:])))
			mask := binary.NativeEndian.Uint32(buf[off+4:])
			nameLen := int(binary.NativeEndian.Uint32(buf[off+12:]))
			if mask&unix.IN_Q_OVERFLOW != 0 {
				t.Fatal("inotify queue overflowed")
			}
			if mask&unix.IN_OPEN != 0 && nameLen == 0 {
				got[w.dirs[wd]] = true
			}
			off += unix.SizeofInotifyEvent + nameLen
		}
	}
}

// put commits data as a blob.
func put(t *testing.T, s *Store, data []byte) checksum.Digest {
	t.Helper()
	w, err := s.CreateUnknown()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	d, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// samePrefix returns bytes, other than data, whose blob has the same fan-out
// directory as data's.
func samePrefix(data []byte) []byte {
	want := sha256.Sum256(data)
	for i := 0; ; i++ {
		b := fmt.Appendf(nil, "%s/%d", data, i)
		if sum := sha256.Sum256(b); sum[0] == want[0] {
			return b
		}
	}
}

// TestDirsSyncedWhenCreated: every directory the store creates (its tree at
// Open, a fan-out directory, a quarantine directory) has its parent fsynced,
// so the new entry survives a power loss; a directory that already exists
// costs no fsync, but at Open. The fsync itself cannot be observed; the test watches
// which directories get opened (syncDir opens a directory to fsync it).
func TestDirsSyncedWhenCreated(t *testing.T) {
	blobA := []byte("blob a\n")
	blobB := samePrefix(blobA)
	mkdirs := func(dirs ...string) func(t *testing.T, base string) {
		return func(t *testing.T, base string) {
			for _, d := range dirs {
				if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	// withStore runs fn on the store at base/store (created if needed), then closes it.
	withStore := func(fn func(t *testing.T, base string, s *Store)) func(t *testing.T, base string) {
		return func(t *testing.T, base string) {
			s, err := Open(filepath.Join(base, "store"))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if fn != nil {
				fn(t, base, s)
			}
		}
	}
	putA := func(t *testing.T, _ string, s *Store) { put(t, s, blobA) }
	quarantineA := func(dir string) func(t *testing.T, base string, s *Store) {
		return func(t *testing.T, base string, s *Store) {
			d := checksum.Digest(sha256.Sum256(blobA))
			if _, err := s.Quarantine(d, filepath.Join(base, dir)); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, base string)
		op    func(t *testing.T, base string)
		// onOpen, instead of op: run on the store at base/store, opened
		// before the watch starts (Open's own syncs are not counted).
		onOpen func(t *testing.T, base string, s *Store)
		want   map[string]bool // directory (relative to base) → opened (fsynced)
	}{
		{name: "open new store",
			op:   withStore(nil),
			want: map[string]bool{".": true}},
		{name: "open empty root",
			setup: mkdirs("store"),
			op:    withStore(nil),
			want:  map[string]bool{"store": true}},
		{name: "open root without sha256",
			setup: mkdirs("store/blobs", "store/tmp"),
			op:    withStore(nil),
			want:  map[string]bool{"store": true, "store/blobs": true}},
		{name: "reopen",
			// Directories found there may be a killed process's, not yet
			// durable: Open syncs every parent once.
			setup: withStore(nil),
			op:    withStore(nil),
			want:  map[string]bool{".": true, "store": true, "store/blobs": true, "store/blobs/sha256": true}},
		{name: "first blob of a prefix",
			setup:  withStore(nil),
			onOpen: putA,
			want:   map[string]bool{"store/blobs/sha256": true}},
		{name: "second blob of a prefix",
			setup:  withStore(putA),
			onOpen: func(t *testing.T, _ string, s *Store) { put(t, s, blobB) },
			want:   map[string]bool{"store/blobs/sha256": false}},
		{name: "same blob again",
			setup:  withStore(putA),
			onOpen: putA,
			want:   map[string]bool{"store/blobs/sha256": false}},
		{name: "quarantine into a new directory",
			setup:  withStore(putA),
			onOpen: quarantineA("q/sub"),
			want:   map[string]bool{".": true}},
		{name: "quarantine into an existing directory",
			setup:  func(t *testing.T, base string) { mkdirs("q")(t, base); withStore(putA)(t, base) },
			onOpen: quarantineA("q"),
			want:   map[string]bool{".": false, "q": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			if tt.setup != nil {
				tt.setup(t, base)
			}
			var dirs []string
			for d := range tt.want {
				dirs = append(dirs, d)
			}
			op := tt.op
			if tt.onOpen != nil {
				s, err := Open(filepath.Join(base, "store"))
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				op = func(t *testing.T, base string) { tt.onOpen(t, base, s) }
			}
			w := watchOpens(t, base, dirs...)
			op(t, base)
			got := w.opened(t)
			for d, want := range tt.want {
				if got[d] != want {
					t.Errorf("%s opened (fsynced) = %v, want %v", d, got[d], want)
				}
			}
		})
	}
}

// TestMkdirDurable: the directory helpers create what is missing, report
// whether they created the directory asked for, fsync (open) the parent of
// each directory they create and of no other, and refuse what MkdirAll
// refuses.
func TestMkdirDurable(t *testing.T) {
	file := func(name string) func(t *testing.T, base string) {
		return func(t *testing.T, base string) {
			if err := os.WriteFile(filepath.Join(base, name), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	dir := func(name string) func(t *testing.T, base string) {
		return func(t *testing.T, base string) {
			if err := os.Mkdir(filepath.Join(base, name), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	symlink := func(target, name string) func(t *testing.T, base string) {
		return func(t *testing.T, base string) {
			dir("real")(t, base)
			if err := os.Symlink(target, filepath.Join(base, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name    string
		all     bool // mkdirAllDurable, else mkdirDurable
		setup   func(t *testing.T, base string)
		path    string // relative to base
		created bool
		err     error
		synced  map[string]bool // directory (relative to base) → opened (fsynced)
	}{
		{name: "one/new", path: "a", created: true, synced: map[string]bool{".": true}},
		{name: "one/exists", setup: dir("a"), path: "a", synced: map[string]bool{".": false, "a": false}},
		{name: "one/no parent", path: "a/b", err: os.ErrNotExist, synced: map[string]bool{".": false}},
		// Not stat'ed, by design: the fan-out path pays one mkdir(2) and nothing more.
		{name: "one/file in the way", setup: file("a"), path: "a", synced: map[string]bool{".": false}},

		{name: "all/new", all: true, path: "a", created: true, synced: map[string]bool{".": true}},
		{name: "all/new nested", all: true, path: "a/b/c", created: true, synced: map[string]bool{".": true}},
		{name: "all/new under existing", all: true, setup: dir("a"), path: "a/b/c", created: true,
			synced: map[string]bool{".": false, "a": true}},
		{name: "all/trailing slash", all: true, path: "a/", created: true, synced: map[string]bool{".": true}},
		{name: "all/exists", all: true, setup: dir("a"), path: "a", synced: map[string]bool{".": false, "a": false}},
		{name: "all/symlink to a directory", all: true, setup: symlink("real", "a"), path: "a",
			synced: map[string]bool{".": false, "real": false}},
		{name: "all/file in the way", all: true, setup: file("a"), path: "a", err: syscall.ENOTDIR,
			synced: map[string]bool{".": false}},
		{name: "all/file as parent", all: true, setup: file("a"), path: "a/b", err: syscall.ENOTDIR,
			synced: map[string]bool{".": false}},
		{name: "all/dangling symlink", all: true, setup: symlink("nowhere", "a"), path: "a", err: syscall.EEXIST,
			synced: map[string]bool{".": false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			if tt.setup != nil {
				tt.setup(t, base)
			}
			var dirs []string
			for d := range tt.synced {
				dirs = append(dirs, d)
			}
			w := watchOpens(t, base, dirs...)
			mkdir := mkdirDurable
			if tt.all {
				mkdir = mkdirAllDurable
			}
			path := filepath.Join(base, tt.path)
			created, err := mkdir(path)
			if created != tt.created || !errors.Is(err, tt.err) {
				t.Errorf("mkdir(%s) = %v, %v; want %v, %v", tt.path, created, err, tt.created, tt.err)
			}
			if err == nil && tt.err == nil && tt.setup == nil {
				if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
					t.Errorf("after mkdir(%s): %v, %v; want a directory", tt.path, fi, err)
				}
			}
			got := w.opened(t)
			for d, want := range tt.synced {
				if got[d] != want {
					t.Errorf("%s opened (fsynced) = %v, want %v", d, got[d], want)
				}
			}
		})
	}
}
