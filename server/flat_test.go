package server_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lazymirror/cache"
	"lazymirror/config"
	"lazymirror/debian"
	"lazymirror/internal/fixture"
)

// Packages of the flat repositories below.
var (
	flatHello = fixture.Deb{Name: "hello-flat", Version: "1.0-1", Arch: "all", Size: 30 << 10}
	flatBig   = fixture.Deb{Name: "libbig-flat", Version: "3.1+dfsg-1", Arch: "amd64", Size: 2 << 20}
	flatTool  = fixture.Deb{Name: "tool-flat", Version: "2.0", Arch: "amd64", Size: 20 << 10}
)

// flatRepo is a vendor's tree served by one mirror: a flat repository at
// its top ("deb URL ./", Filename "./<file>") and another in sub/ ("deb
// URL sub/", Filename "sub/<file>"), besides a README no Release lists.
type flatRepo struct {
	dir   string
	key   *fixture.Key
	m     *fixture.Mirror
	paths map[string]string // Deb.Key() -> path relative to the tree's top
}

func newFlatRepo(t *testing.T) *flatRepo {
	t.Helper()
	fixture.Require(t, "dpkg-deb", "apt-ftparchive", "gpg", "apt-get")
	r := &flatRepo{dir: t.TempDir(), key: fixture.NewKey(t), paths: make(map[string]string)}
	// The top first: its Release then lists its own indexes only.
	for _, s := range []fixture.FlatSuite{
		{Debs: []fixture.Deb{flatHello, flatBig}, Date: time.Now().Add(-time.Hour)},
		{Dir: "sub", Debs: []fixture.Deb{flatTool}, Date: time.Now().Add(-time.Hour)},
	} {
		for k, p := range fixture.FlatRepo(t, r.dir, r.key, s) {
			r.paths[k] = p
		}
	}
	if err := os.WriteFile(filepath.Join(r.dir, "README"), []byte("vendor repository\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.m = fixture.NewMirror(t, r.dir, "/vendor/apt/")
	return r
}

// client is apt-get with both flat repositories of the tree, through base.
func (r *flatRepo) client(t *testing.T, base string) *fixture.Apt {
	t.Helper()
	apt := fixture.NewApt(t, "amd64")
	for _, suite := range []string{"./", "sub/"} {
		apt.AddSource("deb [signed-by=" + r.key.PublicKeyring + "] " + base + "/ " + suite)
	}
	return apt
}

func (r *flatRepo) file(t *testing.T, d fixture.Deb) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.dir, r.paths[d.Key()]))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// debFetches counts package requests that reached the mirror.
func (r *flatRepo) debFetches() int {
	return r.m.Total(func(rel string) bool { return path.Ext(rel) == ".deb" })
}

// classOf opens a path through the cache, as a request would, and returns
// how it was resolved ("root", "indexed", "package", "other").
func classOf(t *testing.T, h *harness, repo, p string) string {
	t.Helper()
	o, err := h.cache.Open(context.Background(), cache.Request{Repo: repo, Path: p})
	if err != nil {
		t.Fatalf("open %s: %v", p, err)
	}
	if err := o.Wait(context.Background()); err != nil {
		t.Fatalf("open %s: %v", p, err)
	}
	o.Close()
	return o.Class
}

