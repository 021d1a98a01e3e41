package msgsec

import (
	"errors"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// A message endorsed by a security context (the shape of WCF's and
// CXF's Renew under the bootstrap binding) carries the SCT as issued and
// a second Signature over the primary one, verifying with the context's
// key (or the key a DerivedKeyToken on it derives), which the client must
// see confirmed; the endorsement goes with a certificate's only alone.
func TestEndorsingContext(t *testing.T) {
	for _, derived := range []bool{false, true} {
		t.Run(map[bool]string{false: "context key", true: "derived key"}[derived], func(t *testing.T) {
			p := mustProfile(t, config(Client, Basic256, SignBeforeEncrypt, derived))
			sct := newSCT(t, wssc.Feb2005)
			sent, err := p.Protect(request(t, soap.V12, payload(200), testkit.Rand("endorse")), Outgoing{
				Token:            Token{Recipient: testkit.Server().Cert},
				EndorsingContext: &Context{Token: sct, Key: contextKey},
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(sent.SignatureValues) != 2 {
				t.Fatalf("%d signature values, want the primary and the endorsing one to be confirmed", len(sent.SignatureValues))
			}
			env := parse(t, sent.Bytes)
			sec, err := wss.FindSecurity(env.Header)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(sent.Bytes), string(sct.Fragment.Bytes)) {
				t.Fatal("the SCT is not included as issued")
			}
			sigs := xmldoc.Children(sec, xmldoc.Name{Space: dsig.NS, Local: "Signature"})
			if len(sigs) != 2 {
				t.Fatalf("%d Signatures in the Security header, want 2", len(sigs))
			}
			resolve := func(ki *etree.Element, method string) (dsig.VerifyingKey, error) {
				key := contextKey
				if derived {
					str, err := xmldoc.One(ki, wss.NameSecurityTokenReference)
					if err != nil {
						return nil, err
					}
					s, err := wss.ParseSTR(str)
					if err != nil {
						return nil, err
					}
					var dktEl *etree.Element
					xmldoc.Walk(env.Root, func(e *etree.Element) {
						if id, ok := wss.ID(e); ok && "#"+id == s.Reference.URI {
							dktEl = e
						}
					})
					if dktEl == nil {
						return nil, errors.New("no DerivedKeyToken " + s.Reference.URI)
					}
					dkt, err := wssc.ParseDKT(dktEl, wssc.Feb2005)
					if err != nil {
						return nil, err
					}
					if key, err = dkt.Key(contextKey); err != nil {
						return nil, err
					}
				}
				return dsig.HMACKey(method, key)
			}
			v, err := dsig.Verify(env.Root, sigs[1], resolve, dsig.DefaultPolicy)
			if err != nil {
				t.Fatalf("the endorsing signature does not verify with the context's key: %v", err)
			}
			if !v.Covers(sigs[0]) || len(v.References) != 1 {
				t.Fatal("the endorsing signature does not cover exactly the primary one")
			}
			if _, err := p.Protect(request(t, soap.V12, payload(10), testkit.Rand("endorse")), Outgoing{
				Token: Token{Recipient: testkit.Server().Cert}, EndorsingContext: &Context{Token: sct, Key: contextKey},
				Endorsing: &Certificate{Cert: testkit.Client().Cert, Key: testkit.Client().Key},
			}); err == nil {
				t.Fatal("two endorsing tokens were accepted")
			}
		})
	}
}
