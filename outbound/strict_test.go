package outbound_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
)

// TestStrictServiceRehearsal (what a newcomer hit): against the built-in
// server in strict mode (a WCF wsHttpBinding endpoint's rules), a SOAP
// 1.1 application proxied as it speaks gets a fault quoting the service's
// 415 and naming --soap-version 1.2 --addressing 1.0; one without
// WS-Addressing gets the STS's MessageAddressingHeaderRequired; a wrong path gets
// the 404 and the advice to check the URL; with the settings named, the
// same application is answered.
func TestStrictServiceRehearsal(t *testing.T) {
	up := newUpstream(t, scserver.Config{Strict: &scserver.Strict{SOAP: soap.V12, Paths: []string{"/Echo.svc"}}})
	app := newApp(t)
	request := envelope(soap.V11, "", echoPayload("rehearsal"))
	cases := []struct {
		name   string
		path   string
		soap   soap.Version
		wsa    outbound.Addressing
		status int
		words  []string
	}{
		{"as the application speaks", "/Echo.svc", 0, outbound.Addressing{Auto: true}, http.StatusBadGateway,
			[]string{"HTTP 415", "Cannot process the message because the content type", "--soap-version 1.2 --addressing 1.0"}},
		{"SOAP 1.2 without WS-Addressing", "/Echo.svc", soap.V12, outbound.Addressing{Version: wsa.None}, http.StatusBadGateway,
			[]string{"MessageAddressingHeaderRequired", "WS-Addressing 1.0"}},
		{"a path the service does not serve", "/Echo.svc/", soap.V12, outbound.Addressing{Version: wsa.V10}, http.StatusBadGateway,
			[]string{"HTTP 404", "check the upstream URL"}},
		{"the settings named", "/Echo.svc", soap.V12, outbound.Addressing{Version: wsa.V10}, http.StatusOK, []string{"rehearsal"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			px := startProxy(t, outbound.Config{RootCAs: up.pool(), SOAP: tc.soap, Addressing: tc.wsa,
				Routes: []outbound.Route{{Prefix: "/", Upstream: up.url(t, tc.path)}}})
			r := app.post(px.base+"/", soap.V11, "urn:echo", request)
			body := strings.ReplaceAll(r.body, "&#39;", "'")
			if r.status != tc.status {
				t.Errorf("HTTP %d, want %d: %s", r.status, tc.status, r.body)
			}
			for _, w := range tc.words {
				if !strings.Contains(body, w) {
					t.Errorf("the answer does not say %q:\n%s", w, r.body)
				}
			}
		})
	}
}
