package msgsec

import (
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"

	"github.com/beevik/etree"

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
	sigKey, encKey []byte
	sigRef, encRef func() *etree.Element
}

func (p *Profile) protect(env *soap.Envelope, out Outgoing) (*Sent, error) {
	switch {
	case out.Token.count() != 1:
		return nil, errors.New("msgsec: exactly one protection token is needed")
	case out.Token.Asymmetric != nil || out.Endorsing != nil:
		return nil, errors.New("msgsec: the asymmetric binding and endorsing certificates are not implemented")
	}
	h := env.EnsureHeader()
	if len(xmldoc.Children(h, wss.NameSecurity)) > 0 {
		return nil, errors.New("msgsec: the message already carries a WS-Security header")
	}
	b := &builder{c: p.c, env: env, ids: newIDGen(env.Root, p.c.IDPrefix), frags: map[*etree.Element]xmldoc.Fragment{}, sent: &Sent{}}
	b.sec = wss.NewSecurityHeader(env.Version.Namespace())
	h.AddChild(b.sec)
	ts := wss.NewTimestamp(b.ids.next(), p.c.Now(), p.c.TTL).Element()
	b.sec.AddChild(ts)
	tok, err := b.token(out.Token)
	if err != nil {
		return nil, err
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
	if hs, _, err := wsa.Read(h); err == nil {
		b.sent.MessageID = hs.MessageID
	}
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
	el, err := f.Element()
	if err != nil {
		return err
	}
	scope := xmldoc.InScope(b.sec)
	for _, p := range slices.Sorted(maps.Keys(f.Bindings)) {
		if _, bound := scope[p]; p != "" && !bound {
			b.sec.CreateAttr("xmlns:"+p, f.Bindings[p])
		}
	}
	b.sec.AddChild(el)
	b.frags[el] = f
	return nil
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
	if !b.c.DerivedKeys {
		if n := b.c.Suite.KeyLength(); len(t.key) != n {
			return keying{}, fmt.Errorf("msgsec: the protection token's key is %d bytes; without derived keys %s encryption needs %d", len(t.key), b.c.Suite.Name, n)
		}
		ref := func() *etree.Element { return strElement(t.base) }
		return keying{sigKey: t.key, encKey: t.key, sigRef: ref, encRef: ref}, nil
	}
	sigKey, sigRef, err := b.derive(t, b.c.Suite.SignatureKeyLength)
	if err != nil {
		return keying{}, err
	}
	encKey, encRef, err := b.derive(t, b.c.Suite.EncryptionKeyLength)
	if err != nil {
		return keying{}, err
	}
	return keying{sigKey: sigKey, encKey: encKey, sigRef: sigRef, encRef: encRef}, nil
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
	blk := xenc.Block{Method: b.c.Suite.Encryption, Key: k.encKey, KeyInfo: k.encRef, Rand: b.c.Rand}
	var encIDs []string
	encrypt := func(els []*etree.Element) error {
		for _, el := range els {
			id := b.ids.next()
			ed, err := blk.EncryptElement(el, id)
			if err != nil {
				return err
			}
			if i := slices.Index(signed, el); i >= 0 {
				signed[i] = ed
			}
			encIDs = append(encIDs, id)
		}
		return nil
	}
	encryptBody := func() error {
		if len(body.Child) == 0 {
			return nil
		}
		id := b.ids.next()
		if _, err := blk.EncryptContent(body, id); err != nil {
			return err
		}
		encIDs = append([]string{id}, encIDs...)
		return nil
	}
	if b.c.Order == EncryptBeforeSign {
		if err := encryptBody(); err != nil {
			return err
		}
		if err := encrypt(items); err != nil {
			return err
		}
		sig, err := b.sign(k, append(signed, body))
		if err != nil {
			return err
		}
		b.place(mark, sig, encIDs)
		return nil
	}
	sig, err := b.sign(k, append(signed, body))
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
	}
	if err := encryptBody(); err != nil {
		return err
	}
	if err := encrypt(items); err != nil {
		return err
	}
	b.place(mark, nil, encIDs)
	return nil
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
// records its value.
func (b *builder) sign(k keying, parts []*etree.Element) (*etree.Element, error) {
	key, err := dsig.HMACKey(b.c.SignatureMethod, k.sigKey)
	if err != nil {
		return nil, err
	}
	refs := make([]dsig.Reference, len(parts))
	for i, el := range parts {
		refs[i] = dsig.Reference{Element: el}
	}
	s := dsig.Signer{Key: key, Digest: b.c.Suite.Digest, KeyInfo: k.sigRef()}
	sig, err := s.Sign(b.sec, refs...)
	if err != nil {
		return nil, err
	}
	sv, err := xmldoc.One(sig, xmldoc.Name{Space: dsig.NS, Local: "SignatureValue"})
	if err != nil {
		return nil, err
	}
	v, err := wss.DecodeBase64(sv.Text())
	if err != nil {
		return nil, err
	}
	b.sent.SignatureValues = append(b.sent.SignatureValues, v)
	return sig, nil
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
