package repomd

import (
	"context"
	"errors"
	"fmt"
	"io"

	"lazymirror/checksum"
	"lazymirror/internal/ctxio"
	"lazymirror/internal/decompress"
)

// Verify reads r to the end and checks it against the record's Size (when
// known) and Checksum. A mismatch is an error wrapping ErrSize or
// ErrChecksum that says what was expected and what was read; it stops
// reading one byte past the expected size.
func (d Data) Verify(ctx context.Context, r io.Reader) error {
	v := checksum.NewVerifier(d.Checksum, d.Size)
	src := ctxio.Reader(ctx, r)
	if d.Size >= 0 {
		src = io.LimitReader(src, d.Size+1) // one byte more is a mismatch already
	}
	if _, err := io.Copy(v, src); err != nil {
		return fmt.Errorf("verify %s: %w", d.Location, err)
	}
	if err := v.Check(); err != nil {
		return fmt.Errorf("verify %s: %w", d.Location, err)
	}
	return nil
}

// VerifyOpen decompresses r (the file as stored; format from its magic
// bytes) and checks the content against OpenSize and OpenChecksum, as
// ParsePrimaryFile does. It returns nil without reading when the record
// announces neither. Zchunk files fail with an error wrapping
// decompress.ErrUnsupported.
func (d Data) VerifyOpen(ctx context.Context, r io.Reader) error {
	if d.OpenChecksum.IsZero() && d.OpenSize < 0 {
		return nil
	}
	err := readOpen(ctx, r, d.Location, d.OpenChecksum, d.OpenSize, func(io.Reader) error { return nil })
	if err != nil {
		return fmt.Errorf("verify %s (decompressed): %w", d.Location, err)
	}
	return nil
}

// readOpen decompresses r (format from its magic bytes; name is for
// messages) in a goroutine ahead of parse (decompress.ReadAhead), hashing
// on the way, and passes parse the content. Whatever parse leaves unread
// is read, and the whole is checked against sum (unless zero) and size
// (unless < 0): a mismatch is an error wrapping ErrChecksum or ErrSize.
// Decompression stops one byte past size, which bounds decompression
// bombs. A done ctx fails the next read of r.
func readOpen(ctx context.Context, r io.Reader, name string, sum checksum.Sum, size int64, parse func(io.Reader) error) error {
	limit := int64(0) // decompress.DefaultLimit
	if size >= 0 {
		limit = max(size, 1) // 0 would mean the default; a byte past 0 fails Check
	}
	dec, err := decompress.Open(ctxio.Reader(ctx, r), name, limit)
	if err != nil {
		return err
	}
	defer dec.Close()
	v := checksum.NewVerifier(sum, size)
	ra := decompress.ReadAhead(io.TeeReader(dec, v), 256<<10, 4)
	defer ra.Close() // before dec.Close: it waits for the goroutine reading dec
	err = parse(ra)
	if err == nil {
		_, err = io.Copy(io.Discard, ra)
	}
	if err == nil {
		// The read-ahead goroutine has returned io.EOF: it writes v no more.
		err = v.Check()
	}
	if size >= 0 && errors.Is(err, decompress.ErrTooLarge) {
		err = fmt.Errorf("%w: %w", ErrSize, err)
	}
	return err
}
