package bridge

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/splice"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

const (
	ns11 = "http://schemas.xmlsoap.org/soap/envelope/"
	ns12 = "http://www.w3.org/2003/05/soap-envelope"
	// service is where the requests really go; the applications address
	// the proxy.
	service = "https://svc.example/Echo.svc"
)

// wellFormed checks that doc is namespace-well-formed by a full parse
// and, when it is installed, by xmllint, an independent parser.
func wellFormed(t *testing.T, doc []byte) {
	t.Helper()
	mustParse(t, doc)
	bin, err := exec.LookPath("xmllint")
	if err != nil {
		return
	}
	cmd := exec.Command(bin, "--noout", "--nonet", "-")
	cmd.Stdin = bytes.NewReader(doc)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("xmllint refuses the output (%v): %s\n%s", err, out, doc)
	}
}

func mustParse(t *testing.T, doc []byte) *soap.Envelope {
	t.Helper()
	env, err := soap.Parse(doc, xmldoc.Limits{})
	if err != nil {
		t.Fatalf("the output is not a namespace-well-formed envelope: %v\n%s", err, doc)
	}
	return env
}

// fixedRand makes MessageIDs reproducible.
func fixedRand() *bytes.Reader { return bytes.NewReader(bytes.Repeat([]byte{0xa5}, 16)) }

// appHop reads the application's side of a hop from its envelope, as the
// proxy does.
func appHop(t *testing.T, m *splice.Message, to Side, action string) Hop {
	t.Helper()
	h, av, err := wsa.Read(m.Env.Header)
	if err != nil {
		t.Fatal(err)
	}
	if h.Action != "" {
		action = h.Action
	}
	return Hop{
		App: Side{SOAP: m.Env.Version, Addressing: av}, Headers: h,
		Upstream: to, Action: action, To: service, Rand: fixedRand(),
	}
}

func TestRequest(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		upstream Side
		action   string // the HTTP action
	}{
		{
			name:     "same-versions-to-pointed-at-service",
			in:       `<s:Envelope xmlns:s="` + ns12 + `" xmlns:a="` + wsa.NS10 + `"><s:Header><a:Action s:mustUnderstand="1">urn:echo</a:Action><a:MessageID>urn:uuid:app</a:MessageID><a:To s:mustUnderstand="1">http://localhost:8080/Echo.svc</a:To></s:Header><s:Body><Echo xmlns="urn:e">hi</Echo></s:Body></s:Envelope>`,
			upstream: Side{SOAP: soap.V12, Addressing: wsa.V10},
		},
		{
			name:     "same-versions-to-added-beside-action",
			in:       `<s:Envelope xmlns:s="` + ns12 + `"><s:Header xmlns:w="` + wsa.NS10 + `"><w:Action>urn:echo</w:Action></s:Header><s:Body/></s:Envelope>`,
			upstream: Side{SOAP: soap.V12, Addressing: wsa.V10},
		},
		{
			name:     "same-versions-to-added-in-actions-default-namespace",
			in:       `<s:Envelope xmlns:s="` + ns12 + `"><s:Header><Action xmlns="` + wsa.NS10 + `">urn:echo</Action></s:Header><s:Body/></s:Envelope>`,
			upstream: Side{SOAP: soap.V12, Addressing: wsa.V10},
		},
		{
			// WCF clients and hand-written ones declare the prefix on
			// Action itself; a To written beside it must declare it too.
			name:     "same-versions-to-added-with-the-prefix-actions-own",
			in:       `<s:Envelope xmlns:s="` + ns12 + `"><s:Header><a:Action xmlns:a="` + wsa.NS10 + `" s:mustUnderstand="1">urn:echo</a:Action></s:Header><s:Body/></s:Envelope>`,
			upstream: Side{SOAP: soap.V12, Addressing: wsa.V10},
		},
		{
			// Action rebinds a prefix the Header binds to another
			// namespace: the To must not land in that other namespace.
			name:     "same-versions-to-added-where-action-rebinds-its-prefix",
			in:       `<s:Envelope xmlns:s="` + ns11 + `" xmlns:a="urn:not-wsa"><s:Header><a:Action xmlns:a="` + wsa.NS200408 + `">urn:echo</a:Action></s:Header><s:Body/></s:Envelope>`,
			upstream: Side{SOAP: soap.V11, Addressing: wsa.V200408},
		},
		{
			name:     "soap11-to-soap12-without-addressing",
			in:       `<soap:Envelope xmlns:soap="` + ns11 + `"><soap:Header><h:Tenant xmlns:h="urn:h" soap:mustUnderstand="1">t1</h:Tenant></soap:Header><soap:Body><soap:Echo xmlns:soap="urn:not-soap">hi</soap:Echo></soap:Body></soap:Envelope>`,
			upstream: Side{SOAP: soap.V12, Addressing: wsa.None},
			action:   "urn:echo",
		},
		{
			name:     "wsa200408-to-wsa10-headers-replaced-messageid-kept",
			in:       `<s:Envelope xmlns:s="` + ns11 + `" xmlns:wsa="` + wsa.NS200408 + `"><s:Header><wsa:Action>urn:echo</wsa:Action><wsa:MessageID>urn:uuid:app</wsa:MessageID><wsa:ReplyTo><wsa:Address>` + wsa.V200408.Anonymous() + `</wsa:Address></wsa:ReplyTo><wsa:To>http://localhost:8080/Echo.svc</wsa:To><x:Action xmlns:x="urn:not-wsa">kept</x:Action></s:Header><s:Body/></s:Envelope>`,
			upstream: Side{SOAP: soap.V12, Addressing: wsa.V10},
		},
		{
			name:     "no-addressing-to-wsa10-messageid-made",
			in:       `<s:Envelope xmlns:s="` + ns11 + `"><s:Body><Echo xmlns="urn:e"/></s:Body></s:Envelope>`,
			upstream: Side{SOAP: soap.V11, Addressing: wsa.V10},
			action:   "urn:echo",
		},
		{
			name:     "wsa10-to-no-addressing-headers-removed",
			in:       `<s:Envelope xmlns:s="` + ns12 + `" xmlns:a="` + wsa.NS10 + `"><s:Header><a:Action>urn:echo</a:Action><a:MessageID>urn:uuid:app</a:MessageID><h:Tenant xmlns:h="urn:h">t1</h:Tenant></s:Header><s:Body/></s:Envelope>`,
			upstream: Side{SOAP: soap.V12, Addressing: wsa.None},
		},
		{
			name:     "security-in-other-namespaces-kept",
			in:       `<s:Envelope xmlns:s="` + ns12 + `" xmlns:wsse="urn:not-wsse"><s:Header><wsse:Security>mine</wsse:Security><x:Token xmlns:x="urn:x"><Security xmlns="urn:other">y</Security></x:Token></s:Header><s:Body/></s:Envelope>`,
			upstream: Side{SOAP: soap.V12, Addressing: wsa.None},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := splice.Read([]byte(tt.in), splice.Options{})
			if err != nil {
				t.Fatal(err)
			}
			h := appHop(t, m, tt.upstream, tt.action)
			if err := h.Request(m); err != nil {
				t.Fatal(err)
			}
			out := m.Bytes(nil)
			if _, err := splice.Read(out, splice.Options{}); err != nil {
				t.Fatalf("the bridged envelope does not read back: %v\n%s", err, out)
			}
			wellFormed(t, out)
			if tt.upstream.Addressing != wsa.None {
				got, v, err := wsa.Read(mustParse(t, out).Header)
				if err != nil || v != tt.upstream.Addressing || got.To != service {
					t.Errorf("the service reads To %q in %v (%v), want %q in %v:\n%s", got.To, v, err, service, tt.upstream.Addressing, out)
				}
			}
			testkit.Golden(t, out)
		})
	}
}

