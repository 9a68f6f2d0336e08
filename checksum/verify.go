package checksum

import (
	"bytes"
	"errors"
	"fmt"
	"hash"
)

// Errors a Verifier's Check returns, wrapped with the expected and actual values.
var (
	// ErrSizeMismatch means the bytes did not have the expected size.
	ErrSizeMismatch = errors.New("size mismatch")
	// ErrSumMismatch means the bytes did not have the expected checksum.
	ErrSumMismatch = errors.New("checksum mismatch")
)

// Verifier counts and hashes the bytes written to it, to check them against
// an expected size and checksum. Put it behind an io.TeeReader or in an
// io.MultiWriter on the way to wherever the bytes go, then call Check once
// they have all passed. A Verifier is for one goroutine.
type Verifier struct {
	want Sum
	size int64     // expected size, < 0 when not checked
	h    hash.Hash // nil when want is the zero Sum
	n    int64
}

// NewVerifier returns a Verifier expecting the checksum want (the zero Sum:
// no checksum check) and size bytes (size < 0: no size check).
func NewVerifier(want Sum, size int64) *Verifier {
	v := &Verifier{want: want, size: size}
	if !want.IsZero() {
		v.h = want.Algo.New()
	}
	return v
}

// Write counts and hashes p. It never fails.
func (v *Verifier) Write(p []byte) (int, error) {
	v.n += int64(len(p))
	if v.h != nil {
		v.h.Write(p)
	}
	return len(p), nil
}

// Written returns the number of bytes written so far.
func (v *Verifier) Written() int64 { return v.n }

// Check compares the bytes written so far with the expected size, then with
// the expected checksum. A mismatch is an error wrapping ErrSizeMismatch
// ("size N, want M") or ErrSumMismatch ("<algo> <hex>, want <hex>"); when the
// size is wrong the checksum is not compared.
func (v *Verifier) Check() error {
	if v.size >= 0 && v.n != v.size {
		return fmt.Errorf("size %d, want %d: %w", v.n, v.size, ErrSizeMismatch)
	}
	if v.h == nil {
		return nil
	}
	if got := v.h.Sum(nil); !bytes.Equal(got, v.want.Value) {
		return fmt.Errorf("%s %x, want %s: %w", v.want.Algo, got, v.want.Hex(), ErrSumMismatch)
	}
	return nil
}
