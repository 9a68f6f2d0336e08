package ops

import (
	"context"
	"errors"
	"fmt"
	"time"

	"lazymirror/checksum"
	"lazymirror/index"
	"lazymirror/store"
)

// ErrNoQuarantine: VerifyOptions.Repair without a QuarantineDir.
var ErrNoQuarantine = errors.New("repair needs a quarantine directory")

// VerifyOptions control Verify. The zero value only reports.
type VerifyOptions struct {
	// Repair moves corrupt blobs to QuarantineDir and deletes their index
	// records, and deletes the records of missing blobs, so that the next
	// request for them fetches them again; it records sound orphans, so
	// that eviction and statistics count them again. Without it Verify
	// changes nothing.
	Repair bool
	// QuarantineDir receives corrupt blobs with Repair. It must be on the
	// store's filesystem (a rename moves them); lazymirror uses
	// <data_dir>/quarantine.
	QuarantineDir string
	// Progress, when set, is called as blobs are read.
	Progress func(Progress)
}

// VerifyReport is what Verify found (and, with Repair, fixed).
type VerifyReport struct {
	// Checked are the blobs read.
	Checked Count
	// Corrupt are blobs whose bytes do not have the sha256 they are named by.
	Corrupt []Corrupt
	// Missing are blobs the index has a record of but the store lacks.
	Missing []checksum.Digest
	// Orphans are sound blobs the store holds but the index has no record
	// of (a crash between an import's or a download's two steps, or an
	// eviction's, leaves them): eviction and statistics do not see them,
	// so their bytes are never freed.
	Orphans []checksum.Digest
}

// Corrupt is one blob whose content is not what its name says.
type Corrupt struct {
	// Digest is the blob's name; Size its length on disk.
	Digest checksum.Digest
	Size   int64
	// Reason says what is wrong: the sha256 the bytes have, or why they
	// could not be read.
	Reason string
	// Quarantined is where Repair moved the blob ("" without Repair).
	Quarantined string
}

// Verify re-hashes every blob in st and checks that each index.Blob record
// in idx has its blob, and each sound blob its record. It reads one blob at
// a time with a large buffer, so it runs at about the speed of sha256sum
// with flat memory. With opts.Repair it quarantines corrupt blobs, deletes
// the index records of corrupt and missing ones (see the package doc for
// the order), and records orphans. It returns the first store, index or
// quarantine error, or ctx's error when ctx is done, with the report of
// what it found until then.
func Verify(ctx context.Context, st *store.Store, idx *index.DB, opts VerifyOptions) (VerifyReport, error) {
	var rep VerifyReport
	if opts.Repair && opts.QuarantineDir == "" {
		return rep, fmt.Errorf("verify: %w", ErrNoQuarantine)
	}
	m := meter{fn: opts.Progress}
	err := st.Walk(ctx, func(_ checksum.Digest, size int64) error {
		m.p.TotalFiles++
		m.p.TotalBytes += size
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("verify: %w", err)
	}
	buf := make([]byte, bufSize)
	err = st.Walk(ctx, func(d checksum.Digest, size int64) error {
		done := m.p.Bytes
		c, sound, err := verifyBlob(ctx, st, d, buf, &m, opts)
		if err != nil {
			return err
		}
		if c != nil {
			rep.Corrupt = append(rep.Corrupt, *c)
			if opts.Repair {
				if err := idx.DeleteBlob(d); err != nil {
					return fmt.Errorf("verify: %w", err)
				}
			}
		} else if sound {
			if err := orphan(idx, d, m.p.Bytes-done, opts, &rep); err != nil {
				return err
			}
		}
		rep.Checked.add(m.p.Bytes - done)
		m.p.Bytes = done + size
		m.fileDone()
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("verify: %w", err)
	}
	err = idx.Blobs(func(d checksum.Digest, _ index.Blob) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		_, err := st.Stat(d)
		if errors.Is(err, store.ErrNotFound) {
			rep.Missing = append(rep.Missing, d)
			return nil
		}
		return err
	})
	if err != nil {
		return rep, fmt.Errorf("verify: %w", err)
	}
	if opts.Repair {
		for _, d := range rep.Missing {
			if err := idx.DeleteBlob(d); err != nil {
				return rep, fmt.Errorf("verify: %w", err)
			}
		}
	}
	return rep, nil
}

// orphan checks that the sound blob d of size bytes has an index record,
// listing it in rep.Orphans when not, and recording it with opts.Repair.
func orphan(idx *index.DB, d checksum.Digest, size int64, opts VerifyOptions, rep *VerifyReport) error {
	_, err := idx.Blob(d)
	if !errors.Is(err, index.ErrNotFound) {
		if err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		return nil
	}
	rep.Orphans = append(rep.Orphans, d)
	if !opts.Repair {
		return nil
	}
	now := time.Now()
	if err := idx.PutBlob(d, index.Blob{Size: size, Stored: now, LastAccess: now}); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	return nil
}

// verifyBlob hashes blob d and returns what is wrong with it (nil when
// nothing is), quarantining it with opts.Repair; sound says it was read
// and is sound. A blob that cannot be read (EIO from a failing disk, say)
// is corrupt too.
func verifyBlob(ctx context.Context, st *store.Store, d checksum.Digest, buf []byte, m *meter, opts VerifyOptions) (c *Corrupt, sound bool, err error) {
	f, err := st.Open(d)
	if errors.Is(err, store.ErrNotFound) { // removed since the walk listed it
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	m.p.Path = f.Name()
	h := checksum.SHA256.New()
	n, err := hashFile(ctx, f, buf, m, h)
	if cerr := ctx.Err(); cerr != nil {
		return nil, false, cerr
	}
	c = &Corrupt{Digest: d, Size: n}
	switch got := checksum.Digest(h.Sum(nil)); {
	case err != nil:
		c.Reason = fmt.Sprintf("read: %v", err)
	case got != d:
		c.Reason = "content has sha256 " + got.String()
	default:
		return nil, true, nil
	}
	if opts.Repair {
		if c.Quarantined, err = st.Quarantine(d, opts.QuarantineDir); err != nil {
			return nil, false, err
		}
	}
	return c, false, nil
}
