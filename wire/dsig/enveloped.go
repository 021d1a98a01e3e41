package dsig

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/c14n"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// EnvelopedTransform is the enveloped-signature transform (XML Signature
// 1.1 §6.6.4): the signed element is digested without the Signature it
// contains. It is the form SAML assertions are signed in (SAML 2.0 core
// §5.4.1-5.4.4).
const EnvelopedTransform = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"

// SignEnveloped signs el with an enveloped signature: one Reference to el by
// its idAttr value, transformed with EnvelopedTransform then exclusive
// c14n, and the Signature inserted as a child of el right after the child
// after (as el's first child when after is nil). el must already sit where
// it will be serialized, like every Reference.Element.
func (s *Signer) SignEnveloped(el *etree.Element, idAttr xmldoc.Name, after *etree.Element) (*etree.Element, error) {
	if s.Key == nil {
		return nil, errors.New("dsig: no signing key")
	}
	id, ok := xmldoc.Attr(el, idAttr)
	if !ok || id == "" {
		return nil, fmt.Errorf("dsig: element %s to sign has no %s", el.Tag, idAttr.Local)
	}
	at := 0
	if after != nil {
		if after.Parent() != el {
			return nil, errors.New("dsig: the signature's predecessor is not a child of the signed element")
		}
		at = after.Index() + 1
	}
	digest := s.Digest
	if digest == "" {
		digest = SHA1
	}
	// The digest is taken before the Signature exists, which is what the
	// enveloped transform reproduces for the verifier.
	sum, err := digestOf(el, nil, digest)
	if err != nil {
		return nil, err
	}
	sig := etree.NewElement("Signature")
	sig.CreateAttr("xmlns", NS)
	si := sig.CreateElement("SignedInfo")
	si.CreateElement("CanonicalizationMethod").CreateAttr("Algorithm", c14n.Algorithm)
	si.CreateElement("SignatureMethod").CreateAttr("Algorithm", s.Key.Method())
	ref := si.CreateElement("Reference")
	ref.CreateAttr("URI", "#"+id)
	ts := ref.CreateElement("Transforms")
	ts.CreateElement("Transform").CreateAttr("Algorithm", EnvelopedTransform)
	ts.CreateElement("Transform").CreateAttr("Algorithm", c14n.Algorithm)
	ref.CreateElement("DigestMethod").CreateAttr("Algorithm", digest)
	ref.CreateElement("DigestValue").SetText(base64.StdEncoding.EncodeToString(sum))
	el.InsertChildAt(at, sig)
	value, err := signSignedInfo(si, s.Key)
	if err != nil {
		el.RemoveChild(sig)
		return nil, err
	}
	sig.CreateElement("SignatureValue").SetText(base64.StdEncoding.EncodeToString(value))
	if s.KeyInfo != nil {
		sig.CreateElement("KeyInfo").AddChild(s.KeyInfo)
	}
	return sig, nil
}

// VerifyEnveloped checks the enveloped signature of el: exactly one
// Signature child, whose SignedInfo holds exactly one Reference, to el
// itself by its idAttr value, with exactly the enveloped-signature and
// exclusive c14n transforms, in that order. Algorithms come from pol and
// the key from resolve, as in Verify. The only element the result covers
// is el, so a caller that reads el (never a look-up by ID) reads what was
// signed. Whether the ID is unique in the document, and where el may sit,
// is the caller's policy.
func VerifyEnveloped(el *etree.Element, idAttr xmldoc.Name, resolve KeyResolver, pol Policy) (*Verified, error) {
	id, ok := xmldoc.Attr(el, idAttr)
	if !ok || id == "" {
		return nil, fmt.Errorf("dsig: signed element %s has no %s", el.Tag, idAttr.Local)
	}
	sig, err := xmldoc.One(el, dsName("Signature"))
	if err != nil {
		return nil, fmt.Errorf("dsig: %w", err)
	}
	parts, ref, err := readEnveloped(sig, pol)
	if err != nil {
		return nil, err
	}
	if ref.uri != "#"+id {
		return nil, fmt.Errorf("dsig: the enveloped signature references %q, not its parent %q", ref.uri, "#"+id)
	}
	if err := parts.verifySignedInfo(resolve); err != nil {
		return nil, err
	}
	sum, err := digestWithout(el, sig, ref)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(sum, ref.value) != 1 {
		return nil, &DigestError{URI: ref.uri}
	}
	return &Verified{Signature: sig, KeyInfo: parts.keyInfo, Method: parts.method, References: []VerifiedReference{{ID: id, Element: el}}}, nil
}

