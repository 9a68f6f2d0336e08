package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"lazymirror/cache"
	"lazymirror/config"
	"lazymirror/index"
	"lazymirror/stats"
	"lazymirror/store"
)

const gcHelp = `Usage: lazymirror gc [flags]

Drop what no retained snapshot needs: snapshots older than the previous one
of each root, index entries for paths neither the current nor the previous
snapshot lists (superseded package versions), and then the blobs nothing
points at any more, once stored longer than --older-than. Eviction keeps the
store under max_size on its own; gc frees what will never be asked for again.

With a server running on the data directory, gc asks it (POST /_/gc, which
answers loopback clients, or others sending LAZYMIRROR_ADMIN_TOKEN).

Flags:
`

func runGC(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("gc", gcHelp, stderr)
	var dd dataDirFlags
	dd.register(fs)
	olderThan := fs.Duration("older-than", 24*time.Hour, "spare blobs stored more recently than this `age`")
	dryRun := fs.Bool("dry-run", false, "report what would be dropped; change nothing")
	server := fs.String("server", "", "ask the lazymirror at this `URL` (default: when serve holds the data directory, the config's listen address)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if done, err := parseFlags(fs, args); done {
		return err
	}
	cfg, _, err := dd.load(getenv, true)
	if err != nil {
		return err
	}
	opts := cache.GCOptions{OlderThan: *olderThan, DryRun: *dryRun}
	q := url.Values{"older_than": {opts.OlderThan.String()}}
	if opts.DryRun {
		q.Set("dry_run", "1")
	}
	rep, err := onCache(ctx, cfg, *server, getenv("LAZYMIRROR_ADMIN_TOKEN"), "/_/gc", q,
		func(c *cache.Cache) (cache.GCReport, error) { return c.GC(ctx, opts) })
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, rep)
	}
	verb := "dropped"
	if *dryRun {
		verb = "would drop"
	}
	fmt.Fprintf(stdout, "%s %d snapshots, %d entries, %d blobs (%s)\n", verb, rep.Snapshots, rep.Entries, rep.Blobs, stats.FormatBytes(rep.Bytes))
	for _, s := range rep.Skipped {
		fmt.Fprintf(stdout, "skipped %s\n", s)
	}
	return nil
}

// onCache runs op on the cache of the data directory, or, when serve holds
// that directory (or server names one), asks the server to: POST path?q,
// whose JSON answer is op's result.
func onCache[R any](ctx context.Context, cfg *config.Config, server, token, path string, q url.Values, op func(*cache.Cache) (R, error)) (R, error) {
	if server == "" {
		rep, err := onLocalCache(ctx, cfg, op)
		if !errors.Is(err, store.ErrLocked) && !errors.Is(err, index.ErrLocked) {
			return rep, err
		}
		server = "http://" + dialable(cfg.Listen)
	}
	var rep R
	err := adminCall(ctx, http.MethodPost, strings.TrimSuffix(server, "/")+path+"?"+q.Encode(), token, &rep)
	return rep, err
}

// onLocalCache opens the data directory's cache and runs op on it.
func onLocalCache[R any](ctx context.Context, cfg *config.Config, op func(*cache.Cache) (R, error)) (R, error) {
	var zero R
	st, idx, closeData, err := openData(cfg.DataDir)
	if err != nil {
		return zero, err
	}
	defer closeData()
	c, err := cache.New(context.WithoutCancel(ctx), cache.Options{Store: st, Index: idx, Config: cfg})
	if err != nil {
		return zero, err
	}
	defer c.Close(ctx)
	return op(c)
}
