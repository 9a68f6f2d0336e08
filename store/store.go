// Package store is lazymirror's content-addressed blob store on the local
// filesystem. A blob is a file named by the SHA-256 of its bytes; the same
// bytes are stored once however many paths, mirrors or repositories refer
// to them.
//
// # Layout
//
//	<root>/LOCK                          flock(2)ed by the one process using the store
//	<root>/tmp/blob-<random>             blobs being written (or orphans of a crash)
//	<root>/blobs/sha256/<xx>/<64 hex>    committed blobs, mode 0444; xx = first 2 hex digits
//
// Paths under blobs/ are only ever built from a checksum.Digest, a fixed-size
// array, so no input can name a path outside the store.
//
// # Crash safety
//
// A blob is written to a temp file in tmp/, on the same filesystem as blobs/.
// Commit verifies the size and every expected checksum, fsyncs the file,
// renames it to its final name (rename(2) is atomic: the name appears with the
// whole content or not at all) and fsyncs the directory holding the new name
// (and, when that directory was just created, its parent). Every directory
// the store creates (its own tree at Open, a fan-out directory, a quarantine
// directory) has its parent fsynced right after, so that a power loss cannot
// take a directory, and the durable blobs in it, away; finding a directory
// already there costs no fsync, except at Open, which syncs the parents of
// the store's tree and of the fan-out directories once (a process killed
// between a mkdir and that fsync left one there, not yet durable). Nothing under blobs/ is ever written in
// place, so a process killed at any instant leaves either the whole blob or
// nothing visible under blobs/; what it leaves in tmp/ is removed by the
// next Open. That sweep is safe only because Open first takes an exclusive,
// non-blocking flock on LOCK: a live writer's temp files belong to the
// process holding the lock, and the kernel drops the lock when that process
// dies, however it dies.
//
// Because blobs are named by content, commits are idempotent: when two
// writers of the same digest race, one renames its file into place and the
// other finds the blob present and drops its temp file. Same digest, same
// bytes. A file already under the blob's name counts only if it is a regular
// file of the blob's size; anything else there is corrupt and the verified
// file is renamed over it.
//
// # Reading while writing
//
// A Writer publishes how many bytes it has written; a Follower (from
// Writer.NewReader) reads the growing temp file through its own descriptor up
// to one byte short of that mark and then waits, without polling, for more.
// The last byte, and io.EOF, come only after Commit has verified the blob, and
// the writer's error after an abort, so a follower never takes a truncated or
// corrupt blob for a complete one, and nothing it copies to (an HTTP response
// of known length) can look complete before the check. Its descriptor keeps working across the rename (and across the unlink
// of an aborted temp file).
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"lazymirror/checksum"
	"lazymirror/internal/ctxio"
)

// Errors callers branch on with errors.Is.
var (
	// ErrLocked: another process (or another Store in this process) holds the store's lock.
	ErrLocked = errors.New("store is locked")
	// ErrNotFound: no committed blob has the digest.
	ErrNotFound = errors.New("blob not found")
	// ErrDigestMismatch: the written bytes do not have an expected checksum.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrSizeMismatch: more or fewer bytes were written than the expected size.
	ErrSizeMismatch = errors.New("size mismatch")
	// ErrAborted is what followers see (wrapped) when Abort was called with a nil error.
	ErrAborted = errors.New("blob write aborted")
	// ErrClosed: Write or Commit on a Writer already committed or aborted.
	ErrClosed = errors.New("blob writer already committed or aborted")
)

// Store is a content-addressed blob store rooted at one directory.
// Its methods are safe for concurrent use.
type Store struct {
	root  string
	blobs string // root/blobs/sha256
	tmp   string // root/tmp
	lock  *os.File
	// mkdirMu is held while a directory is created and its parent fsynced,
	// so that a goroutine finding the directory present knows that its
	// entry is durable (the creator's fsync is over), not merely visible.
	mkdirMu sync.Mutex
}

