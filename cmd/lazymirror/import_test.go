package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"lazymirror/checksum"
	"lazymirror/index"
	"lazymirror/internal/fixture"
	"lazymirror/ops"
	"lazymirror/stats"
)

// TestImportVerifyServe drives the real commands: import real packages
// (from dpkg-deb and rpmbuild) and junk; a running serve then answers
// requests for them without asking the upstream mirrors; import refuses to
// run beside serve; verify finds a flipped byte, --repair quarantines the
// blob, and the next request fetches it again from upstream and gets the
// right bytes.
func TestImportVerifyServe(t *testing.T) {
	fixture.Require(t, "dpkg-deb", "apt-ftparchive", "gpg", "rpmbuild", "createrepo_c")
	arc := t.TempDir()
	deb := fixture.Deb{Name: "seeded-lm", Version: "1.0", Arch: "amd64", Size: 64 << 10}
	fixture.AptRepo(t, arc, fixture.NewKey(t), "amd64", fixture.Suite{Name: "stable", Debs: []fixture.Deb{deb}})
	yum := t.TempDir()
	var rpmRel string
	for _, rel := range fixture.BuildRPMs(t, yum, "Packages", []fixture.RPM{{Name: "seeded-lm", Version: "1.0", Release: "1", Arch: "noarch", Size: 64 << 10}}) {
		rpmRel = rel
	}
	fixture.YumRepo(t, yum, fixture.YumOptions{})
	debUp := fixture.NewMirror(t, arc, "/debian/")
	rpmUp := fixture.NewMirror(t, yum, "/fedora/")
	debBytes := readTestFile(t, filepath.Join(arc, deb.Pool()))
	rpmBytes := readTestFile(t, filepath.Join(yum, rpmRel))

	// What an operator has at hand: copies of the packages, and junk.
	src := t.TempDir()
	writeTestFile(t, filepath.Join(src, "debs", filepath.Base(deb.Pool())), debBytes)
	writeTestFile(t, filepath.Join(src, "rpms", filepath.Base(rpmRel)), rpmBytes)
	writeTestFile(t, filepath.Join(src, "debs", "partial.deb"), debBytes[:len(debBytes)/2])

	data := t.TempDir()
	var out bytes.Buffer
	err := run(context.Background(), []string{"import", "--data-dir", data, "--json", src}, noEnv, nil, &out, io.Discard)
	if code := exitCode(err, io.Discard); code != 1 {
		t.Errorf("import with a truncated file: exit %d (%v), want 1", code, err)
	}
	var rep struct {
		Imported struct{ Files int } `json:"imported"`
		Skipped  []struct{ Path string }
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("import --json: %v\n%s", err, out.Bytes())
	}
	if rep.Imported.Files != 2 || len(rep.Skipped) != 1 || filepath.Base(rep.Skipped[0].Path) != "partial.deb" {
		t.Fatalf("import report %s: want 2 imported and partial.deb skipped", out.Bytes())
	}
	// import left the statistics of what it stored, for stats to load at once.
	idx, err := index.Open(filepath.Join(data, "index.db"), index.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	saved, err := stats.Load(idx)
	idx.Close()
	if err != nil || saved == nil || saved.Blobs != 2 {
		t.Errorf("report left by import: %+v, %v; want one of 2 blobs", saved, err)
	}

	cfg := filepath.Join(t.TempDir(), "lazymirror.yaml")
	writeTestFile(t, cfg, []byte("repos:\n"+
		"  debian: {type: deb, mirrors: ["+debUp.URL()+"], suites: [stable]}\n"+
		"  fedora: {type: rpm, mirrors: ["+rpmUp.URL()+"]}\n"))
	base, stop := startServe(t, "--config", cfg, "--data-dir", data)
	err = run(context.Background(), []string{"import", "--data-dir", data, src}, noEnv, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "stop lazymirror serve first") {
		t.Errorf("import beside serve: %v, want a message to stop serve", err)
	}
	getExpect(t, base+"/debian/"+deb.Pool(), debBytes)
	getExpect(t, base+"/fedora/"+rpmRel, rpmBytes)
	if n, m := debUp.Requests(deb.Pool()), rpmUp.Requests(rpmRel); n != 0 || m != 0 {
		t.Errorf("imported packages were fetched upstream: deb %d times, rpm %d times", n, m)
	}
	if err := stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}

	// A byte flips on disk.
	d := checksum.Digest(sha256.Sum256(debBytes))
	blob := filepath.Join(data, "blobs", "sha256", d.String()[:2], d.String())
	if err := os.Chmod(blob, 0o644); err != nil {
		t.Fatal(err)
	}
	damaged := bytes.Clone(debBytes)
	damaged[len(damaged)/3] ^= 0x01
	writeTestFile(t, blob, damaged)

	out.Reset()
	err = run(context.Background(), []string{"verify", "--data-dir", data, "--json"}, noEnv, nil, &out, io.Discard)
	if code := exitCode(err, io.Discard); code != 1 {
		t.Errorf("verify of a corrupt store: exit %d (%v), want 1", code, err)
	}
	var vrep verifyJSON
	if err := json.Unmarshal(out.Bytes(), &vrep); err != nil {
		t.Fatalf("verify --json: %v\n%s", err, out.Bytes())
	}
	if len(vrep.Corrupt) != 1 || vrep.Corrupt[0].SHA256 != d.String() || vrep.Corrupt[0].Quarantined != "" || vrep.Checked.Files < 2 {
		t.Fatalf("verify report %s: want exactly %s corrupt, not moved", out.Bytes(), d)
	}
	out.Reset()
	if err := run(context.Background(), []string{"verify", "--data-dir", data, "--repair"}, noEnv, nil, &out, io.Discard); err == nil {
		t.Error("verify --repair of a corrupt store: exit 0, want 1")
	}
	q := filepath.Join(data, "quarantine", d.String())
	if !bytes.Equal(readTestFile(t, q), damaged) || !strings.Contains(out.String(), q) {
		t.Errorf("the corrupt blob is not in %s, or the report does not say so:\n%s", q, out.String())
	}
	if err := run(context.Background(), []string{"verify", "--data-dir", data}, noEnv, nil, io.Discard, io.Discard); err != nil {
		t.Errorf("verify after repair: %v", err)
	}

	base, _ = startServe(t, "--config", cfg, "--data-dir", data)
	getExpect(t, base+"/debian/"+deb.Pool(), debBytes)
	if n := debUp.Requests(deb.Pool()); n != 1 {
		t.Errorf("after repair the package was fetched upstream %d times, want 1", n)
	}
}

