package server

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"lazymirror/cache"
)

// metrics are the Prometheus figures of one server, in a registry of its
// own (no global state).
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	failures *prometheus.CounterVec
}

func newMetrics(c *cache.Cache) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lazymirror_requests_total", Help: "Requests served, by repo, path class and whether the bytes were already stored.",
		}, []string{"repo", "class", "cache"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lazymirror_served_bytes_total", Help: "Body bytes sent to clients.",
		}, []string{"repo"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lazymirror_request_errors_total", Help: "Requests answered with an error status.",
		}, []string{"repo", "code"}),
	}
	m.reg.MustRegister(m.requests, m.bytes, m.failures,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		cacheCollector{c})
	return m
}

func (m *metrics) request(repo string, o *cache.Object) {
	hit := "miss"
	if o.Hit {
		hit = "hit"
	}
	m.requests.WithLabelValues(repo, o.Class, hit).Inc()
}

func (m *metrics) served(repo string, n int64) { m.bytes.WithLabelValues(repo).Add(float64(n)) }

func (m *metrics) failed(repo string, code int) {
	m.failures.WithLabelValues(repo, strconv.Itoa(code)).Inc()
}

// cacheCollector reads the cache's own figures at scrape time.
type cacheCollector struct{ c *cache.Cache }

var (
	descFetched        = prometheus.NewDesc("lazymirror_upstream_bytes_total", "Bytes read from upstream mirrors.", []string{"repo"}, nil)
	descInFlight       = prometheus.NewDesc("lazymirror_downloads_in_flight", "Upstream downloads running now.", nil, nil)
	descBreaker        = prometheus.NewDesc("lazymirror_mirror_breaker_open", "1 when a mirror's circuit breaker is open or half-open.", []string{"repo", "mirror"}, nil)
	descMirrorFailures = prometheus.NewDesc("lazymirror_mirror_failures_total", "Failed transfers from a mirror.", []string{"repo", "mirror"}, nil)
	descProbeWaiters   = prometheus.NewDesc("lazymirror_probe_waiters", "Requests waiting for a mirror's probe: every breaker of the repo is open, each probe in flight.", []string{"repo"}, nil)
)

func (cc cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descFetched
	ch <- descInFlight
	ch <- descBreaker
	ch <- descMirrorFailures
	ch <- descProbeWaiters
}

func (cc cacheCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descInFlight, prometheus.GaugeValue, float64(cc.c.InFlight()))
	for _, rs := range cc.c.Stats() {
		ch <- prometheus.MustNewConstMetric(descFetched, prometheus.CounterValue, float64(rs.FetchedBytes), rs.Repo)
		ch <- prometheus.MustNewConstMetric(descProbeWaiters, prometheus.GaugeValue, float64(rs.ProbeWaiters), rs.Repo)
		for _, ms := range rs.Mirrors {
			open := 0.0
			if ms.State != "closed" {
				open = 1
			}
			ch <- prometheus.MustNewConstMetric(descBreaker, prometheus.GaugeValue, open, rs.Repo, ms.URL)
			ch <- prometheus.MustNewConstMetric(descMirrorFailures, prometheus.CounterValue, float64(ms.Failures), rs.Repo, ms.URL)
		}
	}
}
