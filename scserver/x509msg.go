package scserver

import (
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// certificateSigned reports whether env is secured with an X.509
// certificate rather than a security context: its Security header holds a
// BinarySecurityToken and no SecurityContextToken or DerivedKeyToken of
// either WS-SecureConversation version (WCF's CertificateOverTransport,
// scproxy's x509 profile). A header that cannot be told apart is left to
// the context checks, which refuse it with the precise fault.
func certificateSigned(env *soap.Envelope) bool {
	if env.Header == nil {
		return false
	}
	sec, err := wss.FindSecurity(env.Header)
	if err != nil || len(xmldoc.Children(sec, wss.NameBinarySecurityToken)) == 0 {
		return false
	}
	for _, c := range sec.ChildElements() {
		if c.Tag != "SecurityContextToken" && c.Tag != "DerivedKeyToken" {
			continue
		}
		if _, ok := wssc.VersionOf(c.NamespaceURI()); ok {
			return false
		}
	}
	return true
}

// verifyCertificateMessage checks an application message signed with an
// X.509 certificate as an Issue bootstrap is checked (checkCertificate):
// one Signature by the key of a BinarySecurityToken in the header, a
// certificate that chains to TrustedCAs, a signed and fresh Timestamp. No
// context is involved, so the fault script's RenewNeeded does not apply;
// the message counts in Stats.Verified and in no context's counters.
func (s *Server) verifyCertificateMessage(req *request) (*Verified, *rejection) {
	sec, rej := securityHeader(req.env)
	if rej != nil {
		return nil, rej
	}
	// The version only shapes faults about contexts, which a certificate
	// signature cannot cause.
	principal, rej := s.checkCertificate(req.env.Root, sec, s.cfg.Versions[0], req.now, nil)
	if rej != nil {
		return nil, rej
	}
	req.principal = principal
	s.stats.update("", func(st *Stats, _ *ContextStats) { st.Verified++ })
	return &Verified{Principal: principal}, nil
}
