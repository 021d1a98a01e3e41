package saml

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// envelope serializes payload in a SOAP 1.2 envelope and parses it back
// as a peer receives it.
func envelope(t *testing.T, payload *etree.Element) (*soap.Envelope, []byte) {
	t.Helper()
	env := soap.NewEnvelope(soap.V12)
	env.Body.AddChild(payload)
	raw := env.Bytes()
	got, err := soap.ParseWith(raw, xmldoc.Options{KeepSpans: true})
	if err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	return got, raw
}

func payloadOf(t *testing.T, env *soap.Envelope) *etree.Element {
	t.Helper()
	p, err := env.Payload()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRequestRoundTrip(t *testing.T) {
	for _, v := range wssc.Versions {
		for _, mode := range []wssc.EntropyMode{wssc.CombinedEntropy, wssc.ServerEntropy} {
			for _, applies := range []string{"", "https://svc.example/Orders.svc"} {
				t.Run(fmt.Sprintf("%s/%s/%q", v, mode, applies), func(t *testing.T) {
					rst, err := BuildRequest(RequestParams{Version: v, AppliesTo: applies, KeySize: 256, Mode: mode, Rand: rand.Reader})
					if err != nil {
						t.Fatal(err)
					}
					env, raw := envelope(t, rst.Element)
					if !bytes.Contains(raw, []byte(">"+TokenTypeSAML20+"<")) || !bytes.Contains(raw, []byte(">"+v.Trust()+"/SymmetricKey<")) {
						t.Fatalf("token or key type missing:\n%s", raw)
					}
					req, err := ParseRequest(payloadOf(t, env), v)
					if err != nil {
						t.Fatal(err)
					}
					if req.AppliesTo != applies || req.KeySize != 256 || !bytes.Equal(req.ClientEntropy, rst.ClientEntropy) {
						t.Errorf("read %+v %+v", req, req.Request)
					}
					if (mode == wssc.CombinedEntropy) != (req.ComputedKeyAlgorithm == v.ComputedKeyPSHA1()) {
						t.Errorf("ComputedKeyAlgorithm %q in %s mode", req.ComputedKeyAlgorithm, mode)
					}
					// The TokenType set aside for wire/wssc is back where it was.
					if tt := payloadOf(t, env).ChildElements()[0]; xmldoc.Text(tt) != TokenTypeSAML20 {
						t.Errorf("first child after parsing is %s", xmldoc.Serialize(tt))
					}
				})
			}
		}
	}
}

func TestParseRequestRefuses(t *testing.T) {
	v := wssc.V1_3
	rst := func(inner string) string {
		return `<t:RequestSecurityToken xmlns:t="` + v.Trust() + `"><t:RequestType>` + v.RequestType(wssc.Issue) + `</t:RequestType>` + inner + `</t:RequestSecurityToken>`
	}
	tt := `<t:TokenType>` + TokenTypeSAML20 + `</t:TokenType>`
	cases := []struct{ name, xml, reason string }{
		{"no token type", rst(``), "names no token type"},
		{"SCT token type", rst(`<t:TokenType>` + v.TokenType() + `</t:TokenType>`), "is not issued here"},
		{"SAML 1.1", rst(`<t:TokenType>` + TokenTypeSAML11 + `</t:TokenType>`), "is not issued here"},
		{"bearer", rst(tt + `<t:KeyType>` + v.Trust() + `/Bearer</t:KeyType>`), "key type"},
		{"two token types", rst(tt + tt), "TokenType"},
		{"renew", strings.Replace(rst(tt), "/Issue<", "/Renew<", 1), "Renew"},
		{"two endpoint references", rst(tt + `<p:AppliesTo xmlns:p="` + NSPolicy + `"><a:EndpointReference xmlns:a="http://www.w3.org/2005/08/addressing"><a:Address>x</a:Address></a:EndpointReference><a:EndpointReference xmlns:a="http://www.w3.org/2005/08/addressing"><a:Address>y</a:Address></a:EndpointReference></p:AppliesTo>`), "one EndpointReference"},
		{"February 2005 request read as 1.3", strings.ReplaceAll(rst(tt), v.Trust(), wssc.Feb2005.Trust()), "TokenType"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := xmldoc.Parse([]byte(tc.xml), xmldoc.Options{})
			if err != nil {
				t.Fatal(err)
			}
			req, err := ParseRequest(d.Root(), v)
			if err == nil {
				t.Fatalf("accepted %+v", req)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q does not say %q", err, tc.reason)
			}
		})
	}
}

