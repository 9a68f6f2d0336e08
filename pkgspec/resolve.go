package pkgspec

import (
	"slices"
	"strings"
)

// Candidate is one package of a repository's metadata that a Spec may name.
type Candidate struct {
	Name    string
	Version string // Debian version, or rpm "[epoch:]version-release" (epoch 0 may be omitted)
	Arch    string // Debian architecture (amd64, all) or rpm arch (x86_64, noarch)
	Path    string // pool path or location href, relative to the repository root
	Size    int64  // bytes
}

// Match is a Spec and the Candidate Resolve picked for it.
type Match struct {
	Spec      Spec
	Candidate Candidate
}

// Resolve picks, for each spec, the candidate to fetch among
// candidates(spec.Name), and returns the matches and the specs that matched
// nothing, both in the order of specs (a spec listed twice is resolved twice).
//
// A candidate qualifies when its architecture is the spec's Arch or, for a
// spec without one, any of arches (every architecture when arches is empty),
// and, when the spec gives a Version, when that version compares equal to the
// candidate's (Kind.Compare: "0:1.0-1" equals "1.0-1", and an rpm version
// without a release matches every release). An rpm version without an epoch
// matches every epoch, as in dnf: rpm -qa prints no epoch
// ("openssl-libs-3.0.7-1.fc38.x86_64" is epoch 1). Of the qualifying candidates the
// newest version wins; among equal versions the architecture earlier in arches
// wins, then the candidate listed first. Candidates whose version is invalid
// for kind are ignored; a spec whose version is invalid, or any spec when
// kind is neither Deb nor RPM, is not found.
func Resolve(kind Kind, specs []Spec, arches []string, candidates func(name string) []Candidate) (found []Match, notFound []Spec) {
	for _, s := range specs {
		if c, ok := kind.pick(s, arches, candidates(s.Name)); ok {
			found = append(found, Match{Spec: s, Candidate: c})
		} else {
			notFound = append(notFound, s)
		}
	}
	return found, notFound
}

// pick returns the candidate Resolve picks for s among cs.
func (k Kind) pick(s Spec, arches []string, cs []Candidate) (Candidate, bool) {
	var want ver
	// rpm -qa lines carry no epoch (%{nvr}%{archsuffix}): one not given
	// is unknown, not 0.
	anyEpoch := k == RPM && s.Version != "" && !strings.Contains(s.Version, ":")
	if s.Version != "" {
		var err error
		if want, err = k.parse(s.Version); err != nil {
			return Candidate{}, false
		}
	}
	var (
		best     Candidate
		bestVer  ver
		bestRank int
		ok       bool
	)
	for _, c := range cs {
		rank := archRank(s.Arch, arches, c.Arch)
		if rank < 0 {
			continue
		}
		v, err := k.parse(c.Version)
		if err != nil {
			continue
		}
		if anyEpoch {
			want.epoch = v.epoch
		}
		if s.Version != "" && k.order(v, want) != 0 {
			continue
		}
		if ok {
			if d := k.order(v, bestVer); d < 0 || d == 0 && rank >= bestRank {
				continue
			}
		}
		best, bestVer, bestRank, ok = c, v, rank, true
	}
	return best, ok
}

// archRank is the preference of a candidate's architecture for a spec: 0 is
// best, -1 means not allowed.
func archRank(specArch string, arches []string, arch string) int {
	switch {
	case specArch != "":
		if arch == specArch {
			return 0
		}
		return -1
	case len(arches) == 0:
		return 0
	}
	return slices.Index(arches, arch)
}
