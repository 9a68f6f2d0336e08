package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestLoadExample(t *testing.T) {
	c, err := Load("testdata/lazymirror.yaml")
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Path", c.Path, "testdata/lazymirror.yaml"},
		{"Listen", c.Listen, "127.0.0.1:8080"},
		{"DataDir", c.DataDir, "/var/cache/lazymirror"},
		{"MaxSize", c.MaxSize, int64(50 << 30)},
		{"MemoryCache", c.MemoryCache, int64(32 << 20)},
		{"Eviction", c.Eviction, EvictLFUDA},
		{"MetadataTTL", c.MetadataTTL, time.Minute},
		{"AdminToken", c.AdminToken, "s3cret"},
		{"Upstream", c.Upstream, Upstream{10 * time.Second, 30 * time.Second, 60 * time.Second, 3, 30 * time.Second, 10_000}},
		{"repos", len(c.Repos), 2},
		{"first repo (sorted)", c.Repos[0].Name, "debian"},
		{"debian type", c.Repos[0].Type, Deb},
		{"debian mirror", c.Repos[0].Mirrors[0].String(), "http://mirror-a.example/debian/"},
		{"debian hosts", strings.Join(c.Repos[0].Hosts, ","), "debian-mirror.lan"},
		{"debian suites", strings.Join(c.Repos[0].Suites, ","), "bookworm,bookworm-updates"},
		{"debian ttl", c.Repos[0].MetadataTTL, 5 * time.Minute},
		{"fedora type", c.Repos[1].Type, RPM},
		{"fedora mirrors", c.Repos[1].Mirrors[1].String(), "http://mirror-b.example/pub/fedora/"},
		{"fedora ttl inherited", c.Repos[1].MetadataTTL, time.Minute},
	}
	for _, tc := range checks {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

func TestLoadMissing(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load(missing) = %v, want ErrNotExist", err)
	}
}

