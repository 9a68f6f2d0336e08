package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
)

// Discovered is the configuration Discover derived from a host's package
// sources, with the sources themselves for ClientLines.
type Discovered struct {
	Config *Config     // Default() plus the discovered repos
	Notes  []string    // what was skipped and why, for the operator
	Apt    []AptSource // enabled deb entries, in file order
	Yum    []YumSource // enabled .repo sections with a usable baseurl, in file order
}

// Discover reads the package sources of the system under root ("/" in
// production) and turns them into repos:
//
//   - apt: etc/apt/sources.list and etc/apt/sources.list.d/*.list (one-line
//     format) and *.sources (deb822). deb-src entries, disabled stanzas and
//     non-http(s) URIs (cdrom:, file:) are ignored, the last with a note.
//   - dnf: etc/yum.repos.d/*.repo. Variables come from vars, over
//     etc/dnf/vars/* and etc/yum/vars/*, over the host's defaults:
//     releasever from etc/os-release VERSION_ID (releasever_major its first
//     number, and releasever too where ID or ID_LIKE names rhel, as dnf's
//     is there) and basearch/arch from the running architecture.
//
// Grouping and naming. Each distinct apt URI (scheme, host and path) is one
// deb repo whose suites are all the suites listed for it, named after the
// URI's last path segment (http://deb.mirror.lan/debian → "debian"), or its
// host when the path is empty. A yum
// baseurl inside a recognised distribution tree belongs to that tree, whose
// root becomes the mirror, so client paths stay the same below it: …/fedora/linux/
// ("fedora"), …/epel/<n>… ("epel"), …/<n>-stream/… (its parent: "centos-stream";
// also …/centos-stream/), …/rocky/<n>… ("rocky"), …/almalinux/<n>…
// ("almalinux"); one such tree seen on several hosts is one repo with several
// mirrors. Other baseurls are grouped by scheme and host; the mirror is the
// longest directory prefix they share and the name is the id of the first
// .repo section seen on that host. Where a name is taken by a repo seen
// earlier (apt before dnf, files in name order, sources.list first), or is
// the reserved "metrics", the later repo gets "-<host>" appended (then "-2",
// "-3"… if still taken). Names are lower-cased, with characters a repo name
// may not hold replaced by "-".
//
// Unreadable files are errors; malformed entries become Notes. When nothing
// is found the Config has no repos and a Note says how to write one.
func Discover(root string, vars map[string]string) (*Discovered, error) {
	d := &Discovered{Config: Default()}
	if err := d.readApt(root); err != nil {
		return nil, err
	}
	allVars, err := yumVars(root, vars)
	if err != nil {
		return nil, err
	}
	if err := d.readYum(root, allVars); err != nil {
		return nil, err
	}
	d.group()
	if len(d.Config.Repos) == 0 {
		d.Notes = append(d.Notes, "no apt or dnf sources with http(s) URLs found under "+root+
			"; write a config file (repos: {NAME: {type: deb|rpm, mirrors: [URL]}}) and run lazymirror serve --config FILE")
	}
	return d, nil
}

// readFile reads root+name; a missing file is (nil, nil).
func readFile(root, name string) ([]byte, error) {
	data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("discover: read %s: %w", name, err)
	}
	return data, nil
}

// listDir returns the names in root+dir ending in one of exts, sorted; a
// missing directory is empty.
func listDir(root, dir string, exts ...string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(root, filepath.FromSlash(dir)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("discover: list %s: %w", dir, err)
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() && slices.ContainsFunc(exts, func(x string) bool { return strings.HasSuffix(e.Name(), x) }) {
			out = append(out, e.Name())
		}
	}
	return out, nil // os.ReadDir sorts by name
}

// aptPartName is what apt accepts as a file name in sources.list.d.
var aptPartName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

func (d *Discovered) readApt(root string) error {
	data, err := readFile(root, "/etc/apt/sources.list")
	if err != nil {
		return err
	}
	srcs, notes := parseSourcesList("/etc/apt/sources.list", data)
	d.Apt, d.Notes = append(d.Apt, srcs...), append(d.Notes, notes...)
	names, err := listDir(root, "/etc/apt/sources.list.d", ".list", ".sources")
	if err != nil {
		return err
	}
	for _, n := range names {
		name := "/etc/apt/sources.list.d/" + n
		if !aptPartName.MatchString(n) {
			d.Notes = append(d.Notes, "ignored "+name+": apt ignores file names with characters other than A-Z a-z 0-9 _ . -")
			continue
		}
		data, err := readFile(root, name)
		if err != nil {
			return err
		}
		parse := parseSourcesList
		if strings.HasSuffix(n, ".sources") {
			parse = parseDeb822
		}
		srcs, notes := parse(name, data)
		d.Apt, d.Notes = append(d.Apt, srcs...), append(d.Notes, notes...)
	}
	return nil
}

