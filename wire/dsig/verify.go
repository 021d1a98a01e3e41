package dsig

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/c14n"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// Policy is what a verifier accepts. Anything not listed is refused.
type Policy struct {
	SignatureMethods []string
	DigestMethods    []string
	// MaxReferences bounds the work one Signature can ask for.
	MaxReferences int
}

// DefaultPolicy accepts the methods WCF and WSS4J use for secure
// conversation and X.509 bootstraps.
var DefaultPolicy = Policy{
	SignatureMethods: []string{HMACSHA1, HMACSHA256, RSASHA1, RSASHA256},
	DigestMethods:    []string{SHA1, SHA256},
	MaxReferences:    32,
}

// KeyResolver returns the key to verify a signature with, given its
// KeyInfo element (nil when absent) and SignatureMethod URI. It is where
// the caller decides which tokens it trusts.
type KeyResolver func(keyInfo *etree.Element, method string) (VerifyingKey, error)

// VerifiedReference is one reference whose digest matched.
type VerifiedReference struct {
	ID      string
	Element *etree.Element
}

// Verified is the outcome of a successful verification: the exact nodes
// that were digested. Callers must use these nodes (or check with Covers)
// rather than looking elements up again, or a wrapped copy could be read
// instead of the signed one.
type Verified struct {
	Signature  *etree.Element
	KeyInfo    *etree.Element
	Method     string
	References []VerifiedReference
}

// Covers reports whether el is one of the signed elements.
func (v *Verified) Covers(el *etree.Element) bool {
	return slices.ContainsFunc(v.References, func(r VerifiedReference) bool { return r.Element == el })
}

// NotSignedError names a part the caller requires to be signed that the
// signature does not cover.
type NotSignedError struct{ Part string }

func (e *NotSignedError) Error() string {
	return fmt.Sprintf("dsig: %s is not covered by the signature", e.Part)
}

// Require returns a *NotSignedError for the first element in parts that
// the signature does not cover. Keys are the names used in the error.
func (v *Verified) Require(parts map[string]*etree.Element) error {
	for _, name := range slices.Sorted(maps.Keys(parts)) {
		if el := parts[name]; el == nil || !v.Covers(el) {
			return &NotSignedError{Part: name}
		}
	}
	return nil
}

// ReferenceError reports a Reference that does not resolve to exactly one
// element.
type ReferenceError struct {
	URI   string
	Count int
}

func (e *ReferenceError) Error() string {
	if e.Count == 0 {
		return fmt.Sprintf("dsig: reference %q resolves to no element", e.URI)
	}
	return fmt.Sprintf("dsig: reference %q resolves to %d elements (duplicate Id)", e.URI, e.Count)
}

// DigestError reports a reference whose digest does not match.
type DigestError struct{ URI string }

func (e *DigestError) Error() string {
	return fmt.Sprintf("dsig: digest mismatch for reference %q", e.URI)
}

// Verify checks the Signature element sig found in the document rooted at
// root. Every reference must name, by Id, exactly one element of the
// document; an Id carried by two elements anywhere in the document is
// refused whether or not it is referenced, because the element a verifier
// checks and the element an application reads must not be able to differ.
func Verify(root, sig *etree.Element, resolve KeyResolver, pol Policy) (*Verified, error) {
	return VerifyKnown(root, sig, resolve, pol, nil)
}

// VerifyKnown is Verify for a caller that may already hold the canonical
// form of some referenced elements (known, keyed by element): when the
// digest of a known form matches the reference, the element is not
// canonicalized again; otherwise it is, as Verify does. Known forms are
// without InclusiveNamespaces: a reference with a PrefixList is always
// canonicalized. A matching digest
// proves the signer's canonical bytes are the known ones, and exclusive
// canonicalization is idempotent, so the outcome is Verify's.
func VerifyKnown(root, sig *etree.Element, resolve KeyResolver, pol Policy, known map[*etree.Element][]byte) (*Verified, error) {
	if !xmldoc.Is(sig, xmldoc.Name{Space: NS, Local: "Signature"}) {
		return nil, fmt.Errorf("dsig: %s is not an XML Signature", xmldoc.NameOf(sig))
	}
	parts, err := readSignature(sig, pol)
	if err != nil {
		return nil, err
	}
	ids, err := indexIDs(root)
	if err != nil {
		return nil, err
	}
	if err := parts.verifySignedInfo(resolve); err != nil {
		return nil, err
	}
	out := &Verified{Signature: sig, KeyInfo: parts.keyInfo, Method: parts.method}
	for _, r := range parts.refs {
		el, err := r.check(ids, known)
		if err != nil {
			return nil, err
		}
		out.References = append(out.References, VerifiedReference{ID: r.uri[1:], Element: el})
	}
	return out, nil
}

