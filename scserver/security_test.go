package scserver

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// TestApplicationRejected sends application messages with one security
// defect each, hand-built for each version, and checks the fault code and
// that its reason names what failed.
func TestApplicationRejected(t *testing.T) {
	for _, v := range wssc.Versions {
		t.Run(v.String(), func(t *testing.T) { applicationRejected(t, v) })
	}
}

func applicationRejected(t *testing.T, v wssc.Version) {
	h := start(t, Config{})
	c := h.issue(v)
	now := h.clock.Now()
	sct := sctXML(v, c.identifier)
	vt := ""
	if v == wssc.Feb2005 {
		vt = v.TokenType()
	}
	ki := strXML("#sct-1", vt)
	key := hmacKey(t, c.key)
	app := func(security string) string {
		return msg{soap: soap.V12, wsa: wsa.V10, action: echoAction, messageID: "urn:uuid:1", security: security, body: echoBody}.xml()
	}
	signed := func(security string, spec signSpec) []byte { return sign(t, app(security), spec) }
	good := signed(timestamp(now, 5*time.Minute)+sct, signSpec{key: key, keyInfo: ki})
	bodyIDApp := strings.Replace(app(timestamp(now, 5*time.Minute)+sct), "<s:Body>", `<s:Body xmlns:u="`+wss.NSWSU+`" u:Id="body">`, 1)
	otherKey := hmacKey(t, bytes.Repeat([]byte{0xee}, 32))
	badDKT := sct + strings.Replace(dktXML(v, []byte("0123456789abcdef"), 24), "<c:Length>24</c:Length>", "<c:Length>4096</c:Length>", 1)
	bst := `<o:BinarySecurityToken u:Id="bst-1" ValueType="` + wss.ValueTypeX509v3 + `">AAAA</o:BinarySecurityToken>`
	sha256Key, err := dsig.HMACKey(dsig.HMACSHA256, c.key)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		src    []byte
		code   xmldoc.Name
		reason string
	}{
		{"control: valid", good, xmldoc.Name{}, ""},
		{"control: HMAC-SHA256", signed(timestamp(now, 5*time.Minute)+sct, signSpec{key: sha256Key, keyInfo: ki}), xmldoc.Name{}, ""},
		{"no Security header", []byte(app("-")), codeInvalidSecurity, "exactly one Security header"},
		{"two Security headers", mangle(good, "</s:Header>", `<o:Security xmlns:o="`+wss.NSWSSE+`"/></s:Header>`), codeInvalidSecurity, "exactly one Security header"},
		{"no Signature", []byte(app(timestamp(now, 5*time.Minute) + sct)), codeInvalidSecurity, "exactly one Signature"},
		{"two Signatures", mangle(good, "</o:Security>", `<Signature xmlns="`+dsig.NS+`"/></o:Security>`), codeInvalidSecurity, "exactly one Signature"},
		{"no Timestamp", sign(t, strings.Replace(bodyIDApp, timestamp(now, 5*time.Minute), "", 1), signSpec{key: key, keyInfo: ki, ids: []string{"body"}}), codeInvalidSecurity, "exactly one Timestamp"},
		{"Timestamp not signed", sign(t, bodyIDApp, signSpec{key: key, keyInfo: ki, ids: []string{"body"}}), codeInvalidSecurity, "not covered by the signature"},
		{"two Timestamps", mangle(good, "</o:Security>", timestamp(now, time.Minute)+"</o:Security>"), codeInvalidSecurity, "duplicate Id"},
		{"expired Timestamp", signed(timestamp(now.Add(-20*time.Minute), 5*time.Minute)+sct, signSpec{key: key, keyInfo: ki}), codeMessageExpired, "has expired"},
		{"Timestamp from the future", signed(timestamp(now.Add(20*time.Minute), 5*time.Minute)+sct, signSpec{key: key, keyInfo: ki}), codeInvalidSecurity, "created in the future"},
		{"malformed Timestamp", signed(strings.Replace(timestamp(now, 5*time.Minute), "Z</u:Created>", "</u:Created>", 1)+sct, signSpec{key: key, keyInfo: ki}), codeInvalidSecurity, "Timestamp is malformed"},
		{"Timestamp changed after signing", mangle(good, "<u:Expires>", "<u:Expires>2"), codeFailedCheck, "digest mismatch"},
		{"wrong key", signed(timestamp(now, 5*time.Minute)+sct, signSpec{key: otherKey, keyInfo: ki}), codeFailedCheck, "does not verify"},
		{"unknown context", signed(timestamp(now, 5*time.Minute)+sctXML(v, "urn:uuid:nobody"), signSpec{key: key, keyInfo: ki}), v.Fault(wssc.BadContextToken), `"urn:uuid:nobody" is not known`},
		{"no KeyInfo", cut(t, good, "<KeyInfo>", "</KeyInfo>"), codeInvalidSecurityToken, "no KeyInfo"},
		{"KeyInfo names a certificate", signed(timestamp(now, 5*time.Minute)+bst, signSpec{key: key, keyInfo: strXML("#bst-1", wss.ValueTypeX509v3)}), codeInvalidSecurityToken, "cannot be resolved"},
		{"KeyInfo key identifier", signed(timestamp(now, 5*time.Minute)+sct, signSpec{key: key, keyInfo: `<o:SecurityTokenReference xmlns:o="` + wss.NSWSSE + `"><o:KeyIdentifier ValueType="x">AAAA</o:KeyIdentifier></o:SecurityTokenReference>`}), codeInvalidSecurityToken, "not a direct reference"},
		{"derived key out of bounds", signed(timestamp(now, 5*time.Minute)+badDKT, signSpec{key: key, keyInfo: strXML("#dk-1", v.DKValueType())}), codeInvalidSecurityToken, "Length 4096"},
		{"digest algorithm not allowed", mangle(good, dsig.SHA1, "http://www.w3.org/2001/04/xmldsig-more#md5"), codeUnsupportedAlgorithm, "md5"},
		{"truncated HMAC", truncateSignature(t, good), codeFailedCheck, "truncated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.post(soap.V12, echoAction, tc.src)
			if tc.code == (xmldoc.Name{}) {
				r.ok(t)
				return
			}
			r.wantFault(t, tc.code, tc.reason)
			hd, _ := r.addressing(t)
			wantAction := wsa.V10.FaultAction()
			if _, _, ok := wssc.FaultOf(tc.code); ok {
				wantAction = sessionFaultAction
			}
			if hd.Action != wantAction || hd.RelatesTo != "urn:uuid:1" {
				t.Errorf("fault addressing %+v", hd)
			}
		})
	}
	// Every refusal above left the context usable.
	h.echo(c, refID).ok(t)
}