// TestLoadTooLarge: a file past maxConfigBytes (a log or an image given
// by mistake) is refused before it is parsed, naming the file; one at the
// limit is parsed.
func TestLoadTooLarge(t *testing.T) {
	dir := t.TempDir()
	comment := func(n int) []byte { return append([]byte("#"), bytes.Repeat([]byte("x"), n-2)...) }
	at := filepath.Join(dir, "at.yaml")
	if err := os.WriteFile(at, append(comment(maxConfigBytes), '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(at); err != nil {
		t.Errorf("Load of a %d-byte file: %v", maxConfigBytes, err)
	}
	over := filepath.Join(dir, "over.yaml")
	if err := os.WriteFile(over, append(comment(maxConfigBytes+1), '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(over)
	var ce *Error
	if !errors.As(err, &ce) || ce.File != over || !strings.Contains(ce.Msg, "larger than") {
		t.Errorf("Load of a %d-byte file = %v, want a config error naming it", maxConfigBytes+1, err)
	}
}

func TestParseDefaults(t *testing.T) {
	for _, in := range []string{"", "# nothing but a comment\n", "repos: {}\n"} {
		c, err := Parse("x.yaml", []byte(in))
		if err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		d := Default()
		if c.Listen != d.Listen || c.Eviction != d.Eviction || c.Upstream != d.Upstream || c.MetadataTTL != d.MetadataTTL || c.StallTimeout != d.StallTimeout || len(c.Repos) != 0 {
			t.Errorf("Parse(%q) = %+v, want defaults %+v", in, c, d)
		}
	}
}

// TestStallTimeout: clients that stall are dropped after two minutes unless
// the config says otherwise; 0 keeps them.
func TestStallTimeout(t *testing.T) {
	for _, tt := range []struct {
		yaml string
		want time.Duration
	}{
		{"", 2 * time.Minute},
		{"stall_timeout: 90s\n", 90 * time.Second},
		{"stall_timeout: 0s\n", 0},
	} {
		c, err := Parse("x.yaml", []byte(tt.yaml))
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.yaml, err)
		}
		if c.StallTimeout != tt.want {
			t.Errorf("Parse(%q): stall_timeout %v, want %v", tt.yaml, c.StallTimeout, tt.want)
		}
	}
}

func TestParseNormalises(t *testing.T) {
	c, err := Parse("x.yaml", []byte("repos:\n  r: {type: rpm, mirrors: ['HTTP://Mirror.Example/Fedora'], hosts: [R-Mirror.LAN.]}\nupstream: {min_speed: 1MiB/s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Repos[0]
	if got := r.Mirrors[0].String(); got != "http://mirror.example/Fedora/" {
		t.Errorf("mirror = %s", got)
	}
	if r.Hosts[0] != "r-mirror.lan" {
		t.Errorf("host = %s", r.Hosts[0])
	}
	if c.Upstream.MinSpeed != 1<<20 {
		t.Errorf("min_speed = %d", c.Upstream.MinSpeed)
	}
}

// TestParseMerge: anchors, aliases and merge keys resolve as YAML defines
// them; top-level x- keys are ignored.
func TestParseMerge(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       string // the repos, "NAME TYPE MIRRORS HOSTS SUITES TTL" each, joined by "; "
	}{
		{"merge in repos", "listen: 127.0.0.1:8080\nrepos:\n  debian: &deb\n    type: deb\n    mirrors: [http://127.0.0.1:1/debian/]\n  debian-security:\n    <<: *deb\n    hosts: [security.lan]\n",
			"debian deb [http://127.0.0.1:1/debian/] [] [] 1m0s; debian-security deb [http://127.0.0.1:1/debian/] [security.lan] [] 1m0s"},
		{"local keys win, before or after <<", "x-d: &d {type: rpm, mirrors: [http://a/], metadata_ttl: 5m, hosts: [h.lan]}\nrepos:\n  r:\n    hosts: [r.lan]\n    <<: *d\n    metadata_ttl: 2m\n",
			"r rpm [http://a/] [r.lan] [] 2m0s"},
		{"earlier merged mapping wins", "x-a: &a {type: deb, metadata_ttl: 3m}\nx-b: &b {type: rpm, mirrors: [http://b/], metadata_ttl: 9m}\nrepos:\n  r: {<<: [*a, *b], suites: [bookworm]}\n",
			"r deb [http://b/] [] [bookworm] 3m0s"},
		{"merge of a merge", "x-base: &base {type: deb, mirrors: [http://a/]}\nx-sec: &sec {<<: *base, suites: [bookworm-security]}\nrepos:\n  r: {<<: *sec, mirrors: [http://b/]}\n",
			"r deb [http://b/] [] [bookworm-security] 1m0s"},
		{"inline merged mapping", "repos:\n  r: {<<: {type: deb, mirrors: [http://a/]}}\n",
			"r deb [http://a/] [] [] 1m0s"},
		{"merged repos", "x-more: &more {b: {type: rpm, mirrors: [http://b/]}}\nrepos:\n  <<: *more\n  a: {type: deb, mirrors: [http://a/]}\n",
			"a deb [http://a/] [] [] 1m0s; b rpm [http://b/] [] [] 1m0s"},
		{"alias as value", "x-mirrors: &m [http://a/, http://b/]\nx-ttl: &ttl 5m\nrepos:\n  d: {type: deb, mirrors: *m, metadata_ttl: *ttl}\n  e: {type: deb, mirrors: *m, hosts: [&h e.lan], suites: [*h]}\n",
			"d deb [http://a/ http://b/] [] [] 5m0s; e deb [http://a/ http://b/] [e.lan] [e.lan] 1m0s"},
		{"alias of a whole repo", "repos:\n  d: &x {type: deb, mirrors: [http://a/]}\n  e: *x\n",
			"d deb [http://a/] [] [] 1m0s; e deb [http://a/] [] [] 1m0s"},
		{"x- top-level keys ignored, whatever they hold", "x-anything: [1, {bogus: yes}]\nx-: &u\n  nonsense: true\nrepos: {}\n",
			""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("x.yaml", []byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range c.Repos {
				got = append(got, fmt.Sprintf("%s %s %v %v %v %v", r.Name, r.Type, r.Mirrors, r.Hosts, r.Suites, r.MetadataTTL))
			}
			if g := strings.Join(got, "; "); g != tc.want {
				t.Errorf("repos:\n got %s\nwant %s", g, tc.want)
			}
		})
	}
}

// TestParseMergeSettings: merge keys work in every mapping, not only repos.
func TestParseMergeSettings(t *testing.T) {
	c, err := Parse("x.yaml", []byte(`x-up: &up {connect_timeout: 5s, idle_timeout: 2m}
x-top: &top {listen: ":9090", eviction: lru, metadata_ttl: 7m}
<<: *top
eviction: lfuda
upstream:
  <<: *up
  idle_timeout: 3m
`))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Listen merged", c.Listen, ":9090"},
		{"Eviction written wins", c.Eviction, EvictLFUDA},
		{"MetadataTTL merged", c.MetadataTTL, 7 * time.Minute},
		{"ConnectTimeout merged", c.Upstream.ConnectTimeout, 5 * time.Second},
		{"IdleTimeout written wins", c.Upstream.IdleTimeout, 3 * time.Minute},
		{"HeaderTimeout default", c.Upstream.HeaderTimeout, Default().Upstream.HeaderTimeout},
	}
	for _, tc := range checks {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

// TestAliasBombBounded: aliases that multiply (a billion laughs) are
// refused with one error, in little memory, not walked.
func TestAliasBombBounded(t *testing.T) {
	// nest returns ten levels of anchors, each naming the previous ten
	// times: the last names 10^9 copies of first; use renders a use of name.
	nest := func(first string, use func(name string) string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "x-l0: &l0 %s\n", first)
		for i := 1; i < 10; i++ {
			fmt.Fprintf(&b, "x-l%d: &l%d %s\n", i, i, use(fmt.Sprintf("l%d", i-1)))
		}
		return b.String()
	}
	times10 := func(s string) string { return strings.TrimSuffix(strings.Repeat(s+", ", 10), ", ") }
	var wide strings.Builder // each of 2000 repos aliases a list of 2000 bad mirrors
	wide.WriteString("x-m: &m [" + times10(times10(times10("ftp://a/"))) + ", " + times10(times10(times10("ftp://b/"))) + "]\nrepos:\n")
	for i := range 2000 {
		fmt.Fprintf(&wide, "  r%d: {type: deb, mirrors: *m}\n", i)
	}
	tests := []struct {
		name, yaml string
		want       string // part of the first error's message
	}{
		{"merges of merges", nest("{type: deb, mirrors: [http://a/]}", func(n string) string { return "{<<: [" + times10("*"+n) + "]}" }) + "repos: {r: {<<: *l9}}\n",
			"aliases expand to more than 50000 nodes"},
		// The walk stops at the mirror, which must be a string: nothing expands.
		{"lists of lists as mirrors", nest("[http://a/]", func(n string) string { return "[" + times10("*"+n) + "]" }) + "repos: {r: {type: deb, mirrors: *l9}}\n",
			"mirror must be a string, got a list"},
		{"one long list aliased by many repos", wide.String(), "aliases expand to more than 50000 nodes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := Parse("x.yaml", []byte(tc.yaml))
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
				t.Errorf("Parse allocated %d MiB", alloc>>20)
			}
			if e := findError(t, err, "x.yaml:"); !strings.Contains(e.Msg, tc.want) {
				t.Errorf("first error %v does not say %q", e, tc.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	const repoOK = "type: deb, mirrors: [http://deb.mirror.lan/debian/]"
	tests := []struct {
		name, yaml string
		want       string // the start of the first error: FILE:LINE:COL: MSG
		fix        string // part of its fix
	}{
		{"unknown top key", "listen: :80\nmetadata_tll: 1m\n", `x.yaml:2:1: unknown key "metadata_tll" in the configuration`, "did you mean metadata_ttl?"},
		{"unknown repo key", "repos:\n  d:\n    type: deb\n    mirors: [http://a/]\n", `x.yaml:4:5: unknown key "mirors" in repo d`, "did you mean mirrors?"},
		{"unknown upstream key, nothing near", "upstream:\n  zzzzzzzzzz: 1\n", `x.yaml:2:3: unknown key "zzzzzzzzzz" in upstream`, "known keys are connect_timeout"},
		{"repos not a mapping", "repos: [debian]\n", "x.yaml:1:8: repos must be a mapping, got a list", "key: value"},
		{"mirrors not a list", "repos:\n  d: {type: deb, mirrors: http://a/}\n", `x.yaml:2:27: mirrors must be a list, got the string "http://a/"`, "mirrors: [http://mirror.example/path/]"},
		{"number for a string", "admin_token: 12345\n", "x.yaml:1:14: admin_token must be a string, got the number 12345", `admin_token: "12345"`},
		{"breaker_failures not a number", "upstream:\n  breaker_failures: three\n", `x.yaml:2:21: breaker_failures: bad count the string "three"`, "whole number"},
		{"mirror not absolute", "repos:\n  d: {type: deb, mirrors: [deb.mirror.lan/debian]}\n", `x.yaml:2:28: repo d: mirror "deb.mirror.lan/debian": not an absolute URL`, "write the full URL"},
		{"mirror not http", "repos:\n  d: {type: deb, mirrors: [ftp://ftp.mirror.lan/debian/]}\n", `x.yaml:2:28: repo d: mirror "ftp://ftp.mirror.lan/debian/": scheme is not http or https`, "http://"},
		{"mirror with query", "repos:\n  d: {type: deb, mirrors: ['http://a/debian?x=1']}\n", "x.yaml:2:28: repo d: mirror \"http://a/debian?x=1\": has a query or fragment", "remove the ?query"},
		{"mirror with userinfo", "repos:\n  d: {type: deb, mirrors: ['http://u:p@a/debian/']}\n", "x.yaml:2:28: repo d: mirror \"http://u:p@a/debian/\": has a user name or password", "remove user:password@"},
		{"mirror repeated", "repos:\n  d:\n    type: deb\n    mirrors:\n      - http://a/debian\n      - http://a/debian/\n", "x.yaml:6:9: repo d: mirror http://a/debian/ is listed twice (first at line 5)", "remove the repeated mirror"},
		{"no mirrors key", "repos:\n  d: {type: deb}\n", "x.yaml:2:3: repo d has no mirrors", "add mirrors:"},
		{"empty mirrors", "repos:\n  d: {type: deb, mirrors: []}\n", "x.yaml:2:27: repo d has no mirrors", "at least one"},
		{"duplicate repo", "repos:\n  d: {" + repoOK + "}\n  e: {" + repoOK + "}\n  d: {" + repoOK + "}\n", `x.yaml:4:3: duplicate key "d" in repos (first at line 2)`, "keep one"},
		{"duplicate top key", "listen: :80\nlisten: :81\n", `x.yaml:2:1: duplicate key "listen" in the configuration (first at line 1)`, "keep one"},
		{"host in two repos", "repos:\n  d: {" + repoOK + ", hosts: [m.lan]}\n  e: {" + repoOK + ", hosts: [M.lan]}\n", `x.yaml:3:68: host "m.lan" is already used by repo d at line 2`, "one repo"},
		{"host with port", "repos:\n  d: {" + repoOK + ", hosts: ['m.lan:8080']}\n", `x.yaml:2:68: repo d: host "m.lan:8080" has a port`, "without a port"},
		{"type missing", "repos:\n  d: {mirrors: [http://a/]}\n", "x.yaml:2:3: repo d has no type", "type: rpm"},
		{"type unknown", "repos:\n  d: {type: apt, mirrors: [http://a/]}\n", `x.yaml:2:13: repo d: unknown type "apt"`, "rpm (yum/dnf) or deb (apt)"},
		{"suites on rpm", "repos:\n  f: {type: rpm, mirrors: [http://a/], suites: [f40]}\n", "x.yaml:2:40: repo f: suites on an rpm repo", "only deb repos"},
		{"bad duration", "metadata_ttl: 5 minutes\n", `x.yaml:1:15: metadata_ttl: bad duration the string "5 minutes"`, "90s, 5m"},
		{"duration without unit", "upstream:\n  idle_timeout: 60\n", "x.yaml:2:17: idle_timeout: bad duration the number 60", "90s"},
		{"bad stall_timeout", "stall_timeout: -1m\n", `x.yaml:1:16: stall_timeout: bad duration the string "-1m"`, "Go duration"},
		{"repo bad duration", "repos:\n  d: {" + repoOK + ", metadata_ttl: -1s}\n", `x.yaml:2:74: metadata_ttl: bad duration the string "-1s"`, "Go duration"},
		{"bad size", "max_size: 50 gigs\n", `x.yaml:1:11: max_size: bad size the string "50 gigs"`, "50GiB"},
		{"size with a bare unit letter", "max_size: 200G\n", `x.yaml:1:11: max_size: bad size the string "200G"`, "write 200GB (powers of 1000) or 200GiB (powers of 1024)"},
		{"size with Gi", "memory_cache: 1Gi\n", `x.yaml:1:15: memory_cache: bad size the string "1Gi"`, "write 1GB (powers of 1000) or 1GiB"},
		{"duration in days", "metadata_ttl: 1d\n", `x.yaml:1:15: metadata_ttl: bad duration the string "1d"`, "write 24h"},
		{"duration in half days", "upstream:\n  idle_timeout: 0.5d\n", `x.yaml:2:17: idle_timeout: bad duration the string "0.5d"`, "write 12h"},
		{"bad min_speed", "upstream: {min_speed: fast}\n", `x.yaml:1:23: min_speed: bad size the string "fast"`, "500MB"},
		{"invalid repo name", "repos:\n  Debian_12: {" + repoOK + "}\n", `x.yaml:2:3: invalid repo name "Debian_12"`, "lower-case"},
		{"reserved repo name", "repos:\n  metrics: {" + repoOK + "}\n", `x.yaml:2:3: repo name "metrics" is reserved`, "another name"},
		{"repo name with slash", "repos:\n  'a/b': {" + repoOK + "}\n", `x.yaml:2:3: invalid repo name "a/b"`, "lower-case"},
		{"listen without port", "listen: localhost\n", `x.yaml:1:9: listen "localhost": not host:port`, `":8080"`},
		{"listen bad port", "listen: ':http-alt'\n", `x.yaml:1:9: listen ":http-alt": port "http-alt" is not a number`, "host:port"},
		{"listen as number", "listen: 8080\n", "x.yaml:1:9: listen must be a string, got the number 8080", `listen: "8080"`},
		{"eviction unknown", "eviction: lfu\n", `x.yaml:1:11: unknown eviction policy "lfu"`, "lfuda"},
		{"not a mapping", "- a\n- b\n", "x.yaml:1:1: the configuration must be a mapping, got a list", "key: value"},
		{"yaml syntax", "listen: :80\n  bad: indent\n", "x.yaml:2:1: invalid YAML: mapping values are not allowed in this context", "indentation"},
		{"alias to no anchor", "x-d: &deb {type: deb}\nrepos:\n  d: {<<: *debian, mirrors: [*deb, *de]}\n", "x.yaml:3:11: invalid YAML: alias *debian names no anchor", "&debian"},
		{"alias to no anchor, a longer name first", "x-ab: &ab 1\nrepos:\n  d: [*ab, *a]\n", "x.yaml:3:12: invalid YAML: alias *a names no anchor", "&a"},
		{"merge of a string", "repos:\n  d:\n    <<: text\n", `x.yaml:3:9: "<<" in repo d must merge a mapping or a list of mappings, got the string "text"`, "<<: *name"},
		{"merge of an alias to a string: at the alias", "x-s: &s text\nrepos:\n  d: {<<: *s}\n", `x.yaml:3:11: "<<" in repo d must merge a mapping or a list of mappings, got the string "text"`, "<<: [*a, *b]"},
		{"merge list item not a mapping", "x-d: &d {type: deb}\nx-l: &l [http://a/]\nrepos:\n  d: {<<: [*d, *l]}\n", `x.yaml:4:16: "<<" in repo d must merge a mapping, got a list`, "<<: *name"},
		{"merge of itself", "x-d: &d {<<: *d, type: deb}\nrepos:\n  d: {<<: *d, mirrors: [http://a/]}\n", `x.yaml:1:14: "<<" in repo d merges a mapping that contains this merge`, "cannot merge itself"},
		{"two merge keys", "x-d: &d {type: deb}\nrepos:\n  d:\n    <<: *d\n    mirrors: [http://a/]\n    <<: *d\n", `x.yaml:6:5: duplicate key "<<" in repo d (first at line 4)`, "<<: [*a, *b]"},
		{"merged unknown key: at its own line", "x-d: &d\n  type: deb\n  mirors: [http://a/]\nrepos:\n  d: {<<: *d, mirrors: [http://a/]}\n", `x.yaml:3:3: unknown key "mirors" in repo d`, "did you mean mirrors?"},
		{"merged bad value: at its own line", "x-d: &d\n  type: deb\n  metadata_ttl: 1d\nrepos:\n  d: {<<: *d, mirrors: [http://a/]}\n", `x.yaml:3:17: metadata_ttl: bad duration the string "1d"`, "write 24h"},
		{"duplicate key in a merged mapping", "x-d: &d {type: deb, type: rpm}\nrepos:\n  d: {<<: *d, mirrors: [http://a/]}\n", `x.yaml:1:21: duplicate key "type" in repo d (first at line 1)`, "keep one"},
		{"merged repo without mirrors", "x-d: &d {type: deb}\nrepos:\n  d: {<<: *d}\n", "x.yaml:3:3: repo d has no mirrors", "add mirrors:"},
		{"quoted << is an ordinary key", "x-d: &d {type: deb}\nrepos:\n  d: {'<<': *d, mirrors: [http://a/]}\n", `x.yaml:3:7: unknown key "<<" in repo d`, "known keys are"},
		{"x- key in a repo", "repos:\n  d: {" + repoOK + ", x-note: hi}\n", `x.yaml:2:60: unknown key "x-note" in repo d`, "known keys are"},
		{"x- key in upstream", "upstream: {x-defaults: {idle_timeout: 1m}}\n", `x.yaml:1:12: unknown key "x-defaults" in upstream`, "known keys are"},
		{"duplicate x- key", "x-a: 1\nx-a: 2\n", `x.yaml:2:1: duplicate key "x-a" in the configuration (first at line 1)`, "keep one"},
		{"X- is not x-", "X-a: 1\n", `x.yaml:1:1: unknown key "X-a" in the configuration`, "known keys are"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			e := findError(t, err, tc.want)
			if !strings.Contains(e.Fix, tc.fix) {
				t.Errorf("fix %q does not mention %q", e.Fix, tc.fix)
			}
		})
	}
}

// findError returns the *Error among Parse's joined errors that starts with want.
func findError(t *testing.T, err error, want string) *Error {
	t.Helper()
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, err := range errs {
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("error %v is not an *Error", err)
		}
		if strings.HasPrefix(e.Error(), want) {
			return e
		}
	}
	t.Fatalf("no error starts with %s; got:\n%v", want, err)
	return nil
}

func TestParseReportsAllErrors(t *testing.T) {
	_, err := Parse("x.yaml", []byte("eviction: lfu\nrepos:\n  d: {type: deb}\n  e: {mirrors: [http://a/]}\n"))
	got := strings.Split(err.Error(), "\n")
	want := []string{"x.yaml:1:11: unknown eviction", "x.yaml:3:3: repo d has no mirrors", "x.yaml:4:3: repo e has no type"}
	if len(got) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(got), len(want), err)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("error %d = %s, want %s…", i, got[i], want[i])
		}
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{File: "a.yaml", Line: 3, Column: 5, Msg: "bad", Fix: "fix it"}, "a.yaml:3:5: bad (fix: fix it)"},
		{Error{File: "a.yaml", Msg: "bad"}, "a.yaml: bad"},
		{Error{Line: 1, Column: 1, Msg: "bad"}, "<config>:1:1: bad"},
	}
	for _, tc := range tests {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"4096", 4096, true},
		{"10B", 10, true},
		{"10KB", 10_000, true},
		{"10kb", 10_000, true},
		{"50GiB", 50 << 30, true},
		{"1.5 TB", 1_500_000_000_000, true},
		{"2TiB", 2 << 40, true},
		{"3MiB", 3 << 20, true},
		{"7MB", 7_000_000, true},
		{"", 0, false},
		{"GB", 0, false},
		{"-1GB", 0, false},
		{"10 gigs", 0, false},
		{"1..5GB", 0, false},
		{"9999999TiB", 0, false},
		{"99999999999999999999", 0, false},
	}
	for _, tc := range tests {
		got, err := ParseSize(tc.in)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrBadSize) {
			t.Errorf("ParseSize(%q) error %v does not wrap ErrBadSize", tc.in, err)
		}
	}
}

