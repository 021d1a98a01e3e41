package msgsec

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/c14n"
	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/keys"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xenc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// builder is one message being protected.
type builder struct {
	c     Config
	env   *soap.Envelope
	sec   *etree.Element
	ids   *idGen
	frags map[*etree.Element]xmldoc.Fragment
	sent  *Sent
	// signer is the RSA signer of the asymmetric binding, endorser the
	// endorsing certificate, each with the Id of its
	// BinarySecurityToken.
	signer, endorser *Certificate
	signerBST        string
	endorserBST      string
	// ctxEndorser endorses with a security context (endorse_client.go),
	// and certEndorsing is the certificate's endorsement made beside it.
	ctxEndorser   *contextEndorser
	certEndorsing *etree.Element
}

// protection is the protection token as this message carries it: its key
// and how DerivedKeyTokens and KeyInfo name it.
type protection struct {
	key  []byte
	base wss.STR
}

// keying is the signing and encryption keys and the KeyInfo content that
// names each.
type keying struct {
	sign           dsig.SigningKey
	encKey         []byte
	sigRef, encRef func() *etree.Element
}

func (p *Profile) protect(env *soap.Envelope, out Outgoing) (*Sent, error) {
	switch {
	case out.Token.count() != 1:
		return nil, errors.New("msgsec: exactly one protection token is needed")
	case (out.Token.Asymmetric != nil) != p.c.Asymmetric:
		return nil, errors.New("msgsec: the asymmetric binding is protected with an Asymmetric token, and only it")
	case out.Endorsing != nil && (out.Endorsing.Cert == nil || out.Endorsing.Key == nil):
		return nil, errors.New("msgsec: the endorsing certificate has no certificate or key")
	}
	h := env.EnsureHeader()
	if len(xmldoc.Children(h, wss.NameSecurity)) > 0 {
		return nil, errors.New("msgsec: the message already carries a WS-Security header")
	}
	hs, _, err := wsa.Read(h)
	if err != nil {
		return nil, fmt.Errorf("msgsec: %w", err)
	}
	b := &builder{c: p.c, env: env, ids: newIDGen(env.Root, p.c.IDPrefix), frags: map[*etree.Element]xmldoc.Fragment{}, sent: &Sent{MessageID: hs.MessageID}}
	b.sec = wss.NewSecurityHeader(env.Version.Namespace())
	h.AddChild(b.sec)
	ts := wss.NewTimestamp(b.ids.next(), p.c.Now(), p.c.TTL).Element()
	b.sec.AddChild(ts)
	tok, err := b.token(out.Token)
	if err != nil {
		return nil, err
	}
	if out.Endorsing != nil {
		b.endorser, b.endorserBST = out.Endorsing, b.addBST(out.Endorsing.Cert)
	}
	if out.EndorsingContext != nil {
		if err := b.addContextEndorser(*out.EndorsingContext); err != nil {
			return nil, err
		}
	}
	k, err := b.keying(tok)
	if err != nil {
		return nil, err
	}
	mark := len(b.sec.ChildElements())
	signed, items, err := b.parts(ts, out)
	if err != nil {
		return nil, err
	}
	if err := b.apply(k, signed, items, mark); err != nil {
		return nil, err
	}
	b.sent.Bytes = xmldoc.SerializeWith(env.Root, b.frags)
	return b.sent, nil
}

// token writes the protection token (or nothing, when the peer already
// has it) and returns its key and reference.
func (b *builder) token(t Token) (protection, error) {
	switch {
	case t.Context != nil:
		return b.context(*t.Context)
	case t.Recipient != nil:
		return b.encryptedKey(t.Recipient)
	case t.Asymmetric != nil:
		a := t.Asymmetric
		if a.Signer.Cert == nil || a.Signer.Key == nil || a.Recipient == nil {
			return protection{}, errors.New("msgsec: the asymmetric binding needs a signing certificate with its key and a recipient certificate")
		}
		b.signer, b.signerBST = &a.Signer, b.addBST(a.Signer.Cert)
		return b.encryptedKey(a.Recipient)
	default:
		ki := &wss.KeyIdentifier{ValueType: wss.ValueTypeEncryptedKeySHA1, Value: t.Key.SHA1}
		return protection{key: t.Key.Key, base: wss.STR{KeyIdentifier: ki}}, nil
	}
}

