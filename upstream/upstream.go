// Package upstream is scproxy's HTTP client towards the services it
// secures: TLS verified against the configured roots, connections reused,
// every phase under a timeout, redirects never followed, responses read
// under a size cap, and failures classified so that the application can be
// told what went wrong.
package upstream

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// Defaults of the settings a zero Config leaves open.
const (
	DefaultDialTimeout           = 10 * time.Second
	DefaultTLSTimeout            = 10 * time.Second
	DefaultResponseHeaderTimeout = 60 * time.Second
	DefaultTimeout               = 2 * time.Minute
	DefaultMaxBody               = 4 << 20
)

// Config configures a Client.
type Config struct {
	// RootCAs verifies server certificates; nil means the system roots.
	RootCAs *x509.CertPool
	// Timeouts; zero means the default above. Timeout bounds a whole call.
	DialTimeout, TLSTimeout, ResponseHeaderTimeout, Timeout time.Duration
	// MaxBody caps a response body.
	MaxBody int64
	// MaxConnsPerHost bounds the connections to one upstream; 0 = 64.
	MaxConnsPerHost int
	// Transport, when set, replaces the network transport (and the TLS and
	// dial settings above): for benchmarks that measure the proxy alone.
	Transport http.RoundTripper
}

// Client posts SOAP messages upstream. It is safe for concurrent use.
type Client struct {
	hc      *http.Client
	maxBody int64
	timeout time.Duration
}

func pick[T comparable](v, d T) T {
	var zero T
	if v == zero {
		return d
	}
	return v
}

