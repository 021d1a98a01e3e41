package scserver

import (
	"errors"
	"slices"
	"time"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/secure"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// Verified describes a message whose signature was made with a security
// context the server holds.
type Verified struct {
	// Identifier is the context whose key verified the signature.
	Identifier string
	Version    wssc.Version
	// PreviousKey is set when the key a renewal replaced verified it,
	// within the rollover period.
	PreviousKey bool
	// Signature is what dsig verified: the exact signed nodes.
	Signature *dsig.Verified
	// Timestamp is the checked Timestamp; nil from VerifySignature.
	Timestamp *wss.Timestamp
	// Principal names the certificate of a message signed with X.509
	// instead of a context ("x509:" and its subject); Identifier,
	// Signature and Timestamp are then unset.
	Principal string

	key []byte // the key that verified, to detect a concurrent renewal
}

// endorsing is the context's signature of a Renew, which the bootstrap
// credential's is not; nil when no dsig signature was checked (the
// message-security profile opens messages as a whole).
func (v *Verified) endorsing() *etree.Element {
	if v.Signature == nil {
		return nil
	}
	return v.Signature.Signature
}

var nameSignature = xmldoc.Name{Space: dsig.NS, Local: "Signature"}

// VerifySignature checks the signature of env's Security header against
// the contexts the server holds: one Signature, its key the key of a
// context (referenced directly, WCF's way, or through a DerivedKeyToken,
// WSS4J's way), the context known, unexpired and not cancelled, and the
// previous key accepted during the rollover period. It does not look at
// the Timestamp and changes no counter; VerifyMessage adds the Timestamp
// checks. A refusal is an error that unwraps to the *soap.Fault the server
// would answer with.
func (s *Server) VerifySignature(env *soap.Envelope) (*Verified, error) {
	ver, rej := s.verifyContext(env, s.cfg.Now(), true, false)
	if rej != nil {
		return nil, rej
	}
	return ver, nil
}

// VerifyMessage checks env's security as the service does for every
// application message: VerifySignature, and exactly one Timestamp, covered
// by the signature, and fresh: not expired, not created in the future nor
// longer ago than TimestampValidity, each within the configured skew.
func (s *Server) VerifyMessage(env *soap.Envelope) (*Verified, error) {
	now := s.cfg.Now()
	ver, rej := s.verifyContext(env, now, true, false)
	if rej == nil {
		ver.Timestamp, rej = s.checkTimestamp(ver.Signature, now)
	}
	if rej != nil {
		return nil, rej
	}
	return ver, nil
}

// securityHeader returns the one Security header of env.
func securityHeader(env *soap.Envelope) (*etree.Element, *rejection) {
	if env.Header == nil {
		return nil, reject(codeInvalidSecurity, "the message has no SOAP Header, so no Security header")
	}
	sec, err := wss.FindSecurity(env.Header)
	if err != nil {
		return nil, reject(codeInvalidSecurity, "the message needs exactly one Security header: %v", err)
	}
	return sec, nil
}

// verifyContext checks the context signature of env at now, trying the
// previous key of the context when allowPrevious and the current one
// fails. The context signature is the header's only Signature, or, when
// endorsing (a Renew, which also carries the bootstrap's), its last one:
// an endorsing signature follows the token it endorses.
func (s *Server) verifyContext(env *soap.Envelope, now time.Time, allowPrevious, endorsing bool) (*Verified, *rejection) {
	sec, rej := securityHeader(env)
	if rej != nil {
		return nil, rej
	}
	v, pinned, rej := s.contextVersion(sec)
	if rej != nil {
		return nil, rej
	}
	s.restoreCookies(sec, v, now)
	sig, rej := contextSignature(sec, endorsing)
	if rej != nil {
		return nil, rej
	}
	ver, err := s.verifyWithKey(env.Root, sec, sig, v, pinned, now, false)
	if err != nil && allowPrevious && errors.Is(err, dsig.ErrBadSignature) {
		// During a rollover the key a renewal replaced still verifies.
		var prevErr error
		if ver, prevErr = s.verifyWithKey(env.Root, sec, sig, v, pinned, now, true); !errors.Is(prevErr, errNoPrevious) {
			err = prevErr
		}
	}
	if err != nil {
		if ver != nil {
			v = ver.Version // the context's own, when the header pinned none
		}
		rej := signatureRejection(err, v)
		if ver != nil && rej.context == "" {
			rej.context = ver.Identifier
		}
		return nil, rej
	}
	return ver, nil
}

// contextSignature returns the Signature verifyContext checks.
func contextSignature(sec *etree.Element, endorsing bool) (*etree.Element, *rejection) {
	if !endorsing {
		sig, err := xmldoc.One(sec, nameSignature)
		if err != nil {
			return nil, reject(codeInvalidSecurity, "the Security header needs exactly one Signature: %v", err)
		}
		return sig, nil
	}
	sigs := xmldoc.Children(sec, nameSignature)
	if len(sigs) == 0 {
		return nil, reject(codeInvalidSecurity, "the Security header holds no Signature: a Renew must be endorsed by the context it renews")
	}
	return sigs[len(sigs)-1], nil
}

var errNoPrevious = errors.New("no previous key in its rollover period")

// verifyWithKey runs dsig.Verify with the context's current key, or its
// previous one. Tokens in the header are read as version v; when pinned,
// the context must be of that version too. On failure the returned
// Verified, when not nil, still names the context the signature pointed
// at.
func (s *Server) verifyWithKey(root, sec, sig *etree.Element, v wssc.Version, pinned bool, now time.Time, previous bool) (*Verified, error) {
	out := &Verified{Version: v, PreviousKey: previous}
	found := false
	keysFor := func(id string) ([]byte, error) {
		out.Identifier, found = id, true
		sess, err := s.store.get(id, now)
		if err != nil {
			return nil, err
		}
		if !pinned {
			out.Version = sess.Version
		}
		if sess.Version != v && pinned {
			return nil, &ContextError{Identifier: id, Reason: "was issued for WS-SecureConversation " + sess.Version.String() + ", not " + v.String()}
		}
		out.key = sess.Key
		if previous {
			if sess.PrevKey == nil || !now.Before(sess.PrevUntil) {
				return nil, errNoPrevious
			}
			out.key = sess.PrevKey
		}
		return out.key, nil
	}
	inner := secure.ContextResolver(sec, v, keysFor)
	resolve := func(keyInfo *etree.Element, method string) (dsig.VerifyingKey, error) {
		k, err := inner(keyInfo, method)
		var ce *ContextError
		if err != nil && !errors.As(err, &ce) && !errors.Is(err, errNoPrevious) {
			err = &keyError{err}
		}
		return k, err
	}
	signed, err := dsig.Verify(root, sig, resolve, dsig.DefaultPolicy)
	if !found {
		out = nil
	}
	if err != nil {
		return out, err
	}
	out.Signature = signed
	return out, nil
}

// contextVersion returns the WS-SecureConversation version of the tokens
// in a Security header: the namespace of its SecurityContextTokens and
// DerivedKeyTokens, which must agree and be accepted. A header without
// such tokens (a signature may name a context by Identifier alone) pins no
// version: the context's own applies, and pinned is false; v is then the
// version a reference's ValueType names, else the first accepted one, for
// faults about a context the server does not know.
func (s *Server) contextVersion(sec *etree.Element) (v wssc.Version, pinned bool, rej *rejection) {
	var found []wssc.Version
	for _, c := range sec.ChildElements() {
		if c.Tag != "SecurityContextToken" && c.Tag != "DerivedKeyToken" {
			continue
		}
		if v, ok := wssc.VersionOf(c.NamespaceURI()); ok && c.NamespaceURI() == v.SC() && !slices.Contains(found, v) {
			found = append(found, v)
		}
	}
	switch {
	case len(found) > 1:
		return v, false, reject(codeInvalidSecurity, "the Security header mixes WS-SecureConversation versions")
	case len(found) == 1 && !slices.Contains(s.cfg.Versions, found[0]):
		return v, false, reject(found[0].Fault(wssc.UnsupportedContextToken), "WS-SecureConversation %s is not accepted by this server", found[0])
	case len(found) == 1:
		return found[0], true, nil
	}
	v = s.cfg.Versions[0]
	xmldoc.Walk(sec, func(el *etree.Element) {
		if !xmldoc.Is(el, wss.NameReference) {
			return
		}
		vt, _ := xmldoc.Attr(el, xmldoc.Name{Local: "ValueType"})
		for _, cand := range s.cfg.Versions {
			if vt == cand.TokenType() {
				v = cand
			}
		}
	})
	return v, false, nil
}

// checkTimestamp requires exactly one Timestamp in the Security header
// that holds signed (or sec when there is no signature), covered by the
// signature when there is one, and fresh at now.
func (s *Server) checkTimestamp(signed *dsig.Verified, now time.Time) (*wss.Timestamp, *rejection) {
	return s.timestampIn(signed.Signature.Parent(), signed, now)
}

func (s *Server) timestampIn(sec *etree.Element, signed *dsig.Verified, now time.Time) (*wss.Timestamp, *rejection) {
	el, err := xmldoc.One(sec, wss.NameTimestamp)
	if err != nil {
		return nil, reject(codeInvalidSecurity, "the Security header needs exactly one Timestamp: %v", err)
	}
	ts, err := wss.ParseTimestamp(el)
	if err != nil {
		return nil, reject(codeInvalidSecurity, "the Timestamp is malformed: %v", err)
	}
	if signed != nil && !signed.Covers(el) {
		return nil, reject(codeInvalidSecurity, "the Timestamp is not covered by the signature")
	}
	if err := ts.CheckFresh(now, s.freshness()); err != nil {
		return nil, timestampRejection(err)
	}
	return &ts, nil
}

// freshness is the configured Timestamp policy.
func (s *Server) freshness() wss.Freshness {
	return wss.Freshness{MaxAge: s.cfg.TimestampValidity, Skew: s.cfg.Skew}
}

// timestampRejection maps a CheckFresh failure to its fault: a message
// past its Expires or created too long ago gets wsse:MessageExpired (SOAP
// Message Security 1.1 §12), one from the future or with an Expires not
// after Created wsse:InvalidSecurity.
func timestampRejection(err error) *rejection {
	switch {
	case errors.Is(err, wss.ErrExpired):
		return reject(codeMessageExpired, "the message has expired: %v", err)
	case errors.Is(err, wss.ErrStale):
		return reject(codeMessageExpired, "the message is too old: %v", err)
	}
	return reject(codeInvalidSecurity, "the Timestamp is not valid: %v", err)
}
