package bootstrap

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/wire/msgsec"
	"github.com/scproxy/scproxy/wire/secure"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
	"github.com/scproxy/scproxy/wstrust"
)

// MessageKind is the bootstrap binding of the message-security profile:
// how the Issue of a context is protected where no TLS protects it (the
// WCF authentication modes of the same names).
type MessageKind int

// The bootstrap bindings.
const (
	// AnonymousForCertificate: the client is anonymous; the request is
	// signed and encrypted under a fresh key encrypted for the service's
	// certificate.
	AnonymousForCertificate MessageKind = iota + 1
	// UserNameForCertificate: the same, with a signed and encrypted
	// UsernameToken.
	UserNameForCertificate
	// MutualCertificate: the same symmetric binding, endorsed by the
	// client's certificate.
	MutualCertificate
	// MutualCertificate10: the asymmetric binding: signed with the
	// client's certificate key, encrypted for the service's certificate.
	MutualCertificate10
)

var messageKindNames = map[MessageKind]string{
	AnonymousForCertificate: "anonymous-for-certificate",
	UserNameForCertificate:  "username-for-certificate",
	MutualCertificate:       "mutual-certificate",
	MutualCertificate10:     "mutual-certificate10",
}

// String names the binding as status and logs show it.
func (k MessageKind) String() string {
	if n, ok := messageKindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("MessageKind(%d)", int(k))
}

// MessageConfig configures a Message bootstrap.
type MessageConfig struct {
	Kind MessageKind
	// ServerCert is the service's certificate: the key of every
	// bootstrap request is encrypted for it (RSA).
	ServerCert *x509.Certificate
	// Version is the WS-SecureConversation version (DerivedKeyTokens and
	// the SCT are in its namespace).
	Version wssc.Version
	// Suite, Order and DerivedKeys are the policy's algorithm suite,
	// protection order and RequireDerivedKeys; SignatureMethod, when
	// set, signs instead of the suite's HMAC (WCF's Basic256Sha256 signs
	// with HMAC-SHA256).
	Suite           msgsec.Suite
	Order           msgsec.Order
	DerivedKeys     bool
	SignatureMethod string
	// User, Password and Digest are the UsernameToken of
	// UserNameForCertificate.
	User     string
	Password creds.Secret
	Digest   bool
	// Client is the client's certificate and key of MutualCertificate and
	// MutualCertificate10.
	Client *secure.Certificate
	// RenewUnderBootstrap sends a Renew as WCF's and CXF's clients do:
	// protected by the bootstrap binding (a fresh key for the service's
	// certificate, the UsernameToken), the context endorsing it; which
	// their services require. Otherwise the context alone protects it
	// (the built-in server's). The anonymous and username bindings only.
	RenewUnderBootstrap bool
}

// Message protects the STS exchanges of the message-security profile: the
// Issue with its bootstrap binding, Renew and Cancel with the context
// itself (session.MessageProtection). It is also the endpoint's
// session.Bootstrap, naming the binding in logs and status; it holds no
// key of its own beyond the client's certificate key, which never prints.
type Message struct {
	cfg MessageConfig
}

// NewMessage checks cfg: an RSA service certificate, and the credential
// its kind needs (a user for UserNameForCertificate, an RSA certificate
// and its key for the mutual kinds).
func NewMessage(cfg MessageConfig) (*Message, error) {
	if _, ok := messageKindNames[cfg.Kind]; !ok {
		return nil, fmt.Errorf("message bootstrap: unknown binding %d", int(cfg.Kind))
	}
	if err := CheckServerCertificate(cfg.ServerCert); err != nil {
		return nil, err
	}
	if cfg.Version == (wssc.Version{}) {
		return nil, errors.New("message bootstrap: no WS-SecureConversation version")
	}
	if cfg.Suite.Name == "" {
		cfg.Suite = msgsec.Basic256
	}
	switch cfg.Kind {
	case UserNameForCertificate:
		if cfg.User == "" {
			return nil, errors.New("message bootstrap: UserNameForCertificate needs a user name")
		}
	case MutualCertificate, MutualCertificate10:
		if cfg.RenewUnderBootstrap {
			return nil, fmt.Errorf("message bootstrap: %s cannot renew under the bootstrap binding yet (its certificate endorses already); renew with the context", cfg.Kind)
		}
		if cfg.Client == nil {
			return nil, fmt.Errorf("message bootstrap: %s needs the client's certificate and key", cfg.Kind)
		}
		if _, err := NewCertificate(*cfg.Client); err != nil {
			return nil, fmt.Errorf("message bootstrap: %w", err)
		}
	}
	return &Message{cfg: cfg}, nil
}

