package xenc

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"maps"
	"slices"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/c14n"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// Block is a block encryption key with its algorithm and the KeyInfo the
// EncryptedData elements made with it carry.
type Block struct {
	Method string // AES128CBC, AES192CBC, AES256CBC or TripleDESCBC
	Key    []byte
	// KeyInfo returns the element to put in each EncryptedData's
	// ds:KeyInfo (a fresh one per call, since an element has one parent);
	// nil writes no KeyInfo.
	KeyInfo func() *etree.Element
	Rand    io.Reader // the IVs
}

// EncryptElement replaces el, in its parent, with an EncryptedData of
// Type Element with Id id, and returns it. The plaintext is el's
// exclusive canonical form, which declares every namespace it uses, so
// that a receiver can parse it wherever it sits.
func (b Block) EncryptElement(el *etree.Element, id string) (*etree.Element, error) {
	parent := el.Parent()
	if parent == nil {
		return nil, errors.New("xenc: the element to encrypt has no parent")
	}
	plain, err := c14n.Exclusive(el, nil)
	if err != nil {
		return nil, err
	}
	ed, err := b.encrypted(id, TypeElement, plain)
	if err != nil {
		return nil, err
	}
	parent.InsertChildAt(el.Index(), ed)
	parent.RemoveChild(el)
	return ed, nil
}

// EncryptContent replaces the content of el (the SOAP Body, typically)
// with one EncryptedData of Type Content with Id id, and returns it. Child
// elements are written in exclusive canonical form, which declares every
// namespace they use, text escaped; comments are dropped, as
// canonicalization drops them. Under a default namespace the content is
// written as it stands (SerializeContent).
func (b Block) EncryptContent(el *etree.Element, id string) (*etree.Element, error) {
	if xmldoc.InScope(el)[""] != "" {
		// Under a default namespace a canonical child in no namespace
		// carries no xmlns="" and would take the inherited one where it
		// is parsed; the content as written keeps its declarations.
		return b.EncryptSerialized(el, id, SerializeContent(el))
	}
	var plain bytes.Buffer
	for _, tok := range el.Child {
		switch t := tok.(type) {
		case *etree.Element:
			c, err := c14n.Exclusive(t, nil)
			if err != nil {
				return nil, err
			}
			plain.Write(c)
		case *etree.CharData:
			if err := xml.EscapeText(&plain, []byte(t.Data)); err != nil {
				return nil, err
			}
		}
	}
	return b.EncryptSerialized(el, id, plain.Bytes())
}

// EncryptSerialized replaces the content of el with one EncryptedData of
// Type Content holding plaintext, which the caller made from el's content
// (its canonical form, say, computed anyway for a signature) and which
// must parse in el's namespace context, where a receiver parses decrypted
// content (XML Encryption 1.0 §4.5). It returns the EncryptedData.
func (b Block) EncryptSerialized(el *etree.Element, id string, plaintext []byte) (*etree.Element, error) {
	ed, err := b.encrypted(id, TypeContent, plaintext)
	if err != nil {
		return nil, err
	}
	for i := len(el.Child) - 1; i >= 0; i-- { // from the end: no shifting
		el.RemoveChildAt(i)
	}
	el.AddChild(ed)
	return ed, nil
}

// SerializeContent writes el's content as it stands, without the
// namespace declarations it inherits: the plaintext of EncryptSerialized
// when no canonical form is at hand.
func SerializeContent(el *etree.Element) []byte {
	var b bytes.Buffer
	ws := etree.WriteSettings{CanonicalText: true, CanonicalAttrVal: true}
	for _, tok := range el.Child {
		switch t := tok.(type) {
		case *etree.Element:
			xmldoc.Write(&b, t, false) // etree's bytes under ws, faster
		case *etree.CharData:
			t.WriteTo(&b, &ws)
		}
	}
	return b.Bytes()
}

