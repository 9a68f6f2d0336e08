package config

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// YumSource is one enabled repo section ([id]) of a .repo file.
type YumSource struct {
	File     string   // path under the root, e.g. "/etc/yum.repos.d/fedora.repo"
	ID       string   // the section name
	BaseURLs []Mapped // its usable baseurl URLs, variables substituted
	Options  []Field  // every other key except baseurl, mirrorlist and metalink, as written
}

// iniSection is one [id] of a .repo file with its keys in order.
type iniSection struct {
	id     string
	line   int
	fields []Field
}

// get returns the value of key (case-insensitive) and whether it is set.
func (s *iniSection) get(key string) (string, bool) {
	for _, f := range s.fields {
		if strings.EqualFold(f.Key, key) {
			return f.Value, true
		}
	}
	return "", false
}

// parseINI reads dnf's INI dialect: "[id]" sections, "key=value" lines,
// comments starting with '#' or ';', and lines starting with whitespace
// continuing the previous value (as multi-line baseurl lists do).
func parseINI(file string, data []byte) ([]iniSection, []string) {
	var out []iniSection
	var notes []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		raw := strings.TrimRight(sc.Text(), "\r")
		text := strings.TrimSpace(raw)
		switch {
		case text == "" || text[0] == '#' || text[0] == ';':
		case text[0] == '[':
			id, rest, ok := strings.Cut(text[1:], "]")
			if !ok || strings.TrimSpace(id) == "" || strings.TrimSpace(rest) != "" {
				notes = append(notes, fmt.Sprintf("skipped %s:%d: malformed section header %q", file, line, text))
				continue
			}
			out = append(out, iniSection{id: strings.TrimSpace(id), line: line})
		case raw[0] == ' ' || raw[0] == '\t':
			if n := len(out); n > 0 && len(out[n-1].fields) > 0 {
				f := &out[n-1].fields[len(out[n-1].fields)-1]
				f.Value += "\n" + text
			}
		default:
			k, v, ok := strings.Cut(text, "=")
			if !ok || len(out) == 0 {
				notes = append(notes, fmt.Sprintf("skipped %s:%d: not key=value inside a [section]", file, line))
				continue
			}
			s := &out[len(out)-1]
			s.fields = append(s.fields, Field{Key: strings.TrimSpace(k), Value: strings.TrimSpace(v)})
		}
	}
	if err := sc.Err(); err != nil {
		notes = append(notes, fmt.Sprintf("skipped the rest of %s: %v", file, err))
	}
	return out, notes
}

// parseRepoFile parses a dnf .repo file. Sections with enabled=0 are
// ignored. baseurl may list several URLs separated by spaces, commas or
// continuation lines; $var and ${var} are substituted from vars. A URL that
// still holds a variable, or is not http(s), is skipped with a note, as is
// an enabled section left with no baseurl (only mirrorlist= or metalink=).
func parseRepoFile(file string, data []byte, vars map[string]string) ([]YumSource, []string) {
	sections, notes := parseINI(file, data)
	var out []YumSource
	for _, sec := range sections {
		if v, ok := sec.get("enabled"); ok && !truthy(v) {
			continue
		}
		where := fmt.Sprintf("repo %s (%s:%d)", sec.id, file, sec.line)
		s := YumSource{File: file, ID: sec.id}
		var skipped []string // why each unusable baseurl was skipped
		for _, f := range sec.fields {
			switch strings.ToLower(f.Key) {
			case "baseurl":
				for _, raw := range strings.FieldsFunc(f.Value, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
					expanded := expand(raw, vars)
					if strings.Contains(expanded, "$") {
						skipped = append(skipped, fmt.Sprintf("baseurl %s has an unknown variable (set it in /etc/dnf/vars)", raw))
						continue
					}
					u, err := ParseMirror(expanded)
					if err != nil {
						skipped = append(skipped, fmt.Sprintf("baseurl %s: %v", expanded, err))
						continue
					}
					m := Mapped{URL: u.String()}
					if t := expandExcept(raw, vars, clientVars); strings.Contains(t, "$") {
						m.Template = t
					}
					s.BaseURLs = append(s.BaseURLs, m)
				}
			case "mirrorlist", "metalink":
			default:
				s.Options = append(s.Options, f)
			}
		}
		if len(s.BaseURLs) == 0 {
			if len(skipped) == 0 {
				skipped = []string{noBaseURL(&sec)}
			}
			notes = append(notes, fmt.Sprintf("skipped %s: %s", where, strings.Join(skipped, "; ")))
			continue
		}
		for _, why := range skipped {
			notes = append(notes, fmt.Sprintf("%s: skipped %s", where, why))
		}
		out = append(out, s)
	}
	return out, notes
}

// noBaseURL says why a section with no baseurl at all is skipped.
func noBaseURL(sec *iniSection) string {
	for _, k := range []string{"metalink", "mirrorlist"} {
		if _, ok := sec.get(k); ok {
			return "only " + k + ", no baseurl; add a baseurl= line to mirror it"
		}
	}
	return "no baseurl"
}

// truthy reports whether a dnf boolean is true.
func truthy(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "0", "false", "no", "off":
		return false
	}
	return true
}

var dnfVar = regexp.MustCompile(`\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))`)

// expand substitutes dnf variables ($name and ${name}); unknown ones stay.
func expand(s string, vars map[string]string) string {
	return expandExcept(s, vars, nil)
}

// clientVars are the variables dnf sets itself on every client, from its
// own release and architecture; ClientLines keeps them in baseurls.
var clientVars = []string{"releasever", "releasever_major", "releasever_minor", "basearch", "arch"}

// expandExcept is expand, leaving the variables named in keep as written.
func expandExcept(s string, vars map[string]string, keep []string) string {
	return dnfVar.ReplaceAllStringFunc(s, func(m string) string {
		sub := dnfVar.FindStringSubmatch(m)
		name := sub[1] + sub[2]
		if v, ok := vars[name]; ok && !slices.Contains(keep, name) {
			return v
		}
		return m
	})
}
