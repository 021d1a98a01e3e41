package dsig

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/c14n"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// nsWSU is the WS-Security utility namespace whose Id attribute
// identifies signed parts (WS-Security 1.1 §4).
const nsWSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"

// IDAttributes are the attributes a same-document reference ("#id") may
// name: wsu:Id, used by every WS-Security part, and the unqualified Id
// that XML Signature and XML Encryption elements carry. Both are matched
// by namespace URI.
var IDAttributes = []xmldoc.Name{{Space: nsWSU, Local: "Id"}, {Local: "Id"}}

// Reference is one element to sign.
type Reference struct {
	// Element must already sit at its final place in the document (its
	// canonical form depends on the namespaces in scope there) and carry
	// one of the IDAttributes.
	Element *etree.Element
	// InclusivePrefixes is the InclusiveNamespaces PrefixList of the
	// reference's exclusive c14n transform; nil writes none.
	InclusivePrefixes []string
	// Canonical, when set, is Element's exclusive canonical form (with
	// InclusivePrefixes) that the caller already computed for another use;
	// it is digested instead of canonicalizing Element again.
	Canonical []byte
}

// Signer makes detached WS-Security signatures: the Signature element goes
// into the Security header and names the signed parts by Id. The zero
// Digest is SHA1, as WCF and WSS4J default to.
type Signer struct {
	Key    SigningKey
	Digest string
	// KeyInfo, when set, is placed (not copied) inside ds:KeyInfo; it is
	// usually a wsse:SecurityTokenReference.
	KeyInfo *etree.Element
}

// Sign computes the references, appends a Signature element to parent and
// signs it. The Signature declares the XML Signature namespace as its
// default namespace, the shape WCF writes.
func (s *Signer) Sign(parent *etree.Element, refs ...Reference) (*etree.Element, error) {
	if s.Key == nil {
		return nil, errors.New("dsig: no signing key")
	}
	if len(refs) == 0 {
		return nil, errors.New("dsig: nothing to sign")
	}
	digest := s.Digest
	if digest == "" {
		digest = SHA1
	}
	sig := etree.NewElement("Signature")
	sig.CreateAttr("xmlns", NS)
	si := sig.CreateElement("SignedInfo")
	si.CreateElement("CanonicalizationMethod").CreateAttr("Algorithm", c14n.Algorithm)
	si.CreateElement("SignatureMethod").CreateAttr("Algorithm", s.Key.Method())
	for _, r := range refs {
		if err := addReference(si, r, digest); err != nil {
			return nil, err
		}
	}
	parent.AddChild(sig)
	value, err := signSignedInfo(si, s.Key)
	if err != nil {
		parent.RemoveChild(sig)
		return nil, err
	}
	sig.CreateElement("SignatureValue").SetText(base64.StdEncoding.EncodeToString(value))
	if s.KeyInfo != nil {
		sig.CreateElement("KeyInfo").AddChild(s.KeyInfo)
	}
	return sig, nil
}

func addReference(si *etree.Element, r Reference, digestURI string) error {
	id, err := idOf(r.Element)
	if err != nil {
		return err
	}
	var sum []byte
	if r.Canonical != nil {
		h, err := newDigest(digestURI)
		if err != nil {
			return err
		}
		h.Write(r.Canonical)
		sum = h.Sum(nil)
	} else if sum, err = digestOf(r.Element, r.InclusivePrefixes, digestURI); err != nil {
		return err
	}
	ref := si.CreateElement("Reference")
	ref.CreateAttr("URI", "#"+id)
	t := ref.CreateElement("Transforms").CreateElement("Transform")
	t.CreateAttr("Algorithm", c14n.Algorithm)
	if r.InclusivePrefixes != nil {
		addInclusive(t, r.InclusivePrefixes)
	}
	ref.CreateElement("DigestMethod").CreateAttr("Algorithm", digestURI)
	ref.CreateElement("DigestValue").SetText(base64.StdEncoding.EncodeToString(sum))
	return nil
}

func addInclusive(parent *etree.Element, prefixes []string) {
	in := parent.CreateElement("ec:InclusiveNamespaces")
	in.CreateAttr("xmlns:ec", c14n.Algorithm)
	in.CreateAttr("PrefixList", strings.Join(prefixes, " "))
}

func signSignedInfo(si *etree.Element, key SigningKey) ([]byte, error) {
	canon, err := c14n.Exclusive(si, nil)
	if err != nil {
		return nil, fmt.Errorf("dsig: canonicalize SignedInfo: %w", err)
	}
	return key.Sign(canon)
}

func digestOf(el *etree.Element, prefixes []string, digestURI string) ([]byte, error) {
	h, err := newDigest(digestURI)
	if err != nil {
		return nil, err
	}
	canon, err := c14n.Exclusive(el, prefixes)
	if err != nil {
		return nil, fmt.Errorf("dsig: canonicalize %s: %w", el.Tag, err)
	}
	h.Write(canon)
	return h.Sum(nil), nil
}

// idOf returns the element's Id, requiring exactly one Id attribute so
// that the reference written is the one a verifier resolves.
func idOf(el *etree.Element) (string, error) {
	var ids []string
	for _, n := range IDAttributes {
		if v, ok := xmldoc.Attr(el, n); ok {
			ids = append(ids, v)
		}
	}
	switch {
	case len(ids) == 0:
		return "", fmt.Errorf("dsig: element %s to sign has no Id", el.Tag)
	case len(ids) > 1:
		return "", fmt.Errorf("dsig: element %s to sign has several Id attributes", el.Tag)
	case ids[0] == "":
		return "", fmt.Errorf("dsig: element %s to sign has an empty Id", el.Tag)
	}
	return ids[0], nil
}
