package server

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"lazymirror/cache"
	"lazymirror/config"
	"lazymirror/stats"
)

// statsMaxAge is how old a stats report may be before a request starts a
// new computation (in the background: the request is answered at once with
// the report it has, so /_/stats stays fast however large the index).
// Served requests schedule a computation for when the report reaches this
// age, so the report an idle server answers with covers everything served.
const statsMaxAge = 10 * time.Second

// statsCost is how many times its own cost a computation waits after the
// previous one: on an index so large that a report takes a second, the
// refreshes that follow traffic take at most 5% of a core.
const statsCost = 20

// statsCache holds the latest statistics report and schedules new ones.
type statsCache struct {
	due     atomic.Bool // a refresh is scheduled; cleared under mu as it starts
	mu      sync.Mutex
	idle    sync.Cond // L is &mu; broadcast when a computation ends
	report  *stats.Report
	started time.Time     // the last computation
	cost    time.Duration // of the last computation
	running bool          // a computation is under way
	again   bool          // run another when it ends: something changed meanwhile
	timer   *time.Timer   // the scheduled refresh
	maxAge  time.Duration // statsMaxAge, but for tests
	closed  bool
}

// refreshStats computes a new report in the background; when one is being
// computed already, another follows it.
func (s *Server) refreshStats() {
	s.statsCache.mu.Lock()
	defer s.statsCache.mu.Unlock()
	s.startStatsLocked()
}

// startStatsLocked is refreshStats with statsCache.mu held.
func (s *Server) startStatsLocked() {
	sc := &s.statsCache
	switch {
	case sc.closed:
		return
	case sc.running:
		sc.again = true
		return
	}
	sc.running, sc.started = true, time.Now()
	go func() {
		for {
			bg, cancel := context.WithTimeout(context.Background(), statsMaxAge)
			r, err := s.cache.Report(bg)
			cancel()
			sc.mu.Lock()
			if err == nil {
				sc.report, sc.cost = r, time.Since(sc.started)
			}
			again := sc.again && !sc.closed
			sc.again, sc.running = false, again
			if !again {
				sc.idle.Broadcast()
				sc.mu.Unlock()
				return
			}
			sc.started = time.Now()
			sc.mu.Unlock()
		}
	}()
}

// changed notes that a request may have changed the figures: unless a
// refresh is scheduled already, one is, for maxAge (or statsCost times
// its cost) after the last computation started. Under steady traffic that
// is one computation an interval, never one after the other.
func (s *Server) changed() {
	sc := &s.statsCache
	if sc.due.Load() || !sc.due.CompareAndSwap(false, true) {
		return
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.closed {
		return
	}
	wait := time.Until(sc.started.Add(max(sc.maxAge, statsCost*sc.cost)))
	sc.timer = time.AfterFunc(max(wait, 0), func() {
		sc.mu.Lock()
		defer sc.mu.Unlock()
		sc.due.Store(false)
		s.startStatsLocked()
	})
}

// Close stops the background statistics: a scheduled refresh is dropped
// and one under way is waited for. Call it before closing the cache.
func (s *Server) Close() {
	s.cancel()
	sc := &s.statsCache
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.closed = true
	if sc.timer != nil {
		sc.timer.Stop()
	}
	for sc.running {
		sc.idle.Wait()
	}
}

// stats answers /_/stats with the statistics report as JSON. "?fresh=1"
// waits for a report computed now.
func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	rep, err := s.report(r.Context(), r.URL.Query().Get("fresh") != "")
	if err != nil {
		s.log.Warn("stats", "err", err)
		http.Error(w, "statistics unavailable", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		s.log.Warn("write stats", "err", err)
	}
}

// report returns a recent report, computing one when there is none or
// fresh is asked for, and refreshing an old one in the background.
func (s *Server) report(ctx context.Context, fresh bool) (*stats.Report, error) {
	sc := &s.statsCache
	sc.mu.Lock()
	rep, maxAge := sc.report, sc.maxAge
	sc.mu.Unlock()
	if rep != nil && time.Since(rep.Generated) > maxAge && !fresh {
		s.refreshStats()
	}
	if rep != nil && !fresh {
		return rep, nil
	}
	ctx, cancel := context.WithTimeout(ctx, statsMaxAge)
	defer cancel()
	rep, err := s.cache.Report(ctx)
	if err != nil {
		return nil, err
	}
	sc.mu.Lock()
	sc.report = rep
	sc.mu.Unlock()
	return rep, nil
}

// gc answers POST /_/gc: it runs the garbage collection and returns its
// report as JSON. Parameters: older_than (a duration, default 24h), dry_run.
func (s *Server) gc(w http.ResponseWriter, r *http.Request) {
	opts := cache.GCOptions{OlderThan: 24 * time.Hour, DryRun: r.URL.Query().Get("dry_run") != ""}
	if v := r.URL.Query().Get("older_than"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			http.Error(w, "older_than: a duration such as 24h", http.StatusBadRequest)
			return
		}
		opts.OlderThan = d
	}
	rep, err := s.cache.GC(r.Context(), opts)
	if err != nil {
		s.log.Warn("gc", "err", err)
		http.Error(w, "gc failed", http.StatusInternalServerError)
		return
	}
	s.changed()
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(rep); err != nil {
		s.log.Warn("write gc report", "err", err)
	}
}