// yumVars returns the dnf variables: the host's defaults, then the files in
// etc/dnf/vars and etc/yum/vars, then the caller's vars.
func yumVars(root string, override map[string]string) (map[string]string, error) {
	vars := map[string]string{"basearch": baseArch(runtime.GOARCH), "arch": baseArch(runtime.GOARCH)}
	for _, name := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		data, err := readFile(root, name)
		if err != nil {
			return nil, err
		}
		if v := osReleaseValue(string(data), "VERSION_ID"); v != "" {
			major, _, _ := strings.Cut(v, ".")
			vars["releasever"], vars["releasever_major"] = v, major
			// RHEL and its rebuilds (VERSION_ID "9.4") provide
			// system-release(releasever) = 9: dnf's $releasever is the
			// major version, and EPEL's and Rocky's trees are named by it.
			like := strings.Fields(osReleaseValue(string(data), "ID") + " " + osReleaseValue(string(data), "ID_LIKE"))
			if slices.Contains(like, "rhel") {
				vars["releasever"] = major
			}
			break
		}
	}
	for _, dir := range []string{"/etc/dnf/vars", "/etc/yum/vars"} {
		names, err := listDir(root, dir, "")
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			data, err := readFile(root, dir+"/"+n)
			if err != nil {
				return nil, err
			}
			first, _, _ := strings.Cut(string(data), "\n")
			vars[n] = strings.TrimSpace(first)
		}
	}
	for k, v := range override {
		vars[k] = v
	}
	return vars, nil
}

// baseArch maps a Go GOARCH to dnf's $basearch.
func baseArch(goarch string) string {
	switch goarch {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	case "386":
		return "i386"
	case "arm":
		return "armhfp"
	}
	return goarch // ppc64le, s390x, riscv64 are spelled the same
}

// osReleaseValue returns the value of key in os-release text, unquoted.
func osReleaseValue(text, key string) string {
	for _, line := range strings.Split(text, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && k == key {
			return strings.Trim(v, `"'`)
		}
	}
	return ""
}

func (d *Discovered) readYum(root string, vars map[string]string) error {
	names, err := listDir(root, "/etc/yum.repos.d", ".repo")
	if err != nil {
		return err
	}
	for _, n := range names {
		name := "/etc/yum.repos.d/" + n
		data, err := readFile(root, name)
		if err != nil {
			return err
		}
		srcs, notes := parseRepoFile(name, data, vars)
		d.Yum, d.Notes = append(d.Yum, srcs...), append(d.Notes, notes...)
	}
	return nil
}

// group is one repo being assembled from sources.
type group struct {
	typ     Type
	base    string     // name before de-duplication
	name    string     // final name
	suites  []string   // deb
	mirrors []*url.URL // roots; for an unrecognised yum host, the shared prefix
	distro  bool       // a recognised yum distribution tree
}

