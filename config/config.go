// Package config reads the configuration of lazymirror serve and, when there
// is none, discovers what to mirror from this host's own apt and dnf sources.
//
// # The YAML file
//
// Parse decodes YAML (go.yaml.in/yaml/v3) into a yaml.Node tree and walks it
// by hand, so every problem carries the file, line and column it comes from
// and a suggested fix. Decoding is strict: an unknown key is an error (with
// the nearest known key suggested), as is a value of the wrong YAML type, a
// duplicate mapping key, a host claimed by two repos or a mirror listed
// twice. Parse reports every problem it finds at once, joined with
// errors.Join, so one run of `lazymirror config check` lists them all; each
// is an *Error.
//
// Anchors and aliases work as YAML defines them, as do merge keys ("<<:
// *name" or "<<: [*a, *b]") in every mapping: keys written in the mapping
// win over merged ones, and an earlier merged mapping over a later one.
// Top-level keys starting with "x-" are ignored, a place to keep anchors.
// Aliases may expand to at most 50,000 nodes in all, so a small
// hostile file cannot make Parse walk a billion.
//
// Absent keys take the values of Default. A repo's metadata_ttl, when
// unset, is the top-level metadata_ttl. Mirror URLs are normalised: the host
// is lower-cased and the path ends in "/", so a request path under the repo
// can simply be appended to any of its mirrors.
//
// # Discovery
//
// Discover reads apt's sources.list and sources.list.d (one-line and deb822
// formats) and dnf's yum.repos.d under a root directory and turns them into
// repos; ClientLines prints the same sources rewritten to point at a
// lazymirror. The grouping and naming rules are documented on Discover.
package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Type is the kind of repository a repo is.
type Type string

// The repository types.
const (
	RPM Type = "rpm" // yum/dnf: repodata/repomd.xml
	Deb Type = "deb" // apt: dists/<suite>/InRelease
)

// Eviction policies.
const (
	EvictLFUDA = "lfuda"
	EvictLRU   = "lru"
)

// Config is the whole configuration of a lazymirror server.
type Config struct {
	Path         string        // file it came from ("" for defaults or discovered)
	Listen       string        // host:port to listen on
	DataDir      string        // directory for blobs and the index
	MaxSize      int64         // bytes the store may use; 0 = unlimited
	MemoryCache  int64         // bytes of memory for small blobs served often; 0 = none
	Eviction     string        // EvictLFUDA or EvictLRU
	MetadataTTL  time.Duration // default metadata TTL for repos
	AdminToken   string        // bearer token for admin endpoints; "" = loopback only
	StallTimeout time.Duration // a client that accepts no bytes sent to it for this long is dropped; 0 = never
	Upstream     Upstream      // how to talk to mirrors
	Repos        []Repo        // sorted by name
}

// Upstream tunes the HTTP client that fetches from mirrors.
type Upstream struct {
	ConnectTimeout  time.Duration // TCP+TLS connect
	HeaderTimeout   time.Duration // request sent to response headers
	IdleTimeout     time.Duration // no body bytes for this long aborts the transfer
	BreakerFailures int           // consecutive failures that open a mirror's breaker
	BreakerCooldown time.Duration // how long an open breaker waits before a probe
	MinSpeed        int64         // bytes/second; slower transfers count as failures
}

// Repo is one upstream repository tree, served at /<Name>/ and under Hosts.
type Repo struct {
	Name        string        // [a-z0-9][a-z0-9._-]*: the first path segment of URLs
	Type        Type          // RPM or Deb
	Mirrors     []*url.URL    // http(s), absolute, no query, fragment or userinfo; path ends in "/"
	Hosts       []string      // virtual host names, lower-case, no port
	Suites      []string      // deb only: the suites to serve; empty = any
	MetadataTTL time.Duration // how long root metadata is served before revalidation
}

