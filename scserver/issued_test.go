package scserver

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/wire/keys"
	"github.com/scproxy/scproxy/wire/saml"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// tokenRSTXML writes, by hand, a request for a SAML 2.0 token with client
// entropy (nil for none) for audience (empty for none).
func tokenRSTXML(v wssc.Version, tokenType string, entropy []byte, audience string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<t:RequestSecurityToken%s><t:TokenType>%s</t:TokenType><t:RequestType>%s</t:RequestType>`, nsDecl("t", v.Trust()), tokenType, v.RequestType(wssc.Issue))
	if audience != "" {
		wv := wsa.V10
		if v == wssc.Feb2005 {
			wv = wsa.V200408
		}
		fmt.Fprintf(&b, `<p:AppliesTo%s><e:EndpointReference%s><e:Address>%s</e:Address></e:EndpointReference></p:AppliesTo>`, nsDecl("p", saml.NSPolicy), nsDecl("e", wv.Namespace()), audience)
	}
	fmt.Fprintf(&b, `<t:KeyType>%s/SymmetricKey</t:KeyType><t:KeySize>256</t:KeySize>`, v.Trust())
	if entropy != nil {
		fmt.Fprintf(&b, `<t:Entropy><t:BinarySecret Type="%s">%s</t:BinarySecret></t:Entropy>`, v.NonceType(), base64.StdEncoding.EncodeToString(entropy))
	}
	b.WriteString(`</t:RequestSecurityToken>`)
	return b.String()
}

// token is an assertion the token service issued, as a client holds it.
type token struct {
	xml   string // exactly as in the reply
	id    string
	proof []byte
}

// fetchToken asks the token service for a token for the harness's
// service, with a UsernameToken, and reads the reply by hand.
func (h *harness) fetchToken(v wssc.Version, user, password string) (*response, token) {
	h.t.Helper()
	entropy := bytes.Repeat([]byte{0x3c}, 32)
	m := msg{soap: soap.V12, wsa: wsa.V10, action: saml.IssueAction(v), messageID: "urn:uuid:00000000-0000-4000-8000-0000000000bb",
		security: timestamp(h.clock.Now(), 5*time.Minute) + usernameToken(user, password, false, h.clock.Now()),
		body:     tokenRSTXML(v, saml.TokenTypeSAML20, entropy, h.srv.URL()+"service")}
	r := h.post(soap.V12, saml.IssueAction(v), []byte(m.xml()))
	if r.fault != nil {
		return r, token{}
	}
	t := h.t
	tn := func(local string) xmldoc.Name { return xmldoc.Name{Space: v.Trust(), Local: local} }
	rstr := r.payload(t)
	if v == wssc.V1_3 {
		rstr = one(t, rstr, tn("RequestSecurityTokenResponse"))
	}
	a := one(t, one(t, rstr, tn("RequestedSecurityToken")), saml.Name("Assertion"))
	raw, _ := r.env.Doc.Raw(a)
	tok := token{xml: string(raw), id: a.SelectAttrValue("ID", "")}
	one(t, one(t, rstr, tn("RequestedProofToken")), tn("ComputedKey"))
	server, err := wss.DecodeBase64(one(t, one(t, rstr, tn("Entropy")), tn("BinarySecret")).Text())
	if err != nil {
		t.Fatal(err)
	}
	tok.proof = keys.PSHA1(entropy, server, 0, 32)
	return r, tok
}

// samlSTR names an assertion by KeyIdentifier, as WCF does.
func samlSTR(id string) string {
	return fmt.Sprintf(`<o:SecurityTokenReference%s%s k:TokenType="%s"><o:KeyIdentifier ValueType="%s">%s</o:KeyIdentifier></o:SecurityTokenReference>`,
		nsDecl("o", wss.NSWSSE), nsDecl("k", wss.NSWSSE11), saml.TokenTypeSAML20, wss.ValueTypeSAMLID, id)
}

// samlIssue is an Issue request for a context bootstrapped with a token:
// the security header's content after the Timestamp, the body, the key
// that signs and the assertion ID the KeyInfo names; ids are the wsu:Ids
// signed (nil: the Timestamp).
type samlIssue struct {
	version  wssc.Version // zero: 1.3
	security string
	body     string
	key      []byte
	keyID    string
	ids      []string
}

func (h *harness) samlIssueMessage(s samlIssue) []byte {
	h.t.Helper()
	v := s.version
	if v == (wssc.Version{}) {
		v = wssc.V1_3
	}
	body := s.body
	if body == "" {
		body = rstXML(v, wssc.Issue, bytes.Repeat([]byte{0x5a}, 32), 256, "")
	}
	m := msg{soap: soap.V12, wsa: wsa.V10, action: v.Action(wssc.Issue), messageID: "urn:uuid:00000000-0000-4000-8000-0000000000cc",
		security: timestamp(h.clock.Now(), 5*time.Minute) + s.security, body: body}
	return sign(h.t, m.xml(), signSpec{key: hmacKey(h.t, s.key), keyInfo: samlSTR(s.keyID), ids: s.ids})
}

func TestTokenService(t *testing.T) {
	for _, v := range wssc.Versions {
		t.Run(v.String(), func(t *testing.T) {
			h := start(t, Config{IssueTokens: true, Lifetime: time.Hour})
			r, tok := h.fetchToken(v, testUser, testPassword)
			r.ok(t)
			if hd, _ := r.addressing(t); hd.Action != saml.IssueReplyAction(v) {
				t.Errorf("reply action %q", hd.Action)
			}
			d, err := xmldoc.Parse([]byte(tok.xml), xmldoc.Options{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := saml.Verify(d.Root(), saml.VerifyOptions{
				Issuers: []*x509.Certificate{h.srv.IssuerCertificate()}, Now: h.clock.Now(), Audience: h.srv.audience,
				Recipient: h.srv.IssuerCertificate(), Key: h.srv.tokens.key,
			})
			if err != nil {
				t.Fatal(err)
			}
			if got.Subject != testUser || got.Issuer != DefaultTokenIssuer || !bytes.Equal(got.ProofKey, tok.proof) ||
				!got.NotOnOrAfter.Equal(testStart.Add(time.Hour)) || !got.For(h.srv.URL()+"service") {
				t.Errorf("assertion %v, until %v, audiences %v", got, got.NotOnOrAfter, got.Audiences)
			}
			// The token bootstraps a context, whose messages the echo
			// service then accepts.
			issue := h.post(soap.V12, v.Action(wssc.Issue), h.samlIssueMessage(samlIssue{version: v, security: tok.xml, key: tok.proof, keyID: tok.id})).ok(t)
			c := grantOf(t, issue, v, bytes.Repeat([]byte{0x5a}, 32))
			h.echo(c, refID).ok(t)
			if st := h.srv.Stats(); st.TokensIssued != 1 || st.Issued != 1 || st.Verified != 1 || st.Rejected != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestTokenServiceRefuses(t *testing.T) {
	v := wssc.V1_3
	ut := func(password string) string {
		return timestamp(testStart, 5*time.Minute) + usernameToken(testUser, password, false, testStart)
	}
	entropy := bytes.Repeat([]byte{0x3c}, 32)
	cases := []struct {
		name     string
		cfg      Config
		security string
		body     string
		code     xmldoc.Name
		reason   string
	}{
		{"wrong password", Config{IssueTokens: true}, ut("wrong"), "", codeFailedAuthentication, "authentication failed"},
		{"no UsernameToken", Config{IssueTokens: true}, timestamp(testStart, 5*time.Minute), "", codeInvalidSecurity, "exactly one UsernameToken"},
		{"SCT token type", Config{IssueTokens: true}, ut(testPassword), tokenRSTXML(v, v.TokenType(), entropy, ""), trustCode(v, "InvalidRequest"), "is not issued here"},
		{"bearer token", Config{IssueTokens: true}, ut(testPassword), strings.Replace(tokenRSTXML(v, saml.TokenTypeSAML20, entropy, ""), "/SymmetricKey", "/Bearer", 1), trustCode(v, "InvalidRequest"), "key type"},
		{"combined entropy required", Config{IssueTokens: true, Entropy: EntropyCombined}, ut(testPassword), tokenRSTXML(v, saml.TokenTypeSAML20, nil, ""), trustCode(v, "InvalidRequest"), "carries none"},
		{"token service off", Config{}, ut(testPassword), "", wsa.V10.Name("ActionNotSupported"), "is not supported"},
		{"version off", Config{IssueTokens: true, Versions: []wssc.Version{wssc.Feb2005}}, ut(testPassword), "", wsa.V10.Name("ActionNotSupported"), "not enabled"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, tc.cfg)
			body := tc.body
			if body == "" {
				body = tokenRSTXML(v, saml.TokenTypeSAML20, entropy, "")
			}
			m := msg{soap: soap.V12, wsa: wsa.V10, action: saml.IssueAction(v), messageID: "urn:uuid:00000000-0000-4000-8000-0000000000bb", security: tc.security, body: body}
			h.post(soap.V12, saml.IssueAction(v), []byte(m.xml())).wantFault(t, tc.code, tc.reason)
			if n := h.srv.Stats().TokensIssued; n != 0 {
				t.Errorf("%d tokens issued", n)
			}
		})
	}
}

// externalToken is an assertion made by the test as an outside STS would,
// signed by key with cert, its proof key encrypted to the server.
func externalToken(t *testing.T, h *harness, key *rsa.PrivateKey, cert *x509.Certificate, mod func(*saml.Template)) token {
	t.Helper()
	tmpl := saml.Template{
		ID: "_ext-1", Issuer: "https://sts.example/", Subject: "carol", IssueInstant: testStart, NotBefore: testStart, NotOnOrAfter: testStart.Add(time.Hour),
		Audience: h.srv.URL() + "service", ProofKey: bytes.Repeat([]byte{0x42}, 32), Recipient: h.srv.IssuerCertificate(),
	}
	if mod != nil {
		mod(&tmpl)
	}
	a, err := saml.Build(tmpl, saml.IssuerKey{Key: key, Cert: cert}, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return token{xml: string(xmldoc.Serialize(a)), id: tmpl.ID, proof: tmpl.ProofKey}
}

// wrap puts the genuine assertion into the Advice of a forged one that
// names mallory, under the same ID, optionally with a copy of the genuine
// Signature after its Issuer.
func wrap(t *testing.T, tok token, withSig bool) string {
	t.Helper()
	issuerEnd := strings.Index(tok.xml, "</saml2:Issuer>") + len("</saml2:Issuer>")
	head := tok.xml[:issuerEnd]
	if withSig {
		sigStart := strings.Index(tok.xml, "<Signature ")
		sigEnd := strings.Index(tok.xml, "</Signature>") + len("</Signature>")
		head += tok.xml[sigStart:sigEnd]
	}
	return head + `<saml2:Advice>` + tok.xml + `</saml2:Advice><saml2:Subject><saml2:NameID>mallory</saml2:NameID></saml2:Subject></saml2:Assertion>`
}

// TestIssuedTokenBootstrapRefused sends Issue requests bootstrapped with
// assertions that a relying party must refuse, each beside a control that
// it accepts.
func TestIssuedTokenBootstrapRefused(t *testing.T) {
	p := loadPKI(t)
	h := start(t, Config{TrustedIssuers: []*x509.Certificate{p.good}})
	good := externalToken(t, h, p.goodKey, p.good, nil)
	h.post(soap.V12, wssc.V1_3.Action(wssc.Issue), h.samlIssueMessage(samlIssue{security: good.xml, key: good.proof, keyID: good.id})).ok(t)
	expired := externalToken(t, h, p.goodKey, p.good, func(tm *saml.Template) {
		tm.IssueInstant, tm.NotBefore, tm.NotOnOrAfter = testStart.Add(-2*time.Hour), testStart.Add(-2*time.Hour), testStart.Add(-10*time.Minute)
	})
	otherAudience := externalToken(t, h, p.goodKey, p.good, func(tm *saml.Template) { tm.Audience = "https://elsewhere.example/svc" })
	untrusted := externalToken(t, h, p.foreignKey, p.foreign, nil)
	forOther := externalToken(t, h, p.goodKey, p.good, func(tm *saml.Template) { tm.Recipient = p.foreign })
	moved := strings.Replace(strings.Replace(good.xml, good.xml[strings.Index(good.xml, "<Signature "):strings.Index(good.xml, "</Signature>")+len("</Signature>")], "", 1),
		"</saml2:Subject>", good.xml[strings.Index(good.xml, "<Signature "):strings.Index(good.xml, "</Signature>")+len("</Signature>")]+"</saml2:Subject>", 1)
	cases := []struct {
		name   string
		msg    samlIssue
		code   xmldoc.Name
		reason string
	}{
		{"untrusted issuer", samlIssue{security: untrusted.xml, key: untrusted.proof, keyID: untrusted.id}, codeFailedAuthentication, "not signed by a trusted issuer"},
		{"expired assertion", samlIssue{security: expired.xml, key: expired.proof, keyID: expired.id}, codeFailedAuthentication, "expired"},
		{"audience mismatch", samlIssue{security: otherAudience.xml, key: otherAudience.proof, keyID: otherAudience.id}, codeFailedAuthentication, "not for this audience"},
		{"wrapped assertion", samlIssue{security: wrap(t, good, false), key: good.proof, keyID: good.id}, codeInvalidSecurityToken, "names 2 assertions"},
		{"wrapped assertion and signature", samlIssue{security: wrap(t, good, true), key: good.proof, keyID: good.id}, codeInvalidSecurityToken, "names 2 assertions"},
		{"moved signature", samlIssue{security: moved, key: good.proof, keyID: good.id}, codeInvalidSecurityToken, "not right after its Issuer"},
		{"tampered NameID", samlIssue{security: strings.Replace(good.xml, ">carol<", ">mallory<", 1), key: good.proof, keyID: good.id}, codeInvalidSecurityToken, "digest mismatch"},
		{"wrong proof key", samlIssue{security: good.xml, key: bytes.Repeat([]byte{0x43}, 32), keyID: good.id}, codeFailedCheck, "does not verify"},
		{"proof key for another party", samlIssue{security: forOther.xml, key: forOther.proof, keyID: forOther.id}, codeInvalidSecurityToken, "another certificate"},
		{"KeyIdentifier names no assertion", samlIssue{security: good.xml, key: good.proof, keyID: "_nothing"}, codeInvalidSecurityToken, "names 0 assertions"},
		{"KeyIdentifier names two assertions", samlIssue{security: good.xml + `<x:Decoy xmlns:x="urn:example">` + good.xml + `</x:Decoy>`, key: good.proof, keyID: good.id}, codeInvalidSecurityToken, "names 2 assertions"},
		{"two assertions in the header", samlIssue{security: good.xml + untrusted.xml, key: good.proof, keyID: good.id}, codeInvalidSecurity, "exactly one SAML 2.0 element"},
		{"Timestamp not signed", samlIssue{security: `<o:BinarySecurityToken u:Id="x-1">AAAA</o:BinarySecurityToken>` + good.xml, key: good.proof, keyID: good.id, ids: []string{"x-1"}}, codeInvalidSecurity, "Timestamp is not covered"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h.post(soap.V12, wssc.V1_3.Action(wssc.Issue), h.samlIssueMessage(tc.msg)).wantFault(t, tc.code, tc.reason)
		})
	}
	if st := h.srv.Stats(); st.Issued != 1 || st.Rejected != len(cases) {
		t.Errorf("stats %+v", st)
	}
}

func TestIssuedTokenBootstrapDisabled(t *testing.T) {
	p := loadPKI(t)
	h := start(t, Config{})
	m := msg{soap: soap.V12, wsa: wsa.V10, action: wssc.V1_3.Action(wssc.Issue), security: timestamp(testStart, 5*time.Minute) + `<a:Assertion` + nsDecl("a", saml.NS) + `/>`, body: rstXML(wssc.V1_3, wssc.Issue, nil, 0, "")}
	h.post(soap.V12, wssc.V1_3.Action(wssc.Issue), sign(t, m.xml(), signSpec{key: hmacKey(t, p.good.Raw[:32]), keyInfo: samlSTR("_x")})).wantFault(t, codeFailedAuthentication, "not enabled")
	if h.srv.IssuerCertificate() != nil {
		t.Error("an issuer key without issued tokens")
	}
}

// The token service's private key, the proof keys and the password reach
// neither the log (debug, text and JSON), nor a fault, nor the counters.
func TestTokenSecretsNeverLogged(t *testing.T) {
	var text, js testkit.LogBuffer
	logger := slog.New(slog.NewMultiHandler(slog.NewTextHandler(&text, &slog.HandlerOptions{Level: slog.LevelDebug}), slog.NewJSONHandler(&js, &slog.HandlerOptions{Level: slog.LevelDebug})))
	h := start(t, Config{IssueTokens: true, Logger: logger})
	_, tok := h.fetchToken(wssc.V1_3, testUser, testPassword)
	h.post(soap.V12, wssc.V1_3.Action(wssc.Issue), h.samlIssueMessage(samlIssue{security: tok.xml, key: tok.proof, keyID: tok.id})).ok(t)
	bad := h.post(soap.V12, wssc.V1_3.Action(wssc.Issue), h.samlIssueMessage(samlIssue{security: tok.xml, key: bytes.Repeat([]byte{0x43}, 32), keyID: tok.id}))
	wrongPW, _ := h.fetchToken(wssc.V1_3, testUser, "canary-wrong-password")
	der, err := x509.MarshalPKCS8PrivateKey(h.srv.tokens.key)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	out := strings.Join([]string{text.String(), js.String(), string(bad.raw), string(wrongPW.raw), fmt.Sprintf("%+v", h.srv.Stats())}, "\n")
	canaries := map[string]string{
		"key DER (base64)": base64.StdEncoding.EncodeToString(der)[64:128], "key PEM": pemKey[100:164],
		"password": testPassword, "wrong password": "canary-wrong-password",
		"proof key (base64)": base64.StdEncoding.EncodeToString(tok.proof), "proof key (hex)": hex.EncodeToString(tok.proof), "proof key (raw)": string(tok.proof),
	}
	for name, c := range canaries {
		if strings.Contains(out, c) {
			t.Errorf("%s printed", name)
		}
	}
	for _, want := range []string{"principal=user:alice", `"principal":"saml:alice"`, "op=issue-token", "FailedCheck"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q: the check would prove nothing\n%s", want, out)
		}
	}
}
