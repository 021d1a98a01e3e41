package outbound_test

import (
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
)

// These tests check that a request is resent only for a fault that says,
// by its shape, that the service does not know the context: a service
// echoing WCF's words in a fault of its own gets a non-idempotent request
// once, never twice.

// faultOnce makes the upstream answer the first application message with
// the SOAP 1.2 fault envelope in file, as written, and the others itself.
func faultOnce(t *testing.T, up *upstreamRig, file string) {
	t.Helper()
	body, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	up.setIntercept(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		if _, ok := trustOp(r.Header.Get("Content-Type"), r.Header.Get("SOAPAction")); ok {
			return false
		}
		hit := false
		once.Do(func() {
			hit = true
			w.Header().Set("Content-Type", soap.MediaType12+"; charset=utf-8")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write(body)
		})
		return hit
	})
}

// TestEchoedFaultNotResent: a service's validation fault quoting "invalid
// or expired security context token" (its input echoed), unsecured
// without WS-Addressing, or secured under WCF's fault action, goes to the
// application as it is: the service sees the request once, and the
// context is kept (no new Issue).
func TestEchoedFaultNotResent(t *testing.T) {
	for _, file := range []string{"echo-validation-soap12.xml", "echo-validation-secured-soap12.xml"} {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, scserver.Config{})
			px := startProxy(t, outbound.Config{Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool(), SOAP: soap.V12})
			app := newApp(t)
			wantEcho(t, app.post(px.base+"/", soap.V12, echoAction, envelope(soap.V12, "", echoPayload("first"))), soap.V12, "first", false)
			faultOnce(t, up, "../wire/wssc/testdata/faults/"+file)
			before := len(up.appOnly())
			r := app.post(px.base+"/", soap.V12, echoAction, envelope(soap.V12, "", echoPayload("order")))
			if f := wantFault(t, r, soap.V12); f != nil && r.status != http.StatusInternalServerError {
				t.Errorf("the service's fault reached the application with HTTP %d, want 500", r.status)
			}
			if sent := len(up.appOnly()) - before; sent != 1 {
				t.Errorf("the service received the request %d times, want once (a fault of its own is never a reason to resend)", sent)
			}
			wantEcho(t, app.post(px.base+"/", soap.V12, echoAction, envelope(soap.V12, "", echoPayload("next"))), soap.V12, "next", false)
			if n := up.issues(); n != 1 {
				t.Errorf("%d Issue requests, want 1 (the context kept)", n)
			}
			if rs := px.p.Endpoints()[0].Stats().Resends; rs != 0 {
				t.Errorf("%d resends, want none", rs)
			}
		})
	}
}

// TestWCFUnknownContextFaultResent: WCF's faults for a context it does
// not know, as it writes them (BadContextToken, and the generic unsecured
// Sender fault under the WS-Addressing fault action), still make one new
// context and one resend.
func TestWCFUnknownContextFaultResent(t *testing.T) {
	for _, file := range []string{"../wire/soap/testdata/faults/wcf-badcontexttoken-soap12.xml", "../wire/wssc/testdata/faults/wcf-unknowntoken-soap12.xml"} {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, scserver.Config{})
			px := startProxy(t, outbound.Config{Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool(), SOAP: soap.V12})
			app := newApp(t)
			wantEcho(t, app.post(px.base+"/", soap.V12, echoAction, envelope(soap.V12, "", echoPayload("first"))), soap.V12, "first", false)
			faultOnce(t, up, file)
			before := len(up.appOnly())
			wantEcho(t, app.post(px.base+"/", soap.V12, echoAction, envelope(soap.V12, "", echoPayload("again"))), soap.V12, "again", false)
			if sent := len(up.appOnly()) - before; sent != 2 {
				t.Errorf("the service received the request %d times, want twice (faulted, resent)", sent)
			}
			if n := up.issues(); n != 2 {
				t.Errorf("%d Issue requests, want 2 (one re-establishment)", n)
			}
			if rs := px.p.Endpoints()[0].Stats().Resends; rs != 1 {
				t.Errorf("%d resends, want 1", rs)
			}
		})
	}
}

// answerUnsecuredFault answers with f as WCF sends a fault it cannot
// secure: no Security header, the WS-Addressing 1.0 fault action.
func answerUnsecuredFault(w http.ResponseWriter, contentType string, f *soap.Fault) {
	v := soap.V12
	if mt := strings.TrimSpace(strings.Split(contentType, ";")[0]); mt == soap.MediaType11 {
		v = soap.V11
	}
	env, err := f.Envelope(v)
	if err == nil {
		_, err = wsa.Headers{Action: wsa.V10.FaultAction()}.AddTo(env.EnsureHeader(), wsa.V10)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", v.MediaType()+"; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write(env.Bytes())
}
