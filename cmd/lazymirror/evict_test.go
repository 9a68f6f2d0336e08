package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"lazymirror/cache"
	"lazymirror/internal/fixture"
)

// TestEvictCommand: evict through a running server (POST /_/evict) and, with
// the server stopped, on the data directory. The dry run changes nothing and
// lists packages only; the real run drops exactly those, brings the blob
// files under data_dir/blobs to the size asked for, keeps the snapshot's
// metadata (InRelease stays a hit, upstream is not asked), and an evicted
// package is fetched again on request. A bad --to is a usage error.
func TestEvictCommand(t *testing.T) {
	fixture.Require(t, "dpkg-deb", "apt-ftparchive", "gpg")
	arc := t.TempDir()
	var debs []fixture.Deb
	for _, n := range []string{"one", "two", "three", "four"} {
		debs = append(debs, fixture.Deb{Name: n + "-lm", Version: "1.0", Arch: "amd64", Size: 40 << 10})
	}
	fixture.AptRepo(t, arc, fixture.NewKey(t), "amd64", fixture.Suite{Name: "stable", Debs: debs})
	m := fixture.NewMirror(t, arc, "/debian/")
	data := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "lazymirror.yaml")
	if err := os.WriteFile(cfg, []byte("metadata_ttl: 1h\nrepos:\n  debian: {type: deb, mirrors: ["+m.URL()+"], suites: [stable]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pkgs := make(map[string]fixture.Deb) // digest → package
	for _, d := range debs {
		b, err := os.ReadFile(filepath.Join(arc, d.Pool()))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		pkgs[hex.EncodeToString(sum[:])] = d
	}
	const inRelease = "dists/stable/InRelease"

	var base string
	get := func(rel string) (*http.Response, []byte) {
		t.Helper()
		resp, err := http.Get(base + "/debian/" + rel)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %v", rel, resp.StatusCode, err)
		}
		return resp, body
	}
	// idle waits for the server's downloads to be recorded: gc waits for
	// them before it looks, and its dry run changes nothing.
	idle := func() {
		t.Helper()
		if err := run(context.Background(), []string{"gc", "--dry-run", "--server", base}, noEnv, nil, io.Discard, io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	evict := func(args ...string) cache.EvictReport {
		t.Helper()
		var out bytes.Buffer
		if err := run(context.Background(), append([]string{"evict", "--json"}, args...), noEnv, nil, &out, io.Discard); err != nil {
			t.Fatalf("evict %v: %v", args, err)
		}
		var rep cache.EvictReport
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatalf("evict %v: %v\n%s", args, err, out.String())
		}
		if rep.Evicted == nil || !strings.Contains(out.String(), `"evicted": [`) {
			t.Errorf("evict %v: the list is not a JSON array:\n%s", args, out.String())
		}
		return rep
	}
	// checkEvict runs a dry run, then the real run, down to `to`, and
	// checks them against the blob files; it returns the packages evicted.
	checkEvict := func(how string, to int64, args ...string) []fixture.Deb {
		t.Helper()
		sizeArg := []string{"--to", strconv.FormatInt(to, 10)}
		before := blobFiles(t, data)
		dry := evict(append(append([]string{"--dry-run"}, sizeArg...), args...)...)
		if after := blobFiles(t, data); !maps(before, after) {
			t.Errorf("%s: the dry run changed the store: %d blobs before, %d after", how, len(before), len(after))
		}
		if !dry.DryRun || dry.Blobs == 0 || dry.Blobs != len(dry.Evicted) || dry.Left > to {
			t.Errorf("%s: dry run report %+v", how, dry)
		}
		var gone []fixture.Deb
		for _, b := range dry.Evicted {
			d, ok := pkgs[b.Digest]
			if !ok {
				t.Errorf("%s: the dry run would evict %s, not a package (metadata must stay)", how, b.Digest)
			}
			if before[b.Digest] != b.Size {
				t.Errorf("%s: blob %s: reported %d bytes, its file has %d", how, b.Digest, b.Size, before[b.Digest])
			}
			gone = append(gone, d)
		}
		if len(gone) == 0 {
			t.Fatalf("%s: nothing to evict down to %d bytes", how, to)
		}
		rep := evict(append(sizeArg, args...)...)
		after := blobFiles(t, data)
		if got := sumSizes(after); got > to || got != rep.Left {
			t.Errorf("%s: blob files add up to %d bytes after evict --to %d (report: %d left)", how, got, to, rep.Left)
		}
		if rep.DryRun || !slices.EqualFunc(rep.Evicted, dry.Evicted, func(a, b cache.EvictedBlob) bool { return a.Digest == b.Digest }) {
			t.Errorf("%s: evicted %+v, the dry run said %+v", how, rep.Evicted, dry.Evicted)
		}
		for _, b := range rep.Evicted {
			if _, ok := after[b.Digest]; ok {
				t.Errorf("%s: evicted blob %s is still stored", how, b.Digest)
			}
		}
		return gone
	}
	// checkServed: InRelease is a hit without asking upstream, and an
	// evicted package comes back from upstream.
	checkServed := func(how string, d fixture.Deb) {
		t.Helper()
		n := m.Requests(inRelease)
		if resp, _ := get(inRelease); resp.Header.Get("X-Cache") != "HIT" || m.Requests(inRelease) != n {
			t.Errorf("%s: InRelease: X-Cache %q, upstream asked %d times more", how, resp.Header.Get("X-Cache"), m.Requests(inRelease)-n)
		}
		n = m.Requests(d.Pool())
		_, body := get(d.Pool())
		want, err := os.ReadFile(filepath.Join(arc, d.Pool()))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(body, want) || m.Requests(d.Pool()) != n+1 {
			t.Errorf("%s: evicted %s: %d bytes, upstream asked %d times more; want it fetched again", how, d.Name, len(body), m.Requests(d.Pool())-n)
		}
	}

	base, stop := startServe(t, "--config", cfg, "--data-dir", data)
	get(inRelease)
	for _, d := range debs {
		get(d.Pool())
	}
	idle()
	// Room for all but two packages and a half.
	to := sumSizes(blobFiles(t, data)) - 5*(40<<10)/2
	gone := checkEvict("through the server", to, "--server", base)
	if len(gone) != 3 {
		t.Errorf("through the server: evicted %d packages, want 3", len(gone))
	}
	checkServed("through the server", gone[0])
	idle()

	// A bad or missing size: a usage error on the command line, 400 from the server.
	for _, args := range [][]string{{"--to", "lots"}, {"--to", "-5MB"}, {}, {"--to", "1GB", "extra"}} {
		err := run(context.Background(), append([]string{"evict", "--server", base}, args...), noEnv, nil, io.Discard, io.Discard)
		if code := exitCode(err, io.Discard); code != 2 {
			t.Errorf("evict %v: exit code %d (%v), want 2", args, code, err)
		}
	}
	for _, q := range []string{"", "?to=lots"} {
		resp, err := http.Post(base+"/_/evict"+q, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(msg), "to:") {
			t.Errorf("POST /_/evict%s: %d %q, want 400 naming to", q, resp.StatusCode, msg)
		}
	}

	// The same on the data directory, the server stopped: down to the
	// metadata and one package.
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	held := blobFiles(t, data)
	var stored int
	for dg := range held {
		if _, ok := pkgs[dg]; ok {
			stored++
		}
	}
	to = sumSizes(held) - int64(stored-1)*(40<<10)
	gone = checkEvict("on the data directory", to, "--config", cfg, "--data-dir", data)
	if len(gone) != stored-1 {
		t.Errorf("on the data directory: evicted %d of %d packages, want all but one", len(gone), stored)
	}
	base, _ = startServe(t, "--config", cfg, "--data-dir", data)
	checkServed("after evicting on the data directory", gone[0])
}

// blobFiles returns the blob files under data/blobs: size by hex digest.
func blobFiles(t *testing.T, data string) map[string]int64 {
	t.Helper()
	files := make(map[string]int64)
	err := filepath.WalkDir(filepath.Join(data, "blobs"), func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		files[e.Name()] = fi.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func sumSizes(files map[string]int64) int64 {
	var n int64
	for _, s := range files {
		n += s
	}
	return n
}

func maps(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
