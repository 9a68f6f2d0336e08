package cache

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"lazymirror/stats"
	"lazymirror/upstream"
)

// repoCounters are a repo's figures since start; FlushCounters adds what
// changed to the index's persistent counters.
type repoCounters struct {
	requests, hits, misses atomic.Int64
	fetched, served        atomic.Int64
}

func (rc *repoCounters) add(hit bool) {
	rc.requests.Add(1)
	if hit {
		rc.hits.Add(1)
	} else {
		rc.misses.Add(1)
	}
}

// flusher remembers what was last written to the index.
type flusher struct {
	mu      sync.Mutex
	flushed map[string]int64
}

// Served counts body bytes sent to a client of repo.
func (c *Cache) Served(repo string, n int64) {
	if rs, ok := c.repos[repo]; ok {
		rs.counters.served.Add(n)
	}
}

// counterValues returns every counter's value since start.
func (c *Cache) counterValues() map[string]int64 {
	out := make(map[string]int64)
	for name, rs := range c.repos {
		rc := &rs.counters
		out[stats.RepoCounter(name, stats.CounterRequests)] = rc.requests.Load()
		out[stats.RepoCounter(name, stats.CounterHits)] = rc.hits.Load()
		out[stats.RepoCounter(name, stats.CounterMisses)] = rc.misses.Load()
		out[stats.RepoCounter(name, stats.CounterServed)] = rc.served.Load()
		out[stats.RepoCounter(name, stats.CounterFetched)] = rc.fetched.Load()
		for _, ms := range rs.pool.Status() {
			out[stats.MirrorCounter(name, ms.URL, stats.CounterRequests)] = ms.Requests
			out[stats.MirrorCounter(name, ms.URL, stats.CounterBytes)] = ms.Bytes
			out[stats.MirrorCounter(name, ms.URL, stats.CounterFailures)] = ms.Failures
		}
	}
	return out
}

// FlushCounters adds the figures gathered since the last flush to the
// index's persistent counters, and the pending blob access records
// (hits, last access) with them.
func (c *Cache) FlushCounters() error {
	c.flush.mu.Lock()
	defer c.flush.mu.Unlock()
	now := c.counterValues()
	deltas := make(map[string]int64)
	for k, v := range now {
		if d := v - c.flush.flushed[k]; d != 0 {
			deltas[k] = d
		}
	}
	if len(deltas) > 0 {
		if err := c.idx.AddCounters(deltas); err != nil {
			return err
		}
		c.flush.flushed = now
	}
	return c.idx.FlushAccess()
}

// FlushEvery flushes counters every interval until ctx is done, and once
// more then. Errors are logged: the figures stay pending for the next flush.
func (c *Cache) FlushEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := c.FlushCounters(); err != nil {
				c.log.Warn("flush counters", "err", err)
			}
			return
		case <-t.C:
			if err := c.FlushCounters(); err != nil {
				c.log.Warn("flush counters", "err", err)
			}
		}
	}
}

// Report computes the statistics report, with each mirror's live breaker
// state. It first lets running downloads end (until ctx is done), so that
// a download a client has already received is in the figures, then flushes
// the counters.
func (c *Cache) Report(ctx context.Context) (*stats.Report, error) {
	if err := c.Idle(ctx); err != nil {
		c.log.Debug("stats computed while downloads run", "running", c.InFlight())
	}
	if err := c.FlushCounters(); err != nil {
		return nil, err
	}
	live := make(map[string][]upstream.MirrorStatus, len(c.repos))
	for name, rs := range c.repos {
		live[name] = rs.pool.Status()
	}
	return stats.Compute(c.idx, c.Repos(), live, c.now())
}