func TestRequestRefused(t *testing.T) {
	wsse := "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	tests := []struct {
		name     string
		in       string
		upstream Side
		action   string
		want     string
	}{
		{
			name:     "a Security header block",
			in:       `<s:Envelope xmlns:s="` + ns12 + `"><s:Header><o:Security xmlns:o="` + wsse + `"/></s:Header><s:Body/></s:Envelope>`,
			upstream: Side{SOAP: soap.V12},
			want:     "the request already carries a WS-Security header; scproxy adds its own and does not forward the application's",
		},
		{
			name:     "a draft's Security nested in another block, under the default namespace",
			in:       `<s:Envelope xmlns:s="` + ns12 + `"><s:Header><x:Wrap xmlns:x="urn:x"><Security xmlns="http://schemas.xmlsoap.org/ws/2002/07/secext"/></x:Wrap></s:Header><s:Body/></s:Envelope>`,
			upstream: Side{SOAP: soap.V12},
			want:     "already carries a WS-Security header",
		},
		{
			name:     "Security under a prefix of another's name",
			in:       `<s:Envelope xmlns:s="` + ns12 + `" xmlns:wsa="` + wsse + `"><s:Header><wsa:Security/></s:Header><s:Body/></s:Envelope>`,
			upstream: Side{SOAP: soap.V12},
			want:     "already carries a WS-Security header",
		},
		{
			name:     "a ReplyTo across versions",
			in:       `<s:Envelope xmlns:s="` + ns11 + `" xmlns:wsa="` + wsa.NS200408 + `"><s:Header><wsa:Action>urn:echo</wsa:Action><wsa:ReplyTo><wsa:Address>http://app.example/replies</wsa:Address></wsa:ReplyTo></s:Header><s:Body/></s:Envelope>`,
			upstream: Side{SOAP: soap.V11, Addressing: wsa.V10},
			want:     `ReplyTo "http://app.example/replies" cannot be translated from WS-Addressing 2004/08 to WS-Addressing 1.0; only request-reply over HTTP is supported`,
		},
		{
			name:     "no action for a service with addressing",
			in:       `<s:Envelope xmlns:s="` + ns11 + `"><s:Body/></s:Envelope>`,
			upstream: Side{SOAP: soap.V11, Addressing: wsa.V200408},
			want:     "the service expects WS-Addressing, which needs an action: send a SOAPAction header (SOAP 1.1) or the action parameter (SOAP 1.2)",
		},
		{
			name:     "a header block SOAP 1.2 cannot carry",
			in:       `<s:Envelope xmlns:s="` + ns11 + `"><s:Header><h:H xmlns:h="urn:h" s:mustUnderstand="maybe"/></s:Header><s:Body/></s:Envelope>`,
			upstream: Side{SOAP: soap.V12},
			want:     "cannot translate the envelope to SOAP 1.2: ",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := splice.Read([]byte(tt.in), splice.Options{})
			if err != nil {
				t.Fatal(err)
			}
			h := appHop(t, m, tt.upstream, tt.action)
			err = h.Request(m)
			var re *RefusedError
			if !errors.As(err, &re) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Request = %v, want a refusal containing %q", err, tt.want)
			}
		})
	}
}

