package prefetch

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"lazymirror/cache"
	"lazymirror/config"
	"lazymirror/index"
	"lazymirror/internal/fixture"
	"lazymirror/pkgspec"
	"lazymirror/store"
)

// newCache runs a cache (no HTTP) over the data directory dir.
func newCache(t *testing.T, dir, yaml string) *cache.Cache {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := index.Open(filepath.Join(dir, "index.db"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.New(context.Background(), cache.Options{Store: st, Index: idx, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()); idx.Close(); st.Close() })
	return c
}

func names(ms []pkgspec.Match) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Candidate.Name)
	}
	slices.Sort(out)
	return out
}

// TestInterruptAndResume: a run cancelled after its first package keeps
// what it fetched; the next run fetches only the rest.
func TestInterruptAndResume(t *testing.T) {
	fixture.Require(t, "dpkg-deb", "apt-ftparchive", "gpg")
	var debs []fixture.Deb
	var list []string
	for _, n := range []string{"a-lm", "b-lm", "c-lm", "d-lm"} {
		debs = append(debs, fixture.Deb{Name: n, Version: "1.0", Arch: "amd64", Size: 10 << 10})
		list = append(list, n)
	}
	arc := t.TempDir()
	fixture.AptRepo(t, arc, nil, "amd64", fixture.Suite{Name: "stable", Debs: debs})
	m := fixture.NewMirror(t, arc, "/debian/")
	c := newCache(t, t.TempDir(), "repos:\n  debian: {type: deb, mirrors: ["+m.URL()+"]}\n")
	specs, errs := pkgspec.Parse(strings.NewReader(strings.Join(list, "\n")))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	g := CacheGetter{Cache: c, Repo: "debian"}
	ctx, cancel := context.WithCancel(context.Background())
	opts := Options{Kind: pkgspec.Deb, Roots: []string{"stable"}, Arches: []string{"amd64", "all"}, Jobs: 1,
		Progress: func(Event) { cancel() }} // interrupted after the first package
	res, err := Run(ctx, g, specs, opts)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: err %v", err)
	}
	if len(res.Fetched) != 1 {
		t.Fatalf("interrupted run fetched %v, want one package", names(res.Fetched))
	}
	first := res.Fetched[0].Candidate.Name

	opts.Progress = nil
	res, err = Run(context.Background(), g, specs, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(res.Cached); !slices.Equal(got, []string{first}) {
		t.Errorf("resumed run: already cached %v, want [%s]", got, first)
	}
	if len(res.Fetched) != 3 || slices.Contains(names(res.Fetched), first) {
		t.Errorf("resumed run fetched %v, want the other three", names(res.Fetched))
	}
	for _, d := range debs {
		if n := m.Requests(d.Pool()); n != 1 {
			t.Errorf("%s fetched upstream %d times, want 1", d.Name, n)
		}
	}
}

