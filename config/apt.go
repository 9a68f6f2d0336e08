package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Field is one key and value of a source entry, kept as written so that
// ClientLines can reproduce it.
type Field struct {
	Key   string
	Value string // deb822 multi-line values keep their "\n " continuation lines
}

// Mapped is one upstream URL of a source entry and where lazymirror serves it.
type Mapped struct {
	URL  string // normalised (see ParseMirror), variables substituted
	Repo string // the repo that serves it
	Path string // the rest of URL below the repo's mirror: "" or ending in "/"
	// Template is a dnf baseurl as clients should write it: dnf's own
	// variables ($releasever, $basearch...) kept, the others substituted;
	// "" when it holds none.
	Template string
}

// AptSource is one enabled "deb" entry of apt's sources: a line of a .list
// file or a stanza of a .sources file.
type AptSource struct {
	File       string   // path under the root, e.g. "/etc/apt/sources.list"
	Line       int      // line where the entry starts
	Deb822     bool     // from a .sources file
	URIs       []Mapped // its http(s) URIs
	Suites     []string
	Components []string
	Options    []Field // one-line: the [options]; deb822: every other field, in order
}

// parseSourcesList parses apt's one-line format: "deb [opt=v ...] URI SUITE
// [COMPONENT...]". Comments run from '#' to the end of the line, as in apt.
// deb-src lines are ignored; lines apt would reject, and URIs lazymirror
// cannot fetch (cdrom:, file:, mirror+...), are skipped with a note.
func parseSourcesList(file string, data []byte) ([]AptSource, []string) {
	var out []AptSource
	var notes []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		words := strings.Fields(text)
		if len(words) == 0 || words[0] == "deb-src" {
			continue
		}
		where := fmt.Sprintf("%s:%d", file, line)
		if words[0] != "deb" {
			notes = append(notes, fmt.Sprintf("skipped %s: unknown type %q", where, words[0]))
			continue
		}
		s := AptSource{File: file, Line: line}
		words = words[1:]
		if len(words) > 0 && strings.HasPrefix(words[0], "[") {
			opts, rest, ok := splitOptions(strings.Join(words, " "))
			if !ok {
				notes = append(notes, fmt.Sprintf("skipped %s: malformed [options]", where))
				continue
			}
			s.Options, words = opts, rest
		}
		if len(words) < 2 {
			notes = append(notes, fmt.Sprintf("skipped %s: want deb URI SUITE [COMPONENT...]", where))
			continue
		}
		u, note := aptURI(words[0], where)
		if note != "" {
			notes = append(notes, note)
			continue
		}
		s.Suites, s.Components = words[1:2], words[2:]
		if note := s.check(where); note != "" {
			notes = append(notes, note)
			continue
		}
		s.URIs = []Mapped{{URL: u}}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		notes = append(notes, fmt.Sprintf("skipped the rest of %s: %v", file, err))
	}
	return out, notes
}

// splitOptions splits "[a=b c=d] rest..." into the options and the words after "]".
func splitOptions(s string) ([]Field, []string, bool) {
	inner, rest, ok := strings.Cut(strings.TrimPrefix(s, "["), "]")
	if !ok {
		return nil, nil, false
	}
	var opts []Field
	for _, w := range strings.Fields(inner) {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return nil, nil, false
		}
		opts = append(opts, Field{Key: k, Value: v})
	}
	return opts, strings.Fields(rest), true
}

// check returns a note when the suite and components are not what apt
// accepts: a suite ending in "/" (a flat repository) takes no components,
// any other suite needs at least one.
func (s *AptSource) check(where string) string {
	if len(s.Suites) == 0 {
		return fmt.Sprintf("skipped %s: no suite", where)
	}
	for _, suite := range s.Suites {
		flat := strings.HasSuffix(suite, "/")
		if flat && len(s.Components) > 0 {
			return fmt.Sprintf("skipped %s: flat suite %q takes no components", where, suite)
		}
		if !flat && len(s.Components) == 0 {
			return fmt.Sprintf("skipped %s: suite %q needs components", where, suite)
		}
	}
	return ""
}

