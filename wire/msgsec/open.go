package msgsec

import (
	"crypto"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xenc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// Bounds on what one Security header may ask of the receiver.
const (
	maxDKTs          = 8
	maxEncryptedData = 16
	maxReferences    = 32
)

// opener is one message being opened.
type opener struct {
	c   Config
	env *soap.Envelope
	exp Expect
	sec *etree.Element
	// byID indexes the Security header's tokens by Id.
	byID map[string]*etree.Element
	dkts map[*etree.Element]*wssc.DKT
	// named are the EncryptedData the ReferenceLists name, in order;
	// header ones are decrypted first (plain), the Body's later.
	named []*etree.Element
	plain map[*etree.Element]*xenc.Plain
	// sig is the primary signature, endorsing the endorsing one (nil
	// when there is none).
	sig, endorsing *etree.Element
	// peer is the certificate of the asymmetric or endorsing signature.
	peer *x509.Certificate
	// ctxEndorsing is a security context's endorsing signature and
	// endorsedBy its context, once verified (endorse_server.go).
	ctxEndorsing *etree.Element
	endorsedBy   *wssc.SCT

	// The protection token, settled by the first reference to it.
	ctxID string
	cands [][]byte
	cand  int
	ek    *KeyRef
	keyed bool
}

func (p *Profile) open(env *soap.Envelope, exp Expect) (*Opened, error) {
	switch {
	case env == nil || env.Header == nil:
		return nil, errors.New("msgsec: the message has no SOAP Header")
	case p.c.Role == Client && exp.Request == nil:
		return nil, errors.New("msgsec: a client opens the answer to a request it sent (Expect.Request)")
	}
	sec, err := wss.FindSecurity(env.Header)
	if err != nil {
		return nil, fmt.Errorf("msgsec: %w", err)
	}
	o := &opener{c: p.c, env: env, exp: exp, sec: sec, dkts: map[*etree.Element]*wssc.DKT{}}
	if err := o.index(); err != nil {
		return nil, err
	}
	if err := o.referenced(); err != nil {
		return nil, err
	}
	if err := o.selectKey(); err != nil {
		return nil, err
	}
	verified, err := o.verify()
	if err != nil {
		return nil, err
	}
	return o.finish(verified)
}

func (o *opener) scName(local string) xmldoc.Name {
	return xmldoc.Name{Space: o.c.Version.SC(), Local: local}
}

var (
	nameSignature = xmldoc.Name{Space: dsig.NS, Local: "Signature"}
)

// index checks that the Security header holds only what this binding
// uses, within bounds, and indexes its tokens by Id.
func (o *opener) index() error {
	counts := map[string]int{}
	o.byID = map[string]*etree.Element{}
	for _, el := range o.sec.ChildElements() {
		kind := o.kindOf(el)
		if kind == "" {
			return fmt.Errorf("msgsec: unexpected %s in the Security header", xmldoc.NameOf(el))
		}
		counts[kind]++
		for _, n := range dsig.IDAttributes {
			if id, ok := xmldoc.Attr(el, n); ok {
				if o.byID[id] != nil {
					return fmt.Errorf("msgsec: Id %q is used twice in the Security header", id)
				}
				o.byID[id] = el
			}
		}
	}
	switch {
	case counts["Timestamp"] != 1:
		return fmt.Errorf("msgsec: the Security header has %d Timestamps, expected 1", counts["Timestamp"])
	case counts["DerivedKeyToken"] > maxDKTs:
		return fmt.Errorf("msgsec: %d derived key tokens exceed the limit of %d", counts["DerivedKeyToken"], maxDKTs)
	case counts["EncryptedData"] > maxEncryptedData:
		return fmt.Errorf("msgsec: %d encrypted parts exceed the limit of %d", counts["EncryptedData"], maxEncryptedData)
	case counts["EncryptedKey"] > 1, counts["SecurityContextToken"] > 1, counts["Signature"] > 3, counts["UsernameToken"] > 1, counts["BinarySecurityToken"] > 1:
		return errors.New("msgsec: the Security header carries a token or signature twice")
	}
	return nil
}

// kindOf names an element the Security header may hold, "" otherwise.
func (o *opener) kindOf(el *etree.Element) string {
	for _, n := range []xmldoc.Name{
		wss.NameTimestamp, o.scName("SecurityContextToken"), o.scName("DerivedKeyToken"),
		xenc.NameEncryptedKey, xenc.NameReferenceList, xenc.NameEncryptedData,
		nameSignature, wss.NameSignatureConfirmation, wss.NameUsernameToken, wss.NameBinarySecurityToken,
	} {
		if xmldoc.Is(el, n) {
			return n.Local
		}
	}
	return ""
}

// referenced reads the ReferenceLists (in the header and in an
// EncryptedKey) and resolves each DataReference to exactly one
// EncryptedData, in the Security header or as the Body's content. Every
// EncryptedData in those places must be named.
func (o *opener) referenced() error {
	var ids []string
	for _, el := range o.sec.ChildElements() {
		var list []string
		var err error
		switch {
		case xmldoc.Is(el, xenc.NameReferenceList):
			list, err = xenc.ParseReferenceList(el)
		case xmldoc.Is(el, xenc.NameEncryptedKey):
			if rl, e := xmldoc.Optional(el, xenc.NameReferenceList); e != nil {
				err = e
			} else if rl != nil {
				list, err = xenc.ParseReferenceList(rl)
			}
		}
		if err != nil {
			return fmt.Errorf("msgsec: %w", err)
		}
		ids = append(ids, list...)
	}
	if len(ids) > maxEncryptedData+1 {
		return fmt.Errorf("msgsec: %d encrypted parts exceed the limit", len(ids))
	}
	index := idIndex(o.env.Root)
	seen := map[*etree.Element]bool{}
	for _, id := range ids {
		found := index[id]
		if len(found) != 1 {
			return fmt.Errorf("msgsec: DataReference %q resolves to %d elements, expected 1", "#"+id, len(found))
		}
		ed := found[0]
		if !xmldoc.Is(ed, xenc.NameEncryptedData) || seen[ed] || !o.encryptedPlace(ed) {
			return fmt.Errorf("msgsec: DataReference %q does not name an encrypted header or Body content", "#"+id)
		}
		seen[ed] = true
		o.named = append(o.named, ed)
	}
	var stray error
	xmldoc.Walk(o.env.Root, func(e *etree.Element) {
		if xmldoc.Is(e, xenc.NameEncryptedData) && !seen[e] && stray == nil {
			stray = errors.New("msgsec: an EncryptedData is not named by any ReferenceList")
		}
	})
	if stray != nil {
		return stray
	}
	if !o.bodyEncrypted() && hasContent(o.env.Body) {
		return errors.New("msgsec: the Body is not encrypted")
	}
	return nil
}

// encryptedPlace reports whether ed sits where this binding encrypts: a
// child of the Security header, or the one content of the Body.
func (o *opener) encryptedPlace(ed *etree.Element) bool {
	switch ed.Parent() {
	case o.sec:
		return true
	case o.env.Body:
		return len(o.env.Body.ChildElements()) == 1 && !hasText(o.env.Body)
	}
	return false
}

func (o *opener) bodyEncrypted() bool {
	kids := o.env.Body.ChildElements()
	return len(kids) == 1 && xmldoc.Is(kids[0], xenc.NameEncryptedData)
}

// selectKey settles the protection token's key, trying the context's
// accepted keys in order when there are several (rollover): with each, the
// encrypted header parts are decrypted aside and the Signature's
// SignedInfo checked. Nothing in the document changes until a key passes.
func (o *opener) selectKey() error {
	for o.cand = 0; ; o.cand++ {
		err := o.trySelect()
		if err == nil {
			return nil
		}
		retry := errors.Is(err, ErrDecrypt) || errors.Is(err, dsig.ErrBadSignature)
		if !retry || o.cand+1 >= len(o.cands) {
			return err
		}
	}
}

func (o *opener) trySelect() error {
	clear(o.dkts)
	o.plain = map[*etree.Element]*xenc.Plain{}
	sigs := xmldoc.Children(o.sec, nameSignature)
	for _, ed := range o.named {
		if ed.Parent() != o.sec {
			continue
		}
		pl, _, err := o.decrypt(ed, xenc.TypeElement)
		if err != nil {
			return err
		}
		o.plain[ed] = pl
		inner := pl.Elements()[0]
		if !xmldoc.Is(inner, nameSignature) && !xmldoc.Is(inner, wss.NameSignatureConfirmation) && !xmldoc.Is(inner, wss.NameUsernameToken) {
			return fmt.Errorf("msgsec: unexpected encrypted %s in the Security header", xmldoc.NameOf(inner))
		}
		if xmldoc.Is(inner, nameSignature) {
			sigs = append(sigs, inner)
		}
	}
	if err := o.classify(sigs); err != nil {
		return err
	}
	if o.c.Order.encryptsSignature() && o.sig.Parent() == o.sec {
		return errors.New("msgsec: the signature is not encrypted, as the protection order requires")
	}
	return dsig.VerifySignedInfo(o.sig, o.resolver, o.policy())
}

// classify finds the primary signature, made with the binding's
// signature method, and an endorsing one, made with the suite's RSA
// method under the symmetric binding.
func (o *opener) classify(sigs []*etree.Element) error {
	o.sig, o.endorsing = nil, nil
	sigs, err := o.contextEndorsement(sigs)
	if err != nil {
		return err
	}
	for _, sig := range sigs {
		m := signatureMethodOf(sig)
		switch {
		case m == o.policy().SignatureMethods[0] && o.sig == nil:
			o.sig = sig
		case !o.c.Asymmetric && m == o.c.Suite.AsymmetricSignature && o.endorsing == nil:
			o.endorsing = sig
		default:
			return fmt.Errorf("msgsec: unexpected signature (method %q)", m)
		}
	}
	switch {
	case o.sig == nil:
		return errors.New("msgsec: the message is not signed")
	case o.exp.Endorsed && o.endorsing == nil:
		return errors.New("msgsec: the message is not endorsed by a client certificate")
	}
	return nil
}

// signatureMethodOf returns the SignatureMethod Algorithm of sig, "" when
// it has none (the strict parse in wire/dsig reports why).
func signatureMethodOf(sig *etree.Element) string {
	si, err := xmldoc.One(sig, xmldoc.Name{Space: dsig.NS, Local: "SignedInfo"})
	if err != nil {
		return ""
	}
	sm, err := xmldoc.One(si, xmldoc.Name{Space: dsig.NS, Local: "SignatureMethod"})
	if err != nil {
		return ""
	}
	m, _ := xmldoc.Attr(sm, xmldoc.Name{Local: "Algorithm"})
	return m
}

// policy is the primary signature's: the binding's method only.
func (o *opener) policy() dsig.Policy {
	m := o.c.SignatureMethod
	if o.c.Asymmetric {
		m = o.c.Suite.AsymmetricSignature
	}
	return dsig.Policy{SignatureMethods: []string{m}, DigestMethods: []string{o.c.Suite.Digest}, MaxReferences: maxReferences}
}

// decrypt decrypts the EncryptedData ed, which must be of type typ and use
// the suite's algorithm, and parses it aside; it also returns the
// plaintext.
func (o *opener) decrypt(ed *etree.Element, typ string) (*xenc.Plain, []byte, error) {
	_, plain, err := o.decryptBytes(ed, typ)
	if err != nil {
		return nil, nil, err
	}
	p, err := xenc.ParsePlain(ed, typ, plain, o.c.Limits)
	return p, plain, err
}

func (o *opener) decryptBytes(ed *etree.Element, typ string) (*xenc.EncryptedData, []byte, error) {
	d, err := xenc.ParseEncryptedData(ed)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case d.Type != typ:
		return nil, nil, fmt.Errorf("msgsec: EncryptedData %q has Type %q, expected %q", d.ID, d.Type, typ)
	case d.Method != o.c.Suite.Encryption:
		return nil, nil, fmt.Errorf("msgsec: encryption %q is not the suite's %q", d.Method, o.c.Suite.Encryption)
	case d.KeyInfo == nil:
		return nil, nil, fmt.Errorf("msgsec: EncryptedData %q does not name its key", d.ID)
	}
	key, err := o.keyFor(d.KeyInfo)
	if err != nil {
		return nil, nil, err
	}
	if !o.c.DerivedKeys {
		if key, err = directEncryptionKey(key, o.c.Suite); err != nil {
			return nil, nil, ErrDecrypt
		}
	}
	plain, err := d.Decrypt(key)
	return d, plain, err
}

