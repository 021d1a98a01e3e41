package secure

import (
	"errors"
	"fmt"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// ContextKeys returns the key of the context with the given Identifier, or
// an error when the context is unknown (a server answers that with
// wsc:BadContextToken).
type ContextKeys func(identifier string) ([]byte, error)

// ContextResolver returns a dsig.KeyResolver for signatures made with a
// security context, directly or through a DerivedKeyToken, as WCF and WSS4J
// make them. Tokens are looked up in the Security header sec only. A
// reference resolves to the token with that wsu:Id; failing that, to a
// context by Identifier (WSS4J writes "#" + Identifier, WCF's unattached
// form is the bare Identifier).
func ContextResolver(sec *etree.Element, v wssc.Version, keysFor ContextKeys) dsig.KeyResolver {
	return func(keyInfo *etree.Element, method string) (dsig.VerifyingKey, error) {
		if keyInfo == nil {
			return nil, errors.New("secure: signature has no KeyInfo")
		}
		strEl, err := xmldoc.One(keyInfo, wss.NameSecurityTokenReference)
		if err != nil {
			return nil, err
		}
		key, err := resolveKey(sec, v, keysFor, strEl, true)
		if err != nil {
			return nil, err
		}
		return dsig.HMACKey(method, key)
	}
}

func resolveKey(sec *etree.Element, v wssc.Version, keysFor ContextKeys, strEl *etree.Element, allowDerived bool) ([]byte, error) {
	str, err := wss.ParseSTR(strEl)
	if err != nil {
		return nil, err
	}
	if str.Reference == nil {
		return nil, errors.New("secure: key reference is not a direct reference")
	}
	target := str.Reference.Target()
	var found []*etree.Element
	for _, c := range sec.ChildElements() {
		if id, ok := wss.ID(c); ok && id == target {
			found = append(found, c)
		}
	}
	switch {
	case len(found) > 1:
		return nil, fmt.Errorf("secure: key reference %q matches %d tokens", str.Reference.URI, len(found))
	case len(found) == 0:
		return keysFor(target)
	}
	tok := found[0]
	switch {
	case xmldoc.Is(tok, xmldoc.Name{Space: v.SC(), Local: "SecurityContextToken"}):
		idEl, err := xmldoc.One(tok, xmldoc.Name{Space: v.SC(), Local: "Identifier"})
		if err != nil {
			return nil, err
		}
		return keysFor(xmldoc.Text(idEl))
	case allowDerived && xmldoc.Is(tok, xmldoc.Name{Space: v.SC(), Local: "DerivedKeyToken"}):
		dkt, err := wssc.ParseDKT(tok, v)
		if err != nil {
			return nil, err
		}
		baseSTR, err := xmldoc.One(tok, wss.NameSecurityTokenReference)
		if err != nil {
			return nil, err
		}
		base, err := resolveKey(sec, v, keysFor, baseSTR, false)
		if err != nil {
			return nil, err
		}
		return dkt.Key(base)
	}
	return nil, fmt.Errorf("secure: key reference %q names a %s, not a context or derived key", str.Reference.URI, xmldoc.NameOf(tok))
}