// TestPrefetchRPM resolves rpm -qa lines and bare names against a yum repo
// of a mirror tree: the newest version unless the line names one.
func TestPrefetchRPM(t *testing.T) {
	fixture.Require(t, "rpmbuild", "createrepo_c")
	tree := t.TempDir()
	root := "releases/40/Everything/x86_64/os"
	rpms := []fixture.RPM{
		{Name: "foo", Version: "1.2", Release: "3.fc40", Arch: "noarch", Size: 4 << 10},
		{Name: "bar", Version: "1.9", Release: "1.fc40", Arch: "x86_64", Size: 4 << 10},
		{Name: "bar", Version: "1.10", Release: "1.fc40", Arch: "x86_64", Size: 4 << 10},
	}
	built := fixture.BuildRPMs(t, filepath.Join(tree, root), "Packages", rpms)
	fixture.YumRepo(t, filepath.Join(tree, root), fixture.YumOptions{})
	m := fixture.NewMirror(t, tree, "/fedora/linux/")
	c := newCache(t, t.TempDir(), "repos:\n  fedora: {type: rpm, mirrors: ["+m.URL()+"]}\n")
	specs, errs := pkgspec.Parse(strings.NewReader("foo-1.2-3.fc40.noarch\nbar\nbaz\n"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	res, err := Run(context.Background(), CacheGetter{Cache: c, Repo: "fedora"}, specs,
		Options{Kind: pkgspec.RPM, Roots: []string{root}, Arches: []string{"x86_64", "noarch"}})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range res.Fetched {
		paths = append(paths, f.Candidate.Path)
	}
	slices.Sort(paths)
	want := []string{root + "/" + built[rpms[2].NVRA()], root + "/" + built[rpms[0].NVRA()]}
	slices.Sort(want)
	if !slices.Equal(paths, want) {
		t.Errorf("fetched %v, want %v (bar 1.10 is newer than 1.9)", paths, want)
	}
	if len(res.NotFound) != 1 || res.NotFound[0].Name != "baz" {
		t.Errorf("not found %v, want baz", res.NotFound)
	}
}

// TestForeignArchLines: dpkg --get-selections on a multiarch host names
// its foreign packages with their architecture (libc6-lm:i386). Such a line
// is looked up in that architecture's index although the run's
// architectures (the host's) do not include it.
func TestForeignArchLines(t *testing.T) {
	fixture.Require(t, "dpkg-deb", "apt-ftparchive")
	debs := []fixture.Deb{
		{Name: "libc6-lm", Version: "2.36-9", Arch: "amd64", Size: 10 << 10},
		{Name: "libc6-lm", Version: "2.36-9", Arch: "i386", Size: 10 << 10},
		{Name: "tool-lm", Version: "1.0", Arch: "amd64", Size: 10 << 10},
	}
	arc := t.TempDir()
	fixture.AptRepo(t, arc, nil, "amd64 i386", fixture.Suite{Name: "stable", Debs: debs})
	m := fixture.NewMirror(t, arc, "/debian/")
	c := newCache(t, t.TempDir(), "repos:\n  debian: {type: deb, mirrors: ["+m.URL()+"]}\n")
	specs, errs := pkgspec.Parse(strings.NewReader("libc6-lm:amd64\tinstall\nlibc6-lm:i386\tinstall\ntool-lm\tinstall\n"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	opts := Options{Kind: pkgspec.Deb, Roots: []string{"stable"}, Arches: []string{"amd64", "all"}, Jobs: 2}
	res, err := Run(context.Background(), CacheGetter{Cache: c, Repo: "debian"}, specs, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.NotFound) > 0 || len(res.Fetched) != 3 {
		t.Fatalf("fetched %v, not found %v; want all three", names(res.Fetched), res.NotFound)
	}
	for _, d := range debs {
		if n := m.Requests(d.Pool()); n != 1 {
			t.Errorf("%s (%s) fetched upstream %d times, want 1", d.Name, d.Arch, n)
		}
	}
}

// TestPrefetchFlat: names resolve in flat repositories' suites ("./",
// "sub/"): each one's Release is read in its own directory, and its one
// Packages index (Filename "./x.deb", "sub/x.deb") covers every
// architecture. Every package is fetched once, at the path apt asks for.
func TestPrefetchFlat(t *testing.T) {
	fixture.Require(t, "dpkg-deb", "apt-ftparchive", "gpg")
	top := []fixture.Deb{
		{Name: "agent-lm", Version: "1.0", Arch: "amd64", Size: 10 << 10},
		{Name: "docs-lm", Version: "1.0", Arch: "all", Size: 10 << 10},
	}
	sub := []fixture.Deb{{Name: "tool-lm", Version: "2.0", Arch: "amd64", Size: 10 << 10}}
	arc := t.TempDir()
	key := fixture.NewKey(t)
	paths := fixture.FlatRepo(t, arc, key, fixture.FlatSuite{Debs: top})
	for k, p := range fixture.FlatRepo(t, arc, key, fixture.FlatSuite{Dir: "sub", Debs: sub}) {
		paths[k] = p
	}
	m := fixture.NewMirror(t, arc, "/vendor/")
	c := newCache(t, t.TempDir(), "repos:\n  vendor: {type: deb, mirrors: ["+m.URL()+"]}\n")
	specs, errs := pkgspec.Parse(strings.NewReader("agent-lm\ndocs-lm\ntool-lm\n"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	opts := Options{Kind: pkgspec.Deb, Roots: []string{"./", "sub/"}, Arches: []string{"amd64", "all"}, Jobs: 2}
	res, err := Run(context.Background(), CacheGetter{Cache: c, Repo: "vendor"}, specs, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.NotFound) > 0 || len(res.Failed) > 0 || len(res.Fetched) != 3 {
		t.Fatalf("fetched %v, not found %v, failed %v; want all three", names(res.Fetched), res.NotFound, res.Failed)
	}
	for _, d := range append(top, sub...) {
		if n := m.Requests(paths[d.Key()]); n != 1 {
			t.Errorf("%s (%s) fetched upstream %d times, want 1", d.Name, paths[d.Key()], n)
		}
	}
}
