package bootstrap

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/scproxy/scproxy/credcache"
	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/setting"
	"github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/keys"
	"github.com/scproxy/scproxy/wire/saml"
	"github.com/scproxy/scproxy/wire/secure"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
	"github.com/scproxy/scproxy/wstrust"
)

// Defaults of a TokenSTS.
const (
	// DefaultTokenFetchTimeout bounds one request to the token STS.
	DefaultTokenFetchTimeout = 30 * time.Second
	// MinTokenRefreshMargin is the least time before its expiry at which a
	// fetched token is replaced; the margin is otherwise a tenth of the
	// token's life.
	MinTokenRefreshMargin = 30 * time.Second
)

// ErrTokenExpired is returned by Secure when a token given as XML has
// expired: only its issuer can make a new one.
var ErrTokenExpired = errors.New("the issued token has expired")

// TokenSTS is where an IssuedToken fetches its token: a WS-Trust Issue
// request for a SAML 2.0 holder-of-key token with a symmetric proof key,
// authenticated with a UsernameToken over TLS (SOAP 1.2 and WS-Addressing
// 1.0, what WCF's ws2007HttpBinding STS endpoints speak).
type TokenSTS struct {
	// URL is the STS endpoint. It receives the password, so it must be
	// https:// unless AllowPlainHTTP.
	URL *url.URL
	// AllowPlainHTTP accepts an http:// URL, over which the password
	// crosses the network in clear: for a test STS only.
	AllowPlainHTTP bool
	// Version is the WS-Trust version of the STS (wssc.V1_3 or
	// wssc.Feb2005).
	Version wssc.Version
	// Username and Password authenticate the request.
	Username string
	Password creds.Secret
	// AppliesTo is the address of the service the token is for (the
	// assertion's audience); empty asks for a token without one.
	AppliesTo string
	// KeySize of the proof key in bits; 0 means 256.
	KeySize int
	// Entropy is who makes the proof key: combined (the default, as WCF
	// asks) or the STS alone (wssc.ServerEntropy).
	Entropy wssc.EntropyMode
	// Client posts to the STS.
	Client *upstream.Client
	// Timeout bounds one fetch; 0 means DefaultTokenFetchTimeout.
	Timeout time.Duration
	// Limits bound the parsing of the STS's answer.
	Limits xmldoc.Limits
	// Now, Rand and Logger default to the system clock, crypto/rand and
	// no logging. The logger gets one line per fetch, never a secret.
	Now    func() time.Time
	Rand   io.Reader
	Logger *slog.Logger
}

// IssuedToken bootstraps with an issued token and its proof key (WCF's
// IssuedTokenOverTransport): the Issue request of the security context
// carries a Timestamp, the token exactly as its issuer wrote it, and an
// HMAC-SHA1 signature with the proof key over the Timestamp and wsa:To,
// whose KeyInfo names the token by its ID (SAML Token Profile 1.1 §3.4).
//
// The token is either given once (NewIssuedTokenFromXML) or fetched from a
// token STS (NewIssuedTokenFromSTS), replaced in the background from a
// tenth of its life (at least MinTokenRefreshMargin) before it expires,
// and never used within the expiry margin (credcache.DefaultMargin, at
// most a quarter of its life). Concurrent Secure calls that find no
// usable token share one fetch; a caller that gives up does
// not cancel it for the others, and a failed fetch is not remembered. An
// IssuedToken is safe for concurrent use.
type IssuedToken struct {
	sts *TokenSTS                 // nil for a token given as XML
	cur atomic.Pointer[heldToken] // the token given as XML
	// tokens holds the token fetched from sts.
	tokens *credcache.Cache[*heldToken]
	// fetches counts requests to the STS, for tests and String.
	fetches atomic.Int64
}

// heldToken is one token with its proof key.
type heldToken struct {
	cred      secure.IssuedToken
	assertion *saml.Assertion
	expires   time.Time // zero: the token states no end
	refresh   time.Time // when a fetched token is replaced
	fetched   time.Time // when it was asked for
}

// ErrProofKeyEncoding is returned by NewIssuedTokenFromXML for a proof key
// that is not base64.
var ErrProofKeyEncoding = errors.New("issued token: the proof key must be base64")

