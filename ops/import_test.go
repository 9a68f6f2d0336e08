package ops

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"lazymirror/checksum"
	"lazymirror/index"
	"lazymirror/internal/fixture"
	"lazymirror/store"
)

// openData opens a store and an index in a fresh data directory.
func openData(t testing.TB) (*store.Store, *index.DB, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	idx, err := index.Open(filepath.Join(dir, "index.db"), index.Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	return st, idx, dir
}

// packages builds one real .deb (dpkg-deb) and one real .rpm (rpmbuild) and
// returns their paths.
func packages(t testing.TB) (deb, rpm string) {
	t.Helper()
	dir := t.TempDir()
	debs := fixture.BuildDebs(t, dir, []fixture.Deb{{Name: "hello-import", Version: "1.0", Arch: "amd64", Size: 40 << 10}})
	rpms := fixture.BuildRPMs(t, dir, "Packages", []fixture.RPM{{Name: "hello-import", Version: "1.0", Release: "1", Arch: "noarch", Size: 40 << 10}})
	for _, rel := range debs {
		deb = filepath.Join(dir, rel)
	}
	for _, rel := range rpms {
		rpm = filepath.Join(dir, rel)
	}
	return deb, rpm
}

// writeFile writes data to dir/name.
func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// readFile returns a file's bytes.
func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCheck: real packages pass the structure check; junk, truncated and
// overlong copies fail it with the right error.
func TestCheck(t *testing.T) {
	deb, rpm := packages(t)
	corpus, err := filepath.Glob("../testdata/corpus/rpm/*/*/*.rpm")
	if err != nil || len(corpus) == 0 {
		t.Fatalf("no corpus rpms: %v", err)
	}
	type tc struct {
		name string
		data []byte
		f    format
		want error // nil: a whole package
	}
	var tests []tc
	for _, p := range append(corpus, rpm) {
		tests = append(tests, tc{"rpm " + filepath.Base(p), readFile(t, p), rpmFormat, nil})
	}
	debBytes, rpmBytes := readFile(t, deb), readFile(t, rpm)
	tests = append(tests,
		tc{"deb", debBytes, debFormat, nil},
		tc{"deb first half", debBytes[:len(debBytes)/2], debFormat, ErrTruncated},
		tc{"deb minus one byte", debBytes[:len(debBytes)-2], debFormat, ErrTruncated},
		tc{"deb plus junk", append(slices.Clone(debBytes), bytes.Repeat([]byte("x"), 100)...), debFormat, ErrNotPackage},
		tc{"deb cut in its magic", debBytes[:4], debFormat, ErrNotPackage},
		tc{"rpm first half", rpmBytes[:len(rpmBytes)/2], rpmFormat, ErrTruncated},
		tc{"rpm minus one byte", rpmBytes[:len(rpmBytes)-1], rpmFormat, ErrTruncated},
		tc{"rpm cut in its lead", rpmBytes[:50], rpmFormat, ErrTruncated},
		tc{"rpm plus a byte", append(slices.Clone(rpmBytes), 0), rpmFormat, ErrNotPackage},
		tc{"rpm bytes as deb", rpmBytes, debFormat, ErrNotPackage},
		tc{"deb bytes as rpm", debBytes, rpmFormat, ErrNotPackage},
		tc{"text as rpm", []byte("this is not a package\n"), rpmFormat, ErrNotPackage},
		tc{"text as deb", []byte("this is not a package\n"), debFormat, ErrNotPackage},
		tc{"empty rpm", nil, rpmFormat, ErrNotPackage},
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := check(tt.f, bytes.NewReader(tt.data), int64(len(tt.data)))
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("check = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestImport: real packages are imported, junk and truncated copies
// skipped with their reason, other files ignored, a link to a package
// imported is the same package (see TestImportSymlinks); the blobs, index
// records and rpm aliases are there; a second import is a no-op; --move
// removes what was stored and leaves what was skipped.
func TestImport(t *testing.T) {
	deb, rpm := packages(t)
	debBytes, rpmBytes := readFile(t, deb), readFile(t, rpm)
	src := t.TempDir()
	writeFile(t, src, "a/"+filepath.Base(deb), debBytes)
	writeFile(t, src, "b/c/"+filepath.Base(rpm), rpmBytes)
	bad := map[string]error{
		writeFile(t, src, "junk.rpm", []byte("<html>404 not found</html>\n")): ErrNotPackage,
		writeFile(t, src, "junk.deb", []byte("<html>404 not found</html>\n")): ErrNotPackage,
		writeFile(t, src, "half.rpm", rpmBytes[:len(rpmBytes)/2]):             ErrTruncated,
		writeFile(t, src, "half.udeb", debBytes[:len(debBytes)/2]):            ErrTruncated,
	}
	writeFile(t, src, "README.txt", []byte("not a package\n"))
	if err := os.Symlink(filepath.Join(src, "a", filepath.Base(deb)), filepath.Join(src, "link.deb")); err != nil {
		t.Fatal(err)
	}

	st, idx, _ := openData(t)
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var last Progress
	opts := ImportOptions{Link: true, Progress: func(p Progress) { last = p }, Now: func() time.Time { return now }}
	rep, err := Import(context.Background(), st, idx, []string{src}, opts)
	if err != nil {
		t.Fatal(err)
	}
	whole := int64(len(debBytes) + len(rpmBytes))
	if rep.Imported != (Count{2, whole}) || rep.Present != (Count{}) || rep.Ignored != 1 {
		t.Errorf("imported %+v, present %+v, ignored %d; want 2 files, %d bytes, none present, 1 ignored", rep.Imported, rep.Present, rep.Ignored, whole)
	}
	if len(rep.Skipped) != len(bad) {
		t.Errorf("skipped %+v, want the %d bad files", rep.Skipped, len(bad))
	}
	for _, s := range rep.Skipped {
		if want, ok := bad[s.Path]; !ok || !errors.Is(s.Err, want) || s.Reason == "" {
			t.Errorf("skipped %s for %v (%q), want %v", s.Path, s.Err, s.Reason, want)
		}
	}
	if last.Files != last.TotalFiles || last.Bytes != last.TotalBytes || last.TotalFiles != 2+len(bad) {
		t.Errorf("last progress %+v: not complete over %d files", last, 2+len(bad))
	}
	for _, data := range [][]byte{debBytes, rpmBytes} {
		d := checksum.Digest(sha256.Sum256(data))
		f, err := st.Open(d)
		if err != nil {
			t.Fatalf("imported package not in the store: %v", err)
		}
		f.Close()
		b, err := idx.Blob(d)
		if err != nil || b.Size != int64(len(data)) || !b.Stored.Equal(now) {
			t.Errorf("index record %+v, %v; want size %d stored %v", b, err, len(data), now)
		}
	}
	s1 := sha1.Sum(rpmBytes)
	if d, err := idx.Alias(checksum.Sum{Algo: checksum.SHA1, Value: s1[:]}); err != nil || d != checksum.Digest(sha256.Sum256(rpmBytes)) {
		t.Errorf("sha1 alias of the rpm: %s, %v", d, err)
	}

	// Again: nothing new.
	rep, err = Import(context.Background(), st, idx, []string{src}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Imported != (Count{}) || rep.Present != (Count{2, whole}) {
		t.Errorf("second import: imported %+v, present %+v; want all present", rep.Imported, rep.Present)
	}

	// --move, copying (a fresh store, so the packages are new there).
	st2, idx2, _ := openData(t)
	rep, err = Import(context.Background(), st2, idx2, []string{src}, ImportOptions{Move: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Imported.Files != 2 {
		t.Errorf("move: imported %+v", rep.Imported)
	}
	for _, p := range []string{filepath.Join(src, "a", filepath.Base(deb)), filepath.Join(src, "b/c", filepath.Base(rpm))} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("move: %s still there (%v)", p, err)
		}
	}
	for p := range bad {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("move: skipped file %s removed: %v", p, err)
		}
	}
	if _, err := st2.Stat(checksum.Digest(sha256.Sum256(debBytes))); err != nil {
		t.Errorf("move: %v", err)
	}
}

// TestImportErrors: a missing directory is an error; a cancelled context
// stops the import with its error.
func TestImportErrors(t *testing.T) {
	st, idx, _ := openData(t)
	if _, err := Import(context.Background(), st, idx, []string{filepath.Join(t.TempDir(), "nope")}, ImportOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing directory: %v", err)
	}
	src := t.TempDir()
	writeFile(t, src, "x.rpm", []byte("junk"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Import(ctx, st, idx, []string{src}, ImportOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestFormatOf: which names are imported.
func TestFormatOf(t *testing.T) {
	for name, want := range map[string]format{
		"a.rpm": rpmFormat, "A.RPM": rpmFormat, "a.deb": debFormat, "a.udeb": debFormat,
		"a.drpm": unknown, "a.rpm.part": unknown, "deb": unknown, "a.tar": unknown,
	} {
		if got := formatOf(name); got != want {
			t.Errorf("formatOf(%q) = %d, want %d", name, got, want)
		}
	}
}