func TestRepoLookup(t *testing.T) {
	c, err := Load("testdata/lazymirror.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host, name string // name "" = no repo
	}{
		{"debian-mirror.lan", "debian"},
		{"Debian-Mirror.LAN:8080", "debian"},
		{"debian-mirror.lan.", "debian"},
		{"fedora", ""},
		{"127.0.0.1:8080", ""},
		{"[::1]:8080", ""},
	}
	for _, tc := range tests {
		r, ok := c.RepoForHost(tc.host)
		if ok != (tc.name != "") || (ok && r.Name != tc.name) {
			t.Errorf("RepoForHost(%q) = %v, %v; want %q", tc.host, r, ok, tc.name)
		}
	}
	for _, name := range []string{"debian", "fedora"} {
		if r, ok := c.Repo(name); !ok || r.Name != name {
			t.Errorf("Repo(%q) = %v, %v", name, r, ok)
		}
	}
	if r, ok := c.Repo("ubuntu"); ok {
		t.Errorf("Repo(ubuntu) = %v", r)
	}
}

func TestDefaultDataDir(t *testing.T) {
	tests := []struct {
		env  map[string]string
		euid int
		want string
	}{
		{map[string]string{"STATE_DIRECTORY": "/var/lib/lazymirror:/var/lib/other", "HOME": "/home/u"}, 1000, "/var/lib/lazymirror"},
		{map[string]string{"HOME": "/root"}, 0, "/var/cache/lazymirror"},
		{map[string]string{"XDG_CACHE_HOME": "/x/cache", "HOME": "/home/u"}, 1000, "/x/cache/lazymirror"},
		{map[string]string{"HOME": "/home/u"}, 1000, "/home/u/.cache/lazymirror"},
		{map[string]string{}, 1000, "lazymirror-cache"},
	}
	for _, tc := range tests {
		got := DefaultDataDir(func(k string) string { return tc.env[k] }, tc.euid)
		if got != tc.want {
			t.Errorf("DefaultDataDir(%v, %d) = %q, want %q", tc.env, tc.euid, got, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	data, err := os.ReadFile("testdata/lazymirror.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte("repos:\n  d: &x {type: deb, mirrors: [http://a/]}\n  e: *x\n"))
	f.Add([]byte("listen: :80\nlisten: :81\nrepos: {a: {hosts: [x]}, b: {hosts: [x]}}\n"))
	f.Add([]byte("x-d: &d {<<: *d, type: deb}\nrepos:\n  d: {<<: [*d, {mirrors: [http://a/]}], hosts: [d.lan]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("f.yaml", data)
		if err != nil {
			return
		}
		for _, r := range c.Repos {
			if !repoName.MatchString(r.Name) || len(r.Mirrors) == 0 {
				t.Fatalf("accepted invalid repo %+v", r)
			}
		}
	})
}

func BenchmarkRepoForHost(b *testing.B) {
	c, err := Load("testdata/lazymirror.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.RepoForHost("Debian-Mirror.lan:8080"); !ok {
			b.Fatal("no repo")
		}
	}
}
