package outbound

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/scproxy/scproxy/renewal"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/setting"
	"github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/secure"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wssc"
)

// Defaults and bounds of the settings; the defaults of settings that
// belong to other packages are theirs (session.DefaultEstablishTimeout,
// upstream.DefaultMaxBody, upstream.DefaultTimeout).
const (
	// DefaultListen is where the proxy listens when Listen is empty.
	DefaultListen = "127.0.0.1:8780"
	// MinKeySize and MaxKeySize bound KeySize (bits, multiples of 8).
	MinKeySize = 128
	MaxKeySize = 512
	// MinMaxBody is the smallest MaxBody accepted.
	MinMaxBody = 1024
	// DefaultMaxConns bounds the application connections open at once.
	DefaultMaxConns = 512
	// DefaultMaxBodyInFlight bounds the bytes of request bodies held at
	// once, all requests together (16 bodies of the default MaxBody).
	DefaultMaxBodyInFlight = 64 << 20
	// DefaultWriteTimeout bounds the writing of one answer.
	DefaultWriteTimeout = 30 * time.Second
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
	// ProfileMessage protects each message with the endpoint's security
	// context by message security, without relying on TLS: the Body and
	// the addressing headers signed, the Body encrypted, with keys derived
	// from the context key (WCF wsHttpBinding's Message mode, WS-SP's
	// symmetric binding with the SecureConversationToken); the context is
	// established under a bootstrap binding keyed by the service's
	// certificate (Config.Message).
	ProfileMessage
)

