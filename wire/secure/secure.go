package secure

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/keys"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// Options are the settings shared by every way of securing a message.
type Options struct {
	// Now is the clock for the Timestamp; required, so output is
	// reproducible in tests.
	Now func() time.Time
	// TTL is the Timestamp's validity; zero means 5 minutes, the value
	// every WS-Security stack uses.
	TTL time.Duration
	// Rand supplies nonces (derived keys, password digests).
	Rand io.Reader
	// Digest is the reference digest URI; empty means SHA-1.
	Digest string
	// SignBody adds the Body to the signed parts.
	SignBody bool
	// IDPrefix starts every wsu:Id added to the message. A proxy that does
	// not read the Body cannot see its Ids; an unpredictable prefix keeps
	// the ones added here distinct from them.
	IDPrefix string
	// Endorse, when set, has the With* function of a bootstrap credential
	// (WithUsername, WithCertificate, WithIssuedToken, WithKerberos) also
	// endorse the message with a security context, as WCF's client does in
	// a Renew: after the credential's token and signature come the SCT and
	// an HMAC signature made with the context key over the Timestamp only
	// (.NET Framework servers refuse an SCT-keyed Renew whose wsa:To is
	// signed). WithContext and AddContext ignore it.
	Endorse *Endorsement
}

// Endorsement is a security context that endorses a message another
// credential secures.
type Endorsement struct {
	Context Context
	// SignatureMethod is as in ContextOptions: dsig.HMACSHA1 when empty.
	SignatureMethod string
}

// DefaultTTL is the Timestamp validity used when Options.TTL is zero.
const DefaultTTL = 5 * time.Minute

// ErrAlreadySecured is returned for an envelope that already has a
// wsse:Security header.
var ErrAlreadySecured = errors.New("secure: the message already carries a WS-Security header")

// Context is an established security context as its client holds it.
type Context struct {
	Version wssc.Version
	Token   *wssc.SCT
	Key     []byte
}

// String names the context by its identifier, never its key.
func (c Context) String() string {
	if c.Token == nil {
		return "security context"
	}
	return "security context " + c.Token.Identifier
}

// Format prints String under every verb, so that no %v, %+v or %#v of a
// struct holding a Context can print its key.
func (c Context) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue is String, for structured logs (JSON included).
func (c Context) LogValue() slog.Value { return slog.StringValue(c.String()) }

// defaultDerivedLength is the length in bytes of a derived signing key
// when ContextOptions.DerivedLength is zero: 192 bits, WS-SecurityPolicy's
// DerivedSigKeyLength for the Basic256 suites and WCF's signing length.
const defaultDerivedLength = 24

// ContextOptions add the choices specific to signing with a context.
type ContextOptions struct {
	Options
	// SignatureMethod is dsig.HMACSHA1 (the default, what WS-SecurityPolicy,
	// WSS4J and WWSAPI use) or dsig.HMACSHA256 (WCF's Basic256Sha256).
	SignatureMethod string
	// Derive signs with a DerivedKeyToken from the context key instead of
	// the key itself; DerivedLength is its length in bytes (0: 24, WCF's
	// signing length).
	Derive        bool
	DerivedLength int
}

// header is a Security header being built into an envelope.
type header struct {
	env   *soap.Envelope
	sec   *etree.Element
	frags map[*etree.Element]xmldoc.Fragment
	ids   map[string]bool
	ts    *etree.Element
	// idPrefix is Options.IDPrefix.
	idPrefix string
}

func begin(env *soap.Envelope, o Options) (*header, error) {
	if o.Now == nil {
		return nil, errors.New("secure: no clock")
	}
	h := env.EnsureHeader()
	if len(xmldoc.Children(h, wss.NameSecurity)) > 0 {
		return nil, ErrAlreadySecured
	}
	b := &header{env: env, sec: wss.NewSecurityHeader(env.Version.Namespace()), frags: map[*etree.Element]xmldoc.Fragment{}, ids: existingIDs(env.Root), idPrefix: o.IDPrefix}
	if e := o.Endorse; e != nil && e.Context.Token != nil && e.Context.Token.ID != "" {
		// The endorsing SCT comes last but keeps its wsu:Id: no Id added
		// before it may take that one.
		b.ids[e.Context.Token.ID] = true
	}
	h.AddChild(b.sec)
	ttl := o.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	b.ts = wss.NewTimestamp(b.newID("_0"), o.Now(), ttl).Element()
	b.sec.AddChild(b.ts)
	return b, nil
}

// existingIDs collects the Ids already in the envelope so that the ones
// added here cannot collide with the application's.
func existingIDs(root *etree.Element) map[string]bool {
	ids := map[string]bool{}
	xmldoc.Walk(root, func(e *etree.Element) {
		for _, n := range dsig.IDAttributes {
			if v, ok := xmldoc.Attr(e, n); ok {
				ids[v] = true
			}
		}
	})
	return ids
}