// Default returns the built-in configuration: no repos, listening on :8080,
// data under DefaultDataDir, LFUDA eviction, 64 MiB of memory for small
// blobs, a one-minute metadata TTL, clients that stall dropped after two
// minutes.
func Default() *Config {
	return &Config{
		Listen:      ":8080",
		DataDir:     DefaultDataDir(os.Getenv, os.Geteuid()),
		Eviction:    EvictLFUDA,
		MemoryCache: 64 << 20,
		MetadataTTL: time.Minute,
		// As long as fasthttp keeps an idle keep-alive connection.
		StallTimeout: 2 * time.Minute,
		Upstream: Upstream{
			ConnectTimeout:  10 * time.Second,
			HeaderTimeout:   30 * time.Second,
			IdleTimeout:     60 * time.Second,
			BreakerFailures: 3,
			BreakerCooldown: 30 * time.Second,
			MinSpeed:        10_000,
		},
	}
}

// DefaultDataDir returns where data lives when the config does not say:
// $STATE_DIRECTORY (set by systemd's StateDirectory=; its first entry) if set,
// else /var/cache/lazymirror for root (euid 0), else
// $XDG_CACHE_HOME/lazymirror, else $HOME/.cache/lazymirror. If none of those
// variables is set it falls back to ./lazymirror-cache.
func DefaultDataDir(getenv func(string) string, euid int) string {
	if s := getenv("STATE_DIRECTORY"); s != "" {
		first, _, _ := strings.Cut(s, ":")
		return first
	}
	if euid == 0 {
		return "/var/cache/lazymirror"
	}
	if s := getenv("XDG_CACHE_HOME"); s != "" {
		return filepath.Join(s, "lazymirror")
	}
	if s := getenv("HOME"); s != "" {
		return filepath.Join(s, ".cache", "lazymirror")
	}
	return "lazymirror-cache"
}

// Repo returns the repo called name.
func (c *Config) Repo(name string) (*Repo, bool) {
	i, ok := slices.BinarySearchFunc(c.Repos, name, func(r Repo, n string) int { return strings.Compare(r.Name, n) })
	if !ok {
		return nil, false
	}
	return &c.Repos[i], true
}

// RepoForHost returns the repo that serves the virtual host in a Host
// header; the port and a trailing dot are ignored, case does not matter.
func (c *Config) RepoForHost(host string) (*Repo, bool) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(host, ".")
	for i := range c.Repos {
		for _, h := range c.Repos[i].Hosts {
			if strings.EqualFold(h, host) {
				return &c.Repos[i], true
			}
		}
	}
	return nil, false
}

// maxConfigBytes bounds the size of a configuration file Load reads. A
// config for hundreds of repos is tens of kilobytes.
const maxConfigBytes = 1 << 20

// Load reads the file at path (at most maxConfigBytes) and parses it with
// Parse.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	if len(data) > maxConfigBytes {
		return nil, &Error{File: path, Msg: fmt.Sprintf("larger than %d KiB", maxConfigBytes>>10), Fix: "is this the configuration file? lazymirror's is a short YAML file"}
	}
	return Parse(path, data)
}

// Parse decodes a YAML configuration; path is used in error messages and
// recorded in Config.Path. On failure it returns every problem found, joined
// with errors.Join; each is an *Error.
func Parse(path string, data []byte) (*Config, error) {
	p := &parser{file: path}
	c := Default()
	c.Path = path
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, p.yamlError(err, data)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return c, nil // an empty file: all defaults
	}
	p.top(doc.Content[0], c)
	if p.tooAliased != nil {
		// Past the limit deref stops expanding aliases, so the other
		// errors may be artefacts of that: report the cause alone.
		return nil, errors.Join(p.tooAliased)
	}
	if len(p.errs) > 0 {
		slices.SortStableFunc(p.errs, func(a, b error) int {
			ea, eb := a.(*Error), b.(*Error)
			return cmp.Or(cmp.Compare(ea.Line, eb.Line), cmp.Compare(ea.Column, eb.Column))
		})
		return nil, errors.Join(p.errs...)
	}
	return c, nil
}

