package debian

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// debianKeyring is a copy of /usr/share/keyrings/debian-archive-keyring.gpg
// (debian-archive-keyring package): public keys only.
const debianKeyring = "testdata/debian-archive-keyring.gpg"

func keyring(t *testing.T) io.Reader { return bytes.NewReader(readFile(t, debianKeyring)) }

// testKey makes a throw-away ed25519 signing key.
func testKey(t *testing.T) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity("lazymirror test", "", "test@example.invalid", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func publicKeyring(t *testing.T, e *openpgp.Entity, armored bool) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	w := io.WriteCloser(nopCloser{&buf})
	if armored {
		var err error
		if w, err = armor.Encode(&buf, openpgp.PublicKeyType, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func TestVerifyInReleaseReal(t *testing.T) {
	for _, s := range suites {
		t.Run(s.name, func(t *testing.T) {
			data := s.inRelease(t)
			text, err := VerifyInRelease(data, keyring(t))
			if err != nil {
				t.Fatal(err)
			}
			fromText, err := ParseRelease(bytes.NewReader(text))
			if err != nil {
				t.Fatal(err)
			}
			fromFile, err := ParseRelease(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if fromText.Codename != fromFile.Codename || len(fromText.Files) != len(fromFile.Files) {
				t.Error("the signed text parses differently from the InRelease file")
			}

			// The same signature, detached, over the same text (Release + Release.gpg).
			b, _ := clearsign.Decode(data)
			sig, err := io.ReadAll(b.ArmoredSignature.Body)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyDetached(text, sig, keyring(t)); err != nil {
				t.Errorf("detached: %v", err)
			}

			// One flipped byte in the signed text (a checksum digit).
			i := bytes.Index(data, []byte("main/binary-amd64/Packages\n")) - 20
			bad := bytes.Clone(data)
			bad[i] ^= 1
			if _, err := VerifyInRelease(bad, keyring(t)); !errors.Is(err, ErrBadSignature) {
				t.Errorf("flipped byte: err = %v, want ErrBadSignature", err)
			}
			if err := VerifyDetached(append(bytes.Clone(text), '\n', 'x'), sig, keyring(t)); !errors.Is(err, ErrBadSignature) {
				t.Errorf("detached over changed text: err = %v, want ErrBadSignature", err)
			}
			// A keyring without Debian's keys.
			if _, err := VerifyInRelease(data, publicKeyring(t, testKey(t), false)); !errors.Is(err, ErrBadSignature) {
				t.Errorf("foreign keyring: err = %v, want ErrBadSignature", err)
			}
		})
	}
}

func TestVerifyGeneratedKey(t *testing.T) {
	key := testKey(t)
	// A field name starting with "-" is dash-escaped by the signer.
	plain := releaseText("-X-Dash: kept\n")
	var signed bytes.Buffer
	w, err := clearsign.Encode(&signed, key.PrivateKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, plain)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(signed.Bytes(), []byte("\n- -X-Dash: kept")) {
		t.Fatalf("signer did not dash-escape:\n%s", signed.Bytes())
	}

	for _, armored := range []bool{false, true} {
		text, err := VerifyInRelease(signed.Bytes(), publicKeyring(t, key, armored))
		if err != nil {
			t.Fatalf("armored keyring %v: %v", armored, err)
		}
		if string(text) != plain {
			t.Errorf("signed text %q, want %q", text, plain)
		}
	}
	rel, err := ParseRelease(&signed)
	if err != nil || rel.Suite != "stable" || len(rel.Files) != 1 {
		t.Fatalf("ParseRelease of the clearsigned text: %+v, %v", rel, err)
	}

	var sig bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&sig, key, strings.NewReader(plain), nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		text    string
		keyring io.Reader
		want    error
	}{
		{"good", plain, publicKeyring(t, key, false), nil},
		{"changed text", plain + " ", publicKeyring(t, key, false), ErrBadSignature},
		{"other key", plain, publicKeyring(t, testKey(t), true), ErrBadSignature},
	}
	for _, tt := range tests {
		err := VerifyDetached([]byte(tt.text), sig.Bytes(), tt.keyring)
		if tt.want == nil && err != nil || !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestVerifyNotSigned(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"plain release", []byte(releaseText(""))},
		{"empty", nil},
		{"trailing data", append(suites[1].inRelease(t), "Suite: evil\n"...)},
	}
	for _, tt := range tests {
		if _, err := VerifyInRelease(tt.data, keyring(t)); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: err = %v, want ErrBadSignature", tt.name, err)
		}
	}
	if err := VerifyDetached([]byte("x"), []byte("not a signature"), keyring(t)); !errors.Is(err, ErrBadSignature) {
		t.Errorf("garbage detached signature: err = %v, want ErrBadSignature", err)
	}
	if _, err := VerifyInRelease(suites[1].inRelease(t), strings.NewReader("not a keyring")); err == nil || errors.Is(err, ErrBadSignature) {
		t.Errorf("unreadable keyring: err = %v, want a keyring error", err)
	}
}
