package server_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lazymirror/internal/fixture"
)

// aptArchive builds a signed apt archive with two suites sharing a package,
// served by two mirrors with different URL prefixes.
type aptArchive struct {
	dir    string
	key    *fixture.Key
	a, b   *fixture.Mirror
	debs   []fixture.Deb
	stable []fixture.Deb
}

func newAptArchive(t *testing.T) *aptArchive {
	t.Helper()
	fixture.Require(t, "dpkg-deb", "apt-ftparchive", "gpg", "apt-get")
	shared := fixture.Deb{Name: "tzdata-lm", Version: "2024a-0+deb12u1", Arch: "all", Size: 20 << 10}
	stable := []fixture.Deb{
		{Name: "hello-lm", Version: "2.10-3", Arch: "amd64", Size: 40 << 10},
		{Name: "plus-lm", Version: "1.0+dfsg-1~bpo12+1", Arch: "amd64", Size: 30 << 10},
		{Name: "libbig-lm", Version: "3.1", Arch: "amd64", Size: 3 << 20},
		shared,
	}
	updates := []fixture.Deb{shared, {Name: "hello-lm", Version: "2.10-3+deb12u1", Arch: "amd64", Size: 41 << 10}}
	arc := &aptArchive{dir: t.TempDir(), key: fixture.NewKey(t), stable: stable}
	arc.debs = append(append([]fixture.Deb{}, stable...), updates[1])
	fixture.AptRepo(t, arc.dir, arc.key, "amd64",
		fixture.Suite{Name: "stable", Debs: stable, Date: time.Now().Add(-time.Hour)},
		fixture.Suite{Name: "stable-updates", Debs: updates, Date: time.Now().Add(-time.Hour)})
	arc.a = fixture.NewMirror(t, arc.dir, "/debian/")
	arc.b = fixture.NewMirror(t, arc.dir, "/pub/mirrors/debian/")
	return arc
}

func isPool(rel string) bool { return strings.HasPrefix(rel, "pool/") }

// poolFetches counts package requests that reached the upstream mirrors.
func (arc *aptArchive) poolFetches() int {
	return arc.a.Total(isPool) + arc.b.Total(isPool)
}

func (arc *aptArchive) client(t *testing.T, base string, suites ...string) *fixture.Apt {
	t.Helper()
	apt := fixture.NewApt(t, "amd64")
	for _, s := range suites {
		apt.AddSource("deb [signed-by=" + arc.key.PublicKeyring + "] " + base + " " + s + " main")
	}
	return apt
}

// TestAptThroughLazymirror: real apt-get update and download through
// lazymirror; the bytes are the archive's; a second repo reaching the same
// packages through the other mirror fetches nothing upstream.
func TestAptThroughLazymirror(t *testing.T) {
	arc := newAptArchive(t)
	h := newHarness(t, yamlRepos(
		"debian: {type: deb, mirrors: ["+arc.a.URL()+", "+arc.b.URL()+"]}",
		"debian-b: {type: deb, mirrors: ["+arc.b.URL()+"]}",
	))
	names := []string{"hello-lm", "plus-lm", "libbig-lm", "tzdata-lm"}

	apt := arc.client(t, h.URL("debian"), "stable", "stable-updates")
	if out, err := apt.Update(); err != nil {
		t.Fatalf("apt-get update: %v\n%s", err, out)
	}
	files, err := apt.Download(names...)
	if err != nil {
		t.Fatalf("apt-get download: %v", err)
	}
	for _, d := range arc.debs {
		if got, ok := files[filepath.Base(d.Pool())]; ok {
			sameFile(t, got, filepath.Join(arc.dir, d.Pool()))
		}
	}
	if len(files) != len(names) {
		t.Fatalf("downloaded %d files, want %d: %v", len(files), len(names), files)
	}
	first := arc.poolFetches()
	if first != len(names) {
		t.Errorf("upstream package fetches = %d, want one per package (%d)", first, len(names))
	}

	// The same packages through another repo and the other mirror: no upstream package fetch.
	apt2 := arc.client(t, h.URL("debian-b"), "stable")
	if out, err := apt2.Update(); err != nil {
		t.Fatalf("apt-get update (debian-b): %v\n%s", err, out)
	}
	files2, err := apt2.Download("plus-lm", "libbig-lm", "tzdata-lm")
	if err != nil {
		t.Fatalf("apt-get download (debian-b): %v", err)
	}
	if len(files2) != 3 {
		t.Fatalf("debian-b downloaded %v", files2)
	}
	if got := arc.poolFetches(); got != first {
		t.Errorf("second repo caused %d upstream package fetches, want 0", got-first)
	}
	blobs := h.blobs()
	stored := 0
	for _, d := range arc.debs {
		if hasBlob(t, blobs, filepath.Join(arc.dir, d.Pool())) {
			stored++
		}
	}
	if stored != len(names) {
		t.Errorf("store holds %d of the packages, want %d (each once)", stored, len(names))
	}

	// After a restart, everything is a hit.
	h.restart()
	apt3 := arc.client(t, h.URL("debian"), "stable")
	if out, err := apt3.Update(); err != nil {
		t.Fatalf("apt-get update after restart: %v\n%s", err, out)
	}
	if _, err := apt3.Download("tzdata-lm", "libbig-lm"); err != nil {
		t.Fatalf("download after restart: %v", err)
	}
	if got := arc.poolFetches(); got != first {
		t.Errorf("after restart: %d more upstream package fetches, want 0", got-first)
	}
}
