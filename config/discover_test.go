package config

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// testVars pins the architecture so results do not depend on the test machine.
var testVars = map[string]string{"basearch": "x86_64", "arch": "x86_64"}

func TestDiscover(t *testing.T) {
	type repo struct {
		name    string
		typ     Type
		mirrors []string
		suites  []string
	}
	tests := []struct {
		host  string
		repos []repo
		notes []string // one substring per note, in order
	}{
		{"debian-bookworm", []repo{
			{"debian", Deb, []string{"http://deb.mirror.lan/debian/"}, []string{"bookworm", "bookworm-updates"}},
			{"debian-download.docker.com", Deb, []string{"https://download.docker.com/linux/debian/"}, []string{"bookworm"}},
			{"debian-security", Deb, []string{"http://security.mirror.lan/debian-security/"}, []string{"bookworm-security"}},
		}, []string{
			"skipped /etc/apt/sources.list:3: a cdrom: source",
			"ignored /etc/apt/sources.list.d/bad name.list",
		}},
		{"debian-deb822", []repo{
			{"debian", Deb, []string{"http://deb.mirror.lan/debian/"}, []string{"bookworm", "bookworm-updates"}},
			{"debian-security", Deb, []string{"http://deb.mirror.lan/debian-security/"}, []string{"bookworm-security"}},
			{"node_20.x", Deb, []string{"https://deb.nodesource.com/node_20.x/"}, []string{"nodistro"}},
		}, nil},
		{"ubuntu-jammy", []repo{
			{"apt", Deb, []string{"https://packages.example.com/apt/"}, []string{"stable"}},
			{"flat", Deb, []string{"https://repo.example.org/flat/"}, []string{"./"}},
			{"ubuntu", Deb, []string{"http://archive.ubuntu.com/ubuntu/"}, []string{"jammy", "jammy-updates", "jammy-backports"}},
			{"ubuntu-ppa.launchpad.net", Deb, []string{"http://ppa.launchpad.net/deadsnakes/ppa/ubuntu/"}, []string{"jammy"}},
			{"ubuntu-security.ubuntu.com", Deb, []string{"http://security.ubuntu.com/ubuntu/"}, []string{"jammy-security"}},
		}, nil},
		{"fedora-40", []repo{
			{"docker-ce-stable", RPM, []string{"https://download.docker.com/linux/fedora/40/"}, nil},
			{"fedora", RPM, []string{"http://mirror.lan/fedora/linux/", "http://dl.fedoraproject.org/pub/fedora/linux/", "https://mirror.example.net/pub/fedora/linux/"}, nil},
		}, []string{
			"skipped repo updates (/etc/yum.repos.d/fedora-updates.repo:1): only metalink, no baseurl",
			`skipped repo local-media (/etc/yum.repos.d/local.repo:1): baseurl file:///media/fedora/: scheme is not http or https`,
			"skipped repo infra (/etc/yum.repos.d/local.repo:7): baseurl http://mirror.lan/$infra/$basearch/ has an unknown variable",
		}},
		{"centos-stream-9", []repo{
			{"centos-stream", RPM, []string{"http://mirror.stream.centos.org/", "https://mirrors.kernel.org/centos-stream/"}, nil},
			{"epel", RPM, []string{"https://dl.fedoraproject.org/pub/epel/"}, nil},
		}, []string{
			"skipped repo extras-common (/etc/yum.repos.d/centos-addons.repo:1): only metalink, no baseurl",
		}},
		{"rocky-9", []repo{
			{"epel", RPM, []string{"https://dl.fedoraproject.org/pub/epel/"}, nil},
			{"rocky", RPM, []string{"http://dl.rockylinux.org/pub/rocky/"}, nil},
		}, nil},
		{"empty", nil, []string{"no apt or dnf sources with http(s) URLs found"}},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			d, err := Discover(filepath.Join("testdata/hosts", tc.host), testVars)
			if err != nil {
				t.Fatal(err)
			}
			var got []repo
			for _, r := range d.Config.Repos {
				var mirrors []string
				for _, m := range r.Mirrors {
					mirrors = append(mirrors, m.String())
				}
				got = append(got, repo{r.Name, r.Type, mirrors, r.Suites})
				if !repoName.MatchString(r.Name) || r.MetadataTTL != d.Config.MetadataTTL {
					t.Errorf("repo %+v is not a valid config repo", r)
				}
			}
			if !slices.EqualFunc(got, tc.repos, func(a, b repo) bool {
				return a.name == b.name && a.typ == b.typ && slices.Equal(a.mirrors, b.mirrors) && slices.Equal(a.suites, b.suites)
			}) {
				t.Errorf("repos:\n got %+v\nwant %+v", got, tc.repos)
			}
			if len(d.Notes) != len(tc.notes) {
				t.Errorf("notes:\n got %q\nwant %q", d.Notes, tc.notes)
			} else {
				for i, n := range d.Notes {
					if !strings.Contains(n, tc.notes[i]) {
						t.Errorf("note %d = %q, want it to contain %q", i, n, tc.notes[i])
					}
				}
			}
			if d.Config.Listen != ":8080" || d.Config.DataDir == "" || d.Config.Path != "" {
				t.Errorf("config lacks defaults: %+v", d.Config)
			}
			checkGolden(t, filepath.Join("testdata/golden", tc.host+".txt"), ClientLines(d, "http://lazymirror.lan:8080"))
		})
	}
}

