package dsig

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
)

// Algorithm URIs (XML Signature 1.1 §6, RFC 6931 §2.2.1 and §2.3.2).
const (
	NS = "http://www.w3.org/2000/09/xmldsig#"

	SHA1   = "http://www.w3.org/2000/09/xmldsig#sha1"
	SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"

	HMACSHA1   = "http://www.w3.org/2000/09/xmldsig#hmac-sha1"
	HMACSHA256 = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"
	RSASHA1    = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
	RSASHA256  = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
)

// AlgorithmError reports an algorithm outside the allowlist in force.
type AlgorithmError struct {
	Kind string // "signature method", "digest method", "canonicalization", "transform"
	URI  string
}

func (e *AlgorithmError) Error() string {
	return fmt.Sprintf("dsig: %s %q is not allowed", e.Kind, e.URI)
}

var digests = map[string]func() hash.Hash{SHA1: sha1.New, SHA256: sha256.New}

// NewDigest returns a hash for the DigestMethod uri.
func NewDigest(uri string) (hash.Hash, error) { return newDigest(uri) }

func newDigest(uri string) (hash.Hash, error) {
	if f, ok := digests[uri]; ok {
		return f(), nil
	}
	return nil, &AlgorithmError{Kind: "digest method", URI: uri}
}

// SigningKey produces SignatureValue bytes for one signature method.
type SigningKey interface {
	// Method is the SignatureMethod algorithm URI.
	Method() string
	// Sign signs the canonical SignedInfo bytes.
	Sign(signedInfo []byte) ([]byte, error)
}

// VerifyingKey checks SignatureValue bytes for one signature method.
type VerifyingKey interface {
	Method() string
	// Verify reports an error unless sig is a valid signature of signedInfo.
	Verify(signedInfo, sig []byte) error
}

// ErrBadSignature is returned when a SignatureValue does not match.
var ErrBadSignature = errors.New("dsig: signature value does not match")

// ErrTruncatedHMAC is returned for an HMAC SignatureValue shorter than the
// hash output. Accepting truncated values lets an attacker forge
// signatures by guessing a few bits (CVE-2009-0217).
var ErrTruncatedHMAC = errors.New("dsig: truncated HMAC signature value")

type hmacKey struct {
	method string
	hash   func() hash.Hash
	key    []byte
}

// HMACKey returns a key that signs and verifies with HMAC-SHA1 or
// HMAC-SHA256 (method is HMACSHA1 or HMACSHA256). The key bytes are
// copied.
func HMACKey(method string, key []byte) (interface {
	SigningKey
	VerifyingKey
}, error) {
	var h func() hash.Hash
	switch method {
	case HMACSHA1:
		h = sha1.New
	case HMACSHA256:
		h = sha256.New
	default:
		return nil, &AlgorithmError{Kind: "signature method", URI: method}
	}
	if len(key) == 0 {
		return nil, errors.New("dsig: empty HMAC key")
	}
	return &hmacKey{method: method, hash: h, key: append([]byte(nil), key...)}, nil
}

func (k *hmacKey) Method() string { return k.method }

func (k *hmacKey) Sign(data []byte) ([]byte, error) {
	m := hmac.New(k.hash, k.key)
	m.Write(data)
	return m.Sum(nil), nil
}

func (k *hmacKey) Verify(data, sig []byte) error {
	want, _ := k.Sign(data)
	if len(sig) < len(want) {
		return ErrTruncatedHMAC
	}
	if !hmac.Equal(want, sig) {
		return ErrBadSignature
	}
	return nil
}

func rsaHash(method string) (crypto.Hash, error) {
	switch method {
	case RSASHA1:
		return crypto.SHA1, nil
	case RSASHA256:
		return crypto.SHA256, nil
	}
	return 0, &AlgorithmError{Kind: "signature method", URI: method}
}

type rsaSigner struct {
	method string
	hash   crypto.Hash
	key    crypto.Signer
}

// RSASigningKey signs with RSASSA-PKCS1-v1_5 (RSASHA1 or RSASHA256) using
// key, which may live outside the process (an HSM, a platform key store).
func RSASigningKey(method string, key crypto.Signer) (SigningKey, error) {
	h, err := rsaHash(method)
	if err != nil {
		return nil, err
	}
	if _, ok := key.Public().(*rsa.PublicKey); !ok {
		return nil, errors.New("dsig: RSA signature method needs an RSA key")
	}
	return &rsaSigner{method: method, hash: h, key: key}, nil
}

func (k *rsaSigner) Method() string { return k.method }

func (k *rsaSigner) Sign(data []byte) ([]byte, error) {
	h := k.hash.New()
	h.Write(data)
	return k.key.Sign(rand.Reader, h.Sum(nil), k.hash)
}

type rsaVerifier struct {
	method string
	hash   crypto.Hash
	key    *rsa.PublicKey
}

// RSAVerifyingKey verifies RSASSA-PKCS1-v1_5 signatures with pub.
func RSAVerifyingKey(method string, pub *rsa.PublicKey) (VerifyingKey, error) {
	h, err := rsaHash(method)
	if err != nil {
		return nil, err
	}
	return &rsaVerifier{method: method, hash: h, key: pub}, nil
}

func (k *rsaVerifier) Method() string { return k.method }

func (k *rsaVerifier) Verify(data, sig []byte) error {
	h := k.hash.New()
	h.Write(data)
	if err := rsa.VerifyPKCS1v15(k.key, k.hash, h.Sum(nil), sig); err != nil {
		return ErrBadSignature
	}
	return nil
}
