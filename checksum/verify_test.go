package checksum

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// namedByChecksum are corpus files that createrepo named
// "<checksum>-<name>": their name gives their SHA-1 ("sha") or SHA-256.
var namedByChecksum = []string{
	"../testdata/corpus/rpm/pulp-fixtures/repo-sha/repodata/*-primary.xml.gz",
	"../testdata/corpus/rpm/pulp-fixtures/repo-bz2/repodata/*-primary.xml.bz2",
	"../testdata/corpus/rpm/centos-stream9-appstream/repodata/*-comps-AppStream.x86_64.xml",
}

// corpusFile returns a corpus file's bytes and the checksum its name gives.
func corpusFile(t *testing.T, pattern string) ([]byte, Sum) {
	t.Helper()
	m, err := filepath.Glob(pattern)
	if err != nil || len(m) != 1 {
		t.Fatalf("glob %s: %v, %v", pattern, m, err)
	}
	hexValue, _, _ := strings.Cut(filepath.Base(m[0]), "-")
	algo := SHA256
	if len(hexValue) == 2*SHA1.Size() {
		algo = SHA1
	}
	want, err := FromHex(algo, hexValue)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(m[0])
	if err != nil {
		t.Fatal(err)
	}
	return data, want
}

func TestVerifier(t *testing.T) {
	for _, pattern := range namedByChecksum {
		data, want := corpusFile(t, pattern)
		size := int64(len(data))
		flipped := bytes.Clone(data)
		flipped[len(flipped)/2] ^= 1
		tests := []struct {
			name     string
			data     []byte
			want     Sum
			size     int64
			err      error
			errTexts []string // in the error message
		}{
			{"good", data, want, size, nil, nil},
			{"no size check", data, want, -1, nil, nil},
			{"no sum check", data, Sum{}, size, nil, nil},
			{"no checks", flipped, Sum{}, -1, nil, nil},
			{"flipped byte", flipped, want, size, ErrSumMismatch, []string{want.Algo.String(), want.Hex()}},
			{"flipped byte, no size check", flipped, want, -1, ErrSumMismatch, []string{want.Hex()}},
			{"one byte short", data[:size-1], want, size, ErrSizeMismatch, []string{"size " + strconv.FormatInt(size-1, 10) + ", want " + strconv.FormatInt(size, 10)}},
			{"one byte more", append(bytes.Clone(data), 0), want, size, ErrSizeMismatch, []string{strconv.FormatInt(size+1, 10)}},
			{"one byte short, no size check", data[:size-1], want, -1, ErrSumMismatch, nil},
			{"empty", nil, want, size, ErrSizeMismatch, []string{"size 0"}},
		}
		for _, tt := range tests {
			t.Run(filepath.Base(pattern)+"/"+tt.name, func(t *testing.T) {
				v := NewVerifier(tt.want, tt.size)
				// Odd-sized writes, as a reader hands them over.
				n, err := io.CopyBuffer(v, bytes.NewReader(tt.data), make([]byte, 1000))
				if err != nil || n != int64(len(tt.data)) {
					t.Fatalf("copy: %d, %v", n, err)
				}
				if v.Written() != int64(len(tt.data)) {
					t.Errorf("Written = %d, want %d", v.Written(), len(tt.data))
				}
				err = v.Check()
				if (tt.err == nil) != (err == nil) || !errors.Is(err, tt.err) {
					t.Fatalf("Check = %v, want %v", err, tt.err)
				}
				for _, s := range tt.errTexts {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("Check = %q, want it to say %q", err, s)
					}
				}
			})
		}
	}
}
