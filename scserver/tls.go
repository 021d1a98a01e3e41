package scserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// certValidity is how long the generated certificates are valid. They are
// made fresh at every start, so a short life costs nothing.
const certValidity = 7 * 24 * time.Hour

// serverCerts are a generated CA and the leaf it signed for the listener.
type serverCerts struct {
	caPEM []byte
	pool  *x509.CertPool
	leaf  tls.Certificate
}

// generateCerts makes a CA and a TLS server certificate for 127.0.0.1, ::1,
// localhost and any extra host names or addresses. Certificates use the
// wall clock and crypto/rand whatever the configured clock and randomness:
// TLS peers check them against the real time, and their keys must be real
// secrets even in a test.
func generateCerts(hosts []string) (*serverCerts, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "scproxy demo server CA", Organization: []string{"scproxy"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("scserver: CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "localhost", Organization: []string{"scproxy"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			leafTmpl.IPAddresses = append(leafTmpl.IPAddresses, ip)
		} else if h != "" && h != "localhost" {
			leafTmpl.DNSNames = append(leafTmpl.DNSNames, h)
		}
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("scserver: server certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &serverCerts{
		caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pool:  pool,
		leaf:  tls.Certificate{Certificate: [][]byte{leafDER, caDER}, PrivateKey: leafKey},
	}, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return big.NewInt(time.Now().UnixNano())
	}
	return n
}

// writeCA writes the CA certificate as ca.pem in dir, creating a temporary
// directory when dir is empty; it returns the file and the directory it
// created ("" when dir was given).
func writeCA(dir string, pemBytes []byte) (file, created string, err error) {
	if dir == "" {
		if dir, err = os.MkdirTemp("", "scserver-"); err != nil {
			return "", "", fmt.Errorf("scserver: %w", err)
		}
		created = dir
	} else if err := os.MkdirAll(dir, 0o755); err != nil { // a newcomer names a directory to be
		return "", "", fmt.Errorf("scserver: the certificate directory: %w", err)
	}
	file = filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(file, pemBytes, 0o644); err != nil {
		return "", created, fmt.Errorf("scserver: writing the CA certificate: %w", err)
	}
	return file, created, nil
}
