package ops

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"lazymirror/checksum"
	"lazymirror/index"
	"lazymirror/store"
)

// ImportOptions control Import. The zero value copies every file.
type ImportOptions struct {
	// Link clones files into the store where the filesystem can share
	// their blocks copy-on-write (btrfs, XFS: no copy, and the store's copy
	// stays its own when the source changes); elsewhere Import copies.
	Link bool
	// Move removes each source file once its bytes are durable in the
	// store and recorded in the index (also when they already were). It
	// removes only files inside the paths given: a file outside them,
	// reached through a symbolic link, stays, and so do the links.
	Move bool
	// Progress, when set, is called as files are read.
	Progress func(Progress)
	// Now is the clock for the index records' times; nil means time.Now.
	Now func() time.Time
}

// ImportReport says what Import did with each file it found.
type ImportReport struct {
	// Imported are packages newly stored.
	Imported Count `json:"imported"`
	// Present are packages whose bytes the store already had.
	Present Count `json:"already_present"`
	// Skipped are files named like packages that are not whole packages,
	// or that could not be read, and symbolic links that could not be
	// followed, with the reason.
	Skipped []Skip `json:"skipped"`
	// Ignored counts files whose names are not .rpm, .deb or .udeb.
	Ignored int `json:"ignored"`
}

// Skip is a file Import did not store, and why.
type Skip struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	Reason string `json:"reason"`
	// Err is the reason as an error: it wraps ErrNotPackage or
	// ErrTruncated for a bad package, ErrBadLink for a symbolic link, an
	// fs error for an unreadable file.
	Err error `json:"-"`
}

// ErrBadLink is why a symbolic link is skipped: its target is missing, a
// loop of links, or neither a regular file nor a directory. No package is
// left out for it, so it is a warning rather than a failure.
var ErrBadLink = errors.New("symbolic link not followed")

// aliasAlgos are the checksums recorded, besides sha256, for imported rpms:
// yum metadata may give only one of them (createrepo's "sha", i.e. sha1, in
// older repositories), and the cache finds the blob by that alias. MD5 is
// left out on purpose: it must never vouch for a blob alone. Debian's
// Packages files always carry SHA256.
var aliasAlgos = []checksum.Algo{checksum.SHA1, checksum.SHA512}

// errChanged is why a file that changed between its check and its adoption is skipped.
var errChanged = errors.New("the file changed while it was imported")

// candidate is a package file found by the walk.
type candidate struct {
	path   string // its own: symbolic links resolved
	size   int64
	format format
	// outside is set for a file reached through a symbolic link from
	// outside the paths Import was given: Move leaves it.
	outside bool
}

// Import walks paths (directories, or single files) for .rpm, .deb and .udeb
// files, checks that each is a whole package (see the package doc), and
// stores each in st with an index.Blob record in idx (plus sha1 and sha512
// aliases for rpms), so that a later request for a path whose checksum
// matches is a hit. A file whose bytes the store already has (re-read to
// check them: a damaged stored copy is quarantined and replaced) counts as
// present; importing the same files twice changes nothing. Symbolic links
// are followed (see findPackages). Files that are not whole packages, are
// not regular files, or cannot be read, and links that lead to no file or
// directory, are skipped and listed with their reason. Import stops at the
// first store or index error, or when ctx is done, and returns that error
// with the report of what it did so far.
func Import(ctx context.Context, st *store.Store, idx *index.DB, paths []string, opts ImportOptions) (ImportReport, error) {
	var rep ImportReport
	files, err := findPackages(ctx, paths, &rep)
	if err != nil {
		return rep, err
	}
	im := importer{ctx: ctx, st: st, idx: idx, opts: opts, rep: &rep, buf: make([]byte, bufSize), m: meter{fn: opts.Progress}}
	if im.opts.Now == nil {
		im.opts.Now = time.Now
	}
	for _, c := range files {
		im.m.p.TotalFiles++
		im.m.p.TotalBytes += c.size
	}
	for _, c := range files {
		im.m.p.Path = c.path
		done := im.m.p.Bytes
		if err := im.file(c); err != nil {
			return rep, err
		}
		im.m.p.Bytes = done + c.size // skipped files too, so that a bar ends full
		im.m.fileDone()
	}
	return rep, nil
}

