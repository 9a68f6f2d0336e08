package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"

	"lazymirror/cache"
	"lazymirror/config"
	"lazymirror/index"
	"lazymirror/ops"
	"lazymirror/pkgspec"
	"lazymirror/prefetch"
	"lazymirror/stats"
	"lazymirror/store"
)

const prefetchHelp = `Usage: lazymirror prefetch --repo NAME [flags] FILE|-

Warm the cache before a fleet needs it: read package names from FILE (or
standard input), resolve each against the repo's metadata, and fetch every
package not cached yet, through the same path clients use.

Each line is one package, in any of the forms you have at hand:
  bash                                  newest version
  bash=5.2.15-2+b2                      that version (apt style)
  libc6:amd64, bash/amd64               that architecture
  bash<TAB>install                      dpkg --get-selections
  bash<TAB>5.2.15-2+b2                  dpkg-query -W
  bash-5.2.26-3.fc40.x86_64             rpm -qa
Comments (#) and blank lines are ignored; lists may mix forms.

Names are resolved in the suites given by --suite (apt: "bookworm", or "./"
and "sub/" for flat repositories; yum: the repo directory inside the mirror
tree, e.g. "releases/40/Everything/x86_64/os"), default the repo's configured
suites. With a running server on the data
directory, prefetch goes through it; otherwise it works on the data
directory itself. Interrupting it loses nothing already fetched; running it
again fetches only what is missing.

Exit status: 0 when every name was found and fetched (or already cached),
1 when some were not found or failed (they are listed), 2 for a bad command line.

Example:
  dpkg --get-selections | ssh cache.lan lazymirror prefetch --config /etc/lazymirror.yaml --repo debian --suite bookworm -

Flags:
`

// errIncomplete means some names were not found or failed; they were listed.
var errIncomplete = errors.New("some packages were not fetched")

func runPrefetch(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("prefetch", prefetchHelp, stderr)
	var dd dataDirFlags
	dd.register(fs)
	repo := fs.String("repo", "", "the `repo` (as named in the config) to prefetch from")
	suites := fs.String("suite", "", "comma-separated `suites` (apt) or yum repo directories to resolve names in (default: the repo's configured suites)")
	arch := fs.String("arch", "", "comma-separated `architectures` to accept (default: this host's, plus all/noarch)")
	jobs := fs.Int("jobs", 4, "`downloads` at once")
	server := fs.String("server", "", "go through the lazymirror at this `URL` (default: when serve holds the data directory, the config's listen address)")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	if done, err := parseFlags(fs, args); done {
		return err
	}
	if *repo == "" || fs.NArg() != 1 {
		fmt.Fprint(stderr, "lazymirror prefetch: name a --repo and one FILE (or - for standard input)\n\n")
		fs.Usage()
		return errUsage
	}
	cfg, _, err := dd.load(getenv, true)
	if err != nil {
		return err
	}
	rc, ok := cfg.Repo(*repo)
	if !ok {
		return fmt.Errorf("repo %q is not in the configuration (lazymirror prefetch --config FILE names it)", *repo)
	}
	opts := prefetch.Options{Kind: pkgspec.Deb, Roots: rc.Suites, Jobs: *jobs, Arches: hostArches(rc.Type)}
	if rc.Type == config.RPM {
		opts.Kind = pkgspec.RPM
	}
	if *suites != "" {
		opts.Roots = strings.Split(*suites, ",")
	}
	if *arch != "" {
		opts.Arches = strings.Split(*arch, ",")
	}
	in := stdin
	if name := fs.Arg(0); name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	specs, perrs := pkgspec.Parse(in)
	for _, e := range perrs {
		fmt.Fprintf(stderr, "%s: %v\n", fs.Arg(0), e)
	}
	progress, done := progressOutput(stderr, "prefetch")
	opts.Progress = func(ev prefetch.Event) {
		progress(ops.Progress{Files: ev.Done, TotalFiles: ev.Total, Bytes: ev.DoneBytes, TotalBytes: ev.TotalBytes, Path: ev.Match.Candidate.Path})
	}

	var res *prefetch.Result
	// One kept-alive connection per job: the default transport keeps two,
	// and every other job would dial anew for each package.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = max(*jobs, 1)
	client := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	if *server != "" {
		res, err = prefetch.Run(ctx, prefetch.HTTPGetter{Base: *server, Repo: *repo, Client: client}, specs, opts)
	} else {
		res, err = prefetchLocal(ctx, cfg, *repo, specs, opts)
		if errors.Is(err, store.ErrLocked) || errors.Is(err, index.ErrLocked) {
			res, err = prefetch.Run(ctx, prefetch.HTTPGetter{Base: "http://" + dialable(cfg.Listen), Repo: *repo, Client: client}, specs, opts)
		}
	}
	done()
	if res == nil {
		return err
	}
	if *asJSON {
		// The same shape whatever happened: empty lists, not null.
		res.Fetched = nonNil(res.Fetched)
		res.Cached = nonNil(res.Cached)
		res.NotFound = nonNil(res.NotFound)
		res.Failed = nonNil(res.Failed)
		if jerr := writeJSON(stdout, res); jerr != nil {
			return jerr
		}
	} else {
		writePrefetchSummary(stdout, res)
	}
	if err != nil {
		return err
	}
	if len(res.NotFound) > 0 || len(res.Failed) > 0 || len(perrs) > 0 {
		return errIncomplete
	}
	return nil
}

