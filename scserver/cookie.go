package scserver

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// cookieJar seals context state into the dnse:Cookie of a token, the way
// WCF's stateful sessions keep theirs (WCF protects it with DPAPI; this
// server with AES-256-GCM under a key made at start). The Identifier is
// the additional data, so a cookie cannot be moved to another token.
type cookieJar struct {
	aead cipher.AEAD
	rand io.Reader
}

func newCookieJar(rand io.Reader) (*cookieJar, error) {
	key := make([]byte, 32)
	if _, err := io.ReadFull(rand, key); err != nil {
		return nil, fmt.Errorf("scserver: cookie key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &cookieJar{aead: aead, rand: rand}, nil
}

// cookieState is what a cookie carries.
type cookieState struct {
	Version    string    `json:"v"`
	Key        []byte    `json:"k"`
	Instance   string    `json:"i,omitempty"`
	Created    time.Time `json:"c"`
	Expires    time.Time `json:"e"`
	KeyCreated time.Time `json:"kc"`
	Principal  string    `json:"p,omitempty"`
}

func (j *cookieJar) seal(s *session) ([]byte, error) {
	plain, err := json.Marshal(cookieState{
		Version: s.Version.SC(), Key: s.Key, Instance: s.Instance,
		Created: s.Created, Expires: s.Expires, KeyCreated: s.KeyCreated, Principal: s.Principal,
	})
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, j.aead.NonceSize())
	if _, err := io.ReadFull(j.rand, nonce); err != nil {
		return nil, fmt.Errorf("scserver: cookie nonce: %w", err)
	}
	return j.aead.Seal(nonce, nonce, plain, []byte(s.Identifier)), nil
}

func (j *cookieJar) open(identifier string, sealed []byte) (*session, error) {
	n := j.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("cookie too short")
	}
	plain, err := j.aead.Open(nil, sealed[:n], sealed[n:], []byte(identifier))
	if err != nil {
		return nil, errors.New("cookie was not issued by this server for this context")
	}
	var cs cookieState
	if err := json.Unmarshal(plain, &cs); err != nil {
		return nil, fmt.Errorf("cookie content: %w", err)
	}
	v, ok := wssc.VersionOf(cs.Version)
	if !ok {
		return nil, errors.New("cookie names no known version")
	}
	return &session{
		Identifier: identifier, Version: v, Key: cs.Key, Instance: cs.Instance,
		Created: cs.Created, Expires: cs.Expires, KeyCreated: cs.KeyCreated, Principal: cs.Principal,
	}, nil
}

var cookieName = xmldoc.Name{Space: wssc.NSDotNetSecurity, Local: "Cookie"}

// restoreCookies brings back, from their cookies, the unexpired contexts
// of the tokens in a Security header that the server does not know (after
// ForgetAll). A cookie that does not open is ignored: the signature check
// that follows then reports the context as unknown.
func (s *Server) restoreCookies(sec *etree.Element, v wssc.Version, now time.Time) {
	if s.cookies == nil {
		return
	}
	for _, tok := range xmldoc.Children(sec, xmldoc.Name{Space: v.SC(), Local: "SecurityContextToken"}) {
		idEl, err := xmldoc.One(tok, xmldoc.Name{Space: v.SC(), Local: "Identifier"})
		if err != nil {
			continue
		}
		c, err := xmldoc.One(tok, cookieName)
		if err != nil {
			continue
		}
		sealed, err := wss.DecodeBase64(c.Text())
		if err != nil {
			continue
		}
		sess, err := s.cookies.open(xmldoc.Text(idEl), sealed)
		if err != nil || sess.Version != v {
			continue
		}
		if s.store.restore(sess, now) {
			s.stats.track(sess.Identifier, sess.Expires)
			s.cfg.Logger.Info("context restored from cookie", "context", sess.Identifier)
		}
	}
}
