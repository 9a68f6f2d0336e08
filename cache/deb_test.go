package cache

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"lazymirror/checksum"
	"lazymirror/debian"
	"lazymirror/index"
	"lazymirror/store"
)

// TestClientArches: the architectures clients use are those whose Packages
// were loaded, and those with a stored index whose bytes no other
// architecture shares; an empty index (debian-installer, a component with
// nothing for an architecture) or one of only "all" packages is the same
// blob for several architectures and must not claim them. Knowing none,
// the answer is binary-all, marked as a guess.
func TestClientArches(t *testing.T) {
	files := map[string][]byte{
		"main/binary-amd64/Packages":                     []byte("Package: a\nVersion: 1\n"),
		"main/binary-arm64/Packages":                     []byte("Package: b\nVersion: 1\n"),
		"main/binary-all/Packages":                       []byte("Package: c\nVersion: 1\n"),
		"main/debian-installer/binary-amd64/Packages":    nil,
		"main/debian-installer/binary-arm64/Packages":    nil,
		"contrib/binary-amd64/Packages":                  nil,
		"contrib/binary-arm64/Packages":                  nil,
		"contrib/debian-installer/binary-all/Packages":   nil,
		"contrib/debian-installer/binary-arm64/Packages": nil,
		// Nothing but "all" packages: the same bytes for two architectures.
		"non-free/binary-all/Packages":   []byte("Package: fw\nArchitecture: all\n"),
		"non-free/binary-arm64/Packages": []byte("Package: fw\nArchitecture: all\n"),
	}
	var rel strings.Builder
	rel.WriteString("Suite: stable\nArchitectures: all amd64 arm64\nComponents: main contrib non-free\nSHA256:\n")
	for _, p := range slices.Sorted(maps.Keys(files)) {
		fmt.Fprintf(&rel, " %x %d %s\n", sha256.Sum256(files[p]), len(files[p]), p)
	}
	r, err := debian.ParseRelease(strings.NewReader(rel.String()))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		stored []string // files whose bytes are in the store
		loaded []string // Packages indexes the snapshot loaded
		want   []string
		known  bool
	}{
		{"nothing fetched or loaded: binary-all first", nil, nil, []string{"all"}, false},
		{"only empty indexes: as nothing", []string{"contrib/binary-amd64/Packages", "main/debian-installer/binary-amd64/Packages"}, nil, []string{"all"}, false},
		{"amd64 and its empty companions", []string{"main/binary-amd64/Packages", "contrib/binary-amd64/Packages", "main/debian-installer/binary-amd64/Packages"}, nil, []string{"amd64"}, true},
		{"amd64 and all", []string{"main/binary-amd64/Packages", "main/binary-all/Packages", "contrib/binary-amd64/Packages"}, nil, []string{"all", "amd64"}, true},
		{"an index shared by all and arm64 claims neither", []string{"main/binary-amd64/Packages", "non-free/binary-all/Packages"}, nil, []string{"amd64"}, true},
		{"loaded for an arm64 package, nothing fetched", nil, []string{"dists/stable/main/binary-arm64/Packages.xz"}, []string{"arm64"}, true},
		{"fetched and loaded", []string{"main/binary-amd64/Packages"}, []string{"dists/stable/main/binary-arm64/Packages.xz"}, []string{"amd64", "arm64"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := store.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			for _, p := range tt.stored {
				b := files[p]
				w, err := st.Create(checksum.Digest(sha256.Sum256(b)), int64(len(b)))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := bytes.NewReader(b).WriteTo(w); err != nil {
					t.Fatal(err)
				}
				if _, err := w.Commit(); err != nil {
					t.Fatal(err)
				}
			}
			root := &rootState{key: "dists/stable"}
			root.snap.Store(&index.Snapshot{Loaded: tt.loaded})
			c := &Cache{store: st}
			if got, known := c.clientArches(r, root); !slices.Equal(got, tt.want) || known != tt.known {
				t.Errorf("clientArches = %v, %v; want %v, %v", got, known, tt.want, tt.known)
			}
		})
	}
}
