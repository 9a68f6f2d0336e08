package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lazymirror/internal/fixture"
)

// TestPrefetchJSONShape: prefetch --json has the same shape however the
// run went: every list is a JSON array, empty when nothing is in it, so
// that a script's `jq '.failed[]'` works on a run where nothing failed.
func TestPrefetchJSONShape(t *testing.T) {
	fixture.Require(t, "dpkg-deb", "apt-ftparchive")
	arc := t.TempDir()
	fixture.AptRepo(t, arc, nil, "amd64", fixture.Suite{Name: "stable", Debs: []fixture.Deb{{Name: "one-lm", Version: "1.0", Arch: "amd64", Size: 4 << 10}}})
	m := fixture.NewMirror(t, arc, "/debian/")
	data := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "lazymirror.yaml")
	yaml := "listen: 127.0.0.1:0\nrepos:\n  debian: {type: deb, mirrors: [" + m.URL() + "], suites: [stable]}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, run1 := range []string{"fetched", "cached"} {
		var out bytes.Buffer
		err := run(context.Background(), []string{"prefetch", "--json", "--config", cfg, "--data-dir", data, "--repo", "debian", "-"},
			noEnv, strings.NewReader("one-lm\n"), &out, io.Discard)
		if err != nil {
			t.Fatalf("%s run: %v\n%s", run1, err, out.String())
		}
		var got map[string]json.RawMessage
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatalf("%s run: not JSON: %v\n%s", run1, err, out.String())
		}
		for _, key := range []string{"fetched", "already_cached", "not_found", "failed"} {
			if v := strings.TrimSpace(string(got[key])); !strings.HasPrefix(v, "[") {
				t.Errorf("%s run: %q is %s, want an array\n%s", run1, key, v, out.String())
			}
		}
	}
}
