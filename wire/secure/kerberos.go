package secure

import (
	"errors"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wss"
)

// Kerberos is a Kerberos credential for one message: the AP-REQ for the
// service, already in its GSS-API framing, and the session key it carries
// (the authenticator's subkey when it has one).
type Kerberos struct {
	GSSToken []byte
	Key      []byte
}

// WithKerberos secures env with a Kerberos ticket (Kerberos Token Profile
// 1.1): Timestamp, the AP-REQ as a BinarySecurityToken and an HMAC-SHA1
// signature made with the session key itself over the Timestamp and, when
// present, the WS-Addressing To header. The KeyInfo references the token
// by wsu:Id with the GSS AP-REQ ValueType. This is WCF's
// KerberosOverTransport (an endorsing Kerberos token without derived keys)
// and what WSS4J signs with a KerberosSecurity token. It returns the
// serialized envelope.
func WithKerberos(env *soap.Envelope, cred Kerberos, o Options) ([]byte, error) {
	if len(cred.GSSToken) == 0 || len(cred.Key) == 0 {
		return nil, errors.New("secure: kerberos credential incomplete")
	}
	b, err := begin(env, o)
	if err != nil {
		return nil, err
	}
	bstID := b.newID("uuid-krb-1")
	b.sec.AddChild(wss.KerberosToken(bstID, cred.GSSToken))
	signer, err := dsig.HMACKey(dsig.HMACSHA1, cred.Key)
	if err != nil {
		return nil, err
	}
	ref := wss.ReferenceSTR(wss.Reference{URI: "#" + bstID, ValueType: wss.ValueTypeGSSKerberosAPREQ})
	if err := b.signWith(signer, ref, o); err != nil {
		return nil, err
	}
	return b.finish(o)
}

// signWith signs the Timestamp and the WS-Addressing To header (given a
// wsu:Id when it has none), as a bootstrap's proof of possession does.
func (b *header) signWith(key dsig.SigningKey, keyInfo *etree.Element, o Options) error {
	var extra []*etree.Element
	if to := addressingTo(b.env.Header); to != nil {
		if _, ok := wss.ID(to); !ok {
			wss.SetID(to, b.newID("_1"))
		}
		extra = append(extra, to)
	}
	s := dsig.Signer{Key: key, Digest: o.Digest, KeyInfo: keyInfo}
	_, err := s.Sign(b.sec, b.refs(o, extra...)...)
	return err
}
