package scserver_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/wire/soap"
)

// TestStrictHTTP: a strict server answers a SOAP 1.1 request with WCF's
// 415 and its plain-text explanation, and a path other than its own with
// 404, before reading either; a non-strict one reads both.
func TestStrictHTTP(t *testing.T) {
	strict, err := scserver.New(scserver.Config{Addr: "127.0.0.1:0", Strict: &scserver.Strict{SOAP: soap.V12, Paths: []string{"/Echo.svc"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer strict.Close()
	lax, err := scserver.New(scserver.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer lax.Close()
	soap11 := `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>`
	cases := []struct {
		name   string
		srv    *scserver.Server
		path   string
		status int
		ct     string
		body   string
	}{
		{"SOAP 1.1 to a strict server", strict, "/Echo.svc", 415, "text/plain; charset=utf-8",
			"Cannot process the message because the content type 'text/xml; charset=utf-8' was not the expected type 'application/soap+xml; charset=utf-8'."},
		{"another path of a strict server", strict, "/Other.svc", 404, "text/plain; charset=utf-8", "There is no service at /Other.svc."},
		{"SOAP 1.1 to a lax server", lax, "/Other.svc", 500, "text/xml; charset=utf-8", "Fault"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, tc.path, strings.NewReader(soap11))
			req.Header.Set("Content-Type", "text/xml; charset=utf-8")
			req.Header.Set("SOAPAction", `"urn:x"`)
			rec := httptest.NewRecorder()
			tc.srv.ServeHTTP(rec, req)
			if rec.Code != tc.status || rec.Header().Get("Content-Type") != tc.ct || !strings.Contains(rec.Body.String(), tc.body) {
				t.Errorf("HTTP %d %q %q, want %d %q %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body, tc.status, tc.ct, tc.body)
			}
		})
	}
}