// TestImportSHA1Repo: an old yum repository (librepo's test repo, in the
// corpus) lists its package by sha1 only; an imported copy of the package
// is still a hit, through the sha1 alias import records.
func TestImportSHA1Repo(t *testing.T) {
	repo := "../../testdata/corpus/rpm/librepo/repo_yum_01"
	const pkg = "filesystem-2.4.44-1.fc16.i686.rpm"
	up := fixture.NewMirror(t, repo, "/old/")
	data := t.TempDir()
	if err := run(context.Background(), []string{"import", "--data-dir", data, "--copy", filepath.Join(repo, pkg)}, noEnv, nil, io.Discard, io.Discard); err != nil {
		t.Fatalf("import: %v", err)
	}
	cfg := filepath.Join(t.TempDir(), "lazymirror.yaml")
	writeTestFile(t, cfg, []byte("repos:\n  old: {type: rpm, mirrors: ["+up.URL()+"]}\n"))
	base, _ := startServe(t, "--config", cfg, "--data-dir", data)
	getExpect(t, base+"/old/"+pkg, readTestFile(t, filepath.Join(repo, pkg)))
	if n := up.Requests(pkg); n != 0 {
		t.Errorf("the imported package was fetched upstream %d times", n)
	}
}

// TestImportVerifyUsage: --help teaches and succeeds; bad command lines exit 2.
func TestImportVerifyUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"import", "--help"}, 0, "Exit status"},
		{[]string{"verify", "--help"}, 0, "--repair"},
		{[]string{"import", "--data-dir", t.TempDir()}, 2, "name at least one"},
		{[]string{"verify", "--data-dir", t.TempDir(), "extra"}, 2, "unexpected argument"},
		{[]string{"verify", "--bogus"}, 2, "bogus"},
	} {
		var stderr bytes.Buffer
		err := run(context.Background(), tt.args, noEnv, nil, io.Discard, &stderr)
		if code := exitCode(err, io.Discard); code != tt.code || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("%v: exit %d, want %d; stderr lacks %q:\n%s", tt.args, code, tt.code, tt.want, stderr.String())
		}
	}
}

// TestProgressPlain: off a terminal, progress is a line per tenth of the
// bytes, and 100% only once the last file is done.
func TestProgressPlain(t *testing.T) {
	var buf bytes.Buffer
	prog, done := progressOutput(&buf, "verify")
	for _, p := range []ops.Progress{
		{Files: 0, Bytes: 1}, {Files: 0, Bytes: 5}, {Files: 1, Bytes: 30}, {Files: 1, Bytes: 35},
		{Files: 1, Bytes: 100}, {Files: 2, Bytes: 100},
	} {
		p.TotalFiles, p.TotalBytes = 2, 100
		prog(p)
	}
	done()
	want := "verify: 1%: 0 of 2 files, 1 B of 100 B\n" +
		"verify: 30%: 1 of 2 files, 30 B of 100 B\n" +
		"verify: 99%: 1 of 2 files, 100 B of 100 B\n" +
		"verify: 100%: 2 of 2 files, 100 B of 100 B\n"
	if buf.String() != want {
		t.Errorf("progress lines:\n%s\nwant:\n%s", buf.String(), want)
	}
}

