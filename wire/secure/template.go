package secure

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"time"

	"github.com/scproxy/scproxy/wire/c14n"
	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/keys"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// ContextHeader is the Security header of the SC-over-TLS profile for one
// context, precomputed: a Timestamp signed with the context key, the SCT
// and a signature referencing it (what AddContext writes when the Body is
// not signed). Between two messages only the Timestamp's times, the
// digest and the signature value change, so the header is built once by
// AddContext, cut at those four values, and each message costs two hashes
// and a copy.
//
// With ContextOptions.Derive the header also carries a DerivedKeyToken,
// whose nonce is drawn fresh for each message from ContextOptions.Rand;
// the signing key is derived from the context key and that nonce
// (P_SHA1, one more hash chain per message).
//
// Its bytes declare every prefix they use, so they can be placed as the
// last child of the Header of any envelope of the SOAP version they were
// built for.
type ContextHeader struct {
	// header is cut around created, expires, the nonce when derived,
	// the digest and the signature value.
	header    [][]byte
	timestamp [3][]byte // the canonical Timestamp around created, expires
	signed    [2][]byte // the canonical SignedInfo around the digest
	ttl       time.Duration
	digest    func() hash.Hash
	signer    dsig.SigningKey // nil when derived
	derive    *derivation
}

// derivation is what a header signed with a derived key needs per
// message: a nonce source, the context key and the derivation's length.
type derivation struct {
	rand   io.Reader
	key    []byte
	length int
	method string
}

// sentinel is the time the template is built at; its text must occur once
// in each piece it is cut from.
var sentinel = time.Date(2001, 2, 3, 4, 5, 6, 789e6, time.UTC)

// sentinelNonce is the derived key nonce the template is built with.
var sentinelNonce = bytes.Repeat([]byte{0xfb, 0xef, 0xbe}, (wssc.DKTNonceSize+2)/3)[:wssc.DKTNonceSize]

// NewContextHeader builds the header for messages of SOAP version v. It
// refuses options that sign more than the Timestamp.
func NewContextHeader(v soap.Version, c Context, o ContextOptions) (*ContextHeader, error) {
	if o.SignBody {
		return nil, errors.New("secure: a precomputed header signs the Timestamp only")
	}
	var dk *derivation
	if o.Derive {
		if o.Rand == nil {
			return nil, errors.New("secure: derived keys need a nonce source")
		}
		dk = &derivation{rand: o.Rand, key: c.Key, length: o.DerivedLength}
		if dk.length == 0 {
			dk.length = defaultDerivedLength
		}
		o.Rand = bytes.NewReader(sentinelNonce)
	}
	o.Now = func() time.Time { return sentinel }
	env := soap.NewEnvelope(v)
	tokens, err := AddContext(env, c, o)
	if err != nil {
		return nil, err
	}
	sec, err := wss.FindSecurity(env.Header)
	if err != nil {
		return nil, err
	}
	ts, err := xmldoc.One(sec, wss.NameTimestamp)
	if err != nil {
		return nil, err
	}
	sig, err := xmldoc.One(sec, xmldoc.Name{Space: dsig.NS, Local: "Signature"})
	if err != nil {
		return nil, err
	}
	si, err := xmldoc.One(sig, xmldoc.Name{Space: dsig.NS, Local: "SignedInfo"})
	if err != nil {
		return nil, err
	}
	canonTS, err := c14n.Exclusive(ts, nil)
	if err != nil {
		return nil, err
	}
	canonSI, err := c14n.Exclusive(si, nil)
	if err != nil {
		return nil, err
	}
	digestEl := si.FindElement(".//DigestValue")
	valueEl := sig.FindElement("./SignatureValue")
	if digestEl == nil || valueEl == nil {
		return nil, errors.New("secure: signature without DigestValue or SignatureValue")
	}
	ttl := o.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	created, expires := wss.FormatTime(sentinel), wss.FormatTime(sentinel.Add(ttl))
	h := &ContextHeader{ttl: ttl, derive: dk}
	// The Security element stands alone: everything it uses is declared on
	// it or inside it (the envelope it was built in declares only the SOAP
	// prefix, which the Security element redeclares).
	raw := xmldoc.SerializeWith(sec, tokens)
	vals := []string{created, expires, digestEl.Text(), valueEl.Text()}
	if dk != nil {
		vals = slices.Insert(vals, 2, base64.StdEncoding.EncodeToString(sentinelNonce))
	}
	h.header = make([][]byte, len(vals)+1)
	if err := cut(h.header, raw, vals...); err != nil {
		return nil, fmt.Errorf("secure: header template: %w", err)
	}
	if err := cut(h.timestamp[:], canonTS, created, expires); err != nil {
		return nil, fmt.Errorf("secure: timestamp template: %w", err)
	}
	if err := cut(h.signed[:], canonSI, digestEl.Text()); err != nil {
		return nil, fmt.Errorf("secure: signed info template: %w", err)
	}
	digest := o.Digest
	if digest == "" {
		digest = dsig.SHA1
	}
	if _, err := dsig.NewDigest(digest); err != nil {
		return nil, err
	}
	h.digest = func() hash.Hash { d, _ := dsig.NewDigest(digest); return d }
	method := o.SignatureMethod
	if method == "" {
		method = dsig.HMACSHA1
	}
	if h.signer, err = dsig.HMACKey(method, c.Key); err != nil {
		return nil, err
	}
	if dk != nil {
		dk.method, h.signer = method, nil
	}
	return h, nil
}

