package xenc

import (
	"crypto/cipher"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
)

// Encrypt encrypts plaintext with the block algorithm uri in CBC mode and
// returns the IV followed by the ciphertext, the CipherValue octets of XML
// Encryption 1.0 §5.2. The IV is read from rand; padding follows §5.2
// (the pad bytes before the length byte are zero).
func Encrypt(uri string, key, plaintext []byte, rand io.Reader) ([]byte, error) {
	c, err := block(uri, key)
	if err != nil {
		return nil, err
	}
	if rand == nil {
		return nil, errors.New("xenc: no randomness source for the IV")
	}
	bs := c.BlockSize()
	pad := bs - len(plaintext)%bs
	out := make([]byte, bs+len(plaintext)+pad)
	if _, err := io.ReadFull(rand, out[:bs]); err != nil {
		return nil, fmt.Errorf("xenc: IV: %w", err)
	}
	body := out[bs:]
	copy(body, plaintext)
	body[len(body)-1] = byte(pad)
	cipher.NewCBCEncrypter(c, out[:bs]).CryptBlocks(body, body)
	return out, nil
}

// Decrypt reverses Encrypt: data is the IV followed by the ciphertext.
// Any failure (wrong key length, data not a whole number of blocks, bad
// padding) is ErrDecrypt. The padding is checked in constant time over
// the last block.
func Decrypt(uri string, key, data []byte) ([]byte, error) {
	a, ok := blockAlgs[uri]
	if !ok {
		return nil, &AlgorithmError{Kind: "block encryption", URI: uri}
	}
	if len(key) != a.keySize {
		return nil, ErrDecrypt
	}
	c, err := a.newC(key)
	if err != nil {
		return nil, ErrDecrypt
	}
	bs := c.BlockSize()
	if len(data) < 2*bs || len(data)%bs != 0 {
		return nil, ErrDecrypt
	}
	out := make([]byte, len(data)-bs)
	cipher.NewCBCDecrypter(c, data[:bs]).CryptBlocks(out, data[bs:])
	n := unpad(out, bs)
	if n < 0 {
		return nil, ErrDecrypt
	}
	return out[:n], nil
}

// unpad returns the plaintext length of a padded buffer, or -1 when the
// pad length byte (the last byte of the last block) is not in 1..bs. The
// other pad bytes are arbitrary (XML Encryption 1.0 §5.2) and are not
// checked. Nothing here branches on the decrypted bytes.
func unpad(buf []byte, bs int) int {
	p := int(buf[len(buf)-1])
	good := subtle.ConstantTimeLessOrEq(1, p) & subtle.ConstantTimeLessOrEq(p, bs)
	return subtle.ConstantTimeSelect(good, len(buf)-p, -1)
}
