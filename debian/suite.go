package debian

import (
	"path"
	"strings"
)

// SuiteRoot returns the directory, relative to an archive's top, that holds
// the Release files of a suite as a sources.list line names it:
// "dists/<suite>" ("bookworm" is "dists/bookworm"), or for a flat
// repository's suite, which ends in "/", the directory it names ("sub/" is
// "sub", "./" is "", the archive's top).
func SuiteRoot(suite string) string {
	if !IsFlatSuite(suite) {
		return "dists/" + suite
	}
	if dir := path.Clean(suite); dir != "." {
		return dir
	}
	return ""
}

// IsFlatSuite reports whether a suite names a flat repository's directory
// ("./", "sub/"): its Release lists its own Packages index, for every
// architecture, and no components.
func IsFlatSuite(suite string) bool { return strings.HasSuffix(suite, "/") }
