package repomd

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"

	"lazymirror/checksum"
	"lazymirror/internal/decompress"
)

// Verify reads r to the end and checks it against the record's Size (when
// known) and Checksum. A mismatch is an error wrapping ErrSize or
// ErrChecksum that says what was expected and what was read; it stops
// reading one byte past the expected size.
func (d Data) Verify(ctx context.Context, r io.Reader) error {
	return verifyStream(ctx, r, d.Location, d.Checksum, d.Size)
}

// VerifyOpen decompresses r (the file as stored; format from its magic
// bytes) and checks the content against OpenSize and OpenChecksum. It
// returns nil without reading when the record announces neither. Zchunk
// files fail with an error wrapping decompress.ErrUnsupported.
func (d Data) VerifyOpen(ctx context.Context, r io.Reader) error {
	if d.OpenChecksum.IsZero() && d.OpenSize < 0 {
		return nil
	}
	dec, err := decompress.Open(r, d.Location, 0)
	if err != nil {
		return fmt.Errorf("verify %s: %w", d.Location, err)
	}
	defer dec.Close()
	return verifyStream(ctx, dec, d.Location+" (decompressed)", d.OpenChecksum, d.OpenSize)
}

func verifyStream(ctx context.Context, r io.Reader, name string, sum checksum.Sum, size int64) error {
	v := newVerifier(ctxReader{ctx, r}, name, sum, size)
	if _, err := io.Copy(io.Discard, v); err != nil {
		return fmt.Errorf("verify %s: %w", name, err)
	}
	return v.check()
}

// ctxReader fails reads once ctx is done. It cannot interrupt a Read that
// is already blocked: readers from the network should be bound to ctx too.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// errStopped is what a verifier returns after stop.
var errStopped = errors.New("reader stopped")

// verifier counts and hashes what is read through it and fails with
// ErrSize as soon as more than the expected size has been read (which also
// bounds a decompression bomb). stop makes later reads fail without touching
// the source, so a read-ahead goroutine still using it cannot race with the
// caller closing the source.
type verifier struct {
	r    io.Reader
	name string
	sum  checksum.Sum
	size int64 // expected, -1 if unknown
	h    hash.Hash

	mu      sync.Mutex
	n       int64
	stopped bool
}

func newVerifier(r io.Reader, name string, sum checksum.Sum, size int64) *verifier {
	v := &verifier{r: r, name: name, sum: sum, size: size}
	if !sum.IsZero() {
		v.h = sum.Algo.New()
	}
	return v
}

func (v *verifier) Read(p []byte) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.stopped {
		return 0, errStopped
	}
	n, err := v.r.Read(p)
	v.n += int64(n)
	if v.h != nil {
		v.h.Write(p[:n])
	}
	if v.size >= 0 && v.n > v.size {
		return n, fmt.Errorf("%s: want %d bytes, got more: %w", v.name, v.size, ErrSize)
	}
	return n, err
}

// stop waits for a read in progress and makes later reads fail.
func (v *verifier) stop() {
	v.mu.Lock()
	v.stopped = true
	v.mu.Unlock()
}

// check compares what was read, to the end, with the expected size and
// sum. When both differ, the error wraps both ErrSize and ErrChecksum.
func (v *verifier) check() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	var errs []error
	if v.size >= 0 && v.n != v.size {
		errs = append(errs, fmt.Errorf("%s: want %d bytes, got %d: %w", v.name, v.size, v.n, ErrSize))
	}
	if v.h != nil {
		if got := (checksum.Sum{Algo: v.sum.Algo, Value: v.h.Sum(nil)}); !got.Equal(v.sum) {
			errs = append(errs, fmt.Errorf("%s: want %s, got %s: %w", v.name, v.sum, got, ErrChecksum))
		}
	}
	return errors.Join(errs...)
}
