package wss

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

// NonceSize is the length of the UsernameToken nonces scproxy generates, the
// size WSS4J and WCF use.
const NonceSize = 16

// UsernameToken is a wsse:UsernameToken (UsernameToken Profile 1.1 §3).
// Password holds the Password element as on the wire: the clear text for
// PasswordText, the base64 digest for PasswordDigest. Created is kept as the
// exact string received because the digest covers those characters. The
// String and GoString methods hide Password, so that a token logged by
// mistake does not leak it.
type UsernameToken struct {
	ID           string
	Username     string
	PasswordType string
	Password     string
	Nonce        []byte
	Created      string
}

// NewUsernameToken returns a token for username and password. With
// PasswordText the password travels as is (over TLS only); with
// PasswordDigest a NonceSize nonce is read from rand and the token carries
// Base64(SHA-1(nonce + created + password)) with created taken from now.
func NewUsernameToken(id, username, password, passwordType string, now time.Time, rand io.Reader) (*UsernameToken, error) {
	t := &UsernameToken{ID: id, Username: username, PasswordType: passwordType}
	switch passwordType {
	case PasswordText:
		t.Password = password
	case PasswordDigest:
		if rand == nil {
			return nil, errors.New("wss: no randomness source for the username token nonce")
		}
		t.Nonce = make([]byte, NonceSize)
		if _, err := io.ReadFull(rand, t.Nonce); err != nil {
			return nil, fmt.Errorf("wss: username token nonce: %w", err)
		}
		t.Created = FormatTime(now)
		t.Password = digest(t.Nonce, t.Created, password)
	default:
		return nil, fmt.Errorf("wss: unsupported password type %q", passwordType)
	}
	return t, nil
}

