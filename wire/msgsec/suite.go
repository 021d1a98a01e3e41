package msgsec

import (
	"fmt"
	"strings"

	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/xenc"
)

// Suite is a WS-SecurityPolicy 1.2 algorithm suite (§6.1) with the
// derived key lengths WCF's SecurityAlgorithmSuite uses.
type Suite struct {
	Name string
	// Encryption is the block encryption algorithm (xenc.AES256CBC...).
	Encryption string
	// KeyWrap is the key transport (xenc.RSAOAEPMGF1P, or xenc.RSA15 for
	// the Rsa15 suites).
	KeyWrap string
	// Digest is the reference digest (dsig.SHA1 or dsig.SHA256).
	Digest string
	// SignatureMethod is the symmetric signature: dsig.HMACSHA1 in every
	// suite, as WS-SecurityPolicy says. WCF signs Basic256Sha256 with
	// HMAC-SHA256: Config.SignatureMethod overrides it.
	SignatureMethod string
	// AsymmetricSignature is the RSA signature of the asymmetric binding.
	AsymmetricSignature string
	// SignatureKeyLength and EncryptionKeyLength are the Lengths, in
	// bytes, of the signing and encryption DerivedKeyTokens.
	SignatureKeyLength  int
	EncryptionKeyLength int
}

// KeyLength is the length in bytes of a fresh symmetric key for the
// suite (the key an EncryptedKey carries): the encryption key size.
func (s Suite) KeyLength() int {
	n, _ := xenc.KeySize(s.Encryption)
	return n
}

type suiteBase struct {
	name     string
	enc      string
	sig, dec int
}

var suiteBases = []suiteBase{
	{"Basic256", xenc.AES256CBC, 24, 32},
	{"Basic192", xenc.AES192CBC, 24, 24},
	{"Basic128", xenc.AES128CBC, 16, 16},
	{"TripleDes", xenc.TripleDESCBC, 24, 24},
}

// Suites returns every suite of WS-SecurityPolicy 1.2 §6.1: each base
// (Basic256, Basic192, Basic128, TripleDes) with SHA-1 or SHA-256
// digests and RSA-OAEP or RSA 1.5 key transport.
func Suites() []Suite {
	var out []Suite
	for _, b := range suiteBases {
		for _, sha256 := range []bool{false, true} {
			for _, rsa15 := range []bool{false, true} {
				out = append(out, newSuite(b, sha256, rsa15))
			}
		}
	}
	return out
}

func newSuite(b suiteBase, sha256, rsa15 bool) Suite {
	s := Suite{
		Name: b.name, Encryption: b.enc, KeyWrap: xenc.RSAOAEPMGF1P,
		Digest: dsig.SHA1, SignatureMethod: dsig.HMACSHA1, AsymmetricSignature: dsig.RSASHA1,
		SignatureKeyLength: b.sig, EncryptionKeyLength: b.dec,
	}
	if sha256 {
		s.Name += "Sha256"
		s.Digest, s.AsymmetricSignature = dsig.SHA256, dsig.RSASHA256
	}
	if rsa15 {
		s.Name += "Rsa15"
		s.KeyWrap = xenc.RSA15
	}
	return s
}

// Basic256 is WCF's default suite.
var Basic256 = newSuite(suiteBases[0], false, false)

// SuiteByName returns the suite named as in WS-SecurityPolicy and WCF
// (Basic256, Basic128Sha256Rsa15...), ignoring case.
func SuiteByName(name string) (Suite, error) {
	for _, s := range Suites() {
		if strings.EqualFold(s.Name, name) {
			return s, nil
		}
	}
	return Suite{}, fmt.Errorf("msgsec: unknown algorithm suite %q", name)
}

// Order is the protection order (WS-SecurityPolicy 1.2 §6.3, WCF's
// MessageProtectionOrder). The zero value is WCF's default.
type Order int

// The protection orders.
const (
	// SignBeforeEncryptAndEncryptSignature signs, then encrypts the Body
	// content and the Signature itself (WCF's default).
	SignBeforeEncryptAndEncryptSignature Order = iota
	// SignBeforeEncrypt signs, then encrypts the Body content; the
	// Signature stays in clear.
	SignBeforeEncrypt
	// EncryptBeforeSign encrypts the Body content, then signs, the Body
	// reference covering the EncryptedData.
	EncryptBeforeSign
)

var orderNames = []string{"SignBeforeEncryptAndEncryptSignature", "SignBeforeEncrypt", "EncryptBeforeSign"}

// String returns WCF's name of the order.
func (o Order) String() string {
	if o < 0 || int(o) >= len(orderNames) {
		return fmt.Sprintf("Order(%d)", int(o))
	}
	return orderNames[o]
}

// ParseOrder reads an order by its WCF name, ignoring case.
func ParseOrder(name string) (Order, error) {
	for i, n := range orderNames {
		if strings.EqualFold(n, name) {
			return Order(i), nil
		}
	}
	return 0, fmt.Errorf("msgsec: unknown protection order %q (want one of %s)", name, strings.Join(orderNames, ", "))
}

// encryptsSignature reports whether the Signature is encrypted.
func (o Order) encryptsSignature() bool { return o == SignBeforeEncryptAndEncryptSignature }

// Role is the side of the exchange a Profile is on.
type Role int

// The roles.
const (
	// Client protects requests and opens responses.
	Client Role = iota + 1
	// Server opens requests and protects responses.
	Server
)

// String names the role.
func (r Role) String() string {
	switch r {
	case Client:
		return "client"
	case Server:
		return "server"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}
