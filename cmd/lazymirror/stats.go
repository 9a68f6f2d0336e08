package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"lazymirror/config"
	"lazymirror/index"
	"lazymirror/stats"
)

const statsHelp = `Usage: lazymirror stats [flags]

Print what lazymirror has saved: requests, hits and misses, bytes served and
fetched, blobs and bytes stored, paths known, and deduplication (paths that
share a blob, bytes saved, the most shared blobs), per repo and per mirror.

A running server holds the index; stats then asks it (its /_/stats endpoint,
which answers loopback clients, or others sending the admin token from
LAZYMIRROR_ADMIN_TOKEN). With no server running it reads the index itself.

`

func runStats(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("stats", statsHelp, stderr)
	var dd dataDirFlags
	dd.register(fs)
	serverURL := fs.String("server", "", "ask the lazymirror at this `URL` (default: read the data directory; when a running server holds it, ask that server at the config's listen address)")
	asJSON := fs.Bool("json", false, "print JSON for scripts instead of tables")
	fresh := fs.Bool("fresh", false, "from a server: wait for figures computed now (it otherwise answers at once, with figures at most 10s behind the traffic, or 20 times the time a computation takes on an index so large that this is longer)")
	if done, err := parseFlags(fs, args); done {
		return err
	}
	cfg, _, err := dd.load(getenv, true)
	if err != nil {
		return err
	}
	var rep *stats.Report
	if *serverURL != "" {
		rep, err = fetchReport(ctx, *serverURL, *fresh, getenv("LAZYMIRROR_ADMIN_TOKEN"))
	} else {
		rep, err = readReport(cfg)
		if errors.Is(err, index.ErrLocked) {
			rep, err = fetchReport(ctx, "http://"+dialable(cfg.Listen), *fresh, getenv("LAZYMIRROR_ADMIN_TOKEN"))
		}
	}
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return rep.WriteText(stdout)
}

// readReport computes the report from the index when no server holds it.
func readReport(cfg *config.Config) (*stats.Report, error) {
	idx, err := index.Open(filepath.Join(cfg.DataDir, "index.db"), index.Options{Timeout: 200 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	defer idx.Close()
	repos := make([]string, len(cfg.Repos))
	for i, r := range cfg.Repos {
		repos[i] = r.Name
	}
	if len(repos) == 0 {
		// Without a config, every repo the index knows.
		if repos, err = idx.Repos(); err != nil {
			return nil, err
		}
	}
	// The report the server left when it stopped, if nothing changed since.
	if rep, err := stats.Load(idx); err != nil || rep != nil {
		return rep, err
	}
	return stats.Compute(idx, repos, nil, time.Now())
}

// fetchReport asks a running server for its report (fresh: computed now).
func fetchReport(ctx context.Context, base string, fresh bool, token string) (*stats.Report, error) {
	u := strings.TrimSuffix(base, "/") + "/_/stats"
	if fresh {
		u += "?fresh=1"
	}
	var rep stats.Report
	if err := adminCall(ctx, http.MethodGet, u, token, &rep); err != nil {
		return nil, err
	}
	return &rep, nil
}

// adminCall calls an admin endpoint of a running server and decodes its
// JSON answer into out. token is the server's admin_token, for a server
// that is not on this host.
func adminCall(ctx context.Context, method, u, token string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("the data directory is held by a running server, and asking it failed: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s (from another host, set LAZYMIRROR_ADMIN_TOKEN to the admin_token)", req.URL.Redacted(), resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("read %s: %w", req.URL.Redacted(), err)
	}
	return nil
}

// dialable turns a listen address into one to connect to (":8080" → "127.0.0.1:8080").
func dialable(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
