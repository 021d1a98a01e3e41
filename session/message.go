package session

import (
	"context"
	"errors"
	"time"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/secure"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wstrust"
)

// MessageProtection protects the STS exchanges of an endpoint whose
// messages are secured by message security (WCF wsHttpBinding's Message
// mode) instead of TLS: every request is signed and encrypted, every
// reply verified and decrypted before a field of it is read.
// Implementations keep their keys out of String and errors.
type MessageProtection interface {
	// Bootstrap protects an Issue request with the bootstrap binding (an
	// EncryptedKey for the service's certificate, with the client's
	// credential when the bootstrap has one) and returns the bytes to send
	// and the step that opens the reply (SignatureConfirmation checked).
	// A bootstrap that must first fetch something does so under ctx.
	Bootstrap(ctx context.Context, env *soap.Envelope, o secure.Options) ([]byte, wstrust.OpenFunc, error)
	// Renew protects the Renew of context c: with c itself, as Context
	// does, or as WCF's and CXF's clients send it, under the bootstrap
	// binding with c endorsing.
	Renew(ctx context.Context, env *soap.Envelope, c secure.Context, o secure.Options) ([]byte, wstrust.OpenFunc, error)
	// Context protects a Cancel request with context c (keys derived from
	// its key) and returns the bytes to send and the step that opens the
	// reply, keyed by c.
	Context(env *soap.Envelope, c secure.Context, o secure.Options) ([]byte, wstrust.OpenFunc, error)
	// Kind names the bootstrap binding for logs and status
	// ("anonymous-for-certificate").
	Kind() string
}

// protectFunc protects an STS request and returns what opens its reply.
type protectFunc func(env *soap.Envelope, o secure.Options) ([]byte, wstrust.OpenFunc, error)

// protected makes a WS-Trust request of payload whose credential is
// added by protect and whose reply is opened by the step protect returned
// for it: the reply of an exchange is checked against what its own
// request sent.
func protected(payload *etree.Element, protect protectFunc) wstrust.Request {
	var open wstrust.OpenFunc
	return wstrust.Request{
		Payload: payload,
		Secure: func(env *soap.Envelope, o secure.Options) ([]byte, error) {
			b, op, err := protect(env, o)
			open = op
			return b, err
		},
		Open: func(reply *soap.Envelope) (*soap.Envelope, error) {
			if open == nil {
				return nil, errors.New("session: a reply to a request that was not protected")
			}
			return open(reply)
		},
	}
}

// bootstrapRequest is an Issue or (sc-tls) Renew request of payload,
// secured by the bootstrap credential, endorsed by context endorse when
// it is not nil; under message security, protected by the bootstrap
// binding.
func (e *Endpoint) bootstrapRequest(ctx context.Context, payload *etree.Element, endorse *Context) wstrust.Request {
	if m := e.cfg.Message; m != nil {
		return protected(payload, func(env *soap.Envelope, o secure.Options) ([]byte, wstrust.OpenFunc, error) {
			return m.Bootstrap(ctx, env, o)
		})
	}
	return wstrust.Request{Payload: payload, Secure: e.bootstrapped(ctx, endorse)}
}

// renewRequest is a Renew request of payload for context old, proving
// possession of its key: under message security protected as the
// protection's Renew says; otherwise the bootstrap credential endorsed by
// old, as WCF's client sends it over TLS.
func (e *Endpoint) renewRequest(ctx context.Context, payload *etree.Element, old *Context) wstrust.Request {
	if m := e.cfg.Message; m != nil {
		return protected(payload, func(env *soap.Envelope, o secure.Options) ([]byte, wstrust.OpenFunc, error) {
			return m.Renew(ctx, env, old.Secure(), o)
		})
	}
	return e.bootstrapRequest(ctx, payload, old)
}

// contextRequest is a request of payload (a Cancel) secured with context
// c: signed over its Timestamp, or under message security protected by
// keys derived from c's key.
func (e *Endpoint) contextRequest(payload *etree.Element, c *Context) wstrust.Request {
	if m := e.cfg.Message; m != nil {
		return protected(payload, func(env *soap.Envelope, o secure.Options) ([]byte, wstrust.OpenFunc, error) {
			return m.Context(env, c.Secure(), o)
		})
	}
	return wstrust.Request{Payload: payload, Secure: e.signedWith(c)}
}

// ResponseKeys returns the contexts whose keys may protect the answer to
// a request secured with c: c itself while it is current or within the
// rollover after it was replaced (a service answers with the key the
// request used), and during the rollover the context c replaced, whose
// key a service may still answer with. None when c was replaced longer
// ago than the rollover: its answer is refused.
func (e *Endpoint) ResponseKeys(c *Context) []*Context {
	cur := e.Current()
	now := e.cfg.Now()
	e.mu.Lock()
	prev, until := e.prev, e.prevUntil
	e.mu.Unlock()
	inRollover := prev != nil && now.Before(until)
	var out []*Context
	switch {
	case c == cur:
		out = append(out, c)
		if inRollover && prev != c {
			out = append(out, prev)
		}
	case inRollover && c == prev:
		out = append(out, c)
	}
	return out
}

// rolled records that c replaced old (a renewal or a new Issue): old's
// key stays acceptable in answers for the rollover. Called with e.mu
// held.
func (e *Endpoint) rolled(old, c *Context, now time.Time) {
	if old == nil || old == c {
		return
	}
	e.prev, e.prevUntil = old, now.Add(max(e.cfg.Rollover, 0))
}
