package store

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"lazymirror/checksum"
)

// writer states, guarded by Writer.mu.
const (
	writing = iota
	// verified: every byte is written and matches; the blob is being made
	// durable. Followers may end: what they read is the blob.
	verified
	committed
	aborted
)

// Writer writes one blob to a temp file, hashing the bytes as they arrive,
// and commits it under its SHA-256. Write, Commit and Abort are for one
// goroutine (the one filling the blob); NewReader and the Followers it
// returns may be used from any goroutine.
type Writer struct {
	s     *Store
	f     *os.File // the temp file, written sequentially
	want  checksum.Digest
	name  string               // for error messages: want, or "of unknown sha256"
	size  int64                // expected size, -1 when unknown
	sha   hash.Hash            // SHA-256 of the bytes written
	extra []*checksum.Verifier // further expected sums
	n     atomic.Int64         // bytes written so far; followers read up to it
	wait  atomic.Bool          // a follower waits on wake: the next Write must close it
	mu    sync.Mutex           // guards the fields below
	wake  chan struct{}        // closed (and set to nil) when n grows or the state changes
	state int                  // writing, verified, committed or aborted
	path  string               // where followers open the blob: the temp file, then the final one
	err   error                // why the write was aborted
}

// Create returns a Writer for a blob expected to have SHA-256 want and size
// bytes (size -1 when unknown). A zero want means the digest is not known;
// Commit then stores the blob under the digest it computes. extra are further
// checksums (the upstream's SHA-1 or MD5, say) that Commit verifies from the
// same pass over the bytes; an extra of an unknown algorithm is an error.
func (s *Store) Create(want checksum.Digest, size int64, extra ...checksum.Sum) (*Writer, error) {
	w := &Writer{s: s, want: want, name: want.String(), size: size, sha: checksum.SHA256.New()}
	if want.IsZero() {
		w.name = "of unknown sha256"
	}
	for _, e := range extra {
		if e.Algo.Size() == 0 {
			return nil, fmt.Errorf("create blob %s: extra sum %s: %w", w.name, e, checksum.ErrUnknownAlgo)
		}
		w.extra = append(w.extra, checksum.NewVerifier(e, -1))
	}
	f, err := os.CreateTemp(s.tmp, "blob-*")
	if err != nil {
		return nil, fmt.Errorf("create blob %s: %w", w.name, err)
	}
	w.f, w.path = f, f.Name()
	return w, nil
}

// CreateUnknown returns a Writer for content whose SHA-256 and size are not
// known; Commit stores it under the digest it computes. extra are checked as
// for Create (e.g. the only checksum old repomd metadata gives: SHA-1).
func (s *Store) CreateUnknown(extra ...checksum.Sum) (*Writer, error) {
	return s.Create(checksum.Digest{}, -1, extra...)
}

// Write writes p to the temp file and hashes it. It fails with an error
// wrapping ErrSizeMismatch, before writing anything, when p would take the
// blob past its expected size. Any failure (including a full disk) aborts
// the Writer: the temp file is dropped and followers get the error.
func (w *Writer) Write(p []byte) (int, error) {
	n := w.n.Load()
	if w.f == nil {
		return 0, w.closedErr()
	}
	if w.size >= 0 && n+int64(len(p)) > w.size {
		err := fmt.Errorf("write blob %s: expected %d bytes, got at least %d: %w", w.name, w.size, n+int64(len(p)), ErrSizeMismatch)
		w.Abort(err)
		return 0, err
	}
	var m int
	var err error
	if len(p) < parallelMin {
		m, err = w.f.Write(p)
		w.hash(p)
	} else {
		// Copying into the page cache costs about as much as SHA-256:
		// do both at once.
		var wg sync.WaitGroup
		wg.Go(func() { m, err = w.f.Write(p) })
		w.hash(p)
		wg.Wait()
	}
	if err != nil {
		err = fmt.Errorf("write blob %s: %w", w.name, err)
		w.Abort(err)
		return m, err
	}
	w.n.Store(n + int64(m))
	if w.wait.Load() {
		w.mu.Lock()
		w.wakeLocked()
		w.mu.Unlock()
	}
	return m, nil
}

// parallelMin is the smallest Write that hashes in parallel with writing
// the file; below it a goroutine hand-off costs more than it saves.
const parallelMin = 64 << 10

