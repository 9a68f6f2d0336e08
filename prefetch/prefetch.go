// Package prefetch warms a lazymirror before a fleet needs it: it resolves
// a list of package names against a repo's metadata and fetches what is not
// cached yet, through the same path clients use. It reads metadata the way
// apt and dnf do (InRelease then Packages; repomd.xml then primary), so it
// works the same in-process (through the cache) and against a running
// server (over HTTP).
package prefetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"sync"

	"lazymirror/debian"
	"lazymirror/pkgspec"
	"lazymirror/repomd"
)

// ErrNotFound is what a Getter returns for a path the mirror does not have.
var ErrNotFound = errors.New("not found")

// Getter fetches repo-relative paths: from the cache in-process, or from a
// running server over HTTP. hit says the bytes were already stored.
type Getter interface {
	// Get returns the bytes of path (prefetch reads metadata with it).
	Get(ctx context.Context, path string) (body io.ReadCloser, hit bool, err error)
	// Fetch makes the mirror hold path, downloaded and verified, and
	// returns its size without handing its bytes over: warming a cache
	// needs nothing streamed back.
	Fetch(ctx context.Context, path string) (size int64, hit bool, err error)
}

// Options say what to resolve against and how to fetch.
type Options struct {
	Kind pkgspec.Kind
	// Roots are the metadata roots: apt suites ("bookworm") or yum repo
	// directories inside the repo ("releases/40/Everything/x86_64/os").
	Roots []string
	// Arches are the architectures to accept ("amd64", "all"; "x86_64", "noarch").
	Arches []string
	// Jobs bounds the downloads running at once (default 4).
	Jobs int
	// Progress, when set, is called after each package (from one goroutine at a time).
	Progress func(Event)
}

// Event reports one package done, and how far the run is.
type Event struct {
	Match pkgspec.Match
	Bytes int64
	Hit   bool
	Err   error
	// Done of Total packages, DoneBytes of TotalBytes (from the metadata's sizes).
	Done, Total           int
	DoneBytes, TotalBytes int64
}

// Result is what a run did.
type Result struct {
	Fetched  []pkgspec.Match `json:"fetched"`
	Cached   []pkgspec.Match `json:"already_cached"`
	NotFound []pkgspec.Spec  `json:"not_found"`
	Failed   []Failure       `json:"failed"`
	// Bytes is what was downloaded by this run (packages fetched, not cached).
	Bytes int64 `json:"bytes"`
}

// Failure is a package that could not be fetched.
type Failure struct {
	Match  pkgspec.Match `json:"package"`
	Reason string        `json:"reason"`
}

// Run resolves specs and fetches each package not cached yet. A package
// already stored is not downloaded again, so a run interrupted and started
// again fetches only what is missing.
func Run(ctx context.Context, g Getter, specs []pkgspec.Spec, opts Options) (*Result, error) {
	// A line that names its architecture ("libc6:i386" from a multiarch
	// host's dpkg --get-selections) is looked up in that architecture's
	// index, whatever opts.Arches says for lines that name none.
	copts := opts
	for _, s := range specs {
		if s.Arch != "" && len(copts.Arches) > 0 && !slices.Contains(copts.Arches, s.Arch) {
			copts.Arches = append(slices.Clip(copts.Arches), s.Arch)
		}
	}
	cands, err := Candidates(ctx, g, copts)
	if err != nil {
		return nil, err
	}
	found, notFound := pkgspec.Resolve(opts.Kind, specs, opts.Arches, func(name string) []pkgspec.Candidate { return cands[name] })
	res := &Result{NotFound: notFound}
	// One download per path, however many lines named it.
	seen := make(map[string]bool)
	var todo []pkgspec.Match
	for _, m := range found {
		if !seen[m.Candidate.Path] {
			seen[m.Candidate.Path] = true
			todo = append(todo, m)
		}
	}
	var totalBytes, doneBytes int64
	for _, m := range todo {
		totalBytes += m.Candidate.Size
	}
	jobs := opts.Jobs
	if jobs <= 0 {
		jobs = 4
	}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		work = make(chan pkgspec.Match)
	)
	for range min(jobs, len(todo)) {
		wg.Go(func() {
			for m := range work {
				n, hit, err := fetch(ctx, g, m.Candidate)
				mu.Lock()
				switch {
				case err != nil:
					res.Failed = append(res.Failed, Failure{Match: m, Reason: err.Error()})
				case hit:
					res.Cached = append(res.Cached, m)
				default:
					res.Fetched = append(res.Fetched, m)
					res.Bytes += n
				}
				doneBytes += m.Candidate.Size
				if opts.Progress != nil {
					opts.Progress(Event{Match: m, Bytes: n, Hit: hit, Err: err,
						Done: len(res.Fetched) + len(res.Cached) + len(res.Failed), Total: len(todo),
						DoneBytes: doneBytes, TotalBytes: totalBytes})
				}
				mu.Unlock()
			}
		})
	}