// newID returns want, or want with a numeric suffix, whichever is unused.
func (b *header) newID(want string) string {
	want = b.idPrefix + want
	id := want
	for i := 1; b.ids[id]; i++ {
		id = want + "-" + strconv.Itoa(i)
	}
	b.ids[id] = true
	return id
}

// refs returns the parts to sign: the Timestamp, extra, and the Body when
// asked for.
func (b *header) refs(o Options, extra ...*etree.Element) []dsig.Reference {
	refs := []dsig.Reference{{Element: b.ts}}
	for _, e := range extra {
		refs = append(refs, dsig.Reference{Element: e})
	}
	if o.SignBody {
		if _, ok := wss.ID(b.env.Body); !ok {
			wss.SetID(b.env.Body, b.newID("_1"))
		}
		refs = append(refs, dsig.Reference{Element: b.env.Body})
	}
	return refs
}

// addFragment places a token received from a server, to be written back
// exactly as received. Its borrowed namespace bindings are declared on the
// Security header when that does not shadow a binding the header uses, so
// the token's own bytes need no change.
func (b *header) addFragment(f xmldoc.Fragment) error {
	return xmldoc.AppendFragment(b.sec, f, b.frags)
}

func (b *header) bytes() []byte { return xmldoc.SerializeWith(b.env.Root, b.frags) }

// finish adds the endorsing context o asks for, if any, after everything
// the credential added, and returns the serialized envelope.
func (b *header) finish(o Options) ([]byte, error) {
	if o.Endorse != nil {
		if err := b.endorse(*o.Endorse, o); err != nil {
			return nil, err
		}
	}
	return b.bytes(), nil
}

// endorse adds e's SCT, exactly as the server issued it, and an HMAC
// signature made with its key over the Timestamp, its KeyInfo referencing
// the SCT as WithContext does.
func (b *header) endorse(e Endorsement, o Options) error {
	c := e.Context
	if c.Token == nil || len(c.Key) == 0 {
		return errors.New("secure: endorsing context has no token or key")
	}
	if err := b.addFragment(c.Token.Fragment); err != nil {
		return fmt.Errorf("secure: endorsing security context token: %w", err)
	}
	method := e.SignatureMethod
	if method == "" {
		method = dsig.HMACSHA1
	}
	signer, err := dsig.HMACKey(method, c.Key)
	if err != nil {
		return err
	}
	s := dsig.Signer{Key: signer, Digest: o.Digest, KeyInfo: contextSTR(c)}
	_, err = s.Sign(b.sec, dsig.Reference{Element: b.ts})
	return err
}

// WithContext secures env with a security context: Timestamp, the SCT as
// the server issued it, optionally a DerivedKeyToken, and an HMAC
// signature whose KeyInfo references the SCT (or the DerivedKeyToken).
// It returns the serialized envelope.
func WithContext(env *soap.Envelope, c Context, o ContextOptions) ([]byte, error) {
	tokens, err := AddContext(env, c, o)
	if err != nil {
		return nil, err
	}
	return xmldoc.SerializeWith(env.Root, tokens), nil
}

// Tokens maps the elements placed in a message from tokens a server issued
// to their fragments; xmldoc.SerializeWith writes them exactly as received.
type Tokens = map[*etree.Element]xmldoc.Fragment

// AddContext is WithContext for a caller that serialises the envelope
// itself: it adds the Security header to env and returns the tokens to
// serialise with it.
func AddContext(env *soap.Envelope, c Context, o ContextOptions) (Tokens, error) {
	if c.Token == nil || len(c.Key) == 0 {
		return nil, errors.New("secure: context has no token or key")
	}
	b, err := begin(env, o.Options)
	if err != nil {
		return nil, err
	}
	if err := b.addFragment(c.Token.Fragment); err != nil {
		return nil, fmt.Errorf("secure: security context token: %w", err)
	}
	method := o.SignatureMethod
	if method == "" {
		method = dsig.HMACSHA1
	}
	key, keyInfo := c.Key, contextSTR(c)
	if o.Derive {
		if key, keyInfo, err = b.derive(c, o); err != nil {
			return nil, err
		}
	}
	signer, err := dsig.HMACKey(method, key)
	if err != nil {
		return nil, err
	}
	s := dsig.Signer{Key: signer, Digest: o.Digest, KeyInfo: keyInfo}
	if _, err := s.Sign(b.sec, b.refs(o.Options)...); err != nil {
		return nil, err
	}
	return b.frags, nil
}

// contextSTR references the SCT the way WCF does: by its wsu:Id, with the
// SCT ValueType in February 2005; by Identifier when the server gave the
// token no wsu:Id.
func contextSTR(c Context) *etree.Element {
	if c.Token.ID == "" {
		return c.Version.ContextSTR(c.Token.Ref())
	}
	r := wss.Reference{URI: "#" + c.Token.ID}
	if c.Version == wssc.Feb2005 {
		r.ValueType = c.Version.TokenType()
	}
	return wss.ReferenceSTR(r)
}

