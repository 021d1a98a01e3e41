package outbound_test

import (
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/outbound"
)

// TestUpstreamHTTPErrorExplained (what a newcomer hit): a service that
// answers a SOAP 1.1 message with WCF's 415 reaches the application as a
// fault carrying the service's own words and the settings that fix it.
func TestUpstreamHTTPErrorExplained(t *testing.T) {
	const said = "Cannot process the message because the content type 'text/xml; charset=utf-8' was not the expected type 'application/soap+xml; charset=utf-8'."
	svc := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusUnsupportedMediaType)
		_, _ = w.Write([]byte(said))
	}))
	defer svc.Close()
	u, err := url.Parse(svc.URL + "/Orders.svc")
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(svc.Certificate())
	px := startProxy(t, outbound.Config{Security: outbound.SecurityNone, RootCAs: roots, Routes: []outbound.Route{{Prefix: "/", Upstream: u}}})
	status, _, body := call(t, px.base+"/", "text/xml; charset=utf-8", `"urn:x"`,
		`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><x xmlns="urn:x"/></s:Body></s:Envelope>`)
	if status != http.StatusBadGateway {
		t.Errorf("HTTP %d, want 502", status)
	}
	unescaped := strings.ReplaceAll(body, "&#39;", "'")
	for _, w := range []string{"HTTP 415", said, "--soap-version 1.2 --addressing 1.0"} {
		if !strings.Contains(unescaped, w) {
			t.Errorf("the fault does not say %q:\n%s", w, body)
		}
	}
}
