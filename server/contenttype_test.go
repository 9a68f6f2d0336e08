package server

import "testing"

// TestContentType: repository files get the same media type on every host.
func TestContentType(t *testing.T) {
	for _, tt := range []struct{ rel, want string }{
		{"repodata/repomd.xml", "text/xml; charset=utf-8"},
		{"repodata/repomd.xml.asc", "application/pgp-signature"},
		{"repodata/abc-primary.xml.gz", "application/gzip"},
		{"repodata/abc-primary.xml.zst", "application/zstd"},
		{"dists/stable/main/binary-amd64/Packages.xz", "application/x-xz"},
		{"dists/stable/main/binary-amd64/Packages.bz2", "application/x-bzip2"},
		{"dists/stable/Release.gpg", "application/pgp-signature"},
		{"dists/stable/InRelease", "application/octet-stream"},
		{"dists/stable/main/binary-amd64/Packages", "application/octet-stream"},
		{"repodata/abc-primary.xml.zck", "application/octet-stream"},
		{"RPM-GPG-KEY-fedora.key", "application/pgp-keys"},
		{"README.txt", "text/plain; charset=utf-8"},
		{"index.html", "text/html; charset=utf-8"},
		{"x.JSON", "application/octet-stream"}, // extensions match exactly, as the tools write them
	} {
		if got := contentType(tt.rel); got != tt.want {
			t.Errorf("contentType(%q) = %q, want %q", tt.rel, got, tt.want)
		}
	}
}
