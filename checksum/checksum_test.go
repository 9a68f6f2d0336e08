package checksum

import (
	"crypto/sha256"
	"errors"
	"testing"
)

func TestParseAlgo(t *testing.T) {
	tests := []struct {
		in   string
		want Algo
	}{
		{"sha", SHA1}, // createrepo's legacy spelling
		{"sha1", SHA1},
		{"SHA1", SHA1},
		{"sha256", SHA256},
		{"SHA256", SHA256},
		{"sha512", SHA512},
		{"MD5Sum", MD5},
		{"MD5sum", MD5},
		{"md5", MD5},
	}
	for _, tt := range tests {
		got, err := ParseAlgo(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseAlgo(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	if _, err := ParseAlgo("crc32"); !errors.Is(err, ErrUnknownAlgo) {
		t.Errorf("ParseAlgo(crc32) error = %v, want ErrUnknownAlgo", err)
	}
}

func TestParseAndDigest(t *testing.T) {
	sum := sha256.Sum256([]byte("hello"))
	h := Digest(sum).String()
	s, err := Parse("sha256", h)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := s.Digest()
	if !ok || d != Digest(sum) {
		t.Fatalf("Digest() = %v, %v", d, ok)
	}
	if s.String() != "sha256:"+h {
		t.Errorf("String() = %q", s.String())
	}
	for _, bad := range []struct{ algo, hex string }{
		{"sha256", h[:62]},
		{"sha256", "zz" + h[2:]},
		{"sha1", h},
	} {
		if _, err := Parse(bad.algo, bad.hex); !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%s, %s) error = %v, want ErrMalformed", bad.algo, bad.hex, err)
		}
	}
	if _, err := ParseDigest(h[:10]); !errors.Is(err, ErrMalformed) {
		t.Errorf("ParseDigest(short) error = %v", err)
	}
	if sha1Sum, _ := Parse("sha", "a9993e364706816aba3e25717850c26c9cd0d89d"); sha1Sum.Algo != SHA1 {
		t.Errorf("sha parsed as %v", sha1Sum.Algo)
	} else if _, ok := sha1Sum.Digest(); ok {
		t.Error("a SHA-1 sum must not yield a content address")
	}
}

func TestBest(t *testing.T) {
	md5s := Sum{Algo: MD5, Value: make([]byte, 16)}
	sha1s := Sum{Algo: SHA1, Value: make([]byte, 20)}
	sha256s := Sum{Algo: SHA256, Value: make([]byte, 32)}
	sha512s := Sum{Algo: SHA512, Value: make([]byte, 64)}
	tests := []struct {
		in   []Sum
		want Algo
	}{
		{nil, Unknown},
		{[]Sum{md5s}, MD5},
		{[]Sum{md5s, sha1s}, SHA1},
		{[]Sum{sha512s, md5s}, SHA512},
		{[]Sum{md5s, sha512s, sha256s, sha1s}, SHA256},
	}
	for _, tt := range tests {
		if got := Best(tt.in...).Algo; got != tt.want {
			t.Errorf("Best(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
	if MD5.Secure() || SHA1.Secure() || !SHA256.Secure() || !SHA512.Secure() {
		t.Error("Secure: only SHA-256 and SHA-512 may vouch for a blob")
	}
}