// New returns a Client for cfg.
func New(cfg Config) *Client {
	dialer := &net.Dialer{Timeout: pick(cfg.DialTimeout, DefaultDialTimeout), KeepAlive: 30 * time.Second}
	conns := pick(cfg.MaxConnsPerHost, 64)
	tr := &http.Transport{
		Proxy:                 nil, // the upstream is reached directly, whatever the environment says
		DialContext:           dialer.DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   pick(cfg.TLSTimeout, DefaultTLSTimeout),
		ResponseHeaderTimeout: pick(cfg.ResponseHeaderTimeout, DefaultResponseHeaderTimeout),
		MaxIdleConns:          4 * conns,
		MaxIdleConnsPerHost:   conns,
		MaxConnsPerHost:       conns,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	var rt http.RoundTripper = tr
	if cfg.Transport != nil {
		rt = cfg.Transport
	}
	return &Client{
		hc: &http.Client{
			Transport: rt,
			// A SOAP endpoint that redirects is misconfigured; following
			// would resend a secured message (and its token) elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		maxBody: pick(cfg.MaxBody, DefaultMaxBody),
		timeout: pick(cfg.Timeout, DefaultTimeout),
	}
}

// CloseIdle closes idle connections.
func (c *Client) CloseIdle() { c.hc.CloseIdleConnections() }

// Request is one SOAP message to post.
type Request struct {
	URL         *url.URL
	ContentType string
	SOAPAction  string // sent as the SOAPAction header when not empty
	Body        []byte
}

// Response is an upstream answer read in full.
type Response struct {
	Status      int
	ContentType string
	Body        []byte
}

// Kind classifies a failed call.
type Kind int

// Kinds of failure, each with a different remedy.
const (
	// Unreachable: no connection (refused, reset, DNS).
	Unreachable Kind = iota + 1
	// Untrusted: the server's certificate did not verify.
	Untrusted
	// TLSFailed: the handshake failed otherwise.
	TLSFailed
	// Timeout: a phase of the call took too long.
	Timeout
	// TooLarge: the response exceeded the size cap.
	TooLarge
	// Broken: the connection failed after the call was under way.
	Broken
	// Canceled: the caller gave up.
	Canceled
)

var kindNames = map[Kind]string{
	Unreachable: "unreachable", Untrusted: "certificate not trusted", TLSFailed: "TLS handshake failed",
	Timeout: "timed out", TooLarge: "response too large", Broken: "connection failed", Canceled: "canceled",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Error is a failed call to an upstream. It names the URL (without
// credentials, query or fragment) and the cause.
type Error struct {
	Kind Kind
	URL  string
	Err  error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s: %v", e.URL, e.Kind, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Post sends r and reads the response under the size cap. Any HTTP status
// is a Response; only a call that produced none is an *Error.
func (c *Client) Post(ctx context.Context, r Request) (*Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL.String(), bytes.NewReader(r.Body))
	if err != nil {
		return nil, c.fail(r.URL, Broken, err)
	}
	req.Header.Set("Content-Type", r.ContentType)
	if r.SOAPAction != "" {
		req.Header.Set("SOAPAction", r.SOAPAction)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.classify(ctx, r.URL, err)
	}
	defer resp.Body.Close()
	body, err := ReadAll(io.LimitReader(resp.Body, c.maxBody+1), min(resp.ContentLength, c.maxBody+1))
	if err != nil {
		return nil, c.classify(ctx, r.URL, err)
	}
	if int64(len(body)) > c.maxBody {
		return nil, c.fail(r.URL, TooLarge, fmt.Errorf("more than %d bytes", c.maxBody))
	}
	return &Response{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: body}, nil
}

// ReadAll reads r to its end. n is the length the sender announced (n <
// 0: unknown); it comes from the peer, so memory follows the bytes that
// arrive, never n alone: the buffer starts at firstRead bytes (n+1 when
// smaller) and doubles as it fills, never beyond n+1 while the body keeps
// to its announced length, so that a truthful body costs at most twice
// its size and an announced one that never comes costs firstRead. The
// caller bounds r by its own limit.
func ReadAll(r io.Reader, n int64) ([]byte, error) { return ReadAllCharged(r, n, nil) }

// firstRead is the first allocation of ReadAll for a body longer than it.
const firstRead = 4 << 10

// ReadAllCharged is ReadAll calling charge, when not nil, with the size
// of each allocation before making it: an error from charge ends the read
// and is returned, so that a caller can hold the bodies in flight to a
// budget.
func ReadAllCharged(r io.Reader, n int64, charge func(int) error) ([]byte, error) {
	var b []byte
	for {
		if len(b) == cap(b) {
			more := max(cap(b), firstRead)
			if n >= 0 && int64(len(b)) <= n {
				more = int(min(int64(more), n+1-int64(len(b))))
			}
			if charge != nil {
				if err := charge(more); err != nil {
					return b, err
				}
			}
			nb := make([]byte, len(b), len(b)+more)
			copy(nb, b)
			b = nb
		}
		m, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+m]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

func (c *Client) fail(u *url.URL, k Kind, err error) *Error {
	return &Error{Kind: k, URL: Redact(u), Err: err}
}

// classify turns a transport error into an *Error of the right Kind.
func (c *Client) classify(ctx context.Context, u *url.URL, err error) *Error {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
		recErr   tls.RecordHeaderError
		alert    tls.AlertError
		dnsErr   *net.DNSError
		opErr    *net.OpError
	)
	// Strip net/http's "Post \"url\":" wrapper: the Error names the URL.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	switch {
	case errors.As(err, &unknown), errors.As(err, &hostname), errors.As(err, &invalid), errors.As(err, &verify):
		return c.fail(u, Untrusted, err)
	case errors.As(err, &recErr), errors.As(err, &alert):
		return c.fail(u, TLSFailed, err)
	case errors.Is(ctx.Err(), context.Canceled):
		return c.fail(u, Canceled, err)
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return c.fail(u, Timeout, err)
	case errors.As(err, &dnsErr):
		return c.fail(u, Unreachable, err)
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return c.fail(u, Unreachable, err)
	}
	return c.fail(u, Broken, err)
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// Redact returns u without user information, query or fragment, for
// messages and logs.
func Redact(u *url.URL) string {
	if u == nil {
		return "<no URL>"
	}
	c := *u
	c.User, c.RawQuery, c.ForceQuery, c.Fragment, c.RawFragment = nil, "", false, "", ""
	return c.String()
}
