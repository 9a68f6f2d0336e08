// Package checksum names the hash algorithms that repository metadata uses
// and carries a checksum together with its algorithm, so that no code ever
// compares a SHA-1 against a SHA-256 or lets MD5 alone vouch for a blob.
//
// Repository formats spell the algorithms differently: yum's repomd.xml says
// "sha" (meaning SHA-1), "sha1", "sha256", "sha512"; Debian's Release files
// say "MD5Sum", "SHA1", "SHA256", "SHA512"; Packages stanzas say "MD5sum".
// ParseAlgo accepts all of them.
package checksum

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
)

// Algo is a hash algorithm. The zero value is Unknown.
// Algorithms are ordered by strength for Best, not by their numeric value.
type Algo uint8

// The algorithms seen in yum and apt metadata.
const (
	Unknown Algo = iota
	MD5
	SHA1
	SHA256
	SHA512
)

// Errors callers branch on.
var (
	// ErrUnknownAlgo is returned for an algorithm name this package does not know.
	ErrUnknownAlgo = errors.New("unknown checksum algorithm")
	// ErrMalformed is returned for a checksum value that is not hex of the algorithm's size.
	ErrMalformed = errors.New("malformed checksum")
)

// ParseAlgo maps a metadata spelling of an algorithm to an Algo.
// "sha" is SHA-1: createrepo's legacy name for it (see the pulp-fixtures
// repo-sha repomd.xml in testdata).
func ParseAlgo(name string) (Algo, error) {
	switch strings.ToLower(name) {
	case "md5", "md5sum":
		return MD5, nil
	case "sha", "sha1":
		return SHA1, nil
	case "sha256":
		return SHA256, nil
	case "sha512":
		return SHA512, nil
	}
	return Unknown, fmt.Errorf("%q: %w", name, ErrUnknownAlgo)
}

// String returns the algorithm's canonical lower-case name ("sha1", not "sha").
func (a Algo) String() string {
	switch a {
	case MD5:
		return "md5"
	case SHA1:
		return "sha1"
	case SHA256:
		return "sha256"
	case SHA512:
		return "sha512"
	}
	return "unknown"
}

// Size is the length of the algorithm's digest in bytes, or 0 for Unknown.
func (a Algo) Size() int {
	switch a {
	case MD5:
		return md5.Size
	case SHA1:
		return sha1.Size
	case SHA256:
		return sha256.Size
	case SHA512:
		return sha512.Size
	}
	return 0
}

// strength orders algorithms for Best: SHA256 first (it is what the store
// addresses blobs by, so it needs no second hash), then SHA512, SHA1, MD5.
func (a Algo) strength() int {
	switch a {
	case SHA256:
		return 4
	case SHA512:
		return 3
	case SHA1:
		return 2
	case MD5:
		return 1
	}
	return 0
}

// Secure reports whether a sum of this algorithm may vouch for a blob on its
// own. MD5 and SHA-1 may not: a blob verified only by them is recorded, but
// its SHA-256 is what the store trusts afterwards.
func (a Algo) Secure() bool { return a == SHA256 || a == SHA512 }

// New returns a fresh hash.Hash for the algorithm. It panics for Unknown,
// which a caller can only hold by ignoring ParseAlgo's error.
func (a Algo) New() hash.Hash {
	switch a {
	case MD5:
		return md5.New()
	case SHA1:
		return sha1.New()
	case SHA256:
		return sha256.New()
	case SHA512:
		return sha512.New()
	}
	panic("checksum: New on unknown algorithm")
}

// Sum is a checksum value with its algorithm. The zero Sum is "no checksum".
type Sum struct {
	Algo  Algo
	Value []byte
}

// Parse builds a Sum from an algorithm name as metadata spells it and a hex value.
func Parse(algo, hexValue string) (Sum, error) {
	a, err := ParseAlgo(algo)
	if err != nil {
		return Sum{}, err
	}
	return FromHex(a, hexValue)
}

// FromHex builds a Sum of a known algorithm from its hex value.
func FromHex(a Algo, hexValue string) (Sum, error) {
	if a == Unknown {
		return Sum{}, ErrUnknownAlgo
	}
	if len(hexValue) != 2*a.Size() {
		return Sum{}, fmt.Errorf("%s %q: want %d hex digits, got %d: %w", a, hexValue, 2*a.Size(), len(hexValue), ErrMalformed)
	}
	v, err := hex.DecodeString(hexValue)
	if err != nil {
		return Sum{}, fmt.Errorf("%s %q: %w", a, hexValue, ErrMalformed)
	}
	return Sum{Algo: a, Value: v}, nil
}

// IsZero reports whether s holds no checksum.
func (s Sum) IsZero() bool { return s.Algo == Unknown }

// Hex returns the value in lower-case hex.
func (s Sum) Hex() string { return hex.EncodeToString(s.Value) }

// String returns "algo:hex", e.g. "sha1:1f2e…".
func (s Sum) String() string {
	if s.IsZero() {
		return "none"
	}
	return s.Algo.String() + ":" + s.Hex()
}

// Equal reports whether two sums have the same algorithm and value.
func (s Sum) Equal(o Sum) bool {
	return s.Algo == o.Algo && string(s.Value) == string(o.Value)
}

// Digest returns the SHA-256 content address when s is a SHA-256 sum.
func (s Sum) Digest() (Digest, bool) {
	var d Digest
	if s.Algo != SHA256 || len(s.Value) != len(d) {
		return d, false
	}
	copy(d[:], s.Value)
	return d, true
}

// Best returns the strongest of the given sums (SHA256 > SHA512 > SHA1 > MD5),
// or the zero Sum when none is set.
func Best(sums ...Sum) Sum {
	var best Sum
	for _, s := range sums {
		if s.Algo.strength() > best.Algo.strength() {
			best = s
		}
	}
	return best
}

// Digest is a SHA-256 digest: the content address of a blob.
type Digest [sha256.Size]byte

// ParseDigest parses 64 hex digits into a Digest.
func ParseDigest(hexValue string) (Digest, error) {
	var d Digest
	if len(hexValue) != 2*len(d) {
		return d, fmt.Errorf("sha256 %q: want 64 hex digits: %w", hexValue, ErrMalformed)
	}
	if _, err := hex.Decode(d[:], []byte(hexValue)); err != nil {
		return Digest{}, fmt.Errorf("sha256 %q: %w", hexValue, ErrMalformed)
	}
	return d, nil
}

// String returns the digest in lower-case hex.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// IsZero reports whether d is the zero digest (no digest known).
func (d Digest) IsZero() bool { return d == Digest{} }

// Sum returns d as a SHA-256 Sum.
func (d Digest) Sum() Sum { return Sum{Algo: SHA256, Value: append([]byte(nil), d[:]...)} }
