package server_test

import (
	"encoding/json"
	"testing"
	"time"

	"lazymirror/stats"
)

// TestStatsFollowTraffic: requests schedule a new report, so the report an
// idle server answers /_/stats with (without ?fresh) counts every request
// served before, rather than whatever was current when someone last asked.
func TestStatsFollowTraffic(t *testing.T) {
	arc := newAptArchive(t)
	h := newHarness(t, yamlRepos("debian: {type: deb, mirrors: ["+arc.a.URL()+"], suites: [stable]}"))
	h.handler.SetStatsMaxAge(time.Millisecond)
	report := func() stats.Report {
		t.Helper()
		code, body, _ := h.get(h.base+"/_/stats", nil)
		if code != 200 {
			t.Fatalf("/_/stats: %d", code)
		}
		var r stats.Report
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	settle := func() {
		t.Helper()
		done := make(chan struct{})
		go func() { h.handler.WaitStats(); close(done) }()
		select {
		case <-done:
		case <-time.After(time.Minute): // watchdog
			t.Fatal("the statistics refresh never ran")
		}
	}
	settle()
	before := report()
	want := int64(0)
	for range 2 { // a miss, then a hit
		for _, d := range arc.stable[:2] {
			if code, _, _ := h.get(h.URL("debian")+"/"+d.Pool(), nil); code != 200 {
				t.Fatalf("%s: %d", d.Name, code)
			}
			want++
		}
	}
	settle()
	got := report()
	if got.Requests-before.Requests != want || got.Hits-before.Hits != 2 {
		t.Fatalf("report after the traffic: %d requests, %d hits more than before; want %d and 2", got.Requests-before.Requests, got.Hits-before.Hits, want)
	}
	if !got.Generated.After(before.Generated) {
		t.Fatalf("report generated %v, not after the previous one (%v)", got.Generated, before.Generated)
	}
}