// digestWithout applies the enveloped transform: el is digested with sig
// taken out, then sig is put back where it was.
func digestWithout(el, sig *etree.Element, ref reference) ([]byte, error) {
	at := sig.Index()
	el.RemoveChildAt(at)
	defer el.InsertChildAt(at, sig)
	return digestOf(el, ref.prefixes, ref.digest)
}

// readEnveloped reads an enveloped Signature with the shape checks of
// readSignature; only its one Reference differs, by the transform list.
func readEnveloped(sig *etree.Element, pol Policy) (*sigParts, reference, error) {
	var p sigParts
	var ref reference
	var err error
	if p.signedInfo, err = xmldoc.One(sig, dsName("SignedInfo")); err != nil {
		return nil, ref, fmt.Errorf("dsig: %w", err)
	}
	sv, err := xmldoc.One(sig, dsName("SignatureValue"))
	if err != nil {
		return nil, ref, fmt.Errorf("dsig: %w", err)
	}
	if p.value, err = decodeBase64(sv); err != nil {
		return nil, ref, fmt.Errorf("dsig: SignatureValue: %w", err)
	}
	if p.keyInfo, err = xmldoc.Optional(sig, dsName("KeyInfo")); err != nil {
		return nil, ref, fmt.Errorf("dsig: %w", err)
	}
	cm, err := xmldoc.One(p.signedInfo, dsName("CanonicalizationMethod"))
	if err != nil {
		return nil, ref, fmt.Errorf("dsig: %w", err)
	}
	if p.siPrefixes, err = c14nMethod(cm, "canonicalization"); err != nil {
		return nil, ref, err
	}
	sm, err := xmldoc.One(p.signedInfo, dsName("SignatureMethod"))
	if err != nil {
		return nil, ref, fmt.Errorf("dsig: %w", err)
	}
	if p.method, err = signatureMethod(sm, pol); err != nil {
		return nil, ref, err
	}
	r, err := xmldoc.One(p.signedInfo, dsName("Reference"))
	if err != nil {
		return nil, ref, fmt.Errorf("dsig: an enveloped signature needs exactly one Reference: %w", err)
	}
	ref, err = readEnvelopedReference(r, pol)
	return &p, ref, err
}

// readEnvelopedReference reads a Reference whose transforms are exactly
// enveloped-signature then exclusive c14n. Anything else (XPath, XSLT, a
// c14n before the enveloped transform) changes what is digested and is
// refused.
func readEnvelopedReference(r *etree.Element, pol Policy) (reference, error) {
	var ref reference
	uri, ok := xmldoc.Attr(r, xmldoc.Name{Local: "URI"})
	if !ok || len(uri) < 2 || uri[0] != '#' {
		return ref, fmt.Errorf("dsig: reference URI %q is not a same-document ID reference", uri)
	}
	ref.uri = uri
	ts, err := xmldoc.One(r, dsName("Transforms"))
	if err != nil {
		return ref, fmt.Errorf("dsig: reference %q: %w", uri, err)
	}
	tl := ts.ChildElements()
	if len(tl) != 2 || len(xmldoc.Children(ts, dsName("Transform"))) != 2 {
		return ref, fmt.Errorf("dsig: reference %q must have exactly the enveloped-signature and exclusive c14n transforms", uri)
	}
	if alg, _ := xmldoc.Attr(tl[0], xmldoc.Name{Local: "Algorithm"}); alg != EnvelopedTransform || len(tl[0].ChildElements()) > 0 {
		return ref, &AlgorithmError{Kind: "transform", URI: alg}
	}
	if ref.prefixes, err = c14nMethod(tl[1], "transform"); err != nil {
		return ref, err
	}
	return ref, readDigest(r, uri, pol, &ref)
}