// context places the SCT exactly as issued when asked, and references it
// as WCF does: by wsu:Id (with the SCT ValueType in February 2005) when
// included, otherwise by Identifier.
func (b *builder) context(c Context) (protection, error) {
	if c.Token == nil || len(c.Key) == 0 {
		return protection{}, errors.New("msgsec: the context has no token or key")
	}
	v := b.c.Version
	ref := wss.Reference{URI: c.Token.Identifier, ValueType: v.TokenType()}
	if c.Include {
		if err := b.addFragment(c.Token.Fragment); err != nil {
			return protection{}, fmt.Errorf("msgsec: security context token: %w", err)
		}
		if c.Token.ID != "" {
			ref = wss.Reference{URI: "#" + c.Token.ID}
			if v == wssc.Feb2005 {
				ref.ValueType = v.TokenType()
			}
			b.sent.contexts = map[string]string{c.Token.ID: c.Token.Identifier}
		}
	}
	return protection{key: c.Key, base: wss.STR{Reference: &ref}}, nil
}

// addFragment places a token received from a server, to be written back
// exactly as received, declaring on the Security header the bindings it
// borrowed when that shadows nothing the header uses.
func (b *builder) addFragment(f xmldoc.Fragment) error {
	return xmldoc.AppendFragment(b.sec, f, b.frags)
}

// addBST places cert as a BinarySecurityToken and returns its Id.
func (b *builder) addBST(cert *x509.Certificate) string {
	id := b.ids.next()
	b.sec.AddChild(wss.X509Token(id, cert.Raw))
	return id
}

// bstRef names the BinarySecurityToken id.
func bstRef(id string) func() *etree.Element {
	return func() *etree.Element {
		return wss.ReferenceSTR(wss.Reference{URI: "#" + id, ValueType: wss.ValueTypeX509v3})
	}
}

// encryptedKey makes a fresh key of the suite's size, sends it in an
// EncryptedKey for cert, and remembers it for the answer.
func (b *builder) encryptedKey(cert *x509.Certificate) (protection, error) {
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return protection{}, fmt.Errorf("msgsec: the service certificate's key is a %T, not RSA", cert.PublicKey)
	}
	key := make([]byte, b.c.Suite.KeyLength())
	if _, err := io.ReadFull(b.c.Rand, key); err != nil {
		return protection{}, fmt.Errorf("msgsec: message key: %w", err)
	}
	wrapped, err := xenc.WrapKey(b.c.Suite.KeyWrap, key, pub, b.c.Rand)
	if err != nil {
		return protection{}, err
	}
	thumb := sha1.Sum(cert.Raw)
	ek := xenc.EncryptedKey{
		ID: b.ids.next(), Method: b.c.Suite.KeyWrap, CipherValue: wrapped,
		KeyInfo: wss.KeyIdentifierSTR(wss.KeyIdentifier{ValueType: wss.ValueTypeThumbprintSHA1, Value: thumb[:]}),
	}
	b.sec.AddChild(ek.Element())
	ref := NewKeyRef(key, wrapped)
	b.sent.key = &ref
	return protection{key: key, base: wss.STR{Reference: &wss.Reference{URI: "#" + ek.ID, ValueType: wss.TokenTypeEncryptedKey}}}, nil
}

// keying returns the signing and encryption keys: DerivedKeyTokens from
// the token's key, or the key itself.
func (b *builder) keying(t protection) (keying, error) {
	var k keying
	var sigKey []byte
	if !b.c.DerivedKeys {
		enc, err := directEncryptionKey(t.key, b.c.Suite)
		if err != nil {
			return keying{}, err
		}
		ref := func() *etree.Element { return strElement(t.base) }
		sigKey, k.encKey, k.sigRef, k.encRef = t.key, enc, ref, ref
	} else {
		var err error
		if !b.c.Asymmetric {
			if sigKey, k.sigRef, err = b.derive(t, b.c.Suite.SignatureKeyLength); err != nil {
				return keying{}, err
			}
		}
		if k.encKey, k.encRef, err = b.derive(t, b.c.Suite.EncryptionKeyLength); err != nil {
			return keying{}, err
		}
	}
	var err error
	if b.signer != nil {
		k.sign, err = dsig.RSASigningKey(b.c.Suite.AsymmetricSignature, b.signer.Key)
		k.sigRef = bstRef(b.signerBST)
	} else {
		k.sign, err = dsig.HMACKey(b.c.SignatureMethod, sigKey)
	}
	return k, err
}

