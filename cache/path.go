package cache

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode/utf8"
)

// ErrBadPath is returned for a request path that is not a clean path inside a
// repo: "..", empty segments, NUL, a backslash or invalid UTF-8.
var ErrBadPath = errors.New("bad path")

// CleanPath checks a repo-relative request path, already percent-decoded (so
// apt's "%2b" is "+" here and a literal "+" stays "+"). It returns the path
// without a leading slash. Anything that could step outside the repo is
// refused rather than normalised: a client that sends "a/../b" or "a//b" is
// not a package manager. A "." segment is dropped: apt asks for a flat
// repository's files as "<base>/./InRelease" and "<base>/./name.deb", the
// same files as "<base>/InRelease" and "<base>/name.deb". Invalid UTF-8
// (an overlong "%c0%ae" among it) is refused too: no mirror can be asked for
// it (upstream.Get refuses it), so it is the client's error.
func CleanPath(p string) (string, error) {
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		return "", nil
	}
	if len(p) > 4096 || strings.ContainsAny(p, "\x00\\") || !utf8.ValidString(p) {
		return "", fmt.Errorf("%q: %w", p, ErrBadPath)
	}
	orig := p
	if p == "." || strings.HasPrefix(p, "./") || strings.HasSuffix(p, "/.") || strings.Contains(p, "/./") {
		p = dropDots(p)
		if p == "" {
			return "", nil // "." or "./": the repo's top
		}
	}
	for rest := p; ; {
		seg, after, more := strings.Cut(rest, "/")
		if !more && seg == "" && rest != p {
			return p, nil // a directory request ("dists/"): served as Other
		}
		if seg == "" || seg == ".." {
			return "", fmt.Errorf("%q: %w", orig, ErrBadPath)
		}
		if !more {
			return p, nil
		}
		rest = after
	}
}

// dropDots removes the "." segments of a path, keeping a trailing "/"
// ("a/./" is "a/").
func dropDots(p string) string {
	segs := strings.Split(p, "/")
	kept := segs[:0]
	for _, seg := range segs {
		if seg != "." {
			kept = append(kept, seg)
		}
	}
	return strings.Join(kept, "/") // "./" leaves [""]: ""
}

// class is what a path is to the cache, which decides how it is served.
type class int

const (
	// classOther: not described by metadata; cached by URL with a TTL, unverified.
	classOther class = iota
	// classRoot: a root metadata file (InRelease, repomd.xml ...): volatile, served from the current snapshot.
	classRoot
	// classIndexed: a metadata file listed by a root (Packages.xz, primary.xml.gz, by-hash/...): immutable, by checksum.
	classIndexed
	// classPackage: a package (.deb, .rpm ...): immutable, by checksum from the parsed indexes.
	classPackage
)

func (c class) String() string {
	switch c {
	case classRoot:
		return "root"
	case classIndexed:
		return "indexed"
	case classPackage:
		return "package"
	}
	return "other"
}

// isDebRootFile reports whether name is one of the files of dists/<suite>/
// (or of a flat repository's directory) that make a Debian snapshot.
func isDebRootFile(name string) bool {
	switch name {
	case "InRelease", "Release", "Release.gpg":
		return true
	}
	return false
}

// rpmRootFiles are the files of <root>/repodata/ that make a yum snapshot.
var rpmRootFiles = map[string]bool{"repomd.xml": true, "repomd.xml.asc": true, "repomd.xml.key": true}

// classifyDeb returns the class of a path in an apt archive and, for root and
// indexed paths, the snapshot root: "dists/<suite>", or for the root files
// of a flat repository (sources line "deb URL ./" or "deb URL sub/") the
// directory holding them ("" for the archive's top, "sub"). A flat root's
// index files (Packages.xz beside its InRelease) are classOther here: which
// files those are, only its Release says (see Cache.classify). A package
// is any .deb, .udeb or .ddeb, in pool/ or not (a flat repository keeps
// them beside its Packages).
func classifyDeb(rel string) (class, string) {
	if rest, ok := strings.CutPrefix(rel, "dists/"); ok {
		suite, file, ok := strings.Cut(rest, "/")
		if !ok || suite == "" || file == "" || strings.HasSuffix(file, "/") {
			return classOther, ""
		}
		root := "dists/" + suite
		if isDebRootFile(file) {
			return classRoot, root
		}
		return classIndexed, root
	}
	dir, file := path.Split(rel)
	if isDebRootFile(file) && flatDir(dir) {
		return classRoot, strings.TrimSuffix(dir, "/")
	}
	switch path.Ext(file) {
	case ".deb", ".udeb", ".ddeb":
		return classPackage, ""
	}
	return classOther, ""
}

// flatDir reports whether a directory ("" or ending in "/") may hold a flat
// repository's root: one outside an ordinary archive's dists/ and pool/
// trees, at any depth ("debian/dists/bookworm/" in a repo whose mirror URL
// is the host's top stays a URL-cached path, as it always was).
func flatDir(dir string) bool {
	for seg := range strings.SplitSeq(strings.TrimSuffix(dir, "/"), "/") {
		if seg == "dists" || seg == "pool" {
			return false
		}
	}
	return true
}

// classifyRPM returns the class of a path in a yum mirror tree and, for root
// and indexed paths, the yum repo root: the directory holding repodata/
// ("" for the tree's top).
func classifyRPM(rel string) (class, string) {
	dir, file := path.Split(rel)
	if file == "" {
		return classOther, ""
	}
	if dir == "repodata/" || strings.HasSuffix(dir, "/repodata/") {
		root := strings.TrimSuffix(strings.TrimSuffix(dir, "repodata/"), "/")
		if rpmRootFiles[file] {
			return classRoot, root
		}
		return classIndexed, root
	}
	switch path.Ext(file) {
	case ".rpm", ".drpm":
		return classPackage, ""
	}
	return classOther, ""
}

// debArch returns the architecture a Debian package file name carries
// ("name_version_arch.deb"), or "".
func debArch(rel string) string {
	base := path.Base(rel)
	base = strings.TrimSuffix(base, path.Ext(base))
	if i := strings.LastIndexByte(base, '_'); i >= 0 {
		return base[i+1:]
	}
	return ""
}

// ancestors returns the directories above rel, nearest first, ending with ""
// (the tree's top): "a/b/c.rpm" gives "a/b", "a", "".
func ancestors(rel string) []string {
	var out []string
	dir := path.Dir(rel)
	for dir != "." && dir != "/" {
		out = append(out, dir)
		dir = path.Dir(dir)
	}
	return append(out, "")
}

// joinRoot joins a snapshot root (a yum repo directory, a flat apt
// repository's, "dists/<suite>") and a path inside it; the root "" is the
// tree's top.
func joinRoot(root, p string) string {
	if root == "" {
		return p
	}
	return root + "/" + p
}

// inRoot returns a path inside a snapshot root relative to that root: the
// inverse of joinRoot.
func inRoot(root, p string) string {
	if root == "" {
		return p
	}
	return strings.TrimPrefix(p, root+"/")
}

// dirOf is path.Dir, with "" for the top rather than ".", as joinRoot
// takes it: dirOf("Packages.xz") is "", dirOf("main/binary-amd64/Packages") "main/binary-amd64".
func dirOf(p string) string {
	if d := path.Dir(p); d != "." {
		return d
	}
	return ""
}
