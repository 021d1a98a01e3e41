package msgsec

import (
	"crypto"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xenc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// ErrDecrypt is every decryption failure (xenc.ErrDecrypt).
var ErrDecrypt = xenc.ErrDecrypt

// ErrUnknownContext is returned, wrapped, by Open when the message is
// keyed by a security context the caller does not know (ContextKeys
// returned no key); a server answers it with wsc:BadContextToken.
var ErrUnknownContext = errors.New("msgsec: unknown security context")

// Config is what both sides agree on, from the service's policy. One
// Profile serves every message of an endpoint.
type Config struct {
	Role Role
	// Version is the WS-SecureConversation version of the DerivedKeyTokens
	// and of the references to a security context.
	Version wssc.Version
	Suite   Suite
	// SignatureMethod overrides Suite.SignatureMethod for symmetric
	// signatures (dsig.HMACSHA256 for WCF's Basic256Sha256).
	SignatureMethod string
	Order           Order
	// DerivedKeys signs and encrypts with DerivedKeyTokens from the
	// protection token's key (WS-SecurityPolicy RequireDerivedKeys, on in
	// WCF); otherwise with the key itself.
	DerivedKeys bool
	// Asymmetric is the asymmetric binding (WCF's MutualCertificate10):
	// messages are signed with the sender's certificate key and encrypted
	// through an EncryptedKey for the receiver's certificate; Protect
	// takes an Asymmetric token. DerivedKeys then applies to the
	// encryption key only.
	Asymmetric bool
	// SignatureConfirmation is WS-Security 1.1 SignatureConfirmation
	// (RequireSignatureConfirmation): a response confirms each signature
	// value of its request, and a client requires it. WCF asks for it on
	// the bootstrap legs, not in the steady state.
	SignatureConfirmation bool
	// Freshness judges incoming Timestamps; TTL is the validity of the
	// Timestamps written (zero: 5 minutes).
	Freshness wss.Freshness
	TTL       time.Duration
	// Now is the clock and Rand the source of keys, nonces and IVs; both
	// are required.
	Now  func() time.Time
	Rand io.Reader
	// IDPrefix starts every Id this package writes.
	IDPrefix string
	// Limits bound the parsing of decrypted content; zero fields take
	// xmldoc's defaults.
	Limits xmldoc.Limits
}

// Profile protects and opens messages under one Config. It holds no
// per-message state and is safe for concurrent use.
type Profile struct {
	c Config
}

// New checks c and returns its Profile.
func New(c Config) (*Profile, error) {
	switch {
	case c.Role != Client && c.Role != Server:
		return nil, errors.New("msgsec: no role")
	case c.Version.SC() == "":
		return nil, errors.New("msgsec: no WS-SecureConversation version")
	case c.Suite.Encryption == "":
		return nil, errors.New("msgsec: no algorithm suite")
	case c.Order < SignBeforeEncryptAndEncryptSignature || c.Order > EncryptBeforeSign:
		return nil, fmt.Errorf("msgsec: unknown protection order %d", int(c.Order))
	case c.Now == nil:
		return nil, errors.New("msgsec: no clock")
	case c.Rand == nil:
		return nil, errors.New("msgsec: no randomness source")
	}
	if c.SignatureMethod == "" {
		c.SignatureMethod = c.Suite.SignatureMethod
	}
	if c.SignatureMethod != dsig.HMACSHA1 && c.SignatureMethod != dsig.HMACSHA256 {
		return nil, fmt.Errorf("msgsec: symmetric signature method %q is not HMAC-SHA1 or HMAC-SHA256", c.SignatureMethod)
	}
	if _, err := xenc.KeySize(c.Suite.Encryption); err != nil {
		return nil, fmt.Errorf("msgsec: %w", err)
	}
	return &Profile{c: c}, nil
}

// Config returns the profile's settings.
func (p *Profile) Config() Config { return p.c }

// Context is a security context as a protection token.
type Context struct {
	// Token is the SCT as the server issued it; only Identifier is used
	// when Include is false.
	Token *wssc.SCT
	Key   []byte
	// Include writes the SCT, exactly as issued, in the Security header
	// (what WCF's client does in the steady state, and CXF's policy
	// IncludeToken=AlwaysToRecipient); otherwise the message references
	// the context by its Identifier (a server's response does this).
	Include bool
}

// String names the context by its Identifier, never its key.
func (c Context) String() string {
	if c.Token == nil {
		return "security context"
	}
	return "security context " + c.Token.Identifier
}

// Format prints String under every verb.
func (c Context) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue is String, for structured logs.
func (c Context) LogValue() slog.Value { return slog.StringValue(c.String()) }

// KeyRef is a symmetric key a peer sent in an EncryptedKey, referenced in
// the answer by its EncryptedKeySHA1 (WS-Security 1.1 §7.3): the SHA-1 of
// the EncryptedKey's CipherValue octets.
type KeyRef struct {
	Key  []byte
	SHA1 []byte
}

// NewKeyRef returns the KeyRef of key, carried wrapped as wrapped.
func NewKeyRef(key, wrapped []byte) KeyRef {
	sum := sha1.Sum(wrapped)
	return KeyRef{Key: key, SHA1: sum[:]}
}

// String names the key by its EncryptedKeySHA1, never the key.
func (k KeyRef) String() string {
	return "encrypted key " + base64.StdEncoding.EncodeToString(k.SHA1)
}

// Format prints String under every verb.
func (k KeyRef) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// LogValue is String, for structured logs.
func (k KeyRef) LogValue() slog.Value { return slog.StringValue(k.String()) }

// Certificate is an X.509 credential with its RSA key.
type Certificate struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// String names the certificate; the key never prints.
func (c Certificate) String() string {
	if c.Cert == nil {
		return "certificate (none)"
	}
	return fmt.Sprintf("certificate %q", c.Cert.Subject.String())
}

// Format prints String under every verb.
func (c Certificate) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// Asymmetric is the protection of the asymmetric binding: sign with the
// own certificate's key, encrypt (through an EncryptedKey) to the peer's
// certificate.
type Asymmetric struct {
	Signer    Certificate
	Recipient *x509.Certificate
}

// Token is the protection token of an outgoing message. Exactly one field
// is set.
type Token struct {
	// Context: the steady state (and Renew, Cancel) of the symmetric
	// binding.
	Context *Context
	// Recipient: a fresh key, sent in an EncryptedKey made for this
	// certificate (the service's), protects the message: the bootstrap
	// leg of AnonymousForCertificate, UserNameForCertificate and
	// MutualCertificate.
	Recipient *x509.Certificate
	// Key: the key of the request being answered, referenced by
	// EncryptedKeySHA1 (a server's answer to a bootstrap leg).
	Key *KeyRef
	// Asymmetric: the asymmetric binding (MutualCertificate10).
	Asymmetric *Asymmetric
}

func (t Token) count() int {
	n := 0
	for _, set := range []bool{t.Context != nil, t.Recipient != nil, t.Key != nil, t.Asymmetric != nil} {
		if set {
			n++
		}
	}
	return n
}

// Outgoing is one message to protect.
type Outgoing struct {
	Token Token
	// Username is a signed, encrypted supporting UsernameToken
	// (UserNameForCertificate).
	Username *wss.UsernameToken
	// Endorsing is a client certificate whose key endorses the primary
	// signature (MutualCertificate): a BinarySecurityToken and an RSA
	// signature over the primary ds:Signature.
	Endorsing *Certificate
	// EndorsingContext is a security context whose key endorses the
	// primary signature instead (endorse_client.go): the SCT, included,
	// and an HMAC signature over the primary ds:Signature. WCF's client
	// sends a Renew so, under the bootstrap binding.
	EndorsingContext *Context
	// Confirm are the signature values of the request being answered, to
	// confirm when the policy asks for SignatureConfirmation (server
	// role; Opened.SignatureValues). None writes one SignatureConfirmation
	// without Value (WS-Security 1.1 §8.5).
	Confirm [][]byte
}

// Sent is a protected message and what checking its answer needs.
type Sent struct {
	// Bytes is the serialized envelope.
	Bytes []byte
	// MessageID is the message's wsa:MessageID (an answer's RelatesTo
	// must equal it), "" when it has none.
	MessageID string
	// SignatureValues are the message's signature values, which an answer
	// must confirm under SignatureConfirmation.
	SignatureValues [][]byte
	// key is the fresh key an EncryptedKey carried, with which the answer
	// may be keyed (EncryptedKeySHA1).
	key *KeyRef
	// contexts maps the wsu:Id of an included SCT to its Identifier, so
	// an answer referencing "#id" is understood.
	contexts map[string]string
}

// String describes the message without any key.
func (s *Sent) String() string {
	return fmt.Sprintf("protected message %q (%d bytes)", s.MessageID, len(s.Bytes))
}

// Format prints String under every verb.
func (s *Sent) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// Expect is what Open accepts.
type Expect struct {
	// Request is what Protect returned for the request being answered
	// (client role): RelatesTo must be its MessageID, SignatureConfirmation
	// must confirm its SignatureValues, and its fresh key may key the
	// answer.
	Request *Sent
	// ContextKeys returns the keys accepted for the security context with
	// this Identifier: the current one first, then any still in their
	// rollover period. None (or an error wrapping ErrUnknownContext) means
	// the context is unknown. Nil accepts no context.
	ContextKeys func(identifier string) ([][]byte, error)
	// Own is the receiver's certificate and key: it unwraps EncryptedKeys
	// made for the certificate (the server of a bootstrap leg, either
	// side of the asymmetric binding). Its Key must be a crypto.Decrypter.
	Own *Certificate
	// Peer is the certificate whose key must have made the signature under
	// the asymmetric binding (the service's, for a client) or the
	// endorsing signature; nil (on a server) accepts the certificate the
	// message carries, returned in Opened.PeerCert for the caller to
	// authorize (chain, allowed subjects).
	Peer *x509.Certificate
	// Endorsed requires an endorsing signature by a client certificate
	// over the primary signature (a service under MutualCertificate).
	Endorsed bool
}

// Opened is a message that passed every check.
type Opened struct {
	// Envelope is the plain message: Body content decrypted in place,
	// the Security header removed. Its Doc records the bytes of the
	// elements that arrived in clear only; decrypted ones have none (write
	// the envelope out and parse it again to keep such an element byte
	// for byte).
	Envelope *soap.Envelope
	// Addressing holds the verified WS-Addressing headers.
	Addressing wsa.Headers
	// SignatureValues are the message's signature values, to confirm in
	// the answer (server role).
	SignatureValues [][]byte
	// Reply is the token to protect the answer with (server role): the
	// context that keyed the request (not included), its EncryptedKey's
	// key, or the asymmetric pair.
	Reply Token
	// Username is the supporting UsernameToken the message carried,
	// signed and decrypted; its password is for the caller to check.
	Username *wss.UsernameToken
	// PeerCert is the certificate of an endorsing or asymmetric signature.
	PeerCert *x509.Certificate
	// EndorsedBy is the security context whose current key endorsed the
	// message's signature under the bootstrap binding (a Renew as WCF's
	// client sends it), read from the SCT the message carries;
	// nil when no context endorsed it.
	EndorsedBy *wssc.SCT
}

// Protect signs and encrypts env according to the profile and out, and
// serializes it. env must not already carry a Security header; its
// WS-Addressing headers (Action, MessageID, ReplyTo, To, RelatesTo) are
// signed when present. env is changed in place and consumed: the Body's
// content is replaced by its EncryptedData, and the elements it held are
// rewritten on the way and must not be used again.
func (p *Profile) Protect(env *soap.Envelope, out Outgoing) (*Sent, error) {
	return p.protect(env, out)
}

// Open checks env, an incoming envelope parsed with wire/soap (with
// KeepSpans when an included SCT is to be kept), against the profile and
// exp, and returns it plain. On error nothing of env may be used: it may
// be partly decrypted.
func (p *Profile) Open(env *soap.Envelope, exp Expect) (*Opened, error) {
	o, err := p.open(env, exp)
	if errors.Is(err, ErrDecrypt) {
		// Whichever step failed to decrypt (a key transport, a header
		// part, the Body), the caller sees the same error.
		return nil, ErrDecrypt
	}
	return o, err
}
