package cache

import (
	"errors"
	"testing"
)

// TestCleanPathInvalidUTF8: a path that is not UTF-8 (an overlong encoding
// of "." among them) is refused: no mirror can be asked for it.
func TestCleanPathInvalidUTF8(t *testing.T) {
	for _, p := range []string{"pool/x\xff.deb", "\xc0\xae\xc0\xae/etc/passwd", "dists/\xe2\x82/InRelease"} {
		if got, err := CleanPath(p); !errors.Is(err, ErrBadPath) {
			t.Errorf("CleanPath(%q) = %q, %v; want ErrBadPath", p, got, err)
		}
	}
	if got, err := CleanPath("pool/main/ü/ü_1.0_all.deb"); err != nil || got != "pool/main/ü/ü_1.0_all.deb" {
		t.Errorf("CleanPath of valid UTF-8 = %q, %v", got, err)
	}
}
