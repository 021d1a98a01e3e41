package secure

import (
	"bytes"
	"errors"
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// TestWithKerberos: the token carries the GSS bytes, the KeyInfo names it
// with the GSS AP-REQ ValueType, and the signature is an HMAC-SHA1 with
// the session key itself (no derived key) over the Timestamp and wsa:To.
// (bootstrap's tests have xmlsec1 check it around a real ticket.)
func TestWithKerberos(t *testing.T) {
	gss := wss.WrapGSSKerberosAPREQ(append([]byte{0x6e, 0x20}, bytes.Repeat([]byte{0xcd}, 0x20)...))
	key := bytes.Repeat([]byte{0x5c}, 32)
	for _, sv := range soap.Versions {
		t.Run(sv.String(), func(t *testing.T) {
			out, err := WithKerberos(appEnvelope(t, sv), Kerberos{GSSToken: gss, Key: key}, Options{Now: fixedNow})
			if err != nil {
				t.Fatal(err)
			}
			env := reparse(t, out)
			sec := securityOf(t, env)
			bst, err := xmldoc.One(sec, wss.NameBinarySecurityToken)
			if err != nil {
				t.Fatal(err)
			}
			apreq, err := wss.ParseKerberosToken(bst)
			if err != nil || !bytes.Equal(wss.WrapGSSKerberosAPREQ(apreq), gss) {
				t.Fatalf("token does not carry the GSS bytes: %v", err)
			}
			bstID, _ := wss.ID(bst)
			var ref *wss.Reference
			resolve := func(ki *etree.Element, m string) (dsig.VerifyingKey, error) {
				str, err := wss.ParseSTR(ki.ChildElements()[0])
				if err != nil {
					return nil, err
				}
				ref = str.Reference
				return dsig.HMACKey(m, key)
			}
			v, err := dsig.Verify(env.Root, signatureIn(t, sec), resolve, dsig.DefaultPolicy)
			if err != nil {
				t.Fatal(err)
			}
			if v.Method != dsig.HMACSHA1 || ref == nil || *ref != (wss.Reference{URI: "#" + bstID, ValueType: wss.ValueTypeGSSKerberosAPREQ}) {
				t.Fatalf("method %s, key reference %+v", v.Method, ref)
			}
			to, _ := xmldoc.One(env.Header, wsa.V10.Name("To"))
			ts, _ := xmldoc.One(sec, wss.NameTimestamp)
			if !v.Covers(to) || !v.Covers(ts) || len(v.References) != 2 {
				t.Fatal("the signature does not cover exactly the Timestamp and To")
			}
			// The token itself is not signed: it protects itself, and
			// WCF does not sign an endorsing token over TLS either.
			if v.Covers(bst) {
				t.Fatal("the token is signed")
			}
		})
	}
	t.Run("refusals", func(t *testing.T) {
		if _, err := WithKerberos(appEnvelope(t, soap.V12), Kerberos{GSSToken: gss}, Options{Now: fixedNow}); err == nil {
			t.Fatal("no key accepted")
		}
		if _, err := WithKerberos(appEnvelope(t, soap.V12), Kerberos{Key: key}, Options{Now: fixedNow}); err == nil {
			t.Fatal("no token accepted")
		}
		env := appEnvelope(t, soap.V12)
		if _, err := WithKerberos(env, Kerberos{GSSToken: gss, Key: key}, Options{Now: fixedNow}); err != nil {
			t.Fatal(err)
		}
		if _, err := WithKerberos(env, Kerberos{GSSToken: gss, Key: key}, Options{Now: fixedNow}); !errors.Is(err, ErrAlreadySecured) {
			t.Fatalf("second header: %v", err)
		}
	})
}
