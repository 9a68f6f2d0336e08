package pkgspec

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lazymirror/checksum"
	"lazymirror/debian"
	"lazymirror/internal/decompress"
	"lazymirror/repomd"
)

// The real metadata shared by the project's tests.
const (
	rpmCorpus = "../testdata/corpus/rpm"
	debCorpus = "../testdata/corpus/debian"
)

// rpmPackages returns the packages of a corpus repository's primary.xml
// (dir relative to rpmCorpus, e.g. "centos-stream9-baseos").
func rpmPackages(tb testing.TB, dir string) []repomd.Package {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join(rpmCorpus, dir, "repodata", "*-primary.xml.gz"))
	if err != nil || len(paths) != 1 {
		tb.Fatalf("primary of %s: %v %v", dir, paths, err)
	}
	f, err := os.Open(paths[0])
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var pkgs []repomd.Package
	if _, err := repomd.ParsePrimaryFile(context.Background(), f, paths[0], checksum.Sum{}, -1, func(p *repomd.Package) error {
		pkgs = append(pkgs, *p)
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	return pkgs
}

// evr is an rpm package's version as Candidate.Version spells it.
func evr(p repomd.Package) string {
	v := p.Version + "-" + p.Release
	if p.Epoch != "" && p.Epoch != "0" {
		v = p.Epoch + ":" + v
	}
	return v
}

// nevra formats p as rpm -qa --qf '%{nevra}' prints it:
// name-version-release.arch, with the epoch before the version when it is
// not 0. (Plain rpm -qa prints no epoch: %{nvr}%{archsuffix}.)
func nevra(p repomd.Package) string { return p.Name + "-" + evr(p) + "." + p.Arch }

// rpmCandidates indexes packages by name.
func rpmCandidates(pkgs []repomd.Package) map[string][]Candidate {
	m := make(map[string][]Candidate)
	for _, p := range pkgs {
		m[p.Name] = append(m[p.Name], Candidate{Name: p.Name, Version: evr(p), Arch: p.Arch, Path: p.Location, Size: p.Size})
	}
	return m
}

// debCandidates indexes by name the packages of the corpus Packages files,
// combined as apt combines them on a bookworm amd64 host.
func debCandidates(tb testing.TB) map[string][]Candidate {
	tb.Helper()
	m := make(map[string][]Candidate)
	for _, name := range []string{
		"debian/dists/bookworm/main/binary-amd64/Packages.xz",
		"debian/dists/bookworm-updates/main/binary-amd64/Packages.xz",
		"debian-security/dists/bookworm-security/main/binary-amd64/Packages.xz",
	} {
		if err := readPackages(filepath.Join(debCorpus, name), func(p *debian.Package) {
			m[p.Package] = append(m[p.Package], Candidate{Name: p.Package, Version: p.Version, Arch: p.Architecture, Path: p.Filename, Size: p.Size})
		}); err != nil {
			tb.Fatal(err)
		}
	}
	return m
}

func readPackages(name string, fn func(*debian.Package)) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := decompress.Open(f, name, 0)
	if err != nil {
		return err
	}
	defer r.Close()
	if _, err := debian.ParsePackages(r, func(p *debian.Package) error { fn(p); return nil }); err != nil {
		return fmt.Errorf("parse %s: %w", name, err)
	}
	return nil
}

// readLines returns the lines of a file in testdata.
func readLines(tb testing.TB, name string) []string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// parseAll parses text and fails the test on any error.
func parseAll(tb testing.TB, text string) []Spec {
	tb.Helper()
	specs, errs := Parse(strings.NewReader(text))
	for _, err := range errs {
		tb.Error(err)
	}
	return specs
}
