package msgsec

import (
	"errors"
	"fmt"
	"slices"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// A message under the bootstrap binding (an EncryptedKey for the
// receiver's certificate, or the asymmetric binding) may be endorsed by a
// security context (WS-SecurityPolicy 1.2 §8.3 EndorsingSupportingTokens
// with a SecureConversationToken): the SCT in the Security header and a
// second Signature, keyed by the context's current key (or a
// DerivedKeyToken on it, under RequireDerivedKeys), whose one reference
// is the primary ds:Signature. WCF's client sends a Renew so;
// the receiver learns which context endorsed (Opened.EndorsedBy).

// contextEndorsement takes from sigs the signature that endorses another
// of them with the binding's HMAC method, and keeps it aside; it returns
// the other signatures. None is no error.
func (o *opener) contextEndorsement(sigs []*etree.Element) ([]*etree.Element, error) {
	o.ctxEndorsing = nil
	var found []*etree.Element
	for _, s := range sigs {
		if signatureMethodOf(s) != o.c.SignatureMethod {
			continue
		}
		uri, ok := onlyReference(s)
		if !ok {
			continue
		}
		if slices.ContainsFunc(sigs, func(other *etree.Element) bool { return other != s && hasID(other, uri) }) {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 0:
		return sigs, nil
	case 1:
		o.ctxEndorsing = found[0]
		return slices.DeleteFunc(slices.Clone(sigs), func(s *etree.Element) bool { return s == found[0] }), nil
	}
	return nil, errors.New("msgsec: more than one signature endorses another with a security context")
}

// verifyContextEndorsement checks the context's endorsing signature, when
// there is one: under the bootstrap binding only, keyed by the current
// key of the context whose SCT the message carries, covering exactly the
// primary signature.
func (o *opener) verifyContextEndorsement() error {
	o.endorsedBy = nil
	if o.ctxEndorsing == nil {
		return nil
	}
	if o.ctxID != "" {
		return errors.New("msgsec: a message keyed by a security context is not endorsed by one")
	}
	pol := dsig.Policy{SignatureMethods: []string{o.c.SignatureMethod}, DigestMethods: []string{o.c.Suite.Digest}, MaxReferences: 1}
	v, err := dsig.Verify(o.env.Root, o.ctxEndorsing, o.contextEndorsingKey, pol)
	if err != nil {
		o.endorsedBy = nil
		return fmt.Errorf("msgsec: the security context's endorsing signature: %w", err)
	}
	if !v.Covers(o.sig) {
		o.endorsedBy = nil
		return errors.New("msgsec: the security context's endorsing signature does not cover the message signature")
	}
	return nil
}

// contextEndorsingKey is the dsig.KeyResolver of the context's endorsing
// signature: its key must be the current key of the SCT in the Security
// header, directly or through a DerivedKeyToken on it as the policy says.
func (o *opener) contextEndorsingKey(keyInfo *etree.Element, method string) (dsig.VerifyingKey, error) {
	if keyInfo == nil {
		return nil, errors.New("the endorsing signature does not name its key")
	}
	strEl, err := xmldoc.One(keyInfo, wss.NameSecurityTokenReference)
	if err != nil {
		return nil, err
	}
	s, err := wss.ParseSTR(strEl)
	if err != nil {
		return nil, err
	}
	var dkt *wssc.DKT
	if o.c.DerivedKeys {
		el := o.localToken(s)
		if el == nil || !xmldoc.Is(el, o.scName("DerivedKeyToken")) {
			return nil, errors.New("msgsec: the endorsing key is not a derived key, as the policy requires")
		}
		if dkt, err = wssc.ParseDKT(el, o.c.Version); err != nil {
			return nil, err
		}
		s = &dkt.Base
	}
	sct, err := o.headerSCT()
	if err != nil {
		return nil, err
	}
	r := s.Reference
	switch {
	case r == nil:
		return nil, errors.New("msgsec: the endorsing key does not reference the security context")
	case !r.Local() && r.ValueType != "" && r.ValueType != o.c.Version.TokenType():
		return nil, fmt.Errorf("msgsec: endorsing reference ValueType %q is not a security context", r.ValueType)
	case !wssc.RefersTo(*r, sct):
		return nil, errors.New("msgsec: the endorsing key is not the key of the security context the message carries")
	case o.exp.ContextKeys == nil:
		return nil, ErrUnknownContext
	}
	keys, err := o.exp.ContextKeys(sct.Identifier)
	if err != nil {
		return nil, fmt.Errorf("msgsec: %w", err)
	}
	if len(keys) == 0 {
		return nil, ErrUnknownContext
	}
	// The current key only: a key in its rollover period proves nothing
	// about the context as it stands.
	key := keys[0]
	if dkt != nil {
		if key, err = dkt.Key(key); err != nil {
			return nil, err
		}
	}
	o.endorsedBy = sct
	return dsig.HMACKey(method, key)
}

// localToken is the Security header's token a local reference of s
// names, or nil.
func (o *opener) localToken(s *wss.STR) *etree.Element {
	if s.Reference == nil || !s.Reference.Local() {
		return nil
	}
	return o.byID[s.Reference.Target()]
}

// headerSCT reads the one SecurityContextToken of the Security header;
// its Fragment holds its bytes as received when the envelope was parsed
// with KeepSpans, and is empty otherwise.
func (o *opener) headerSCT() (*wssc.SCT, error) {
	el, err := xmldoc.One(o.sec, o.scName("SecurityContextToken"))
	if err != nil {
		return nil, fmt.Errorf("msgsec: the endorsing security context: %w", err)
	}
	if d := o.env.Doc; d != nil {
		if _, ok := d.Raw(el); ok {
			return wssc.ParseSCT(d, el, o.c.Version)
		}
	}
	idEl, err := xmldoc.One(el, o.scName("Identifier"))
	if err != nil {
		return nil, fmt.Errorf("msgsec: %w", err)
	}
	t := &wssc.SCT{Identifier: xmldoc.Text(idEl)}
	if t.Identifier == "" {
		return nil, errors.New("msgsec: empty SecurityContextToken Identifier")
	}
	if inst, err := xmldoc.Optional(el, o.scName("Instance")); err != nil {
		return nil, fmt.Errorf("msgsec: %w", err)
	} else if inst != nil {
		t.Instance = xmldoc.Text(inst)
	}
	t.ID, _ = wss.ID(el)
	return t, nil
}

// onlyReference returns the URI of sig's Reference when its SignedInfo
// has exactly one.
func onlyReference(sig *etree.Element) (string, bool) {
	si, err := xmldoc.One(sig, xmldoc.Name{Space: dsig.NS, Local: "SignedInfo"})
	if err != nil {
		return "", false
	}
	refs := xmldoc.Children(si, xmldoc.Name{Space: dsig.NS, Local: "Reference"})
	if len(refs) != 1 {
		return "", false
	}
	return xmldoc.Attr(refs[0], xmldoc.Name{Local: "URI"})
}

// hasID reports whether el carries an Id attribute that the local URI
// "#id" names.
func hasID(el *etree.Element, uri string) bool {
	for _, n := range dsig.IDAttributes {
		if id, ok := xmldoc.Attr(el, n); ok && "#"+id == uri {
			return true
		}
	}
	return false
}