// derive adds a DerivedKeyToken over the context key and returns the
// derived key and a KeyInfo referencing the token.
func (b *header) derive(c Context, o ContextOptions) ([]byte, *etree.Element, error) {
	if o.Rand == nil {
		return nil, nil, errors.New("secure: derived keys need a nonce source")
	}
	length := o.DerivedLength
	if length == 0 {
		length = defaultDerivedLength
	}
	base := wss.Reference{URI: "#" + c.Token.ID}
	if c.Token.ID == "" {
		base = wss.Reference{URI: c.Token.Identifier, ValueType: c.Version.TokenType()}
	}
	dkt, err := wssc.NewDKT(b.newID("_2"), base, keys.Derivation{Length: length}, o.Rand)
	if err != nil {
		return nil, nil, err
	}
	el, err := dkt.Element(c.Version)
	if err != nil {
		return nil, nil, err
	}
	b.sec.AddChild(el)
	key, err := dkt.Key(c.Key)
	if err != nil {
		return nil, nil, err
	}
	return key, wss.ReferenceSTR(wss.Reference{URI: "#" + dkt.ID, ValueType: c.Version.DKValueType()}), nil
}

// Certificate is an X.509 credential: the certificate sent as a
// BinarySecurityToken and the RSA key that signs.
type Certificate struct {
	Cert   *x509.Certificate
	Key    crypto.Signer
	Method string // dsig.RSASHA1 (default, WCF's) or dsig.RSASHA256
}

// String names the certificate; the private key never prints.
func (c Certificate) String() string {
	if c.Cert == nil {
		return "certificate (none)"
	}
	return fmt.Sprintf("certificate %q (serial %s)", c.Cert.Subject.String(), c.Cert.SerialNumber)
}

// GoString is String, so %#v cannot print the key either.
func (c Certificate) GoString() string { return c.String() }

// LogValue is String, for structured loggers.
func (c Certificate) LogValue() slog.Value { return slog.StringValue(c.String()) }

// WithCertificate secures env with an X.509 certificate: Timestamp,
// BinarySecurityToken and an RSA signature over the Timestamp and, when
// present, the WS-Addressing To header, as WCF's certificate-over-transport
// RST does. It returns the serialized envelope.
func WithCertificate(env *soap.Envelope, cred Certificate, o Options) ([]byte, error) {
	if cred.Cert == nil || cred.Key == nil {
		return nil, errors.New("secure: certificate credential incomplete")
	}
	b, err := begin(env, o)
	if err != nil {
		return nil, err
	}
	bstID := b.newID("uuid-bst-1")
	b.sec.AddChild(wss.X509Token(bstID, cred.Cert.Raw))
	method := cred.Method
	if method == "" {
		method = dsig.RSASHA1
	}
	signer, err := dsig.RSASigningKey(method, cred.Key)
	if err != nil {
		return nil, err
	}
	var extra []*etree.Element
	if to := addressingTo(env.Header); to != nil {
		if _, ok := wss.ID(to); !ok {
			wss.SetID(to, b.newID("_1"))
		}
		extra = append(extra, to)
	}
	s := dsig.Signer{Key: signer, Digest: o.Digest, KeyInfo: wss.ReferenceSTR(wss.Reference{URI: "#" + bstID, ValueType: wss.ValueTypeX509v3})}
	if _, err := s.Sign(b.sec, b.refs(o, extra...)...); err != nil {
		return nil, err
	}
	return b.finish(o)
}

// addressingTo returns the single WS-Addressing To header of either
// version, or nil.
func addressingTo(header *etree.Element) *etree.Element {
	for _, v := range []wsa.Version{wsa.V10, wsa.V200408} {
		if to, err := xmldoc.Optional(header, v.Name("To")); err == nil && to != nil {
			return to
		}
	}
	return nil
}

// WithUsername secures env with a Timestamp and a UsernameToken
// (PasswordText, or PasswordDigest when digest is set). Over TLS this is
// WCF's UserNameOverTransport bootstrap. It returns the serialized
// envelope; the password is in it, never in an error.
func WithUsername(env *soap.Envelope, username, password string, digest bool, o Options) ([]byte, error) {
	b, err := begin(env, o)
	if err != nil {
		return nil, err
	}
	kind := wss.PasswordText
	if digest {
		kind = wss.PasswordDigest
	}
	ut, err := wss.NewUsernameToken(b.newID("uuid-ut-1"), username, password, kind, o.Now(), o.Rand)
	if err != nil {
		return nil, err
	}
	b.sec.AddChild(ut.Element())
	return b.finish(o)
}
