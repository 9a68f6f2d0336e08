package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"lazymirror/internal/fixture"
	"lazymirror/stats"
)

// TestStats: after a scripted sequence of requests through two repos over
// the same archive (two mirrors), the figures equal what the test computes
// itself from what it asked and what the mirrors served; and `stats` gives
// the same figures asking the running server as reading the index after
// it stopped.
func TestStats(t *testing.T) {
	fixture.Require(t, "dpkg-deb", "apt-ftparchive", "gpg")
	arc := t.TempDir()
	one := fixture.Deb{Name: "one-lm", Version: "1.0", Arch: "amd64", Size: 30 << 10}
	two := fixture.Deb{Name: "two-lm", Version: "2.0", Arch: "all", Size: 50 << 10}
	fixture.AptRepo(t, arc, fixture.NewKey(t), "amd64", fixture.Suite{Name: "stable", Debs: []fixture.Deb{one, two}})
	ma := fixture.NewMirror(t, arc, "/debian/")
	mb := fixture.NewMirror(t, arc, "/pub/debian/")
	data := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "lazymirror.yaml")
	yaml := "repos:\n  a: {type: deb, mirrors: [" + ma.URL() + "], suites: [stable]}\n  b: {type: deb, mirrors: [" + mb.URL() + "], suites: [stable]}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	base, stop := startServe(t, "--config", cfg, "--data-dir", data)

	size := func(rel string) int64 {
		fi, err := os.Stat(filepath.Join(arc, rel))
		if err != nil {
			return 0 // not in the archive: the mirror answered 404
		}
		return fi.Size()
	}
	var served int64
	get := func(repo, rel string) {
		resp, err := http.Get(base + "/" + repo + "/" + rel)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s/%s: %d %v", repo, rel, resp.StatusCode, err)
		}
		served += n
	}
	get("a", one.Pool()) // miss
	get("a", one.Pool()) // hit
	get("b", one.Pool()) // hit: the same bytes through the other repo and mirror
	get("b", two.Pool()) // miss

	// What the mirrors sent: every GET they answered with a file.
	var fetched int64
	for _, m := range []*fixture.Mirror{ma, mb} {
		for _, r := range m.Received() {
			if r.Method == http.MethodGet {
				fetched += size(r.Rel)
			}
		}
	}
	// Stored: the root files and the Packages index each repo used (the same
	// bytes for both), and the two packages. Paths: per repo, the index by
	// its name and its two by-hash names, and both packages (each repo's
	// index lists them, and their bytes are stored).
	pkgs := "dists/stable/main/binary-amd64/Packages.gz"
	roots := size("dists/stable/InRelease") + size("dists/stable/Release") + size("dists/stable/Release.gpg")
	want := stats.Report{
		Totals:       stats.Totals{Requests: 4, Hits: 2, Misses: 2, HitRatio: 0.5, ServedBytes: served, FetchedBytes: fetched},
		Blobs:        6,
		StoredBytes:  roots + size(pkgs) + size(one.Pool()) + size(two.Pool()),
		Paths:        2 * (3 + 2),
		LogicalBytes: 6*size(pkgs) + 2*size(one.Pool()) + 2*size(two.Pool()),
		SharedPaths:  6 + 2 + 2,
	}
	want.SavedBytes = want.LogicalBytes - (size(pkgs) + size(one.Pool()) + size(two.Pool()))

	check := func(how string, got *stats.Report) {
		t.Helper()
		g := *got
		g.Generated, g.TopShared, g.Repos = want.Generated, nil, nil
		if !reflect.DeepEqual(g, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", how, g, want)
		}
		if len(got.TopShared) != 3 || got.TopShared[0].Size != size(two.Pool()) || got.TopShared[2].Paths != 6 {
			t.Errorf("%s: top shared blobs %+v, want two-lm, one-lm (2 paths each, most bytes saved first), then the Packages index (6 paths)", how, got.TopShared)
		}
	}
	report := func(args ...string) *stats.Report {
		t.Helper()
		var out bytes.Buffer
		if err := run(context.Background(), append([]string{"stats", "--json"}, args...), noEnv, nil, &out, io.Discard); err != nil {
			t.Fatalf("stats %v: %v", args, err)
		}
		var r stats.Report
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		return &r
	}
	live := report("--server", base, "--fresh")
	check("from the running server", live)
	if st := live.Repos[0].Mirrors[0].State; st != "closed" {
		t.Errorf("mirror state from the server = %q, want closed", st)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	check("from the index, server stopped", report("--config", cfg, "--data-dir", data))

	// The text form names the figures too.
	var out bytes.Buffer
	if err := run(context.Background(), []string{"stats", "--config", cfg, "--data-dir", data}, noEnv, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"hit ratio 50.0%", "deduplicated", "one-lm"} {
		if !bytes.Contains(out.Bytes(), []byte(s)) {
			t.Errorf("text output lacks %q:\n%s", s, out.String())
		}
	}
}

// TestGCCommand: gc runs through a running server (POST /_/gc) and, with
// the server stopped, on the data directory; both answer in JSON, and the
// dry run changes nothing.
func TestGCCommand(t *testing.T) {
	fixture.Require(t, "dpkg-deb", "apt-ftparchive", "gpg")
	arc := t.TempDir()
	one := fixture.Deb{Name: "one-lm", Version: "1.0", Arch: "amd64", Size: 10 << 10}
	fixture.AptRepo(t, arc, nil, "amd64", fixture.Suite{Name: "stable", Debs: []fixture.Deb{one}})
	m := fixture.NewMirror(t, arc, "/debian/")
	data := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "lazymirror.yaml")
	if err := os.WriteFile(cfg, []byte("repos:\n  debian: {type: deb, mirrors: ["+m.URL()+"], suites: [stable]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base, stop := startServe(t, "--config", cfg, "--data-dir", data)
	resp, err := http.Get(base + "/debian/" + one.Pool())
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	gc := func(args ...string) map[string]any {
		t.Helper()
		var out bytes.Buffer
		if err := run(context.Background(), append([]string{"gc", "--json", "--older-than", "0s"}, args...), noEnv, nil, &out, io.Discard); err != nil {
			t.Fatalf("gc %v: %v", args, err)
		}
		var rep map[string]any
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatalf("gc %v: %v\n%s", args, err, out.String())
		}
		return rep
	}
	// One snapshot, everything listed: nothing to drop, either way.
	if rep := gc("--server", base, "--dry-run"); rep["snapshots"] != 0.0 || rep["blobs"] != 0.0 {
		t.Errorf("gc through the server: %v", rep)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if rep := gc("--config", cfg, "--data-dir", data); rep["snapshots"] != 0.0 || rep["entries"] != 0.0 || rep["blobs"] != 0.0 {
		t.Errorf("gc on the data directory: %v", rep)
	}
}
