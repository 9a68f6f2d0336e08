package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"lazymirror/checksum"
	"lazymirror/config"
	"lazymirror/internal/fixture"
)

// noEnv is an empty environment.
func noEnv(string) string { return "" }

// TestConfigErrors: a bad config file is refused with the file, line and a
// fix, by "config check" and by "serve --config".
func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		line       string // "file:LINE:" expected in the message
		want       string // a fragment of the message
	}{
		{"unknown key", "listen: :8080\nrepos:\n  d: {type: deb, mirors: [http://m/]}\n", ":3:", "mirrors"},
		{"bad url", "repos:\n  d:\n    type: deb\n    mirrors: [ftp://m/debian/]\n", ":4:", "http"},
		{"duplicate repo", "repos:\n  d: {type: deb, mirrors: [http://m/]}\n  d: {type: deb, mirrors: [http://n/]}\n", ":3:", "d"},
		{"same host twice", "repos:\n  a: {type: deb, mirrors: [http://m/], hosts: [x.lan]}\n  b: {type: rpm, mirrors: [http://n/], hosts: [x.lan]}\n", ":3:", "x.lan"},
		{"bad size", "max_size: lots\n", ":1:", "size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "lazymirror.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"config", "check", path}, {"serve", "--config", path, "--data-dir", t.TempDir()}} {
				err := run(context.Background(), args, noEnv, nil, io.Discard, io.Discard)
				if err == nil {
					t.Fatalf("%v: accepted a bad config", args)
				}
				var ce *config.Error
				if !errors.As(err, &ce) {
					t.Errorf("%v: error %v is not a *config.Error", args, err)
				}
				msg := err.Error()
				if !strings.Contains(msg, path+tt.line) || !strings.Contains(msg, tt.want) || !strings.Contains(msg, "fix:") {
					t.Errorf("%v: message %q lacks %q, %q or a fix", args, msg, path+tt.line, tt.want)
				}
			}
		})
	}
	if code := exitCode(run(context.Background(), []string{"bogus"}, noEnv, nil, io.Discard, io.Discard), io.Discard); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
}

// TestServeDefaults: with no config, serve mirrors what the host's apt
// sources name (a fake root here), prints the client lines, and a real
// apt-get pointed at those lines works; SIGINT-style cancellation shuts it
// down cleanly.
func TestServeDefaults(t *testing.T) {
	fixture.Require(t, "dpkg-deb", "apt-ftparchive", "gpg", "apt-get")
	arc := t.TempDir()
	key := fixture.NewKey(t)
	deb := fixture.Deb{Name: "hello-lm", Version: "1.0+x~y", Arch: "amd64", Size: 8 << 10}
	extra := fixture.Deb{Name: "extra-lm", Version: "2.0", Arch: "amd64", Size: 8 << 10}
	fixture.AptRepo(t, arc, key, "amd64", fixture.Suite{Name: "stable", Debs: []fixture.Deb{deb, extra}})
	up := fixture.NewMirror(t, arc, "/debian/")

	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc/apt/sources.list.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	src := "# the host's own apt source\ndeb [signed-by=" + key.PublicKeyring + "] " + strings.TrimSuffix(up.URL(), "/") + " stable main\n"
	if err := os.WriteFile(filepath.Join(root, "etc/apt/sources.list"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--sources-root", root}, noEnv, nil, pw, io.Discard)
		pw.Close()
	}()
	// The client lines come once the server listens.
	line := regexp.MustCompile(`^deb \[signed-by=\S+\] (http://127\.0\.0\.1:\d+/debian) stable main$`)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if line.MatchString(sc.Text()) {
				found <- sc.Text()
				break
			}
		}
		io.Copy(io.Discard, pr)
	}()
	var clientLine string
	select {
	case clientLine = <-found:
	case err := <-done:
		t.Fatalf("serve ended before printing a sources.list line for the discovered repo: %v", err)
	case <-time.After(time.Minute): // watchdog: serve printed something else and runs on
		cancel()
		t.Fatalf("serve printed no sources.list line for the discovered repo: %v", <-done)
	}
	apt := fixture.NewApt(t, "amd64")
	apt.AddSource(clientLine)
	if out, err := apt.Update(); err != nil {
		t.Fatalf("apt-get update through the printed line %q: %v\n%s", clientLine, err, out)
	}
	files, err := apt.Download("hello-lm")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 {
		t.Fatalf("downloaded %v", files)
	}
	// The other commands read the same sources without a config: prefetch
	// knows the discovered repo and its suite.
	base := strings.TrimSuffix(line.FindStringSubmatch(clientLine)[1], "/debian")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"prefetch", "--sources-root", root, "--server", base, "--repo", "debian", "-"}, noEnv, strings.NewReader("extra-lm\n"), &out, io.Discard); err != nil {
		t.Fatalf("prefetch with the discovered config: %v\n%s", err, &out)
	}
	if !strings.Contains(out.String(), "fetched 1 packages") {
		t.Errorf("prefetch summary: %s", &out)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve after cancel: %v", err)
		}
	case <-time.After(time.Minute): // watchdog
		t.Fatal("serve did not shut down")
	}
}

