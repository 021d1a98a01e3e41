package secure

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// IssuedToken is a token an STS issued (a SAML assertion) as its holder
// presents it: the token exactly as received, the SecurityTokenReference
// that names it, and the proof key the STS gave with it.
type IssuedToken struct {
	Token xmldoc.Fragment
	// Reference becomes the signature's KeyInfo; it is copied, so one
	// element serves any number of messages. For SAML it is a KeyIdentifier
	// by assertion ID (SAML Token Profile 1.1 §3.4.1).
	Reference *etree.Element
	Key       []byte
}

// String says what the token is, never its proof key.
func (t IssuedToken) String() string {
	return fmt.Sprintf("issued token (%d bytes)", len(t.Token.Bytes))
}

// GoString is String, so %#v cannot print the key either.
func (t IssuedToken) GoString() string { return t.String() }

// LogValue is String, for structured loggers.
func (t IssuedToken) LogValue() slog.Value { return slog.StringValue(t.String()) }

// WithIssuedToken secures env with an issued token, the way WCF's
// IssuedTokenOverTransport and WSS4J's SAML holder-of-key sender do:
// Timestamp, the token written back byte for byte as the STS sent it (as
// the SCT is), and an HMAC-SHA1 signature made with the proof key over the
// Timestamp and, when present, the WS-Addressing To header, its KeyInfo
// the token's Reference. It returns the serialized envelope.
func WithIssuedToken(env *soap.Envelope, cred IssuedToken, o Options) ([]byte, error) {
	if len(cred.Token.Bytes) == 0 || cred.Reference == nil || len(cred.Key) == 0 {
		return nil, errors.New("secure: issued token credential incomplete")
	}
	b, err := begin(env, o)
	if err != nil {
		return nil, err
	}
	if err := b.addFragment(cred.Token); err != nil {
		return nil, fmt.Errorf("secure: issued token: %w", err)
	}
	signer, err := dsig.HMACKey(dsig.HMACSHA1, cred.Key)
	if err != nil {
		return nil, err
	}
	if err := b.signWith(signer, cred.Reference.Copy(), o); err != nil {
		return nil, err
	}
	return b.finish(o)
}