// nonNil returns s, or an empty slice for nil (JSON [] rather than null).
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// prefetchLocal runs the prefetch through a cache on the data directory.
func prefetchLocal(ctx context.Context, cfg *config.Config, repo string, specs []pkgspec.Spec, opts prefetch.Options) (*prefetch.Result, error) {
	st, idx, closeData, err := openData(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	defer closeData()
	c, err := cache.New(context.WithoutCancel(ctx), cache.Options{Store: st, Index: idx, Config: cfg})
	if err != nil {
		return nil, err
	}
	res, err := prefetch.Run(ctx, prefetch.CacheGetter{Cache: c, Repo: repo}, specs, opts)
	// Downloads still running when interrupted are dropped cleanly.
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	if ctx.Err() != nil {
		cancel()
	}
	defer cancel()
	if cerr := c.Close(cctx); err == nil {
		err = cerr
	}
	return res, err
}

func writePrefetchSummary(w io.Writer, res *prefetch.Result) {
	fmt.Fprintf(w, "fetched %d packages (%s), already cached %d, not found %d, failed %d\n",
		len(res.Fetched), stats.FormatBytes(res.Bytes), len(res.Cached), len(res.NotFound), len(res.Failed))
	for _, s := range res.NotFound {
		v := ""
		if s.Version != "" {
			v = " " + s.Version
		}
		fmt.Fprintf(w, "not found: line %d: %s%s\n", s.Line, s.Name, v)
	}
	for _, f := range res.Failed {
		fmt.Fprintf(w, "failed: line %d: %s %s: %s\n", f.Match.Spec.Line, f.Match.Candidate.Name, f.Match.Candidate.Version, f.Reason)
	}
}

// hostArches are the architectures accepted by default: this host's, as
// the repo type spells it, and the architecture-independent one.
func hostArches(t config.Type) []string {
	deb := map[string]string{"amd64": "amd64", "arm64": "arm64", "386": "i386", "arm": "armhf", "ppc64le": "ppc64el", "s390x": "s390x", "riscv64": "riscv64"}
	rpm := map[string]string{"amd64": "x86_64", "arm64": "aarch64", "386": "i686", "arm": "armv7hl", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}
	if t == config.RPM {
		return []string{rpm[runtime.GOARCH], "noarch"}
	}
	return []string{deb[runtime.GOARCH], "all"}
}
