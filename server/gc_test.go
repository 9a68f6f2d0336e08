package server_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"lazymirror/cache"
	"lazymirror/config"
	"lazymirror/internal/fixture"
)

// TestGC: after upstream publishes two more snapshots, a package the
// archive dropped, and the first snapshot's metadata, are collected; what
// the retained snapshots list stays, and clients keep working.
func TestGC(t *testing.T) {
	arc := newAptArchive(t)
	h := newHarness(t, yamlRepos("debian: {type: deb, mirrors: ["+arc.a.URL()+"], suites: [stable], metadata_ttl: 1ns}"))
	// old-lm is too big to be served from memory: a client reading it
	// reads its file.
	old := fixture.Deb{Name: "old-lm", Version: "1.0", Arch: "amd64", Size: 100 << 10}
	keep := fixture.Deb{Name: "keep-lm", Version: "1.0", Arch: "amd64", Size: 10 << 10}
	add := fixture.Deb{Name: "new-lm", Version: "2.0", Arch: "amd64", Size: 10 << 10}
	published := 0
	publish := func(debs ...fixture.Deb) string {
		dir := t.TempDir()
		published++
		date := time.Now().Add(time.Duration(published-3) * time.Hour) // each newer than the last
		fixture.AptRepo(t, dir, arc.key, "amd64", fixture.Suite{Name: "stable", Debs: debs, Date: date})
		arc.a.SetRoot(dir)
		// A client's update makes the new snapshot current.
		if code, _, _ := h.get(h.URL("debian")+"/dists/stable/InRelease", map[string]string{"Cache-Control": "max-age=0"}); code != 200 {
			t.Fatal("InRelease")
		}
		if err := h.cache.Idle(context.Background()); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	v1 := publish(old, keep)
	for _, d := range []fixture.Deb{old, keep} {
		if code, _, _ := h.get(h.URL("debian")+"/"+d.Pool(), nil); code != 200 {
			t.Fatalf("%s: %d", d.Name, code)
		}
	}
	// A client still reading old-lm when gc runs: its blob stays until
	// the client is done.
	held, err := h.cache.Open(context.Background(), cache.Request{Repo: "debian", Path: old.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	// v2 and v3 drop old-lm; the v1 snapshot falls out of retention.
	publish(keep, add)
	v3 := publish(keep, add)

	dry, err := h.cache.GC(context.Background(), cache.GCOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if dry.Snapshots != 1 || dry.Entries == 0 || dry.Blobs == 0 || len(dry.Skipped) > 0 {
		t.Fatalf("dry run: %+v; want 1 snapshot and some entries and blobs, nothing skipped", dry)
	}
	if !hasBlob(t, h.blobs(), filepath.Join(v1, old.Pool())) {
		t.Fatal("the dry run removed a blob")
	}
	rep, err := h.cache.GC(context.Background(), cache.GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Snapshots != dry.Snapshots || rep.Entries != dry.Entries || rep.Blobs != dry.Blobs || rep.Bytes != dry.Bytes {
		t.Errorf("gc %+v differs from its dry run %+v", rep, dry)
	}
	if !hasBlob(t, h.blobs(), filepath.Join(v1, old.Pool())) {
		t.Fatal("gc removed old-lm while a client held it")
	}
	held.Close()
	fi, err := os.Stat(filepath.Join(v1, old.Pool()))
	if err != nil {
		t.Fatal(err)
	}
	rep, err = h.cache.GC(context.Background(), cache.GCOptions{})
	if err != nil || rep.Blobs != 1 || rep.Bytes != fi.Size() {
		t.Errorf("gc after the client let old-lm go: %+v (%v), want its one blob", rep, err)
	}
	blobs := h.blobs()
	if hasBlob(t, blobs, filepath.Join(v1, old.Pool())) {
		t.Error("the dropped package old-lm is still stored")
	}
	if hasBlob(t, blobs, filepath.Join(v1, "dists/stable/InRelease")) {
		t.Error("the first snapshot's InRelease is still stored")
	}
	if !hasBlob(t, blobs, filepath.Join(v3, keep.Pool())) {
		t.Error("keep-lm, listed by the current snapshot, was collected")
	}
	if !hasBlob(t, blobs, filepath.Join(v3, "dists/stable/InRelease")) {
		t.Error("the current InRelease was collected")
	}
	// Clients keep working: keep-lm is a hit, new-lm is fetched.
	before := arc.a.Requests(keep.Pool())
	if code, _, hdr := h.get(h.URL("debian")+"/"+keep.Pool(), nil); code != 200 || hdr.Get("X-Cache") != "HIT" || arc.a.Requests(keep.Pool()) != before {
		t.Errorf("keep-lm after gc: %d %s", code, hdr.Get("X-Cache"))
	}
	if code, _, _ := h.get(h.URL("debian")+"/"+add.Pool(), nil); code != 200 {
		t.Errorf("new-lm after gc: %d", code)
	}
	again, err := h.cache.GC(context.Background(), cache.GCOptions{})
	if err != nil || again.Snapshots+again.Entries+again.Blobs != 0 {
		t.Errorf("a second gc dropped %+v (%v), want nothing", again, err)
	}
}

// TestGCKeepsUnconfiguredRepos: gc run with a configuration that does not
// name a repo the index holds (another config file, none at all, a repo
// taken out) keeps everything of that repo instead of dropping its blobs
// as unreferenced.
func TestGCKeepsUnconfiguredRepos(t *testing.T) {
	arc := newAptArchive(t)
	h := newHarness(t, yamlRepos("debian: {type: deb, mirrors: ["+arc.a.URL()+"], suites: [stable]}"))
	for _, d := range arc.stable[:2] {
		if code, _, _ := h.get(h.URL("debian")+"/"+d.Pool(), nil); code != 200 {
			t.Fatalf("%s: %d", d.Name, code)
		}
	}
	if err := h.cache.Idle(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := h.blobs()
	cfg, err := config.Parse("other.yaml", []byte(yamlRepos("other: {type: deb, mirrors: [http://127.0.0.1:1/debian/]}")))
	if err != nil {
		t.Fatal(err)
	}
	h.cfg = cfg
	h.restart()
	rep, err := h.cache.GC(context.Background(), cache.GCOptions{OlderThan: -time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Blobs != 0 || rep.Entries != 0 || rep.Snapshots != 0 {
		t.Errorf("gc dropped %d blobs, %d entries, %d snapshots of a repo the config does not name", rep.Blobs, rep.Entries, rep.Snapshots)
	}
	if !slices.ContainsFunc(rep.Skipped, func(s string) bool { return strings.HasPrefix(s, "debian:") }) {
		t.Errorf("skipped %q; want the debian repo named", rep.Skipped)
	}
	if after := h.blobs(); len(after) != len(before) {
		t.Errorf("%d blobs after gc, %d before", len(after), len(before))
	}
}