// hash feeds p to the SHA-256 and every extra hash.
func (w *Writer) hash(p []byte) {
	w.sha.Write(p)
	for _, v := range w.extra {
		v.Write(p)
	}
}

// Written returns the number of bytes written so far.
func (w *Writer) Written() int64 { return w.n.Load() }

// Verify checks what was written so far against the expected size and every
// expected checksum, as Commit will, without ending the write: followers go
// on waiting for Commit or Abort. It lets the caller act on the outcome
// (credit or charge the source of the bytes) before any follower can see
// the end of the blob. A mismatch wraps ErrSizeMismatch or
// ErrDigestMismatch; the caller then aborts.
func (w *Writer) Verify() error {
	if w.f == nil {
		return w.closedErr()
	}
	return w.verify(checksum.Digest(w.sha.Sum(nil)))
}

// Commit verifies the size and every expected checksum, then makes the blob
// durable and visible under its SHA-256 (see the package doc) and returns
// that digest. A blob already present (a concurrent writer won) is success
// when it has the verified size; a file of another size under the blob's
// name is corrupt and is replaced with the verified one.
// On a mismatch it drops the temp file, hands followers the error and
// returns it, wrapping ErrSizeMismatch or ErrDigestMismatch, with the
// expected and actual values in its text. When storing fails (fsync, rename)
// it returns that error, followers get it, and the blob is not known to be
// durable, though it may be visible (with the right bytes).
func (w *Writer) Commit() (checksum.Digest, error) {
	if w.f == nil {
		return checksum.Digest{}, w.closedErr()
	}
	d := checksum.Digest(w.sha.Sum(nil))
	if err := w.verify(d); err != nil {
		w.Abort(err)
		return checksum.Digest{}, err
	}
	// Followers need not wait for the fsync: the bytes are verified.
	w.mu.Lock()
	w.state = verified
	w.wakeLocked()
	w.mu.Unlock()
	f := w.f
	w.f = nil
	if err := w.s.durable(f, w.path, d); err != nil {
		w.fail(err)
		return checksum.Digest{}, err
	}
	// Rename under mu, so that NewReader opens the temp file before the
	// rename and the final one after it.
	w.mu.Lock()
	final, err := w.s.place(w.path, d, w.n.Load())
	if err == nil {
		w.path = final
	}
	w.mu.Unlock()
	if err == nil {
		err = w.s.syncBlobDir(d)
	}
	if err != nil { // the blob may be visible, but it is not known to be durable
		w.fail(err)
		return checksum.Digest{}, err
	}
	w.mu.Lock()
	w.state = committed
	w.wakeLocked()
	w.mu.Unlock()
	return d, nil
}

// fail ends the write with err: waiting and later followers get it.
func (w *Writer) fail(err error) {
	w.mu.Lock()
	w.state, w.err = aborted, err
	w.wakeLocked()
	w.mu.Unlock()
}

// verify checks what was written against the expected size and sums.
func (w *Writer) verify(d checksum.Digest) error {
	n := w.n.Load()
	if w.size >= 0 && n != w.size {
		return fmt.Errorf("commit blob %s: expected %d bytes, got %d: %w", w.name, w.size, n, ErrSizeMismatch)
	}
	if !w.want.IsZero() && d != w.want {
		return fmt.Errorf("commit blob: sha256 expected %s, got %s: %w", w.want, d, ErrDigestMismatch)
	}
	for _, v := range w.extra {
		if err := v.Check(); err != nil {
			return fmt.Errorf("commit blob %s: %w: %w", d, ErrDigestMismatch, err)
		}
	}
	return nil
}

// Abort drops the temp file; followers' reads then fail with err wrapped
// (ErrAborted when err is nil). It is idempotent and a no-op after Commit.
func (w *Writer) Abort(err error) {
	if w.f == nil {
		return
	}
	if err == nil {
		err = ErrAborted
	}
	w.fail(err)
	w.f.Close()
	os.Remove(w.path)
	w.f = nil
}

// closedErr is the error for Write or Commit after Commit or Abort.
func (w *Writer) closedErr() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state == aborted {
		return fmt.Errorf("%w: %w", ErrClosed, w.err)
	}
	return ErrClosed
}