func (b Block) encrypted(id, typ string, plain []byte) (*etree.Element, error) {
	ct, err := Encrypt(b.Method, b.Key, plain, b.Rand)
	if err != nil {
		return nil, err
	}
	d := EncryptedData{ID: id, Type: typ, Method: b.Method, CipherValue: ct}
	if b.KeyInfo != nil {
		d.KeyInfo = b.KeyInfo()
	}
	return d.Element(), nil
}

// Plain is decrypted content parsed in the namespace context of its
// EncryptedData, not yet in the document: a receiver can look at it (is it
// the Signature it expects?) before changing anything.
type Plain struct {
	at      *etree.Element
	wrapper *etree.Element
	// doc is the parsed plaintext, its elements' bytes recorded.
	doc *xmldoc.Doc
}

// ParsePlain parses plaintext, the decrypted octets of the EncryptedData
// el, under lim in the namespace context of el's parent: for TypeElement
// it must be exactly one element, for TypeContent any content. Plaintext
// that does not parse, or an Element that is not exactly one element, is
// ErrDecrypt: a wrong key produces such garbage, and it must not be told
// apart from a padding failure.
func ParsePlain(el *etree.Element, typ string, plaintext []byte, lim xmldoc.Limits) (*Plain, error) {
	parent := el.Parent()
	if parent == nil {
		return nil, errors.New("xenc: the EncryptedData has no parent")
	}
	doc, err := xmldoc.Parse(wrapIn(xmldoc.InScope(parent), plaintext), xmldoc.Options{Limits: lim, NoProcInst: true, KeepSpans: true})
	if err != nil {
		return nil, ErrDecrypt
	}
	w := doc.Root()
	if typ == TypeElement && (len(w.ChildElements()) != 1 || hasText(w)) {
		return nil, ErrDecrypt
	}
	return &Plain{at: el, wrapper: w, doc: doc}, nil
}

// Doc is the parsed plaintext: Raw gives its elements' bytes exactly as
// they were decrypted (see xmldoc.Doc.Graft).
func (p *Plain) Doc() *xmldoc.Doc { return p.doc }

// Elements returns the top-level elements of the content.
func (p *Plain) Elements() []*etree.Element { return p.wrapper.ChildElements() }

// Replace puts the content in place of its EncryptedData.
func (p *Plain) Replace() {
	parent := p.at.Parent()
	at := p.at.Index()
	parent.RemoveChild(p.at)
	for i, n := range slices.Clone(p.wrapper.Child) {
		p.wrapper.RemoveChild(n)
		parent.InsertChildAt(at+i, n)
	}
}

// Replace is ParsePlain followed by Plain.Replace; it returns the elements
// inserted.
func Replace(el *etree.Element, typ string, plaintext []byte, lim xmldoc.Limits) ([]*etree.Element, error) {
	p, err := ParsePlain(el, typ, plaintext, lim)
	if err != nil {
		return nil, err
	}
	els := p.Elements()
	p.Replace()
	return els, nil
}

// wrapIn encloses plaintext in an element declaring the namespaces of
// scope, so that prefixes it inherits resolve as at the EncryptedData.
func wrapIn(scope map[string]string, plaintext []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(plaintext) + 64*len(scope) + 16)
	b.WriteString("<w")
	for _, p := range slices.Sorted(maps.Keys(scope)) {
		if p == "xml" {
			continue
		}
		b.WriteString(" xmlns")
		if p != "" {
			b.WriteString(":" + p)
		}
		b.WriteString(`="`)
		_ = xml.EscapeText(&b, []byte(scope[p]))
		b.WriteString(`"`)
	}
	b.WriteString(">")
	b.Write(plaintext)
	b.WriteString("</w>")
	return b.Bytes()
}

func hasText(el *etree.Element) bool {
	for _, tok := range el.Child {
		if t, ok := tok.(*etree.CharData); ok && !t.IsWhitespace() {
			return true
		}
	}
	return false
}