// put puts decrypted content in place of its EncryptedData, its bytes as
// decrypted recorded in the envelope's document, so that what is kept
// byte for byte (a SecurityContextToken in an answer's Body) is kept as
// the sender encrypted it, not as written again.
func (o *opener) put(pl *xenc.Plain) {
	pl.Replace()
	if o.env.Doc != nil {
		o.env.Doc.Graft(pl.Doc())
	}
}

// verify puts the decrypted parts in place in the order the protection
// order implies and checks the signature and what it must cover.
func (o *opener) verify() (*dsig.Verified, error) {
	known := map[*etree.Element][]byte{}
	decryptAll := func() error {
		for _, pl := range o.plain {
			o.put(pl)
		}
		if !o.bodyEncrypted() {
			return nil
		}
		body := o.env.Body
		start, end, err := canonicalTags(body)
		if err != nil {
			return err
		}
		pl, plain, err := o.decrypt(body.ChildElements()[0], xenc.TypeContent)
		if err != nil {
			return err
		}
		o.put(pl)
		// When the sender encrypted the Body's canonical content, as
		// scproxy does, the digest is checked without canonicalizing the
		// Body again (dsig.VerifyKnown). Not under a default namespace,
		// where the canonical content parses differently in context.
		if !defaultInScope(body) {
			known[body] = slices.Concat(start, plain, end)
		}
		return nil
	}
	var covered []*etree.Element
	if o.c.Order != EncryptBeforeSign {
		if err := decryptAll(); err != nil {
			return nil, err
		}
	} else {
		// The signature covers the EncryptedData of header parts.
		for ed := range o.plain {
			covered = append(covered, ed)
		}
	}
	v, err := dsig.VerifyKnown(o.env.Root, o.sig, o.resolver, o.policy(), known)
	if err != nil {
		return nil, fmt.Errorf("msgsec: %w", err)
	}
	if err := o.requireCovered(v, covered); err != nil {
		return nil, err
	}
	if o.c.Order == EncryptBeforeSign {
		if err := decryptAll(); err != nil {
			return nil, err
		}
	}
	if err := o.verifyEndorsing(); err != nil {
		return nil, err
	}
	return v, o.verifyContextEndorsement()
}

