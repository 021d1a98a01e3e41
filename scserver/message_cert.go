package scserver

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// serviceCertFile is the name of the service certificate's PEM file in
// the certificate directory, for clients of the message-security profile
// (a WCF client takes it from the WSDL).
const serviceCertFile = "service.pem"

// generateServiceCert makes a self-signed RSA service certificate for the
// message-security profile. As for the TLS certificates, the key is a real
// secret and the validity is judged by the wall clock.
func generateServiceCert() (*x509.Certificate, *rsa.PrivateKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, fmt.Errorf("scserver: service key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "scproxy demo service", Organization: []string{"scproxy"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("scserver: service certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// writeServiceCert writes cert as PEM next to the CA certificate.
func writeServiceCert(caFile string, cert *x509.Certificate) (string, error) {
	file := filepath.Join(filepath.Dir(caFile), serviceCertFile)
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644); err != nil {
		return "", fmt.Errorf("scserver: writing the service certificate: %w", err)
	}
	return file, nil
}
