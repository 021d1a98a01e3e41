package session

import (
	"context"
	"fmt"

	"github.com/scproxy/scproxy/credcache"
	"github.com/scproxy/scproxy/wire/secure"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wstrust"
)

// issue establishes a new context.
func (e *Endpoint) issue(ctx context.Context, w Wire) (*Context, error) {
	rst, err := wssc.BuildIssue(wssc.Params{Version: e.cfg.Version, Mode: e.cfg.Entropy, KeySize: e.cfg.KeySize, Rand: e.cfg.Rand})
	if err != nil {
		return nil, e.fail(wssc.Issue, err)
	}
	resp, err := e.exchange(ctx, wssc.Issue, w, e.bootstrapRequest(ctx, rst.Element, nil))
	if err == nil {
		err = e.bornExpired(wssc.Issue, resp.Lifetime)
	}
	if err != nil {
		return nil, err
	}
	key, err := resp.Key(rst.ClientEntropy)
	if err != nil {
		return nil, e.fail(wssc.Issue, err)
	}
	return &Context{Version: e.cfg.Version, Token: resp.Token, Wire: w, Established: e.cfg.Now(), Expires: resp.Lifetime.Expires, key: key}, nil
}

// renew asks the STS for a new key for old (WS-Trust Renew) the way WCF's
// client does: the request carries the bootstrap credential, exactly as
// an Issue does, and proves possession of the current key with old's SCT
// as an endorsing token, its HMAC signature over the Timestamp only (.NET
// Framework servers refuse a Renew whose wsa:To is signed with it).
func (e *Endpoint) renew(ctx context.Context, old *Context) (*Context, error) {
	rst, err := wssc.BuildRenew(wssc.Params{Version: old.Version, Mode: e.cfg.Entropy, KeySize: e.cfg.KeySize, Rand: e.cfg.Rand}, old.Token.Ref())
	if err != nil {
		return nil, e.fail(wssc.Renew, err)
	}
	resp, err := e.exchange(ctx, wssc.Renew, old.Wire, e.renewRequest(ctx, rst.Element, old))
	if err == nil {
		err = e.bornExpired(wssc.Renew, resp.Lifetime)
	}
	if err != nil {
		return nil, err
	}
	if resp.Token.Identifier != old.Token.Identifier {
		return nil, e.fail(wssc.Renew, fmt.Errorf("the renewal answered for context %q, not %q", resp.Token.Identifier, old.Token.Identifier))
	}
	key, err := resp.Key(rst.ClientEntropy)
	if err != nil {
		return nil, e.fail(wssc.Renew, err)
	}
	return &Context{Version: old.Version, Token: resp.Token, Wire: old.Wire, Established: e.cfg.Now(), Expires: resp.Lifetime.Expires, key: key}, nil
}

// bornExpired refuses a context granted with lifetime lt when it expires
// before now plus the expiry margin, clamped to a quarter of the lifetime
// the STS states (from its Created, or now when it states none or a time
// to come): a context the cache would never hand out, or one the server,
// its clock ahead by the margin, already finds expired.
func (e *Endpoint) bornExpired(op wssc.Operation, lt wssc.Lifetime) error {
	if lt.Expires.IsZero() {
		return nil
	}
	now := e.cfg.Now()
	from := lt.Created
	if from.IsZero() || from.After(now) {
		from = now
	}
	margin := e.cfg.ExpiryMargin
	if margin == 0 {
		margin = DefaultExpiryMargin
	}
	if now.Before(lt.Expires.Add(-credcache.Clamp(margin, from, lt.Expires))) {
		return nil
	}
	return e.fail(op, &ExpiredError{Expires: lt.Expires, At: now})
}

// cancelExchange ends c at the STS (WS-Trust Cancel), signed with its key.
func (e *Endpoint) cancelExchange(ctx context.Context, c *Context) error {
	el, err := wssc.BuildCancel(c.Version, c.Token.Ref())
	if err != nil {
		return e.fail(wssc.Cancel, err)
	}
	_, err = e.exchange(ctx, wssc.Cancel, c.Wire, e.contextRequest(el, c))
	return err
}

// bootstrapped secures an STS request with the bootstrap credential,
// endorsed by context endorse when it is not nil. ctx bounds what the
// bootstrap fetches first (a ticket, an issued token).
func (e *Endpoint) bootstrapped(ctx context.Context, endorse *Context) wstrust.SecureFunc {
	return func(env *soap.Envelope, o secure.Options) ([]byte, error) {
		if endorse != nil {
			o.Endorse = &secure.Endorsement{Context: endorse.Secure(), SignatureMethod: e.cfg.SignatureMethod}
		}
		return e.cfg.Bootstrap.Secure(ctx, env, o)
	}
}

// signedWith secures an STS request with context c: Timestamp, SCT and an
// HMAC signature over the Timestamp.
func (e *Endpoint) signedWith(c *Context) wstrust.SecureFunc {
	return func(env *soap.Envelope, o secure.Options) ([]byte, error) {
		return secure.WithContext(env, c.Secure(), secure.ContextOptions{Options: o, SignatureMethod: e.cfg.SignatureMethod})
	}
}

// exchange makes one WS-Trust exchange of op with the endpoint's STS,
// enveloped as w says, and returns the response once it is a complete
// answer to op. r carries the payload and the credential.
func (e *Endpoint) exchange(ctx context.Context, op wssc.Operation, w Wire, r wstrust.Request) (*wssc.Response, error) {
	v := e.cfg.Version
	c := wstrust.Client{HTTP: e.cfg.Client, Limits: e.cfg.Limits, Now: e.cfg.Now, Rand: e.cfg.Rand, Logger: e.cfg.Logger}
	r.URL, r.Version, r.SOAP, r.Addressing = e.cfg.URL, v, w.SOAP, w.Addressing
	r.Op, r.Action, r.ReplyActions = op.String(), v.Action(op), v.ReplyActions(op)
	resp, err := wstrust.Exchange(ctx, &c, r, wssc.ParseResponse)
	if err == nil {
		err = resp.Expect(op)
	}
	if err != nil {
		return nil, e.fail(op, err)
	}
	return resp, nil
}

func (e *Endpoint) fail(op wssc.Operation, err error) error {
	return &Error{Op: op, Endpoint: e.url, Err: err}
}
