package bootstrap

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/beevik/etree"

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
	// URL is the STS endpoint.
	URL *url.URL
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
// token STS (NewIssuedTokenFromSTS) and kept until a tenth of its life (at
// least MinTokenRefreshMargin) before it expires. Concurrent Secure calls
// that find no usable token share one fetch; a caller that gives up does
// not cancel it for the others, and a failed fetch is not remembered. An
// IssuedToken is safe for concurrent use.
type IssuedToken struct {
	sts *TokenSTS // nil for a token given as XML
	cur atomic.Pointer[heldToken]

	mu     sync.Mutex
	flight *tokenFetch
	// fetches counts requests to the STS, for tests and String.
	fetches atomic.Int64
}

// heldToken is one token with its proof key.
type heldToken struct {
	cred      secure.IssuedToken
	assertion *saml.Assertion
	expires   time.Time // zero: the token states no end
	refresh   time.Time // when a fetched token is replaced
}

// tokenFetch is one request to the STS that callers wait for.
type tokenFetch struct {
	done chan struct{}
	tok  *heldToken
	err  error
}

// NewIssuedTokenFromXML returns a bootstrap presenting token, a SAML 2.0
// or 1.1 assertion, with its proofKey. The token's bytes are sent exactly
// as given (its outermost element; an XML declaration around it is
// dropped); it is parsed only to find its ID, kind and expiry, since its
// issuer's signature is for the service to check. Secure fails with
// ErrTokenExpired once the token's NotOnOrAfter has passed.
func NewIssuedTokenFromXML(token, proofKey []byte) (*IssuedToken, error) {
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
	tok, err := hold(frag, a, proofKey, time.Time{})
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
// sts when first used. It checks the settings; it does not contact the
// STS.
func NewIssuedTokenFromSTS(sts TokenSTS) (*IssuedToken, error) {
	if err := upstream.CheckURL(sts.URL); err != nil {
		return nil, &setting.Error{Field: "TokenSTS.URL", Value: upstream.Redact(sts.URL), Err: err}
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
	return &IssuedToken{sts: &sts}, nil
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
	if tok := t.cur.Load(); tok != nil {
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

// token returns a usable token at now: the held one until its refresh
// time, else the result of a fetch shared with every concurrent caller.
// When that fetch fails, a held token that has not yet expired is still
// used.
func (t *IssuedToken) token(ctx context.Context, now time.Time) (*heldToken, error) {
	held := t.cur.Load()
	if t.sts == nil {
		if !held.expires.IsZero() && !now.Before(held.expires) {
			return nil, fmt.Errorf("issued token %q: %w (at %s)", held.assertion.ID, ErrTokenExpired, held.expires.UTC().Format(time.RFC3339))
		}
		return held, nil
	}
	if held != nil && now.Before(held.refresh) {
		return held, nil
	}
	f := t.join(ctx, now)
	select {
	case <-f.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if f.err != nil && held != nil && (held.expires.IsZero() || now.Before(held.expires)) {
		t.sts.Logger.Warn("token STS refresh failed; using the current token until it expires", "sts", upstream.Redact(t.sts.URL), "token", held.assertion.ID, "err", f.err)
		return held, nil
	}
	return f.tok, f.err
}

// join returns the fetch under way, starting one when there is none and
// no fetch finished since the caller looked (that one's token is returned
// as a finished fetch). The fetch runs on its own goroutine under ctx's
// values but not its cancellation, bounded by the STS timeout.
func (t *IssuedToken) join(ctx context.Context, now time.Time) *tokenFetch {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.flight != nil {
		return t.flight
	}
	f := &tokenFetch{done: make(chan struct{})}
	if tok := t.cur.Load(); tok != nil && now.Before(tok.refresh) {
		f.tok = tok
		close(f.done)
		return f
	}
	t.flight = f
	go func() {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.sts.Timeout)
		defer cancel()
		f.tok, f.err = t.fetch(fctx)
		t.mu.Lock()
		if f.err == nil {
			t.cur.Store(f.tok)
		}
		t.flight = nil
		t.mu.Unlock()
		close(f.done)
	}()
	return f
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
	s.Logger.Debug("token fetched", "sts", upstream.Redact(s.URL), "user", s.Username, "token", tok.assertion.ID,
		"kind", tok.assertion.Kind.String(), "expires", tok.expires, "took", s.Now().Sub(start))
	return tok, nil
}

// request makes the Issue exchange with the STS.
func (s *TokenSTS) request(ctx context.Context) (*heldToken, error) {
	v := s.Version
	rst, err := saml.BuildRequest(saml.RequestParams{Version: v, AppliesTo: s.AppliesTo, KeySize: s.KeySize, Mode: s.Entropy, Rand: s.Rand})
	if err != nil {
		return nil, err
	}
	body, msgID, err := s.envelope(rst.Element)
	if err != nil {
		return nil, err
	}
	ct, action, err := soap.V12.ContentType(saml.IssueAction(v))
	if err != nil {
		return nil, err
	}
	r, err := s.Client.Post(ctx, upstream.Request{URL: s.URL, ContentType: ct, SOAPAction: action, Body: body})
	if err != nil {
		return nil, err
	}
	env, err := s.reply(r, msgID)
	if err != nil {
		return nil, err
	}
	payload, err := env.Payload()
	if err != nil {
		return nil, err
	}
	resp, err := saml.ParseResponse(env.Doc, payload, v)
	if err != nil {
		return nil, err
	}
	key, err := resp.Key(rst.ClientEntropy)
	if err != nil {
		return nil, err
	}
	return hold(resp.Token, resp.Assertion, key, resp.Lifetime.Expires)
}

// envelope writes the Issue request: addressed with WS-Addressing 1.0 and
// secured with a Timestamp and the UsernameToken.
func (s *TokenSTS) envelope(payload *etree.Element) ([]byte, string, error) {
	env := soap.NewEnvelope(soap.V12)
	env.Body.AddChild(payload)
	h, err := wsa.NewRequest(wsa.V10, saml.IssueAction(s.Version), s.URL.String(), s.Rand)
	if err != nil {
		return nil, "", err
	}
	if _, err := h.AddTo(env.Header, wsa.V10); err != nil {
		return nil, "", err
	}
	body, err := secure.WithUsername(env, s.Username, s.Password.Reveal(), false, secure.Options{Now: s.Now, Rand: s.Rand})
	return body, h.MessageID, err
}

// issueReplyActions are the actions an STS may give its reply: the
// WS-Trust 1.3 final collection, and the RSTR actions of either version.
func issueReplyActions(v wssc.Version) []string {
	return []string{saml.IssueReplyAction(v), v.Trust() + "/RSTR/Issue", v.Trust() + "/RSTRC/IssueFinal"}
}

// reply parses the STS's answer: a SOAP 1.2 envelope relating to the
// request, or a fault, which becomes the error.
func (s *TokenSTS) reply(r *upstream.Response, msgID string) (*soap.Envelope, error) {
	if mt, _, _ := mime.ParseMediaType(r.ContentType); mt != soap.MediaType12 {
		return nil, fmt.Errorf("the STS answered HTTP %d with %q, not SOAP 1.2", r.Status, r.ContentType)
	}
	env, err := soap.ParseWith(r.Body, xmldoc.Options{Limits: s.Limits, KeepSpans: true})
	if err != nil {
		return nil, fmt.Errorf("the STS answered HTTP %d with a message scproxy cannot read: %w", r.Status, err)
	}
	if f, err := env.Fault(); err != nil {
		return nil, fmt.Errorf("the STS answered with a malformed fault: %w", err)
	} else if f != nil {
		return nil, f
	}
	if r.Status != 200 || env.Version != soap.V12 {
		return nil, fmt.Errorf("the STS answered HTTP %d in %s", r.Status, env.Version)
	}
	h, _, err := wsa.Read(env.Header)
	if err != nil {
		return nil, err
	}
	if h.Action != "" && !slices.Contains(issueReplyActions(s.Version), h.Action) {
		return nil, fmt.Errorf("reply action %q is not an Issue reply", h.Action)
	}
	if h.RelatesTo != "" && h.RelatesTo != msgID {
		return nil, errors.New("the STS's reply relates to another request")
	}
	return env, nil
}