// Open opens a store rooted at dir, creating the directory tree if needed.
// It takes an exclusive, non-blocking flock on dir/LOCK and fails with an
// error wrapping ErrLocked while another Store holds it. It then removes
// everything left in dir/tmp (temp files of a writer that died).
func Open(dir string) (*Store, error) {
	s := &Store{
		root:  dir,
		blobs: filepath.Join(dir, "blobs", "sha256"),
		tmp:   filepath.Join(dir, "tmp"),
	}
	if _, err := mkdirAllDurable(dir); err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("store %s is in use by another lazymirror process: %w", dir, ErrLocked)
		}
		return nil, fmt.Errorf("lock store %s: %w", dir, err)
	}
	s.lock = lock
	if err := s.init(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// init creates blobs/sha256 and tmp (durably), syncs the directories that
// hold the store's tree and its fan-out directories, and sweeps tmp. Call
// only with the lock held.
func (s *Store) init() error {
	for _, d := range []string{s.blobs, s.tmp} {
		if _, err := mkdirAllDurable(d); err != nil {
			return fmt.Errorf("open store %s: %w", s.root, err)
		}
	}
	// A process killed between a mkdir and the fsync of its parent leaves
	// a directory that is there but not durable; finding it there, nothing
	// would sync it again, and a power loss could take it, with blobs
	// committed into it since. One fsync of each parent at Open covers
	// every such directory: four fsyncs a start.
	for _, d := range []string{filepath.Dir(s.root), s.root, filepath.Dir(s.blobs), s.blobs} {
		if err := syncDir(d); err != nil {
			return fmt.Errorf("open store %s: %w", s.root, err)
		}
	}
	orphans, err := os.ReadDir(s.tmp)
	if err != nil {
		return fmt.Errorf("sweep %s: %w", s.tmp, err)
	}
	for _, o := range orphans {
		if err := os.RemoveAll(filepath.Join(s.tmp, o.Name())); err != nil {
			return fmt.Errorf("sweep %s: %w", s.tmp, err)
		}
	}
	return nil
}

// Close releases the store's lock. Writers and followers still open keep
// working on their descriptors, but Close should come after them: another
// process may now Open the store and sweep tmp.
func (s *Store) Close() error {
	if err := s.lock.Close(); err != nil { // closing the descriptor drops the flock
		return fmt.Errorf("unlock store %s: %w", s.root, err)
	}
	return nil
}

// Root returns the directory the store was opened at.
func (s *Store) Root() string { return s.root }

// dir is the directory holding the blob d.
func (s *Store) dir(d checksum.Digest) string {
	return filepath.Join(s.blobs, d.String()[:2])
}

// path is the final path of the blob d.
func (s *Store) path(d checksum.Digest) string {
	// Joined by hand: it runs on every hit, and filepath.Join's cleaning
	// costs more than the rest of it.
	h := d.String()
	return s.blobs + string(filepath.Separator) + h[:2] + string(filepath.Separator) + h
}

// Open opens the committed blob d for reading. It returns an *os.File so that
// an HTTP server can send it with sendfile. The error wraps ErrNotFound when
// there is no such blob.
func (s *Store) Open(d checksum.Digest) (*os.File, error) {
	f, err := openRead(s.path(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open blob %s: %w", d, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("open blob %s: %w", d, err)
	}
	return f, nil
}

// openRead opens a file for reading. os.Open offers every descriptor to
// the netpoller: two fcntl calls to make it non-blocking, an epoll_ctl that
// Linux refuses for a regular file, two fcntl calls to undo it: five system
// calls on every hit where os.NewFile makes one.
func openRead(name string) (*os.File, error) {
	for {
		fd, err := unix.Open(name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return os.NewFile(uintptr(fd), name), nil
	}
}

// Stat returns the size of the committed blob d; the error wraps ErrNotFound
// when there is no such blob.
func (s *Store) Stat(d checksum.Digest) (int64, error) {
	fi, err := os.Stat(s.path(d))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("stat blob %s: %w", d, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("stat blob %s: %w", d, err)
	}
	return fi.Size(), nil
}

// Remove deletes the blob d. Removing an absent blob is not an error.
// Descriptors already open on the blob keep reading its bytes.
func (s *Store) Remove(d checksum.Digest) error {
	if err := os.Remove(s.path(d)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove blob %s: %w", d, err)
	}
	return nil
}

// Walk calls fn for every committed blob with its digest and size, in
// lexical order of digest. Files whose names are not a digest (or not in
// their digest's directory) are skipped, as are blobs removed during the
// walk. Walk stops at the first error from fn or ctx and returns it.
func (s *Store) Walk(ctx context.Context, fn func(d checksum.Digest, size int64) error) error {
	dirs, err := os.ReadDir(s.blobs)
	if err != nil {
		return fmt.Errorf("walk %s: %w", s.blobs, err)
	}
	for _, dir := range dirs {
		if !dir.IsDir() {
			continue
		}
		entries, err := os.ReadDir(filepath.Join(s.blobs, dir.Name()))
		if err != nil {
			return fmt.Errorf("walk %s: %w", s.blobs, err)
		}
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return err
			}
			d, err := checksum.ParseDigest(e.Name())
			if err != nil || d.String() != e.Name() || e.Name()[:2] != dir.Name() || !e.Type().IsRegular() {
				continue
			}
			fi, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return fmt.Errorf("walk %s: %w", s.blobs, err)
			}
			if err := fn(d, fi.Size()); err != nil {
				return err
			}
		}
	}
	return nil
}

