package bootstrap

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/wire/secure"
	"github.com/scproxy/scproxy/wire/soap"
)

// Certificate bootstraps with an X.509 certificate over TLS: a
// BinarySecurityToken and an RSA signature over the Timestamp and wsa:To,
// the shape of WCF's certificate-over-transport RST (X.509 Token Profile
// 1.1 §3.1).
type Certificate struct {
	cred secure.Certificate
}

// NewCertificate checks that the key is RSA and belongs to the
// certificate.
func NewCertificate(c secure.Certificate) (*Certificate, error) {
	if c.Cert == nil || c.Key == nil {
		return nil, errors.New("certificate bootstrap: a certificate and its private key are both needed")
	}
	pub, ok := c.Cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("certificate bootstrap: %s has a %s key; WS-Security bootstraps here sign with RSA", subject(c.Cert), c.Cert.PublicKeyAlgorithm)
	}
	if !pub.Equal(c.Key.Public()) {
		return nil, fmt.Errorf("certificate bootstrap: the private key does not belong to %s", subject(c.Cert))
	}
	return &Certificate{cred: c}, nil
}

// Credential returns the certificate and key, for the x509 message
// profile, which signs every message with them.
func (c *Certificate) Credential() secure.Certificate { return c.cred }

// Secure adds the certificate token and the signature.
func (c *Certificate) Secure(_ context.Context, env *soap.Envelope, o secure.Options) ([]byte, error) {
	return secure.WithCertificate(env, c.cred, o)
}

// Kind returns "certificate".
func (c *Certificate) Kind() string { return "certificate" }

// String names the certificate, never the key.
func (c *Certificate) String() string { return "certificate " + subject(c.cred.Cert) }

// GoString is String.
func (c *Certificate) GoString() string { return c.String() }

// LogValue is String.
func (c *Certificate) LogValue() slog.Value { return slog.StringValue(c.String()) }

func subject(cert *x509.Certificate) string {
	return fmt.Sprintf("%q (serial %s)", cert.Subject.String(), cert.SerialNumber)
}

// ErrEncryptedKey is returned by LoadPEM for a private key protected by
// a passphrase, which LoadPKCS12 reads instead.
var ErrEncryptedKey = errors.New("the key is encrypted with a passphrase: put it in a PKCS#12 file (openssl pkcs12 -export)")

// LoadPEM reads a certificate and an unencrypted private key (PKCS#1,
// PKCS#8) from PEM files; both may be the same file. The key's file must
// be readable by its owner only. Keys protected by a passphrase come in
// PKCS#12 files (LoadPKCS12).
func LoadPEM(certFile, keyFile string) (secure.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return secure.Certificate{}, fmt.Errorf("certificate file %s: %w", certFile, pathless(err))
	}
	keySecret, err := creds.File{}.Get(context.Background(), keyFile)
	if err != nil {
		return secure.Certificate{}, fmt.Errorf("key %w", err)
	}
	cert, err := firstCertificate(certPEM)
	if err != nil {
		return secure.Certificate{}, fmt.Errorf("certificate file %s: %w", certFile, err)
	}
	key, err := privateKey([]byte(keySecret.Secret.Reveal()))
	if err != nil {
		return secure.Certificate{}, fmt.Errorf("key file %s: %w", keyFile, err)
	}
	return secure.Certificate{Cert: cert, Key: key}, nil
}

// LoadPKCS12 reads a certificate and its private key from a PKCS#12
// (.p12, .pfx) file protected by passphrase.
func LoadPKCS12(file string, passphrase creds.Secret) (secure.Certificate, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return secure.Certificate{}, fmt.Errorf("PKCS#12 file %s: %w", file, pathless(err))
	}
	key, cert, _, err := pkcs12.DecodeChain(b, passphrase.Reveal())
	if errors.Is(err, pkcs12.ErrIncorrectPassword) {
		return secure.Certificate{}, fmt.Errorf("PKCS#12 file %s: wrong passphrase", file)
	}
	if err != nil {
		return secure.Certificate{}, fmt.Errorf("PKCS#12 file %s: %w", file, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return secure.Certificate{}, fmt.Errorf("PKCS#12 file %s: its key cannot sign", file)
	}
	return secure.Certificate{Cert: cert, Key: signer}, nil
}

func firstCertificate(b []byte) (*x509.Certificate, error) {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return nil, errors.New("no CERTIFICATE block")
		}
		if block.Type == "CERTIFICATE" {
			return x509.ParseCertificate(block.Bytes)
		}
	}
}

// privateKey finds the private key block. Its errors never quote the
// key.
func privateKey(b []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return nil, errors.New("no PRIVATE KEY block")
		}
		switch block.Type {
		case "RSA PRIVATE KEY":
			if _, encrypted := block.Headers["DEK-Info"]; encrypted {
				return nil, ErrEncryptedKey
			}
			k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
			if err != nil {
				return nil, errors.New("the RSA PRIVATE KEY block does not parse")
			}
			return k, nil
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, errors.New("the PRIVATE KEY block does not parse")
			}
			s, ok := k.(crypto.Signer)
			if !ok {
				return nil, errors.New("the key cannot sign")
			}
			return s, nil
		case "ENCRYPTED PRIVATE KEY":
			return nil, ErrEncryptedKey
		}
	}
}

// pathless drops the *PathError's copy of the path the message names.
func pathless(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