// verifyEndorsing checks the endorsing signature, which must cover the
// primary signature and be made by a certificate the message carries (the
// expected one, when the caller names it).
func (o *opener) verifyEndorsing() error {
	if o.endorsing == nil {
		return nil
	}
	pol := dsig.Policy{SignatureMethods: []string{o.c.Suite.AsymmetricSignature}, DigestMethods: []string{o.c.Suite.Digest}, MaxReferences: 1}
	v, err := dsig.Verify(o.env.Root, o.endorsing, o.certResolver, pol)
	if err != nil {
		return fmt.Errorf("msgsec: endorsing signature: %w", err)
	}
	if !v.Covers(o.sig) {
		return errors.New("msgsec: the endorsing signature does not cover the message signature")
	}
	return nil
}

// certResolver is the dsig.KeyResolver of RSA signatures: the
// certificate must be a BinarySecurityToken of the message, or the
// expected peer named by thumbprint.
func (o *opener) certResolver(keyInfo *etree.Element, method string) (dsig.VerifyingKey, error) {
	if keyInfo == nil {
		return nil, errors.New("the signature does not name its key")
	}
	strEl, err := xmldoc.One(keyInfo, wss.NameSecurityTokenReference)
	if err != nil {
		return nil, err
	}
	s, err := wss.ParseSTR(strEl)
	if err != nil && !errors.Is(err, wss.ErrUnsupportedReference) {
		return nil, err
	}
	var cert *x509.Certificate
	switch {
	case s != nil && s.Reference != nil && s.Reference.Local() && o.byID[s.Reference.Target()] != nil:
		if cert, err = wss.ParseX509Token(o.byID[s.Reference.Target()]); err != nil {
			return nil, err
		}
	case (s == nil || s.Reference == nil) && o.exp.Peer != nil:
		// A certificate never included (WCF's and WS-SP's RecipientToken):
		// the reference must name the configured peer exactly.
		if err := refersToCert(strEl, o.exp.Peer); err != nil {
			return nil, fmt.Errorf("msgsec: the signature is not by the expected certificate: %w", err)
		}
		cert = o.exp.Peer
	default:
		return nil, errors.New("msgsec: the signature's certificate is not in the message")
	}
	if o.exp.Peer != nil && !cert.Equal(o.exp.Peer) {
		return nil, errors.New("msgsec: the message is signed by another certificate than the expected one")
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("msgsec: the signing certificate's key is a %T, not RSA", cert.PublicKey)
	}
	o.peer = cert
	return dsig.RSAVerifyingKey(method, pub)
}