// NewIssuedTokenFromXML returns a bootstrap presenting token, a SAML 2.0
// or 1.1 assertion, with its proof key, given in base64 and kept a
// creds.Secret until it is decoded here. The token's bytes are sent exactly
// as given (its outermost element; an XML declaration around it is
// dropped); it is parsed only to find its ID, kind and expiry, since its
// issuer's signature is for the service to check. Secure fails with
// ErrTokenExpired once the token's NotOnOrAfter has passed.
func NewIssuedTokenFromXML(token []byte, proofKey creds.Secret) (*IssuedToken, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(proofKey.Reveal()))
	if err != nil {
		return nil, ErrProofKeyEncoding
	}
	d, err := xmldoc.Parse(token, xmldoc.Options{KeepSpans: true})
	if err != nil {
		return nil, fmt.Errorf("issued token: %w", err)
	}
	frag, err := d.Fragment(d.Root())
	if err != nil {
		return nil, fmt.Errorf("issued token: %w", err)
	}
	a, err := saml.Parse(d.Root())
	if err != nil {
		return nil, fmt.Errorf("issued token: %w", err)
	}
	tok, err := hold(frag, a, key, time.Time{})
	if err != nil {
		return nil, err
	}
	tok.refresh = tok.expires
	t := &IssuedToken{}
	t.cur.Store(tok)
	return t, nil
}

// hold checks a token's proof key and works out its expiry: the earlier of
// the assertion's NotOnOrAfter and the STS's Lifetime (zero when neither
// says).
func hold(frag xmldoc.Fragment, a *saml.Assertion, key []byte, lifetimeEnd time.Time) (*heldToken, error) {
	if err := keys.CheckKeyBits(len(key) * 8); err != nil {
		return nil, fmt.Errorf("issued token: proof key: %w", err)
	}
	expires := a.NotOnOrAfter
	if !lifetimeEnd.IsZero() && (expires.IsZero() || lifetimeEnd.Before(expires)) {
		expires = lifetimeEnd
	}
	cred := secure.IssuedToken{Token: frag, Reference: saml.Reference(a.Kind, a.ID), Key: slices.Clone(key)}
	return &heldToken{cred: cred, assertion: a, expires: expires}, nil
}

// NewIssuedTokenFromSTS returns a bootstrap that fetches its token from
// sts when first used. It checks the settings (an http:// URL only with
// AllowPlainHTTP); it does not contact the STS.
func NewIssuedTokenFromSTS(sts TokenSTS) (*IssuedToken, error) {
	if err := upstream.CheckURL(sts.URL); err != nil {
		return nil, &setting.Error{Field: "TokenSTS.URL", Value: upstream.Redact(sts.URL), Err: err}
	}
	if sts.URL.Scheme == "http" && !sts.AllowPlainHTTP {
		return nil, &setting.Error{Field: "TokenSTS.URL", Value: upstream.Redact(sts.URL), Allow: "TokenSTS.AllowPlainHTTP",
			Err: errors.New("plain http would send the password in clear; use https://, unless it is a test STS")}
	}
	switch {
	case sts.Version != wssc.V1_3 && sts.Version != wssc.Feb2005:
		return nil, setting.Errorf("TokenSTS.Version", "", "no WS-Trust version for the STS")
	case sts.Username == "":
		return nil, setting.Errorf("TokenSTS.Username", "", "no user name for the STS")
	case sts.Client == nil:
		return nil, setting.Errorf("TokenSTS.Client", "", "no upstream client")
	}
	if sts.Timeout == 0 {
		sts.Timeout = DefaultTokenFetchTimeout
	}
	if sts.Now == nil {
		sts.Now = time.Now
	}
	if sts.Rand == nil {
		sts.Rand = rand.Reader
	}
	if sts.Logger == nil {
		sts.Logger = slog.New(slog.DiscardHandler)
	}
	t := &IssuedToken{sts: &sts}
	t.tokens = credcache.New(credcache.Config[*heldToken]{
		Lifetime:  func(h *heldToken) (time.Time, time.Time) { return h.fetched, h.expires },
		RefreshAt: func(h *heldToken) time.Time { return h.refresh },
		Timeout:   sts.Timeout,
		Now:       sts.Now,
	})
	return t, nil
}

// Kind returns "issued-token".
func (t *IssuedToken) Kind() string { return "issued-token" }

// Fetches is the number of requests made to the token STS so far.
func (t *IssuedToken) Fetches() int64 { return t.fetches.Load() }

// String names the token source and the current token's ID, never the
// proof key or the password.
func (t *IssuedToken) String() string {
	s := "issued token given as XML"
	if t.sts != nil {
		s = fmt.Sprintf("issued token from %s for user %q", upstream.Redact(t.sts.URL), t.sts.Username)
	}
	if tok := t.held(); tok != nil {
		s += fmt.Sprintf(" (%s %q)", tok.assertion.Kind, tok.assertion.ID)
	}
	return s
}

// GoString is String, so %#v cannot print a secret either.
func (t *IssuedToken) GoString() string { return t.String() }

// LogValue is String, so that structured loggers (JSON included) cannot
// print a secret either.
func (t *IssuedToken) LogValue() slog.Value { return slog.StringValue(t.String()) }