// derive adds a DerivedKeyToken of length bytes, with a fresh nonce, on
// the protection token.
func (b *builder) derive(t protection, length int) ([]byte, func() *etree.Element, error) {
	dkt, err := wssc.NewDKTOn(b.ids.next(), t.base, keys.Derivation{Length: length}, b.c.Rand)
	if err != nil {
		return nil, nil, err
	}
	el, err := dkt.Element(b.c.Version)
	if err != nil {
		return nil, nil, err
	}
	b.sec.AddChild(el)
	key, err := dkt.Key(t.key)
	if err != nil {
		return nil, nil, err
	}
	ref := wss.Reference{URI: "#" + dkt.ID, ValueType: b.c.Version.DKValueType()}
	return key, func() *etree.Element { return wss.ReferenceSTR(ref) }, nil
}

// directEncryptionKey is the encryption key of a token used without
// derived keys: its first bytes, as many as the suite's cipher takes, as
// WSS4J does (a service issues 32-byte context keys whatever the suite);
// the signature uses the whole key.
func directEncryptionKey(key []byte, s Suite) ([]byte, error) {
	n := s.KeyLength()
	if len(key) < n {
		return nil, fmt.Errorf("msgsec: the protection token's key is %d bytes; without derived keys %s encryption needs %d", len(key), s.Name, n)
	}
	return key[:n], nil
}

func strElement(s wss.STR) *etree.Element {
	if s.Reference != nil {
		return wss.ReferenceSTR(*s.Reference)
	}
	return wss.KeyIdentifierSTR(*s.KeyIdentifier)
}

// parts gives Ids to and returns the parts to sign (Timestamp,
// addressing headers, SignatureConfirmations, UsernameToken; the Body is
// added by apply) and the header items to encrypt (the UsernameToken).
func (b *builder) parts(ts *etree.Element, out Outgoing) (signed, items []*etree.Element, err error) {
	signed = []*etree.Element{ts}
	for _, el := range addressing(b.env.Header) {
		b.ensureID(el)
		signed = append(signed, el)
	}
	if b.c.SignatureConfirmation && b.c.Role == Server {
		values := out.Confirm
		if len(values) == 0 {
			values = [][]byte{nil}
		}
		for _, v := range values {
			el := wss.SignatureConfirmation{ID: b.ids.next(), Value: v}.Element()
			b.sec.AddChild(el)
			signed = append(signed, el)
		}
	}
	if out.Username != nil {
		ut := *out.Username
		ut.ID = b.ids.next()
		el := ut.Element()
		b.sec.AddChild(el)
		signed = append(signed, el)
		items = append(items, el)
	}
	return signed, items, nil
}

// addressing returns the WS-Addressing headers a signature covers, in
// either version, in document order.
func addressing(header *etree.Element) []*etree.Element {
	var out []*etree.Element
	if header == nil {
		return nil
	}
	for _, el := range header.ChildElements() {
		for _, v := range []wsa.Version{wsa.V10, wsa.V200408} {
			for _, local := range addressingSigned {
				if xmldoc.Is(el, v.Name(local)) {
					out = append(out, el)
				}
			}
		}
	}
	return out
}

// addressingSigned are the addressing headers signed when present.
var addressingSigned = []string{"Action", "MessageID", "ReplyTo", "To", "RelatesTo"}

func (b *builder) ensureID(el *etree.Element) {
	if _, ok := wss.ID(el); !ok {
		wss.SetID(el, b.ids.next())
	}
}