// findPackages walks paths and returns the package files in them. It
// follows symbolic links: a link to a directory is walked as the directory,
// a link to a regular file lists the file under its own path (the link's
// name says whether it is a package: the file's may be a digest). Each
// directory and package file is visited once, however many paths and links
// lead to it, so a link to an ancestor ends. It counts
// other files in rep.Ignored and lists in rep.Skipped unreadable
// directories and files, package files that are not regular files, and
// links it cannot follow (ErrBadLink).
func findPackages(ctx context.Context, paths []string, rep *ImportReport) ([]candidate, error) {
	w := walker{ctx: ctx, rep: rep, dirs: make(map[fileID]bool), listed: make(map[string]bool)}
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err == nil {
			abs, err = filepath.EvalSymlinks(abs)
		}
		if err != nil {
			return nil, fmt.Errorf("import %s: %w", p, err)
		}
		w.roots = append(w.roots, abs)
	}
	for i, root := range w.roots {
		if err := w.walk(root, true); err != nil {
			return nil, fmt.Errorf("import %s: %w", paths[i], err)
		}
	}
	return w.files, nil
}

// walker is findPackages' state.
type walker struct {
	ctx context.Context
	rep *ImportReport
	// roots are the paths given, absolute and resolved. So is every path
	// walked (WalkDir follows no link, walk resolves those it follows): a
	// file has one path, and is inside roots if that path is.
	roots []string
	// dirs holds the directories walked, listed the paths of the package
	// files listed (a file's hard links are files of their own, each
	// removed with Move).
	dirs   map[fileID]bool
	listed map[string]bool
	files  []candidate
}

// fileID is a directory's device and inode: the same through any path,
// link or bind mount.
type fileID struct{ dev, ino uint64 }

// walk lists the package files under root, an absolute, resolved path. A directory
// that cannot be read is skipped, unless it is a root Import was given
// (top): then walk fails.
func (w *walker) walk(root string, top bool) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if cerr := w.ctx.Err(); cerr != nil {
			return cerr
		}
		if err != nil {
			if d != nil && d.IsDir() && !(top && path == root) {
				w.skip(path, err)
				return fs.SkipDir
			}
			return err
		}
		if d.IsDir() {
			fi, err := d.Info()
			if err != nil {
				w.skip(path, err)
				return fs.SkipDir
			}
			st := fi.Sys().(*syscall.Stat_t)
			id := fileID{dev: uint64(st.Dev), ino: st.Ino}
			if w.dirs[id] {
				return fs.SkipDir
			}
			w.dirs[id] = true
			return nil
		}
		own := path
		var fi fs.FileInfo // a link's target's; nil for other entries
		if d.Type()&fs.ModeSymlink != 0 {
			if own, fi, err = follow(path); err != nil {
				w.skip(path, err)
				return nil
			}
			if fi.IsDir() {
				return w.walk(own, false)
			}
		}
		f := formatOf(path)
		if f == unknown {
			w.rep.Ignored++
			return nil
		}
		if w.listed[own] {
			return nil
		}
		w.listed[own] = true
		if fi == nil {
			if !d.Type().IsRegular() {
				w.skip(path, errors.New("not a regular file"))
				return nil
			}
			if fi, err = d.Info(); err != nil {
				w.skip(path, err)
				return nil
			}
		}
		w.files = append(w.files, candidate{path: own, size: fi.Size(), format: f, outside: !w.inside(own)})
		return nil
	})
}

// follow resolves the symbolic link path to its target's own path and
// FileInfo when the target is a directory or a regular file, and otherwise
// returns an error wrapping ErrBadLink.
func follow(path string) (string, fs.FileInfo, error) {
	target, err := filepath.EvalSymlinks(path)
	var fi fs.FileInfo
	if err == nil {
		fi, err = os.Lstat(target)
	}
	if err == nil && !fi.IsDir() && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s is neither a regular file nor a directory", target)
	}
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrBadLink, err)
	}
	return target, fi, nil
}

// inside reports whether path, absolute and resolved, is in one of w.roots.
func (w *walker) inside(path string) bool {
	for _, root := range w.roots {
		if rel, err := filepath.Rel(root, path); err == nil && filepath.IsLocal(rel) {
			return true
		}
	}
	return false
}

// skip lists path as skipped for err.
func (w *walker) skip(path string, err error) {
	w.rep.Skipped = append(w.rep.Skipped, Skip{Path: path, Reason: err.Error(), Err: err})
}

// importer holds one Import's state.
type importer struct {
	ctx  context.Context
	st   *store.Store
	idx  *index.DB
	opts ImportOptions
	rep  *ImportReport
	buf  []byte
	m    meter
}