// TestFlatRepoThroughLazymirror: real apt-get update, download and install
// --download-only from two flat repositories ("./" and "sub/") through
// lazymirror. The bytes are the repository's; the roots are snapshot
// roots, the indexes their Release lists are served by checksum, the
// packages are verified content-addressed packages (a second repo on the
// same mirror fetches none of them again), and a README beside the
// Release stays a URL-cached file. After a restart, a Packages index is
// known as the snapshot's before any client asks for its root.
func TestFlatRepoThroughLazymirror(t *testing.T) {
	r := newFlatRepo(t)
	h := newHarness(t, yamlRepos(
		"vendor: {type: deb, mirrors: ["+r.m.URL()+"]}",
		"vendor-b: {type: deb, mirrors: ["+r.m.URL()+"]}",
	))
	apt := r.client(t, h.URL("vendor"))
	if out, err := apt.Update(); err != nil {
		t.Fatalf("apt-get update: %v\n%s", err, out)
	}
	files, err := apt.Download(flatHello.Name, flatBig.Name)
	if err != nil {
		t.Fatalf("apt-get download: %v", err)
	}
	for _, d := range []fixture.Deb{flatHello, flatBig} {
		got, ok := files[path.Base(r.paths[d.Key()])]
		if !ok {
			t.Fatalf("apt-get download got %v, no %s", files, d.Key())
		}
		sameFile(t, got, filepath.Join(r.dir, r.paths[d.Key()]))
	}
	if out, err := apt.InstallDownloadOnly(flatTool.Name); err != nil {
		t.Fatalf("apt-get install --download-only: %v\n%s", err, out)
	}
	sameFile(t, filepath.Join(apt.Archives(), path.Base(r.paths[flatTool.Key()])), filepath.Join(r.dir, r.paths[flatTool.Key()]))
	if n := r.debFetches(); n != 3 {
		t.Errorf("upstream package fetches = %d, want one per package (3)", n)
	}

	for p, want := range map[string]string{
		"InRelease":              "root",
		"Release.gpg":            "root",
		"sub/InRelease":          "root",
		"Packages.xz":            "indexed",
		"sub/Packages.xz":        "indexed",
		r.paths[flatHello.Key()]: "package",
		r.paths[flatTool.Key()]:  "package",
		"README":                 "other",
	} {
		if got := classOf(t, h, "vendor", p); got != want {
			t.Errorf("%s is served as %s, want %s", p, got, want)
		}
	}

	// The same packages through another repo: content-addressed, so no
	// upstream package fetch.
	apt2 := r.client(t, h.URL("vendor-b"))
	if out, err := apt2.Update(); err != nil {
		t.Fatalf("apt-get update (vendor-b): %v\n%s", err, out)
	}
	if _, err := apt2.Download(flatHello.Name, flatBig.Name, flatTool.Name); err != nil {
		t.Fatalf("apt-get download (vendor-b): %v", err)
	}
	if n := r.debFetches(); n != 3 {
		t.Errorf("a second repo caused %d upstream package fetches, want 0", n-3)
	}

	// After a restart the snapshot is read back from the index, for an
	// index file asked for before its root.
	h.restart()
	if got := classOf(t, h, "vendor", "Packages.xz"); got != "indexed" {
		t.Errorf("after a restart, Packages.xz is served as %s, want indexed", got)
	}
	apt3 := r.client(t, h.URL("vendor"))
	if out, err := apt3.Update(); err != nil {
		t.Fatalf("apt-get update after restart: %v\n%s", err, out)
	}
	if _, err := apt3.Download(flatHello.Name, flatTool.Name); err != nil {
		t.Fatalf("download after restart: %v", err)
	}
	if n := r.debFetches(); n != 3 {
		t.Errorf("after restart: %d more upstream package fetches, want 0", n-3)
	}
}

// TestFlatRepoVerifiesPackages: with the flat suites configured and no
// client having run apt-get update, a package request loads the flat
// Packages first and verifies the package against it: corrupted bytes from
// the mirror are never stored, and the real bytes follow once the mirror
// is fixed. A .deb no Packages lists is served as before, cached by URL.
func TestFlatRepoVerifiesPackages(t *testing.T) {
	r := newFlatRepo(t)
	stray := fixture.Deb{Name: "stray", Version: "1.0", Arch: "all", Size: 1 << 10}
	const strayPath = "stray_1.0_all.deb"
	if err := os.WriteFile(filepath.Join(r.dir, strayPath), []byte("not in any index: "+stray.Key()), 0o644); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, yamlRepos("vendor: {type: deb, mirrors: ["+r.m.URL()+"], suites: [./, sub/]}"))
	base := h.URL("vendor") + "/"

	for _, d := range []fixture.Deb{flatHello, flatBig} {
		p, want := r.paths[d.Key()], r.file(t, d)
		r.m.SetFault(p, fixture.Fault{Corrupt: true})
		resp, err := http.Get(base + "./" + p) // as apt asks for it
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK && !bytes.Equal(body, want) {
				t.Fatalf("%s: a complete 200 response with corrupted bytes reached the client", p)
			}
		}
		r.m.SetFault(p, fixture.Fault{})
		code, body, hdr := h.get(base+"./"+p, nil)
		if code != http.StatusOK || !bytes.Equal(body, want) {
			t.Fatalf("%s once the mirror is fixed: status %d, %d bytes, want the real %d", p, code, len(body), len(want))
		}
		if cc := hdr.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("%s: Cache-Control %q, want a package's (immutable)", p, cc)
		}
		if n := r.m.Requests(p); n != 2 {
			t.Errorf("%s: %d upstream requests, want 2 (the corrupt one was not kept)", p, n)
		}
	}
	// The package of the configured "sub/" suite, cold.
	if got := h.getOK(base+r.paths[flatTool.Key()], nil); !bytes.Equal(got, r.file(t, flatTool)) {
		t.Errorf("%s: not the repository's bytes", r.paths[flatTool.Key()])
	}
	if got := classOf(t, h, "vendor", r.paths[flatTool.Key()]); got != "package" {
		t.Errorf("%s is served as %s, want package", r.paths[flatTool.Key()], got)
	}
	// A .deb beside them that no index lists: as a pool path no index
	// knows, served unverified, cached by URL.
	if got := h.getOK(base+strayPath, nil); !bytes.Contains(got, []byte(stray.Key())) {
		t.Errorf("%s: %q", strayPath, got)
	}
	if got := classOf(t, h, "vendor", strayPath); got != "other" {
		t.Errorf("%s is served as %s, want other", strayPath, got)
	}
}

