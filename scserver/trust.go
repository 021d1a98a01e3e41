package scserver

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wssc"
)

// trust handles a WS-Trust request of version v for op: the payload must
// be a RequestSecurityToken whose RequestType matches the action.
func (s *Server) trust(req *request, v wssc.Version, op wssc.Operation) (*etree.Element, *rejection) {
	payload, err := req.env.Payload()
	if err != nil {
		return nil, reject(trustCode(v, "InvalidRequest"), "the %s request has no RequestSecurityToken: %v", op, err)
	}
	rst, err := wssc.ParseRequest(payload, v)
	if err == nil {
		err = rst.Expect(op)
	}
	if err != nil {
		return nil, reject(trustCode(v, "InvalidRequest"), "the %s request is invalid: %v", op, err)
	}
	switch op {
	case wssc.Issue:
		return s.issue(req, rst)
	case wssc.Renew:
		return s.renew(req, rst)
	}
	return s.cancel(req, rst)
}

// entropyMode picks the entropy mode for a request under the configured
// policy.
func (s *Server) entropyMode(rst *wssc.Request) wssc.EntropyMode {
	switch s.cfg.Entropy {
	case EntropyCombined:
		return wssc.CombinedEntropy
	case EntropyClient:
		return wssc.ClientEntropy
	case EntropyServer:
		return wssc.ServerEntropy
	}
	if rst.ClientEntropy == nil {
		return wssc.ServerEntropy
	}
	return wssc.CombinedEntropy
}

// newProof decides the key of an Issue or Renew reply.
func (s *Server) newProof(rst *wssc.Request) (*wssc.Proof, *rejection) {
	p, err := wssc.NewProof(rst, s.entropyMode(rst), s.cfg.Rand)
	if errors.Is(err, wssc.ErrNoClientEntropy) {
		return nil, reject(trustCode(rst.Version, "InvalidRequest"), "this server is configured for %s entropy and the request carries none", s.cfg.Entropy)
	}
	if err != nil {
		return nil, rejectClass(soap.Receiver, http.StatusInternalServerError, "making the key: %v", err)
	}
	return p, nil
}

// issue authenticates the bootstrap credential and issues a new context.
func (s *Server) issue(req *request, rst *wssc.Request) (*etree.Element, *rejection) {
	principal, rej := s.authenticate(req, rst.Version, nil)
	if rej != nil {
		return nil, rej
	}
	req.principal = principal
	proof, rej := s.newProof(rst)
	if rej != nil {
		return nil, rej
	}
	id, err := s.uuid()
	if err != nil {
		return nil, rejectClass(soap.Receiver, http.StatusInternalServerError, "%v", err)
	}
	sess := &session{
		Identifier: "urn:uuid:" + id, Version: rst.Version, Key: proof.Key, Principal: principal,
		Created: req.now, Expires: req.now.Add(s.cfg.Lifetime), KeyCreated: req.now,
	}
	out, rej := s.grant(sess, proof)
	if rej != nil {
		return nil, rej
	}
	if err := s.store.add(sess); err != nil {
		return nil, rejectClass(soap.Receiver, http.StatusInternalServerError, "%v", err)
	}
	req.context = sess.Identifier
	s.stats.track(sess.Identifier, sess.Expires)
	s.stats.update(sess.Identifier, func(st *Stats, _ *ContextStats) { st.Issued++ })
	return out, nil
}

// grant writes the reply for a context's current key, with a fresh wsu:Id
// in WCF's "uuid-<guid>-<n>" form and, when configured, the sealed cookie.
func (s *Server) grant(sess *session, proof *wssc.Proof) (*etree.Element, *rejection) {
	fail := func(err error) (*etree.Element, *rejection) {
		return nil, rejectClass(soap.Receiver, http.StatusInternalServerError, "writing the token: %v", err)
	}
	wsuID, err := s.uuid()
	if err != nil {
		return fail(err)
	}
	tok := wssc.Token{ID: "uuid-" + wsuID + "-1", Identifier: sess.Identifier, Instance: sess.Instance}
	if s.cookies != nil {
		if tok.Cookie, err = s.cookies.seal(sess); err != nil {
			return fail(err)
		}
	}
	out, err := wssc.BuildResponse(wssc.Grant{
		Version:   sess.Version,
		Token:     tok,
		Proof:     proof,
		EntropyID: "uuid-" + wsuID + "-2",
		Lifetime:  wssc.Lifetime{Created: sess.KeyCreated, Expires: sess.Expires},
	})
	if err != nil {
		return fail(err)
	}
	return out, nil
}

// uuid returns a random UUID (without urn:uuid:) from the configured
// randomness.
func (s *Server) uuid() (string, error) {
	id, err := wsa.NewMessageID(s.cfg.Rand)
	return strings.TrimPrefix(id, "urn:uuid:"), err
}

