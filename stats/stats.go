// Package stats computes what lazymirror has saved its users: requests,
// hits and bytes, what is stored, and how much deduplication spared, per
// repo and per mirror. The same Compute runs in the server (behind
// /_/stats) and in `lazymirror stats` reading the index directly, so both
// give the same figures.
//
// Definitions. A path is an index entry whose blob is stored. Its logical
// bytes are what a URL-keyed cache would hold for it. Paths that share
// their blob with another path are "shared"; the bytes deduplication saved
// are logical bytes minus the stored bytes of the blobs paths point at.
package stats

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"lazymirror/checksum"
	"lazymirror/index"
	"lazymirror/upstream"
)

// Report is the whole of lazymirror's figures.
type Report struct {
	Generated time.Time `json:"generated"`
	Totals
	// Blobs and StoredBytes are everything in the store, including root
	// metadata files no path entry points at.
	Blobs       int64 `json:"blobs"`
	StoredBytes int64 `json:"stored_bytes"`
	// Paths and LogicalBytes: entries whose blob is stored.
	Paths        int64 `json:"paths"`
	LogicalBytes int64 `json:"logical_bytes"`
	// SharedPaths share their blob with another path; SavedBytes is what
	// storing each blob once saved (logical bytes − bytes of distinct blobs).
	SharedPaths int64    `json:"shared_paths"`
	SavedBytes  int64    `json:"saved_bytes"`
	TopShared   []Shared `json:"top_shared"`
	Repos       []Repo   `json:"repos"`
}

// Totals are request figures.
type Totals struct {
	Requests     int64   `json:"requests"`
	Hits         int64   `json:"hits"`
	Misses       int64   `json:"misses"`
	HitRatio     float64 `json:"hit_ratio"`
	ServedBytes  int64   `json:"served_bytes"`
	FetchedBytes int64   `json:"fetched_bytes"`
}

// Shared is a blob reached by several paths.
type Shared struct {
	Digest     string   `json:"sha256"`
	Size       int64    `json:"size"`
	Paths      int      `json:"paths"`
	SavedBytes int64    `json:"saved_bytes"`
	Examples   []string `json:"examples"` // up to three "repo/path"
}

// Repo is one repo's figures.
type Repo struct {
	Name string `json:"name"`
	Totals
	Paths        int64    `json:"paths"`
	LogicalBytes int64    `json:"logical_bytes"`
	Mirrors      []Mirror `json:"mirrors"`
}

// Mirror is one upstream mirror's figures. State is its circuit breaker
// ("closed", "open", "half-open"), known only to a running server.
type Mirror struct {
	URL       string `json:"url"`
	Requests  int64  `json:"requests"`
	Bytes     int64  `json:"bytes"`
	Failures  int64  `json:"failures"`
	State     string `json:"state,omitempty"`
	LastError string `json:"last_error,omitempty"`
}

// Counter names in the index, so `lazymirror stats` can read them with no
// server running: "repo/<repo>/<what>" and "mirror/<repo>/<mirror URL>/<what>".
const (
	CounterRequests = "requests"      // requests answered
	CounterHits     = "hits"          // of which the bytes were already stored
	CounterMisses   = "misses"        // of which the bytes had to be fetched
	CounterServed   = "served_bytes"  // body bytes sent to clients
	CounterFetched  = "fetched_bytes" // bytes read from upstream mirrors
	CounterFailures = "failures"      // mirror: failed transfers
	CounterBytes    = "bytes"         // mirror: bytes transferred
)

// RepoCounter names a repo's counter in the index.
func RepoCounter(repo, what string) string { return "repo/" + repo + "/" + what }

// MirrorCounter names a mirror's counter in the index.
func MirrorCounter(repo, mirror, what string) string {
	return "mirror/" + repo + "/" + mirror + "/" + what
}

// topShared is how many shared blobs a report lists.
const topShared = 10

