package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"lazymirror/ops"
	"lazymirror/stats"
)

const verifyHelp = `Usage: lazymirror verify [flags]

Re-read every stored blob and check that its bytes still have the sha256 it
is stored under (disks and people do damage files), that every blob the
index records is on disk, and that every blob on disk is recorded (a crash
can leave one unrecorded: eviction and stats then never see it). It reads
about as fast as sha256sum, one file at a time.

Without --repair it only reports. With --repair, each corrupt blob is moved
to DATA_DIR/quarantine/ (for a post-mortem; delete it when done) and its
index record deleted, as is the record of each missing blob: the next client
request for such a file fetches it again from upstream, verified against the
repository metadata. Each sound unrecorded blob is recorded again.

Stop "lazymirror serve" on the same data directory first: it holds the
directory while it runs.

Exit status: 0 when every blob is sound, 1 when a blob was corrupt, missing
or unrecorded (also when --repair fixed it) or on an error, 2 for a bad
command line.

Examples:
  lazymirror verify --data-dir /srv/lazymirror
  lazymirror verify --config /etc/lazymirror.yaml --repair --json

Flags:
`

// verifyJSON is verify's --json report.
type verifyJSON struct {
	Checked  ops.Count     `json:"checked"`
	Corrupt  []corruptJSON `json:"corrupt"`
	Missing  []string      `json:"missing"`    // sha256 hex
	Orphans  []string      `json:"unrecorded"` // sha256 hex
	Repaired bool          `json:"repaired"`
}

// corruptJSON is one corrupt blob in verifyJSON.
type corruptJSON struct {
	SHA256      string `json:"sha256"`
	Size        int64  `json:"size"`
	Reason      string `json:"reason"`
	Quarantined string `json:"quarantined,omitempty"`
}

func runVerify(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("verify", verifyHelp, stderr)
	var dd dataDirFlags
	dd.register(fs)
	repair := fs.Bool("repair", false, "quarantine corrupt blobs and drop the index records of corrupt and missing ones, so they are fetched again; record unrecorded sound ones")
	asJSON := fs.Bool("json", false, "print the report as JSON on stdout (for scripts)")
	if done, err := parseFlags(fs, args); done {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "lazymirror verify: unexpected argument %q\n\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	dir, st, idx, closeData, err := dd.open(getenv)
	if err != nil {
		return err
	}
	defer closeData()

	prog, done := progressOutput(stderr, "verify")
	rep, err := ops.Verify(ctx, st, idx, ops.VerifyOptions{Repair: *repair, QuarantineDir: filepath.Join(dir, "quarantine"), Progress: prog})
	done()
	if *asJSON {
		out := verifyJSON{Checked: rep.Checked, Corrupt: []corruptJSON{}, Missing: []string{}, Orphans: []string{}, Repaired: *repair}
		for _, c := range rep.Corrupt {
			out.Corrupt = append(out.Corrupt, corruptJSON{SHA256: c.Digest.String(), Size: c.Size, Reason: c.Reason, Quarantined: c.Quarantined})
		}
		for _, d := range rep.Missing {
			out.Missing = append(out.Missing, d.String())
		}
		for _, d := range rep.Orphans {
			out.Orphans = append(out.Orphans, d.String())
		}
		if jerr := writeJSON(stdout, out); jerr != nil && err == nil {
			err = jerr
		}
	} else {
		fmt.Fprintf(stdout, "checked: %d blobs, %s\ncorrupt: %d\nmissing: %d\nunrecorded: %d\n", rep.Checked.Files, stats.FormatBytes(rep.Checked.Bytes), len(rep.Corrupt), len(rep.Missing), len(rep.Orphans))
		for _, c := range rep.Corrupt {
			fmt.Fprintf(stdout, "corrupt %s (%s): %s", c.Digest, stats.FormatBytes(c.Size), c.Reason)
			if c.Quarantined != "" {
				fmt.Fprintf(stdout, "; moved to %s", c.Quarantined)
			}
			fmt.Fprintln(stdout)
		}
		for _, d := range rep.Missing {
			fmt.Fprintf(stdout, "missing %s\n", d)
		}
		for _, d := range rep.Orphans {
			fmt.Fprintf(stdout, "unrecorded %s\n", d)
		}
		if *repair && len(rep.Corrupt)+len(rep.Missing) > 0 {
			fmt.Fprintln(stdout, "repaired: the index no longer records the corrupt and missing blobs; the next request for them fetches them again")
		}
		if *repair && len(rep.Orphans) > 0 {
			fmt.Fprintln(stdout, "repaired: the index records the unrecorded blobs again")
		}
	}
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if n := len(rep.Corrupt) + len(rep.Missing) + len(rep.Orphans); n > 0 {
		if *repair {
			return fmt.Errorf("verify: %d blobs were corrupt, missing or unrecorded (repaired)", n)
		}
		return fmt.Errorf("verify: %d blobs are corrupt, missing or unrecorded; run lazymirror verify --repair", n)
	}
	return nil
}
