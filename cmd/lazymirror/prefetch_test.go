package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lazymirror/internal/fixture"
)

// TestPrefetch: a list mixing every input form is resolved and fetched;
// a name not in the metadata and a package no mirror can serve are listed
// and make the exit status non-zero; a mirror failing mid-run is skipped;
// a second run fetches nothing; then real apt-get clients get every
// prefetched package with no upstream package fetch.
func TestPrefetch(t *testing.T) {
	fixture.Require(t, "dpkg-deb", "apt-ftparchive", "gpg", "apt-get")
	debs := []fixture.Deb{
		{Name: "one-lm", Version: "1.0", Arch: "amd64", Size: 20 << 10},
		{Name: "two-lm", Version: "2.0", Arch: "amd64", Size: 20 << 10},
		{Name: "two-lm", Version: "2.1", Arch: "amd64", Size: 20 << 10},
		{Name: "three-lm", Version: "3.0+dfsg~1", Arch: "all", Size: 20 << 10},
		{Name: "four-lm", Version: "1:4.0", Arch: "amd64", Size: 20 << 10},
		{Name: "five-lm", Version: "5.0", Arch: "amd64", Size: 20 << 10},
		{Name: "six-lm", Version: "6.0", Arch: "amd64", Size: 20 << 10},
		{Name: "broken-lm", Version: "1.0", Arch: "amd64", Size: 20 << 10},
	}
	arc := t.TempDir()
	key := fixture.NewKey(t)
	fixture.AptRepo(t, arc, key, "amd64", fixture.Suite{Name: "stable", Debs: debs})
	ma := fixture.NewMirror(t, arc, "/debian/")
	mb := fixture.NewMirror(t, arc, "/mirror/debian/")
	// broken-lm: no mirror can serve it. six-lm: mirror A fails for it, B serves it.
	ma.SetFault(debs[7].Pool(), fixture.Fault{Status: 500})
	mb.SetFault(debs[7].Pool(), fixture.Fault{Status: 500})
	ma.SetFault(debs[6].Pool(), fixture.Fault{Truncate: 100})

	data := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "lazymirror.yaml")
	yaml := "listen: 127.0.0.1:0\nrepos:\n  debian: {type: deb, mirrors: [" + ma.URL() + ", " + mb.URL() + "], suites: [stable]}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	list := strings.Join([]string{
		"# packages of a host",
		"one-lm",
		"two-lm=2.0",           // not the newest
		"three-lm:all",         // name:arch
		"four-lm\t\t\tinstall", // dpkg --get-selections
		"five-lm\t5.0",         // dpkg-query -W
		"",
		"six-lm/amd64",
		"missing-lm",
		"broken-lm",
	}, "\n")
	prefetch := func() (string, error) {
		var out bytes.Buffer
		err := run(context.Background(), []string{"prefetch", "--config", cfg, "--data-dir", data, "--repo", "debian", "-"}, noEnv, strings.NewReader(list), &out, io.Discard)
		return out.String(), err
	}
	out, err := prefetch()
	if !errors.Is(err, errIncomplete) {
		t.Fatalf("first run: err %v, want errIncomplete\n%s", err, out)
	}
	for _, want := range []string{"fetched 6 packages", "already cached 0", "not found 1", "failed 1", "not found: line 9: missing-lm", "failed: line 10: broken-lm"} {
		if !strings.Contains(out, want) {
			t.Errorf("first run summary lacks %q:\n%s", want, out)
		}
	}
	pool := func(rel string) bool { return strings.HasPrefix(rel, "pool/") }
	if got := ma.Total(pool) + mb.Total(pool); got == 0 {
		t.Fatal("no package reached the mirrors")
	}
	if ma.Requests(debs[1].Pool()) != 1 || ma.Requests(debs[2].Pool()) != 0 {
		t.Errorf("two-lm=2.0 fetched %d times, 2.1 %d times; want the version asked for", ma.Requests(debs[1].Pool()), ma.Requests(debs[2].Pool()))
	}
	if mb.Requests(debs[6].Pool()) != 1 {
		t.Errorf("six-lm: mirror A failed mid-transfer; mirror B asked %d times, want 1", mb.Requests(debs[6].Pool()))
	}

	// Again: nothing is fetched.
	before := ma.Total(pool) + mb.Total(pool)
	out, err = prefetch()
	if !errors.Is(err, errIncomplete) || !strings.Contains(out, "fetched 0 packages") || !strings.Contains(out, "already cached 6") {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	if got := ma.Total(pool) + mb.Total(pool); got != before+2 { // broken-lm is tried again on both mirrors
		t.Errorf("second run: %d upstream package requests, want only broken-lm's 2", got-before)
	}

	// Real apt through the server: every prefetched package without an upstream package fetch.
	ma.SetFault(debs[7].Pool(), fixture.Fault{})
	before = ma.Total(pool) + mb.Total(pool)
	base, _ := startServe(t, "--config", cfg, "--data-dir", data)
	apt := fixture.NewApt(t, "amd64")
	apt.AddSource("deb [signed-by=" + key.PublicKeyring + "] " + base + "/debian stable main")
	if out, err := apt.Update(); err != nil {
		t.Fatalf("apt-get update: %v\n%s", err, out)
	}
	files, err := apt.Download("one-lm", "two-lm=2.0", "three-lm", "four-lm", "five-lm", "six-lm")
	if err != nil || len(files) != 6 {
		t.Fatalf("apt-get download: %v %v", files, err)
	}
	if got := ma.Total(pool) + mb.Total(pool); got != before {
		t.Errorf("apt-get after prefetch caused %d upstream package fetches, want 0", got-before)
	}
}