// VerifySignedInfo checks the Signature element sig's shape and its
// SignatureValue over SignedInfo with the key resolve returns, without
// resolving or digesting any reference. It lets a caller with several
// candidate keys pick the one that signed before changing the document
// (decrypting what the signature covers); Verify must still follow.
func VerifySignedInfo(sig *etree.Element, resolve KeyResolver, pol Policy) error {
	if !xmldoc.Is(sig, xmldoc.Name{Space: NS, Local: "Signature"}) {
		return fmt.Errorf("dsig: %s is not an XML Signature", xmldoc.NameOf(sig))
	}
	parts, err := readSignature(sig, pol)
	if err != nil {
		return err
	}
	return parts.verifySignedInfo(resolve)
}

type sigParts struct {
	signedInfo *etree.Element
	siPrefixes []string
	method     string
	value      []byte
	keyInfo    *etree.Element
	refs       []reference
}

type reference struct {
	uri      string
	prefixes []string
	digest   string
	value    []byte
}

func dsName(local string) xmldoc.Name { return xmldoc.Name{Space: NS, Local: local} }

// readSignature checks the Signature's shape: exactly the children XML
// Signature allows, each once, and only allowlisted algorithms.
func readSignature(sig *etree.Element, pol Policy) (*sigParts, error) {
	var p sigParts
	var err error
	if p.signedInfo, err = xmldoc.One(sig, dsName("SignedInfo")); err != nil {
		return nil, fmt.Errorf("dsig: %w", err)
	}
	sv, err := xmldoc.One(sig, dsName("SignatureValue"))
	if err != nil {
		return nil, fmt.Errorf("dsig: %w", err)
	}
	if p.value, err = decodeBase64(sv); err != nil {
		return nil, fmt.Errorf("dsig: SignatureValue: %w", err)
	}
	if p.keyInfo, err = xmldoc.Optional(sig, dsName("KeyInfo")); err != nil {
		return nil, fmt.Errorf("dsig: %w", err)
	}
	cm, err := xmldoc.One(p.signedInfo, dsName("CanonicalizationMethod"))
	if err != nil {
		return nil, fmt.Errorf("dsig: %w", err)
	}
	if p.siPrefixes, err = c14nMethod(cm, "canonicalization"); err != nil {
		return nil, err
	}
	sm, err := xmldoc.One(p.signedInfo, dsName("SignatureMethod"))
	if err != nil {
		return nil, fmt.Errorf("dsig: %w", err)
	}
	if p.method, err = signatureMethod(sm, pol); err != nil {
		return nil, err
	}
	refs := xmldoc.Children(p.signedInfo, dsName("Reference"))
	if len(refs) == 0 {
		return nil, errors.New("dsig: SignedInfo has no Reference")
	}
	if pol.MaxReferences > 0 && len(refs) > pol.MaxReferences {
		return nil, fmt.Errorf("dsig: %d references exceed the limit of %d", len(refs), pol.MaxReferences)
	}
	for _, r := range refs {
		ref, err := readReference(r, pol)
		if err != nil {
			return nil, err
		}
		p.refs = append(p.refs, ref)
	}
	return &p, nil
}

func signatureMethod(sm *etree.Element, pol Policy) (string, error) {
	uri, _ := xmldoc.Attr(sm, xmldoc.Name{Local: "Algorithm"})
	if !slices.Contains(pol.SignatureMethods, uri) {
		return "", &AlgorithmError{Kind: "signature method", URI: uri}
	}
	if len(sm.ChildElements()) > 0 {
		// HMACOutputLength is the only child XML Signature defines; any
		// value lets a forger shorten the MAC (CVE-2009-0217).
		return "", fmt.Errorf("dsig: SignatureMethod parameters (%s) are not accepted", sm.ChildElements()[0].Tag)
	}
	return uri, nil
}

// c14nMethod accepts only exclusive c14n and returns its PrefixList.
func c14nMethod(el *etree.Element, kind string) ([]string, error) {
	uri, _ := xmldoc.Attr(el, xmldoc.Name{Local: "Algorithm"})
	if uri != c14n.Algorithm {
		return nil, &AlgorithmError{Kind: kind, URI: uri}
	}
	kids := el.ChildElements()
	switch {
	case len(kids) == 0:
		return nil, nil
	case len(kids) > 1 || !xmldoc.Is(kids[0], xmldoc.Name{Space: c14n.Algorithm, Local: "InclusiveNamespaces"}):
		return nil, fmt.Errorf("dsig: %s may only contain one InclusiveNamespaces", el.Tag)
	}
	list, _ := xmldoc.Attr(kids[0], xmldoc.Name{Local: "PrefixList"})
	return strings.Fields(list), nil
}

