package keys

import (
	"crypto/hmac"
	"crypto/sha1"
	"errors"
	"fmt"
)

// PSHA1 returns length bytes of P_SHA-1(secret, seed), starting at byte
// offset of the output stream:
//
//	A(0) = seed, A(i) = HMAC-SHA1(secret, A(i-1))
//	P_SHA-1 = HMAC-SHA1(secret, A(1) + seed) + HMAC-SHA1(secret, A(2) + seed) + ...
//
// Callers taking offset and length from a message must bound them first
// (see Derivation.Check).
func PSHA1(secret, seed []byte, offset, length int) []byte {
	out := make([]byte, 0, offset+length+sha1.Size)
	mac := hmac.New(sha1.New, secret)
	a := seed
	for len(out) < offset+length {
		mac.Reset()
		mac.Write(a)
		a = mac.Sum(nil)
		mac.Reset()
		mac.Write(a)
		mac.Write(seed)
		out = mac.Sum(out)
	}
	return out[offset : offset+length]
}

// Key sizes a peer may ask for, in bits. WCF issues 256-bit keys; the
// bounds keep a hostile KeySize from asking for megabytes of output.
const (
	MinKeyBits = 128
	MaxKeyBits = 1024
)

// CheckKeyBits validates a KeySize taken from a message.
func CheckKeyBits(bits int) error {
	if bits%8 != 0 || bits < MinKeyBits || bits > MaxKeyBits {
		return &BoundError{Field: "KeySize", Value: bits, Min: MinKeyBits, Max: MaxKeyBits, Note: "bits, a multiple of 8"}
	}
	return nil
}

// Combined returns the computed key for combined entropy, the WS-Trust
// CK/PSHA1 algorithm: P_SHA-1 keyed with the requestor's (client's)
// entropy over the issuer's (server's) entropy, truncated to keyBits. WCF
// uses this order; the swapped order yields a key no server accepts.
func Combined(clientEntropy, serverEntropy []byte, keyBits int) ([]byte, error) {
	if err := CheckKeyBits(keyBits); err != nil {
		return nil, err
	}
	if len(clientEntropy) == 0 || len(serverEntropy) == 0 {
		return nil, errors.New("keys: combined key needs both client and server entropy")
	}
	return PSHA1(clientEntropy, serverEntropy, 0, keyBits/8), nil
}

// BoundError reports a parameter outside its allowed range.
type BoundError struct {
	Field    string
	Value    int
	Min, Max int
	Note     string
}

func (e *BoundError) Error() string {
	s := fmt.Sprintf("keys: %s %d is outside [%d, %d]", e.Field, e.Value, e.Min, e.Max)
	if e.Note != "" {
		s += " (" + e.Note + ")"
	}
	return s
}