// apply signs and encrypts in the configured order and lays out the
// Security header: Timestamp, token, DerivedKeyTokens, then, when
// encrypting first, the Signature and the ReferenceList; otherwise the
// ReferenceList, the other items and the Signature (or its
// EncryptedData) last. mark is the position after the DerivedKeyTokens.
func (b *builder) apply(k keying, signed, items []*etree.Element, mark int) error {
	body := b.env.Body
	b.ensureID(body)
	e := &encryptor{b: b, blk: xenc.Block{Method: b.c.Suite.Encryption, Key: k.encKey, KeyInfo: k.encRef, Rand: b.c.Rand}, signed: signed}
	if b.c.Order == EncryptBeforeSign {
		if err := e.body(xenc.SerializeContent(body)); err != nil {
			return err
		}
		if err := e.elements(items); err != nil {
			return err
		}
		sig, err := b.sign(k, append(e.signed, body), nil)
		if err != nil {
			return err
		}
		if _, err := b.maybeEndorse(sig); err != nil {
			return err
		}
		b.place(mark, sig, e.ids)
		return nil
	}
	// The content is serialized for encryption before the Body is
	// canonicalized where it is (not on a copy), which leaves the content
	// rewritten: it is replaced by its EncryptedData next.
	plain := xenc.SerializeContent(body)
	full, err := c14n.ExclusiveInPlace(body, nil)
	if err != nil {
		return err
	}
	sig, err := b.sign(k, append(signed, body), map[*etree.Element][]byte{body: full})
	if err != nil {
		return err
	}
	esig, err := b.maybeEndorse(sig)
	if err != nil {
		return err
	}
	if b.c.Order.encryptsSignature() {
		for _, el := range signed {
			if xmldoc.Is(el, wss.NameSignatureConfirmation) {
				items = append(items, el)
			}
		}
		items = append(items, sig)
		if esig != nil {
			items = append(items, esig)
		}
		if b.certEndorsing != nil {
			items = append(items, b.certEndorsing)
		}
	}
	if err := e.body(plain); err != nil {
		return err
	}
	if err := e.elements(items); err != nil {
		return err
	}
	b.place(mark, nil, e.ids)
	return nil
}

// encryptor encrypts a message's parts with one key and collects the
// Ids of the EncryptedData it makes, the Body's first.
type encryptor struct {
	b   *builder
	blk xenc.Block
	// signed are the parts to sign; an encrypted one is replaced by its
	// EncryptedData, which is what a signature made next covers.
	signed []*etree.Element
	ids    []string
}

// elements replaces each of els with its EncryptedData.
func (e *encryptor) elements(els []*etree.Element) error {
	for _, el := range els {
		id := e.b.ids.next()
		ed, err := e.blk.EncryptElement(el, id)
		if err != nil {
			return err
		}
		if i := slices.Index(e.signed, el); i >= 0 {
			e.signed[i] = ed
		}
		e.ids = append(e.ids, id)
	}
	return nil
}

// body encrypts the Body's content, plain: the content serialized as it
// stands. Not its canonical form, although a signature may have just
// computed it: exclusive canonicalization renders only the namespace
// declarations an element or attribute name uses, so it drops those that
// only QNames in content use (an xsi:type value, a fault's code), and the
// receiver would read those QNames unbound.
func (e *encryptor) body(plain []byte) error {
	body := e.b.env.Body
	if len(body.Child) == 0 {
		return nil
	}
	id := e.b.ids.next()
	if _, err := e.blk.EncryptSerialized(body, id, plain); err != nil {
		return err
	}
	e.ids = append([]string{id}, e.ids...)
	return nil
}

// maybeEndorse endorses sig when the message has an endorsing
// certificate; it returns the endorsing signature or nil.
func (b *builder) maybeEndorse(sig *etree.Element) (*etree.Element, error) {
	if b.ctxEndorser != nil {
		return b.endorseWithContext(sig)
	}
	if b.endorser == nil {
		return nil, nil
	}
	return b.endorse(sig)
}