func (p Profile) String() string {
	switch p {
	case ProfileSCOverTLS:
		return "sc-tls"
	case ProfileX509:
		return "x509"
	case ProfileMessage:
		return "message"
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
	// Endpoints are the upstream's sub-addresses that are endpoints of
	// their own, each with its own security context: paths below
	// Upstream's, escaped as sent, starting with "/" ("/ep1" for
	// Service.svc/ep1, WCF's relative endpoint addresses). A secured
	// request to any other path below the route is refused: a context is
	// scoped to the address it was issued for, and callers do not make
	// endpoints by inventing paths.
	Endpoints []string
}

// Config configures a Proxy. The CLI builds it from flags; nothing here
// reads flags or the environment. A zero setting takes its default;
// Validate reports the first one that cannot work as a *setting.Error.
type Config struct {
	// Listen is the local address; DefaultListen when empty. A
	// non-loopback address is refused unless AllowRemote is set.
	Listen      string
	AllowRemote bool
	// ListenUnix, when set, is the path of a Unix socket the proxy
	// listens on instead of Listen: only processes that may open the
	// socket file can call. ListenUnixMode is its mode
	// (DefaultListenUnixMode when zero; owner and group bits only).
	ListenUnix     string
	ListenUnixMode fs.FileMode
	// AllowUIDs are the local users whose processes may call the TCP
	// listener (Linux: each connection's peer is looked up in the
	// kernel's socket tables); empty means this process's own effective
	// uid. AnyLocalUser lets every local user call instead.
	AllowUIDs    []int
	AnyLocalUser bool
	// Routes map local path prefixes to upstream endpoints, longest prefix
	// first when several match. Each upstream, and each of its
	// Endpoints, gets one security context.
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
	// Message configures ProfileMessage. Each route's Bootstrap (or
	// Bootstrap) must then also be a session.MessageProtection, which
	// protects the context's Issue, Renew and Cancel.
	Message MessageSecurity
	// SC is the WS-SecureConversation version of the upstream.
	SC wssc.Version
	// Bootstrap authenticates the Issue request.
	Bootstrap session.Bootstrap
	// Entropy and KeySize (bits; 0 = 256) shape the Issue request.
	Entropy wssc.EntropyMode
	KeySize int
	// SignatureMethod is dsig.HMACSHA1 (default) or dsig.HMACSHA256.
	SignatureMethod string
	// DerivedKeys signs each message with a DerivedKeyToken derived from
	// the context key, with a fresh nonce per message, as a WS-SP
	// RequireDerivedKeys on the endorsing context token asks (Apache
	// CXF's policies may). WCF's default for TransportWithMessageCredential
	// signs with the context key directly: false. Under ProfileMessage it
	// signs and encrypts with two DerivedKeyTokens (WCF's default there:
	// the CLI then defaults it to true).
	DerivedKeys bool

	// SOAP is the upstream's SOAP version; zero keeps the application's.
	SOAP soap.Version
	// Addressing is the upstream's WS-Addressing.
	Addressing Addressing

	// RootCAs verifies upstream certificates; nil means the system roots.
	RootCAs *x509.CertPool

	// MaxBody caps request and response bodies; upstream.DefaultMaxBody
	// when zero.
	MaxBody int64
	// MaxConns bounds the application connections open at once: one more
	// is answered 503 with Retry-After and closed at once, never queued.
	// DefaultMaxConns when zero.
	MaxConns int
	// MaxBodyInFlight bounds the bytes of request bodies held at once by
	// every request together, charged as the bytes arrive (never as the
	// client announces them): a request whose body would go beyond it is
	// answered 503 with Retry-After. A description being fetched for the
	// WSDL pass-through counts too. DefaultMaxBodyInFlight when zero (or
	// twice MaxBody, when larger); more than MaxBody.
	MaxBodyInFlight int64
	// WriteTimeout bounds the writing of each answer, from when it is
	// ready: an application that does not read its answer is cut off, and
	// the request's buffers are released before the answer is written.
	// DefaultWriteTimeout when zero.
	WriteTimeout time.Duration
	// MaxEndpoints bounds the upstream endpoints held at once, each with
	// its context, precomputed header and renewal loop (about 15 KiB, see
	// cmd/scbench); DefaultMaxEndpoints when zero.
	MaxEndpoints int
	// EstablishTimeout bounds each Issue, Renew and Cancel exchange;
	// session.DefaultEstablishTimeout when zero. UpstreamTimeout bounds
	// one forwarded call from dial to the last byte of the response;
	// upstream.DefaultTimeout when zero.
	EstablishTimeout time.Duration
	UpstreamTimeout  time.Duration

	// Renewal says when contexts are renewed (renewal.Policy). RenewMode
	// chooses Renew or a new Issue.
	Renewal   renewal.Policy
	RenewMode session.RenewMode
	// Rollover is how long a context replaced by a new Issue stays usable
	// before it is cancelled; zero means session.DefaultRollover,
	// NoRollover (or any negative) cancels it at once.
	Rollover time.Duration
	// ExpiryMargin is how long before its expiry a context is renewed
	// rather than used (session.Config.ExpiryMargin): zero means 5
	// minutes, negative none.
	ExpiryMargin time.Duration
	// EndpointIdleTimeout is how long an endpoint may go without a request
	// before it is dropped, its contexts cancelled (unless KeepContexts)
	// and its renewals stopped; the next request establishes anew. Zero
	// means DefaultEndpointIdleTimeout, negative never.
	EndpointIdleTimeout time.Duration
	// EstablishRate bounds the establishments (Issue requests, which carry
	// the bootstrap credential) per route and minute, a token bucket that
	// holds as many; over it, an establishment fails at once without
	// contacting the service. Zero means DefaultEstablishRate, negative no
	// bound.
	EstablishRate int
	// ShutdownTimeout bounds the wait for requests in flight at shutdown;
	// zero means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// KeepContexts leaves contexts alive at shutdown and after
	// replacement, for servers that keep context state in a stateful
	// cookie and need no cancel.
	KeepContexts bool

	Logger *slog.Logger
	// AccessLog is the level of the line logged for each request (method,
	// path, endpoint, status, duration; never a body or a secret): the
	// zero value is info; AccessLogOff logs none.
	AccessLog slog.Level
}

// DefaultEndpointIdleTimeout is how long an endpoint may go unused before
// it is dropped and its contexts cancelled.
const DefaultEndpointIdleTimeout = 24 * time.Hour

// DefaultEstablishRate is how many establishments a route may make per
// minute (and at once).
const DefaultEstablishRate = 30

// DefaultShutdownTimeout bounds the wait for requests in flight at shutdown.
const DefaultShutdownTimeout = 30 * time.Second

// NoRollover, as Config.Rollover, cancels a context replaced by a new
// Issue at once (any negative Rollover does); zero means
// session.DefaultRollover.
const NoRollover time.Duration = -1

// withDefaults returns c with every setting left open set to its default.
// It is the only place defaults are filled; Validate checks the result
// without changing c.
func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Security == SecurityContext && c.SC == (wssc.Version{}) {
		c.SC = wssc.Feb2005
	}
	if c.SignatureMethod == "" {
		c.SignatureMethod = dsig.HMACSHA1
	}
	if c.MaxBody == 0 {
		c.MaxBody = upstream.DefaultMaxBody
	}
	if c.MaxEndpoints == 0 {
		c.MaxEndpoints = DefaultMaxEndpoints
	}
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.MaxBodyInFlight == 0 {
		c.MaxBodyInFlight = max(DefaultMaxBodyInFlight, 2*c.MaxBody)
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.EstablishTimeout == 0 {
		c.EstablishTimeout = session.DefaultEstablishTimeout
	}
	if c.EndpointIdleTimeout == 0 {
		c.EndpointIdleTimeout = DefaultEndpointIdleTimeout
	}
	if c.EstablishRate == 0 {
		c.EstablishRate = DefaultEstablishRate
	}
	if c.UpstreamTimeout == 0 {
		c.UpstreamTimeout = upstream.DefaultTimeout
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first setting that cannot work as a *setting.Error
// naming it; settings left open take their defaults. It does not change
// c.
func (c *Config) Validate() error {
	d := c.withDefaults()
	if err := d.validateSettings(); err != nil {
		return err
	}
	if d.Security == SecurityContext {
		return d.checkCredentials()
	}
	return nil
}

// ValidateSettings is Validate without the credentials (Bootstrap,
// Certificate): what can be checked before any secret is read.
func (c *Config) ValidateSettings() error {
	d := c.withDefaults()
	return d.validateSettings()
}

func (c *Config) validateSettings() error {
	if err := CheckListen(c.Listen, c.AllowRemote); err != nil {
		return err
	}
	if err := c.checkCallers(); err != nil {
		return err
	}
	if err := c.checkRoutes(); err != nil {
		return err
	}
	switch c.SignatureMethod {
	case dsig.HMACSHA1, dsig.HMACSHA256:
	default:
		return setting.Errorf("SignatureMethod", c.SignatureMethod, "want HMAC-SHA1 or HMAC-SHA256")
	}
	if c.KeySize != 0 && (c.KeySize < MinKeySize || c.KeySize > MaxKeySize || c.KeySize%8 != 0) {
		return setting.Errorf("KeySize", strconv.Itoa(c.KeySize), "want a multiple of 8 from %d to %d", MinKeySize, MaxKeySize)
	}
	if c.MaxBody < MinMaxBody {
		return setting.Errorf("MaxBody", strconv.FormatInt(c.MaxBody, 10), "want at least %d bytes", MinMaxBody)
	}
	if c.MaxBodyInFlight <= c.MaxBody {
		return setting.Errorf("MaxBodyInFlight", strconv.FormatInt(c.MaxBodyInFlight, 10), "want more than the largest body (%d bytes: a body is read with one byte more, to find its end), or no request of that size could be read", c.MaxBody)
	}
	if c.MaxConns < 0 {
		return setting.Errorf("MaxConns", strconv.Itoa(c.MaxConns), "must not be negative")
	}
	for _, n := range []struct {
		field string
		value time.Duration
	}{
		{"EstablishTimeout", c.EstablishTimeout},
		{"UpstreamTimeout", c.UpstreamTimeout},
		{"ShutdownTimeout", c.ShutdownTimeout},
		{"WriteTimeout", c.WriteTimeout},
		{"Renewal.Interval", c.Renewal.Interval},
	} {
		if n.value < 0 {
			return setting.Errorf(n.field, n.value.String(), "must not be negative")
		}
	}
	if c.MaxEndpoints < 0 {
		return setting.Errorf("MaxEndpoints", strconv.Itoa(c.MaxEndpoints), "must not be negative")
	}
	return nil
}

// CheckListen refuses an address that is not host:port, and one beyond
// this host unless allowRemote (an empty host means every interface): a
// listener that lends its credentials to every caller serves this host
// only unless told otherwise. A loopback listener is given by its
// address, not by the name localhost: the name stands for 127.0.0.1 and
// ::1, a socket binds one of them, and the other, left free, could be
// taken by any local process to receive what applications that resolve
// the name the other way send to "the proxy".
func CheckListen(addr string, allowRemote bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return setting.Errorf("Listen", addr, "want host:port, e.g. %s", DefaultListen)
	}
	if strings.EqualFold(host, "localhost") {
		return setting.Errorf("Listen", addr, "the name localhost stands for two addresses (127.0.0.1 and ::1) and only one would be bound, leaving the other to any local process: give 127.0.0.1:%s or [::1]:%s, and the same address to the applications", port, port)
	}
	if !allowRemote && !isLoopbackHost(host) {
		return &setting.Error{Field: "Listen", Value: addr, Allow: "AllowRemote",
			Err: errors.New("not a loopback address: other hosts could call it")}
	}
	return nil
}

// checkRoutes requires at least one route, each with a distinct path
// and a usable upstream; traffic secured by TLS (the sc-tls and x509
// profiles) goes over https only, unless AllowPlainHTTP says the service
// is a test service; message security protects the message itself, over
// http as over https.
func (c *Config) checkRoutes() error {
	if len(c.Routes) == 0 {
		return setting.Errorf("Routes", "", "no upstream configured")
	}
	seen := map[string]bool{}
	endpoints := 0
	for i, r := range c.Routes {
		field := fmt.Sprintf("Routes[%d]", i)
		if !strings.HasPrefix(r.Prefix, "/") {
			// Not shown: text that is no path may be a mistyped URL with
			// a password in it.
			return setting.Errorf(field+".Prefix", "", "the path must start with /")
		}
		if seen[r.Prefix] {
			return setting.Errorf(field+".Prefix", r.Prefix, "given twice")
		}
		seen[r.Prefix] = true
		if err := upstream.CheckURL(r.Upstream); err != nil {
			return &setting.Error{Field: field + ".Upstream", Value: redacted(r.Upstream), Err: err}
		}
		if r.Upstream.Scheme == "http" && c.Security == SecurityContext && c.Profile != ProfileMessage && !c.AllowPlainHTTP {
			return &setting.Error{Field: field + ".Upstream", Allow: "AllowPlainHTTP",
				Err: fmt.Errorf("upstream %q is plain http, which would expose the bootstrap credential and every message; use https://, unless it is a test service", r.Upstream.Redacted())}
		}
		if err := checkEndpoints(field, r.Endpoints); err != nil {
			return err
		}
		endpoints += 1 + len(r.Endpoints)
	}
	if c.MaxEndpoints > 0 && endpoints > c.MaxEndpoints {
		return setting.Errorf("Routes", strconv.Itoa(endpoints)+" endpoints", "more than MaxEndpoints (%d)", c.MaxEndpoints)
	}
	return nil
}

// checkEndpoints requires each of a route's endpoints to be a distinct
// path below its upstream that the router would take.
func checkEndpoints(field string, eps []string) error {
	seen := map[string]bool{}
	for j, e := range eps {
		f := fmt.Sprintf("%s.Endpoints[%d]", field, j)
		switch {
		case !strings.HasPrefix(e, "/") || e == "/" || strings.HasSuffix(e, "/"):
			return setting.Errorf(f, "", "want a path below the upstream's, starting with / and not ending with one")
		case strings.ContainsAny(e, "?#"):
			return setting.Errorf(f, "", "a path only: no query or fragment")
		case checkAppended(e) != "":
			return setting.Errorf(f, e, "%s", checkAppended(e))
		case seen[e]:
			return setting.Errorf(f, e, "given twice")
		}
		seen[e] = true
	}
	return nil
}

// redacted is u without its password, or "" for no URL.
func redacted(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.Redacted()
}

// checkCredentials requires what the profile signs with: for ProfileX509
// a certificate with the RSA key of its public key (no context is
// established, so no bootstrap is needed); otherwise a bootstrap
// credential for every route.
func (c *Config) checkCredentials() error {
	switch c.Profile {
	case ProfileSCOverTLS:
		for i, r := range c.Routes {
			if r.Bootstrap == nil && c.Bootstrap == nil {
				return setting.Errorf(fmt.Sprintf("Routes[%d].Bootstrap", i), "", "no bootstrap credential for establishing security contexts with %s", r.Prefix)
			}
		}
		return nil
	case ProfileX509:
		cred := c.Certificate
		if cred == nil || cred.Cert == nil || cred.Key == nil {
			return setting.Errorf("Certificate", "", "profile x509: no certificate and key to sign messages with")
		}
		method := cred.Method
		if method == "" {
			method = dsig.RSASHA1
		}
		if _, err := dsig.RSASigningKey(method, cred.Key); err != nil {
			return &setting.Error{Field: "Certificate", Err: fmt.Errorf("profile x509: %w", err)}
		}
		// A key that is not the certificate's would have every message
		// refused by the service; say so at start.
		if pub, ok := cred.Key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(cred.Cert.PublicKey) {
			return setting.Errorf("Certificate", "", "profile x509: the private key does not belong to the certificate")
		}
		return nil
	case ProfileMessage:
		return c.checkMessage()
	}
	return setting.Errorf("Profile", c.Profile.String(), "unknown profile")
}

// keepsContexts reports whether secured requests use a security context
// per endpoint.
func (c *Config) keepsContexts() bool {
	return c.Security == SecurityContext && c.Profile != ProfileX509
}

// isLoopbackHost reports whether host (no port) names this machine only.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