// Adopt stores the existing file at path (for import) and returns its digest
// and size. With link true it first tries to clone the file into the store
// (FICLONE: a copy-on-write reflink on btrfs, XFS and the like), which costs
// no copy of the data yet shares nothing a later write to path could change.
// It never hard-links: a hard link shares the inode, so rewriting the source
// in place (as its owner or root may, whatever its mode) would rewrite the
// blob. When cloning fails (another filesystem, no reflink support, or link
// is false) the bytes are copied through a Writer. A blob already present is
// success. Long reads stop with ctx's error.
func (s *Store) Adopt(ctx context.Context, path string, link bool) (checksum.Digest, int64, error) {
	if link {
		d, size, err := s.adoptClone(ctx, path)
		if err == nil || !errors.Is(err, errLink) {
			return d, size, err
		}
	}
	src, err := os.Open(path)
	if err != nil {
		return checksum.Digest{}, 0, fmt.Errorf("adopt %s: %w", path, err)
	}
	defer src.Close()
	w, err := s.CreateUnknown()
	if err != nil {
		return checksum.Digest{}, 0, fmt.Errorf("adopt %s: %w", path, err)
	}
	defer w.Abort(nil) // no-op after Commit
	// Large writes hash in parallel with the copy.
	if _, err := io.CopyBuffer(w, ctxio.Reader(ctx, src), make([]byte, 1<<20)); err != nil {
		return checksum.Digest{}, 0, fmt.Errorf("adopt %s: %w", path, err)
	}
	d, err := w.Commit()
	if err != nil {
		return checksum.Digest{}, 0, fmt.Errorf("adopt %s: %w", path, err)
	}
	return d, w.Written(), nil
}

// errLink marks an Adopt failure to clone, after which Adopt copies.
var errLink = errors.New("cannot clone")

// adoptClone reflinks path into a temp file of tmp/, hashes the clone (so the
// digest is that of the bytes now in the store, which later writes to path
// cannot change) and commits it like a written blob.
func (s *Store) adoptClone(ctx context.Context, path string) (checksum.Digest, int64, error) {
	src, err := os.Open(path)
	if err != nil {
		return checksum.Digest{}, 0, fmt.Errorf("adopt %s: %w", path, err)
	}
	defer src.Close()
	f, err := os.CreateTemp(s.tmp, "adopt-*")
	if err != nil {
		return checksum.Digest{}, 0, fmt.Errorf("adopt %s: %w", path, err)
	}
	tmpPath := f.Name()
	if err := unix.IoctlFileClone(int(f.Fd()), int(src.Fd())); err != nil {
		f.Close()
		os.Remove(tmpPath)
		return checksum.Digest{}, 0, fmt.Errorf("adopt %s: %w: %w", path, errLink, err)
	}
	h := checksum.SHA256.New()
	size, err := io.Copy(h, ctxio.Reader(ctx, f))
	if err != nil {
		f.Close()
		os.Remove(tmpPath)
		return checksum.Digest{}, 0, fmt.Errorf("adopt %s: %w", path, err)
	}
	d := checksum.Digest(h.Sum(nil))
	if err := s.publish(f, tmpPath, d, size); err != nil {
		return checksum.Digest{}, 0, fmt.Errorf("adopt %s: %w", path, err)
	}
	return d, size, nil
}

// publish makes the verified temp file f, of size bytes, durable and gives it
// its final name (see durable, place and the package doc). It closes f.
func (s *Store) publish(f *os.File, tmpPath string, d checksum.Digest, size int64) error {
	if err := s.durable(f, tmpPath, d); err != nil {
		return err
	}
	if _, err := s.place(tmpPath, d, size); err != nil {
		return err
	}
	return s.syncBlobDir(d)
}

// durable chmods the verified temp file f to 0444 (best effort), fsyncs and
// closes it, and creates the directory it will be renamed into. On failure
// it removes tmpPath.
func (s *Store) durable(f *os.File, tmpPath string, d checksum.Digest) error {
	f.Chmod(0o444) // best effort: guards against accidental writes, not needed for correctness
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.mkdir(d)
	}
	if err != nil {
		os.Remove(tmpPath)
		return fmt.Errorf("commit blob %s: %w", d, err)
	}
	return nil
}

// place renames the durable temp file, of the verified size, to the blob's
// final path and returns that path. When a regular file of that size is
// already there (a concurrent writer won: same digest, same bytes) it
// removes the temp file instead. Anything else under the blob's name (a file
// of another size, a symlink) is corrupt: the rename replaces it atomically,
// so readers see the old file or the verified one, never neither. Only the
// size is checked, not the bytes: hashing the file found there would cost a
// read of the whole blob on every duplicate commit. On failure it removes
// tmpPath.
func (s *Store) place(tmpPath string, d checksum.Digest, size int64) (string, error) {
	final := s.path(d)
	if fi, err := os.Lstat(final); err == nil && fi.Mode().IsRegular() && fi.Size() == size {
		os.Remove(tmpPath)
		return final, nil
	}
	if err := os.Rename(tmpPath, final); err != nil {
		os.Remove(tmpPath)
		return "", fmt.Errorf("commit blob %s: %w", d, err)
	}
	return final, nil
}

