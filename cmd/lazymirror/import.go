package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"lazymirror/config"
	"lazymirror/index"
	"lazymirror/ops"
	"lazymirror/stats"
	"lazymirror/store"
)

const importHelp = `Usage: lazymirror import [flags] PATH...

Seed the mirror with .rpm, .deb and .udeb files you already have (a DVD, a
host's /var/cache/apt/archives or /var/cache/dnf, a build tree), so clients
get them without a download. PATHs are directories (walked recursively,
following symbolic links) or files. A client's request for a package whose
checksum in the repository metadata matches an imported file is then a
cache hit; imported files that no repository lists are simply never served.

Each file is checked first: junk named like a package and truncated copies
are listed and skipped. Importing the same files again changes nothing (they
are counted as already present).

By default files are cloned into the store where the filesystem shares
blocks copy-on-write (btrfs, XFS: no copy, and the source stays yours to
change), and copied otherwise. A hard link would let a later change to the
source change the stored package too.

Stop "lazymirror serve" on the same data directory first: it holds the
directory while it runs.

Symbolic links are followed: a link to a package is imported as the file it
points to (once, however many links lead to it), a link to a directory is
walked (once: a link back to an ancestor ends there). A link that leads to no
file or directory is listed as skipped, as a warning.

Exit status: 0 when every package file was imported or already present,
1 when some were skipped (they are listed; a symbolic link that cannot be
followed does not count) or on an error, 2 for a bad command line.

Examples:
  lazymirror import --data-dir /srv/lazymirror /var/cache/apt/archives
  lazymirror import --config /etc/lazymirror.yaml --move ~/Downloads/rpms

Flags:
`

func runImport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("import", importHelp, stderr)
	var dd dataDirFlags
	dd.register(fs)
	cp := fs.Bool("copy", false, "always copy files into the store, never clone them")
	move := fs.Bool("move", false, "remove each source file once it is safely stored (also when the store already had it); skipped files, symbolic links and files outside the PATHs stay")
	asJSON := fs.Bool("json", false, "print the report as JSON on stdout (for scripts)")
	if done, err := parseFlags(fs, args); done {
		return err
	}
	if fs.NArg() == 0 {
		fmt.Fprint(stderr, "lazymirror import: name at least one directory or file\n\n")
		fs.Usage()
		return errUsage
	}
	_, st, idx, closeData, err := dd.open(getenv)
	if err != nil {
		return err
	}
	defer closeData()

	prog, done := progressOutput(stderr, "import")
	rep, err := ops.Import(ctx, st, idx, fs.Args(), ops.ImportOptions{Link: !*cp, Move: *move, Progress: prog})
	done()
	if *asJSON {
		if rep.Skipped == nil {
			rep.Skipped = []ops.Skip{}
		}
		if jerr := writeJSON(stdout, rep); jerr != nil && err == nil {
			err = jerr
		}
	} else {
		fmt.Fprintf(stdout, "imported:        %d packages, %s\nalready present: %d packages, %s\nskipped:         %d files\n",
			rep.Imported.Files, stats.FormatBytes(rep.Imported.Bytes), rep.Present.Files, stats.FormatBytes(rep.Present.Bytes), len(rep.Skipped))
		if rep.Ignored > 0 {
			fmt.Fprintf(stdout, "ignored:         %d files not named .rpm, .deb or .udeb\n", rep.Ignored)
		}
		for _, s := range rep.Skipped {
			fmt.Fprintf(stdout, "skipped %s: %s\n", s.Path, s.Reason)
		}
	}
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	failed := 0
	for _, s := range rep.Skipped {
		if !errors.Is(s.Err, ops.ErrBadLink) {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("import: %d files skipped (listed in the report)", failed)
	}
	return nil
}

// dataDirFlags are the flags that say which configuration and data
// directory a command works on, the same for every command.
type dataDirFlags struct {
	config, dataDir, sourcesRoot *string
}

// register adds --config, --data-dir and --sources-root to fs.
func (d *dataDirFlags) register(fs *flag.FlagSet) {
	d.config = fs.String("config", "", "YAML configuration `file`; without it, the repos this host's apt and dnf use")
	d.dataDir = fs.String("data-dir", "", "the data `directory` (overrides the config; default: $LAZYMIRROR_DATA_DIR, else /var/cache/lazymirror as root, ~/.cache/lazymirror otherwise)")
	d.sourcesRoot = fs.String("sources-root", "/", "with no --config: the root `directory` whose etc/apt and etc/yum.repos.d are read")
}