// TestShutdownMidDownload: SIGINT while a package is being downloaded. The
// client's response is broken off, not completed; after serve returns, no
// blob of it and no temp file are left in the data directory.
func TestShutdownMidDownload(t *testing.T) {
	fixture.Require(t, "dpkg-deb", "apt-ftparchive", "gpg")
	arc := t.TempDir()
	deb := fixture.Deb{Name: "big-lm", Version: "1.0", Arch: "amd64", Size: 4 << 20}
	fixture.AptRepo(t, arc, fixture.NewKey(t), "amd64", fixture.Suite{Name: "stable", Debs: []fixture.Deb{deb}})
	up := fixture.NewMirror(t, arc, "/debian/")
	gate := make(chan struct{})
	defer close(gate)
	up.SetFault(deb.Pool(), fixture.Fault{Gate: gate, FirstBytes: 512 << 10})

	data := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "lazymirror.yaml")
	yaml := "listen: 127.0.0.1:0\nrepos:\n  debian: {type: deb, mirrors: [" + up.URL() + "], suites: [stable]}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	base, stop := startServe(t, "--config", cfg, "--data-dir", data, "--shutdown-grace", "1s")
	resp, err := http.Get(base + "/debian/" + deb.Pool())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, 1)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatalf("no first byte: %v", err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }() // SIGINT
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Error("the response ended cleanly although the download was dropped")
	}
	if err := <-stopped; err != nil {
		t.Fatalf("serve: %v", err)
	}
	pkg, err := os.ReadFile(filepath.Join(arc, deb.Pool()))
	if err != nil {
		t.Fatal(err)
	}
	d := checksum.Digest(sha256.Sum256(pkg))
	if _, err := os.Stat(filepath.Join(data, "blobs", "sha256", d.String()[:2], d.String())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the dropped download's blob is visible after shutdown (stat: %v)", err)
	}
	if tmp, err := os.ReadDir(filepath.Join(data, "tmp")); err != nil || len(tmp) > 0 {
		t.Errorf("temp files left after shutdown: %v %v", tmp, err)
	}
}

// startServe runs "lazymirror serve" with args (which must make it listen
// on 127.0.0.1:0) until stop, which cancels it as SIGINT would and returns
// what serve returned. base is the server's URL.
func startServe(t *testing.T, args ...string) (base string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...), noEnv, nil, io.Discard, pw)
		pw.Close()
	}()
	// The log names the address once it listens.
	addr := regexp.MustCompile(`msg="lazymirror serving" listen=(\S+)`)
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if m := addr.FindStringSubmatch(sc.Text()); m != nil {
			base = "http://" + m[1]
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if base == "" {
		cancel()
		t.Fatalf("serve did not start: %v", <-done)
	}
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { stop() })
	return base, stop
}