// TestFlatRepoPublish: a flat repository publishes a new version between
// two apt-get update runs. Both succeed without hash sum errors and the
// second sees the new packages: the root is revalidated as a snapshot
// root, not cached by URL. A client given the old InRelease is served the
// Packages that InRelease lists (a flat repository has no by-hash names:
// apt asks for Packages.xz by that name) even after the new snapshot
// replaced it. gc reads the flat root's listings and drops nothing clients
// still use.
func TestFlatRepoPublish(t *testing.T) {
	fixture.Require(t, "dpkg-deb", "apt-ftparchive", "gpg", "apt-get")
	key := fixture.NewKey(t)
	helloNew := fixture.Deb{Name: flatHello.Name, Version: "1.1-1", Arch: "all", Size: 31 << 10}
	added := fixture.Deb{Name: "new-flat", Version: "0.1", Arch: "amd64", Size: 10 << 10}
	v1, v2 := t.TempDir(), t.TempDir()
	old := fixture.FlatRepo(t, v1, key, fixture.FlatSuite{Debs: []fixture.Deb{flatHello, flatTool}, Date: time.Now().Add(-2 * time.Hour)})
	cur := fixture.FlatRepo(t, v2, key, fixture.FlatSuite{Debs: []fixture.Deb{helloNew, flatTool, added}, Date: time.Now().Add(-time.Hour)})
	m := fixture.NewMirror(t, v1, "/vendor/")
	h := newHarness(t, yamlRepos("vendor: {type: deb, mirrors: ["+m.URL()+"], metadata_ttl: 1ns}"))
	apt := fixture.NewApt(t, "amd64")
	apt.AddSource("deb [signed-by=" + key.PublicKeyring + "] " + h.URL("vendor") + "/ ./")

	if out, err := apt.Update(); err != nil {
		t.Fatalf("update before the publish: %v\n%s", err, out)
	}
	files, err := apt.Download(flatHello.Name)
	if err != nil {
		t.Fatalf("download before the publish: %v", err)
	}
	sameFile(t, files[path.Base(old[flatHello.Key()])], filepath.Join(v1, old[flatHello.Key()]))

	// This client has the old InRelease when the repository publishes.
	code, inRelease, _ := h.get(h.URL("vendor")+"/./InRelease", nil)
	if code != http.StatusOK {
		t.Fatalf("InRelease: status %d", code)
	}
	rel, err := debian.ParseRelease(bytes.NewReader(inRelease))
	if err != nil {
		t.Fatal(err)
	}
	m.SetRoot(v2)
	f, ok := rel.Lookup("Packages.xz")
	if !ok {
		t.Fatal("the flat Release lists no Packages.xz")
	}
	want, _ := f.SHA256()
	code, body, _ := h.get(h.URL("vendor")+"/./Packages.xz", nil)
	if code != http.StatusOK || digestBytes(body) != want {
		t.Fatalf("Packages.xz after the publish, for a client given the old InRelease: status %d, sha256 %s; want %s", code, digestBytes(body), want)
	}

	if out, err := apt.Update(); err != nil {
		t.Fatalf("update after the publish: %v\n%s", err, out)
	}
	files, err = apt.Download(added.Name, helloNew.Name)
	if err != nil {
		t.Fatalf("download after the publish: %v", err)
	}
	for _, d := range []fixture.Deb{added, helloNew} {
		sameFile(t, files[path.Base(cur[d.Key()])], filepath.Join(v2, cur[d.Key()]))
	}

	rep, err := h.cache.GC(context.Background(), cache.GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Skipped) > 0 {
		t.Errorf("gc skipped %q: it could not read the flat root's listing", rep.Skipped)
	}
	fresh := fixture.NewApt(t, "amd64")
	fresh.AddSource("deb [signed-by=" + key.PublicKeyring + "] " + h.URL("vendor") + "/ ./")
	if out, err := fresh.Update(); err != nil {
		t.Fatalf("fresh client update after gc: %v\n%s", err, out)
	}
	if _, err := fresh.Download(added.Name, helloNew.Name, flatTool.Name); err != nil {
		t.Fatalf("fresh client download after gc: %v", err)
	}
}

// TestFlatSuitesConfig: the suites a repo lists may be flat ("./",
// "sub/"), as a directory relative to the mirror URL, outside dists/ and
// pool/.
func TestFlatSuitesConfig(t *testing.T) {
	for _, tt := range []struct {
		suite string
		ok    bool
	}{
		{"./", true},
		{"sub/", true},
		{"./sub/", true},
		{"vendor/apt/", true},
		{"bookworm", true},
		{"../", false},
		{"sub/../../", false},
		{"/", false},
		{"/srv/apt/", false},
		{"a//", false},
		{"pool/", false},
		{"dists/bookworm/", false},
	} {
		_, err := config.Parse("x.yaml", []byte("repos:\n  v: {type: deb, mirrors: [http://a.invalid/], suites: ['"+tt.suite+"']}\n"))
		if (err == nil) != tt.ok {
			t.Errorf("suite %q: err = %v, want ok %v", tt.suite, err, tt.ok)
		}
	}
}
