package index

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// truncatedEnv names the index file the helper process of TestTruncatedFile opens.
const truncatedEnv = "LAZYMIRROR_INDEX_TRUNCATED_FILE"

// TestTruncatedFile: an index file cut short (a partial copy, a full disk
// during a backup restore) must give a clear error from Open, not kill the
// process (bbolt reads its pages through a mapping past the end of the file:
// SIGBUS). Open runs in a child process, so that a crash fails the test
// instead of ending it.
func TestTruncatedFile(t *testing.T) {
	if path := os.Getenv(truncatedEnv); path != "" {
		db, err := Open(path, Options{})
		if err == nil { // then every page it names must be readable
			n := 0
			err = db.Entries("debian", func(string, Entry) error { n++; return nil })
			db.Close()
			fmt.Printf("opened, %d entries, %v\n", n, err)
			os.Exit(0)
		}
		fmt.Println(err)
		if errors.Is(err, ErrInvalid) {
			os.Exit(0)
		}
		os.Exit(4)
	}
	path := filepath.Join(t.TempDir(), "index.db")
	db, err := Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	recs, _ := inReleaseRecords(t, corpusInRelease)
	if err := db.PutEntries("debian", recs); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pageSize := os.Getpagesize()
	for _, n := range []int{2 * pageSize, 3 * pageSize, len(data) / 2, len(data) - pageSize} {
		cut := filepath.Join(t.TempDir(), "cut.db")
		if err := os.WriteFile(cut, data[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestTruncatedFile$")
		cmd.Env = append(os.Environ(), truncatedEnv+"="+cut)
		out, err := cmd.Output()
		if err != nil {
			t.Errorf("Open of the index cut to %d of %d bytes: %v (%q); want an error wrapping ErrInvalid", n, len(data), err, out)
		} else {
			t.Logf("cut to %d: %s", n, out)
		}
	}
}
