package scserver

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// TestBadInput: requests that are not acceptable SOAP get a fault (in the
// SOAP version the request announced) and the right status, and the
// server keeps serving.
func TestBadInput(t *testing.T) {
	h := start(t, Config{Limits: xmldoc.Limits{MaxBytes: 16 << 10, MaxDepth: 40}})
	c := h.issue(wssc.V1_3)
	good := contextMessage(t, c, soap.V12, wsa.V10, echoAction, echoBody, h.clock.Now(), refID)
	env11 := strings.ReplaceAll(string(good), soap.NS12, soap.NS11)
	deep := strings.Repeat("<x>", 60) + strings.Repeat("</x>", 60)
	unsecured := func(sv soap.Version, wv wsa.Version, action string) []byte {
		return []byte(msg{soap: sv, wsa: wv, action: action, messageID: "urn:uuid:2", security: "-", body: echoBody}.xml())
	}
	ct12, _, _ := soap.V12.ContentType(echoAction)
	ctBare, _, _ := soap.V12.ContentType("")
	tests := []struct {
		name        string
		contentType string
		soapAction  string
		body        []byte
		status      int
		version     soap.Version
		code        xmldoc.Name
		reason      string
	}{
		{"not XML", ct12, "", []byte("this is not XML"), 500, soap.V12, soap.V12.Code(soap.Sender), "not a well-formed SOAP envelope"},
		{"not XML, SOAP 1.1", "text/xml", `"` + echoAction + `"`, []byte("{\"json\": true}"), 500, soap.V11, soap.V11.Code(soap.Sender), "not a well-formed SOAP envelope"},
		{"empty body", ct12, "", nil, 500, soap.V12, soap.V12.Code(soap.Sender), "not a well-formed SOAP envelope"},
		{"not an Envelope", ct12, "", []byte(`<x:Order xmlns:x="urn:x"/>`), 500, soap.V12, soap.V12.Code(soap.Sender), "not Envelope"},
		{"Envelope in no namespace", ct12, "", []byte(`<Envelope><Body/></Envelope>`), 500, soap.V12, soap.V12.Code(soap.VersionMismatch), `namespace ""`},
		{"DTD", ct12, "", []byte(`<!DOCTYPE x [<!ENTITY a "b">]><x/>`), 500, soap.V12, soap.V12.Code(soap.Sender), "document type declarations"},
		{"unknown envelope namespace", ct12, "", []byte(`<s:Envelope xmlns:s="urn:not-soap"><s:Body/></s:Envelope>`), 500, soap.V12, soap.V12.Code(soap.VersionMismatch), "not SOAP 1.1 or SOAP 1.2"},
		{"SOAP 1.1 envelope as SOAP 1.2", ct12, "", []byte(env11), 500, soap.V12, soap.V12.Code(soap.VersionMismatch), "announces SOAP 1.2 but the envelope is SOAP 1.1"},
		{"SOAP 1.2 envelope as SOAP 1.1", "text/xml; charset=utf-8", `"` + echoAction + `"`, good, 500, soap.V11, soap.V11.Code(soap.VersionMismatch), "announces SOAP 1.1 but the envelope is SOAP 1.2"},
		{"JSON content type", "application/json", "", []byte(`{}`), 415, soap.V12, soap.V12.Code(soap.Sender), "content type"},
		{"other charset", "application/soap+xml; charset=iso-8859-1", "", good, 415, soap.V12, soap.V12.Code(soap.Sender), "charset"},
		{"oversized body", ct12, "", append(bytes.Repeat([]byte(" "), 17<<10), good...), 413, soap.V12, soap.V12.Code(soap.Sender), "limit of 16384 bytes"},
		{"too deep", ct12, "", []byte(strings.Replace(string(good), echoBody, deep, 1)), 413, soap.V12, soap.V12.Code(soap.Sender), "MaxDepth"},
		{"unknown action", ctBare, "", unsecured(soap.V12, wsa.V10, "http://schemas.xmlsoap.org/ws/2005/02/trust/RST/Issue"), 500, soap.V12, wsa.V10.Name("ActionNotSupported"), "not supported"},
		{"Amend", ctBare, "", unsecured(soap.V12, wsa.V10, wssc.V1_3.Trust()+"/RST/SCT/Amend"), 500, soap.V12, wsa.V10.Name("ActionNotSupported"), "/RST/SCT/Amend"},
		{"no action at all", ctBare, "", unsecured(soap.V12, wsa.None, ""), 500, soap.V12, wsa.V10.Name("ActionNotSupported"), `action ""`},
		{"action mismatch", ct12, "", unsecured(soap.V12, wsa.V10, "urn:other"), 500, soap.V12, wsa.V10.Name("ActionMismatch"), "differs from the HTTP action"},
		{"duplicate Action header", ct12, "", mangle(unsecured(soap.V12, wsa.V10, echoAction), "<a:MessageID>", `<a:Action>`+echoAction+`</a:Action><a:MessageID>`), 500, soap.V12, wsa.V10.Name("InvalidAddressingHeader"), "WS-Addressing headers are invalid"},
		{"duplicate Action header 2004/08", "text/xml", `"` + echoAction + `"`, mangle(unsecured(soap.V11, wsa.V200408, echoAction), "<a:MessageID>", `<a:Action>`+echoAction+`</a:Action><a:MessageID>`), 500, soap.V11, wsa.V200408.Name("InvalidMessageInformationHeader"), "WS-Addressing headers are invalid"},
		{"missing Security header", ct12, "", unsecured(soap.V12, wsa.V10, echoAction), 500, soap.V12, codeInvalidSecurity, "exactly one Security header"},
		{"missing Security header, SOAP 1.1", "text/xml", `"` + echoAction + `"`, unsecured(soap.V11, wsa.None, echoAction), 500, soap.V11, codeInvalidSecurity, "exactly one Security header"},
		{"no Header at all", ct12, "", []byte(`<s:Envelope xmlns:s="` + soap.NS12 + `"><s:Body>` + echoBody + `</s:Body></s:Envelope>`), 500, soap.V12, codeInvalidSecurity, "no SOAP Header"},
		{"unknown mustUnderstand header", ct12, "", mangle(good, "<s:Header>", `<s:Header><x:Tx xmlns:x="urn:tx" s:mustUnderstand="true"/>`), 500, soap.V12, soap.V12.Code(soap.MustUnderstand), "{urn:tx}Tx"},
		{"bad mustUnderstand value", ct12, "", mangle(good, "<s:Header>", `<s:Header><x:Tx xmlns:x="urn:tx" s:mustUnderstand="maybe"/>`), 500, soap.V12, soap.V12.Code(soap.Sender), "mustUnderstand value"},
		{"empty Body", ct12, "", mangle(good, echoBody, ""), 500, soap.V12, soap.V12.Code(soap.Sender), "nothing to echo"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.postRaw(tc.contentType, tc.soapAction, tc.body)
			if r.status != tc.status {
				t.Errorf("status %d, want %d", r.status, tc.status)
			}
			if r.env == nil || r.env.Version != tc.version {
				t.Fatalf("reply is not a %s envelope: %s", tc.version, r.raw)
			}
			r.wantFault(t, tc.code, tc.reason)
			// The server keeps serving.
			h.post(soap.V12, echoAction, contextMessage(t, c, soap.V12, wsa.V10, echoAction, echoBody, h.clock.Now(), refID)).ok(t)
		})
	}
}

