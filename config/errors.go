package config

import (
	"fmt"
	"strings"
)

// Error is one problem in a configuration file, with where it is and how to
// fix it. Parse returns every problem it finds, joined with errors.Join; use
// errors.As to reach the first *Error.
type Error struct {
	File   string // the file's path as given to Parse or Load
	Line   int    // 1-based; 0 when the problem has no position
	Column int    // 1-based; 0 when unknown
	Msg    string // what is wrong
	Fix    string // how to fix it; may be empty
}

// Error formats the problem as "FILE:LINE:COL: MSG (fix: FIX)".
func (e *Error) Error() string {
	var b strings.Builder
	file := e.File
	if file == "" {
		file = "<config>"
	}
	b.WriteString(file)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Column)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Fix != "" {
		b.WriteString(" (fix: ")
		b.WriteString(e.Fix)
		b.WriteString(")")
	}
	return b.String()
}

// nearest returns the candidate closest to s by edit distance, or "" when
// none is close enough to be a plausible typo.
func nearest(s string, candidates []string) string {
	best, bestDist := "", len(s)/2+2
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