// maxAliasNodes bounds the nodes the walk may reach through aliases,
// counting a whole anchored tree each time an alias to it is followed. The
// node tree yaml.v3 builds is no bigger than the file (an alias is a pointer
// to its anchor), but walking it expands aliases, and aliases of aliases or
// merges of merges multiply: a few lines can name a billion nodes. A
// generous real config (hundreds of repos merging a shared mapping with a
// list of mirrors, about 30 nodes a repo) stays far below this. Each node
// reached may cost an error: at this limit, about 40 MB allocated.
const maxAliasNodes = 50_000

// parser walks a yaml.Node tree and collects problems.
type parser struct {
	file     string
	errs     []error        // all *Error
	reported map[Error]bool // errors in errs, so one reached twice through aliases is reported once

	aliasNodes int                // nodes reached through aliases so far
	tooAliased *Error             // set when aliasNodes passes maxAliasNodes
	counts     map[*yaml.Node]int // nodeCount's memo
	merging    map[*yaml.Node]bool
}

func (p *parser) fail(n *yaml.Node, fix, format string, args ...any) {
	e := Error{File: p.file, Line: n.Line, Column: n.Column, Msg: fmt.Sprintf(format, args...), Fix: fix}
	if p.reported[e] {
		return
	}
	if p.reported == nil {
		p.reported = map[Error]bool{}
	}
	p.reported[e] = true
	p.errs = append(p.errs, &e)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError turns a yaml.v3 syntax error ("yaml: line 3: ...") into an *Error.
func (p *parser) yamlError(err error, data []byte) error {
	e := &Error{File: p.file, Msg: err.Error(), Fix: "check the indentation and quoting near that line"}
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Column = 1
		e.Msg = "invalid YAML: " + m[2]
	}
	if m := yamlAnchor.FindStringSubmatch(err.Error()); m != nil {
		// yaml.v3 gives no position for an alias to no anchor: find it.
		e.Line, e.Column = aliasPosition(data, m[1])
		e.Msg = fmt.Sprintf("invalid YAML: alias *%s names no anchor", m[1])
		e.Fix = fmt.Sprintf("define it above with &%s (an anchor must come before its aliases), or correct the name", m[1])
	}
	return e
}

// yamlAnchor matches yaml.v3's error for an alias to no anchor.
var yamlAnchor = regexp.MustCompile(`^yaml: unknown anchor '(.*)' referenced$`)

// aliasPosition returns the line and column (from 1) of the first alias
// *name in data, or 0, 0: an occurrence followed by a character that may
// continue an anchor name is another name's.
func aliasPosition(data []byte, name string) (line, col int) {
	tok := []byte("*" + name)
	for off := 0; ; {
		i := bytes.Index(data[off:], tok)
		if i < 0 {
			return 0, 0
		}
		i += off
		end := i + len(tok)
		if end == len(data) || strings.IndexByte(" \t\r\n,[]{}", data[end]) >= 0 {
			before := data[:i]
			return bytes.Count(before, []byte("\n")) + 1, i - (bytes.LastIndexByte(before, '\n') + 1) + 1
		}
		off = end
	}
}

// field is one key of a mapping: its key node (for positions) and value.
type field struct {
	key, val *yaml.Node
}

// fields are a mapping's fields in document order.
type fields []field

// get returns the field named key.
func (fs fields) get(key string) (field, bool) {
	for _, f := range fs {
		if f.key.Value == key {
			return f, true
		}
	}
	return field{}, false
}

// mapping checks that n is a mapping whose keys are unique and, unless
// known is nil, all in known; merge keys are resolved (see fields). what
// names n in messages.
func (p *parser) mapping(n *yaml.Node, what string, known []string) (fields, bool) {
	fs, ok := p.fields(n, what)
	if !ok {
		return nil, false
	}
	return p.known(fs, what, known), true
}

// known returns the fields of fs whose keys are in known, reporting the
// others; a nil known allows any key.
func (p *parser) known(fs fields, what string, known []string) fields {
	if known == nil {
		return fs
	}
	out := fs[:0]
	for _, f := range fs {
		if !slices.Contains(known, f.key.Value) {
			fix := "known keys are " + strings.Join(known, ", ")
			if s := nearest(f.key.Value, known); s != "" {
				fix = "did you mean " + s + "?"
			}
			p.fail(f.key, fix, "unknown key %q in %s", f.key.Value, what)
			continue
		}
		out = append(out, f)
	}
	return out
}

