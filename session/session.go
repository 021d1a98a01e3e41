package session

import (
	"io"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scproxy/scproxy/credcache"
	"github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/secure"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// Defaults of the settings a zero Config leaves open.
const (
	// DefaultEstablishTimeout bounds one exchange with the STS.
	DefaultEstablishTimeout = 30 * time.Second
	// DefaultRollover is how long a replaced context stays usable, as in
	// WCF and WWSAPI.
	DefaultRollover = 5 * time.Minute
	// DefaultExpiryMargin is how long before its expiry a context is
	// renewed rather than used: the clock skew WCF services allow.
	DefaultExpiryMargin = credcache.DefaultMargin
)

// RenewMode is how a context is renewed.
type RenewMode int

const (
	// RenewInPlace sends WS-Trust Renew: a new key for the same context.
	// When the server refuses, a new context is issued instead.
	RenewInPlace RenewMode = iota
	// Reissue establishes a new context instead of renewing.
	Reissue
)

func (m RenewMode) String() string {
	if m == Reissue {
		return "reissue"
	}
	return "renew"
}

// Wire is how the STS messages of a context are enveloped: the SOAP and
// WS-Addressing versions the upstream speaks.
type Wire struct {
	SOAP       soap.Version
	Addressing wsa.Version
}

// Config configures an Endpoint.
type Config struct {
	// URL is the upstream endpoint; its STS is at the same address, as
	// WCF hosts it.
	URL *url.URL
	// Version is the WS-SecureConversation version.
	Version wssc.Version
	// Entropy and KeySize (bits; 0 = 256) shape the Issue request.
	Entropy wssc.EntropyMode
	KeySize int
	// SignatureMethod signs messages with the context key (dsig.HMACSHA1
	// when empty).
	SignatureMethod string
	// Bootstrap authenticates the Issue request.
	Bootstrap Bootstrap
	// Message, when set, protects the Issue, Renew and Cancel exchanges
	// by message security (the message-security profile, no TLS): the
	// Issue with the bootstrap binding, Renew and Cancel with the context
	// itself, every reply opened before it is read.
	Message MessageProtection
	// Client posts to the upstream.
	Client *upstream.Client
	// Timeout bounds one establishment, renewal or cancellation.
	Timeout time.Duration
	// RenewMode: RenewInPlace (WS-Trust Renew, falling back to a new Issue
	// when the server cannot renew) or Reissue (always a new Issue).
	RenewMode RenewMode
	// Rollover is how long a context replaced by a new Issue is kept
	// before it is cancelled, for the requests still using it; 0 means
	// DefaultRollover, negative cancels at once.
	Rollover time.Duration
	// ExpiryMargin is how long before its expiry a context stops being
	// used: a request then waits for its renewal rather than be signed
	// with a key the server, its clock that much ahead, finds expired.
	// Zero means DefaultExpiryMargin, negative none; it is clamped to a
	// quarter of a context's lifetime (see credcache.Clamp).
	ExpiryMargin time.Duration
	// CancelReplaced cancels contexts replaced by a new Issue once the
	// rollover has passed (servers with stateful cookies need no cancel).
	CancelReplaced bool
	// RetryAt says when to try again after the n-th consecutive failure,
	// the first of which happened at first (see renewal.Policy.RetryAt).
	// Until then requests without a usable context fail at once instead
	// of queueing. Nil retries at the next request.
	RetryAt func(first time.Time, n int) time.Time
	// Limits bound parsing of STS responses.
	Limits xmldoc.Limits
	// Now and Rand default to the system clock and crypto/rand.
	Now  func() time.Time
	Rand io.Reader
	// Logger receives one line per establishment; never a secret.
	Logger *slog.Logger
}

// Context is an established security context. It is immutable; a renewal
// or a new establishment makes a new one.
type Context struct {
	// Version and Token: the SCT as issued, kept byte for byte.
	Version wssc.Version
	Token   *wssc.SCT
	// Wire is the envelope the STS exchange used.
	Wire Wire
	// Established and Expires are the local time of establishment and the
	// end of the token's lifetime (zero when the server stated none).
	Established, Expires time.Time

	key      []byte
	memo     sync.Map
	accepted atomic.Bool
}

// MarkAccepted records that the service has answered a message secured
// with this context without a fault.
func (c *Context) MarkAccepted() {
	if !c.accepted.Load() {
		c.accepted.Store(true)
	}
}

// Accepted reports whether the service has answered a message secured
// with this context without a fault: a security fault then means it has
// forgotten the context, not that it never took it.
func (c *Context) Accepted() bool { return c.accepted.Load() }

// Memo returns the value stored under key for this context, computing it
// with build on first use: what its users derive from the context once
// (such as a precomputed header) lives and dies with it. Concurrent first
// calls may each build; one value is kept.
func (c *Context) Memo(key any, build func() (any, error)) (any, error) {
	if v, ok := c.memo.Load(key); ok {
		return v, nil
	}
	v, err := build()
	if err != nil {
		return nil, err
	}
	v, _ = c.memo.LoadOrStore(key, v)
	return v, nil
}

// Identifier returns the context's identifier URI.
func (c *Context) Identifier() string { return c.Token.Identifier }

// String names the context by its identifier; never its key.
func (c *Context) String() string { return "context " + c.Token.Identifier }

// GoString is String, so that %#v cannot print the key.
func (c *Context) GoString() string { return c.String() }

// Secure returns what wire/secure needs to sign with this context.
func (c *Context) Secure() secure.Context {
	return secure.Context{Version: c.Version, Token: c.Token, Key: c.key}
}

// Expired reports whether the token's lifetime has ended at now.
func (c *Context) Expired(now time.Time) bool {
	return !c.Expires.IsZero() && !now.Before(c.Expires)
}
