package server_test

import (
	"path/filepath"
	"strings"
	"testing"

	"lazymirror/internal/fixture"
)

// yumTree is a mirror tree holding two yum repos (releases and updates)
// that share a noarch package, served by two mirrors with different
// prefixes.
type yumTree struct {
	dir        string
	key        *fixture.Key
	a, b       *fixture.Mirror
	built      map[string]string // NVRA -> path relative to dir
	osRoot     string
	updateRoot string
}

var (
	rpmFoo    = fixture.RPM{Name: "foo", Version: "1.2", Release: "3", Arch: "noarch", Size: 40 << 10}
	rpmBar    = fixture.RPM{Name: "bar", Version: "2.0", Release: "1", Arch: "x86_64", Size: 60 << 10}
	rpmBig    = fixture.RPM{Name: "big", Version: "1.0", Release: "1", Arch: "x86_64", Size: 2 << 20}
	rpmBarNew = fixture.RPM{Name: "bar", Version: "2.1", Release: "1", Arch: "x86_64", Size: 60 << 10}
)

func newYumTree(t *testing.T) *yumTree {
	t.Helper()
	fixture.Require(t, "rpmbuild", "createrepo_c", "gpg", "dnf")
	tr := &yumTree{dir: t.TempDir(), key: fixture.NewKey(t), built: make(map[string]string),
		osRoot: "releases/40/Everything/x86_64/os", updateRoot: "updates/40/Everything/x86_64"}
	build := func(root string, rpms ...fixture.RPM) {
		dir := filepath.Join(tr.dir, root)
		for nvra, rel := range fixture.BuildRPMs(t, dir, "Packages", rpms) {
			tr.built[root+"|"+nvra] = root + "/" + rel
		}
		names := make([]string, len(rpms))
		for i, r := range rpms {
			names[i] = r.Name
		}
		fixture.YumRepo(t, dir, fixture.YumOptions{Zck: true, Comps: names, Key: tr.key})
	}
	build(tr.osRoot, rpmFoo, rpmBar, rpmBig)
	build(tr.updateRoot, rpmFoo, rpmBarNew)
	tr.a = fixture.NewMirror(t, tr.dir, "/fedora/linux/")
	tr.b = fixture.NewMirror(t, tr.dir, "/pub/fedora/")
	return tr
}

func isRPM(rel string) bool { return strings.HasSuffix(rel, ".rpm") }

func (tr *yumTree) rpmFetches() int { return tr.a.Total(isRPM) + tr.b.Total(isRPM) }

func (tr *yumTree) path(root string, r fixture.RPM) string {
	return filepath.Join(tr.dir, tr.built[root+"|"+r.NVRA()])
}

// TestDNFThroughLazymirror: real dnf makecache and download (signed
// repomd.xml, zchunk metadata) through lazymirror; bytes equal the built
// packages; a package in two yum repos of the tree, and the same packages
// through a second repo on the other mirror, are fetched and stored once.
func TestDNFThroughLazymirror(t *testing.T) {
	tr := newYumTree(t)
	h := newHarness(t, yamlRepos(
		"fedora: {type: rpm, mirrors: ["+tr.a.URL()+", "+tr.b.URL()+"]}",
		"fedora-b: {type: rpm, mirrors: ["+tr.b.URL()+"]}",
	))
	d := fixture.NewDNF(t)
	d.AddRepo("lm-os", h.URL("fedora")+"/"+tr.osRoot+"/", tr.key)
	d.AddRepo("lm-updates", h.URL("fedora")+"/"+tr.updateRoot+"/", tr.key)
	if out, err := d.Makecache(); err != nil {
		t.Fatalf("dnf makecache: %v\n%s", err, out)
	}
	files, err := d.Download("foo", "bar", "big")
	if err != nil {
		t.Fatalf("dnf download: %v", err)
	}
	want := map[string]string{
		rpmFoo.File():    tr.path(tr.osRoot, rpmFoo),
		rpmBarNew.File(): tr.path(tr.updateRoot, rpmBarNew),
		rpmBig.File():    tr.path(tr.osRoot, rpmBig),
	}
	for name, src := range want {
		got, ok := files[name]
		if !ok {
			t.Fatalf("dnf did not download %s (got %v)", name, files)
		}
		sameFile(t, got, src)
	}
	first := tr.rpmFetches()
	if first != len(want) {
		t.Errorf("upstream rpm fetches = %d, want %d", first, len(want))
	}

	// foo is in both yum repos: fetching it through the updates repo is a hit.
	code, body, _ := h.get(h.URL("fedora")+"/"+tr.updateRoot+"/Packages/"+rpmFoo.File(), nil)
	if code != 200 || len(body) == 0 {
		t.Fatalf("foo via updates: %d", code)
	}
	// The other repo, through mirror B only, with a fresh dnf: no rpm fetched upstream.
	d2 := fixture.NewDNF(t)
	d2.AddRepo("lm-b", h.URL("fedora-b")+"/"+tr.osRoot+"/", tr.key)
	if out, err := d2.Makecache(); err != nil {
		t.Fatalf("dnf makecache (fedora-b): %v\n%s", err, out)
	}
	if _, err := d2.Download("foo", "big"); err != nil {
		t.Fatalf("dnf download (fedora-b): %v", err)
	}
	if got := tr.rpmFetches(); got != first {
		t.Errorf("same packages via another repo and mirror: %d more upstream rpm fetches, want 0", got-first)
	}
	blobs := h.blobs()
	for name, src := range want {
		if !hasBlob(t, blobs, src) {
			t.Errorf("%s not in the store", name)
		}
	}
}
