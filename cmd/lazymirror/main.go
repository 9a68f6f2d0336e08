// Command lazymirror is a lazy, content-addressed mirror for yum/dnf and apt
// repositories. Run "lazymirror help" for the subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// errUsage marks a command line that was wrong; the usage was printed.
var errUsage = errors.New("usage")

const usage = `lazymirror — a lazy, content-addressed mirror for yum/dnf and apt.

Clients use it as their mirror (baseurl= in a .repo file, the URL in
sources.list). It fetches a package from an upstream mirror the first time
any client asks, streams it to that client while it is written to disk,
verifies it against the repository metadata, and stores it once however many
mirrors, repos or paths lead to it.

Usage:
  lazymirror serve [--config FILE] [--listen ADDR] [--data-dir DIR]
      Run the mirror. Without --config it mirrors the repositories this
      host's own apt and dnf use, and prints the lines other machines need.
  lazymirror prefetch --repo NAME [--suite S] [--arch A] FILE|-
      Fetch a list of packages (dpkg --get-selections, rpm -qa, names) ahead.
  lazymirror gc [--older-than 24h] [--dry-run]
      Drop superseded snapshots, entries and the blobs only they used.
  lazymirror evict --to SIZE [--dry-run] [--server URL] [--json]
      Evict blobs now, in max_size's policy order, until the store fits SIZE.
  lazymirror stats [--config FILE] [--server URL] [--json]
      What the cache saved: hits, bytes, deduplication, per repo and mirror.
  lazymirror import [--data-dir DIR] [--move] PATH...
      Store .rpm and .deb files you already have, so clients get them as hits.
  lazymirror verify [--data-dir DIR] [--repair]
      Re-hash every stored blob; quarantine corrupt ones so they are refetched.
  lazymirror config check FILE
      Check a configuration file and print what it configures.
  lazymirror help
      This text.

Run "lazymirror COMMAND --help" for a command's flags.
`

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], getenv, stdout, stderr)
	case "import":
		return runImport(ctx, args[1:], getenv, stdout, stderr)
	case "verify":
		return runVerify(ctx, args[1:], getenv, stdout, stderr)
	case "config":
		return runConfig(args[1:], stdout, stderr)
	case "stats":
		return runStats(ctx, args[1:], getenv, stdout, stderr)
	case "gc":
		return runGC(ctx, args[1:], getenv, stdout, stderr)
	case "evict":
		return runEvict(ctx, args[1:], getenv, stdout, stderr)
	case "prefetch":
		return runPrefetch(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "lazymirror: unknown command %q\n\n%s", args[0], usage)
	return errUsage
}

// exitCode maps an error to the process's exit status, printing it.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.Is(err, context.Canceled):
		return 130
	}
	fmt.Fprintf(stderr, "lazymirror: %v\n", err)
	return 1
}

// newFlags returns a subcommand's flag set; its usage is help, then the flags.
func newFlags(name, help string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, help)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses a subcommand's flags. done says the caller returns err
// at once: after --help (nil) or a bad flag (errUsage, the usage printed).
func parseFlags(fs *flag.FlagSet, args []string) (done bool, err error) {
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		return true, nil
	case err != nil:
		return true, errUsage
	}
	return false, nil
}