// TestNotPost: only POST carries SOAP.
func TestNotPost(t *testing.T) {
	h := start(t, Config{})
	req, err := http.NewRequest(http.MethodGet, h.srv.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := h.do(req)
	if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != http.MethodPost {
		t.Errorf("GET: status %d, Allow %q", r.status, r.header.Get("Allow"))
	}
	r.wantFault(t, soap.V12.Code(soap.Sender), "POSTed")
}

// TestMustUnderstandIgnoredElsewhere: mustUnderstand headers for another
// role, or with mustUnderstand false, do not stop the message.
func TestMustUnderstandIgnoredElsewhere(t *testing.T) {
	h := start(t, Config{})
	c := h.issue(wssc.V1_3)
	good := contextMessage(t, c, soap.V12, wsa.V10, echoAction, echoBody, h.clock.Now(), refID)
	for _, hdr := range []string{
		`<x:Tx xmlns:x="urn:tx" s:mustUnderstand="1" s:role="http://example.com/other-node"/>`,
		`<x:Tx xmlns:x="urn:tx" s:mustUnderstand="false"/>`,
		`<x:Tx xmlns:x="urn:tx"/>`,
	} {
		h.post(soap.V12, echoAction, mangle(good, "<s:Header>", "<s:Header>"+hdr)).ok(t)
	}
}

// TestEchoActions: with a list of application actions, others are
// refused before any security processing.
func TestEchoActions(t *testing.T) {
	h := start(t, Config{EchoActions: []string{echoAction}})
	c := h.issue(wssc.V1_3)
	h.echo(c, refID).ok(t)
	other := "http://tempuri.org/IEchoService/Other"
	r := h.post(soap.V12, other, contextMessage(t, c, soap.V12, wsa.V10, other, echoBody, h.clock.Now(), refID))
	r.wantFault(t, wsa.V10.Name("ActionNotSupported"), other)
}

// TestSOAPAndAddressingVersions: the echo answers in the request's SOAP
// and WS-Addressing versions, whichever way the action travelled.
func TestSOAPAndAddressingVersions(t *testing.T) {
	h := start(t, Config{})
	c := h.issue(wssc.Feb2005)
	for _, sv := range soap.Versions {
		for _, wv := range []wsa.Version{wsa.None, wsa.V200408, wsa.V10} {
			t.Run(sv.String()+"/"+wv.String(), func(t *testing.T) {
				r := h.post(sv, echoAction, contextMessage(t, c, sv, wv, echoAction, echoBody, h.clock.Now(), refID)).ok(t)
				if r.env.Version != sv || !strings.HasPrefix(r.header.Get("Content-Type"), sv.MediaType()) {
					t.Errorf("reply %s, content type %q", r.env.Version, r.header.Get("Content-Type"))
				}
				hd, rv := r.addressing(t)
				if rv != wv {
					t.Errorf("reply addressing %s, want %s", rv, wv)
				}
				if wv != wsa.None && (hd.Action != echoAction+"Response" || hd.RelatesTo != "urn:uuid:00000000-0000-4000-8000-000000000001") {
					t.Errorf("reply headers %+v", hd)
				}
			})
		}
	}
	// The WS-Addressing Action alone is enough (no HTTP action).
	src := contextMessage(t, c, soap.V11, wsa.V10, echoAction, echoBody, h.clock.Now(), refID)
	h.postRaw("text/xml; charset=utf-8", "", src).ok(t)
}

// TestAddressingFaultVersions: each WS-Addressing version gets the fault
// codes of its own specification, in its own namespace (1.0: SOAP Binding
// §6.4, as WCF sends them; 2004/08: §4 of the submission), in both SOAP
// versions, and never a code of the other version.
func TestAddressingFaultVersions(t *testing.T) {
	h := start(t, Config{})
	v10, v0408 := wsa.V10.Name, wsa.V200408.Name
	tests := []struct {
		name    string
		wv      wsa.Version
		mangle  func([]byte) []byte // nil: the message as written
		httpAct string              // the HTTP action; "" means the message's
		want    []xmldoc.Name       // codes the fault must carry (SOAP 1.2 chain)
		want11  xmldoc.Name         // the SOAP 1.1 faultcode
		reason  string
		amend   bool // send the Amend action, which no handler takes
	}{
		{"duplicate Action", wsa.V10, dupAction, "", []xmldoc.Name{v10("InvalidAddressingHeader"), v10("InvalidCardinality")}, v10("InvalidAddressingHeader"), "occurs 2 times", false},
		{"duplicate Action", wsa.V200408, dupAction, "", []xmldoc.Name{v0408("InvalidMessageInformationHeader")}, v0408("InvalidMessageInformationHeader"), "occurs 2 times", false},
		{"no Action", wsa.V10, dropAction, "", []xmldoc.Name{v10("MessageAddressingHeaderRequired")}, v10("MessageAddressingHeaderRequired"), "Action is missing", false},
		{"no Action", wsa.V200408, dropAction, "", []xmldoc.Name{v0408("MessageInformationHeaderRequired")}, v0408("MessageInformationHeaderRequired"), "Action is missing", false},
		{"empty To", wsa.V10, emptyTo, "", []xmldoc.Name{v10("InvalidAddressingHeader")}, v10("InvalidAddressingHeader"), "To is empty", false},
		{"empty To", wsa.V200408, emptyTo, "", []xmldoc.Name{v0408("InvalidMessageInformationHeader")}, v0408("InvalidMessageInformationHeader"), "To is empty", false},
		{"Action differs from the HTTP action", wsa.V10, nil, "urn:other", []xmldoc.Name{v10("ActionMismatch")}, v10("ActionMismatch"), "differs from the HTTP action", false},
		{"Action differs from the HTTP action", wsa.V200408, nil, "urn:other", []xmldoc.Name{v0408("InvalidMessageInformationHeader")}, v0408("InvalidMessageInformationHeader"), "differs from the HTTP action", false},
		{"action not supported", wsa.V10, nil, "", []xmldoc.Name{v10("ActionNotSupported")}, v10("ActionNotSupported"), "not supported", true},
		{"action not supported", wsa.V200408, nil, "", []xmldoc.Name{v0408("ActionNotSupported")}, v0408("ActionNotSupported"), "not supported", true},
	}
	amend := wssc.V1_3.Trust() + "/RST/SCT/Amend"
	for _, tc := range tests {
		for _, sv := range soap.Versions {
			t.Run(tc.name+"/"+tc.wv.String()+"/"+sv.String(), func(t *testing.T) {
				action := echoAction
				if tc.amend {
					action = amend
				}
				src := []byte(msg{soap: sv, wsa: tc.wv, action: action, messageID: "urn:uuid:3", security: "-", body: echoBody}.xml())
				if tc.mangle != nil {
					src = tc.mangle(src)
				}
				httpAct := action
				if tc.httpAct != "" {
					httpAct = tc.httpAct
				}
				r := h.post(sv, httpAct, src)
				if r.fault == nil {
					t.Fatalf("status %d, want a fault:\n%s", r.status, r.raw)
				}
				want := tc.want
				if sv == soap.V11 {
					want = []xmldoc.Name{tc.want11}
				}
				for _, code := range want {
					if !r.fault.Has(code) {
						t.Errorf("fault %v lacks %s", r.fault, code)
					}
				}
				other := wsa.V10.Namespace()
				if tc.wv == wsa.V10 {
					other = wsa.V200408.Namespace()
				}
				for _, c := range append([]xmldoc.Name{r.fault.Code}, r.fault.Subcodes...) {
					if c.Space == other {
						t.Errorf("fault %v carries a code of the other WS-Addressing version", r.fault)
					}
				}
				if !strings.Contains(r.fault.Reason, tc.reason) {
					t.Errorf("reason %q, want %q", r.fault.Reason, tc.reason)
				}
			})
		}
	}
}

// dupAction adds a second Action header.
func dupAction(src []byte) []byte {
	return mangle(src, "<a:MessageID>", `<a:Action>`+echoAction+`</a:Action><a:MessageID>`)
}

// dropAction removes the Action header, keeping the others.
func dropAction(src []byte) []byte {
	return mangle(src, `<a:Action s:mustUnderstand="1">`+echoAction+`</a:Action>`, "")
}

// emptyTo empties the To header.
func emptyTo(src []byte) []byte {
	return mangle(src, `https://localhost/service</a:To>`, `</a:To>`)
}