feed:
	for _, m := range todo {
		select {
		case work <- m:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	byLine := func(a, b pkgspec.Match) int { return a.Spec.Line - b.Spec.Line }
	slices.SortFunc(res.Fetched, byLine)
	slices.SortFunc(res.Cached, byLine)
	slices.SortFunc(res.Failed, func(a, b Failure) int { return a.Match.Spec.Line - b.Match.Spec.Line })
	return res, ctx.Err()
}

// fetch has g hold one package and checks the size it reports against
// the metadata's.
func fetch(ctx context.Context, g Getter, c pkgspec.Candidate) (int64, bool, error) {
	n, hit, err := g.Fetch(ctx, c.Path)
	if err == nil && c.Size > 0 && n != c.Size {
		err = fmt.Errorf("%s: the mirror holds %d bytes, metadata says %d", c.Path, n, c.Size)
	}
	return n, hit, err
}

// Candidates reads the metadata of every root and returns its packages by name.
func Candidates(ctx context.Context, g Getter, opts Options) (map[string][]pkgspec.Candidate, error) {
	if len(opts.Roots) == 0 {
		return nil, errors.New("no suite (apt) or repo directory (yum) to resolve names in")
	}
	out := make(map[string][]pkgspec.Candidate)
	add := func(c pkgspec.Candidate) { out[c.Name] = append(out[c.Name], c) }
	for _, root := range opts.Roots {
		var err error
		switch opts.Kind {
		case pkgspec.Deb:
			err = debCandidates(ctx, g, root, opts.Arches, add)
		case pkgspec.RPM:
			err = rpmCandidates(ctx, g, root, add)
		default:
			err = fmt.Errorf("unknown kind %v", opts.Kind)
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// getAll reads a small file whole.
func getAll(ctx context.Context, g Getter, p string) ([]byte, error) {
	body, _, err := g.Get(ctx, p)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	return io.ReadAll(io.LimitReader(body, 64<<20))
}

// debCandidates reads dists/<suite>/InRelease (or Release) and the
// Packages index of each component for the architectures; for a flat
// repository's suite ("./", "sub/"), its directory's InRelease and the one
// Packages index beside it, which holds every architecture.
func debCandidates(ctx context.Context, g Getter, suite string, arches []string, add func(pkgspec.Candidate)) error {
	root := debian.SuiteRoot(suite)
	b, err := getAll(ctx, g, path.Join(root, "InRelease"))
	if errors.Is(err, ErrNotFound) {
		b, err = getAll(ctx, g, path.Join(root, "Release"))
	}
	if err != nil {
		return fmt.Errorf("suite %s: %w", suite, err)
	}
	rel, err := debian.ParseRelease(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("suite %s: %w", suite, err)
	}
	wanted := func(dir string) bool {
		if debian.IsFlatSuite(suite) {
			return dir == ""
		}
		return slices.ContainsFunc(arches, func(a string) bool { return path.Base(dir) == "binary-"+a })
	}
	dirs := make(map[string]bool)
	for _, f := range rel.Files {
		dir, base := path.Split(f.Path)
		dir = strings.TrimSuffix(dir, "/")
		if base != "Packages" || dirs[dir] || !wanted(dir) {
			continue
		}
		dirs[dir] = true
		plain := f
		var errs []error
		for _, name := range []string{"Packages.xz", "Packages.gz", "Packages"} {
			if _, ok := rel.Lookup(path.Join(dir, name)); !ok {
				continue
			}
			err := readPackages(ctx, g, path.Join(root, dir, name), plain, add)
			if err == nil {
				errs = nil
				break
			}
			errs = append(errs, err)
		}
		if len(errs) > 0 {
			return fmt.Errorf("suite %s %s: %w", suite, dir, errors.Join(errs...))
		}
	}
	return nil
}

func readPackages(ctx context.Context, g Getter, p string, plain debian.File, add func(pkgspec.Candidate)) error {
	body, _, err := g.Get(ctx, p)
	if err != nil {
		return err
	}
	defer body.Close()
	_, err = debian.ParsePackagesFile(ctx, body, p, plain, func(pkg *debian.Package) error {
		add(pkgspec.Candidate{Name: pkg.Package, Version: pkg.Version, Arch: pkg.Architecture, Path: pkg.Filename, Size: pkg.Size})
		return nil
	})
	return err
}

// rpmCandidates reads <root>/repodata/repomd.xml and the primary it names.
func rpmCandidates(ctx context.Context, g Getter, root string, add func(pkgspec.Candidate)) error {
	join := func(p string) string { return path.Join(root, p) }
	b, err := getAll(ctx, g, join("repodata/repomd.xml"))
	if err != nil {
		return fmt.Errorf("yum repo %s: %w", root, err)
	}
	md, err := repomd.ParseRepomd(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("yum repo %s: %w", root, err)
	}
	prim, ok := md.Primary()
	if !ok {
		return fmt.Errorf("yum repo %s: repomd.xml names no primary", root)
	}
	body, _, err := g.Get(ctx, join(prim.Location))
	if err != nil {
		return fmt.Errorf("yum repo %s: %w", root, err)
	}
	defer body.Close()
	_, err = repomd.ParsePrimaryFile(ctx, body, prim.Location, prim.OpenChecksum, prim.OpenSize, func(p *repomd.Package) error {
		v := p.Version + "-" + p.Release
		if p.Epoch != "" && p.Epoch != "0" {
			v = p.Epoch + ":" + v
		}
		add(pkgspec.Candidate{Name: p.Name, Version: v, Arch: p.Arch, Path: join(p.Location), Size: p.Size})
		return nil
	})
	if err != nil {
		return fmt.Errorf("yum repo %s: %w", root, err)
	}
	return nil
}
