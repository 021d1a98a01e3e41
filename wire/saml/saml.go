package saml

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// Namespaces and URIs of SAML and the SAML token profile.
const (
	// NS is the SAML 2.0 assertion namespace.
	NS = "urn:oasis:names:tc:SAML:2.0:assertion"
	// NS11 is the SAML 1.x assertion namespace.
	NS11 = "urn:oasis:names:tc:SAML:1.0:assertion"
	// TokenTypeSAML20 and TokenTypeSAML11 are the token types of the WSS
	// SAML Token Profile 1.1 §3.5, used in WS-Trust requests and as the
	// wsse11:TokenType of references.
	TokenTypeSAML20 = "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV2.0"
	TokenTypeSAML11 = "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV1.1"
	// HolderOfKey is the SAML 2.0 holder-of-key confirmation method
	// (SAML 2.0 profiles §3.1); HolderOfKey11 is SAML 1.1's.
	HolderOfKey   = "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key"
	HolderOfKey11 = "urn:oasis:names:tc:SAML:1.0:cm:holder-of-key"
	// PasswordProtectedTransport is the authentication context of a user
	// name and password over TLS (SAML 2.0 authentication context §3.4.16).
	PasswordProtectedTransport = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
	// NSXSI is XML Schema's instance namespace, of xsi:type.
	NSXSI = "http://www.w3.org/2001/XMLSchema-instance"
)

// Kind is the SAML version of an assertion.
type Kind int

const (
	// SAML20 is a SAML 2.0 assertion (ID attribute).
	SAML20 Kind = iota + 1
	// SAML11 is a SAML 1.1 assertion (AssertionID attribute).
	SAML11
)