// A MessageID that cannot be made is the proxy's failure, not the
// application's.
func TestRequestRandomnessFails(t *testing.T) {
	m, err := splice.Read([]byte(`<s:Envelope xmlns:s="`+ns11+`"><s:Body/></s:Envelope>`), splice.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := appHop(t, m, Side{SOAP: soap.V11, Addressing: wsa.V10}, "urn:echo")
	h.Rand = iotest.ErrReader(errors.New("no entropy"))
	err = h.Request(m)
	var re *RefusedError
	if err == nil || errors.As(err, &re) {
		t.Fatalf("Request = %v, want an error that is not a refusal", err)
	}
}

func TestResponse(t *testing.T) {
	wsse := "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	wsu := "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
	security := `<o:Security xmlns:o="` + wsse + `" s:mustUnderstand="1"><u:Timestamp xmlns:u="` + wsu + `" u:Id="_0"><u:Created>2026-01-01T00:00:00.000Z</u:Created></u:Timestamp></o:Security>`
	tests := []struct {
		name string
		in   string
		app  Side
		// appID is the application's MessageID.
		appID    string
		upstream Side
	}{
		{
			name:     "security-removed-empty-header-dropped",
			in:       `<s:Envelope xmlns:s="` + ns12 + `"><s:Header>` + security + `</s:Header><s:Body><R xmlns="urn:e">ok</R></s:Body></s:Envelope>`,
			app:      Side{SOAP: soap.V12},
			upstream: Side{SOAP: soap.V12},
		},
		{
			name:     "security-removed-other-blocks-kept",
			in:       `<s:Envelope xmlns:s="` + ns12 + `" xmlns:a="` + wsa.NS10 + `"><s:Header><a:Action>urn:echo-reply</a:Action><a:RelatesTo>urn:uuid:app</a:RelatesTo>` + security + `<o:Security xmlns:o="urn:not-wsse"/></s:Header><s:Body/></s:Envelope>`,
			app:      Side{SOAP: soap.V12, Addressing: wsa.V10},
			upstream: Side{SOAP: soap.V12, Addressing: wsa.V10},
		},
		{
			name:     "wsa10-to-wsa200408-relates-to-the-applications-id",
			in:       `<s:Envelope xmlns:s="` + ns12 + `" xmlns:a="` + wsa.NS10 + `"><s:Header><a:Action s:mustUnderstand="1">urn:echo-reply</a:Action><a:MessageID>urn:uuid:svc</a:MessageID><a:RelatesTo>urn:uuid:a5a5a5a5-a5a5-45a5-a5a5-a5a5a5a5a5a5</a:RelatesTo></s:Header><s:Body><R xmlns="urn:e">ok</R></s:Body></s:Envelope>`,
			app:      Side{SOAP: soap.V11, Addressing: wsa.V200408},
			appID:    "urn:uuid:app",
			upstream: Side{SOAP: soap.V12, Addressing: wsa.V10},
		},
		{
			name:     "wsa10-to-no-addressing-header-dropped",
			in:       `<s:Envelope xmlns:s="` + ns11 + `" xmlns:a="` + wsa.NS10 + `"><s:Header><a:Action>urn:echo-reply</a:Action><a:RelatesTo>urn:uuid:x</a:RelatesTo></s:Header><s:Body><R xmlns="urn:e">ok</R></s:Body></s:Envelope>`,
			app:      Side{SOAP: soap.V11},
			upstream: Side{SOAP: soap.V11, Addressing: wsa.V10},
		},
		{
			name:     "soap12-to-soap11-body-untouched",
			in:       `<env:Envelope xmlns:env="` + ns12 + `"><env:Body><env:R xmlns:env="urn:not-soap">ok</env:R></env:Body></env:Envelope>`,
			app:      Side{SOAP: soap.V11},
			upstream: Side{SOAP: soap.V12},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := splice.Read([]byte(tt.in), splice.Options{Payload: true})
			if err != nil {
				t.Fatal(err)
			}
			h := Hop{App: tt.app, Headers: wsa.Headers{MessageID: tt.appID}, Upstream: tt.upstream}
			if err := h.Response(m); err != nil {
				t.Fatal(err)
			}
			out := m.Bytes(nil)
			if bytes.Contains(out, []byte(wsse)) {
				t.Errorf("the service's Security header reached the application:\n%s", out)
			}
			testkit.Golden(t, out)
		})
	}
}
