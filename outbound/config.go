package outbound

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/scproxy/scproxy/renewal"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/secure"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wssc"
)

// Defaults of the settings a zero Config leaves open.
const (
	DefaultListen  = "127.0.0.1:8780"
	DefaultMaxBody = 4 << 20
	// DefaultEstablishTimeout bounds one establishment of a context, shared
	// by every request waiting for it.
	DefaultEstablishTimeout = 30 * time.Second
	// DefaultUpstreamTimeout bounds one forwarded call from dial to the last
	// byte of the response.
	DefaultUpstreamTimeout = 2 * time.Minute
	// MinKeySize and MaxKeySize bound KeySize (bits, multiples of 8).
	MinKeySize = 128
	MaxKeySize = 512
	// MinMaxBody is the smallest MaxBody accepted.
	MinMaxBody = 1024
)

// Security is what the proxy does to a message before forwarding it.
type Security int

const (
	// SecurityContext secures every message with the endpoint's security
	// context, SC-over-TLS profile. The default.
	SecurityContext Security = iota
	// SecurityNone forwards messages unchanged apart from envelope
	// bridging: plain forwarding, the baseline of the performance harness.
	SecurityNone
)

func (s Security) String() string {
	switch s {
	case SecurityContext:
		return "context"
	case SecurityNone:
		return "none"
	}
	return fmt.Sprintf("Security(%d)", int(s))
}

// ParseSecurity reads a Security from its String form.
func ParseSecurity(s string) (Security, error) {
	for _, v := range []Security{SecurityContext, SecurityNone} {
		if s == v.String() {
			return v, nil
		}
	}
	return 0, fmt.Errorf("unknown security %q (context or none)", s)
}

// Profile is how a secured message is protected (Security is
// SecurityContext).
type Profile int

const (
	// ProfileSCOverTLS signs each message's Timestamp with the endpoint's
	// security context key; TLS protects the rest (WCF's
	// SecureConversation over TransportWithMessageCredential). The default.
	ProfileSCOverTLS Profile = iota
	// ProfileX509 signs each message's Timestamp with Certificate's RSA
	// key and establishes no context (WCF's CertificateOverTransport): the
	// baseline that shows what a security context saves.
	ProfileX509
)

func (p Profile) String() string {
	switch p {
	case ProfileSCOverTLS:
		return "sc-tls"
	case ProfileX509:
		return "x509"
	}
	return fmt.Sprintf("Profile(%d)", int(p))
}

// Addressing is the WS-Addressing the upstream receives.
type Addressing struct {
	// Auto keeps what the application sent (none, or its version).
	Auto bool
	// Version applies when Auto is false; wsa.None strips addressing.
	Version wsa.Version
}

// Route sends requests whose path starts with Prefix to Upstream.
type Route struct {
	Prefix   string
	Upstream *url.URL
	// Bootstrap, when set, authenticates this upstream's Issue requests
	// instead of Config.Bootstrap (each service may want its own
	// credential).
	Bootstrap session.Bootstrap
}

// Config configures a Proxy. The CLI builds it from flags; nothing here
// reads flags or the environment.
type Config struct {
	// Listen is the local address; DefaultListen when empty. A
	// non-loopback address is refused unless AllowRemote is set.
	Listen      string
	AllowRemote bool
	// Routes map local path prefixes to upstream endpoints, longest prefix
	// first when several match. Each upstream gets one security context.
	Routes []Route
	// AllowPlainHTTP lets secured traffic go to http:// upstreams. Both
	// profiles rely on TLS for confidentiality: over plain HTTP a
	// UsernameToken's password crosses the network in clear and every
	// message can be read and replayed on the way. For a test service
	// only; plain forwarding (SecurityNone) does not need it.
	AllowPlainHTTP bool

	// Security chooses between securing and plain forwarding.
	Security Security
	// Profile chooses how messages are secured.
	Profile Profile
	// Certificate signs each message under ProfileX509.
	Certificate *secure.Certificate
	// SC is the WS-SecureConversation version of the upstream.
	SC wssc.Version
	// Bootstrap authenticates the Issue request.
	Bootstrap session.Bootstrap
	// Entropy and KeySize (bits; 0 = 256) shape the Issue request.
	Entropy wssc.EntropyMode
	KeySize int
	// SignatureMethod is dsig.HMACSHA1 (default) or dsig.HMACSHA256.
	SignatureMethod string

	// SOAP is the upstream's SOAP version; zero keeps the application's.
	SOAP soap.Version
	// Addressing is the upstream's WS-Addressing.
	Addressing Addressing

	// RootCAs verifies upstream certificates; nil means the system roots.
	// The CLI adds --ca-file to the system roots.
	RootCAs *x509.CertPool

	// MaxBody caps request and response bodies; DefaultMaxBody when zero.
	MaxBody int64
	// MaxEndpoints bounds the upstream endpoints held at once, each with
	// its context, precomputed header and renewal loop (about 15 KiB, see
	// cmd/scbench); DefaultMaxEndpoints when zero.
	MaxEndpoints int
	// EstablishTimeout and UpstreamTimeout: defaults above when zero.
	// EstablishTimeout bounds each Issue, Renew and Cancel exchange.
	EstablishTimeout time.Duration
	UpstreamTimeout  time.Duration

	// Renewal says when contexts are renewed (renewal.Policy; Interval is
	// --renew-interval). RenewMode chooses Renew or a new Issue.
	Renewal   renewal.Policy
	RenewMode session.RenewMode
	// Rollover is how long a context replaced by a new Issue stays usable
	// before it is cancelled; zero means session.DefaultRollover, negative
	// cancels it at once.
	Rollover time.Duration
	// ExpiryMargin is how long before its expiry a context is renewed
	// rather than used (session.Config.ExpiryMargin): zero means 5
	// minutes, negative none.
	ExpiryMargin time.Duration
	// ShutdownTimeout bounds the wait for requests in flight at shutdown;
	// zero means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// KeepContexts leaves contexts alive at shutdown and after
	// replacement (--cancel-on-shutdown=false), for servers that keep
	// context state in a stateful cookie and need no cancel.
	KeepContexts bool

	Logger *slog.Logger
}