// String names the SAML version.
func (k Kind) String() string {
	switch k {
	case SAML20:
		return "SAML 2.0"
	case SAML11:
		return "SAML 1.1"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// TokenType is the token type URI of the kind.
func (k Kind) TokenType() string {
	if k == SAML11 {
		return TokenTypeSAML11
	}
	return TokenTypeSAML20
}

// ValueType is the KeyIdentifier ValueType that names an assertion of the
// kind by its ID (WSS SAML Token Profile 1.1 §3.4.1).
func (k Kind) ValueType() string {
	if k == SAML11 {
		return wss.ValueTypeSAMLAssertionID
	}
	return wss.ValueTypeSAMLID
}

// IDAttr is the attribute holding the assertion's identifier.
func (k Kind) IDAttr() xmldoc.Name {
	if k == SAML11 {
		return xmldoc.Name{Local: "AssertionID"}
	}
	return xmldoc.Name{Local: "ID"}
}

// Name returns the expanded name of a SAML 2.0 assertion element.
func Name(local string) xmldoc.Name { return xmldoc.Name{Space: NS, Local: local} }

// name11 returns the expanded name of a SAML 1.1 assertion element.
func name11(local string) xmldoc.Name { return xmldoc.Name{Space: NS11, Local: local} }

// Assertion is what scproxy reads from an assertion. A client, which cannot
// verify the issuer's signature, reads it only to name the token and to know
// when it expires; a relying party gets it from Verify, read from the
// element whose signature was checked.
type Assertion struct {
	Kind         Kind
	ID           string
	Issuer       string
	IssueInstant time.Time
	// Subject is the NameID (SAML 1.1: NameIdentifier), "" when absent.
	Subject string
	// NotBefore and NotOnOrAfter are the Conditions' bounds; zero when not
	// given.
	NotBefore, NotOnOrAfter time.Time
	// Audiences holds one list per AudienceRestriction; each restriction
	// is met when one of its audiences is.
	Audiences [][]string
}

// Parse reads an assertion, SAML 2.0 or 1.1, without verifying anything:
// its shape is checked, exactly-one lookups apply, and nothing read here
// may be trusted. Verify is the relying party's reading.
func Parse(el *etree.Element) (*Assertion, error) {
	switch {
	case xmldoc.Is(el, Name("Assertion")):
		return parse20(el)
	case xmldoc.Is(el, name11("Assertion")):
		return parse11(el)
	}
	return nil, fmt.Errorf("saml: %s is not a SAML assertion", xmldoc.NameOf(el))
}

func parse20(el *etree.Element) (*Assertion, error) {
	a := &Assertion{Kind: SAML20}
	if v, _ := xmldoc.Attr(el, xmldoc.Name{Local: "Version"}); v != "2.0" {
		return nil, fmt.Errorf("saml: assertion Version %q, expected 2.0", v)
	}
	var err error
	if a.ID, a.IssueInstant, err = idAndInstant(el, SAML20); err != nil {
		return nil, err
	}
	iss, err := xmldoc.One(el, Name("Issuer"))
	if err != nil {
		return nil, fmt.Errorf("saml: %w", err)
	}
	if a.Issuer = xmldoc.Text(iss); a.Issuer == "" {
		return nil, errors.New("saml: empty Issuer")
	}
	if kids := el.ChildElements(); kids[0] != iss {
		return nil, errors.New("saml: Issuer is not the assertion's first element")
	}
	subj, err := xmldoc.Optional(el, Name("Subject"))
	if err != nil {
		return nil, fmt.Errorf("saml: %w", err)
	}
	if subj != nil {
		if a.Subject, err = optionalText(subj, Name("NameID")); err != nil {
			return nil, err
		}
	}
	if err := a.parseConditions(el, Name("Conditions"), Name("AudienceRestriction"), Name("Audience")); err != nil {
		return nil, err
	}
	return a, nil
}

func parse11(el *etree.Element) (*Assertion, error) {
	a := &Assertion{Kind: SAML11}
	major, _ := xmldoc.Attr(el, xmldoc.Name{Local: "MajorVersion"})
	minor, _ := xmldoc.Attr(el, xmldoc.Name{Local: "MinorVersion"})
	if major != "1" || minor != "1" {
		return nil, fmt.Errorf("saml: assertion version %s.%s, expected 1.1", major, minor)
	}
	var err error
	if a.ID, a.IssueInstant, err = idAndInstant(el, SAML11); err != nil {
		return nil, err
	}
	if a.Issuer, _ = xmldoc.Attr(el, xmldoc.Name{Local: "Issuer"}); a.Issuer == "" {
		return nil, errors.New("saml: SAML 1.1 assertion without Issuer")
	}
	if err := a.parseConditions(el, name11("Conditions"), name11("AudienceRestrictionCondition"), name11("Audience")); err != nil {
		return nil, err
	}
	return a, nil
}

// idAndInstant reads the identifier and IssueInstant attributes both
// versions require.
func idAndInstant(el *etree.Element, k Kind) (string, time.Time, error) {
	id, _ := xmldoc.Attr(el, k.IDAttr())
	if id == "" {
		return "", time.Time{}, fmt.Errorf("saml: assertion without %s", k.IDAttr().Local)
	}
	v, _ := xmldoc.Attr(el, xmldoc.Name{Local: "IssueInstant"})
	at, err := wss.ParseTime(v)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("saml: IssueInstant: %w", err)
	}
	return id, at, nil
}

// parseConditions reads the optional Conditions element: its time bounds
// and its audience restrictions.
func (a *Assertion) parseConditions(el *etree.Element, cond, restriction, audience xmldoc.Name) error {
	c, err := xmldoc.Optional(el, cond)
	if err != nil || c == nil {
		return wrap(err)
	}
	for _, b := range []struct {
		attr string
		dst  *time.Time
	}{{"NotBefore", &a.NotBefore}, {"NotOnOrAfter", &a.NotOnOrAfter}} {
		v, ok := xmldoc.Attr(c, xmldoc.Name{Local: b.attr})
		if !ok {
			continue
		}
		if *b.dst, err = wss.ParseTime(v); err != nil {
			return fmt.Errorf("saml: Conditions %s: %w", b.attr, err)
		}
	}
	if !a.NotBefore.IsZero() && !a.NotOnOrAfter.IsZero() && !a.NotBefore.Before(a.NotOnOrAfter) {
		return errors.New("saml: Conditions NotOnOrAfter is not after NotBefore")
	}
	for _, r := range xmldoc.Children(c, restriction) {
		var list []string
		for _, au := range xmldoc.Children(r, audience) {
			list = append(list, xmldoc.Text(au))
		}
		if len(list) == 0 {
			return errors.New("saml: AudienceRestriction without Audience")
		}
		a.Audiences = append(a.Audiences, list)
	}
	return nil
}

// ValidAt reports whether the Conditions' bounds hold at now, allowing
// clocks to differ by skew.
func (a *Assertion) ValidAt(now time.Time, skew time.Duration) error {
	if !a.NotBefore.IsZero() && now.Add(skew).Before(a.NotBefore) {
		return fmt.Errorf("saml: %w: not before %s", ErrNotYetValid, wss.FormatTime(a.NotBefore))
	}
	if !a.NotOnOrAfter.IsZero() && !now.Add(-skew).Before(a.NotOnOrAfter) {
		return fmt.Errorf("saml: %w: since %s", ErrExpired, wss.FormatTime(a.NotOnOrAfter))
	}
	return nil
}

// For reports whether the assertion may be used at audience: every
// AudienceRestriction lists it (SAML 2.0 core §2.5.1.4).
func (a *Assertion) For(audience string) bool {
	return a.allows(func(uri string) bool { return uri == audience })
}

// allows reports whether every AudienceRestriction lists an audience ok
// accepts; a nil ok accepts none.
func (a *Assertion) allows(ok func(string) bool) bool {
	for _, list := range a.Audiences {
		if ok == nil || !slices.ContainsFunc(list, ok) {
			return false
		}
	}
	return true
}

func optionalText(el *etree.Element, n xmldoc.Name) (string, error) {
	c, err := xmldoc.Optional(el, n)
	if err != nil || c == nil {
		return "", wrap(err)
	}
	return xmldoc.Text(c), nil
}

func wrap(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("saml: %w", err)
}
