package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"lazymirror/cache"
	"lazymirror/config"
	"lazymirror/index"
	"lazymirror/server"
	"lazymirror/store"
)

const serveHelp = `Usage: lazymirror serve [flags]

Run the mirror. Clients use http://HOST:PORT/<repo>/ as their mirror URL,
or a virtual host name from the config.

`

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", serveHelp, stderr)
	var dd dataDirFlags
	dd.register(fs)
	listen := fs.String("listen", "", "listen `address` (overrides the config; default :8080)")
	logLevel := fs.String("log-level", "info", "log `level`: debug, info, warn, error")
	grace := fs.Duration("shutdown-grace", 20*time.Second, "on SIGINT/SIGTERM, how long running requests and downloads get to finish before they are dropped (cleanly: nothing half-written stays)")
	if done, err := parseFlags(fs, args); done {
		return err
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))

	cfg, disc, err := dd.load(getenv, true)
	if err != nil {
		return err
	}
	if disc != nil {
		for _, n := range disc.Notes {
			log.Info("sources", "note", n)
		}
	}
	if *listen != "" {
		cfg.Listen = *listen
	}

	st, err := store.Open(cfg.DataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	idx, err := index.Open(filepath.Join(cfg.DataDir, "index.db"), index.Options{Timeout: time.Second})
	if err != nil {
		return err
	}
	defer idx.Close()

	c, err := cache.New(context.WithoutCancel(ctx), cache.Options{Store: st, Index: idx, Config: cfg, Logger: log})
	if err != nil {
		return err
	}
	// Counters reach the index every few seconds, and before the index closes.
	fctx, stopFlush := context.WithCancel(ctx)
	flushed := make(chan struct{})
	go func() { c.FlushEvery(fctx, 5*time.Second); close(flushed) }()
	defer func() { stopFlush(); <-flushed }()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	handler := server.New(c, cfg, log)
	srv := handler.HTTPServer()
	base := "http://" + advertised(ln.Addr().String())
	log.Info("lazymirror serving", "listen", ln.Addr().String(), "data_dir", cfg.DataDir, "repos", len(cfg.Repos))
	if disc != nil {
		if len(cfg.Repos) == 0 {
			fmt.Fprintf(stdout, "No apt or dnf repositories found under %s; nothing to mirror.\nWrite a config file (see README.md) and run: lazymirror serve --config FILE\n", *dd.sourcesRoot)
		} else {
			fmt.Fprintf(stdout, "Point other machines at this mirror with:\n\n%s\n", config.ClientLines(disc, base))
		}
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing requests and downloads", "grace", *grace)
	sctx, cancel := context.WithTimeout(context.Background(), *grace)
	defer cancel()
	// Connections still busy when the grace ends are broken off below: a
	// download the cache drops fails its followers' responses.
	if err := srv.ShutdownWithContext(sctx); err != nil {
		log.Warn("shutdown: requests still running", "err", err)
	}
	handler.Close()
	return c.Close(sctx)
}

// advertised turns a listen address into one clients can use.
func advertised(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		if h, err := os.Hostname(); err == nil {
			host = h
		}
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), port)
}

func runConfig(args []string, stdout, stderr io.Writer) error {
	if len(args) != 2 || args[0] != "check" {
		fmt.Fprint(stderr, "Usage: lazymirror config check FILE\n\nCheck a configuration file: every problem is reported with its file, line and a fix.\n")
		return errUsage
	}
	cfg, err := config.Load(args[1])
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: ok\nlisten %s, data_dir %s\n", args[1], cfg.Listen, cfg.DataDir)
	for _, r := range cfg.Repos {
		var ms []string
		for _, m := range r.Mirrors {
			ms = append(ms, m.String())
		}
		fmt.Fprintf(stdout, "repo %s (%s): %s\n", r.Name, r.Type, strings.Join(ms, " "))
	}
	return nil
}
