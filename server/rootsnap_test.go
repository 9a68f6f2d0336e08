package server_test

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"lazymirror/debian"
	"lazymirror/internal/fixture"
)

// TestDebSignatureNotDroppedByFlakyMirror: the first mirror fails (5xx)
// when asked for Release.gpg while it builds a snapshot. The snapshot must
// not be made without the signature: Release is served, so Release.gpg must
// be too (debootstrap and other Release readers need it), from a mirror
// that has it.
func TestDebSignatureNotDroppedByFlakyMirror(t *testing.T) {
	arc := newAptArchive(t)
	arc.a.SetFault("dists/stable/Release.gpg", fixture.Fault{Status: http.StatusServiceUnavailable})
	h := newHarness(t, yamlRepos("debian: {type: deb, mirrors: ["+arc.a.URL()+", "+arc.b.URL()+"]}"))

	base := h.URL("debian") + "/dists/stable/"
	for _, name := range []string{"InRelease", "Release", "Release.gpg"} {
		code, body, _ := h.get(base+name, nil)
		if code != http.StatusOK {
			t.Fatalf("%s: status %d (%s)", name, code, bytes.TrimSpace(body))
		}
		want, err := os.ReadFile(filepath.Join(arc.dir, "dists/stable", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(body, want) {
			t.Errorf("%s: not the archive's bytes", name)
		}
	}
}

// TestDebPlainIndexFromClientsSnapshot: a client is given InRelease, then
// upstream publishes a new snapshot, and the client's next request (for a
// Packages index by its plain name, as apt does for an archive without
// Acquire-By-Hash) revalidates the root. The client must get the Packages
// its InRelease lists, not the new snapshot's: anything else is apt's "Hash
// Sum mismatch".
func TestDebPlainIndexFromClientsSnapshot(t *testing.T) {
	arc := newAptArchive(t)
	h := newHarness(t, yamlRepos("debian: {type: deb, mirrors: ["+arc.a.URL()+"], metadata_ttl: 1ns}"))

	code, inRelease, _ := h.get(h.URL("debian")+"/dists/stable/InRelease", nil)
	if code != http.StatusOK {
		t.Fatalf("InRelease: status %d", code)
	}
	rel, err := debian.ParseRelease(bytes.NewReader(inRelease))
	if err != nil {
		t.Fatal(err)
	}
	indexes := []string{"main/binary-amd64/Packages.xz", "main/binary-amd64/Packages.gz", "main/binary-amd64/Packages"}
	// Earlier clients fetched these indexes: they are stored. (Once
	// upstream replaced them, only the store still has their bytes.)
	for _, name := range indexes {
		if code, _, _ := h.get(h.URL("debian")+"/dists/stable/"+name, nil); code != http.StatusOK {
			t.Fatalf("%s before the publish: status %d", name, code)
		}
	}

	// A new snapshot upstream: plus-lm removed, new-lm added.
	v2 := t.TempDir()
	fixture.AptRepo(t, v2, arc.key, "amd64", fixture.Suite{Name: "stable", Date: time.Now(),
		Debs: []fixture.Deb{arc.stable[0], arc.stable[2], arc.stable[3], {Name: "new-lm", Version: "1.0", Arch: "amd64", Size: 10 << 10}}})
	arc.a.SetRoot(v2)

	for _, name := range indexes {
		f, ok := rel.Lookup(name)
		if !ok {
			t.Fatalf("InRelease lists no %s", name)
		}
		want, _ := f.SHA256()
		code, body, _ := h.get(h.URL("debian")+"/dists/stable/"+name, nil)
		if code != http.StatusOK {
			t.Fatalf("%s: status %d", name, code)
		}
		if got := digestBytes(body); got != want {
			t.Errorf("%s: got sha256 %s, the client's InRelease lists %s (Hash Sum mismatch)", name, got, want)
		}
	}

	// A client that asks for InRelease now is given the new snapshot, and
	// its indexes.
	code, inRelease2, _ := h.get(h.URL("debian")+"/dists/stable/InRelease", map[string]string{"Cache-Control": "no-cache"})
	if code != http.StatusOK || bytes.Equal(inRelease2, inRelease) {
		t.Fatalf("InRelease after the publish: status %d, changed %t", code, !bytes.Equal(inRelease2, inRelease))
	}
	rel2, err := debian.ParseRelease(bytes.NewReader(inRelease2))
	if err != nil {
		t.Fatal(err)
	}
	f, _ := rel2.Lookup("main/binary-amd64/Packages.xz")
	want, _ := f.SHA256()
	if code, body, _ := h.get(h.URL("debian")+"/dists/stable/main/binary-amd64/Packages.xz", nil); code != http.StatusOK || digestBytes(body) != want {
		t.Errorf("Packages.xz after the client took the new InRelease: status %d, sha256 %s, want %s", code, digestBytes(body), want)
	}
}

// TestRevalidationConditionalAfterFailover: the mirror a snapshot came
// from goes down, and the next mirror answers the revalidation with the
// same InRelease. Later revalidations of that mirror must be conditional
// (a 304, not the whole root again at every metadata TTL).
func TestRevalidationConditionalAfterFailover(t *testing.T) {
	arc := newAptArchive(t)
	h := newHarness(t, yamlRepos("debian: {type: deb, mirrors: ["+arc.a.URL()+", "+arc.b.URL()+"], metadata_ttl: 1ns}"))
	url := h.URL("debian") + "/dists/stable/InRelease"
	if code, _, _ := h.get(url, nil); code != http.StatusOK {
		t.Fatalf("InRelease: status %d", code)
	}
	arc.a.SetDown(true)
	for range 3 {
		if code, _, _ := h.get(url, nil); code != http.StatusOK {
			t.Fatalf("InRelease with the first mirror down: status %d", code)
		}
	}
	var whole, conditional int
	for _, r := range arc.b.Received() {
		if r.Rel != "dists/stable/InRelease" {
			continue
		}
		if r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Modified-Since") != "" {
			conditional++
		} else {
			whole++
		}
	}
	if whole != 1 || conditional != 2 {
		t.Errorf("second mirror asked for InRelease %d times in full and %d times conditionally, want 1 and 2", whole, conditional)
	}
}

// TestRPMSignatureOfAnotherRoot: a mirror in the middle of a sync (rsync
// copies repomd.xml before repomd.xml.asc) serves the new repomd.xml with
// the previous one's signature. lazymirror must never pair them in a
// snapshot (dnf's repo_gpgcheck fails on it), and once the mirror has
// finished, it serves the new pair.
func TestRPMSignatureOfAnotherRoot(t *testing.T) {
	tr := newYumTree(t)
	h := newHarness(t, yamlRepos("fedora: {type: rpm, mirrors: ["+tr.a.URL()+"], metadata_ttl: 1ns}"))
	base := h.URL("fedora") + "/" + tr.osRoot + "/repodata/"
	pair := func() (xml, asc []byte) {
		t.Helper()
		return h.getOK(base+"repomd.xml", map[string]string{"Cache-Control": "no-cache"}), h.getOK(base+"repomd.xml.asc", nil)
	}
	read := func(dir, name string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, tr.osRoot, "repodata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	xml1, asc1 := pair()

	v2 := t.TempDir()
	root := filepath.Join(v2, tr.osRoot)
	fixture.BuildRPMs(t, root, "Packages", []fixture.RPM{rpmFoo, rpmBarNew})
	fixture.YumRepo(t, root, fixture.YumOptions{Key: tr.key, Revision: "2000000000"})
	xml2, asc2 := read(v2, "repomd.xml"), read(v2, "repomd.xml.asc")
	half := t.TempDir()
	if err := os.CopyFS(half, os.DirFS(v2)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(half, tr.osRoot, "repodata", "repomd.xml.asc"), asc1, 0o644); err != nil {
		t.Fatal(err)
	}

	tr.a.SetRoot(half)
	xml, asc := pair()
	if !(bytes.Equal(xml, xml1) && bytes.Equal(asc, asc1)) && !(bytes.Equal(xml, xml2) && bytes.Equal(asc, asc2)) {
		t.Errorf("mid-sync mirror: served repomd.xml (new %t) with repomd.xml.asc (new %t) of another root", bytes.Equal(xml, xml2), bytes.Equal(asc, asc2))
	}
	tr.a.SetRoot(v2)
	xml, asc = pair()
	if !bytes.Equal(xml, xml2) || !bytes.Equal(asc, asc2) {
		t.Errorf("after the sync: repomd.xml new %t, repomd.xml.asc new %t; want both", bytes.Equal(xml, xml2), bytes.Equal(asc, asc2))
	}
}

// TestDebSignatureOfAnotherRoot: the apt form of
// TestRPMSignatureOfAnotherRoot: Release and Release.gpg always come
// from one root.
func TestDebSignatureOfAnotherRoot(t *testing.T) {
	arc := newAptArchive(t)
	h := newHarness(t, yamlRepos("debian: {type: deb, mirrors: ["+arc.a.URL()+"], metadata_ttl: 1ns}"))
	base := h.URL("debian") + "/dists/stable/"
	pair := func() (rel, gpg []byte) {
		t.Helper()
		h.getOK(base+"InRelease", map[string]string{"Cache-Control": "no-cache"})
		return h.getOK(base+"Release", nil), h.getOK(base+"Release.gpg", nil)
	}
	rel1, gpg1 := pair()
	v2 := t.TempDir()
	fixture.AptRepo(t, v2, arc.key, "amd64", fixture.Suite{Name: "stable", Date: time.Now(), Debs: arc.stable[:3]})
	half := t.TempDir()
	if err := os.CopyFS(half, os.DirFS(v2)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(half, "dists/stable/Release.gpg"), gpg1, 0o644); err != nil {
		t.Fatal(err)
	}
	arc.a.SetRoot(half)
	rel, gpg := pair()
	if bytes.Equal(gpg, gpg1) != bytes.Equal(rel, rel1) {
		t.Errorf("mid-sync mirror: served Release (new %t) with Release.gpg (new %t) of another root", !bytes.Equal(rel, rel1), !bytes.Equal(gpg, gpg1))
	}
}

// TestFutureDatedRootDoesNotPin: a mirror once published a root dated two
// days ahead (a wrong clock). The next root, rightly dated, is older by
// date, but it must replace it: the future date is no measure of age.
func TestFutureDatedRootDoesNotPin(t *testing.T) {
	arc := newAptArchive(t)
	h := newHarness(t, yamlRepos("debian: {type: deb, mirrors: ["+arc.a.URL()+"], metadata_ttl: 1ns}"))
	// publish makes the mirror serve a root of that date; a client's update
	// must then be given it.
	publish := func(date time.Time, debs int) {
		t.Helper()
		dir := t.TempDir()
		fixture.AptRepo(t, dir, arc.key, "amd64", fixture.Suite{Name: "stable", Date: date, Debs: arc.stable[:debs]})
		arc.a.SetRoot(dir)
		want, err := os.ReadFile(filepath.Join(dir, "dists/stable/InRelease"))
		if err != nil {
			t.Fatal(err)
		}
		code, got, _ := h.get(h.URL("debian")+"/dists/stable/InRelease", map[string]string{"Cache-Control": "no-cache"})
		if code != http.StatusOK || !bytes.Equal(got, want) {
			t.Fatalf("InRelease dated %s: status %d, the mirror's bytes: %t", date.Format(time.RFC3339), code, bytes.Equal(got, want))
		}
	}
	publish(time.Now().Add(48*time.Hour), 2)
	publish(time.Now(), 3)
}

// TestExpiredRootFromLaggingMirror: the first mirror stopped syncing, and
// its InRelease is past its Valid-Until (apt refuses it: "is expired"); the
// second has a current one, which clients must be given. When every mirror
// has only an expired root (an archive of old releases), it is served
// rather than nothing.
func TestExpiredRootFromLaggingMirror(t *testing.T) {
	arc := newAptArchive(t)
	build := func(date time.Time) string {
		dir := t.TempDir()
		fixture.AptRepo(t, dir, arc.key, "amd64", fixture.Suite{Name: "stable", Date: date, ValidFor: 7 * 24 * time.Hour, Debs: arc.stable[:2]})
		return dir
	}
	expired, current := build(time.Now().Add(-10*24*time.Hour)), build(time.Now().Add(-time.Hour))
	inRelease := func(dir string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, "dists/stable/InRelease"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	arc.a.SetRoot(expired)
	arc.b.SetRoot(current)
	h := newHarness(t, yamlRepos("debian: {type: deb, mirrors: ["+arc.a.URL()+", "+arc.b.URL()+"]}"))
	if got := h.getOK(h.URL("debian")+"/dists/stable/InRelease", nil); !bytes.Equal(got, inRelease(current)) {
		t.Errorf("served the expired InRelease (from the first mirror: %t); want the second mirror's current one", bytes.Equal(got, inRelease(expired)))
	}

	arc.b.SetRoot(expired)
	h2 := newHarness(t, yamlRepos("debian: {type: deb, mirrors: ["+arc.a.URL()+", "+arc.b.URL()+"]}"))
	if got := h2.getOK(h2.URL("debian")+"/dists/stable/InRelease", nil); !bytes.Equal(got, inRelease(expired)) {
		t.Error("with only expired roots upstream, InRelease is not the expired one")
	}
}