// fields checks that n is a mapping whose keys are unique and returns its
// fields in document order, with YAML merge keys resolved: "<<: *a" or
// "<<: [*a, *b]" puts, where the "<<" key is, the fields of the merged
// mappings (their own merges resolved) that n does not write itself, an
// earlier mapping of the list winning over a later one. A key written twice
// in one mapping is an error; a key both written and merged is not.
//
// A merged field keeps the key node of the mapping it was written in, so an
// error about it (unknown key, bad value) points at its own line in the
// anchored mapping, where it has to be fixed; the message names the mapping
// it was merged into.
func (p *parser) fields(n *yaml.Node, what string) (fields, bool) {
	n = p.deref(n)
	if n.Kind != yaml.MappingNode {
		p.fail(n, "write it as key: value lines indented under "+what, "%s must be a mapping, got %s", what, kindName(n))
		return nil, false
	}
	return p.resolve(n, what), true
}

// resolve returns the fields of the mapping n, merges resolved.
func (p *parser) resolve(n *yaml.Node, what string) fields {
	if p.merging == nil {
		p.merging = map[*yaml.Node]bool{}
	}
	p.merging[n] = true // a merge of n into itself, even indirectly, is a cycle
	defer delete(p.merging, n)
	var (
		out             fields
		first           = map[string]*yaml.Node{} // key -> its first key node
		mergeKey, merge *yaml.Node                // the "<<" key and its value
		mergeAt         int                       // where the merged fields go in out
	)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := p.deref(n.Content[i]), n.Content[i+1]
		if isMerge(n.Content[i]) {
			if mergeKey != nil {
				p.fail(k, "merge several mappings with one key: <<: [*a, *b]", "duplicate key %q in %s (first at line %d)", k.Value, what, mergeKey.Line)
				continue
			}
			mergeKey, merge, mergeAt = k, v, len(out)
			continue
		}
		if prev, dup := first[k.Value]; dup {
			p.fail(k, "keep one of them", "duplicate key %q in %s (first at line %d)", k.Value, what, prev.Line)
			continue
		}
		first[k.Value] = k
		out = append(out, field{k, v})
	}
	if merge == nil {
		return out
	}
	var merged fields
	for _, src := range p.mergeSources(merge, what) {
		// Errors about a merged mapping point at it as written under "<<"
		// (for an alias, the *name), not at the anchored node, which may be
		// fine where else it is used.
		switch {
		case src.n.Kind != yaml.MappingNode:
			p.fail(src.at, mergeFix, "%q in %s must merge a mapping, got %s", "<<", what, kindName(src.n))
			continue
		case p.merging[src.n]:
			p.fail(src.at, "remove this merge: a mapping cannot merge itself", "%q in %s merges a mapping that contains this merge", "<<", what)
			continue
		}
		for _, f := range p.resolve(src.n, what) {
			if _, ok := first[f.key.Value]; !ok {
				first[f.key.Value] = f.key
				merged = append(merged, f)
			}
		}
	}
	return slices.Insert(out, mergeAt, merged...)
}

const mergeFix = "merge an anchored mapping, <<: *name, or several, <<: [*a, *b]"

// mergeSource is one node a "<<" value names: as written (at) and with its
// alias followed (n).
type mergeSource struct{ at, n *yaml.Node }

// mergeSources returns what a "<<" value v names: v itself, or the items of
// a list.
func (p *parser) mergeSources(v *yaml.Node, what string) []mergeSource {
	d := p.deref(v)
	switch d.Kind {
	case yaml.MappingNode:
		return []mergeSource{{v, d}}
	case yaml.SequenceNode:
		srcs := make([]mergeSource, len(d.Content))
		for i, it := range d.Content {
			srcs[i] = mergeSource{it, p.deref(it)}
		}
		return srcs
	}
	p.fail(v, mergeFix, "%q in %s must merge a mapping or a list of mappings, got %s", "<<", what, kindName(d))
	return nil
}

