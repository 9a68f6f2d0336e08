package config

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestParseDeb822Enabled: "Enabled:" is an apt boolean, so every spelling
// apt reads as false disables the stanza (checked against apt 2.6's
// "apt-get update --print-uris"), and a value apt does not know keeps it on.
func TestParseDeb822Enabled(t *testing.T) {
	tests := []struct {
		value   string
		enabled bool
	}{
		{"yes", true}, {"Yes", true}, {"true", true}, {"1", true}, {"on", true}, {"maybe", true},
		{"no", false}, {"No", false}, {"false", false}, {"False", false}, {"0", false}, {"off", false}, {"disable", false}, {"without", false},
	}
	for _, tc := range tests {
		data := fmt.Sprintf("Types: deb\nURIs: http://deb.mirror.lan/debian\nSuites: bookworm\nComponents: main\nEnabled: %s\n", tc.value)
		srcs, notes := parseDeb822("x.sources", []byte(data))
		if got := len(srcs) == 1; got != tc.enabled || len(notes) != 0 {
			t.Errorf("Enabled: %s: got %d sources, notes %q; want enabled=%v", tc.value, len(srcs), notes, tc.enabled)
		}
	}
}

// TestYumVarsReleasever: $releasever is what dnf uses, not always
// os-release's VERSION_ID: on RHEL and its rebuilds (VERSION_ID "9.4") dnf's
// releasever is the major version, which is what EPEL's and Rocky's trees
// are named by.
func TestYumVarsReleasever(t *testing.T) {
	tests := []struct{ host, releasever, major string }{
		{"fedora-40", "40", "40"},
		{"centos-stream-9", "9", "9"},
		{"rocky-9", "9", "9"},
		{"ubuntu-jammy", "22.04", "22"},
	}
	for _, tc := range tests {
		vars, err := yumVars(filepath.Join("testdata/hosts", tc.host), testVars)
		if err != nil {
			t.Fatal(err)
		}
		if vars["releasever"] != tc.releasever || vars["releasever_major"] != tc.major {
			t.Errorf("%s: $releasever %q, $releasever_major %q; want %q, %q", tc.host, vars["releasever"], vars["releasever_major"], tc.releasever, tc.major)
		}
	}
}

// TestClientBaseURLVariables: the printed .repo keeps dnf's variables in
// baseurl where they stood (as the README's client example does), so a
// client of another architecture or release gets its own tree from the
// same mirror instead of this host's.
func TestClientBaseURLVariables(t *testing.T) {
	tests := []struct {
		host string
		want []string // baseurl= lines, in order
	}{
		{"fedora-40", []string{
			"baseurl=http://lm.lan/docker-ce-stable/$basearch/stable/",
			"baseurl=http://lm.lan/docker-ce-stable/source/stable/",
			"baseurl=http://lm.lan/fedora/updates/$releasever/Everything/$basearch/",
			"baseurl=http://lm.lan/fedora/releases/$releasever/Everything/$basearch/os/",
		}},
		{"centos-stream-9", []string{
			"baseurl=http://lm.lan/centos-stream/9-stream/BaseOS/$basearch/os/", // $stream is set by a file of this host
			"baseurl=http://lm.lan/centos-stream/9-stream/AppStream/$basearch/os/",
			"baseurl=http://lm.lan/epel/$releasever/Everything/$basearch/",
		}},
		{"rocky-9", []string{
			"baseurl=http://lm.lan/epel/$releasever/Everything/$basearch/",
			"baseurl=http://lm.lan/rocky/$releasever/BaseOS/$basearch/os/",
			"baseurl=http://lm.lan/rocky/$releasever/AppStream/$basearch/os/",
		}},
	}
	for _, tc := range tests {
		d, err := Discover(filepath.Join("testdata/hosts", tc.host), testVars)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, line := range strings.Split(ClientLines(d, "http://lm.lan"), "\n") {
			if strings.HasPrefix(line, "baseurl=") {
				got = append(got, line)
			}
		}
		if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s: baseurls\n got %q\nwant %q", tc.host, got, tc.want)
		}
	}
}

func TestClientPath(t *testing.T) {
	tests := []struct{ template, path, want string }{
		{"", "x86_64/os/", "x86_64/os/"},
		{"http://a/f/${releasever}/Everything/${basearch}/os", "40/Everything/x86_64/os/", "${releasever}/Everything/${basearch}/os/"},
		{"http://a/f/$releasever/x/", "", ""},
		{"http://a/$basearch/other/", "x86_64/os/", "x86_64/os/"}, // does not line up
	}
	for _, tc := range tests {
		if got := (Mapped{Template: tc.template, Path: tc.path}).clientPath(); got != tc.want {
			t.Errorf("clientPath(%q, %q) = %q, want %q", tc.template, tc.path, got, tc.want)
		}
	}
}

// TestDiscoverRepoNames: discovered repos get names a config file could
// hold: not the reserved "metrics" (the server answers /metrics itself),
// and no ':' from an IPv6 mirror's address.
func TestDiscoverRepoNames(t *testing.T) {
	tests := []struct {
		list  string
		names []string
	}{
		{"deb http://deb.mirror.lan/metrics s main\n", []string{"metrics-deb.mirror.lan"}},
		{"deb http://[fd00::1]/debian s main\ndeb http://[fd00::2]/debian s main\n", []string{"debian", "debian-fd00-2"}},
	}
	for _, tc := range tests {
		d := &Discovered{Config: Default()}
		d.Apt, _ = parseSourcesList("l", []byte(tc.list))
		d.group()
		var names []string
		for _, r := range d.Config.Repos {
			names = append(names, r.Name)
			if !repoName.MatchString(r.Name) || r.Name == "metrics" {
				t.Errorf("%q: repo name %q is not one a config file may hold", tc.list, r.Name)
			}
		}
		if strings.Join(names, " ") != strings.Join(tc.names, " ") {
			t.Errorf("%q: names %q, want %q", tc.list, names, tc.names)
		}
	}
}