// requireCovered checks that the signature covers the Body, the
// Timestamp, every addressing header, every SignatureConfirmation and
// UsernameToken, and extra.
func (o *opener) requireCovered(v *dsig.Verified, extra []*etree.Element) error {
	parts := map[string]*etree.Element{"Body": o.env.Body}
	ts, err := xmldoc.One(o.sec, wss.NameTimestamp)
	if err != nil {
		return fmt.Errorf("msgsec: %w", err)
	}
	parts["Timestamp"] = ts
	for _, el := range addressing(o.env.Header) {
		parts[el.Tag] = el
	}
	for i, el := range extra {
		parts[fmt.Sprintf("encrypted part %d", i+1)] = el
	}
	// Encrypting first, a UsernameToken is still an EncryptedData here,
	// covered as such (extra).
	for i, el := range o.sec.ChildElements() {
		if xmldoc.Is(el, wss.NameSignatureConfirmation) || xmldoc.Is(el, wss.NameUsernameToken) {
			parts[fmt.Sprintf("%s %d", el.Tag, i)] = el
		}
	}
	if err := v.Require(parts); err != nil {
		return fmt.Errorf("msgsec: %w", err)
	}
	return nil
}

// resolver is the dsig.KeyResolver of the message's signature.
func (o *opener) resolver(keyInfo *etree.Element, method string) (dsig.VerifyingKey, error) {
	if o.c.Asymmetric {
		return o.certResolver(keyInfo, method)
	}
	if keyInfo == nil {
		return nil, errors.New("the signature does not name its key")
	}
	str, err := xmldoc.One(keyInfo, wss.NameSecurityTokenReference)
	if err != nil {
		return nil, err
	}
	key, err := o.keyFor(str)
	if err != nil {
		return nil, err
	}
	return dsig.HMACKey(method, key)
}