// grant builds the reply to a request for a token, with the proof the
// issuer chose for it.
func grant(t *testing.T, v wssc.Version, mode wssc.EntropyMode) (*wssc.RST, *wssc.Proof, []byte, []byte) {
	t.Helper()
	issuer, rp, _, _ := loadParties(t)
	rst, err := BuildRequest(RequestParams{Version: v, Mode: mode, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	proof, err := wssc.NewProof(&wssc.Request{ClientEntropy: rst.ClientEntropy}, mode, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := template(rp)
	tmpl.ProofKey = proof.Key
	a, err := Build(tmpl, IssuerKey{Key: issuer.key, Cert: issuer.cert}, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	want := xmldoc.Serialize(a)
	out, err := BuildResponse(Grant{Version: v, Assertion: a, Kind: SAML20, ID: tmpl.ID, Proof: proof, Lifetime: wssc.Lifetime{Created: testStart, Expires: testStart.Add(time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	_, raw := envelope(t, out)
	return rst, proof, raw, want
}

func TestResponseRoundTrip(t *testing.T) {
	for _, v := range wssc.Versions {
		for _, mode := range []wssc.EntropyMode{wssc.CombinedEntropy, wssc.ServerEntropy, wssc.ClientEntropy} {
			t.Run(v.String()+"/"+mode.String(), func(t *testing.T) {
				rst, proof, raw, assertion := grant(t, v, mode)
				env, err := soap.ParseWith(raw, xmldoc.Options{KeepSpans: true})
				if err != nil {
					t.Fatal(err)
				}
				resp, err := ParseResponse(env.Doc, payloadOf(t, env), v)
				if err != nil {
					t.Fatalf("%v\n%s", err, raw)
				}
				if !bytes.Equal(resp.Token.Bytes, assertion) || !bytes.Contains(raw, resp.Token.Bytes) {
					t.Errorf("token bytes changed:\n%s\n%s", resp.Token.Bytes, assertion)
				}
				key, err := resp.Key(rst.ClientEntropy)
				if err != nil || !bytes.Equal(key, proof.Key) {
					t.Errorf("proof key not recovered: %v", err)
				}
				if resp.Assertion.ID != template(loadRP(t)).ID || !resp.Lifetime.Expires.Equal(testStart.Add(time.Hour)) || resp.TokenType != TokenTypeSAML20 {
					t.Errorf("read %+v, lifetime %v", resp.Assertion, resp.Lifetime)
				}
				for _, r := range []*wss.STR{resp.Attached, resp.Unattached} {
					if r == nil || r.KeyIdentifier == nil || string(r.KeyIdentifier.Value) != resp.Assertion.ID || r.TokenType != TokenTypeSAML20 {
						t.Errorf("reference %+v", r)
					}
				}
			})
		}
	}
}

func loadRP(t *testing.T) party {
	_, rp, _, _ := loadParties(t)
	return rp
}

func TestParseResponseRefuses(t *testing.T) {
	v := wssc.V1_3
	_, _, raw, _ := grant(t, v, wssc.CombinedEntropy)
	rstr := string(raw)
	cases := []struct{ name, xml, reason string }{
		{"two tokens", strings.Replace(rstr, "</trust:RequestedSecurityToken>", "<x/></trust:RequestedSecurityToken>", 1), "holds 2 elements"},
		{"no token", strings.Replace(strings.Replace(rstr, "<trust:RequestedSecurityToken>", "<trust:Ignored>", 1), "</trust:RequestedSecurityToken>", "</trust:Ignored>", 1), "carries no token"},
		{"two responses", strings.Replace(rstr, "</trust:RequestSecurityTokenResponseCollection>", "<trust:RequestSecurityTokenResponse/></trust:RequestSecurityTokenResponseCollection>", 1), "RequestSecurityTokenResponse"},
		{"SAML 1.1 token type", strings.Replace(rstr, ">"+TokenTypeSAML20+"<", ">"+TokenTypeSAML11+"<", 1), "does not match"},
		{"server entropy without computed key", strings.Replace(rstr, "<trust:ComputedKey>"+v.ComputedKeyPSHA1()+"</trust:ComputedKey>", "<trust:BinarySecret>AAAAAAAAAAAAAAAAAAAAAA==</trust:BinarySecret>", 1), "both a key and server entropy"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env, err := soap.ParseWith([]byte(tc.xml), xmldoc.Options{KeepSpans: true})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := ParseResponse(env.Doc, payloadOf(t, env), v)
			if err == nil {
				t.Fatalf("accepted %+v", resp)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q does not say %q", err, tc.reason)
			}
		})
	}
}

func TestReferenced(t *testing.T) {
	issuer, rp, _, _ := loadParties(t)
	a := string(build(t, template(rp), issuer))
	id := template(rp).ID
	wrap := func(inner string) *etree.Element { return parse(t, []byte("<w>"+inner+"</w>")) }
	saml11 := `<s:Assertion xmlns:s="` + NS11 + `" MajorVersion="1" MinorVersion="1" AssertionID="` + id + `" Issuer="x" IssueInstant="2025-06-01T12:00:00Z"/>`
	cases := []struct {
		name      string
		root      *etree.Element
		valueType string
		want      Kind
		reason    string
	}{
		{"one", wrap(a), wss.ValueTypeSAMLID, SAML20, ""},
		{"two with the same ID", wrap(a + a), wss.ValueTypeSAMLID, 0, "names 2 assertions"},
		{"none", wrap(`<x ID="` + id + `"/>`), wss.ValueTypeSAMLID, 0, "names 0 assertions"},
		{"SAML 1.1 by AssertionID", wrap(saml11 + a), wss.ValueTypeSAMLAssertionID, SAML11, ""},
		{"SAML 1.1 ValueType for a 2.0 assertion", wrap(a), wss.ValueTypeSAMLAssertionID, 0, "names 0 assertions"},
		{"other ValueType", wrap(a), wss.ValueTypeThumbprintSHA1, 0, "does not name an assertion"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			str := &wss.STR{KeyIdentifier: &wss.KeyIdentifier{ValueType: tc.valueType, Value: []byte(id)}}
			el, kind, err := Referenced(tc.root, str)
			if tc.reason != "" {
				if err == nil || !strings.Contains(err.Error(), tc.reason) {
					t.Fatalf("error %v, want %q", err, tc.reason)
				}
				return
			}
			if err != nil || kind != tc.want {
				t.Fatalf("kind %v, error %v", kind, err)
			}
			if got, _ := xmldoc.Attr(el, kind.IDAttr()); got != id {
				t.Fatalf("found %s", xmldoc.Serialize(el))
			}
		})
	}
}

func TestParseSAML11(t *testing.T) {
	src := `<saml:Assertion xmlns:saml="` + NS11 + `" MajorVersion="1" MinorVersion="1" AssertionID="_9b1f" Issuer="https://sts.example/" IssueInstant="2025-06-01T12:00:00.123Z">` +
		`<saml:Conditions NotBefore="2025-06-01T12:00:00Z" NotOnOrAfter="2025-06-01T20:00:00Z"><saml:AudienceRestrictionCondition><saml:Audience>https://svc/</saml:Audience></saml:AudienceRestrictionCondition></saml:Conditions>` +
		`<saml:AuthenticationStatement AuthenticationMethod="urn:oasis:names:tc:SAML:1.0:am:password" AuthenticationInstant="2025-06-01T12:00:00Z"/></saml:Assertion>`
	a, err := Parse(parse(t, []byte(src)))
	if err != nil {
		t.Fatal(err)
	}
	if a.Kind != SAML11 || a.ID != "_9b1f" || a.Issuer != "https://sts.example/" || !a.NotOnOrAfter.Equal(time.Date(2025, 6, 1, 20, 0, 0, 0, time.UTC)) || !a.For("https://svc/") || a.For("https://other/") {
		t.Fatalf("read %+v", a)
	}
	if a.Kind.ValueType() != wss.ValueTypeSAMLAssertionID || a.Kind.TokenType() != TokenTypeSAML11 {
		t.Fatal("SAML 1.1 reference types")
	}
}

func TestParseRefuses(t *testing.T) {
	head := `<a:Assertion xmlns:a="` + NS + `" ID="_1" IssueInstant="2025-06-01T12:00:00Z" Version="2.0">`
	cases := []struct{ name, xml, reason string }{
		{"version 1.0", strings.Replace(head, `"2.0"`, `"1.0"`, 1) + `<a:Issuer>x</a:Issuer></a:Assertion>`, "Version"},
		{"no ID", strings.Replace(head, `ID="_1"`, ``, 1) + `<a:Issuer>x</a:Issuer></a:Assertion>`, "without ID"},
		{"zone-less instant", strings.Replace(head, `12:00:00Z`, `12:00:00`, 1) + `<a:Issuer>x</a:Issuer></a:Assertion>`, "time zone"},
		{"two issuers", head + `<a:Issuer>x</a:Issuer><a:Issuer>y</a:Issuer></a:Assertion>`, "Issuer"},
		{"issuer not first", head + `<a:Subject/><a:Issuer>x</a:Issuer></a:Assertion>`, "first element"},
		{"two subjects", head + `<a:Issuer>x</a:Issuer><a:Subject/><a:Subject/></a:Assertion>`, "Subject"},
		{"two conditions", head + `<a:Issuer>x</a:Issuer><a:Conditions/><a:Conditions/></a:Assertion>`, "Conditions"},
		{"inverted conditions", head + `<a:Issuer>x</a:Issuer><a:Conditions NotBefore="2025-06-01T13:00:00Z" NotOnOrAfter="2025-06-01T12:00:00Z"/></a:Assertion>`, "not after NotBefore"},
		{"empty audience restriction", head + `<a:Issuer>x</a:Issuer><a:Conditions><a:AudienceRestriction/></a:Conditions></a:Assertion>`, "without Audience"},
		{"other namespace", `<a:Assertion xmlns:a="urn:example"/>`, "not a SAML assertion"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, err := Parse(parse(t, []byte(tc.xml)))
			if err == nil {
				t.Fatalf("accepted %+v", a)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q does not say %q", err, tc.reason)
			}
		})
	}
}
