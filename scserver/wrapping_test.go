package scserver

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// TestSignatureWrapping takes a message signed with a context a day-old
// capture could hold (its Timestamp expired) and rearranges it the ways
// XML signature wrapping does, so that the element the signature covers
// is not the one the server would act on: a fresh, unsigned Timestamp
// where the server looks, the signed one moved into a wrapper, another
// header or the Body; a second element with the signed Id; the Signature
// or the token moved. Every permutation is refused, with the fault the
// server gives for it, and the context stays usable.
func TestSignatureWrapping(t *testing.T) {
	for _, v := range wssc.Versions {
		t.Run(v.String(), func(t *testing.T) { signatureWrapping(t, v) })
	}
}

func signatureWrapping(t *testing.T, v wssc.Version) {
	h := start(t, Config{})
	c := h.issue(v)
	now := h.clock.Now()
	vt := ""
	if v == wssc.Feb2005 {
		vt = v.TokenType()
	}
	stale := timestamp(now.Add(-24*time.Hour), 5*time.Minute) // signed, long expired
	fresh := strings.Replace(timestamp(now, 5*time.Minute), `u:Id="_0"`, `u:Id="fresh"`, 1)
	freshSameID := timestamp(now, 5*time.Minute)
	sct := sctXML(v, c.identifier)
	app := msg{soap: soap.V12, wsa: wsa.V10, action: echoAction, messageID: "urn:uuid:1", security: stale + sct, body: echoBody}.xml()
	captured := sign(t, app, signSpec{key: hmacKey(t, c.key), keyInfo: strXML("#sct-1", vt)})
	const u = ` xmlns:u="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"`
	signature := string(between(t, captured, "<Signature ", "</Signature>"))
	withoutSignature := bytes.Replace(captured, []byte(signature), nil, 1)

	tests := []struct {
		name   string
		src    []byte
		code   xmldoc.Name
		reason string
	}{
		{"control: the capture as it is", captured, codeMessageExpired, "has expired"},
		{"signed Timestamp in a wrapper, a fresh one in its place",
			mangle(captured, stale, `<w:Wrapper xmlns:w="urn:w">`+stale+`</w:Wrapper>`+fresh), codeInvalidSecurity, "not covered by the signature"},
		{"signed Timestamp in a wrapper, a fresh one with its Id",
			mangle(captured, stale, `<w:Wrapper xmlns:w="urn:w">`+stale+`</w:Wrapper>`+freshSameID), codeInvalidSecurity, "duplicate Id"},
		{"signed Timestamp moved to another header, a fresh one in its place",
			mangle(mangle(captured, stale, fresh), "<s:Header>", "<s:Header><w:Wrapper xmlns:w=\"urn:w\""+u+">"+stale+"</w:Wrapper>"), codeInvalidSecurity, "not covered by the signature"},
		{"signed Timestamp moved into the Body, a fresh one in its place",
			mangle(mangle(captured, stale, fresh), "<s:Body>", "<s:Body><w:Wrapper xmlns:w=\"urn:w\""+u+">"+stale+"</w:Wrapper>"), codeInvalidSecurity, "not covered by the signature"},
		{"a fresh Timestamp added after the signed one",
			mangle(captured, stale, stale+fresh), codeInvalidSecurity, "exactly one Timestamp"},
		{"a fresh Timestamp with the signed Id in the Body",
			mangle(captured, "<s:Body>", "<s:Body>"+strings.Replace(freshSameID, "<u:Timestamp ", "<u:Timestamp"+u+" ", 1)), codeInvalidSecurity, "duplicate Id"},
		{"an element with the signed Id as plain Id before the Security header",
			mangle(captured, "<s:Header>", `<s:Header><w:Decoy xmlns:w="urn:w"`+u+` Id="_0">`+fresh+`</w:Decoy>`), codeInvalidSecurity, "duplicate Id|not covered"},
		{"Signature moved out of the Security header",
			mangle(withoutSignature, "<s:Header>", "<s:Header><w:Wrapper xmlns:w=\"urn:w\">"+signature+"</w:Wrapper>"), codeInvalidSecurity, "exactly one Signature"},
		{"Signature wrapped inside the Security header",
			mangle(captured, signature, `<w:Wrapper xmlns:w="urn:w">`+signature+`</w:Wrapper>`), codeInvalidSecurity, "exactly one Signature"},
		// Tokens are looked up in the Security header only: "sct-1" is then
		// taken for an Identifier, of the server's first version when the
		// reference names none (1.3's does not).
		{"the token moved out of the Security header",
			mangle(mangle(captured, sct, ""), "<s:Header>", "<s:Header>"+strings.Replace(sct, "<c:SecurityContextToken ", "<c:SecurityContextToken"+u+" ", 1)), wssc.Feb2005.Fault(wssc.BadContextToken), `"sct-1" is not known`},
		{"a second token with the referenced Id",
			mangle(captured, sct, sct+sctXML(v, "urn:uuid:other")), soap.V12.Code(soap.Sender), "duplicate Id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.post(soap.V12, echoAction, tc.src)
			wantFaultEither(t, r, tc.code, tc.reason)
		})
	}
	h.echo(c, refID).ok(t) // every refusal left the context usable
}

