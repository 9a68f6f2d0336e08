package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"lazymirror/internal/fixture"
)

// storedLine is serve's debug log of a download stored; it captures the path.
var storedLine = regexp.MustCompile(`msg=stored .*path=(\S+)`)

// killedServeEnv, when set, makes the test binary run "lazymirror serve"
// with the arguments it holds (one per line), as a child process to kill.
const killedServeEnv = "LAZYMIRROR_TEST_KILLED_SERVE"

// TestKilledServe: serve is killed with SIGKILL while it downloads a
// package for a client, after it stored another one. The client's response
// is broken off, never complete-looking; the next serve on the same data
// directory leaves no temp file, still has the stored package (a hit, no
// upstream request), fetches the other one whole and right, and verify
// finds the store consistent.
func TestKilledServe(t *testing.T) {
	if args := os.Getenv(killedServeEnv); args != "" {
		err := run(context.Background(), strings.Split(args, "\n"), noEnv, nil, io.Discard, os.Stderr)
		fmt.Fprintln(os.Stderr, "serve returned:", err)
		os.Exit(3)
	}
	fixture.Require(t, "dpkg-deb", "apt-ftparchive", "gpg")
	arc := t.TempDir()
	small := fixture.Deb{Name: "small-lm", Version: "1.0", Arch: "amd64", Size: 200 << 10}
	big := fixture.Deb{Name: "big-lm", Version: "1.0", Arch: "amd64", Size: 4 << 20}
	fixture.AptRepo(t, arc, fixture.NewKey(t), "amd64", fixture.Suite{Name: "stable", Debs: []fixture.Deb{small, big}})
	up := fixture.NewMirror(t, arc, "/debian/")
	gate := make(chan struct{})
	up.SetFault(big.Pool(), fixture.Fault{Gate: gate, FirstBytes: 512 << 10})
	smallBytes := readTestFile(t, filepath.Join(arc, small.Pool()))
	bigBytes := readTestFile(t, filepath.Join(arc, big.Pool()))

	data := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "lazymirror.yaml")
	yaml := "listen: 127.0.0.1:0\nrepos:\n  debian: {type: deb, mirrors: [" + up.URL() + "], suites: [stable]}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"serve", "--listen", "127.0.0.1:0", "--config", cfg, "--data-dir", data, "--log-level", "debug"}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledServe$")
	cmd.Env = append(os.Environ(), killedServeEnv+"="+strings.Join(args, "\n"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	// The log names the address once it listens.
	addr := regexp.MustCompile(`msg="lazymirror serving" listen=(\S+)`)
	sc := bufio.NewScanner(stderr)
	var base string
	var log bytes.Buffer
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if m := addr.FindStringSubmatch(sc.Text()); m != nil {
			base = "http://" + m[1]
			break
		}
	}
	if base == "" {
		t.Fatalf("the child serve did not start:\n%s", log.String())
	}
	// Its log says when a download is stored: durable and indexed.
	stored := make(chan string, 16)
	go func() {
		for sc.Scan() {
			if m := storedLine.FindStringSubmatch(sc.Text()); m != nil {
				stored <- m[1]
			}
		}
		close(stored)
	}()

	getExpect(t, base+"/debian/"+small.Pool(), smallBytes)
	// Only what was stored before the kill must survive it.
	watchdog := time.After(time.Minute) // not synchronisation
	for p := ""; p != small.Pool(); {
		var ok bool
		select {
		case p, ok = <-stored:
			if !ok {
				t.Fatal("the child exited before it stored small-lm")
			}
		case <-watchdog:
			t.Fatal("small-lm was never logged as stored")
		}
	}
	resp, err := http.Get(base + "/debian/" + big.Pool())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadFull(resp.Body, make([]byte, 1)); err != nil {
		t.Fatalf("no first byte of big-lm: %v", err)
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL, mid-download
		t.Fatal(err)
	}
	killed = true
	cmd.Wait()
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Error("big-lm's response ended cleanly although serve was killed mid-download")
	}
	close(gate) // the upstream may finish sending now

	base, stop := startServe(t, "--config", cfg, "--data-dir", data)
	if tmp, err := os.ReadDir(filepath.Join(data, "tmp")); err != nil || len(tmp) > 0 {
		t.Errorf("temp files after the restart: %v %v", tmp, err)
	}
	before := up.Requests(small.Pool())
	resp2, err := http.Get(base + "/debian/" + small.Pool())
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp2.Body)
	resp2.Body.Close()
	if err != nil || !bytes.Equal(body, smallBytes) || resp2.Header.Get("X-Cache") != "HIT" || up.Requests(small.Pool()) != before {
		t.Errorf("small-lm after the restart: %d bytes, X-Cache %q, %d upstream requests (%v); want its bytes, a hit, none",
			len(body), resp2.Header.Get("X-Cache"), up.Requests(small.Pool())-before, err)
	}
	getExpect(t, base+"/debian/"+big.Pool(), bigBytes)
	if err := stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}

	var out bytes.Buffer
	if err := run(context.Background(), []string{"verify", "--data-dir", data, "--json"}, noEnv, nil, &out, io.Discard); err != nil {
		t.Fatalf("verify after the kill and restart: %v\n%s", err, out.Bytes())
	}
	var rep verifyJSON
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("verify --json: %v\n%s", err, out.Bytes())
	}
	if len(rep.Corrupt)+len(rep.Missing) > 0 || rep.Checked.Files < 2 {
		t.Errorf("verify: %s; want both packages checked, nothing corrupt or missing", out.Bytes())
	}
}