// isMerge reports whether k is the merge key: a plain "<<", as yaml.v3
// decides it (a quoted '<<' is an ordinary string).
func isMerge(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && (k.Tag == "" || k.Tag == "!" || k.ShortTag() == "!!merge")
}

// deref follows YAML aliases. Each node of the tree an alias names counts
// against maxAliasNodes; past it deref reports the alias and returns it
// unfollowed, so the rest of the walk cannot expand anything.
func (p *parser) deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil && p.tooAliased == nil {
		p.aliasNodes += p.nodeCount(n.Alias)
		if p.aliasNodes > maxAliasNodes {
			p.tooAliased = &Error{File: p.file, Line: n.Line, Column: n.Column,
				Msg: fmt.Sprintf("aliases expand to more than %d nodes (reached at *%s)", maxAliasNodes, n.Value),
				Fix: "use anchors fewer times: aliases of aliases and merges of merges multiply"}
			return n
		}
		n = n.Alias
	}
	return n
}

// nodeCount returns the number of nodes in the tree under n, not following
// aliases.
func (p *parser) nodeCount(n *yaml.Node) int {
	if c, ok := p.counts[n]; ok {
		return c
	}
	c := 1
	for _, ch := range n.Content {
		c += p.nodeCount(ch)
	}
	if p.counts == nil {
		p.counts = map[*yaml.Node]int{}
	}
	p.counts[n] = c
	return c
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return fmt.Sprintf("the string %q", n.Value)
		case "!!null":
			return "nothing"
		case "!!int", "!!float":
			return "the number " + n.Value
		case "!!bool":
			return "the boolean " + n.Value
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// str returns the string value of n, which must be a string scalar.
func (p *parser) str(n *yaml.Node, key string) (string, bool) {
	n = p.deref(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		fix := "write a string"
		if n.Kind == yaml.ScalarNode && n.ShortTag() != "!!null" {
			fix = fmt.Sprintf("quote it: %s: %q", key, n.Value)
		}
		p.fail(n, fix, "%s must be a string, got %s", key, kindName(n))
		return "", false
	}
	return n.Value, true
}

// list returns the items of n, which must be a sequence.
func (p *parser) list(n *yaml.Node, key, example string) ([]*yaml.Node, bool) {
	n = p.deref(n)
	if n.Kind != yaml.SequenceNode {
		p.fail(n, fmt.Sprintf("write a list: %s: [%s]", key, example), "%s must be a list, got %s", key, kindName(n))
		return nil, false
	}
	return n.Content, true
}

// duration parses a Go duration such as "90s" or "5m".
func (p *parser) duration(n *yaml.Node, key string) (time.Duration, bool) {
	n = p.deref(n)
	d, err := time.ParseDuration(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil || d < 0 {
		p.fail(n, durationFix(n.Value), "%s: bad duration %s", key, kindName(n))
		return 0, false
	}
	return d, true
}

// size parses a byte size: a number of bytes or a string for ParseSize.
func (p *parser) size(n *yaml.Node, key string, perSecond bool) (int64, bool) {
	n = p.deref(n)
	s := n.Value
	if perSecond {
		s = strings.TrimSuffix(s, "/s")
	}
	v, err := ParseSize(s)
	if n.Kind != yaml.ScalarNode || err != nil {
		p.fail(n, sizeFix(s), "%s: bad size %s", key, kindName(n))
		return 0, false
	}
	return v, true
}

// durationFix is the fix for a bad duration s: what it likely meant when it
// counts days (Go durations stop at hours), else the general form.
func durationFix(s string) string {
	if n, ok := strings.CutSuffix(strings.TrimSpace(s), "d"); ok {
		if days, err := strconv.ParseFloat(n, 64); err == nil && days >= 0 {
			return fmt.Sprintf("write %gh: a Go duration counts hours at most (90s, 5m, 1h30m)", days*24)
		}
	}
	return "use a Go duration, not negative, such as 90s, 5m or 1h30m"
}

// sizeFix is the fix for a bad size s: the two sizes it likely meant when
// its unit is a bare letter ("200G"), else the general form.
func sizeFix(s string) string {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i > 0 {
		num, unit := t[:i], strings.ToUpper(strings.TrimSpace(t[i:]))
		switch unit = strings.TrimSuffix(unit, "I"); unit {
		case "K", "M", "G", "T":
			return fmt.Sprintf("write %s%sB (powers of 1000) or %s%siB (powers of 1024)", num, unit, num, unit)
		}
	}
	return "use a number and a unit such as 500MB, 50GiB or 2TB"
}

var topKeys = []string{"listen", "data_dir", "max_size", "memory_cache", "eviction", "metadata_ttl", "admin_token", "stall_timeout", "upstream", "repos"}

// top decodes the document's root mapping into c.
func (p *parser) top(n *yaml.Node, c *Config) {
	all, ok := p.fields(n, "the configuration")
	if !ok {
		return
	}
	// Top-level keys starting with x- are ignored, whatever their value: a
	// place for anchors that other settings alias or merge, as in docker
	// compose. Elsewhere they stay unknown keys (in repos, x-foo is a valid
	// repo name).
	m := p.known(slices.DeleteFunc(all, func(f field) bool { return strings.HasPrefix(f.key.Value, "x-") }), "the configuration", topKeys)
	if f, ok := m.get("listen"); ok {
		if s, ok := p.str(f.val, "listen"); ok {
			if err := checkListen(s); err != nil {
				p.fail(f.val, `write host:port, e.g. ":8080" or "127.0.0.1:8080"`, "listen %q: %v", s, err)
			} else {
				c.Listen = s
			}
		}
	}
	if f, ok := m.get("data_dir"); ok {
		if s, ok := p.str(f.val, "data_dir"); ok {
			if s == "" {
				p.fail(f.val, "give a directory, or remove the key for the default", "data_dir is empty")
			}
			c.DataDir = s
		}
	}
	if f, ok := m.get("max_size"); ok {
		c.MaxSize, _ = p.size(f.val, "max_size", false)
	}
	if f, ok := m.get("memory_cache"); ok {
		c.MemoryCache, _ = p.size(f.val, "memory_cache", false)
	}
	if f, ok := m.get("eviction"); ok {
		if s, ok := p.str(f.val, "eviction"); ok {
			if s != EvictLFUDA && s != EvictLRU {
				p.fail(f.val, "use lfuda (the default) or lru", "unknown eviction policy %q", s)
			}
			c.Eviction = s
		}
	}
	if f, ok := m.get("metadata_ttl"); ok {
		c.MetadataTTL, _ = p.duration(f.val, "metadata_ttl")
	}
	if f, ok := m.get("admin_token"); ok {
		c.AdminToken, _ = p.str(f.val, "admin_token")
	}
	if f, ok := m.get("stall_timeout"); ok {
		c.StallTimeout, _ = p.duration(f.val, "stall_timeout")
	}
	if f, ok := m.get("upstream"); ok {
		p.upstream(f.val, &c.Upstream)
	}
	if f, ok := m.get("repos"); ok {
		c.Repos = p.repos(f.val, c.MetadataTTL)
	}
}

// checkListen checks a listen address is host:port with a numeric port.
func checkListen(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New("not host:port")
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}

var upstreamKeys = []string{"connect_timeout", "header_timeout", "idle_timeout", "breaker_failures", "breaker_cooldown", "min_speed"}

func (p *parser) upstream(n *yaml.Node, u *Upstream) {
	m, ok := p.mapping(n, "upstream", upstreamKeys)
	if !ok {
		return
	}
	durations := []struct {
		key string
		dst *time.Duration
	}{
		{"connect_timeout", &u.ConnectTimeout},
		{"header_timeout", &u.HeaderTimeout},
		{"idle_timeout", &u.IdleTimeout},
		{"breaker_cooldown", &u.BreakerCooldown},
	}
	for _, d := range durations {
		if f, ok := m.get(d.key); ok {
			if v, ok := p.duration(f.val, d.key); ok {
				*d.dst = v
			}
		}
	}
	if f, ok := m.get("breaker_failures"); ok {
		v := p.deref(f.val)
		n, err := strconv.Atoi(v.Value)
		if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!int" || err != nil || n < 1 {
			p.fail(v, "use a whole number of at least 1, e.g. breaker_failures: 3", "breaker_failures: bad count %s", kindName(v))
		} else {
			u.BreakerFailures = n
		}
	}
	if f, ok := m.get("min_speed"); ok {
		if v, ok := p.size(f.val, "min_speed", true); ok {
			u.MinSpeed = v
		}
	}
}

var (
	repoKeys = []string{"type", "mirrors", "hosts", "suites", "metadata_ttl"}
	repoName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	hostName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`)
)

// repos decodes the repos mapping; the result is sorted by name.
func (p *parser) repos(n *yaml.Node, ttl time.Duration) []Repo {
	m, ok := p.mapping(n, "repos", nil)
	if !ok {
		return nil
	}
	type claim struct {
		repo string
		line int
	}
	claimed := map[string]claim{} // host -> the repo that has it
	var out []Repo
	for _, f := range m {
		name := f.key.Value
		if !repoName.MatchString(name) {
			p.fail(f.key, "use lower-case letters, digits, '.', '_' and '-', starting with a letter or digit", "invalid repo name %q", name)
		} else if name == "metrics" { // the server answers /metrics itself
			p.fail(f.key, "choose another name", "repo name %q is reserved: the server answers /%s itself", name, name)
		}
		r, hostNodes, ok := p.repo(f, name, ttl)
		if !ok {
			continue
		}
		for i, h := range r.Hosts {
			if prev, dup := claimed[h]; dup {
				p.fail(hostNodes[i], "give each virtual host to one repo", "host %q is already used by repo %s at line %d", h, prev.repo, prev.line)
				continue
			}
			claimed[h] = claim{name, hostNodes[i].Line}
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Repo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// repo decodes one repo and returns the node of each of its hosts; ok is
// false when it is too broken to check further.
func (p *parser) repo(f field, name string, ttl time.Duration) (r Repo, hostNodes []*yaml.Node, ok bool) {
	what := "repo " + name
	m, ok := p.mapping(f.val, what, repoKeys)
	if !ok {
		return Repo{}, nil, false
	}
	r = Repo{Name: name, MetadataTTL: ttl}
	if t, ok := m.get("type"); !ok {
		p.fail(f.key, "add type: rpm (yum/dnf) or type: deb (apt)", "repo %s has no type", name)
	} else if s, ok := p.str(t.val, "type"); ok {
		r.Type = Type(s)
		if r.Type != RPM && r.Type != Deb {
			p.fail(t.val, "use rpm (yum/dnf) or deb (apt)", "repo %s: unknown type %q", name, s)
		}
	}
	if mf, ok := m.get("mirrors"); !ok {
		p.fail(f.key, "add mirrors: [http://mirror.example/path/]", "repo %s has no mirrors", name)
	} else if items, ok := p.list(mf.val, "mirrors", "http://mirror.example/path/"); ok {
		if len(items) == 0 {
			p.fail(mf.val, "list at least one mirror URL", "repo %s has no mirrors", name)
		}
		seen := map[string]int{}
		for _, it := range items {
			s, ok := p.str(it, "mirror")
			if !ok {
				continue
			}
			u, err := ParseMirror(s)
			if err != nil {
				p.fail(it, mirrorFix(err), "repo %s: mirror %q: %v", name, s, err)
				continue
			}
			if line, dup := seen[u.String()]; dup {
				p.fail(it, "remove the repeated mirror", "repo %s: mirror %s is listed twice (first at line %d)", name, u, line)
				continue
			}
			seen[u.String()] = it.Line
			r.Mirrors = append(r.Mirrors, u)
		}
	}
	if hf, ok := m.get("hosts"); ok {
		items, _ := p.list(hf.val, "hosts", name+"-mirror.lan")
		for _, it := range items {
			s, ok := p.str(it, "host")
			if !ok {
				continue
			}
			h := strings.ToLower(strings.TrimSuffix(s, "."))
			switch {
			case strings.Contains(h, ":"):
				p.fail(it, "give the name without a port; any port matches", "repo %s: host %q has a port", name, s)
			case !hostName.MatchString(h):
				p.fail(it, "use a DNS name such as "+name+"-mirror.lan", "repo %s: invalid host name %q", name, s)
			case slices.Contains(r.Hosts, h):
				p.fail(it, "remove the repeated host", "repo %s: host %q is listed twice", name, s)
			default:
				r.Hosts = append(r.Hosts, h)
				hostNodes = append(hostNodes, it)
			}
		}
	}
	if sf, ok := m.get("suites"); ok {
		if r.Type == RPM {
			p.fail(sf.key, "remove suites: only deb repos have suites", "repo %s: suites on an rpm repo", name)
		}
		items, _ := p.list(sf.val, "suites", "bookworm, bookworm-updates")
		for _, it := range items {
			if s, ok := p.str(it, "suite"); ok {
				// A suite ending in "/" is a flat repository's directory
				// (sources.list "deb URL ./"), relative to the mirror URL.
				segs := strings.Split(strings.TrimSuffix(s, "/"), "/")
				flat := strings.HasSuffix(s, "/")
				switch {
				case s == "" || strings.ContainsAny(s, " \t") || slices.Contains(segs, ".."):
					p.fail(it, "use a suite name such as bookworm, or ./ for a flat repository", "repo %s: invalid suite %q", name, s)
				case flat && (strings.HasPrefix(s, "/") || slices.Contains(segs, "")):
					p.fail(it, "write a flat repository's directory relative to the mirror URL, such as ./ or sub/", "repo %s: invalid flat suite %q", name, s)
				case flat && (slices.Contains(segs, "dists") || slices.Contains(segs, "pool")):
					p.fail(it, "a flat repository's directory is outside dists/ and pool/; for dists/<suite>/ write the suite, such as bookworm", "repo %s: invalid flat suite %q", name, s)
				default:
					r.Suites = append(r.Suites, s)
				}
			}
		}
	}
	if tf, ok := m.get("metadata_ttl"); ok {
		if d, ok := p.duration(tf.val, "metadata_ttl"); ok {
			r.MetadataTTL = d
		}
	}
	return r, hostNodes, true
}

// Mirror URL problems, for ParseMirror's callers to branch on.
var (
	ErrMirrorNotAbsolute = errors.New("not an absolute URL")
	ErrMirrorScheme      = errors.New("scheme is not http or https")
	ErrMirrorQuery       = errors.New("has a query or fragment")
	ErrMirrorUserinfo    = errors.New("has a user name or password")
)

// ParseMirror parses and normalises a mirror base URL: absolute, http or
// https, with a host, no query, fragment or user info; the host is
// lower-cased and the path made to end in "/". Errors wrap one of the
// ErrMirror* sentinels or url.Parse's error.
func ParseMirror(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, err
	case u.Scheme != "" && u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%w: %q", ErrMirrorScheme, u.Scheme)
	case !u.IsAbs() || u.Host == "" || u.Opaque != "":
		return nil, ErrMirrorNotAbsolute
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return nil, ErrMirrorQuery
	case u.User != nil:
		return nil, ErrMirrorUserinfo
	}
	u.Host = strings.ToLower(u.Host)
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		if u.RawPath != "" {
			u.RawPath += "/"
		}
	}
	return u, nil
}

// mirrorFix suggests a fix for a ParseMirror error.
func mirrorFix(err error) string {
	switch {
	case errors.Is(err, ErrMirrorNotAbsolute):
		return "write the full URL, e.g. http://deb.mirror.lan/debian/"
	case errors.Is(err, ErrMirrorScheme):
		return "use an http:// or https:// URL"
	case errors.Is(err, ErrMirrorQuery):
		return "remove the ?query or #fragment; give the base URL of the tree"
	case errors.Is(err, ErrMirrorUserinfo):
		return "remove user:password@ from the URL; credentials in URLs end up in logs and are not supported"
	}
	return "check the URL's spelling"
}
