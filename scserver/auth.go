package scserver

import (
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// authenticate checks the bootstrap credential of an Issue request: a
// UsernameToken of a configured user (UsernameToken Profile 1.1, over
// TLS), or an RSA signature over the Timestamp by a certificate that
// chains to a trusted CA (X.509 Token Profile 1.1). Either way the
// Security header needs a fresh Timestamp. It returns who authenticated,
// for the log. In a Renew, endorsing is the context's signature, which
// is not the bootstrap's; nil in an Issue.
func (s *Server) authenticate(req *request, v wssc.Version, endorsing *etree.Element) (string, *rejection) {
	if req.msg != nil {
		// Opening the message authenticated it (openMessage).
		return req.msg.principal, nil
	}
	sec, rej := securityHeader(req.env)
	if rej != nil {
		return "", rej
	}
	uts := xmldoc.Children(sec, wss.NameUsernameToken)
	switch {
	case len(uts) > 1:
		return "", reject(codeInvalidSecurity, "the Security header holds %d UsernameTokens", len(uts))
	case len(uts) == 1:
		return s.checkUsername(sec, uts[0], req.now)
	case hasKerberosToken(sec):
		return s.checkKerberos(req.env.Root, sec, v, req.now, endorsing)
	case hasAssertion(sec):
		return s.checkIssuedToken(req.env.Root, sec, v, req.now, endorsing)
	case len(xmldoc.Children(sec, wss.NameBinarySecurityToken)) > 0:
		return s.checkCertificate(req.env.Root, sec, v, req.now, endorsing)
	}
	if endorsing != nil {
		return "", reject(codeInvalidSecurity, "the Renew request carries no bootstrap credential: renewing takes the credential the context was issued to (a UsernameToken, or an X.509, SAML or Kerberos signature) as well as the context's endorsing signature")
	}
	return "", reject(codeInvalidSecurity, "the Issue request carries neither a UsernameToken nor an X.509 signature")
}

// bootstrapSignature returns the one Signature of sec other than
// endorsing (see authenticate).
func bootstrapSignature(sec, endorsing *etree.Element) (*etree.Element, *rejection) {
	var sigs []*etree.Element
	for _, sig := range xmldoc.Children(sec, nameSignature) {
		if sig != endorsing {
			sigs = append(sigs, sig)
		}
	}
	if len(sigs) != 1 {
		return nil, reject(codeInvalidSecurity, "the Security header needs exactly one Signature by the bootstrap credential, besides any context's endorsing one; it holds %d", len(sigs))
	}
	return sigs[0], nil
}

// checkUsername verifies a UsernameToken. The reason never says whether
// the user or the password was wrong, nor repeats the password.
func (s *Server) checkUsername(sec, el *etree.Element, now time.Time) (string, *rejection) {
	if len(s.cfg.Users) == 0 {
		return "", reject(codeFailedAuthentication, "user name authentication is not enabled on this server")
	}
	ut, err := wss.ParseUsernameToken(el)
	if err != nil {
		return "", reject(codeInvalidSecurityToken, "the UsernameToken is malformed: %v", err)
	}
	principal, rej := s.checkUsernameToken(ut, now)
	if rej != nil {
		return "", rej
	}
	if _, rej := s.timestampIn(sec, nil, now); rej != nil {
		return "", rej
	}
	return principal, nil
}

// checkUsernameToken verifies a parsed UsernameToken against Users: the
// password, and the age of a digest's Created.
func (s *Server) checkUsernameToken(ut *wss.UsernameToken, now time.Time) (string, *rejection) {
	if ut.PasswordType == wss.PasswordDigest {
		created, _ := ut.CreatedTime()
		if d := now.Sub(created).Abs(); d > s.cfg.Skew+s.cfg.TimestampValidity {
			return "", reject(codeMessageExpired, "the UsernameToken was created %s away from now", d)
		}
	}
	password, known := s.cfg.Users[ut.Username]
	if err := ut.Verify(password); err != nil || !known {
		return "", reject(codeFailedAuthentication, "authentication failed for user %q", ut.Username)
	}
	return "user:" + ut.Username, nil
}

// checkCertificate verifies the bootstrap signature: one Signature whose
// KeyInfo references a BinarySecurityToken of the same header, a
// certificate that chains to TrustedCAs at now, and a signed, fresh
// Timestamp. endorsing is as in authenticate.
func (s *Server) checkCertificate(root, sec *etree.Element, v wssc.Version, now time.Time, endorsing *etree.Element) (string, *rejection) {
	if s.cfg.TrustedCAs == nil {
		return "", reject(codeFailedAuthentication, "X.509 authentication is not enabled on this server")
	}
	sig, rej := bootstrapSignature(sec, endorsing)
	if rej != nil {
		return "", rej
	}
	var cert *x509.Certificate
	resolve := func(keyInfo *etree.Element, method string) (dsig.VerifyingKey, error) {
		c, err := s.certificateOf(sec, keyInfo, now)
		if err != nil {
			return nil, err
		}
		pub, ok := c.PublicKey.(*rsa.PublicKey)
		if !ok {
			return nil, &keyError{fmt.Errorf("the certificate's key is a %T, not RSA", c.PublicKey)}
		}
		k, err := dsig.RSAVerifyingKey(method, pub)
		if err != nil {
			return nil, &keyError{err}
		}
		cert = c
		return k, nil
	}
	signed, err := dsig.Verify(root, sig, resolve, dsig.DefaultPolicy)
	if err != nil {
		return "", signatureRejection(err, v)
	}
	if _, rej := s.timestampIn(sec, signed, now); rej != nil {
		return "", rej
	}
	return "x509:" + cert.Subject.String(), nil
}

// certificateOf resolves a KeyInfo to the certificate of a
// BinarySecurityToken in sec and checks that it is trusted.
func (s *Server) certificateOf(sec, keyInfo *etree.Element, now time.Time) (*x509.Certificate, error) {
	if keyInfo == nil {
		return nil, &keyError{errors.New("the signature has no KeyInfo")}
	}
	strEl, err := xmldoc.One(keyInfo, wss.NameSecurityTokenReference)
	if err != nil {
		return nil, &keyError{err}
	}
	str, err := wss.ParseSTR(strEl)
	if err != nil {
		return nil, &keyError{err}
	}
	if str.Reference == nil || !str.Reference.Local() {
		return nil, &keyError{errors.New("the key reference does not point to a token in the message")}
	}
	var found []*etree.Element
	for _, c := range sec.ChildElements() {
		if id, ok := wss.ID(c); ok && id == str.Reference.Target() {
			found = append(found, c)
		}
	}
	if len(found) != 1 {
		return nil, &keyError{fmt.Errorf("the key reference %q matches %d tokens of the Security header", str.Reference.URI, len(found))}
	}
	cert, err := wss.ParseX509Token(found[0])
	if err != nil {
		return nil, &keyError{err}
	}
	opts := x509.VerifyOptions{Roots: s.cfg.TrustedCAs, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	if _, err := cert.Verify(opts); err != nil {
		return nil, &authError{err}
	}
	return cert, nil
}
