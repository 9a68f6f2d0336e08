package debian

import (
	"strings"

	"lazymirror/checksum"
)

// ByHashPath returns the by-hash path under which an archive with
// Acquire-By-Hash serves the file of checksum s in directory dir:
// ByHashPath("main/binary-amd64", sha256) is
// "main/binary-amd64/by-hash/SHA256/<hex>". It returns "" for a sum of an
// algorithm by-hash does not name.
func ByHashPath(dir string, s checksum.Sum) string {
	name := byHashName(s.Algo)
	if name == "" {
		return ""
	}
	p := "by-hash/" + name + "/" + s.Hex()
	if dir == "" {
		return p
	}
	return dir + "/" + p
}

// ParseByHash splits a by-hash path into its directory and checksum. It
// accepts only what ByHashPath produces: the algorithm directory spelled as
// apt does (MD5Sum, SHA1, SHA256, SHA512), lower-case hex of the right
// length, and a directory that is a safe relative path (or empty).
func ParseByHash(path string) (dir string, s checksum.Sum, ok bool) {
	i := strings.LastIndex(path, "by-hash/")
	if i < 0 || (i > 0 && path[i-1] != '/') {
		return "", checksum.Sum{}, false
	}
	name, hexValue, found := strings.Cut(path[i+len("by-hash/"):], "/")
	if !found {
		return "", checksum.Sum{}, false
	}
	for _, f := range sumFields {
		if f.name != name {
			continue
		}
		sum, err := checksum.FromHex(f.algo, hexValue)
		dir = strings.TrimSuffix(path[:i], "/")
		if err != nil || ByHashPath(dir, sum) != path || (dir != "" && checkPath(dir) != nil) {
			return "", checksum.Sum{}, false
		}
		return dir, sum, true
	}
	return "", checksum.Sum{}, false
}

func byHashName(a checksum.Algo) string {
	for _, f := range sumFields {
		if f.algo == a {
			return f.name
		}
	}
	return ""
}
