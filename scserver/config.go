package scserver

import (
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// Defaults of the settings a zero Config leaves open. They are WCF's.
const (
	// DefaultLifetime is how long an issued context lives: WCF servers
	// issue 15-hour keys.
	DefaultLifetime = 15 * time.Hour
	// DefaultRollover is how long the key a renewal replaced stays valid,
	// 5 minutes in WCF and WWSAPI.
	DefaultRollover = 5 * time.Minute
	// DefaultSkew is the clock difference a Timestamp may show.
	DefaultSkew = 5 * time.Minute
	// DefaultTimestampValidity is how old a Timestamp's Created may be,
	// before the skew is added: WCF's TimestampValidityDuration.
	DefaultTimestampValidity = 5 * time.Minute
	// DefaultAddr listens on an ephemeral loopback port.
	DefaultAddr = "127.0.0.1:0"
)

// Entropy is who contributes the key material of an issued context.
type Entropy int

const (
	// EntropyAuto combines both sides' entropy when the request carries
	// some (WCF's default) and issues a server key when it carries none.
	EntropyAuto Entropy = iota
	// EntropyCombined requires client entropy and computes the key with
	// P_SHA1 (WS-Trust 1.3 §4.4.4).
	EntropyCombined
	// EntropyClient uses the client's entropy as the key.
	EntropyClient
	// EntropyServer returns a key the server made, ignoring client entropy.
	EntropyServer
)

func (e Entropy) String() string {
	switch e {
	case EntropyAuto:
		return "auto"
	case EntropyCombined:
		return "combined"
	case EntropyClient:
		return "client"
	case EntropyServer:
		return "server"
	}
	return fmt.Sprintf("Entropy(%d)", int(e))
}

// ParseEntropy reads an Entropy from its String form, for flags.
func ParseEntropy(s string) (Entropy, error) {
	for _, e := range []Entropy{EntropyAuto, EntropyCombined, EntropyClient, EntropyServer} {
		if s == e.String() {
			return e, nil
		}
	}
	return 0, fmt.Errorf("unknown entropy mode %q (auto, combined, client or server)", s)
}

// Config configures a Server. The zero value is a working HTTPS server on
// an ephemeral loopback port that accepts both WS-SecureConversation
// versions and has no bootstrap credentials (so it issues nothing until
// Users or TrustedCAs is set).
type Config struct {
	// Addr is the listen address Start uses; empty means DefaultAddr.
	Addr string
	// PlainHTTP serves HTTP instead of HTTPS.
	PlainHTTP bool
	// CertDir is where the generated CA certificate is written; empty means
	// a fresh temporary directory, removed by Close.
	CertDir string

	// Versions are the WS-SecureConversation versions accepted; requests
	// in another get a fault. Empty means both.
	Versions []wssc.Version
	// Users maps user names to passwords for the UsernameToken bootstrap.
	Users map[string]string
	// TrustedCAs are the roots an X.509 bootstrap certificate must chain
	// to; nil disables the X.509 bootstrap.
	TrustedCAs *x509.CertPool
	// Kerberos verifies the Kerberos bootstrap (an AP-REQ for its service
	// principal, Kerberos Token Profile 1.1); nil disables it.
	Kerberos *KerberosAcceptor
	// IssueTokens runs a token service beside the context STS: a WS-Trust
	// Issue request for a SAML 2.0 token (action <trust>/RST/Issue), with
	// a UsernameToken of Users, gets a holder-of-key assertion signed by
	// the server's own issuer key (see IssuerCertificate), which is then
	// trusted as if listed in TrustedIssuers.
	IssueTokens bool
	// TokenIssuer is the Issuer of those assertions; empty means
	// DefaultTokenIssuer.
	TokenIssuer string
	// TrustedIssuers are the certificates whose SAML assertions the
	// issued-token bootstrap accepts (their proof keys encrypted to
	// IssuerCertificate); with neither them nor IssueTokens that
	// bootstrap is disabled.
	TrustedIssuers []*x509.Certificate
	// Audiences are the audience URIs an assertion may be restricted to;
	// empty means any address under the server's URL.
	Audiences []string
	// Entropy chooses the key material of issued contexts.
	Entropy Entropy
	// Lifetime of an issued or renewed context; zero means DefaultLifetime.
	Lifetime time.Duration
	// Rollover is how long the previous key stays valid after a renewal;
	// zero means DefaultRollover, negative means not at all.
	Rollover time.Duration
	// Skew is the clock difference tolerated on Timestamps; zero means
	// DefaultSkew.
	Skew time.Duration
	// TimestampValidity is how old a Timestamp's Created may be: a message
	// created longer ago than TimestampValidity plus Skew is refused with
	// wsse:MessageExpired, whatever its Expires says, so a captured
	// message cannot be replayed for the life of its context. Zero means
	// DefaultTimestampValidity; negative is refused.
	TimestampValidity time.Duration
	// Cookie puts the sealed context state inside each issued token as a
	// WCF dnse:Cookie, so a context survives ForgetAll as a stateful WCF
	// session survives a recycle.
	Cookie bool
	// EchoActions, when set, are the only application actions echoed; any
	// other gets ActionNotSupported. When empty every action outside the
	// WS-Trust and WS-SecureConversation namespaces is echoed.
	EchoActions []string
	// Limits bound each request's XML; MaxBytes also bounds the HTTP body.
	Limits xmldoc.Limits
	// AllowUnsecured echoes application messages that carry no Security
	// header at all, as a service without WS-Security would: the baseline
	// of the performance harness (plain forwarding and no proxy). A
	// message with a Security header is verified as always. Off by
	// default.
	AllowUnsecured bool

	// Message, when set, turns on the message-security profile: every
	// request must be signed and encrypted (see MessageSecurity), and
	// answers are too.
	Message *MessageSecurity

	// Script is the initial fault script; see SetScript.
	Script Script

	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand supplies entropy, keys, identifiers and cookie nonces; nil
	// means crypto/rand.
	Rand io.Reader
	// Logger receives one line per request; nil discards them.
	Logger *slog.Logger
}

// withDefaults returns c with every zero setting filled in, or an error for
// a setting that cannot work.
func (c Config) withDefaults() (Config, error) {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if len(c.Versions) == 0 {
		c.Versions = slices.Clone(wssc.Versions)
	}
	for _, v := range c.Versions {
		if !slices.Contains(wssc.Versions, v) {
			return c, errors.New("scserver: unknown WS-SecureConversation version in Versions")
		}
	}
	if c.Entropy < EntropyAuto || c.Entropy > EntropyServer {
		return c, fmt.Errorf("scserver: %s", c.Entropy)
	}
	if c.Lifetime < 0 || c.Skew < 0 || c.TimestampValidity < 0 {
		return c, errors.New("scserver: negative Lifetime, Skew or TimestampValidity")
	}
	if c.Lifetime == 0 {
		c.Lifetime = DefaultLifetime
	}
	if c.Rollover == 0 {
		c.Rollover = DefaultRollover
	}
	if c.Skew == 0 {
		c.Skew = DefaultSkew
	}
	if c.TimestampValidity == 0 {
		c.TimestampValidity = DefaultTimestampValidity
	}
	if c.Limits.MaxBytes == 0 {
		c.Limits.MaxBytes = xmldoc.DefaultLimits.MaxBytes
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Message != nil {
		m, err := c.Message.withDefaults(c)
		if err != nil {
			return c, err
		}
		c.Message, c.Cookie = &m, c.Cookie || m.NoCancel
	}
	return c, c.Script.check()
}

// String describes the configuration without the users' passwords, so a
// Config printed by mistake shows no secret.
func (c Config) String() string {
	users := make([]string, 0, len(c.Users))
	for u := range c.Users {
		users = append(users, u)
	}
	slices.Sort(users)
	return fmt.Sprintf("scserver.Config{Addr: %q, PlainHTTP: %v, Versions: %v, Users: %v (passwords hidden), X.509: %v, Kerberos: %v, IssueTokens: %v, Message: %v}",
		c.Addr, c.PlainHTTP, c.Versions, users, c.TrustedCAs != nil, c.Kerberos != nil, c.IssueTokens, c.Message != nil)
}

// GoString is String, for %#v.
func (c Config) GoString() string { return c.String() }
