package cli

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"maps"
	"math/big"
	"net/url"
	"slices"
	"time"

	"github.com/scproxy/scproxy/bootstrap"
	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/session"
	stsclient "github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/secure"
	"github.com/scproxy/scproxy/wire/wssc"
)

// demoCredential is the bootstrap the demo's proxy uses and what the trace
// says about it.
type demoCredential struct {
	bootstrap session.Bootstrap
	about     string
	// connect, when set, makes the bootstrap once the service runs.
	connect func(srv *scserver.Server, svc *url.URL, v wssc.Version) (session.Bootstrap, error)
}

// demoBootstraps set up the built-in service to accept a bootstrap and
// return the proxy's credential for it.
var demoBootstraps = map[string]func(*scserver.Config) (demoCredential, error){
	"username":     demoUsername,
	"certificate":  demoCertificate,
	"issued-token": demoIssuedToken,
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
	return demoCredential{bootstrap: session.Username{User: demoUser, Password: creds.NewSecret(password)}, about: fmt.Sprintf("user %q, UsernameToken over TLS", demoUser)}, nil
}

func demoCertificate(cfg *scserver.Config) (demoCredential, error) {
	cert, err := demoClientCertificate(cfg)
	if err != nil {
		return demoCredential{}, err
	}
	b, err := bootstrap.NewCertificate(cert)
	if err != nil {
		return demoCredential{}, err
	}
	return demoCredential{bootstrap: b, about: fmt.Sprintf("certificate %q, X.509 signature over TLS", cert.Cert.Subject.CommonName)}, nil
}

// demoClientCertificate makes a CA the service trusts and a client
// certificate it signed, both in memory.
func demoClientCertificate(cfg *scserver.Config) (secure.Certificate, error) {
	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return secure.Certificate{}, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "scproxy demo client CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return secure.Certificate{}, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return secure.Certificate{}, err
	}
	// The client reuses the CA's key: making RSA keys is the slow part.
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "legacy app"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return secure.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(leafDER)
	if err != nil {
		return secure.Certificate{}, err
	}
	cfg.TrustedCAs = x509.NewCertPool()
	cfg.TrustedCAs.AddCert(ca)
	return secure.Certificate{Cert: leaf, Key: caKey}, nil
}

// demoIssuedToken has the service issue SAML tokens too: the proxy first
// gets one with the demo user's password, then establishes the context
// with the token and its proof key.
func demoIssuedToken(cfg *scserver.Config) (demoCredential, error) {
	user, err := demoUsername(cfg)
	if err != nil {
		return demoCredential{}, err
	}
	cfg.IssueTokens = true
	password := user.bootstrap.(session.Username).Password
	connect := func(srv *scserver.Server, svc *url.URL, v wssc.Version) (session.Bootstrap, error) {
		return bootstrap.NewIssuedTokenFromSTS(bootstrap.TokenSTS{
			URL: svc, Version: v, Username: demoUser, Password: password, AppliesTo: svc.String(),
			Client: stsclient.New(stsclient.Config{RootCAs: srv.CertPool()}),
		})
	}
	return demoCredential{about: fmt.Sprintf("SAML 2.0 token issued by the service to user %q, proof key over TLS", demoUser), connect: connect}, nil
}

// demoMessageBootstraps set up the built-in service for the
// message-security profile (WCF's defaults: Basic256, the signature
// encrypted, derived keys) with one bootstrap, and return the proxy's
// credential for it, made once the service's certificate exists.
var demoMessageBootstraps = map[string]func(*scserver.Config) (demoCredential, error){
	"anonymous": demoMessageAnonymous,
	"username":  demoMessageUsername,
	"mutual":    demoMessageMutual(scserver.BootstrapMutual, bootstrap.MutualCertificate, "endorsing the Issue (MutualCertificate)"),
	"mutual10":  demoMessageMutual(scserver.BootstrapMutual10, bootstrap.MutualCertificate10, "signing the Issue, asymmetric binding (MutualCertificate10)"),
}

func demoMessageBootstrapNames() []string { return slices.Sorted(maps.Keys(demoMessageBootstraps)) }

// demoMessage turns on the profile with boot and returns the credential
// of kind, completed by cred (the user name and password, or nothing).
func demoMessage(cfg *scserver.Config, boot scserver.MessageBootstrap, kind bootstrap.MessageKind, about string, cred func(*bootstrap.MessageConfig)) demoCredential {
	cfg.Message = &scserver.MessageSecurity{DerivedKeys: true, Bootstraps: []scserver.MessageBootstrap{boot}}
	connect := func(srv *scserver.Server, _ *url.URL, v wssc.Version) (session.Bootstrap, error) {
		cert, _ := srv.ServiceCertificate()
		m := srv.MessageSettings()
		c := bootstrap.MessageConfig{Kind: kind, ServerCert: cert, Version: v, Suite: m.Suite, Order: m.Order, DerivedKeys: m.DerivedKeys}
		cred(&c)
		return bootstrap.NewMessage(c)
	}
	return demoCredential{about: about, connect: connect}
}

func demoMessageAnonymous(cfg *scserver.Config) (demoCredential, error) {
	return demoMessage(cfg, scserver.BootstrapAnonymous, bootstrap.AnonymousForCertificate,
		"anonymous, the Issue encrypted for the service certificate (AnonymousForCertificate)", func(*bootstrap.MessageConfig) {}), nil
}

func demoMessageUsername(cfg *scserver.Config) (demoCredential, error) {
	user, err := demoUsername(cfg)
	if err != nil {
		return demoCredential{}, err
	}
	u := user.bootstrap.(session.Username)
	return demoMessage(cfg, scserver.BootstrapUsername, bootstrap.UserNameForCertificate,
		fmt.Sprintf("user %q, UsernameToken encrypted for the service certificate (UserNameForCertificate)", demoUser),
		func(c *bootstrap.MessageConfig) { c.User, c.Password = u.User, u.Password }), nil
}

// demoMessageMutual returns the setup of a certificate bootstrap: the
// service trusts a CA and the proxy has a client certificate it signed.
func demoMessageMutual(boot scserver.MessageBootstrap, kind bootstrap.MessageKind, how string) func(*scserver.Config) (demoCredential, error) {
	return func(cfg *scserver.Config) (demoCredential, error) {
		cert, err := demoClientCertificate(cfg)
		if err != nil {
			return demoCredential{}, err
		}
		return demoMessage(cfg, boot, kind, fmt.Sprintf("certificate %q %s", cert.Cert.Subject.CommonName, how),
			func(c *bootstrap.MessageConfig) { c.Client = &cert }), nil
	}
}