func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./config -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("ClientLines differs from %s (go test ./config -update rewrites it):\n%s", path, got)
	}
}

// TestClientLinesReparse checks that the printed lines are themselves valid
// sources: parsed back, they carry the same suites, components, options and
// keys, with URLs under the lazymirror.
func TestClientLinesReparse(t *testing.T) {
	const base = "http://lazymirror.lan:8080"
	for _, host := range []string{"debian-bookworm", "debian-deb822", "ubuntu-jammy", "fedora-40", "centos-stream-9", "rocky-9"} {
		d, err := Discover(filepath.Join("testdata/hosts", host), testVars)
		if err != nil {
			t.Fatal(err)
		}
		var list, deb822, repo []byte
		for _, block := range strings.Split(ClientLines(d, base), "\n# ") {
			head, body, _ := strings.Cut(block, "\n")
			switch {
			case strings.HasSuffix(head, ".list:"):
				list = []byte(body)
			case strings.HasSuffix(head, ".sources:"):
				deb822 = []byte(body)
			case strings.HasSuffix(head, ".repo:"):
				repo = []byte(body)
			}
		}
		apt, notes := parseSourcesList("out.list", list)
		more, notes2 := parseDeb822("out.sources", deb822)
		vars, err := yumVars(filepath.Join("testdata/hosts", host), testVars) // for the $releasever printed
		if err != nil {
			t.Fatal(err)
		}
		yum, notes3 := parseRepoFile("out.repo", repo, vars)
		if n := slices.Concat(notes, notes2, notes3); len(n) > 0 {
			t.Errorf("%s: reparsing ClientLines gave notes %q", host, n)
		}
		apt = append(apt, more...)
		if len(apt) != len(d.Apt) || len(yum) != len(d.Yum) {
			t.Fatalf("%s: reparsed %d apt and %d yum sources, want %d and %d", host, len(apt), len(yum), len(d.Apt), len(d.Yum))
		}
		for i, orig := range slices.Concat(filterApt(d.Apt, false), filterApt(d.Apt, true)) {
			a := apt[i]
			if !slices.Equal(a.Suites, orig.Suites) || !slices.Equal(a.Components, orig.Components) || !slices.Equal(a.Options, orig.Options) {
				t.Errorf("%s: apt entry %d reparsed as %+v, want %+v", host, i, a, orig)
			}
			for _, u := range a.URIs {
				if !strings.HasPrefix(u.URL, base+"/") {
					t.Errorf("%s: URI %s is not under %s", host, u.URL, base)
				}
			}
		}
		for i, y := range yum {
			if y.ID != d.Yum[i].ID || !slices.Equal(y.Options, d.Yum[i].Options) || !strings.HasPrefix(y.BaseURLs[0].URL, base+"/") {
				t.Errorf("%s: repo %d reparsed as %+v, want %+v", host, i, y, d.Yum[i])
			}
		}
	}
}

// filterApt returns the sources whose format is deb822 (or not).
func filterApt(srcs []AptSource, deb822 bool) []AptSource {
	var out []AptSource
	for _, s := range srcs {
		if s.Deb822 == deb822 {
			out = append(out, s)
		}
	}
	return out
}