// keyFor returns the key a signature's or EncryptedData's KeyInfo
// reference names: a DerivedKeyToken on the protection token when the
// policy requires derived keys, the protection token itself otherwise.
func (o *opener) keyFor(strEl *etree.Element) ([]byte, error) {
	s, err := wss.ParseSTR(strEl)
	if err != nil {
		return nil, err
	}
	var dktEl *etree.Element
	if s.Reference != nil && s.Reference.Local() {
		if el := o.byID[s.Reference.Target()]; el != nil && xmldoc.Is(el, o.scName("DerivedKeyToken")) {
			dktEl = el
		}
	}
	switch {
	case o.c.DerivedKeys && dktEl == nil:
		return nil, errors.New("msgsec: a key is not a derived key, as the policy requires")
	case !o.c.DerivedKeys && dktEl != nil:
		return nil, errors.New("msgsec: a key is derived, and the policy says no derived keys")
	case dktEl == nil:
		return o.baseKey(*s)
	}
	dkt := o.dkts[dktEl]
	if dkt == nil {
		if dkt, err = wssc.ParseDKT(dktEl, o.c.Version); err != nil {
			return nil, err
		}
		o.dkts[dktEl] = dkt
	}
	base, err := o.baseKey(dkt.Base)
	if err != nil {
		return nil, err
	}
	return dkt.Key(base)
}

