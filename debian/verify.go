package debian

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// VerifyInRelease checks a clearsigned InRelease against keyring (binary,
// like /usr/share/keyrings/*.gpg, or ASCII-armored) and returns the signed
// text, un-dash-escaped: parse that, not data. At least one signature must
// verify with a key from the keyring; unknown signers among several
// signatures are skipped, as gpgv does. It returns an error wrapping
// ErrBadSignature when none verifies, when data is not a clearsigned
// message, or when anything but white space follows the signature. An
// unreadable keyring is a plain error. The key and signature expiry are
// checked against the current time.
//
// It uses github.com/ProtonMail/go-crypto, not golang.org/x/crypto/openpgp:
// the latter cannot load the ed25519 "Debian Stable Release Key (12/bookworm)"
// that signs bookworm's InRelease.
func VerifyInRelease(data []byte, keyring io.Reader) (signedText []byte, err error) {
	keys, err := readKeyring(keyring)
	if err != nil {
		return nil, err
	}
	b, rest := clearsign.Decode(data)
	if b == nil {
		return nil, fmt.Errorf("inrelease: not a clearsigned message: %w", ErrBadSignature)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("inrelease: data after the signature: %w", ErrBadSignature)
	}
	if err := verifySignatures(keys, b.Bytes, b.ArmoredSignature.Body); err != nil {
		return nil, fmt.Errorf("inrelease: %w", err)
	}
	return b.Plaintext, nil
}

// VerifyDetached checks a detached signature (Release.gpg, armored or
// binary) over signed (Release) against keyring, with the same rules as
// VerifyInRelease.
func VerifyDetached(signed, sig []byte, keyring io.Reader) error {
	keys, err := readKeyring(keyring)
	if err != nil {
		return err
	}
	var body io.Reader = bytes.NewReader(sig)
	if bytes.HasPrefix(bytes.TrimSpace(sig), []byte("-----BEGIN PGP SIGNATURE-----")) {
		block, err := armor.Decode(bytes.NewReader(sig))
		if err != nil {
			return fmt.Errorf("release.gpg: %w: %w", ErrBadSignature, err)
		}
		body = block.Body
	}
	if err := verifySignatures(keys, signed, body); err != nil {
		return fmt.Errorf("release.gpg: %w", err)
	}
	return nil
}

func readKeyring(r io.Reader) (openpgp.EntityList, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read keyring: %w", err)
	}
	var keys openpgp.EntityList
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----")) {
		keys, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	} else {
		keys, err = openpgp.ReadKeyRing(bytes.NewReader(data))
	}
	if err != nil {
		return nil, fmt.Errorf("read keyring: %w", err)
	}
	return keys, nil
}

// verifySignatures succeeds when one of the signature packets in sigs
// verifies signed with a key from keys. openpgp.CheckDetachedSignature
// checks only the first signature by a known key, so each packet is
// checked on its own.
func verifySignatures(keys openpgp.EntityList, signed []byte, sigs io.Reader) error {
	packets := packet.NewReader(sigs)
	var errs []error
	for {
		p, err := packets.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			errs = append(errs, err)
			break
		}
		sig, ok := p.(*packet.Signature)
		if !ok {
			errs = append(errs, fmt.Errorf("unexpected %T packet", p))
			break
		}
		var one bytes.Buffer
		if err := sig.Serialize(&one); err != nil {
			errs = append(errs, err)
			continue
		}
		_, err = openpgp.CheckDetachedSignature(keys, bytes.NewReader(signed), &one, nil)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return fmt.Errorf("no signatures: %w", ErrBadSignature)
	}
	return fmt.Errorf("%w: %w", ErrBadSignature, errors.Join(errs...))
}
