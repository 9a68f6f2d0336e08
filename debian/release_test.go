package debian

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"lazymirror/checksum"
)

func TestParseReleaseReal(t *testing.T) {
	utc := func(s string) time.Time {
		tm, err := time.Parse(time.DateTime, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	allArchs := strings.Fields("all amd64 arm64 armel armhf i386 mips64el mipsel ppc64el s390x")
	tests := []struct {
		suite                     suite
		origin, label, name, code string
		version                   string
		date, validUntil          time.Time
		archs, components         []string
		noArchAll, md5            bool
		packagesSize              int64
	}{
		{suites[0], "Debian", "Debian", "oldstable", "bookworm", "12.15", utc("2026-07-11 10:16:37"), time.Time{},
			allArchs, strings.Fields("main contrib non-free-firmware non-free"), true, true, 50060337},
		{suites[1], "Debian", "Debian", "oldstable-updates", "bookworm-updates", "12-updates", utc("2026-11-24 02:12:15"), time.Time{},
			allArchs, strings.Fields("main contrib non-free-firmware non-free"), true, false, 32757},
		{suites[2], "Debian", "Debian-Security", "oldstable-security", "bookworm-security", "12", utc("2026-11-24 00:34:33"), utc("2026-12-01 00:34:33"),
			strings.Fields("amd64 arm64 armhf i386 ppc64el"), strings.Fields("updates/main updates/contrib updates/non-free-firmware updates/non-free"), false, false, 2531138},
	}
	for _, tt := range tests {
		t.Run(tt.suite.name, func(t *testing.T) {
			data := tt.suite.inRelease(t)
			rel, err := ParseRelease(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			got := []string{rel.Origin, rel.Label, rel.Suite, rel.Codename, rel.Version}
			want := []string{tt.origin, tt.label, tt.name, tt.code, tt.version}
			if !slices.Equal(got, want) {
				t.Errorf("origin/label/suite/codename/version = %q, want %q", got, want)
			}
			if !rel.Date.Equal(tt.date) || !rel.ValidUntil.Equal(tt.validUntil) {
				t.Errorf("date %v valid-until %v, want %v %v", rel.Date, rel.ValidUntil, tt.date, tt.validUntil)
			}
			if !rel.AcquireByHash || rel.NoSupportForArchitectureAll != tt.noArchAll {
				t.Errorf("acquire-by-hash %v, no-support-for-all %v", rel.AcquireByHash, rel.NoSupportForArchitectureAll)
			}
			if !slices.Equal(rel.Architectures, tt.archs) || !slices.Equal(rel.Components, tt.components) {
				t.Errorf("architectures %q components %q", rel.Architectures, rel.Components)
			}
			checkFilesAgainstText(t, rel, data, tt.md5)

			f, ok := rel.Lookup("main/binary-amd64/Packages")
			if !ok || f.Size != tt.packagesSize {
				t.Fatalf("Lookup(main/binary-amd64/Packages) = %+v, %v; want size %d", f, ok, tt.packagesSize)
			}
			text := tt.suite.packages(t)
			if d, ok := f.SHA256(); !ok || d != sha256.Sum256(text) || f.Best().Algo != checksum.SHA256 {
				t.Errorf("Packages entry %v does not match the decompressed corpus file", f.Sums)
			}
			if _, ok := rel.Lookup("main/binary-amd64/Packages.nonexistent"); ok {
				t.Error("Lookup of an unlisted path succeeded")
			}
		})
	}
}

// checkFilesAgainstText recounts the checksum sections of an InRelease
// with a plain split, independently of the parser.
func checkFilesAgainstText(t *testing.T, rel *Release, data []byte, wantMD5 bool) {
	t.Helper()
	paths := map[string]bool{}
	sawMD5 := false
	var order []string
	for _, line := range strings.Split(string(data), "\n") {
		if line == "MD5Sum:" {
			sawMD5 = true
		}
		if f := strings.Fields(line); strings.HasPrefix(line, " ") && len(f) == 3 {
			if !paths[f[2]] {
				order = append(order, f[2])
			}
			paths[f[2]] = true
		}
	}
	if sawMD5 != wantMD5 {
		t.Fatalf("corpus MD5Sum section present = %v, test expects %v", sawMD5, wantMD5)
	}
	if len(rel.Files) == 0 || len(rel.Files) != len(order) {
		t.Fatalf("%d files, the text lists %d paths", len(rel.Files), len(order))
	}
	empty := md5.Sum(nil)
	sawEmpty := false
	for i, f := range rel.Files {
		if f.Path != order[i] {
			t.Fatalf("file %d is %s, want %s (first-seen order)", i, f.Path, order[i])
		}
		algos := map[checksum.Algo]bool{}
		for _, s := range f.Sums {
			algos[s.Algo] = true
			if f.Size == 0 && s.Algo == checksum.MD5 && bytes.Equal(s.Value, empty[:]) {
				sawEmpty = true
			}
		}
		if algos[checksum.MD5] != wantMD5 || !algos[checksum.SHA256] {
			t.Fatalf("%s has sums %v", f.Path, f.Sums)
		}
	}
	if wantMD5 && !sawEmpty {
		t.Error("no empty file (size 0, md5 of nothing) parsed, though the Release lists some")
	}
}

func TestExpired(t *testing.T) {
	rel, err := ParseRelease(bytes.NewReader(suites[2].inRelease(t)))
	if err != nil {
		t.Fatal(err)
	}
	noLimit, err := ParseRelease(bytes.NewReader(suites[0].inRelease(t)))
	if err != nil {
		t.Fatal(err)
	}
	vu := rel.ValidUntil
	tests := []struct {
		name string
		rel  *Release
		now  time.Time
		want bool
	}{
		{"before", rel, vu.Add(-time.Second), false},
		{"at", rel, vu, false},
		{"after", rel, vu.Add(time.Second), true},
		{"no valid-until", noLimit, vu.AddDate(100, 0, 0), false},
	}
	for _, tt := range tests {
		if got := tt.rel.Expired(tt.now); got != tt.want {
			t.Errorf("%s: Expired(%v) = %v, want %v", tt.name, tt.now, got, tt.want)
		}
	}
}

// releaseText builds a small plain Release around the given checksum lines.
func releaseText(extra string) string {
	return "Origin: Test\nSuite: stable\nDate: Sat, 1 Jul 2026 10:16:37 +0000\nSHA256:\n" +
		" e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 main/binary-amd64/Packages\n" + extra
}

func TestParseReleaseHostile(t *testing.T) {
	md5Empty := " d41d8cd98f00b204e9800998ecf8427e 0 "
	sha := " e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 "
	tests := []struct {
		name, text string
		want       error
	}{
		{"valid", releaseText(""), nil},
		{"dotdot", releaseText(sha + "0 main/../../etc/passwd\n"), ErrBadPath},
		{"absolute", releaseText(sha + "0 /etc/passwd\n"), ErrBadPath},
		{"nul", releaseText(sha + "0 main/a\x00b\n"), ErrBadPath},
		{"backslash", releaseText(sha + "0 main\\a\n"), ErrBadPath},
		{"dot segment", releaseText(sha + "0 main/./a\n"), ErrBadPath},
		{"size conflict", releaseText("MD5Sum:\n d41d8cd98f00b204e9800998ecf8427e 7 main/binary-amd64/Packages\n"), ErrMalformed},
		{"sum conflict", releaseText(sha + "0 x\n ffb0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 x\n"), ErrMalformed},
		{"same sum twice", releaseText(sha + "0 x\n" + sha + "0 x\n"), nil},
		{"md5 merges", releaseText("MD5Sum:\n" + md5Empty + "main/binary-amd64/Packages\n"), nil},
		{"short hex", releaseText(" abcd 0 x\n"), ErrMalformed},
		{"bad size", releaseText(sha + "-1 x\n"), ErrMalformed},
		{"two fields", releaseText(sha + "x\n"), ErrMalformed},
		{"bad date", "Date: yesterday\n", ErrMalformed},
		{"bad bool", "Acquire-By-Hash: maybe\n", ErrMalformed},
		{"duplicate field", "Suite: a\nsuite: b\n", ErrMalformed},
		{"two paragraphs", "Suite: a\n\nSuite: b\n", ErrMalformed},
		{"no colon", "Suite a\n", ErrMalformed},
		{"leading continuation", " x\n", ErrMalformed},
		{"continued one-line field", "Suite: a\n b\n", ErrMalformed},
		{"empty", "\n\n", ErrMalformed},
		{"clearsign without signature", "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nSuite: a\n", ErrMalformed},
		{"long line", "Suite: " + strings.Repeat("a", maxLine) + "\n", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rel, err := ParseRelease(strings.NewReader(tt.text))
			if tt.want == nil && err != nil || !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err == nil && len(rel.Files) > 0 && rel.Files[0].Path != "main/binary-amd64/Packages" {
				t.Errorf("files %+v", rel.Files)
			}
		})
	}
}

func TestParseReleaseTrailingData(t *testing.T) {
	data := append(suites[1].inRelease(t), "Suite: evil\n"...)
	if _, err := ParseRelease(bytes.NewReader(data)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("data after the signature: err = %v, want ErrMalformed", err)
	}
}

func TestParseReleaseDateForms(t *testing.T) {
	want := time.Date(2026, 7, 1, 10, 16, 37, 0, time.UTC)
	for _, v := range []string{"Wed, 01 Jul 2026 10:16:37 UTC", "Wed, 1 Jul 2026 10:16:37 UTC", "Wed, 01 Jul 2026 10:16:37 +0000", "Wed,  1 Jul 2026 12:16:37 +0200"} {
		rel, err := ParseRelease(strings.NewReader("Date: " + v + "\n"))
		if err != nil || !rel.Date.Equal(want) {
			t.Errorf("Date: %s -> %v, %v", v, rel, err)
		}
	}
}