func readReference(r *etree.Element, pol Policy) (reference, error) {
	var ref reference
	uri, ok := xmldoc.Attr(r, xmldoc.Name{Local: "URI"})
	if !ok || len(uri) < 2 || uri[0] != '#' {
		return ref, fmt.Errorf("dsig: reference URI %q is not a same-document Id reference", uri)
	}
	ref.uri = uri
	ts, err := xmldoc.One(r, dsName("Transforms"))
	if err != nil {
		return ref, fmt.Errorf("dsig: reference %q: %w", uri, err)
	}
	tl := ts.ChildElements()
	if len(tl) != 1 || !xmldoc.Is(tl[0], dsName("Transform")) {
		return ref, fmt.Errorf("dsig: reference %q must have exactly one exclusive c14n transform", uri)
	}
	if ref.prefixes, err = c14nMethod(tl[0], "transform"); err != nil {
		return ref, err
	}
	return ref, readDigest(r, uri, pol, &ref)
}

// readDigest reads a Reference's DigestMethod, refused unless pol allows
// it, and its DigestValue into ref.
func readDigest(r *etree.Element, uri string, pol Policy, ref *reference) error {
	dm, err := xmldoc.One(r, dsName("DigestMethod"))
	if err != nil {
		return fmt.Errorf("dsig: reference %q: %w", uri, err)
	}
	ref.digest, _ = xmldoc.Attr(dm, xmldoc.Name{Local: "Algorithm"})
	if !slices.Contains(pol.DigestMethods, ref.digest) {
		return &AlgorithmError{Kind: "digest method", URI: ref.digest}
	}
	dv, err := xmldoc.One(r, dsName("DigestValue"))
	if err != nil {
		return fmt.Errorf("dsig: reference %q: %w", uri, err)
	}
	if ref.value, err = decodeBase64(dv); err != nil {
		return fmt.Errorf("dsig: reference %q DigestValue: %w", uri, err)
	}
	return nil
}

// verifySignedInfo resolves the signing key, which must be for the
// signature's method, and checks the signature over the canonical
// SignedInfo.
func (parts *sigParts) verifySignedInfo(resolve KeyResolver) error {
	key, err := resolve(parts.keyInfo, parts.method)
	if err != nil {
		return fmt.Errorf("dsig: resolve key: %w", err)
	}
	if key.Method() != parts.method {
		return fmt.Errorf("dsig: key is for %q, signature uses %q", key.Method(), parts.method)
	}
	canon, err := c14n.Exclusive(parts.signedInfo, parts.siPrefixes)
	if err != nil {
		return fmt.Errorf("dsig: canonicalize SignedInfo: %w", err)
	}
	return key.Verify(canon, parts.value)
}

// check resolves the reference and compares its digest in constant time.
func (r reference) check(ids map[string][]*etree.Element, known map[*etree.Element][]byte) (*etree.Element, error) {
	found := ids[r.uri[1:]]
	if len(found) != 1 {
		return nil, &ReferenceError{URI: r.uri, Count: len(found)}
	}
	if canon, ok := known[found[0]]; ok && r.prefixes == nil {
		h, err := newDigest(r.digest)
		if err != nil {
			return nil, err
		}
		h.Write(canon)
		if subtle.ConstantTimeCompare(h.Sum(nil), r.value) == 1 {
			return found[0], nil
		}
	}
	sum, err := digestOf(found[0], r.prefixes, r.digest)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(sum, r.value) != 1 {
		return nil, &DigestError{URI: r.uri}
	}
	return found[0], nil
}

// indexIDs maps every Id value in the document to the elements carrying
// it, and refuses a document where an Id is not unique.
func indexIDs(root *etree.Element) (map[string][]*etree.Element, error) {
	ids := map[string][]*etree.Element{}
	var dup string
	xmldoc.Walk(root, func(e *etree.Element) {
		for _, n := range IDAttributes {
			if v, ok := xmldoc.Attr(e, n); ok && !slices.Contains(ids[v], e) {
				ids[v] = append(ids[v], e)
				if len(ids[v]) > 1 && dup == "" {
					dup = v
				}
			}
		}
	})
	if dup != "" {
		return nil, &ReferenceError{URI: "#" + dup, Count: len(ids[dup])}
	}
	return ids, nil
}

func decodeBase64(el *etree.Element) ([]byte, error) {
	s := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, el.Text())
	if s == "" {
		return nil, errors.New("empty value")
	}
	return base64.StdEncoding.DecodeString(s)
}
