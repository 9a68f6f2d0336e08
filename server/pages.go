package server

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"

	"lazymirror/cache"
)

// stats answers /_/stats with the cache's figures as JSON.
func (s *Server) stats(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(struct {
		InFlight int               `json:"in_flight"`
		Repos    []cache.RepoStats `json:"repos"`
	}{s.cache.InFlight(), s.cache.Stats()}); err != nil {
		s.log.Warn("write stats", "err", err)
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
