package debian

import (
	"bytes"
	"errors"
	"testing"
)

// TestParsePackagesFileEmptyEntry: bookworm's InRelease lists empty indexes
// ("e3b0c442… 0 contrib/debian-installer/binary-all/Packages"). Such an entry vouches for
// zero bytes, not for anything a mirror chooses to serve.
func TestParsePackagesFileEmptyEntry(t *testing.T) {
	rel, err := ParseRelease(bytes.NewReader(suites[0].inRelease(t)))
	if err != nil {
		t.Fatal(err)
	}
	empty, ok := rel.Lookup("contrib/debian-installer/binary-all/Packages")
	if !ok || empty.Size != 0 {
		t.Fatalf("corpus: contrib/debian-installer/binary-all/Packages = %+v, %v; want a size-0 entry", empty, ok)
	}
	tests := []struct {
		name string
		data []byte
		n    int
		err  error
	}{
		{"empty xz", xzed(t, nil), 0, nil},
		{"empty gz", gzipped(t, nil), 0, nil},
		{"one byte", gzipped(t, []byte("\n")), 0, ErrChecksumMismatch},
		{"bookworm main instead", suites[0].packagesXZ(t), 0, ErrChecksumMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := ParsePackagesFile(t.Context(), bytes.NewReader(tt.data), "Packages.xz", empty, func(*Package) error { return nil })
			if !errors.Is(err, tt.err) || (tt.err == nil && n != tt.n) {
				t.Fatalf("n, err = %d, %v; want %d, %v", n, err, tt.n, tt.err)
			}
		})
	}
}
