package outbound_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
)

// messageID matches the MessageID scproxy makes up for an application that
// sent none: random, so the golden files hold a placeholder.
var messageID = regexp.MustCompile(`urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// TestGoldenBridgedEnvelope keeps the bytes of one bridged exchange
// through the proxy's public path: a SOAP 1.1 application request without
// WS-Addressing as the SOAP 1.2 + WS-Addressing 1.0 request the upstream
// receives (request.golden), and the upstream's SOAP 1.2 answer as the
// SOAP 1.1 answer the application gets back (answer.golden), each with
// its content type; the generated MessageID and the upstream's port are
// replaced by placeholders.
// Securing is off, so no clock or randomness other than the MessageID
// reaches the bytes; the secured header has its own golden files in
// wire/secure. go test -update rewrites them.
func TestGoldenBridgedEnvelope(t *testing.T) {
	var (
		mu       sync.Mutex
		received []byte
	)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		received = append([]byte("Content-Type: "+r.Header.Get("Content-Type")+"\n\n"), body...)
		mu.Unlock()
		id := messageID.Find(body)
		w.Header().Set("Content-Type", `application/soap+xml; charset=utf-8; action="`+echoAction+`Response"`)
		io.WriteString(w, `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing">`+
			`<s:Header><a:Action s:mustUnderstand="1">`+echoAction+`Response</a:Action><a:RelatesTo>`+string(id)+`</a:RelatesTo></s:Header>`+
			`<s:Body><EchoStringResponse xmlns="http://tempuri.org/"><EchoStringResult>a &amp; b</EchoStringResult></EchoStringResponse></s:Body></s:Envelope>`)
	}))
	t.Cleanup(up.Close)
	u, _ := url.Parse(up.URL + "/Echo.svc")
	p, err := outbound.New(outbound.Config{
		Routes: routes(u), Security: outbound.SecurityNone,
		SOAP: soap.V12, Addressing: outbound.Addressing{Version: wsa.V10},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Shutdown(context.Background()) })

	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(envelope(soap.V11, "", echoPayload("a &amp; b"))))
	req.Host = "127.0.0.1:8780"
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", `"`+echoAction+`"`)
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
	}
	mu.Lock()
	sent := messageID.ReplaceAll(bytes.ReplaceAll(received, []byte(up.URL), []byte("http://upstream.test")), []byte("urn:uuid:MESSAGE-ID"))
	mu.Unlock()
	if bytes.Equal(sent, received) {
		t.Errorf("the upstream received no generated MessageID:\n%s", received)
	}
	t.Run("request", func(t *testing.T) { testkit.Golden(t, sent) })
	t.Run("answer", func(t *testing.T) {
		testkit.Golden(t, append([]byte("Content-Type: "+rec.Header().Get("Content-Type")+"\n\n"), rec.Body.Bytes()...))
	})
}