// load reads the configuration: the file --config names, else the one
// discovered from the host's apt and dnf sources (returned too, for its
// client lines and notes; nil with --config). A command that needs no
// repos (repos false) gets the built-in defaults instead of a discovery,
// so that a sources file it may not read cannot stop it. The data
// directory is --data-dir, else the config file's data_dir, else
// $LAZYMIRROR_DATA_DIR, else the default.
func (d *dataDirFlags) load(getenv func(string) string, repos bool) (*config.Config, *config.Discovered, error) {
	var (
		cfg  *config.Config
		disc *config.Discovered
		err  error
	)
	if *d.config != "" {
		if cfg, err = config.Load(*d.config); err != nil {
			return nil, nil, err
		}
	} else {
		cfg = config.Default()
		if repos {
			if disc, err = config.Discover(*d.sourcesRoot, nil); err != nil {
				return nil, nil, err
			}
			cfg = disc.Config
		}
		if v := getenv("LAZYMIRROR_DATA_DIR"); v != "" {
			cfg.DataDir = v
		}
	}
	if *d.dataDir != "" {
		cfg.DataDir = *d.dataDir
	}
	return cfg, disc, nil
}

// open resolves the data directory (see load) and opens its store and
// index, exclusively (see openData).
func (d *dataDirFlags) open(getenv func(string) string) (string, *store.Store, *index.DB, func(), error) {
	cfg, _, err := d.load(getenv, false)
	if err != nil {
		return "", nil, nil, nil, err
	}
	st, idx, closeData, err := openData(cfg.DataDir)
	return cfg.DataDir, st, idx, closeData, err
}

// openData opens the store and index in the data directory dir,
// exclusively. A running serve holds them: the error then says to stop it.
func openData(dir string) (*store.Store, *index.DB, func(), error) {
	st, err := store.Open(dir)
	if errors.Is(err, store.ErrLocked) {
		return nil, nil, nil, fmt.Errorf("data directory %s is in use: stop lazymirror serve first: %w", dir, err)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	idx, err := index.Open(filepath.Join(dir, "index.db"), index.Options{Timeout: time.Second})
	if err != nil {
		st.Close()
		return nil, nil, nil, err
	}
	return st, idx, func() {
		leaveReport(idx)
		idx.Close()
		st.Close()
	}, nil
}

// leaveReport stores the statistics report of the index when the one
// stored is stale (the command wrote to the index since), so that `stats`
// with no server answers from it at once, as it does after serve stops,
// instead of computing it (half a second on a million paths). Best effort:
// stats computes the report when it finds none.
func leaveReport(idx *index.DB) {
	if rep, err := stats.Load(idx); err != nil || rep != nil {
		return
	}
	repos, err := idx.Repos()
	if err != nil {
		return
	}
	if rep, err := stats.Compute(idx, repos, nil, time.Now()); err == nil {
		stats.Save(idx, rep)
	}
}

// progressOutput returns a progress callback and a function to call when
// the work ends: a bar (bytes, rate, time left) when w is a terminal, else
// a plain line at every tenth of the bytes.
func progressOutput(w io.Writer, verb string) (func(ops.Progress), func()) {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		var bar *progressbar.ProgressBar
		return func(p ops.Progress) {
				if bar == nil {
					bar = progressbar.NewOptions64(p.TotalBytes,
						progressbar.OptionSetWriter(w),
						progressbar.OptionSetDescription(verb),
						progressbar.OptionShowBytes(true),
						progressbar.OptionShowTotalBytes(true),
						progressbar.OptionSetPredictTime(true),
						progressbar.OptionUseIECUnits(true),
						progressbar.OptionThrottle(100*time.Millisecond),
					)
				}
				bar.Describe(fmt.Sprintf("%s %d/%d files", verb, p.Files, p.TotalFiles))
				bar.Set64(p.Bytes)
			}, func() {
				if bar != nil {
					bar.Finish()
					fmt.Fprintln(w)
				}
			}
	}
	next := int64(0) // the next tenth to log
	return func(p ops.Progress) {
		if p.TotalBytes == 0 {
			return
		}
		pct := p.Bytes * 100 / p.TotalBytes
		if p.Files < p.TotalFiles {
			pct = min(pct, 99) // 100% is when the last file is done
		}
		if pct/10 < next {
			return
		}
		fmt.Fprintf(w, "%s: %d%%: %d of %d files, %s of %s\n", verb, pct, p.Files, p.TotalFiles, stats.FormatBytes(p.Bytes), stats.FormatBytes(p.TotalBytes))
		next = pct/10 + 1
	}, func() {}
}

// writeJSON writes v to w as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}
