package stats

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lazymirror/index"
)

// TestReportJSONShape: the report's lists are JSON arrays also when empty
// (a fresh cache, a cache where no blob is shared), as they are once
// filled, so that scripts (`jq '.top_shared[]'`) work on every report;
// and a saved report loads back with the same shape.
func TestReportJSONShape(t *testing.T) {
	idx, err := index.Open(filepath.Join(t.TempDir(), "index.db"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	check := func(what string, r *Report) {
		t.Helper()
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]json.RawMessage
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"top_shared", "repos"} {
			if v := string(got[key]); !strings.HasPrefix(v, "[") {
				t.Errorf("%s: %q is %s, want an array", what, key, v)
			}
		}
	}
	r, err := Compute(idx, nil, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	check("computed", r)
	if err := Save(idx, r); err != nil {
		t.Fatal(err)
	}
	loaded, err := Load(idx)
	if err != nil || loaded == nil {
		t.Fatalf("Load = %v, %v", loaded, err)
	}
	check("loaded", loaded)
}