func TestDiscoverUnreadable(t *testing.T) {
	root := t.TempDir()
	// a directory where apt expects a file cannot be read
	if err := os.MkdirAll(filepath.Join(root, "etc/apt/sources.list"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Discover(root, nil); err == nil || !strings.Contains(err.Error(), "read /etc/apt/sources.list") {
		t.Fatalf("Discover = %v, want a read error", err)
	}
}

func TestYumVars(t *testing.T) {
	vars, err := yumVars("testdata/hosts/centos-stream-9", map[string]string{"basearch": "aarch64"})
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"releasever": "9", "releasever_major": "9", "stream": "9-stream", "basearch": "aarch64"} {
		if vars[k] != want {
			t.Errorf("$%s = %q, want %q", k, vars[k], want)
		}
	}
}

func TestDistroTree(t *testing.T) {
	tests := []struct{ path, name, root string }{
		{"/pub/fedora/linux/releases/40/Everything/x86_64/os/", "fedora", "/pub/fedora/linux/"},
		{"/fedora/linux/updates/40/Everything/x86_64/", "fedora", "/fedora/linux/"},
		{"/pub/epel/9/Everything/x86_64/", "epel", "/pub/epel/"},
		{"/9-stream/BaseOS/x86_64/os/", "centos-stream", "/"},
		{"/centos-stream/9-stream/AppStream/x86_64/os/", "centos-stream", "/centos-stream/"},
		{"/pub/rocky/9/BaseOS/x86_64/os/", "rocky", "/pub/rocky/"},
		{"/almalinux/9/BaseOS/x86_64/os/", "almalinux", "/almalinux/"},
		{"/linux/fedora/40/x86_64/stable/", "", ""},
		{"/epel/", "", ""},
		{"/", "", ""},
	}
	for _, tc := range tests {
		name, root, ok := distroTree(tc.path)
		if name != tc.name || root != tc.root || ok != (tc.name != "") {
			t.Errorf("distroTree(%q) = %q, %q, %v; want %q, %q", tc.path, name, root, ok, tc.name, tc.root)
		}
	}
}

func TestParseSourcesList(t *testing.T) {
	tests := []struct {
		line  string
		uri   string // "" = skipped
		opts  []Field
		suite string
		comps []string
	}{
		{"deb http://deb.mirror.lan/debian bookworm main", "http://deb.mirror.lan/debian/", nil, "bookworm", []string{"main"}},
		{"deb [ arch=amd64,arm64 signed-by=/k.gpg ] https://a.example/x jammy main contrib # comment", "https://a.example/x/", []Field{{"arch", "amd64,arm64"}, {"signed-by", "/k.gpg"}}, "jammy", []string{"main", "contrib"}},
		{"deb [arch+=i386] http://a/ s c", "http://a/", []Field{{"arch+", "i386"}}, "s", []string{"c"}},
		{"deb http://a/repo ./", "http://a/repo/", nil, "./", nil},
		{"  # deb http://a/ s c", "", nil, "", nil},
		{"deb-src http://a/ s c", "", nil, "", nil},
		{"deb http://a/ s", "", nil, "", nil},               // components missing
		{"deb http://a/ ./ main", "", nil, "", nil},         // flat with components
		{"deb [arch=amd64 http://a/ s c", "", nil, "", nil}, // unclosed options
		{"deb file:/srv/repo s c", "", nil, "", nil},
		{"deb mirror+http://a/list s c", "", nil, "", nil},
		{"rpm http://a/ s c", "", nil, "", nil},
	}
	for _, tc := range tests {
		srcs, _ := parseSourcesList("l", []byte(tc.line+"\n"))
		if tc.uri == "" {
			if len(srcs) != 0 {
				t.Errorf("%q: got %+v, want it skipped", tc.line, srcs)
			}
			continue
		}
		if len(srcs) != 1 {
			t.Errorf("%q: got %d sources", tc.line, len(srcs))
			continue
		}
		s := srcs[0]
		if s.URIs[0].URL != tc.uri || !slices.Equal(s.Options, tc.opts) || s.Suites[0] != tc.suite || !slices.Equal(s.Components, tc.comps) {
			t.Errorf("%q: got %+v", tc.line, s)
		}
	}
}

func TestParseDeb822SignedBy(t *testing.T) {
	data, err := os.ReadFile("testdata/hosts/debian-deb822/etc/apt/sources.list.d/debian.sources")
	if err != nil {
		t.Fatal(err)
	}
	srcs, notes := parseDeb822("debian.sources", data)
	if len(srcs) != 2 || len(notes) != 0 {
		t.Fatalf("got %d sources, notes %q; want 2 sources (deb-src only and Enabled: no ignored)", len(srcs), notes)
	}
	key := srcs[1].Options[0]
	if key.Key != "Signed-By" || !strings.HasPrefix(key.Value, "\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n") ||
		!strings.HasSuffix(key.Value, "\n -----END PGP PUBLIC KEY BLOCK-----") {
		t.Errorf("inline key not kept whole: %.80q…", key.Value)
	}
	if !slices.Equal(srcs[1].Components, []string{"main", "contrib"}) || srcs[1].Line != 8 {
		t.Errorf("security stanza = %+v", srcs[1])
	}
}

func TestParseRepoFileBaseURLs(t *testing.T) {
	data := []byte("[r]\nname=R\nbaseurl=http://a/$basearch/os/,http://b/${basearch}/os/\n  http://c/x86_64/os\n\thttp://a/x86_64/os/?q=1\nmetalink=http://m/\ngpgcheck=1\n\n[off]\nbaseurl=http://d/\nenabled=false\n")
	srcs, notes := parseRepoFile("r.repo", data, testVars)
	if len(srcs) != 1 {
		t.Fatalf("got %+v", srcs)
	}
	var urls []string
	for _, m := range srcs[0].BaseURLs {
		urls = append(urls, m.URL)
	}
	if want := []string{"http://a/x86_64/os/", "http://b/x86_64/os/", "http://c/x86_64/os/"}; !slices.Equal(urls, want) {
		t.Errorf("baseurls = %q, want %q", urls, want)
	}
	if want := []Field{{"name", "R"}, {"gpgcheck", "1"}}; !slices.Equal(srcs[0].Options, want) {
		t.Errorf("options = %q, want %q", srcs[0].Options, want)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "has a query") {
		t.Errorf("notes = %q, want one about the query", notes)
	}
}

// fixtures returns the files under testdata/hosts whose names end in ext.
func fixtures(f *testing.F, ext string) [][]byte {
	var out [][]byte
	err := filepath.WalkDir("testdata/hosts", func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() && strings.HasSuffix(p, ext) {
			data, err := os.ReadFile(p)
			out = append(out, data)
			return err
		}
		return err
	})
	if err != nil || len(out) == 0 {
		f.Fatalf("no %s fixtures: %v", ext, err)
	}
	return out
}

