package debian

import "testing"

func TestSuiteRoot(t *testing.T) {
	for _, tt := range []struct {
		suite, root string
		flat        bool
	}{
		{"bookworm", "dists/bookworm", false},
		{"bookworm-backports", "dists/bookworm-backports", false},
		{"./", "", true},
		{"sub/", "sub", true},
		{"./sub/", "sub", true},
		{"vendor/apt/", "vendor/apt", true},
	} {
		if got := SuiteRoot(tt.suite); got != tt.root {
			t.Errorf("SuiteRoot(%q) = %q, want %q", tt.suite, got, tt.root)
		}
		if got := IsFlatSuite(tt.suite); got != tt.flat {
			t.Errorf("IsFlatSuite(%q) = %v, want %v", tt.suite, got, tt.flat)
		}
	}
}