// DefaultShutdownTimeout bounds the wait for requests in flight at shutdown.
const DefaultShutdownTimeout = 30 * time.Second

// Validate reports the first setting that cannot work, naming it.
func (c *Config) Validate() error {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("listen address %q: %v", c.Listen, err)
	}
	if !c.AllowRemote && !isLoopbackHost(host) {
		return fmt.Errorf("listen address %q is not loopback; scproxy holds credentials for every caller, so listening beyond this host needs AllowRemote", c.Listen)
	}
	if len(c.Routes) == 0 {
		return errors.New("no upstream configured")
	}
	seen := map[string]bool{}
	for _, r := range c.Routes {
		if !strings.HasPrefix(r.Prefix, "/") {
			return fmt.Errorf("route %q: the path must start with /", r.Prefix)
		}
		if seen[r.Prefix] {
			return fmt.Errorf("route %q given twice", r.Prefix)
		}
		seen[r.Prefix] = true
		if err := checkUpstream(r.Upstream); err != nil {
			return fmt.Errorf("route %q: %w", r.Prefix, err)
		}
		if r.Upstream.Scheme == "http" && c.Security == SecurityContext && !c.AllowPlainHTTP {
			return fmt.Errorf("route %q: upstream %q is plain http, which would expose the bootstrap credential and every message; use https://, or AllowPlainHTTP for a test service", r.Prefix, r.Upstream.Redacted())
		}
	}
	if c.Security == SecurityContext {
		if err := c.checkCredentials(); err != nil {
			return err
		}
		if c.SC == (wssc.Version{}) {
			c.SC = wssc.Feb2005
		}
	}
	switch c.SignatureMethod {
	case "":
		c.SignatureMethod = dsig.HMACSHA1
	case dsig.HMACSHA1, dsig.HMACSHA256:
	default:
		return fmt.Errorf("signature method %q: want HMAC-SHA1 or HMAC-SHA256", c.SignatureMethod)
	}
	if c.KeySize != 0 && (c.KeySize < MinKeySize || c.KeySize > MaxKeySize || c.KeySize%8 != 0) {
		return fmt.Errorf("key size %d: want a multiple of 8 between %d and %d bits", c.KeySize, MinKeySize, MaxKeySize)
	}
	if c.MaxBody == 0 {
		c.MaxBody = DefaultMaxBody
	}
	if c.MaxBody < MinMaxBody {
		return fmt.Errorf("max body %d: must be at least %d bytes", c.MaxBody, MinMaxBody)
	}
	if c.MaxEndpoints == 0 {
		c.MaxEndpoints = DefaultMaxEndpoints
	}
	if c.MaxEndpoints < 0 {
		return fmt.Errorf("max endpoints %d: must not be negative", c.MaxEndpoints)
	}
	if c.EstablishTimeout == 0 {
		c.EstablishTimeout = DefaultEstablishTimeout
	}
	if c.UpstreamTimeout == 0 {
		c.UpstreamTimeout = DefaultUpstreamTimeout
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.ShutdownTimeout < 0 || c.Renewal.Interval < 0 {
		return errors.New("shutdown timeout and renew interval must not be negative")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// checkCredentials requires what the profile signs with: for ProfileX509
// a certificate with the RSA key of its public key (no context is
// established, so no bootstrap is needed); otherwise a bootstrap
// credential for every route.
func (c *Config) checkCredentials() error {
	switch c.Profile {
	case ProfileSCOverTLS:
		for _, r := range c.Routes {
			if r.Bootstrap == nil && c.Bootstrap == nil {
				return fmt.Errorf("route %q: no bootstrap credential for establishing security contexts", r.Prefix)
			}
		}
		return nil
	case ProfileX509:
		cred := c.Certificate
		if cred == nil || cred.Cert == nil || cred.Key == nil {
			return errors.New("profile x509: no certificate and key to sign messages with")
		}
		method := cred.Method
		if method == "" {
			method = dsig.RSASHA1
		}
		if _, err := dsig.RSASigningKey(method, cred.Key); err != nil {
			return fmt.Errorf("profile x509: %w", err)
		}
		// A key that is not the certificate's would have every message
		// refused by the service; say so at start.
		if pub, ok := cred.Key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(cred.Cert.PublicKey) {
			return errors.New("profile x509: the private key does not belong to the certificate")
		}
		return nil
	}
	return fmt.Errorf("unknown profile %v", c.Profile)
}

// checkUpstream accepts absolute http and https URLs without credentials,
// query or fragment.
func checkUpstream(u *url.URL) error {
	switch {
	case u == nil:
		return errors.New("no upstream URL")
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("upstream %q: want an https:// URL", u.Redacted())
	case u.Host == "":
		return fmt.Errorf("upstream %q: no host", u.Redacted())
	case u.User != nil:
		return fmt.Errorf("upstream %q: credentials do not belong in the URL", u.Redacted())
	case u.Fragment != "":
		return fmt.Errorf("upstream %q: a fragment has no meaning here", u.Redacted())
	}
	return nil
}

// isLoopbackHost reports whether host (no port) names this machine only.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