// Compute reads the figures from the index for the given repos (in that
// order). live, when not nil, adds each mirror's current breaker state (a
// running server knows it; the index does not).
func Compute(idx *index.DB, repos []string, live map[string][]upstream.MirrorStatus, now time.Time) (*Report, error) {
	counters, err := idx.Counters()
	if err != nil {
		return nil, err
	}
	// Empty lists, not nil: JSON [] rather than null, the same shape as a full report.
	r := &Report{Generated: now.UTC(), TopShared: []Shared{}, Repos: []Repo{}}
	sizes := make(map[checksum.Digest]int64)
	err = idx.Blobs(func(d checksum.Digest, b index.Blob) error {
		sizes[d] = b.Size
		r.Blobs++
		r.StoredBytes += b.Size
		return nil
	})
	if err != nil {
		return nil, err
	}
	type use struct {
		paths    int
		examples []string
	}
	uses := make(map[checksum.Digest]*use)
	for _, name := range repos {
		rr := Repo{Name: name, Totals: totals(counters, name)}
		err := idx.Entries(name, func(path string, e index.Entry) error {
			size, ok := sizes[e.Digest]
			if !ok {
				return nil
			}
			rr.Paths++
			rr.LogicalBytes += size
			u := uses[e.Digest]
			if u == nil {
				u = &use{}
				uses[e.Digest] = u
			}
			u.paths++
			if len(u.examples) < 3 {
				u.examples = append(u.examples, name+"/"+path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		rr.Mirrors = mirrors(counters, name, live[name])
		r.Repos = append(r.Repos, rr)
		r.Paths += rr.Paths
		r.LogicalBytes += rr.LogicalBytes
		r.Requests += rr.Requests
		r.Hits += rr.Hits
		r.Misses += rr.Misses
		r.ServedBytes += rr.ServedBytes
		r.FetchedBytes += rr.FetchedBytes
	}
	r.HitRatio = ratio(r.Hits, r.Requests)
	var distinct int64
	for d, u := range uses {
		distinct += sizes[d]
		if u.paths > 1 {
			r.SharedPaths += int64(u.paths)
			r.TopShared = append(r.TopShared, Shared{Digest: d.String(), Size: sizes[d], Paths: u.paths,
				SavedBytes: sizes[d] * int64(u.paths-1), Examples: u.examples})
		}
	}
	r.SavedBytes = r.LogicalBytes - distinct
	slices.SortFunc(r.TopShared, func(a, b Shared) int {
		return cmp.Or(cmp.Compare(b.SavedBytes, a.SavedBytes), strings.Compare(a.Digest, b.Digest))
	})
	r.TopShared = r.TopShared[:min(len(r.TopShared), topShared)]
	return r, nil
}

func totals(counters map[string]int64, repo string) Totals {
	t := Totals{
		Requests:     counters[RepoCounter(repo, CounterRequests)],
		Hits:         counters[RepoCounter(repo, CounterHits)],
		Misses:       counters[RepoCounter(repo, CounterMisses)],
		ServedBytes:  counters[RepoCounter(repo, CounterServed)],
		FetchedBytes: counters[RepoCounter(repo, CounterFetched)],
	}
	t.HitRatio = ratio(t.Hits, t.Requests)
	return t
}

// mirrors gathers a repo's mirror counters, with live states when known.
func mirrors(counters map[string]int64, repo string, live []upstream.MirrorStatus) []Mirror {
	byURL := make(map[string]*Mirror)
	var out []*Mirror
	get := func(url string) *Mirror {
		if m, ok := byURL[url]; ok {
			return m
		}
		m := &Mirror{URL: url}
		byURL[url] = m
		out = append(out, m)
		return m
	}
	for _, ms := range live { // configured order first
		m := get(ms.URL)
		m.State, m.LastError = ms.State, ms.LastError
	}
	prefix := "mirror/" + repo + "/"
	var names []string
	for k := range counters {
		if strings.HasPrefix(k, prefix) {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	for _, k := range names {
		i := strings.LastIndexByte(k, '/')
		m := get(k[len(prefix):i])
		switch k[i+1:] {
		case CounterRequests:
			m.Requests = counters[k]
		case CounterBytes:
			m.Bytes = counters[k]
		case CounterFailures:
			m.Failures = counters[k]
		}
	}
	res := make([]Mirror, len(out))
	for i, m := range out {
		res[i] = *m
	}
	return res
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// WriteText writes the report as tables for people.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "lazymirror statistics, %s\n\n", r.Generated.Format(time.RFC3339))
	fmt.Fprintf(tw, "requests\t%d\t(hits %d, misses %d, hit ratio %.1f%%)\n", r.Requests, r.Hits, r.Misses, 100*r.HitRatio)
	fmt.Fprintf(tw, "served to clients\t%s\t\n", FormatBytes(r.ServedBytes))
	fmt.Fprintf(tw, "fetched upstream\t%s\t\n", FormatBytes(r.FetchedBytes))
	fmt.Fprintf(tw, "stored\t%s\t(%d blobs)\n", FormatBytes(r.StoredBytes), r.Blobs)
	fmt.Fprintf(tw, "paths\t%d\t(%s as a URL-keyed cache would store them)\n", r.Paths, FormatBytes(r.LogicalBytes))
	fmt.Fprintf(tw, "deduplicated\t%d\tpaths share a blob; saved %s\n", r.SharedPaths, FormatBytes(r.SavedBytes))
	tw.Flush()
	if len(r.TopShared) > 0 {
		fmt.Fprintf(w, "\nmost shared blobs:\n")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "  SIZE\tPATHS\tSAVED\tEXAMPLE\n")
		for _, s := range r.TopShared {
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\n", FormatBytes(s.Size), s.Paths, FormatBytes(s.SavedBytes), strings.Join(s.Examples, ", "))
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "\nper repo:\n")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  REPO\tREQUESTS\tHITS\tHIT%%\tSERVED\tFETCHED\tPATHS\n")
	for _, rr := range r.Repos {
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%.1f\t%s\t%s\t%d\n", rr.Name, rr.Requests, rr.Hits, 100*rr.HitRatio, FormatBytes(rr.ServedBytes), FormatBytes(rr.FetchedBytes), rr.Paths)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nper mirror:\n")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  REPO\tMIRROR\tREQUESTS\tBYTES\tFAILURES\tBREAKER\n")
	for _, rr := range r.Repos {
		for _, m := range rr.Mirrors {
			state := m.State
			if state == "" {
				state = "(server not running)"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%d\t%s\n", rr.Name, m.URL, m.Requests, FormatBytes(m.Bytes), m.Failures, state)
		}
	}
	return tw.Flush()
}

// FormatBytes formats a byte count for people, with a binary unit: "512 B", "1.5 MiB".
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Save stores r in the index for Load. Mirror breaker states are left out:
// they describe a server that will not be running when the report is read.
func Save(idx *index.DB, r *Report) error {
	saved := *r
	saved.Repos = make([]Repo, len(r.Repos))
	for i, rr := range r.Repos {
		rr.Mirrors = slices.Clone(rr.Mirrors)
		for j := range rr.Mirrors {
			rr.Mirrors[j].State, rr.Mirrors[j].LastError = "", ""
		}
		saved.Repos[i] = rr
	}
	data, err := json.Marshal(&saved)
	if err != nil {
		return fmt.Errorf("save stats: %w", err)
	}
	return idx.PutReport(data)
}

// Load returns the report Save stored when nothing was written to the index
// since (so it is what Compute would return now), else nil.
func Load(idx *index.DB) (*Report, error) {
	data, current, err := idx.Report()
	if err != nil || !current || data == nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("load stats: %w", err)
	}
	if r.TopShared == nil { // JSON null: saved by an older version
		r.TopShared = []Shared{}
	}
	if r.Repos == nil {
		r.Repos = []Repo{}
	}
	return &r, nil
}