// cut splits b around each of vals in order, each occurring exactly once.
func cut(dst [][]byte, b []byte, vals ...string) error {
	rest := b
	for i, v := range vals {
		if bytes.Count(b, []byte(v)) != 1 {
			return fmt.Errorf("value %q occurs %d times", v, bytes.Count(b, []byte(v)))
		}
		j := bytes.Index(rest, []byte(v))
		if j < 0 {
			return fmt.Errorf("value %q out of order", v)
		}
		dst[i] = rest[:j]
		rest = rest[j+len(v):]
	}
	dst[len(vals)] = rest
	return nil
}

// AppendTo appends the header for a message sent at now to dst.
func (h *ContextHeader) AppendTo(dst []byte, now time.Time) ([]byte, error) {
	var tbuf [2][len(wss.TimeLayout)]byte
	created := now.UTC().AppendFormat(tbuf[0][:0], wss.TimeLayout)
	expires := now.Add(h.ttl).UTC().AppendFormat(tbuf[1][:0], wss.TimeLayout)

	d := h.digest()
	d.Write(h.timestamp[0])
	d.Write(created)
	d.Write(h.timestamp[1])
	d.Write(expires)
	d.Write(h.timestamp[2])
	var sum [64]byte
	var dbuf [88]byte
	digest := base64.StdEncoding.AppendEncode(dbuf[:0], d.Sum(sum[:0]))

	si := make([]byte, 0, len(h.signed[0])+len(digest)+len(h.signed[1]))
	si = append(append(append(si, h.signed[0]...), digest...), h.signed[1]...)
	signer, nonce, err := h.signingKey()
	if err != nil {
		return nil, err
	}
	value, err := signer.Sign(si)
	if err != nil {
		return nil, err
	}
	var vbuf [88]byte
	sv := base64.StdEncoding.AppendEncode(vbuf[:0], value)

	parts := [][]byte{created, expires, digest, sv}
	if nonce != nil {
		parts = slices.Insert(parts, 2, nonce)
	}
	for i, part := range parts {
		dst = append(append(dst, h.header[i]...), part...)
	}
	return append(dst, h.header[len(parts)]...), nil
}

// signingKey returns the key that signs one message: the context key, or
// a key derived from it with a fresh nonce, returned base64-encoded.
func (h *ContextHeader) signingKey() (dsig.SigningKey, []byte, error) {
	if h.derive == nil {
		return h.signer, nil, nil
	}
	var nonce [wssc.DKTNonceSize]byte
	if _, err := io.ReadFull(h.derive.rand, nonce[:]); err != nil {
		return nil, nil, fmt.Errorf("secure: derived key nonce: %w", err)
	}
	key, err := keys.Derive(h.derive.key, keys.Derivation{Nonce: nonce[:], Length: h.derive.length})
	if err != nil {
		return nil, nil, err
	}
	signer, err := dsig.HMACKey(h.derive.method, key)
	if err != nil {
		return nil, nil, err
	}
	return signer, base64.StdEncoding.AppendEncode(nil, nonce[:]), nil
}