// CheckServerCertificate refuses a service certificate keys cannot be
// encrypted for: none, or one without an RSA key.
func CheckServerCertificate(c *x509.Certificate) error {
	if c == nil {
		return errors.New("message bootstrap: no service certificate")
	}
	if _, ok := c.PublicKey.(*rsa.PublicKey); !ok {
		return fmt.Errorf("message bootstrap: the service certificate %s has a %s key; keys are encrypted for RSA keys only", subject(c), c.PublicKeyAlgorithm)
	}
	return nil
}

// LoadServerCertificate reads the service's certificate from a PEM file
// (its first CERTIFICATE block) and checks it.
func LoadServerCertificate(file string) (*x509.Certificate, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("service certificate %s: %w", file, pathless(err))
	}
	c, err := firstCertificate(b)
	if err != nil {
		return nil, fmt.Errorf("service certificate %s: %w", file, err)
	}
	return c, CheckServerCertificate(c)
}

// Config returns the configuration.
func (m *Message) Config() MessageConfig { return m.cfg }

// Kind names the bootstrap binding ("anonymous-for-certificate").
func (m *Message) Kind() string { return m.cfg.Kind.String() }

// Secure refuses: the message-security profile protects its STS requests
// with Bootstrap and Context, which also open the replies.
func (m *Message) Secure(context.Context, *soap.Envelope, secure.Options) ([]byte, error) {
	return nil, errors.New("message bootstrap: STS requests of the message-security profile are protected by message security, not signed over TLS")
}

// String names the binding and the user or certificate; never a secret.
func (m *Message) String() string {
	switch {
	case m.cfg.User != "":
		return fmt.Sprintf("%s user %q", m.cfg.Kind, m.cfg.User)
	case m.cfg.Client != nil:
		return fmt.Sprintf("%s %s", m.cfg.Kind, m.cfg.Client)
	}
	return m.cfg.Kind.String()
}

// GoString is String, so %#v cannot print the password or key.
func (m *Message) GoString() string { return m.String() }

// LogValue is String, for structured loggers.
func (m *Message) LogValue() slog.Value { return slog.StringValue(m.String()) }

// Bootstrap protects an Issue request with the bootstrap binding: a fresh
// key encrypted for the service's certificate (with the UsernameToken, or
// endorsed by the client's certificate, as the kind says), or the
// asymmetric binding; SignatureConfirmation is required of the reply, as
// WCF's bootstrap bindings do.
func (m *Message) Bootstrap(_ context.Context, env *soap.Envelope, o secure.Options) ([]byte, wstrust.OpenFunc, error) {
	return m.underBootstrap(env, o, nil)
}

// underBootstrap protects env with the bootstrap binding, endorsed by
// context endorse when it is not nil.
func (m *Message) underBootstrap(env *soap.Envelope, o secure.Options, endorse *msgsec.Context) ([]byte, wstrust.OpenFunc, error) {
	p, err := m.profile(o, true, m.cfg.Kind == MutualCertificate10)
	if err != nil {
		return nil, nil, err
	}
	out, exp, err := m.outgoing(o)
	if err != nil {
		return nil, nil, err
	}
	out.EndorsingContext = endorse
	return protect(p, env, out, exp)
}

// Renew protects the Renew of context c: under the bootstrap binding,
// endorsed by c, when RenewUnderBootstrap (the reply keyed by the
// request's fresh key, SignatureConfirmation required), else as Context.
func (m *Message) Renew(_ context.Context, env *soap.Envelope, c secure.Context, o secure.Options) ([]byte, wstrust.OpenFunc, error) {
	if !m.cfg.RenewUnderBootstrap {
		return m.Context(env, c, o)
	}
	return m.underBootstrap(env, o, &msgsec.Context{Token: c.Token, Key: c.Key, Include: true})
}