// file imports one candidate. Problems with the file itself are recorded
// as a Skip; the error returned is one of the store, the index or ctx.
func (im *importer) file(c candidate) error {
	d, aliases, size, err := im.read(c)
	if err != nil {
		if cerr := im.ctx.Err(); cerr != nil {
			return cerr
		}
		im.skip(c, size, err)
		return nil
	}
	present, err := im.present(d, size)
	if err != nil {
		return fmt.Errorf("import %s: %w", c.path, err)
	}
	if present {
		if err := im.record(d, size, aliases); err != nil {
			return err
		}
		im.rep.Present.add(size)
		return im.remove(c)
	}
	got, _, err := im.st.Adopt(im.ctx, c.path, im.opts.Link)
	if err != nil {
		return fmt.Errorf("import %s: %w", c.path, err)
	}
	if got != d {
		// Someone wrote to the file since it was checked. What is stored
		// is not known to be a package: drop it unless it was recorded.
		if _, err := im.idx.Blob(got); errors.Is(err, index.ErrNotFound) {
			if err := im.st.Remove(got); err != nil {
				return fmt.Errorf("import %s: %w", c.path, err)
			}
		}
		im.skip(c, size, errChanged)
		return nil
	}
	if err := im.record(d, size, aliases); err != nil {
		return err
	}
	im.rep.Imported.add(size)
	return im.remove(c)
}

// present reports whether the store holds blob d, of size bytes, sound. A
// damaged copy (what verify would find corrupt) does not count: it is moved
// to the quarantine directory, as verify --repair does, so that the file
// being imported replaces it (and, with Move, is not removed while the
// store lacks its bytes).
func (im *importer) present(d checksum.Digest, size int64) (bool, error) {
	f, err := im.st.Open(d)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	h := checksum.SHA256.New()
	n, err := hashFile(im.ctx, f, im.buf, &meter{}, h)
	f.Close()
	if cerr := im.ctx.Err(); cerr != nil {
		return false, cerr
	}
	if err == nil && n == size && checksum.Digest(h.Sum(nil)) == d {
		return true, nil
	}
	if _, err := im.st.Quarantine(d, filepath.Join(im.st.Root(), "quarantine")); err != nil {
		return false, err
	}
	return false, nil
}

// read checks that c is a whole package and hashes it, returning its
// sha256, the aliases to record and its size.
func (im *importer) read(c candidate) (checksum.Digest, []checksum.Sum, int64, error) {
	f, err := os.Open(c.path)
	if err != nil {
		return checksum.Digest{}, nil, c.size, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return checksum.Digest{}, nil, c.size, err
	}
	size := fi.Size()
	if !fi.Mode().IsRegular() {
		return checksum.Digest{}, nil, size, fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	if err := check(c.format, f, size); err != nil {
		return checksum.Digest{}, nil, size, err
	}
	sha := checksum.SHA256.New()
	hs := []hash.Hash{sha}
	if c.format == rpmFormat {
		for _, a := range aliasAlgos {
			hs = append(hs, a.New())
		}
	}
	n, err := hashFile(im.ctx, f, im.buf, &im.m, hs...)
	if err != nil {
		return checksum.Digest{}, nil, size, err
	}
	if n != size {
		return checksum.Digest{}, nil, size, errChanged
	}
	var aliases []checksum.Sum
	for i, h := range hs[1:] {
		aliases = append(aliases, checksum.Sum{Algo: aliasAlgos[i], Value: h.Sum(nil)})
	}
	return checksum.Digest(sha.Sum(nil)), aliases, size, nil
}

// record adds the index's Blob record for d when it is missing (keeping
// the hits of one that exists) and the aliases.
func (im *importer) record(d checksum.Digest, size int64, aliases []checksum.Sum) error {
	if _, err := im.idx.Blob(d); errors.Is(err, index.ErrNotFound) {
		now := im.opts.Now()
		if err := im.idx.PutBlob(d, index.Blob{Size: size, Stored: now, LastAccess: now}); err != nil {
			return fmt.Errorf("import: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	for _, a := range aliases {
		if got, err := im.idx.Alias(a); err == nil && got == d {
			continue // a read, not a write transaction with its fsync
		}
		if err := im.idx.PutAlias(a, d); err != nil {
			return fmt.Errorf("import: %w", err)
		}
	}
	return nil
}

// remove deletes the source file with Move.
func (im *importer) remove(c candidate) error {
	if !im.opts.Move || c.outside {
		return nil
	}
	if err := os.Remove(c.path); err != nil {
		return fmt.Errorf("import: move: %w", err)
	}
	return nil
}

// skip lists c as skipped for err.
func (im *importer) skip(c candidate, size int64, err error) {
	im.rep.Skipped = append(im.rep.Skipped, Skip{Path: c.path, Size: size, Reason: err.Error(), Err: err})
}
