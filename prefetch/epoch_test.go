package prefetch

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"lazymirror/internal/fixture"
	"lazymirror/pkgspec"
)

// epochSpec is a package with a non-zero epoch, as Fedora and CentOS have
// hundreds of (openssl-libs, NetworkManager, perl-*).
const epochSpec = `Name: epochy
Epoch: 1
Version: 3.0.7
Release: 1.fc40
Summary: lazymirror test package with an epoch
License: MIT
BuildArch: noarch
%define debug_package %{nil}
%define _build_id_links none
%description
Fixture.
%install
mkdir -p %{buildroot}/usr/share/epochy
echo epochy > %{buildroot}/usr/share/epochy/f
%files
/usr/share/epochy/f
`

// runTool runs a tool for the test, bounded, and returns its standard output.
func runTool(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, stderr.Bytes())
	}
	return stdout.Bytes()
}

// TestPrefetchRPMQAEpoch: the line real `rpm -qa` prints for a package
// with an epoch (rpm's %_query_all_fmt is %{nvr}%{archsuffix}: no epoch)
// resolves to that package.
func TestPrefetchRPMQAEpoch(t *testing.T) {
	fixture.Require(t, "rpmbuild", "rpm", "createrepo_c")
	tree := t.TempDir()
	root := "releases/40/Everything/x86_64/os"
	top := t.TempDir()
	spec := filepath.Join(top, "epochy.spec")
	if err := os.WriteFile(spec, []byte(epochSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	pkgs := filepath.Join(tree, root, "Packages")
	runTool(t, "rpmbuild", "-bb", "--quiet", "--define", "_topdir "+top, "--define", "_rpmdir "+pkgs,
		"--define", "_rpmfilename %{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}.rpm", spec)
	rpmFile := filepath.Join(pkgs, "epochy-3.0.7-1.fc40.noarch.rpm")
	fixture.YumRepo(t, filepath.Join(tree, root), fixture.YumOptions{})

	// What rpm -qa prints on a host that has it installed.
	db := t.TempDir()
	runTool(t, "rpm", "--dbpath", db, "--initdb")
	runTool(t, "rpm", "--dbpath", db, "-i", "--justdb", "--nodeps", "--noscripts", rpmFile)
	qa := runTool(t, "rpm", "--dbpath", db, "-qa")
	t.Logf("rpm -qa: %q", qa)

	m := fixture.NewMirror(t, tree, "/fedora/linux/")
	c := newCache(t, t.TempDir(), "repos:\n  fedora: {type: rpm, mirrors: ["+m.URL()+"]}\n")
	specs, errs := pkgspec.Parse(bytes.NewReader(qa))
	if len(errs) > 0 || len(specs) != 1 {
		t.Fatalf("parse %q: %v %v", qa, specs, errs)
	}
	res, err := Run(context.Background(), CacheGetter{Cache: c, Repo: "fedora"}, specs,
		Options{Kind: pkgspec.RPM, Roots: []string{root}, Arches: []string{"x86_64", "noarch"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.NotFound) != 0 || len(res.Fetched) != 1 {
		t.Fatalf("rpm -qa line %q: fetched %v, not found %v; want the package fetched", qa, names(res.Fetched), res.NotFound)
	}
	if got := res.Fetched[0].Candidate.Version; got != "1:3.0.7-1.fc40" {
		t.Errorf("fetched version %q, want 1:3.0.7-1.fc40", got)
	}
}