// group builds d.Config.Repos from d.Apt and d.Yum and fills in each
// Mapped's Repo and Path, following the rules documented on Discover.
func (d *Discovered) group() {
	var groups []*group
	byKey := map[string]*group{}
	get := func(key string, make func() *group) *group {
		if g, ok := byKey[key]; ok {
			return g
		}
		g := make()
		byKey[key] = g
		groups = append(groups, g)
		return g
	}
	urlGroup := map[string]*group{} // "deb "/"rpm " + URL -> its group
	for _, s := range d.Apt {
		for _, m := range s.URIs {
			u, _ := url.Parse(m.URL) // normalised by ParseMirror already
			g := get("deb "+m.URL, func() *group {
				base := path.Base(u.Path) // "/debian/" → "debian"
				if base == "/" {
					base = u.Hostname()
				}
				return &group{typ: Deb, base: base, mirrors: []*url.URL{u}}
			})
			for _, suite := range s.Suites {
				if !slices.Contains(g.suites, suite) {
					g.suites = append(g.suites, suite)
				}
			}
			urlGroup["deb "+m.URL] = g
		}
	}
	for _, s := range d.Yum {
		for _, m := range s.BaseURLs {
			u, _ := url.Parse(m.URL)
			if name, root, ok := distroTree(u.Path); ok {
				g := get("rpm distro "+name, func() *group { return &group{typ: RPM, base: name, distro: true} })
				r := *u
				r.Path, r.RawPath = root, ""
				if !slices.ContainsFunc(g.mirrors, func(x *url.URL) bool { return x.String() == r.String() }) {
					g.mirrors = append(g.mirrors, &r)
				}
				urlGroup["rpm "+m.URL] = g
				continue
			}
			g := get("rpm host "+u.Scheme+"://"+u.Host, func() *group {
				r := *u
				return &group{typ: RPM, base: s.ID, mirrors: []*url.URL{&r}}
			})
			g.mirrors[0].Path = sharedDir(g.mirrors[0].Path, u.Path)
			g.mirrors[0].RawPath = ""
			urlGroup["rpm "+m.URL] = g
		}
	}
	nameGroups(groups)
	for i := range d.Apt {
		for j := range d.Apt[i].URIs {
			d.Apt[i].URIs[j].Repo = urlGroup["deb "+d.Apt[i].URIs[j].URL].name
		}
	}
	for i := range d.Yum {
		for j := range d.Yum[i].BaseURLs {
			m := &d.Yum[i].BaseURLs[j]
			g := urlGroup["rpm "+m.URL]
			m.Repo = g.name
			u, _ := url.Parse(m.URL)
			for _, root := range g.mirrors {
				if root.Host == u.Host && root.Scheme == u.Scheme && strings.HasPrefix(u.Path, root.Path) {
					m.Path = strings.TrimPrefix(u.Path, root.Path)
					break
				}
			}
		}
	}
	for _, g := range groups {
		d.Config.Repos = append(d.Config.Repos, Repo{
			Name: g.name, Type: g.typ, Mirrors: g.mirrors, Suites: g.suites, MetadataTTL: d.Config.MetadataTTL,
		})
	}
	slices.SortFunc(d.Config.Repos, func(a, b Repo) int { return strings.Compare(a.Name, b.Name) })
}

// sharedDir returns the longest common directory prefix of two paths that
// end in "/".
func sharedDir(a, b string) string {
	n := 0
	for i := 0; i < len(a) && i < len(b) && a[i] == b[i]; i++ {
		if a[i] == '/' {
			n = i + 1
		}
	}
	return a[:n]
}

// streamDir matches CentOS Stream's top-level directories: "9-stream".
var streamDir = regexp.MustCompile(`^[0-9]+-stream$`)

// distroTree recognises a distribution's mirror tree in a baseurl path and
// returns the distribution's name and the tree's root (ending in "/").
func distroTree(p string) (name, root string, ok bool) {
	segs := strings.Split(strings.Trim(p, "/"), "/")
	rootAt := func(n int) string { // the root after the first n segments
		if n == 0 {
			return "/"
		}
		return "/" + strings.Join(segs[:n], "/") + "/"
	}
	versioned := func(i int) bool {
		return i+1 < len(segs) && segs[i+1] != "" && segs[i+1][0] >= '0' && segs[i+1][0] <= '9'
	}
	for i, s := range segs {
		switch {
		case s == "fedora" && i+1 < len(segs) && segs[i+1] == "linux":
			return "fedora", rootAt(i + 2), true
		case s == "centos-stream" && versioned(i):
			return "centos-stream", rootAt(i + 1), true
		case streamDir.MatchString(s):
			return "centos-stream", rootAt(i), true
		case (s == "epel" || s == "rocky" || s == "almalinux") && versioned(i):
			return s, rootAt(i + 1), true
		}
	}
	return "", "", false
}

// invalidNameChars are the characters a repo name may not hold.
var invalidNameChars = regexp.MustCompile(`[^a-z0-9._-]+`)

// nameGroups gives every group a unique valid name: its base name; where
// an earlier group has that name (or it is the reserved "metrics"),
// "-<host>" appended, then "-2", "-3"….
func nameGroups(groups []*group) {
	used := map[string]bool{"metrics": true} // reserved: Parse refuses it too
	for _, g := range groups {
		g.base = strings.TrimLeft(invalidNameChars.ReplaceAllString(strings.ToLower(g.base), "-"), "._-")
		if g.base == "" {
			g.base = "repo"
		}
		name := g.base
		if used[name] {
			name += "-" + invalidNameChars.ReplaceAllString(g.mirrors[0].Hostname(), "-") // "fd00::1" → "fd00-1"
		}
		unique := name
		for n := 2; used[unique]; n++ {
			unique = fmt.Sprintf("%s-%d", name, n)
		}
		used[unique] = true
		g.name = unique
	}
}
