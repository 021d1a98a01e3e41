package wssc

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/keys"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// DKTNonceSize is the nonce length of the DerivedKeyTokens scproxy writes,
// WCF's.
const DKTNonceSize = 16

// DKT is a DerivedKeyToken (WS-SecureConversation 1.3 §7): a key derived
// from the token Base refers to, with the parameters in Derivation.
type DKT struct {
	ID         string
	Base       wss.STR
	Derivation keys.Derivation
}

// NewDKT returns a DerivedKeyToken on the base token referenced by base.
// When d has no Nonce, a DKTNonceSize one is read from rand. d is checked
// against the bounds of wire/keys so that a built token is one scproxy
// (and WCF) would accept.
func NewDKT(id string, base wss.Reference, d keys.Derivation, rand io.Reader) (*DKT, error) {
	if d.Nonce == nil {
		d.Nonce = make([]byte, DKTNonceSize)
		if rand == nil {
			return nil, errors.New("wssc: no randomness source for the derived key nonce")
		}
		if _, err := io.ReadFull(rand, d.Nonce); err != nil {
			return nil, fmt.Errorf("wssc: derived key nonce: %w", err)
		}
	}
	if err := d.Check(); err != nil {
		return nil, fmt.Errorf("wssc: %w", err)
	}
	return &DKT{ID: id, Base: wss.STR{Reference: &base}, Derivation: d}, nil
}

// NewDKTOn is NewDKT for a base token named by any reference form, such
// as the EncryptedKeySHA1 key identifier a server uses for the key of the
// request it answers.
func NewDKTOn(id string, base wss.STR, d keys.Derivation, rand io.Reader) (*DKT, error) {
	t, err := NewDKT(id, wss.Reference{}, d, rand)
	if err != nil {
		return nil, err
	}
	t.Base = base
	return t, nil
}

// Key derives the token's key from the base token's key.
func (t *DKT) Key(base []byte) ([]byte, error) {
	k, err := keys.Derive(base, t.Derivation)
	if err != nil {
		return nil, fmt.Errorf("wssc: %w", err)
	}
	return k, nil
}

// Element writes the token in version v, in WCF's shape: the reference,
// then Generation or (when not zero) Offset, Length, Label only when it is
// not the default, and Nonce. wsc:Properties is never written: WCF rejects
// DerivedKeyTokens that carry it.
func (t *DKT) Element(v Version) (*etree.Element, error) {
	if (t.Base.Reference == nil) == (t.Base.KeyIdentifier == nil) {
		return nil, errors.New("wssc: a derived key token is written with one direct reference or key identifier")
	}
	d := t.Derivation
	el := etree.NewElement(v.scPrefix + ":DerivedKeyToken")
	el.CreateAttr("xmlns:"+v.scPrefix, v.sc)
	if t.ID != "" {
		wss.SetID(el, t.ID)
	}
	if t.Base.Reference != nil {
		el.AddChild(wss.ReferenceSTR(*t.Base.Reference))
	} else {
		el.AddChild(wss.KeyIdentifierSTR(*t.Base.KeyIdentifier))
	}
	switch {
	case d.HasGeneration:
		v.scChild(el, "Generation", strconv.Itoa(d.Generation))
	case d.Offset != 0:
		v.scChild(el, "Offset", strconv.Itoa(d.Offset))
	}
	length := d.Length
	if length == 0 {
		length = keys.DefaultLength
	}
	v.scChild(el, "Length", strconv.Itoa(length))
	if d.Label != nil && string(d.Label) != keys.DefaultLabel {
		v.scChild(el, "Label", string(d.Label))
	}
	v.scChild(el, "Nonce", base64.StdEncoding.EncodeToString(d.Nonce))
	return el, nil
}

func (v Version) scChild(parent *etree.Element, local, text string) {
	parent.CreateElement(v.scPrefix + ":" + local).SetText(text)
}

// ParseDKT reads a DerivedKeyToken in version v. Every parameter is checked
// against the bounds of wire/keys before anything is derived, so a hostile
// Offset or Length costs nothing. Properties, which only WS-SC defines and
// nobody uses to derive, is ignored.
func ParseDKT(el *etree.Element, v Version) (*DKT, error) {
	want := v.sname("DerivedKeyToken")
	if el.Tag != want.Local {
		return nil, fmt.Errorf("wssc: expected %s, got %s", want, xmldoc.NameOf(el))
	}
	if ns := el.NamespaceURI(); ns != want.Space {
		return nil, &NamespaceError{Element: el.Tag, Got: ns, Want: want.Space}
	}
	t := &DKT{}
	t.ID, _ = wss.ID(el)
	if a, ok := xmldoc.Attr(el, xmldoc.Name{Local: "Algorithm"}); ok && a != v.sc+"/dk/p_sha1" {
		return nil, fmt.Errorf("wssc: unsupported derivation algorithm %q", a)
	}
	str, err := xmldoc.One(el, wss.NameSecurityTokenReference)
	if err != nil {
		return nil, fmt.Errorf("wssc: derived key token: %w", err)
	}
	base, err := wss.ParseSTR(str)
	if err != nil {
		return nil, fmt.Errorf("wssc: derived key token: %w", err)
	}
	t.Base = *base
	if t.Derivation, err = v.parseDerivation(el); err != nil {
		return nil, fmt.Errorf("wssc: derived key token: %w", err)
	}
	return t, nil
}

func (v Version) parseDerivation(el *etree.Element) (keys.Derivation, error) {
	var d keys.Derivation
	gen, err := v.intChild(el, "Generation", &d.Generation)
	if err != nil {
		return d, err
	}
	off, err := v.intChild(el, "Offset", &d.Offset)
	if err != nil {
		return d, err
	}
	if gen && off {
		return d, errors.New("both Generation and Offset")
	}
	d.HasGeneration = gen
	if _, err := v.intChild(el, "Length", &d.Length); err != nil {
		return d, err
	}
	if d.Length == 0 && len(xmldoc.Children(el, v.sname("Length"))) > 0 {
		return d, errors.New("zero Length")
	}
	if lbl, err := xmldoc.Optional(el, v.sname("Label")); err != nil {
		return d, err
	} else if lbl != nil {
		d.Label = []byte(lbl.Text())
	}
	n, err := xmldoc.One(el, v.sname("Nonce"))
	if err != nil {
		return d, err
	}
	if d.Nonce, err = wss.DecodeBase64(n.Text()); err != nil {
		return d, fmt.Errorf("bad Nonce: %w", err)
	}
	return d, d.Check()
}

// intChild reads an optional non-negative decimal child into dst and says
// whether it was there. Leading signs and huge values are refused before
// conversion can wrap.
func (v Version) intChild(el *etree.Element, local string, dst *int) (bool, error) {
	c, err := xmldoc.Optional(el, v.sname(local))
	if err != nil || c == nil {
		return false, err
	}
	text := xmldoc.Text(c)
	if text == "" || len(text) > 9 || strings.TrimLeft(text, "0123456789") != "" {
		return true, fmt.Errorf("%s %q is not a small non-negative integer", local, text)
	}
	*dst, _ = strconv.Atoi(text)
	return true, nil
}

// RefersTo reports whether ref designates sct: a local reference "#x"
// matches a wsu:Id x, or, as WSS4J writes it, an Identifier x; any other URI
// matches the Identifier.
func RefersTo(ref wss.Reference, sct *SCT) bool {
	if ref.Local() {
		x := ref.Target()
		return (sct.ID != "" && x == sct.ID) || x == sct.Identifier
	}
	return ref.URI == sct.Identifier
}