// syncBlobDir fsyncs the directory of blob d, making its name durable. It runs
// also when another writer placed the blob, which may not have synced yet.
func (s *Store) syncBlobDir(d checksum.Digest) error {
	if err := syncDir(s.dir(d)); err != nil {
		return fmt.Errorf("commit blob %s: %w", d, err)
	}
	return nil
}

// mkdir creates the directory for d when it is missing, fsyncing its parent
// so that the new directory entry is durable before a blob is renamed into it.
// It creates only that directory: with blobs/sha256 gone (the store's
// filesystem unmounted under it, say), it fails rather than build a new tree.
func (s *Store) mkdir(d checksum.Digest) error {
	s.mkdirMu.Lock()
	defer s.mkdirMu.Unlock()
	_, err := mkdirDurable(s.dir(d))
	return err
}

// mkdirDurable creates the directory dir, mode 0755, in an existing parent
// and fsyncs the parent, so that the new entry survives a crash. It reports
// whether it created dir. When anything already has that name it returns
// false and no error, at the cost of the one mkdir(2) and no fsync; it does
// not stat what is there (should that not be a directory, the caller's next
// use of dir fails).
func mkdirDurable(dir string) (bool, error) {
	err := os.Mkdir(dir, 0o755)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return true, fmt.Errorf("mkdir %s: %w", dir, err)
	}
	return true, nil
}

// mkdirAllDurable is os.MkdirAll (mode 0755) that fsyncs the parent of every
// directory it creates, each before creating the next level, so that the
// whole new path survives a crash. It reports whether it created dir. A
// directory already there costs one stat and no fsync; a file there is an
// error (syscall.ENOTDIR).
func mkdirAllDurable(dir string) (bool, error) {
	dir = filepath.Clean(dir)
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return false, &fs.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
		}
		return false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	if parent := filepath.Dir(dir); parent != dir {
		if _, err := mkdirAllDurable(parent); err != nil {
			return false, err
		}
	}
	created, err := mkdirDurable(dir)
	if err != nil || created {
		return created, err
	}
	// Something has the name after all: a directory made meanwhile, or
	// something that is not one (a dangling symlink, which Stat took for
	// nothing).
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return false, nil
	}
	return false, &fs.PathError{Op: "mkdir", Path: dir, Err: syscall.EEXIST}
}

// syncDir fsyncs a directory so that renames into it survive a crash.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// Quarantine moves blob d out of the store into dir (on the store's
// filesystem, created durably if missing), as <digest> or, when a blob of
// that name was quarantined before, the first free <digest>.<n>; both
// directories are fsynced. It never replaces a file in dir (see
// renameNoReplace). It returns the new path. Open descriptors of the blob
// keep working.
func (s *Store) Quarantine(d checksum.Digest, dir string) (string, error) {
	s.mkdirMu.Lock()
	_, err := mkdirAllDurable(dir)
	s.mkdirMu.Unlock()
	if err != nil {
		return "", fmt.Errorf("quarantine %s: %w", d, err)
	}
	dst := filepath.Join(dir, d.String())
	for n := 1; ; n++ {
		err := renameNoReplace(s.path(d), dst)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("quarantine %s (the quarantine directory must be on the store's filesystem): %w", d, err)
		}
		dst = filepath.Join(dir, fmt.Sprintf("%s.%d", d, n))
	}
	for _, dir := range []string{dir, filepath.Dir(s.path(d))} {
		if err := syncDir(dir); err != nil {
			return "", fmt.Errorf("quarantine %s: %w", d, err)
		}
	}
	return dst, nil
}

// renameNoReplace renames oldpath to newpath unless newpath exists, in which
// case it fails with an error wrapping fs.ErrExist and changes nothing. It
// uses renameat2(RENAME_NOREPLACE), which checks and renames in one step.
// Where the filesystem does not support that flag (EINVAL) or the kernel
// lacks renameat2 (ENOSYS) it falls back to renameChecked.
func renameNoReplace(oldpath, newpath string) error {
	err := unix.Renameat2(unix.AT_FDCWD, oldpath, unix.AT_FDCWD, newpath, unix.RENAME_NOREPLACE)
	if err == unix.EINVAL || err == unix.ENOSYS {
		return renameChecked(oldpath, newpath)
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return nil
}

// renameChecked renames oldpath to newpath after checking that newpath does
// not exist (an error wrapping fs.ErrExist when it does). It is not atomic:
// a file created at newpath between the check and the rename is replaced.
func renameChecked(oldpath, newpath string) error {
	_, err := os.Lstat(newpath)
	if err == nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: syscall.EEXIST}
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.Rename(oldpath, newpath)
}