// cut removes from src the first span from open to close, inclusive.
func cut(t *testing.T, src []byte, open, close string) []byte {
	t.Helper()
	i := bytes.Index(src, []byte(open))
	j := bytes.Index(src, []byte(close))
	if i < 0 || j < i {
		t.Fatalf("%s...%s not found", open, close)
	}
	return append(append([]byte(nil), src[:i]...), src[j+len(close):]...)
}

// truncateSignature shortens the SignatureValue to 10 bytes, the
// CVE-2009-0217 attack on HMAC signatures.
func truncateSignature(t *testing.T, src []byte) []byte {
	t.Helper()
	i := bytes.Index(src, []byte("<SignatureValue>")) + len("<SignatureValue>")
	j := bytes.Index(src, []byte("</SignatureValue>"))
	if i < len("<SignatureValue>") || j < i {
		t.Fatal("no SignatureValue")
	}
	return append(append(append([]byte(nil), src[:i]...), []byte("AAAAAAAAAAAAAA==")...), src[j:]...)
}

// TestMessageRejectedSOAP11: faults come back in SOAP 1.1 for a SOAP 1.1
// request, with the specific code as faultcode, as WCF writes them.
func TestMessageRejectedSOAP11(t *testing.T) {
	h := start(t, Config{})
	c := h.issue(wssc.Feb2005)
	c.key = bytes.Repeat([]byte{1}, 32)
	r := h.post(soap.V11, echoAction, contextMessage(t, c, soap.V11, wsa.V200408, echoAction, echoBody, h.clock.Now(), refID))
	r.wantFault(t, codeFailedCheck, "does not verify")
	if r.fault.Version != soap.V11 || r.fault.Code != codeFailedCheck {
		t.Errorf("SOAP 1.1 fault %+v, want faultcode wsse:FailedCheck", r.fault)
	}
	hd, wv := r.addressing(t)
	if wv != wsa.V200408 || hd.Action != wsa.V200408.FaultAction() {
		t.Errorf("fault addressing %+v %s", hd, wv)
	}
}

// TestVerifyMessageDirect drives the verification entry points without
// HTTP: VerifyMessage refuses what the HTTP path refuses, and changes no
// counter.
func TestVerifyMessageDirect(t *testing.T) {
	h := start(t, Config{})
	c := h.issue(wssc.V1_3)
	env := parseEnvelope(t, contextMessage(t, c, soap.V12, wsa.V10, echoAction, echoBody, h.clock.Now(), refDerived))
	ver, err := h.srv.VerifyMessage(env)
	if err != nil {
		t.Fatal(err)
	}
	if ver.Identifier != c.identifier || ver.Timestamp == nil || ver.Timestamp.ID != "_0" {
		t.Errorf("verified %+v", ver)
	}
	h.clock.Advance(time.Hour)
	if _, err := h.srv.VerifyMessage(env); !faultOf(t, err).Has(codeMessageExpired) {
		t.Errorf("an hour later: %v", err)
	}
	if _, err := h.srv.VerifySignature(env); err != nil {
		t.Errorf("VerifySignature looks at the Timestamp: %v", err)
	}
	if st := h.srv.Stats(); st.Verified != 0 || st.Rejected != 0 {
		t.Errorf("direct verification changed the counters: %+v", st)
	}
}