// place inserts at mark the Signature (when it goes first) and the
// ReferenceList naming ids.
func (b *builder) place(mark int, sig *etree.Element, ids []string) {
	var els []*etree.Element
	if sig != nil {
		b.sec.RemoveChild(sig)
		els = append(els, sig)
	}
	if len(ids) > 0 {
		els = append(els, xenc.ReferenceList(ids...))
	}
	at := b.sec.ChildElements()[mark-1].Index() + 1
	for i, el := range els {
		b.sec.InsertChildAt(at+i, el)
	}
}

// sign appends the Signature over parts to the Security header and
// records its value. known holds canonical forms already computed.
func (b *builder) sign(k keying, parts []*etree.Element, known map[*etree.Element][]byte) (*etree.Element, error) {
	refs := make([]dsig.Reference, len(parts))
	for i, el := range parts {
		refs[i] = dsig.Reference{Element: el, Canonical: known[el]}
	}
	return b.signWith(k.sign, k.sigRef(), refs)
}

func (b *builder) signWith(key dsig.SigningKey, keyInfo *etree.Element, refs []dsig.Reference) (*etree.Element, error) {
	s := dsig.Signer{Key: key, Digest: b.c.Suite.Digest, KeyInfo: keyInfo}
	sig, err := s.Sign(b.sec, refs...)
	if err != nil {
		return nil, err
	}
	v, err := signatureValue(sig)
	if err != nil {
		return nil, err
	}
	b.sent.SignatureValues = append(b.sent.SignatureValues, v)
	return sig, nil
}

// endorse gives the primary signature an Id and signs it with the
// endorsing certificate's key (WS-SecurityPolicy 1.2 §8.3, WCF's
// MutualCertificate): the endorsing Signature follows the primary one.
func (b *builder) endorse(primary *etree.Element) (*etree.Element, error) {
	key, err := dsig.RSASigningKey(b.c.Suite.AsymmetricSignature, b.endorser.Key)
	if err != nil {
		return nil, err
	}
	primary.CreateAttr("Id", b.ids.next())
	return b.signWith(key, bstRef(b.endorserBST)(), []dsig.Reference{{Element: primary}})
}

// signatureValue returns the decoded SignatureValue of sig.
func signatureValue(sig *etree.Element) ([]byte, error) {
	sv, err := xmldoc.One(sig, xmldoc.Name{Space: dsig.NS, Local: "SignatureValue"})
	if err != nil {
		return nil, err
	}
	return wss.DecodeBase64(sv.Text())
}

// defaultInScope reports whether a default namespace is in scope at el.
// The canonical form of el's content then cannot be parsed in el's
// context as it was signed: a child in no namespace carries no xmlns=""
// (no output ancestor rendered a default namespace), and would take the
// inherited one.
func defaultInScope(el *etree.Element) bool { return xmldoc.InScope(el)[""] != "" }

// canonicalTags returns el's canonical start and end tags in its
// context: its canonical form is start, the canonical form of its content
// in context, end.
func canonicalTags(el *etree.Element) (start, end []byte, err error) {
	kids := el.Child
	el.Child = nil
	c, err := c14n.Exclusive(el, nil)
	el.Child = kids
	if err != nil {
		return nil, nil, err
	}
	end = []byte("</" + el.FullTag() + ">")
	if !bytes.HasSuffix(c, end) {
		return nil, nil, fmt.Errorf("msgsec: unexpected canonical form of %s", el.Tag)
	}
	return c[:len(c)-len(end)], end, nil
}

// idGen hands out Ids unused in the envelope.
type idGen struct {
	prefix string
	used   map[string]bool
	n      int
}

func newIDGen(root *etree.Element, prefix string) *idGen {
	g := &idGen{prefix: prefix, used: map[string]bool{}}
	xmldoc.Walk(root, func(e *etree.Element) {
		for _, n := range dsig.IDAttributes {
			if v, ok := xmldoc.Attr(e, n); ok {
				g.used[v] = true
			}
		}
	})
	return g
}

func (g *idGen) next() string {
	for {
		g.n++
		id := g.prefix + "_" + strconv.Itoa(g.n)
		if !g.used[id] {
			g.used[id] = true
			return id
		}
	}
}