// Secure adds the Timestamp, the token and the proof-key signature to env,
// fetching the token first when none is usable.
func (t *IssuedToken) Secure(ctx context.Context, env *soap.Envelope, o secure.Options) ([]byte, error) {
	if o.Now == nil {
		return nil, errors.New("issued token: no clock")
	}
	tok, err := t.token(ctx, o.Now())
	if err != nil {
		return nil, err
	}
	return secure.WithIssuedToken(env, tok.cred, o)
}

// held returns the token held, usable or not, or nil.
func (t *IssuedToken) held() *heldToken {
	if t.sts == nil {
		return t.cur.Load()
	}
	tok, _ := t.tokens.Peek()
	return tok
}

// token returns a usable token at now. A fetched token is kept until it
// comes within the cache's margin (credcache.DefaultMargin, at most a
// quarter of its life) of its expiry; from its refresh time on it is
// replaced in the background, and kept while that fails. Concurrent
// callers that find none share one fetch, which runs under ctx's values
// but not its cancellation, bounded by the STS timeout; a failed fetch is
// not remembered.
func (t *IssuedToken) token(ctx context.Context, now time.Time) (*heldToken, error) {
	if t.sts == nil {
		held := t.cur.Load()
		if !held.expires.IsZero() && !now.Before(held.expires) {
			return nil, fmt.Errorf("issued token %q: %w (at %s)", held.assertion.ID, ErrTokenExpired, held.expires.UTC().Format(time.RFC3339))
		}
		return held, nil
	}
	return t.tokens.Get(ctx, t.fetch)
}

// fetch asks the STS for a token.
func (t *IssuedToken) fetch(ctx context.Context) (*heldToken, error) {
	s := t.sts
	start := s.Now()
	t.fetches.Add(1)
	tok, err := s.request(ctx)
	if err != nil {
		err = fmt.Errorf("issued token: fetching from %s: %w", upstream.Redact(s.URL), err)
		s.Logger.Warn("token fetch failed", "sts", upstream.Redact(s.URL), "user", s.Username, "err", err)
		return nil, err
	}
	life := tok.expires.Sub(start)
	if tok.expires.IsZero() || life <= 0 {
		return nil, fmt.Errorf("issued token: the token %q from %s has no future expiry", tok.assertion.ID, upstream.Redact(s.URL))
	}
	tok.refresh = tok.expires.Add(-max(life/10, MinTokenRefreshMargin))
	tok.fetched = start
	s.Logger.Debug("token fetched", "sts", upstream.Redact(s.URL), "user", s.Username, "token", tok.assertion.ID,
		"kind", tok.assertion.Kind.String(), "expires", tok.expires, "took", s.Now().Sub(start))
	return tok, nil
}

// request makes the Issue exchange with the STS.
func (s *TokenSTS) request(ctx context.Context) (*heldToken, error) {
	rst, err := saml.BuildRequest(saml.RequestParams{Version: s.Version, AppliesTo: s.AppliesTo, KeySize: s.KeySize, Mode: s.Entropy, Rand: s.Rand})
	if err != nil {
		return nil, err
	}
	c := wstrust.Client{HTTP: s.Client, Limits: s.Limits, Now: s.Now, Rand: s.Rand, Logger: s.Logger}
	resp, err := wstrust.Exchange(ctx, &c, s.envelope(rst), saml.ParseResponse)
	if err != nil {
		return nil, err
	}
	key, err := resp.KeyFor(rst)
	if err != nil {
		return nil, err
	}
	return hold(resp.Token, resp.Assertion, key, resp.Lifetime.Expires)
}

// envelope is the Issue request carrying rst: SOAP 1.2, addressed with
// WS-Addressing 1.0 and secured with a Timestamp and the UsernameToken.
func (s *TokenSTS) envelope(rst *wssc.RST) wstrust.Request {
	return wstrust.Request{
		URL: s.URL, Version: s.Version, SOAP: soap.V12, Addressing: wsa.V10,
		Op: wssc.Issue.String(), Action: saml.IssueAction(s.Version), ReplyActions: issueReplyActions(s.Version),
		Payload: rst.Element,
		Secure: func(env *soap.Envelope, o secure.Options) ([]byte, error) {
			return secure.WithUsername(env, s.Username, s.Password.Reveal(), false, o)
		},
	}
}

// issueReplyActions are the actions an STS may give its reply: the
// WS-Trust 1.3 final collection, and the RSTR actions of either version.
func issueReplyActions(v wssc.Version) []string {
	return []string{saml.IssueReplyAction(v), v.Trust() + "/RSTR/Issue", v.Trust() + "/RSTRC/IssueFinal"}
}
