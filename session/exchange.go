package session

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"slices"
	"time"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/secure"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// issue establishes a new context.
func (e *Endpoint) issue(ctx context.Context, w Wire) (*Context, error) {
	rst, err := wssc.BuildIssue(wssc.Params{Version: e.cfg.Version, Mode: e.cfg.Entropy, KeySize: e.cfg.KeySize, Rand: e.cfg.Rand})
	if err != nil {
		return nil, e.fail(wssc.Issue, err)
	}
	bootstrap := func(env *soap.Envelope, o secure.Options) ([]byte, error) {
		return e.cfg.Bootstrap.Secure(ctx, env, o)
	}
	resp, err := e.exchange(ctx, wssc.Issue, w, rst.Element, bootstrap)
	if err != nil {
		return nil, err
	}
	key, err := resp.Key(rst.ClientEntropy)
	if err != nil {
		return nil, e.fail(wssc.Issue, err)
	}
	return &Context{Version: e.cfg.Version, Token: resp.Token, Wire: w, Established: e.cfg.Now(), Expires: resp.Lifetime.Expires, key: key}, nil
}

// renew asks the STS for a new key for old (WS-Trust Renew), proving
// possession of the current key: the request is signed with it. The
// signature covers the Timestamp only; .NET Framework servers refuse a
// Renew whose wsa:To is signed.
func (e *Endpoint) renew(ctx context.Context, old *Context) (*Context, error) {
	rst, err := wssc.BuildRenew(wssc.Params{Version: old.Version, Mode: e.cfg.Entropy, KeySize: e.cfg.KeySize, Rand: e.cfg.Rand}, old.Token.Ref())
	if err != nil {
		return nil, e.fail(wssc.Renew, err)
	}
	resp, err := e.exchange(ctx, wssc.Renew, old.Wire, rst.Element, e.signedWith(old))
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

// cancelExchange ends c at the STS (WS-Trust Cancel), signed with its key.
func (e *Endpoint) cancelExchange(ctx context.Context, c *Context) error {
	el, err := wssc.BuildCancel(c.Version, c.Token.Ref())
	if err != nil {
		return e.fail(wssc.Cancel, err)
	}
	_, err = e.exchange(ctx, wssc.Cancel, c.Wire, el, e.signedWith(c))
	return err
}

// signedWith secures an STS request with context c: Timestamp, SCT and an
// HMAC signature over the Timestamp.
func (e *Endpoint) signedWith(c *Context) secureFunc {
	return func(env *soap.Envelope, o secure.Options) ([]byte, error) {
		return secure.WithContext(env, c.Secure(), secure.ContextOptions{Options: o, SignatureMethod: e.cfg.SignatureMethod})
	}
}

// secureFunc adds a credential to an STS request and serialises it.
type secureFunc func(*soap.Envelope, secure.Options) ([]byte, error)

// exchange sends one WS-Trust request and returns the checked response.
func (e *Endpoint) exchange(ctx context.Context, op wssc.Operation, w Wire, payload *etree.Element, sec secureFunc) (*wssc.Response, error) {
	v := e.cfg.Version
	env := soap.NewEnvelope(w.SOAP)
	env.Body.AddChild(payload)
	var msgID string
	if w.Addressing != wsa.None {
		h, err := wsa.NewRequest(w.Addressing, v.Action(op), e.cfg.URL.String(), e.cfg.Rand)
		if err != nil {
			return nil, e.fail(op, err)
		}
		if _, err := h.AddTo(env.Header, w.Addressing); err != nil {
			return nil, e.fail(op, err)
		}
		msgID = h.MessageID
	}
	body, err := sec(env, secure.Options{Now: e.cfg.Now, Rand: e.cfg.Rand})
	if err != nil {
		return nil, e.fail(op, err)
	}
	ct, action, err := w.SOAP.ContentType(v.Action(op))
	if err != nil {
		return nil, e.fail(op, err)
	}
	// Debug lines say what was exchanged, never its content: the request
	// carries the bootstrap's secret or a signature made with the key.
	log := e.cfg.Logger.With("endpoint", e.url, "op", op.String(), "message_id", msgID)
	log.Debug("sending WS-Trust request", "bytes", len(body))
	start := time.Now()
	r, err := e.cfg.Client.Post(ctx, upstream.Request{URL: e.cfg.URL, ContentType: ct, SOAPAction: action, Body: body})
	if err != nil {
		log.Debug("WS-Trust request failed", "error", err, "took", time.Since(start))
		return nil, e.fail(op, err)
	}
	log.Debug("WS-Trust answer", "status", r.Status, "content_type", r.ContentType, "bytes", len(r.Body), "took", time.Since(start))
	reply, err := e.reply(r, w)
	if err != nil {
		return nil, e.fail(op, err)
	}
	if err := checkReplyAddressing(reply, op, v, msgID); err != nil {
		return nil, e.fail(op, err)
	}
	payloadEl, err := reply.Payload()
	if err != nil {
		return nil, e.fail(op, err)
	}
	resp, err := wssc.ParseResponse(reply.Doc, payloadEl, v)
	if err != nil {
		return nil, e.fail(op, err)
	}
	if err := resp.Expect(op); err != nil {
		return nil, e.fail(op, err)
	}
	return resp, nil
}

// reply parses an STS answer: a SOAP envelope of the version sent, or a
// fault, which becomes the error.
func (e *Endpoint) reply(r *upstream.Response, w Wire) (*soap.Envelope, error) {
	mt, _, _ := mime.ParseMediaType(r.ContentType)
	if mt != soap.MediaType11 && mt != soap.MediaType12 {
		return nil, fmt.Errorf("the STS answered HTTP %d with %q, not SOAP", r.Status, r.ContentType)
	}
	env, err := soap.ParseWith(r.Body, xmldoc.Options{Limits: e.cfg.Limits, KeepSpans: true})
	if err != nil {
		return nil, fmt.Errorf("the STS answered HTTP %d with a message scproxy cannot read: %w", r.Status, err)
	}
	if f, err := env.Fault(); err != nil {
		return nil, fmt.Errorf("the STS answered with a malformed fault: %w", err)
	} else if f != nil {
		return nil, f
	}
	if env.Version != w.SOAP {
		return nil, fmt.Errorf("the STS answered in %s to a %s request", env.Version, w.SOAP)
	}
	if r.Status != 200 {
		return nil, fmt.Errorf("the STS answered HTTP %d", r.Status)
	}
	return env, nil
}

// checkReplyAddressing checks the addressing of a reply when the request
// had some: the reply action is one the operation allows and the reply
// relates to the request.
func checkReplyAddressing(env *soap.Envelope, op wssc.Operation, v wssc.Version, msgID string) error {
	h, _, err := wsa.Read(env.Header)
	if err != nil {
		return err
	}
	if msgID == "" || h.Action == "" {
		return nil
	}
	if !slices.Contains(v.ReplyActions(op), h.Action) {
		return fmt.Errorf("reply action %q is not a %s reply of %s", h.Action, op, v)
	}
	if h.RelatesTo != "" && h.RelatesTo != msgID {
		return errors.New("reply relates to another request")
	}
	return nil
}

func (e *Endpoint) fail(op wssc.Operation, err error) error {
	return &Error{Op: op, Endpoint: e.url, Err: err}
}