// baseKey returns the key of the protection token s names. All
// references of a message must name the same token.
func (o *opener) baseKey(s wss.STR) ([]byte, error) {
	if k := s.KeyIdentifier; k != nil {
		if k.ValueType != wss.ValueTypeEncryptedKeySHA1 {
			return nil, fmt.Errorf("msgsec: key identifier type %q is not accepted", k.ValueType)
		}
		return o.keyBySHA1(k.Value)
	}
	r := s.Reference
	if !r.Local() {
		if r.ValueType != "" && r.ValueType != o.c.Version.TokenType() {
			return nil, fmt.Errorf("msgsec: reference ValueType %q is not a security context", r.ValueType)
		}
		return o.contextKey(r.URI)
	}
	el := o.byID[r.Target()]
	switch {
	case el == nil:
		id := r.Target()
		if o.exp.Request != nil && o.exp.Request.contexts[id] != "" {
			id = o.exp.Request.contexts[id]
		}
		return o.contextKey(id)
	case xmldoc.Is(el, xenc.NameEncryptedKey):
		return o.unwrap(el)
	case xmldoc.Is(el, o.scName("SecurityContextToken")):
		id, err := xmldoc.One(el, o.scName("Identifier"))
		if err != nil {
			return nil, err
		}
		return o.contextKey(xmldoc.Text(id))
	}
	return nil, fmt.Errorf("msgsec: reference %q does not name a protection token", r.URI)
}

// contextKey returns the candidate key of the context identifier.
func (o *opener) contextKey(identifier string) ([]byte, error) {
	switch {
	case o.ek != nil:
		return nil, errors.New("msgsec: the message is keyed by two protection tokens")
	case o.ctxID != "" && o.ctxID != identifier:
		return nil, errors.New("msgsec: the message is keyed by two security contexts")
	case o.ctxID == "":
		if o.exp.ContextKeys == nil {
			return nil, ErrUnknownContext
		}
		cands, err := o.exp.ContextKeys(identifier)
		if err != nil {
			return nil, fmt.Errorf("msgsec: %w", err)
		}
		if len(cands) == 0 {
			return nil, ErrUnknownContext
		}
		o.ctxID, o.cands = identifier, cands
	}
	return o.cands[o.cand], nil
}

