package testkit

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"embed"
	"encoding/pem"
	"fmt"
	"sync"
	"testing"
)

// The PEM files of the test PKI, made once by TestRegeneratePKI
// (go test ./internal/testkit -run TestRegeneratePKI -regenerate-pki) and
// valid from 2020 until the end of 2099.
//
//go:embed testdata/*.pem
var pkiFiles embed.FS

// Identity is a certificate and its private key.
type Identity struct {
	Cert *x509.Certificate
	// Key is the certificate's private key: an *rsa.PrivateKey, or an
	// *ecdsa.PrivateKey for ServerEC.
	Key     crypto.Signer
	CertPEM []byte
	KeyPEM  []byte
}

// RSAKey returns the identity's key as an RSA key; it panics for an
// ECDSA identity.
func (id *Identity) RSAKey() *rsa.PrivateKey { return id.Key.(*rsa.PrivateKey) }

// TLS returns the identity as a tls.Certificate.
func (id *Identity) TLS() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{id.Cert.Raw}, PrivateKey: id.Key, Leaf: id.Cert}
}

// The identities of the test PKI. CA signed Server, ServerEC and Client;
// OtherCA, which no test trusts, signed OtherClient.
var (
	// CA is the test certificate authority (RSA 2048).
	CA = loadIdentity("ca")
	// Server is a server certificate for 127.0.0.1, ::1 and localhost
	// (RSA 2048), signed by CA.
	Server = loadIdentity("server")
	// ServerEC is Server's ECDSA P-256 twin.
	ServerEC = loadIdentity("server-ec")
	// Client is a client certificate (RSA 2048, digital signature and
	// client authentication), signed by CA.
	Client = loadIdentity("client")
	// OtherCA is a second authority that no test trusts.
	OtherCA = loadIdentity("other-ca")
	// OtherClient is a client certificate signed by OtherCA.
	OtherClient = loadIdentity("other-client")
)

// loadIdentity returns a function giving the identity stored as
// testdata/<name>.pem and testdata/<name>-key.pem, parsed once.
func loadIdentity(name string) func() *Identity {
	return sync.OnceValue(func() *Identity {
		certPEM, err := pkiFiles.ReadFile("testdata/" + name + ".pem")
		if err != nil {
			panic(err)
		}
		keyPEM, err := pkiFiles.ReadFile("testdata/" + name + "-key.pem")
		if err != nil {
			panic(err)
		}
		id, err := parseIdentity(certPEM, keyPEM)
		if err != nil {
			panic(fmt.Sprintf("testkit: %s: %v", name, err))
		}
		return id
	})
}

func parseIdentity(certPEM, keyPEM []byte) (*Identity, error) {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, fmt.Errorf("no PEM block")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, err
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key of type %T", k)
	}
	return &Identity{Cert: cert, Key: signer, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

// Pool returns a new pool holding CA alone.
func Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(CA().Cert)
	return p
}

// Issue signs tmpl for pub with parent's key (CA() when parent is nil)
// and returns the certificate: a test's odd certificate (expired, for
// another host, of another usage) made without generating a key. A nil
// pub certifies Client's key.
func Issue(t testing.TB, parent *Identity, tmpl *x509.Certificate, pub crypto.PublicKey) *x509.Certificate {
	t.Helper()
	if parent == nil {
		parent = CA()
	}
	if pub == nil {
		pub = Client().Key.Public()
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent.Cert, pub, parent.Key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// SelfSign returns tmpl signed by key for key's public half.
func SelfSign(t testing.TB, tmpl *x509.Certificate, key crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// PEM returns cert PEM-encoded.
func PEM(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
}
