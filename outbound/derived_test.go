package outbound_test

import (
	"bytes"
	"testing"

	"github.com/scproxy/scproxy/internal/oracle"
	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/secure"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// With DerivedKeys, every message is signed with a key derived from the
// context key with a fresh nonce: the built-in server accepts them; each
// carries a DerivedKeyToken referencing the SCT and a signature whose
// KeyInfo references the token; xmlsec1, given the derived key, verifies
// it and refuses the context key; wire/dsig verifies it with the context
// key alone, deriving.
func TestDerivedKeys(t *testing.T) {
	oracle.Require(t, "xmlsec1")
	for name, sc := range map[string]wssc.Version{"sc-2005-02": wssc.Feb2005, "sc-1.3": wssc.V1_3} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, scserver.Config{Versions: []wssc.Version{sc}})
			target := up.url(t, "/Echo.svc")
			px := startProxy(t, outbound.Config{Routes: routes(target), RootCAs: up.pool(), SC: sc, DerivedKeys: true})
			app := newApp(t)
			const calls = 3
			for range calls {
				r := app.post(px.base+"/", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("dk")))
				wantEcho(t, r, soap.V11, "dk", false)
			}
			cur := px.p.Endpoints()[0].Current()
			if got := up.srv.Stats().Contexts[cur.Identifier()].Verified; got != calls {
				t.Errorf("scserver verified %d messages, want %d", got, calls)
			}
			nonces := map[string]bool{}
			for _, m := range up.appMessages(t) {
				env, err := soap.Parse(m.body, xmldoc.DefaultLimits)
				if err != nil {
					t.Fatal(err)
				}
				sec := one(t, env.Header, wss.NameSecurity)
				sct := one(t, sec, xmldoc.Name{Space: sc.SC(), Local: "SecurityContextToken"})
				dktEl := one(t, sec, xmldoc.Name{Space: sc.SC(), Local: "DerivedKeyToken"})
				sig := one(t, sec, xmldoc.Name{Space: nsDSig, Local: "Signature"})
				sctID, _ := xmldoc.Attr(sct, wsuID)
				dktID, _ := xmldoc.Attr(dktEl, wsuID)
				dkt, err := wssc.ParseDKT(dktEl, sc)
				if err != nil {
					t.Fatal(err)
				}
				if r := dkt.Base.Reference; r == nil || r.URI != "#"+sctID {
					t.Errorf("the DerivedKeyToken references %+v, want the SCT #%s", dkt.Base, sctID)
				}
				if d := dkt.Derivation; len(d.Nonce) != 16 || d.Length != 24 || nonces[string(d.Nonce)] {
					t.Errorf("derivation nonce %x (%d bytes), length %d: want a fresh 16-byte nonce and 24", d.Nonce, len(d.Nonce), d.Length)
				}
				nonces[string(dkt.Derivation.Nonce)] = true
				ref := one(t, one(t, one(t, sig, xmldoc.Name{Space: nsDSig, Local: "KeyInfo"}), wss.NameSecurityTokenReference),
					xmldoc.Name{Space: wss.NSWSSE, Local: "Reference"})
				if uri, vt := ref.SelectAttrValue("URI", ""), ref.SelectAttrValue("ValueType", ""); uri != "#"+dktID || vt != sc.SC()+"/dk" {
					t.Errorf("KeyInfo references %q (%q), want #%s (%s/dk)", uri, vt, dktID, sc.SC())
				}
				keysFor := func(string) ([]byte, error) { return cur.Secure().Key, nil }
				v, err := dsig.Verify(env.Root, sig, secure.ContextResolver(sec, sc, keysFor), dsig.DefaultPolicy)
				if err != nil || !v.Covers(one(t, sec, wss.NameTimestamp)) {
					t.Errorf("wire/dsig: %v (covers the Timestamp: %v)", err, err == nil && v.Covers(one(t, sec, wss.NameTimestamp)))
				}
				key, err := dkt.Key(cur.Secure().Key)
				if err != nil {
					t.Fatal(err)
				}
				if out, ok := oracle.XMLSecVerify(t, m.body, oracle.Key{HMAC: key}, timestampIDNode); !ok {
					t.Errorf("xmlsec1 rejected the message with the derived key:\n%s\n%s", out, m.body)
				}
				if bytes.Equal(key, cur.Secure().Key) {
					t.Fatal("derived key equals the context key")
				}
				if out, ok := oracle.XMLSecVerify(t, m.body, oracle.Key{HMAC: cur.Secure().Key}, timestampIDNode); ok {
					t.Errorf("xmlsec1 accepted the message with the context key itself:\n%s", out)
				}
			}
		})
	}
}