// proofOfPossession verifies a Renew or Cancel: signed, with a fresh signed
// Timestamp, by the key of the very context it targets. In a Renew that
// signature endorses the bootstrap's (see verifyContext).
func (s *Server) proofOfPossession(req *request, rst *wssc.Request, allowPrevious bool) (*Verified, *rejection) {
	var (
		ver *Verified
		rej *rejection
	)
	if req.msg != nil {
		ver, rej = req.msg.possession(rst, allowPrevious)
	} else if ver, rej = s.verifyContext(req.env, req.now, allowPrevious, rst.Operation == wssc.Renew); rej == nil {
		ver.Timestamp, rej = s.checkTimestamp(ver.Signature, req.now)
	}
	if rej != nil {
		if rej.context == "" {
			rej.context = rst.Target.Identifier
		}
		return nil, rej
	}
	if ver.Identifier != rst.Target.Identifier {
		return nil, reject(codeFailedAuthentication, "the %s request targets context %q but is signed with the key of %q", rst.Operation, rst.Target.Identifier, ver.Identifier).about(rst.Target.Identifier)
	}
	return ver, nil
}

// renew gives the target context a new key (and, in 1.3, a new Instance),
// keeping the old key valid for the rollover period. As a WCF server
// does, it wants the bootstrap credential, checked as for an Issue, and
// the context's endorsing signature made with its current key; the
// credential must name the principal the context was issued to.
func (s *Server) renew(req *request, rst *wssc.Request) (*etree.Element, *rejection) {
	ver, rej := s.proofOfPossession(req, rst, false)
	if rej != nil {
		return nil, rej
	}
	req.context = ver.Identifier
	principal, rej := s.authenticate(req, rst.Version, ver.endorsing())
	if rej != nil {
		return nil, rej.about(ver.Identifier)
	}
	req.principal = principal
	proof, rej := s.newProof(rst)
	if rej != nil {
		return nil, rej.about(ver.Identifier)
	}
	instance := ""
	if rst.Version == wssc.V1_3 {
		id, err := s.uuid()
		if err != nil {
			return nil, rejectClass(soap.Receiver, http.StatusInternalServerError, "%v", err)
		}
		instance = "urn:uuid:" + id
	}
	var renewed *session
	err := s.store.update(ver.Identifier, req.now, func(sess *session) error {
		if rst.Target.Instance != "" && rst.Target.Instance != sess.Instance {
			return &ContextError{Identifier: sess.Identifier, Reason: fmt.Sprintf("has no key instance %q (current: %q)", rst.Target.Instance, sess.Instance)}
		}
		if sess.Principal != principal {
			return errOtherPrincipal
		}
		if !bytes.Equal(sess.Key, ver.key) {
			return &ContextError{Identifier: sess.Identifier, Reason: "was renewed by another request meanwhile"}
		}
		sess.PrevKey, sess.PrevUntil = sess.Key, req.now.Add(s.cfg.Rollover)
		if s.cfg.Rollover < 0 {
			sess.PrevKey = nil
		}
		sess.Key, sess.KeyCreated, sess.Messages = slices.Clone(proof.Key), req.now, 0
		sess.Instance = instance
		sess.Expires = req.now.Add(s.cfg.Lifetime)
		renewed = sess.clone()
		return nil
	})
	if errors.Is(err, errOtherPrincipal) {
		return nil, reject(codeFailedAuthentication, "context %q was not issued to %s", ver.Identifier, principal).about(ver.Identifier)
	}
	if err != nil {
		var ce *ContextError
		errors.As(err, &ce)
		return nil, badContext(rst.Version, ce)
	}
	out, rej := s.grant(renewed, proof)
	if rej != nil {
		return nil, rej
	}
	s.stats.track(ver.Identifier, renewed.Expires)
	s.stats.update(ver.Identifier, func(st *Stats, cs *ContextStats) {
		st.Renewed++
		cs.Renewed++
	})
	return out, nil
}

// errOtherPrincipal refuses a Renew whose bootstrap credential is not the
// one the context was issued to.
var errOtherPrincipal = errors.New("renewed by another principal")

// cancel ends the target context; later messages on it get
// BadContextToken.
func (s *Server) cancel(req *request, rst *wssc.Request) (*etree.Element, *rejection) {
	if s.msg != nil && s.msg.cfg.NoCancel {
		return nil, reject(addressingCode(req.wsa, "ActionNotSupported"), "this service's contexts are not cancelled (its policy says MustNotSendCancel): they end when they expire").about(rst.Target.Identifier)
	}
	ver, rej := s.proofOfPossession(req, rst, true)
	if rej != nil {
		return nil, rej
	}
	req.context = ver.Identifier
	err := s.store.update(ver.Identifier, req.now, func(sess *session) error {
		sess.Cancelled = true
		return nil
	})
	if err != nil {
		var ce *ContextError
		errors.As(err, &ce)
		return nil, badContext(rst.Version, ce)
	}
	s.stats.update(ver.Identifier, func(st *Stats, cs *ContextStats) {
		st.Cancelled++
		cs.Cancelled = true
	})
	out, err := wssc.BuildCancelResponse(rst.Version)
	if err != nil {
		return nil, rejectClass(soap.Receiver, http.StatusInternalServerError, "%v", err)
	}
	return out, nil
}