// checkURIs fails unless every mapped URL is a valid mirror URL.
func checkURIs(t *testing.T, ms []Mapped) {
	if len(ms) == 0 {
		t.Fatal("source without URLs")
	}
	for _, m := range ms {
		if u, err := ParseMirror(m.URL); err != nil || u.String() != m.URL {
			t.Fatalf("URL %q not normalised: %v", m.URL, err)
		}
	}
}

func FuzzSourcesList(f *testing.F) {
	for _, d := range fixtures(f, "sources.list") {
		f.Add(d)
	}
	for _, d := range fixtures(f, ".list") {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		srcs, _ := parseSourcesList("f", data)
		for _, s := range srcs {
			checkURIs(t, s.URIs)
		}
	})
}

func FuzzDeb822(f *testing.F) {
	for _, d := range fixtures(f, ".sources") {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		srcs, _ := parseDeb822("f", data)
		for _, s := range srcs {
			checkURIs(t, s.URIs)
			if len(s.Suites) == 0 {
				t.Fatal("source without suites")
			}
		}
	})
}

func FuzzRepoFile(f *testing.F) {
	for _, d := range fixtures(f, ".repo") {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		srcs, _ := parseRepoFile("f", data, testVars)
		for _, s := range srcs {
			checkURIs(t, s.BaseURLs)
		}
	})
}

func BenchmarkDiscover(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Discover("testdata/hosts/fedora-40", testVars); err != nil {
			b.Fatal(err)
		}
	}
}
