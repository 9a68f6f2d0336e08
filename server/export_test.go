package server

import "time"

// SetStatsMaxAge lets tests age reports in milliseconds rather than seconds.
func (s *Server) SetStatsMaxAge(d time.Duration) {
	s.statsCache.mu.Lock()
	defer s.statsCache.mu.Unlock()
	s.statsCache.maxAge = d
}

// WaitStats waits until no statistics refresh is scheduled or under way.
func (s *Server) WaitStats() {
	sc := &s.statsCache
	sc.mu.Lock()
	defer sc.mu.Unlock()
	for sc.due.Load() || sc.running {
		sc.idle.Wait()
	}
}