func digest(nonce []byte, created, password string) string {
	h := sha1.New()
	h.Write(nonce)
	h.Write([]byte(created))
	h.Write([]byte(password))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// Element returns the wsse:UsernameToken element, declaring what it uses.
func (t *UsernameToken) Element() *etree.Element {
	el := newElement(PrefixWSSE, NSWSSE, "UsernameToken")
	if t.ID != "" || t.Created != "" {
		el.CreateAttr("xmlns:"+PrefixWSU, NSWSU)
	}
	if t.ID != "" {
		el.CreateAttr(PrefixWSU+":Id", t.ID)
	}
	child(el, PrefixWSSE, "Username", t.Username)
	pw := child(el, PrefixWSSE, "Password", t.Password)
	pw.CreateAttr("Type", t.PasswordType)
	if t.Nonce != nil {
		n := child(el, PrefixWSSE, "Nonce", base64.StdEncoding.EncodeToString(t.Nonce))
		n.CreateAttr("EncodingType", EncodingBase64Binary)
	}
	if t.Created != "" {
		child(el, PrefixWSU, "Created", t.Created)
	}
	return el
}

// ParseUsernameToken reads a wsse:UsernameToken. Each child occurs at most
// once and Username exactly once; a missing Password Type means
// PasswordText (UsernameToken Profile 1.1 §3.1); a digest needs a Nonce and
// a Created. Parsing does not check the password: see Verify.
func ParseUsernameToken(el *etree.Element) (*UsernameToken, error) {
	if !xmldoc.Is(el, NameUsernameToken) {
		return nil, fmt.Errorf("wss: expected %s, got %s", NameUsernameToken, xmldoc.NameOf(el))
	}
	t := &UsernameToken{}
	t.ID, _ = ID(el)
	u, err := xmldoc.One(el, NameUsername)
	if err != nil {
		return nil, fmt.Errorf("wss: username token: %w", err)
	}
	t.Username = xmldoc.Text(u)
	if err := t.parsePassword(el); err != nil {
		return nil, err
	}
	if err := t.parseNonceCreated(el); err != nil {
		return nil, err
	}
	if t.PasswordType == PasswordDigest && (t.Nonce == nil || t.Created == "") {
		return nil, errors.New("wss: username token: a password digest needs a Nonce and a Created")
	}
	return t, nil
}

func (t *UsernameToken) parsePassword(el *etree.Element) error {
	pw, err := xmldoc.Optional(el, NamePassword)
	if err != nil || pw == nil {
		if err == nil {
			err = errors.New("no Password")
		}
		return fmt.Errorf("wss: username token: %w", err)
	}
	t.PasswordType = PasswordText
	if typ, ok := xmldoc.Attr(pw, attrType); ok {
		t.PasswordType = typ
	}
	if t.PasswordType != PasswordText && t.PasswordType != PasswordDigest {
		return fmt.Errorf("wss: username token: unsupported password type %q", t.PasswordType)
	}
	if t.PasswordType == PasswordText {
		// Untrimmed: spaces may belong to a password.
		t.Password = pw.Text()
		return nil
	}
	// A digest is base64, which pretty-printers may indent or wrap: it is
	// kept in canonical form so that such tokens still verify.
	d, err := DecodeBase64(pw.Text())
	if err != nil || len(d) != sha1.Size {
		return errors.New("wss: username token: the password digest is not a base64 SHA-1 value")
	}
	t.Password = base64.StdEncoding.EncodeToString(d)
	return nil
}

func (t *UsernameToken) parseNonceCreated(el *etree.Element) error {
	n, err := xmldoc.Optional(el, NameNonce)
	if err != nil {
		return fmt.Errorf("wss: username token: %w", err)
	}
	if n != nil {
		if enc, ok := xmldoc.Attr(n, attrEncodingType); ok && enc != EncodingBase64Binary {
			return fmt.Errorf("wss: username token: unsupported nonce encoding %q", enc)
		}
		if t.Nonce, err = DecodeBase64(n.Text()); err != nil {
			return fmt.Errorf("wss: username token nonce: %w", err)
		}
	}
	c, err := xmldoc.Optional(el, NameCreated)
	if err != nil {
		return fmt.Errorf("wss: username token: %w", err)
	}
	if c != nil {
		t.Created = xmldoc.Text(c)
		if _, err := ParseTime(t.Created); err != nil {
			return fmt.Errorf("wss: username token Created: %w", err)
		}
	}
	return nil
}

// ErrBadPassword is returned by Verify for a wrong password. It says nothing
// else, so that neither the expected nor the offered password can leak.
var ErrBadPassword = errors.New("wss: username token password does not match")

// Verify checks the token against the expected password in constant time.
// Freshness of Created and replay of the Nonce are the caller's business: a
// verifier keeps the nonce cache (UsernameToken Profile 1.1 §3.1).
func (t *UsernameToken) Verify(password string) error {
	want := password
	if t.PasswordType == PasswordDigest {
		want = digest(t.Nonce, t.Created, password)
	}
	// Comparing hashes keeps the comparison constant-time in the length
	// too, which ConstantTimeCompare alone is not.
	got, exp := sha256.Sum256([]byte(t.Password)), sha256.Sum256([]byte(want))
	if subtle.ConstantTimeCompare(got[:], exp[:]) != 1 {
		return ErrBadPassword
	}
	return nil
}

// CreatedTime returns Created as a time, the zero time when absent.
func (t *UsernameToken) CreatedTime() (time.Time, error) {
	if t.Created == "" {
		return time.Time{}, nil
	}
	return ParseTime(t.Created)
}

// String describes the token without its password. Value receivers make
// both a token and a pointer to it print redacted.
func (t UsernameToken) String() string {
	return fmt.Sprintf("UsernameToken{ID:%q Username:%q PasswordType:%q Password:<redacted> Created:%q}", t.ID, t.Username, t.PasswordType, t.Created)
}

// GoString is String, so %#v hides the password too.
func (t UsernameToken) GoString() string { return t.String() }
