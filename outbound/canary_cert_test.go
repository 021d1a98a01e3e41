package outbound_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/scproxy/scproxy/bootstrap"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/wire/secure"
)

// canaryPKI is a trusted client certificate and one from a CA the server
// does not know, made once.
var canaryPKI = sync.OnceValue(func() (p struct {
	pool            *x509.CertPool
	trusted, stray  secure.Certificate
	trustedKeyBytes []byte
}) {
	mk := func(name string) (*x509.Certificate, *rsa.PrivateKey) {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			panic(err)
		}
		cert, _ := x509.ParseCertificate(der)
		return cert, key
	}
	cert, key := mk("canary client")
	stray, strayKey := mk("stray client")
	p.pool = x509.NewCertPool()
	p.pool.AddCert(cert)
	p.trusted = secure.Certificate{Cert: cert, Key: key}
	p.stray = secure.Certificate{Cert: stray, Key: strayKey}
	p.trustedKeyBytes, _ = x509.MarshalPKCS8PrivateKey(key)
	return p
})

func init() {
	canaryCases = append(canaryCases, canaryCase{
		name:   "certificate",
		server: func(_ *testing.T, c *scserver.Config) { c.TrustedCAs = canaryPKI().pool },
		good:   func(t *testing.T, _ *upstreamRig) session.Bootstrap { return mustCertificate(t, canaryPKI().trusted) },
		bad:    func(t *testing.T, _ *upstreamRig) session.Bootstrap { return mustCertificate(t, canaryPKI().stray) },
		secrets: func(*testing.T, *upstreamRig) [][]byte {
			k := canaryPKI().trusted.Key.(*rsa.PrivateKey)
			return [][]byte{canaryPKI().trustedKeyBytes, k.D.Bytes(), k.Primes[0].Bytes(), []byte(k.D.String())}
		},
	})
}

func mustCertificate(t *testing.T, c secure.Certificate) session.Bootstrap {
	t.Helper()
	b, err := bootstrap.NewCertificate(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
