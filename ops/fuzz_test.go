package ops

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
)

// FuzzCheck feeds mutations of real packages (the corpus rpms, and a .deb
// and an .rpm built by dpkg-deb and rpmbuild) to the structure check of
// both formats: it must not panic, and a rejection must say why with one
// of the two errors callers branch on.
func FuzzCheck(f *testing.F) {
	corpus, err := filepath.Glob("../testdata/corpus/rpm/*/*/*.rpm")
	if err != nil || len(corpus) == 0 {
		f.Fatalf("no corpus rpms: %v", err)
	}
	deb, rpm := packages(f)
	for _, p := range append(corpus, deb, rpm) {
		data := readFile(f, p)
		if len(data) > 64<<10 {
			continue // the fuzzer mutates and minimizes large inputs slowly
		}
		f.Add(data, formatOf(p) == debFormat)
		f.Add(data[:len(data)/2], formatOf(p) == debFormat)
	}
	f.Fuzz(func(t *testing.T, data []byte, isDeb bool) {
		ft := rpmFormat
		if isDeb {
			ft = debFormat
		}
		err := check(ft, bytes.NewReader(data), int64(len(data)))
		if err != nil && !errors.Is(err, ErrNotPackage) && !errors.Is(err, ErrTruncated) {
			t.Errorf("check: %v wraps neither ErrNotPackage nor ErrTruncated", err)
		}
	})
}