// TestPrefetchThenDNF: rpm -qa lines and names prefetched from a yum repo of
// a mirror tree; then a real dnf gets them with no upstream rpm fetch.
func TestPrefetchThenDNF(t *testing.T) {
	fixture.Require(t, "rpmbuild", "createrepo_c", "gpg", "dnf")
	tree := t.TempDir()
	root := "releases/40/Everything/x86_64/os"
	rpms := []fixture.RPM{
		{Name: "foo", Version: "1.2", Release: "3.fc40", Arch: "noarch", Size: 8 << 10},
		{Name: "bar", Version: "2.0", Release: "1.fc40", Arch: "x86_64", Size: 8 << 10},
	}
	fixture.BuildRPMs(t, filepath.Join(tree, root), "Packages", rpms)
	key := fixture.NewKey(t)
	fixture.YumRepo(t, filepath.Join(tree, root), fixture.YumOptions{Key: key})
	m := fixture.NewMirror(t, tree, "/fedora/linux/")
	data := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "lazymirror.yaml")
	if err := os.WriteFile(cfg, []byte("listen: 127.0.0.1:0\nrepos:\n  fedora: {type: rpm, mirrors: ["+m.URL()+"]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	list := "foo-1.2-3.fc40.noarch\nbar\n"
	args := []string{"prefetch", "--config", cfg, "--data-dir", data, "--repo", "fedora", "--suite", root, "--arch", "x86_64,noarch", "-"}
	if err := run(context.Background(), args, noEnv, strings.NewReader(list), &out, io.Discard); err != nil {
		t.Fatalf("prefetch: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "fetched 2 packages") {
		t.Fatalf("prefetch summary: %s", out.String())
	}
	isRPM := func(rel string) bool { return strings.HasSuffix(rel, ".rpm") }
	before := m.Total(isRPM)
	base, _ := startServe(t, "--config", cfg, "--data-dir", data)
	d := fixture.NewDNF(t)
	d.AddRepo("lm", base+"/fedora/"+root+"/", key)
	if out, err := d.Makecache(); err != nil {
		t.Fatalf("dnf makecache: %v\n%s", err, out)
	}
	files, err := d.Download("foo", "bar")
	if err != nil || len(files) != 2 {
		t.Fatalf("dnf download: %v %v", files, err)
	}
	if got := m.Total(isRPM); got != before {
		t.Errorf("dnf after prefetch caused %d upstream rpm fetches, want 0", got-before)
	}
}