// wakeLocked wakes every waiting follower. Call with mu held.
func (w *Writer) wakeLocked() {
	if w.wake != nil {
		close(w.wake)
		w.wake = nil
	}
	w.wait.Store(false)
}

// NewReader returns a Follower of the blob, usable before, during or after
// Commit or Abort. It is NewReaderContext with a background context.
func (w *Writer) NewReader() *Follower {
	return w.NewReaderContext(context.Background())
}

// NewReaderContext returns a Follower that reads the blob as it is written.
// While it waits for more bytes, ctx being done makes Read return ctx.Err().
func (w *Writer) NewReaderContext(ctx context.Context) *Follower {
	fl := &Follower{w: w, ctx: ctx}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state == aborted {
		fl.err = fmt.Errorf("follow blob: %w", w.err)
		return fl
	}
	fl.f, fl.err = openRead(w.path)
	if fl.err != nil {
		fl.err = fmt.Errorf("follow blob: %w", fl.err)
	}
	return fl
}

// Follower reads a blob while a Writer writes it, through its own file
// descriptor. It implements io.ReadCloser and io.WriterTo; WriterTo hands the
// file to the destination, so that copying to a TCP connection (or an
// http.ResponseWriter on one) uses sendfile.
type Follower struct {
	w   *Writer
	ctx context.Context
	f   *os.File
	off int64 // bytes read so far
	err error // sticky error from opening
}

// avail waits until there are bytes past the follower's offset and returns
// how many, or returns io.EOF once Commit verified the blob and every byte has been read,
// the writer's error after an abort, or ctx's error.
//
// Until Commit has verified the blob, the last byte written is held back:
// a follower copying to a client can then never complete a response (its
// Content-Length, or the end of its chunks) with bytes that fail the check,
// however fast the transfer ended; the check failing breaks it instead.
func (fl *Follower) avail() (int64, error) {
	for {
		if fl.err != nil {
			return 0, fl.err
		}
		w := fl.w
		if n := w.n.Load() - 1; n > fl.off { // held back whatever the state: see below
			return n - fl.off, nil
		}
		w.mu.Lock()
		state, err := w.state, w.err
		if state == writing {
			if w.wake == nil {
				w.wake = make(chan struct{})
			}
			w.wait.Store(true) // before loading n again: a Write either sees it or we see its n
		}
		wake := w.wake
		n := w.n.Load()
		w.mu.Unlock()
		if state == writing {
			n-- // the last byte waits for the check
		}
		switch {
		case state == aborted:
			return 0, fmt.Errorf("follow blob: %w", err)
		case n > fl.off:
			return n - fl.off, nil
		case state == verified || state == committed:
			return 0, io.EOF
		}
		select {
		case <-wake:
		case <-fl.ctx.Done():
			return 0, fl.ctx.Err()
		}
	}
}

// Size is the blob's expected size as given to Create, or -1 when unknown.
func (fl *Follower) Size() int64 { return fl.w.size }

// Read reads the next bytes of the blob, waiting for the writer when it has
// read everything written so far but the last byte, which it gets once
// Commit has verified the bytes (not waiting for the fsync that follows).
// It returns io.EOF only after that, and an error
// wrapping the writer's error after an abort.
func (fl *Follower) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, err := fl.avail()
	if err != nil {
		return 0, err
	}
	m, err := fl.f.Read(p[:min(int64(len(p)), n)])
	fl.off += int64(m)
	if err == io.EOF { // the file is shorter than the writer said: never a clean end
		err = io.ErrUnexpectedEOF
	}
	return m, err
}

// WriteTo copies the blob to dst as it is written, with the same ending as
// Read (but nil instead of io.EOF).
func (fl *Follower) WriteTo(dst io.Writer) (int64, error) {
	var total int64
	for {
		n, err := fl.avail()
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		lr := &io.LimitedReader{R: fl.f, N: n}
		m, err := io.Copy(dst, lr)
		fl.off += m
		total += m
		if err != nil {
			return total, err
		}
		if lr.N > 0 {
			return total, io.ErrUnexpectedEOF
		}
	}
}

// Close closes the follower's descriptor.
func (fl *Follower) Close() error {
	if fl.f == nil {
		return nil
	}
	return fl.f.Close()
}