// evict answers POST /_/evict: it evicts blobs, in the policy's order, until
// the store holds no more than to (a size: 50GiB, 500MB, bytes), and
// returns the report as JSON. dry_run lists what would go instead.
func (s *Server) evict(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query().Get("to")
	if v == "" {
		http.Error(w, "to: the size to bring the store down to, such as 50GiB or 500MB", http.StatusBadRequest)
		return
	}
	to, err := config.ParseSize(v)
	if err != nil {
		http.Error(w, "to: "+err.Error(), http.StatusBadRequest)
		return
	}
	rep, err := s.cache.EvictTo(r.Context(), to, r.URL.Query().Get("dry_run") != "")
	if err != nil {
		s.log.Warn("evict", "err", err)
		http.Error(w, "evict failed", http.StatusInternalServerError)
		return
	}
	if !rep.DryRun {
		s.changed()
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(rep); err != nil {
		s.log.Warn("write evict report", "err", err)
	}
}

var indexPage = template.Must(template.New("index").Parse(`<!doctype html>
<title>lazymirror</title>
<h1>lazymirror</h1>
<p>A lazy, content-addressed mirror. Repositories served here:</p>
<table>
<tr><th>repo</th><th>type</th><th>path</th><th>mirrors</th><th>requests</th><th>hits</th></tr>
{{range .}}<tr><td>{{.Name}}</td><td>{{.Type}}</td><td><a href="/{{.Name}}/">/{{.Name}}/</a></td><td>{{range .Mirrors}}{{.}} {{end}}</td><td>{{.Requests}}</td><td>{{.Hits}}</td></tr>
{{end}}</table>
<p>Figures: <a href="/_/stats">/_/stats</a> (JSON), <a href="/metrics">/metrics</a> (Prometheus); both answer loopback clients or the admin token.</p>
`))

// index is the page for people at /.
func (s *Server) index(w http.ResponseWriter, _ *http.Request) {
	type row struct {
		Name, Type     string
		Mirrors        []string
		Requests, Hits int64
	}
	stats := s.cache.Stats()
	rows := make([]row, 0, len(s.cfg.Repos))
	for i, rp := range s.cfg.Repos {
		r := row{Name: rp.Name, Type: string(rp.Type)}
		for _, m := range rp.Mirrors {
			r.Mirrors = append(r.Mirrors, m.String())
		}
		if i < len(stats) {
			r.Requests, r.Hits = stats[i].Requests, stats[i].Hits
		}
		rows = append(rows, r)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := indexPage.Execute(w, rows); err != nil {
		s.log.Warn("write index page", "err", fmt.Errorf("template: %w", err))
	}
}
