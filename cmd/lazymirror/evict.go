package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"

	"lazymirror/cache"
	"lazymirror/config"
	"lazymirror/stats"
)

const evictHelp = `Usage: lazymirror evict --to SIZE [flags]

Evict stored blobs now until the store holds no more than SIZE (50GiB,
500MB, or bytes), in the order max_size eviction uses:

  lfuda (the default eviction policy): the least frequently used first;
        dynamic aging lets blobs hit often long ago go before ones hit
        recently. Ties: the least recently used first.
  lru:  the least recently used first.

Never evicted: the metadata the current and previous snapshots of each
repository need (InRelease, Release, Packages, repomd.xml, primary.xml...)
and blobs a client is reading. When those alone exceed SIZE, the store
stays above it and the report says what is left. An evicted package is
fetched from upstream again when a client next asks for it.

You do not need this to stay under max_size: the server evicts down to 90%
of it on its own after the download that crosses it. Use evict to make
room now, or --dry-run to see what the policy would drop first.

With a server running on the data directory, evict asks it (POST /_/evict,
which answers loopback clients, or others sending LAZYMIRROR_ADMIN_TOKEN).

Flags:
`

func runEvict(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("evict", evictHelp, stderr)
	var dd dataDirFlags
	dd.register(fs)
	toFlag := fs.String("to", "", "bring the store down to this `size` (50GiB, 500MB, bytes); required")
	dryRun := fs.Bool("dry-run", false, "report what would be evicted, in order; change nothing")
	server := fs.String("server", "", "ask the lazymirror at this `URL` (default: when serve holds the data directory, the config's listen address)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if done, err := parseFlags(fs, args); done {
		return err
	}
	to, err := config.ParseSize(*toFlag)
	if *toFlag == "" {
		err = errors.New("name the size to bring the store down to, such as --to 50GiB")
	}
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err != nil {
		fmt.Fprintf(stderr, "lazymirror evict: %v\n\n", err)
		fs.Usage()
		return errUsage
	}
	cfg, _, err := dd.load(getenv, true)
	if err != nil {
		return err
	}
	q := url.Values{"to": {strconv.FormatInt(to, 10)}}
	if *dryRun {
		q.Set("dry_run", "1")
	}
	rep, err := onCache(ctx, cfg, *server, getenv("LAZYMIRROR_ADMIN_TOKEN"), "/_/evict", q,
		func(c *cache.Cache) (cache.EvictReport, error) { return c.EvictTo(ctx, to, *dryRun) })
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, rep)
	}
	if *dryRun {
		fmt.Fprintf(stdout, "would evict %d blobs (%s), store would be %s\n", rep.Blobs, stats.FormatBytes(rep.Bytes), stats.FormatBytes(rep.Left))
		for _, b := range rep.Evicted {
			fmt.Fprintf(stdout, "  %s %s, %d hits, last %s\n", b.Digest, stats.FormatBytes(b.Size), b.Hits, b.LastAccess.Format("2006-01-02 15:04"))
		}
	} else {
		fmt.Fprintf(stdout, "evicted %d blobs (%s), store now %s\n", rep.Blobs, stats.FormatBytes(rep.Bytes), stats.FormatBytes(rep.Left))
	}
	if rep.Left > rep.Limit {
		fmt.Fprintf(stdout, "still over %s: the rest is snapshot metadata and blobs clients are reading\n", stats.FormatBytes(rep.Limit))
	}
	return nil
}