// getExpect fetches url and checks that the body is want.
func getExpect(t *testing.T, url string, want []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(body, want) {
		t.Fatalf("GET %s: %s, %d bytes (%v); want %d bytes", url, resp.Status, len(body), err, len(want))
	}
}

// readTestFile returns a file's bytes.
func readTestFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeTestFile writes data to path, creating its directory.
func writeTestFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSourcesOnlyWhereNeeded: without --config, the commands that work on
// repos read the host's sources, and a sources file that cannot be read
// stops them with an error naming it; verify and import need no repos and
// do not read them at all.
func TestSourcesOnlyWhereNeeded(t *testing.T) {
	root := t.TempDir()
	// A directory where apt's sources.list should be: unreadable as a file.
	if err := os.MkdirAll(filepath.Join(root, "etc/apt/sources.list"), 0o755); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	if err := run(context.Background(), []string{"verify", "--sources-root", root, "--data-dir", data}, noEnv, nil, io.Discard, io.Discard); err != nil {
		t.Errorf("verify read the host's sources: %v", err)
	}
	err := run(context.Background(), []string{"stats", "--sources-root", root, "--data-dir", data}, noEnv, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "sources.list") {
		t.Errorf("stats with an unreadable sources.list: %v; want an error naming it", err)
	}
}

// TestImportSymlinks: import follows the symbolic links in a tree (to a
// file, to a directory, back to an ancestor); a dangling link is listed as
// skipped, in the JSON report and as a line of the text one, but is only a
// warning: the exit status stays 0, and a truncated package still makes
// it 1.
func TestImportSymlinks(t *testing.T) {
	pkgs := t.TempDir()
	var debBytes []byte
	for _, rel := range fixture.BuildDebs(t, pkgs, []fixture.Deb{{Name: "linked-lm", Version: "1.0", Arch: "amd64", Size: 16 << 10}}) {
		debBytes = readTestFile(t, filepath.Join(pkgs, rel))
	}
	for _, tt := range []struct {
		name      string
		truncated bool
		code      int
	}{
		{"links", false, 0},
		{"links and a truncated package", true, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src, err := filepath.EvalSymlinks(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			ext := t.TempDir()
			writeTestFile(t, filepath.Join(ext, "linked.deb"), debBytes)
			for link, target := range map[string]string{
				"pool":        ext,               // a directory linked in
				"current.deb": "pool/linked.deb", // a file, through it
				"pool-up":     ".",               // a cycle
				"old.deb":     "gone.deb",        // dangling
			} {
				if err := os.Symlink(target, filepath.Join(src, link)); err != nil {
					t.Fatal(err)
				}
			}
			dangling := filepath.Join(src, "old.deb")
			want := []string{dangling} // sorted
			if tt.truncated {
				half := filepath.Join(src, "half.deb")
				writeTestFile(t, half, debBytes[:len(debBytes)/2])
				want = []string{half, dangling}
			}

			var out bytes.Buffer
			err = run(context.Background(), []string{"import", "--data-dir", t.TempDir(), "--json", src}, noEnv, nil, &out, io.Discard)
			if code := exitCode(err, io.Discard); code != tt.code {
				t.Errorf("import --json: exit %d (%v), want %d", code, err, tt.code)
			}
			var rep struct {
				Imported struct{ Files int } `json:"imported"`
				Skipped  []struct{ Path string }
			}
			if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
				t.Fatalf("import --json: %v\n%s", err, out.Bytes())
			}
			var skipped []string
			for _, s := range rep.Skipped {
				skipped = append(skipped, s.Path)
			}
			if slices.Sort(skipped); rep.Imported.Files != 1 || !slices.Equal(skipped, want) {
				t.Errorf("import report %s: want 1 imported, %q skipped", out.Bytes(), want)
			}

			out.Reset()
			err = run(context.Background(), []string{"import", "--data-dir", t.TempDir(), src}, noEnv, nil, &out, io.Discard)
			if code := exitCode(err, io.Discard); code != tt.code {
				t.Errorf("import: exit %d (%v), want %d", code, err, tt.code)
			}
			for _, line := range []string{"imported:        1 packages", fmt.Sprintf("skipped:         %d files", len(want)), "skipped " + dangling + ": symbolic link not followed"} {
				if !strings.Contains(out.String(), line) {
					t.Errorf("import output lacks %q:\n%s", line, out.String())
				}
			}
		})
	}
}