// unwrap opens the message's EncryptedKey with the receiver's key.
func (o *opener) unwrap(el *etree.Element) ([]byte, error) {
	if o.ctxID != "" {
		return nil, errors.New("msgsec: the message is keyed by two protection tokens")
	}
	if o.ek != nil {
		return o.ek.Key, nil
	}
	own := o.exp.Own
	if own == nil || own.Cert == nil {
		return nil, errors.New("msgsec: the message carries a key for a certificate this side does not have")
	}
	dec, ok := own.Key.(crypto.Decrypter)
	if !ok {
		return nil, errors.New("msgsec: the certificate's key cannot decrypt")
	}
	ek, err := xenc.ParseEncryptedKey(el)
	if err != nil {
		return nil, err
	}
	if ek.Method != o.c.Suite.KeyWrap {
		return nil, fmt.Errorf("msgsec: key transport %q is not the suite's %q", ek.Method, o.c.Suite.KeyWrap)
	}
	if err := namesCert(ek.KeyInfo, own.Cert); err != nil {
		return nil, err
	}
	key, err := ek.Unwrap(dec, o.c.Suite.KeyLength(), o.c.Rand)
	if err != nil {
		return nil, err
	}
	ref := NewKeyRef(key, ek.CipherValue)
	o.ek = &ref
	return key, nil
}

// namesCert requires an EncryptedKey's KeyInfo to name cert (by
// thumbprint, subject key identifier or issuer and serial number), so
// that a key for another party is refused by name.
func namesCert(strEl *etree.Element, cert *x509.Certificate) error {
	if err := refersToCert(strEl, cert); err != nil {
		return fmt.Errorf("msgsec: the EncryptedKey is not for this side's certificate: %w", err)
	}
	return nil
}

// keyBySHA1 returns the key an EncryptedKeySHA1 names: the key of this
// message's EncryptedKey or of the request answered.
func (o *opener) keyBySHA1(sum []byte) ([]byte, error) {
	if o.ctxID != "" {
		return nil, errors.New("msgsec: the message is keyed by two protection tokens")
	}
	for _, k := range []*KeyRef{o.ek, o.requestKey()} {
		if k != nil && subtle.ConstantTimeCompare(k.SHA1, sum) == 1 {
			o.ek = k
			return k.Key, nil
		}
	}
	return nil, errors.New("msgsec: the EncryptedKeySHA1 names no key this side sent or received")
}

func (o *opener) requestKey() *KeyRef {
	if o.exp.Request == nil {
		return nil
	}
	return o.exp.Request.key
}

