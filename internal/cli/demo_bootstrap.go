package cli

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"

	"github.com/scproxy/scproxy/bootstrap"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/wire/secure"
)

// demoCredential is the bootstrap the demo's proxy uses and what the trace
// says about it.
type demoCredential struct {
	bootstrap session.Bootstrap
	about     string
}

// demoBootstraps set up the built-in service to accept a bootstrap and
// return the proxy's credential for it.
var demoBootstraps = map[string]func(*scserver.Config) (demoCredential, error){
	"username":    demoUsername,
	"certificate": demoCertificate,
}

func demoBootstrapNames() []string {
	names := []string{"username", "certificate"}
	for _, n := range []string{"issued-token", "kerberos"} {
		if _, ok := demoBootstraps[n]; ok {
			names = append(names, n)
		}
	}
	return names
}

func demoUsername(cfg *scserver.Config) (demoCredential, error) {
	password, err := demoPassword()
	if err != nil {
		return demoCredential{}, err
	}
	cfg.Users = map[string]string{demoUser: password}
	return demoCredential{session.Username{User: demoUser, Password: password}, fmt.Sprintf("user %q, UsernameToken over TLS", demoUser)}, nil
}

// demoCertificate makes a CA the service trusts and a client certificate
// it signed, both in memory.
func demoCertificate(cfg *scserver.Config) (demoCredential, error) {
	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return demoCredential{}, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "scproxy demo client CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return demoCredential{}, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return demoCredential{}, err
	}
	// The client reuses the CA's key: making RSA keys is the slow part.
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "legacy app"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return demoCredential{}, err
	}
	leaf, err := x509.ParseCertificate(leafDER)
	if err != nil {
		return demoCredential{}, err
	}
	cfg.TrustedCAs = x509.NewCertPool()
	cfg.TrustedCAs.AddCert(ca)
	b, err := bootstrap.NewCertificate(secure.Certificate{Cert: leaf, Key: caKey})
	if err != nil {
		return demoCredential{}, err
	}
	return demoCredential{b, fmt.Sprintf("certificate %q, X.509 signature over TLS", leaf.Subject.CommonName)}, nil
}
