package outbound_test

import (
	"net/http"
	"testing"

	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// TestSecurityFaultOnAcceptedContext: a service that forgot its contexts
// and says so with a security fault instead of BadContextToken (wsse:
// FailedCheck, or the generic SecurityError a WSS4J service sends by
// default) gets a new context and the request once more, when the context
// had been accepted before; the same fault on the first request with a
// context reaches the application, and nothing is re-established.
func TestSecurityFaultOnAcceptedContext(t *testing.T) {
	cases := []struct {
		name  string
		fault *soap.Fault
	}{
		{"wsse-FailedCheck", soap.NewFault(soap.Sender, "The signature or decryption was invalid",
			xmldoc.Name{Space: wss.NSWSSE, Local: "FailedCheck"})},
		{"wss4j-SecurityError", soap.NewFault(soap.Sender, "A security error was encountered when verifying the message",
			xmldoc.Name{Space: "http://ws.apache.org/wss4j", Local: "SecurityError"})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			wantResentOnceAfter(t, func(w http.ResponseWriter, contentType string) { answerFault(w, contentType, c.fault) })
		})
	}
	t.Run("never-accepted", func(t *testing.T) {
		t.Parallel()
		up := newUpstream(t, scserver.Config{})
		up.setIntercept(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
			if _, ok := trustOp(r.Header.Get("Content-Type"), r.Header.Get("SOAPAction")); ok {
				return false
			}
			answerFault(w, r.Header.Get("Content-Type"), cases[0].fault)
			return true
		})
		px := startProxy(t, outbound.Config{Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool()})
		app := newApp(t)
		for range 3 {
			resp := app.post(px.base+"/", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("refused")))
			if resp.status != http.StatusInternalServerError {
				t.Fatalf("HTTP %d, want the service's fault (500): %s", resp.status, resp.body)
			}
		}
		if st := up.srv.Stats(); st.Issued != 1 {
			t.Errorf("scserver issued %d contexts, want 1: a context never accepted is not replaced", st.Issued)
		}
		if rs := px.p.Endpoints()[0].Stats().Resends; rs != 0 {
			t.Errorf("%d resends, want 0", rs)
		}
	})
}
