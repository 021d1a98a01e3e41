package outbound_test

import (
	"crypto/rsa"
	"crypto/x509"
	"sync"
	"testing"

	"github.com/scproxy/scproxy/bootstrap"
	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/wire/secure"
)

// canaryPKI is the kit's trusted client certificate and its client
// certificate from a CA the server does not know.
var canaryPKI = sync.OnceValue(func() (p struct {
	pool            *x509.CertPool
	trusted, stray  secure.Certificate
	trustedKeyBytes []byte
}) {
	p.pool = testkit.Pool()
	p.trusted = secure.Certificate{Cert: testkit.Client().Cert, Key: testkit.Client().RSAKey()}
	p.stray = secure.Certificate{Cert: testkit.OtherClient().Cert, Key: testkit.OtherClient().RSAKey()}
	p.trustedKeyBytes, _ = x509.MarshalPKCS8PrivateKey(testkit.Client().Key)
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
