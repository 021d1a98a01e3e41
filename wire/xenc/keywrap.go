package xenc

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
)

// WrapKey encrypts key to pub with the key transport uri (RSAOAEPMGF1P
// with SHA-1, or RSA15). rand supplies the padding randomness.
func WrapKey(uri string, key []byte, pub *rsa.PublicKey, rand io.Reader) ([]byte, error) {
	if pub == nil {
		return nil, errors.New("xenc: no recipient key")
	}
	var (
		ct  []byte
		err error
	)
	switch uri {
	case RSAOAEPMGF1P:
		ct, err = rsa.EncryptOAEP(sha1.New(), rand, pub, key, nil)
	case RSA15:
		ct, err = rsa.EncryptPKCS1v15(rand, pub, key)
	default:
		return nil, &AlgorithmError{Kind: "key transport", URI: uri}
	}
	if err != nil {
		return nil, fmt.Errorf("xenc: wrapping a key: %w", err)
	}
	return ct, nil
}

// UnwrapKey decrypts a wrapped key with dec, the recipient's RSA key,
// using the key transport uri. size is the key length the caller expects
// in bytes; 0 accepts any length with RSAOAEPMGF1P and is refused with
// RSA15, whose implicit rejection needs it.
//
// With RSAOAEPMGF1P every failure, a key of another size included, is
// ErrDecrypt. With RSA15 a ciphertext that does not unwrap yields a
// random key of size bytes and no error (RFC 8017 §7.2.2 note, the
// countermeasure to Bleichenbacher's attack): the message then fails to
// decrypt or verify like any message under a wrong key. rand is the
// source of that random key.
func UnwrapKey(uri string, wrapped []byte, dec crypto.Decrypter, size int, rand io.Reader) ([]byte, error) {
	if dec == nil {
		return nil, errors.New("xenc: no recipient key")
	}
	switch uri {
	case RSAOAEPMGF1P:
		key, err := dec.Decrypt(rand, wrapped, &rsa.OAEPOptions{Hash: crypto.SHA1, MGFHash: crypto.SHA1})
		if err != nil || (size > 0 && len(key) != size) {
			return nil, ErrDecrypt
		}
		return key, nil
	case RSA15:
		if size <= 0 {
			return nil, errors.New("xenc: RSA 1.5 key transport needs the expected key size")
		}
		key, err := dec.Decrypt(rand, wrapped, &rsa.PKCS1v15DecryptOptions{SessionKeyLen: size})
		if err != nil || len(key) != size {
			// Only a ciphertext of the wrong length (public knowledge)
			// or a broken key store gets here.
			return nil, ErrDecrypt
		}
		return key, nil
	}
	return nil, &AlgorithmError{Kind: "key transport", URI: uri}
}
