package scserver

import (
	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xenc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// A Renew in the message-security profile comes in one of two shapes.
// Protected by the context alone (DKTs of its key), it is opened as any
// steady-state message. As WCF's client sends it, it comes
// under the bootstrap binding (a fresh key for the service certificate,
// the bootstrap credential), the context's SCT included and endorsing
// the primary signature with its current key (WS-SecurityPolicy 1.2 §8.3
// EndorsingSupportingTokens); the answer is keyed by the Renew's fresh
// key and confirms every signature, as the bootstrap leg's. One under the
// bootstrap binding without the endorsement (the SCT only in its
// RenewTarget) is refused: it proves no possession of the context, and
// under the anonymous binding anyone who saw the context's Identifier
// could take it over.

// carriesBootstrapToken reports whether a Security header carries what
// keys a message under the bootstrap binding: an EncryptedKey, or the
// client's certificate.
func carriesBootstrapToken(sec *etree.Element) bool {
	for _, el := range sec.ChildElements() {
		if xmldoc.Is(el, xenc.NameEncryptedKey) || xmldoc.Is(el, wss.NameBinarySecurityToken) {
			return true
		}
	}
	return false
}

// endorsedRenew accepts a request opened under the bootstrap binding
// when it is a Renew endorsed by a context this server holds: the
// bootstrap credential is checked as for an Issue (and must be the one
// the context was issued to, see renew), and the endorsing context is
// the one whose possession the Renew proves (its Identifier must be the
// RenewTarget's, see proofOfPossession).
func (s *Server) endorsedRenew(req *request, m *messageRequest, v wssc.Version) *rejection {
	o := m.opened
	if req.action != v.Action(wssc.Renew) || o.EndorsedBy == nil {
		return reject(codeInvalidSecurity, "in the message-security profile only an Issue may be protected by anything but a security context, and a Renew endorsed by the context it renews")
	}
	// Verifying the endorsement looked the context up (contextKeys),
	// which recorded it and its current key; the key that endorsed is
	// that one.
	if m.verified == nil || m.verified.Identifier != o.EndorsedBy.Identifier {
		return reject(codeInvalidSecurity, "the Renew is endorsed by context %q, which this server did not look up", o.EndorsedBy.Identifier)
	}
	m.verified.PreviousKey = false
	if rej := s.authenticateMessage(req, m); rej != nil {
		return rej.about(o.EndorsedBy.Identifier)
	}
	return nil
}