// aptURI normalises an apt URI, or returns a note saying why it is skipped.
func aptURI(raw, where string) (string, string) {
	u, err := ParseMirror(raw)
	if errors.Is(err, ErrMirrorScheme) {
		scheme, _, _ := strings.Cut(raw, ":")
		return "", fmt.Sprintf("skipped %s: a %s: source; lazymirror fetches http and https only", where, scheme)
	}
	if err != nil {
		return "", fmt.Sprintf("skipped %s: URI %s: %v", where, raw, err)
	}
	return u.String(), ""
}

// stanza is one deb822 paragraph.
type stanza struct {
	line   int
	fields []Field
}

// parseParagraphs splits deb822 text into paragraphs. Lines starting with
// '#' are comments; lines starting with a space or tab continue the previous
// field; blank lines end a paragraph. A malformed paragraph is skipped with a
// note.
func parseParagraphs(file string, data []byte) ([]stanza, []string) {
	var out []stanza
	var notes []string
	var cur stanza
	bad := false
	flush := func() {
		if len(cur.fields) > 0 && !bad {
			out = append(out, cur)
		}
		cur, bad = stanza{}, false
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimRight(sc.Text(), "\r")
		switch {
		case strings.TrimSpace(text) == "":
			flush()
		case strings.HasPrefix(text, "#"):
		case text[0] == ' ' || text[0] == '\t':
			if len(cur.fields) == 0 {
				if !bad {
					notes = append(notes, fmt.Sprintf("skipped %s:%d: continuation line without a field", file, line))
				}
				bad = true
				continue
			}
			cur.fields[len(cur.fields)-1].Value += "\n" + text
		default:
			k, v, ok := strings.Cut(text, ":")
			if !ok || strings.TrimSpace(k) == "" || strings.ContainsAny(k, " \t") {
				if !bad {
					notes = append(notes, fmt.Sprintf("skipped %s:%d: not a \"Field: value\" line", file, line))
				}
				bad = true
				continue
			}
			if len(cur.fields) == 0 {
				cur.line = line
			}
			cur.fields = append(cur.fields, Field{Key: k, Value: strings.TrimLeft(v, " \t")})
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		notes = append(notes, fmt.Sprintf("skipped the rest of %s: %v", file, err))
	}
	return out, notes
}

// parseDeb822 parses apt's deb822 .sources format. A stanza with
// "Enabled: no" (or another false apt boolean) or without the "deb" type is
// ignored; one without URIs or Suites, or with URIs lazymirror cannot fetch,
// is skipped with a note.
// Signed-By may hold an inline key over several continuation lines; it is
// kept whole in Options.
func parseDeb822(file string, data []byte) ([]AptSource, []string) {
	paras, notes := parseParagraphs(file, data)
	var out []AptSource
	for _, p := range paras {
		where := fmt.Sprintf("%s:%d", file, p.line)
		s := AptSource{File: file, Line: p.line, Deb822: true}
		var types, uris []string
		enabled := true
		for _, f := range p.fields {
			switch strings.ToLower(f.Key) {
			case "types":
				types = strings.Fields(f.Value)
			case "uris":
				uris = strings.Fields(f.Value)
			case "suites":
				s.Suites = strings.Fields(f.Value)
			case "components":
				s.Components = strings.Fields(f.Value)
			case "enabled":
				enabled = aptBool(f.Value, true)
			default:
				s.Options = append(s.Options, f)
			}
		}
		if !enabled || !containsFold(types, "deb") {
			continue
		}
		if len(uris) == 0 {
			notes = append(notes, fmt.Sprintf("skipped %s: no URIs", where))
			continue
		}
		if note := s.check(where); note != "" {
			notes = append(notes, note)
			continue
		}
		for _, raw := range uris {
			u, note := aptURI(raw, where)
			if note != "" {
				notes = append(notes, note)
				continue
			}
			s.URIs = append(s.URIs, Mapped{URL: u})
		}
		if len(s.URIs) > 0 {
			out = append(out, s)
		}
	}
	return out, notes
}

// aptBool reads a boolean as apt's StringToBool does: 0 and 1, or
// no/false/without/off/disable and yes/true/with/on/enable in any case;
// anything else is def.
func aptBool(v string, def bool) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "0", "no", "false", "without", "off", "disable":
		return false
	case "1", "yes", "true", "with", "on", "enable":
		return true
	}
	return def
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
