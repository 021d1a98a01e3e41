package xenc

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"errors"
	"fmt"
)

// NS is the XML Encryption namespace.
const NS = "http://www.w3.org/2001/04/xmlenc#"

// Algorithm URIs (XML Encryption 1.0 §5).
const (
	AES128CBC    = NS + "aes128-cbc"
	AES192CBC    = NS + "aes192-cbc"
	AES256CBC    = NS + "aes256-cbc"
	TripleDESCBC = NS + "tripledes-cbc"
	RSAOAEPMGF1P = NS + "rsa-oaep-mgf1p"
	RSA15        = NS + "rsa-1_5"
)

// Type URIs of EncryptedData (XML Encryption 1.0 §3.1): the element itself
// was encrypted, or only its content.
const (
	TypeElement = NS + "Element"
	TypeContent = NS + "Content"
)

// ErrDecrypt is the only error a decryption failure returns. It says
// nothing of the cause, so that no padding or key-unwrap oracle exists.
var ErrDecrypt = errors.New("xenc: decryption failed")

// AlgorithmError reports an algorithm this package does not implement or
// the caller does not allow.
type AlgorithmError struct {
	Kind string // "block encryption" or "key transport"
	URI  string
}

func (e *AlgorithmError) Error() string {
	return fmt.Sprintf("xenc: %s algorithm %q is not allowed", e.Kind, e.URI)
}

type blockAlg struct {
	keySize int
	newC    func(key []byte) (cipher.Block, error)
}

var blockAlgs = map[string]blockAlg{
	AES128CBC:    {16, aes.NewCipher},
	AES192CBC:    {24, aes.NewCipher},
	AES256CBC:    {32, aes.NewCipher},
	TripleDESCBC: {24, des.NewTripleDESCipher},
}

// KeySize returns the key length in bytes of the block encryption
// algorithm uri.
func KeySize(uri string) (int, error) {
	a, ok := blockAlgs[uri]
	if !ok {
		return 0, &AlgorithmError{Kind: "block encryption", URI: uri}
	}
	return a.keySize, nil
}

func block(uri string, key []byte) (cipher.Block, error) {
	a, ok := blockAlgs[uri]
	if !ok {
		return nil, &AlgorithmError{Kind: "block encryption", URI: uri}
	}
	if len(key) != a.keySize {
		return nil, fmt.Errorf("xenc: %s needs a %d-byte key, got %d bytes", uri, a.keySize, len(key))
	}
	return a.newC(key)
}