// TestTruncatedHMAC varies the length of a valid message's HMAC value
// (CVE-2009-0217 and its neighbours): only the full 20 bytes of
// HMAC-SHA1 verify; shorter or longer values, whatever bytes they hold,
// are refused.
func TestTruncatedHMAC(t *testing.T) {
	h := start(t, Config{})
	c := h.issue(wssc.V1_3)
	good := contextMessage(t, c, soap.V12, wsa.V10, echoAction, echoBody, h.clock.Now(), refID)
	value := between(t, good, "<SignatureValue>", "</SignatureValue>")
	mac, err := base64.StdEncoding.DecodeString(string(value))
	if err != nil || len(mac) != 20 {
		t.Fatalf("SignatureValue %q: %v", value, err)
	}
	with := func(b []byte) []byte {
		return bytes.Replace(good, value, []byte(base64.StdEncoding.EncodeToString(b)), 1)
	}
	h.post(soap.V12, echoAction, with(mac)).ok(t)
	for _, n := range []int{0, 1, 10, 12, 16, 19, 21, 32, 64} {
		sig := make([]byte, n)
		copy(sig, mac) // the correct prefix: a verifier comparing a prefix would accept it
		r := h.post(soap.V12, echoAction, with(sig))
		if r.fault == nil {
			t.Errorf("a %d-byte HMAC value was accepted", n)
			continue
		}
		if !r.fault.Has(codeFailedCheck) && !r.fault.Has(codeInvalidSecurity) {
			t.Errorf("a %d-byte HMAC value: fault %v %q", n, r.fault.Code, r.fault.Reason)
		}
	}
	h.echo(c, refID).ok(t)
}

// between returns the first span of src from open to close, inclusive
// for open's start and close's end when open starts with "<" and close
// ends with ">", exclusive otherwise (the content between two tags).
func between(t *testing.T, src []byte, open, close string) []byte {
	t.Helper()
	i := bytes.Index(src, []byte(open))
	j := bytes.Index(src[max(i, 0):], []byte(close)) + max(i, 0)
	if i < 0 || j < i {
		t.Fatalf("%s...%s not found", open, close)
	}
	if strings.HasSuffix(open, ">") {
		return src[i+len(open) : j]
	}
	return src[i : j+len(close)]
}

// wantFaultEither is wantFault with reasons as alternatives ("a|b").
func wantFaultEither(t *testing.T, r *response, code xmldoc.Name, reasons string) {
	t.Helper()
	if r.fault == nil {
		t.Fatalf("status %d, want fault %s:\n%s", r.status, code.Local, r.raw)
	}
	if !r.fault.Has(code) {
		t.Errorf("fault %v %q, want code %s", r.fault.Code, r.fault.Reason, code)
	}
	for _, reason := range strings.Split(reasons, "|") {
		if strings.Contains(r.fault.Reason, reason) {
			return
		}
	}
	t.Errorf("fault reason %q, want it to mention %q", r.fault.Reason, reasons)
}