// Context protects a Cancel (or a Renew) request with context c: the SCT
// in the Security header, keys derived from its key; the reply must be
// keyed by c.
func (m *Message) Context(env *soap.Envelope, c secure.Context, o secure.Options) ([]byte, wstrust.OpenFunc, error) {
	p, err := m.profile(o, false, false)
	if err != nil {
		return nil, nil, err
	}
	out := msgsec.Outgoing{Token: msgsec.Token{Context: &msgsec.Context{Token: c.Token, Key: c.Key, Include: true}}}
	exp := msgsec.Expect{ContextKeys: func(id string) ([][]byte, error) {
		if c.Token == nil || id != c.Token.Identifier {
			return nil, fmt.Errorf("%w: the reply is keyed by context %q, not %q", msgsec.ErrUnknownContext, id, c.Token.Identifier)
		}
		return [][]byte{c.Key}, nil
	}}
	return protect(p, env, out, exp)
}

// profile is the client's profile for one exchange, with its clock and
// randomness: with SignatureConfirmation (confirm), under the asymmetric
// binding (asymmetric) or the symmetric one.
func (m *Message) profile(o secure.Options, confirm, asymmetric bool) (*msgsec.Profile, error) {
	return msgsec.New(msgsec.Config{
		Role: msgsec.Client, Version: m.cfg.Version, Suite: m.cfg.Suite, SignatureMethod: m.cfg.SignatureMethod,
		Order: m.cfg.Order, DerivedKeys: m.cfg.DerivedKeys, SignatureConfirmation: confirm, Asymmetric: asymmetric,
		TTL: o.TTL, Now: o.Now, Rand: o.Rand, IDPrefix: o.IDPrefix,
	})
}

// outgoing is the protection of a bootstrap request of m's kind, and what
// its reply is expected to be keyed by beyond the request's own key.
func (m *Message) outgoing(o secure.Options) (msgsec.Outgoing, msgsec.Expect, error) {
	var (
		out msgsec.Outgoing
		exp msgsec.Expect
	)
	switch m.cfg.Kind {
	case AnonymousForCertificate:
		out.Token.Recipient = m.cfg.ServerCert
	case UserNameForCertificate:
		out.Token.Recipient = m.cfg.ServerCert
		typ := wss.PasswordText
		if m.cfg.Digest {
			typ = wss.PasswordDigest
		}
		ut, err := wss.NewUsernameToken(o.IDPrefix+"UsernameToken", m.cfg.User, m.cfg.Password.Reveal(), typ, o.Now(), o.Rand)
		if err != nil {
			return out, exp, fmt.Errorf("message bootstrap: %w", err)
		}
		out.Username = ut
	case MutualCertificate:
		out.Token.Recipient = m.cfg.ServerCert
		out.Endorsing = m.client()
	case MutualCertificate10:
		out.Token.Asymmetric = &msgsec.Asymmetric{Signer: *m.client(), Recipient: m.cfg.ServerCert}
		// The service signs with its certificate's key and encrypts to
		// the client's certificate.
		exp.Own, exp.Peer = m.client(), m.cfg.ServerCert
	}
	return out, exp, nil
}

// client is the client's certificate as msgsec takes it.
func (m *Message) client() *msgsec.Certificate {
	return &msgsec.Certificate{Cert: m.cfg.Client.Cert, Key: m.cfg.Client.Key}
}

// protect protects env under p and returns the bytes and the step that
// opens the reply: verified and decrypted as exp (with the request's own
// key and MessageID) says, then handed on as a plain envelope whose
// elements keep their bytes (the SCT is kept as the STS wrote it).
func protect(p *msgsec.Profile, env *soap.Envelope, out msgsec.Outgoing, exp msgsec.Expect) ([]byte, wstrust.OpenFunc, error) {
	sent, err := p.Protect(env, out)
	if err != nil {
		return nil, nil, fmt.Errorf("protecting the request: %w", err)
	}
	exp.Request = sent
	limits := p.Config().Limits
	return sent.Bytes, func(reply *soap.Envelope) (*soap.Envelope, error) {
		opened, err := p.Open(reply, exp)
		if err != nil {
			return nil, err
		}
		return withSpans(opened.Envelope, limits)
	}, nil
}

// withSpans returns env when the bytes of its payload were recorded as
// parsed, else env written out and parsed again, so that what the reply
// holds (an SCT kept byte for byte) can be read as bytes.
func withSpans(env *soap.Envelope, limits xmldoc.Limits) (*soap.Envelope, error) {
	if payload, err := env.Payload(); err == nil && env.Doc != nil {
		if _, ok := env.Doc.Raw(payload); ok {
			return env, nil
		}
	}
	return soap.ParseWith(env.Bytes(), xmldoc.Options{Limits: limits, KeepSpans: true})
}
