package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// ClientLines returns what to put on other machines so that their apt and
// dnf use the lazymirror at base (e.g. "http://HOST:8080"): the discovered
// sources rewritten to point at base/<repo>/<path>. One-line apt entries
// stay one-line (options kept), deb822 stanzas stay deb822 (Signed-By and
// other fields kept, "Types: deb" only), and each .repo section keeps its
// keys (name, gpgcheck, gpgkey, repo_gpgcheck, ...) with baseurl rewritten
// (dnf's own $releasever, $basearch... kept where they stood, so clients of
// another release or architecture get theirs) and mirrorlist/metalink
// dropped. Each block is preceded by a comment naming the file it belongs
// in. The result is "" when d has no sources.
func ClientLines(d *Discovered, base string) string {
	base = strings.TrimSuffix(base, "/")
	var oneLine, deb822, yum strings.Builder
	for _, s := range d.Apt {
		uris := clientURLs(base, s.URIs, false)
		if !s.Deb822 {
			for _, u := range uris {
				oneLine.WriteString("deb ")
				if len(s.Options) > 0 {
					opts := make([]string, len(s.Options))
					for i, o := range s.Options {
						opts[i] = o.Key + "=" + o.Value
					}
					fmt.Fprintf(&oneLine, "[%s] ", strings.Join(opts, " "))
				}
				fmt.Fprintf(&oneLine, "%s %s\n", u, strings.Join(append(s.Suites[:len(s.Suites):len(s.Suites)], s.Components...), " "))
			}
			continue
		}
		if deb822.Len() > 0 {
			deb822.WriteString("\n")
		}
		writeField(&deb822, "Types", "deb")
		writeField(&deb822, "URIs", strings.Join(uris, " "))
		writeField(&deb822, "Suites", strings.Join(s.Suites, " "))
		if len(s.Components) > 0 {
			writeField(&deb822, "Components", strings.Join(s.Components, " "))
		}
		for _, f := range s.Options {
			writeField(&deb822, f.Key, f.Value)
		}
	}
	for _, s := range d.Yum {
		if yum.Len() > 0 {
			yum.WriteString("\n")
		}
		fmt.Fprintf(&yum, "[%s]\n", s.ID)
		opts := s.Options
		if i := slices.IndexFunc(opts, isName); i >= 0 { // name= first, as distributions write it
			writeKey(&yum, opts[i])
			opts = slices.Delete(slices.Clone(opts), i, i+1)
		}
		fmt.Fprintf(&yum, "baseurl=%s\n", strings.Join(clientURLs(base, s.BaseURLs, true), "\n  "))
		for _, f := range opts {
			writeKey(&yum, f)
		}
	}
	var out strings.Builder
	for _, block := range []struct{ head, body string }{
		{"# apt, e.g. /etc/apt/sources.list.d/lazymirror.list:", oneLine.String()},
		{"# apt, e.g. /etc/apt/sources.list.d/lazymirror.sources:", deb822.String()},
		{"# dnf, e.g. /etc/yum.repos.d/lazymirror.repo:", yum.String()},
	} {
		if block.body == "" {
			continue
		}
		if out.Len() > 0 {
			out.WriteString("\n")
		}
		out.WriteString(block.head + "\n" + block.body)
	}
	return out.String()
}

// clientURLs returns base/<repo>/<path> for each mapped URL, without
// repeats. apt URIs are written without a trailing slash, as apt's own
// sources are; dnf baseurls keep theirs.
func clientURLs(base string, ms []Mapped, slash bool) []string {
	var out []string
	for _, m := range ms {
		u := base + "/" + m.Repo + "/" + m.clientPath()
		if !slash {
			u = strings.TrimSuffix(u, "/")
		}
		if !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out
}

// clientPath returns m.Path as clients should write it: the same trailing
// segments of m.Template, so dnf's own variables stay where they stood; or
// m.Path when there is no template or it does not line up. dnf's variables
// never hold a "/", so the template has as many segments as the URL.
func (m Mapped) clientPath() string {
	if m.Template == "" || m.Path == "" {
		return m.Path
	}
	t, err := url.Parse(m.Template)
	if err != nil {
		return m.Path
	}
	tp := t.Path
	if !strings.HasSuffix(tp, "/") {
		tp += "/"
	}
	want := strings.Split(m.Path, "/")
	have := strings.Split(tp, "/")
	if len(have) < len(want) {
		return m.Path
	}
	have = have[len(have)-len(want):]
	for i := range want {
		if !strings.Contains(have[i], "$") && have[i] != want[i] {
			return m.Path
		}
	}
	return strings.Join(have, "/")
}

// writeKey writes one .repo key; continuation lines are indented.
func writeKey(b *strings.Builder, f Field) {
	fmt.Fprintf(b, "%s=%s\n", f.Key, strings.ReplaceAll(f.Value, "\n", "\n  "))
}

// isName reports whether f is a .repo section's name= key, which
// ClientLines writes before baseurl=.
func isName(f Field) bool { return strings.EqualFold(f.Key, "name") }

// writeField writes one deb822 field; a multi-line value (an inline
// Signed-By key) keeps its continuation lines.
func writeField(b *strings.Builder, key, value string) {
	b.WriteString(key + ":")
	if value != "" && !strings.HasPrefix(value, "\n") {
		b.WriteString(" ")
	}
	b.WriteString(value + "\n")
}