// finish checks the Timestamp, addressing and SignatureConfirmation,
// reads the supporting UsernameToken and strips the Security header.
func (o *opener) finish(v *dsig.Verified) (*Opened, error) {
	ts, _ := xmldoc.One(o.sec, wss.NameTimestamp)
	t, err := wss.ParseTimestamp(ts)
	if err != nil {
		return nil, fmt.Errorf("msgsec: %w", err)
	}
	if err := t.CheckFresh(o.c.Now(), o.c.Freshness); err != nil {
		return nil, fmt.Errorf("msgsec: Timestamp: %w", err)
	}
	hs, _, err := wsa.Read(o.env.Header)
	if err != nil {
		return nil, fmt.Errorf("msgsec: %w", err)
	}
	if r := o.exp.Request; o.c.Role == Client {
		// Steady-state answers carry no SignatureConfirmation: the signed
		// RelatesTo is what ties an answer to its request, so a request
		// without a MessageID could be answered with any other answer of
		// the context.
		switch {
		case r.MessageID == "":
			return nil, errors.New("msgsec: the request had no wsa:MessageID, so no answer can be tied to it")
		case hs.RelatesTo != r.MessageID:
			return nil, fmt.Errorf("msgsec: the answer relates to %q, not to the request %q", hs.RelatesTo, r.MessageID)
		}
	}
	if err := o.confirmations(); err != nil {
		return nil, err
	}
	out := &Opened{Envelope: o.env, Addressing: hs}
	if ut, err := xmldoc.Optional(o.sec, wss.NameUsernameToken); err != nil {
		return nil, fmt.Errorf("msgsec: %w", err)
	} else if ut != nil {
		if o.c.Role == Client {
			return nil, errors.New("msgsec: an answer carries a UsernameToken")
		}
		if out.Username, err = wss.ParseUsernameToken(ut); err != nil {
			return nil, fmt.Errorf("msgsec: %w", err)
		}
	}
	for _, sig := range []*etree.Element{v.Signature, o.endorsing, o.ctxEndorsing} {
		if sig == nil {
			continue
		}
		val, err := signatureValue(sig)
		if err != nil {
			return nil, fmt.Errorf("msgsec: %w", err)
		}
		out.SignatureValues = append(out.SignatureValues, val)
	}
	out.PeerCert, out.EndorsedBy = o.peer, o.endorsedBy
	switch {
	case o.c.Asymmetric:
		if o.c.Role == Server && o.exp.Own != nil {
			out.Reply = Token{Asymmetric: &Asymmetric{Signer: *o.exp.Own, Recipient: o.peer}}
		}
	case o.ek != nil:
		out.Reply = Token{Key: o.ek}
	default:
		out.Reply = Token{Context: &Context{Token: &wssc.SCT{Identifier: o.ctxID}, Key: o.cands[o.cand]}}
	}
	o.env.Header.RemoveChild(o.sec)
	// What the signature does not cover is not the sender's: a header
	// block added on the way (or one the sender left unsigned, such as a
	// diagnostic id) is dropped, so that nothing unverified reaches the
	// caller.
	for _, h := range o.env.Header.ChildElements() {
		if !v.Covers(h) {
			o.env.Header.RemoveChild(h)
		}
	}
	return out, nil
}

// confirmations checks, for a client whose policy requires
// SignatureConfirmation, that the answer confirms exactly the request's
// signature values (one empty confirmation for an unsigned request).
func (o *opener) confirmations() error {
	els := xmldoc.Children(o.sec, wss.NameSignatureConfirmation)
	if o.c.Role == Server {
		if len(els) > 0 {
			return errors.New("msgsec: a request carries a SignatureConfirmation")
		}
		return nil
	}
	if !o.c.SignatureConfirmation {
		return nil
	}
	var want [][]byte
	if o.exp.Request != nil {
		want = o.exp.Request.SignatureValues
	}
	if len(want) == 0 {
		want = [][]byte{nil}
	}
	if len(els) != len(want) {
		return fmt.Errorf("msgsec: the answer carries %d signature confirmations, expected %d", len(els), len(want))
	}
	used := make([]bool, len(want))
	for _, el := range els {
		c, err := wss.ParseSignatureConfirmation(el)
		if err != nil {
			return fmt.Errorf("msgsec: %w", err)
		}
		found := false
		for i, w := range want {
			if !used[i] && sameValue(w, c.Value) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			return errors.New("msgsec: a signature confirmation does not match the request's signature")
		}
	}
	return nil
}

// sameValue compares confirmation values; nil (an unsigned request's
// confirmation) equals only nil.
func sameValue(a, b []byte) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return subtle.ConstantTimeCompare(a, b) == 1
}

// idIndex maps every Id value in the document to the elements carrying it.
func idIndex(root *etree.Element) map[string][]*etree.Element {
	ids := map[string][]*etree.Element{}
	xmldoc.Walk(root, func(e *etree.Element) {
		for _, n := range dsig.IDAttributes {
			if v, ok := xmldoc.Attr(e, n); ok {
				ids[v] = append(ids[v], e)
			}
		}
	})
	return ids
}

func hasContent(el *etree.Element) bool { return len(el.ChildElements()) > 0 || hasText(el) }

func hasText(el *etree.Element) bool {
	for _, tok := range el.Child {
		if t, ok := tok.(*etree.CharData); ok && !t.IsWhitespace() {
			return true
		}
	}
	return false
}
