package testkit

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var regenerate = flag.Bool("regenerate-pki", false, "make new keys and certificates for testdata/ (every golden file holding one changes)")

var (
	pkiFrom = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	pkiTo   = time.Date(2099, 12, 31, 23, 59, 59, 0, time.UTC)
)

// TestRegeneratePKI writes the test PKI with -regenerate-pki; without it,
// it does nothing (TestPKI checks the files).
func TestRegeneratePKI(t *testing.T) {
	if !*regenerate {
		t.Skip("run with -regenerate-pki to make new keys")
	}
	rsaKey := func() crypto.Signer {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name string, cert []byte, key crypto.Signer) {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert})
		keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if err := os.WriteFile(filepath.Join("testdata", name+".pem"), certPEM, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("testdata", name+"-key.pem"), keyPEM, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sign := func(tmpl, parent *x509.Certificate, pub crypto.PublicKey, by crypto.Signer) *x509.Certificate {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, by)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ca := func(serial int64, cn string) (*x509.Certificate, crypto.Signer) {
		k := rsaKey()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{Organization: []string{"scproxy tests"}, CommonName: cn},
			NotBefore: pkiFrom, NotAfter: pkiTo, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature}
		return sign(tmpl, tmpl, k.Public(), k), k
	}
	leaf := func(serial int64, cn string, server bool) *x509.Certificate {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{Organization: []string{"scproxy tests"}, CommonName: cn},
			NotBefore: pkiFrom, NotAfter: pkiTo, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		if server {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			tmpl.DNSNames = []string{"localhost"}
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		}
		return tmpl
	}
	caCert, caKey := ca(1, "scproxy test CA")
	write("ca", caCert.Raw, caKey)
	k := rsaKey()
	write("server", sign(leaf(2, "localhost", true), caCert, k.Public(), caKey).Raw, k)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	write("server-ec", sign(leaf(3, "localhost", true), caCert, ec.Public(), caKey).Raw, ec)
	k = rsaKey()
	write("client", sign(leaf(4, "scproxy test client", false), caCert, k.Public(), caKey).Raw, k)
	otherCert, otherKey := ca(5, "scproxy untrusted test CA")
	write("other-ca", otherCert.Raw, otherKey)
	k = rsaKey()
	write("other-client", sign(leaf(6, "scproxy untrusted test client", false), otherCert, k.Public(), otherKey).Raw, k)
}

// TestPKI checks the stored PKI: each leaf chains to its CA for its
// usage and names, and the untrusted client does not chain to CA.
func TestPKI(t *testing.T) {
	at := time.Date(2098, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name  string
		leaf  *Identity
		roots *Identity
		usage x509.ExtKeyUsage
		host  string
	}{
		{"server", Server(), CA(), x509.ExtKeyUsageServerAuth, "127.0.0.1"},
		{"server ::1", Server(), CA(), x509.ExtKeyUsageServerAuth, "::1"},
		{"server localhost", Server(), CA(), x509.ExtKeyUsageServerAuth, "localhost"},
		{"server-ec", ServerEC(), CA(), x509.ExtKeyUsageServerAuth, "127.0.0.1"},
		{"client", Client(), CA(), x509.ExtKeyUsageClientAuth, ""},
		{"other-client", OtherClient(), OtherCA(), x509.ExtKeyUsageClientAuth, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			roots := x509.NewCertPool()
			roots.AddCert(c.roots.Cert)
			opts := x509.VerifyOptions{Roots: roots, DNSName: c.host, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{c.usage}}
			if _, err := c.leaf.Cert.Verify(opts); err != nil {
				t.Fatal(err)
			}
			if _, err := c.leaf.TLS().Leaf.Verify(opts); err != nil {
				t.Fatal(err)
			}
		})
	}
	if _, err := OtherClient().Cert.Verify(x509.VerifyOptions{Roots: Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("the untrusted client chains to CA")
	}
	if _, ok := ServerEC().Key.(*ecdsa.PrivateKey); !ok {
		t.Errorf("ServerEC's key is %T", ServerEC().Key)
	}
	if Client().RSAKey().N.BitLen() != 2048 {
		t.Error("client key is not RSA 2048")
	}
}
