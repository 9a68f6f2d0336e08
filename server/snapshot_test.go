package server_test

import (
	"path/filepath"
	"testing"

	"lazymirror/internal/fixture"
)

// TestAptSnapshotSwitch: upstream publishes a new snapshot (a package
// added, one removed, one updated) between two client runs; apt-get update
// succeeds on both sides without hash sum errors; a lagging mirror that
// still has the old snapshot never rolls lazymirror back.
func TestAptSnapshotSwitch(t *testing.T) {
	arc := newAptArchive(t)
	h := newHarness(t, yamlRepos("debian: {type: deb, mirrors: ["+arc.a.URL()+", "+arc.b.URL()+"], metadata_ttl: 1ns}"))
	apt := arc.client(t, h.URL("debian"), "stable")
	if out, err := apt.Update(); err != nil {
		t.Fatalf("update before the switch: %v\n%s", err, out)
	}
	if _, err := apt.Download("plus-lm"); err != nil {
		t.Fatal(err)
	}

	// New snapshot on mirror A only: plus-lm removed, new-lm added, hello-lm updated.
	v2 := t.TempDir()
	added := fixture.Deb{Name: "new-lm", Version: "1.0", Arch: "amd64", Size: 10 << 10}
	helloNew := fixture.Deb{Name: "hello-lm", Version: "2.11-1", Arch: "amd64", Size: 42 << 10}
	fixture.AptRepo(t, v2, arc.key, "amd64", fixture.Suite{Name: "stable",
		Debs: []fixture.Deb{helloNew, arc.stable[2], arc.stable[3], added}})
	arc.a.SetRoot(v2)

	if out, err := apt.Update(); err != nil {
		t.Fatalf("update after the switch: %v\n%s", err, out)
	} else {
		t.Logf("update after the switch:\n%s", out)
	}
	files, err := apt.Download("new-lm", "hello-lm")
	if err != nil {
		t.Fatalf("download after the switch: %v", err)
	}
	sameFile(t, files[filepath.Base(added.Pool())], filepath.Join(v2, added.Pool()))
	sameFile(t, files[filepath.Base(helloNew.Pool())], filepath.Join(v2, helloNew.Pool()))

	// A goes away; B still has the old snapshot. lazymirror keeps the new one.
	arc.a.SetDown(true)
	if out, err := apt.Update(); err != nil {
		t.Fatalf("update with only the lagging mirror: %v\n%s", err, out)
	}
	if _, err := apt.Download("new-lm"); err != nil {
		t.Fatalf("the new snapshot was rolled back by a lagging mirror: %v", err)
	}
	// A fresh client sees the new snapshot too, served from the cache.
	apt2 := arc.client(t, h.URL("debian"), "stable")
	if out, err := apt2.Update(); err != nil {
		t.Fatalf("fresh client update: %v\n%s", err, out)
	}
	if _, err := apt2.Download("new-lm", "hello-lm"); err != nil {
		t.Fatalf("fresh client download: %v", err)
	}
}

// TestDNFSnapshotSwitch: a yum repo publishes a new revision (bar updated,
// baz added) between two dnf runs; repomd.xml and repomd.xml.asc always come
// from one snapshot, so dnf's signature check passes on both sides.
func TestDNFSnapshotSwitch(t *testing.T) {
	tr := newYumTree(t)
	h := newHarness(t, yamlRepos("fedora: {type: rpm, mirrors: ["+tr.a.URL()+", "+tr.b.URL()+"], metadata_ttl: 1ns}"))
	d := fixture.NewDNF(t)
	d.AddRepo("lm-os", h.URL("fedora")+"/"+tr.osRoot+"/", tr.key)
	if out, err := d.Makecache(); err != nil {
		t.Fatalf("makecache before: %v\n%s", err, out)
	}
	if _, err := d.Download("bar"); err != nil {
		t.Fatal(err)
	}

	v2 := t.TempDir()
	root := filepath.Join(v2, tr.osRoot)
	baz := fixture.RPM{Name: "baz", Version: "0.1", Release: "1", Arch: "noarch", Size: 5 << 10}
	built := fixture.BuildRPMs(t, root, "Packages", []fixture.RPM{rpmFoo, rpmBarNew, baz})
	fixture.YumRepo(t, root, fixture.YumOptions{Zck: true, Comps: []string{"foo", "bar", "baz"}, Key: tr.key, Revision: "2000000000"})
	tr.a.SetRoot(v2)
	tr.b.SetRoot(v2)

	d.CleanAll()
	if out, err := d.Makecache(); err != nil {
		t.Fatalf("makecache after the switch: %v\n%s", err, out)
	}
	files, err := d.Download("baz", "bar")
	if err != nil {
		t.Fatalf("download after the switch: %v", err)
	}
	sameFile(t, files[baz.File()], filepath.Join(root, built[baz.NVRA()]))
	sameFile(t, files[rpmBarNew.File()], filepath.Join(root, built[rpmBarNew.NVRA()]))
}
