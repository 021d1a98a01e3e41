package outbound_test

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
)

// An application that addresses its requests itself with one MessageID
// (a template copied from a sample): an attacker on the network path
// answers its second request with the service's answer to the first, a
// message the service protected, fresh and relating to that MessageID.
// Each message goes out with a MessageID of the proxy's own, so the
// replayed answer relates to another request and is refused; the genuine
// answer reaches the application relating to the MessageID it sent.
func TestMessageAttackReplayedAnswerToApplicationMessageID(t *testing.T) {
	const appID = "urn:uuid:7c1a4a8e-2b0f-4c1e-9d7a-0c5b6f3e8a01"
	for _, tc := range []struct {
		name string
		addr wsa.Version // upstream addressing; the application's is 1.0
	}{{"kept addressing", wsa.V10}, {"addressing bridged to August 2004", wsa.V200408}} {
		t.Run(tc.name, func(t *testing.T) {
			u := newMessageUpstream(t, scserver.MessageSecurity{DerivedKeys: true}, scserver.Script{})
			var mu sync.Mutex
			var first []byte
			replay := false
			u.setTamper(func(r *http.Request, resp []byte) []byte {
				if !application(r) {
					return resp
				}
				mu.Lock()
				defer mu.Unlock()
				if first == nil {
					first = resp
				}
				if replay {
					return first
				}
				return resp
			})
			cfg := messageProxyConfig(t, u, true, 0)
			cfg.Addressing = outbound.Addressing{Version: tc.addr}
			sp := serveProxy(t, cfg)
			app := newApp(t)
			req := func(word string) string {
				return `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:a="http://www.w3.org/2005/08/addressing"><s:Header><a:Action s:mustUnderstand="1">` + echoAction +
					`</a:Action><a:MessageID>` + appID + `</a:MessageID></s:Header><s:Body><EchoString xmlns="http://tempuri.org/"><echo>` + word + `</echo></EchoString></s:Body></s:Envelope>`
			}
			r := app.post(sp.base+"/", soap.V11, echoAction, req("transfer-100"))
			if r.status != http.StatusOK || !strings.Contains(r.body, "transfer-100") || !strings.Contains(r.body, ">"+appID+"</") || !strings.Contains(r.body, "RelatesTo") {
				t.Fatalf("the genuine answer: %d %s; want it relating to the application's MessageID", r.status, r.body)
			}
			mu.Lock()
			replay = true
			mu.Unlock()
			r = app.post(sp.base+"/", soap.V11, echoAction, req("balance"))
			if r.status != http.StatusBadGateway || strings.Contains(r.body, "transfer-100") || !strings.Contains(r.body, "relates to") {
				t.Fatalf("the replayed answer: %d %s; want it refused", r.status, r.body)
			}
		})
	}
}

// An attacker on the network path, holding no key, replaces the
// service's genuine answer (the operation done) with a RenewNeeded fault
// in clear. Resending after it would run the operation a second time,
// under a new MessageID and Timestamp the service's replay detection
// cannot catch; so over plain HTTP the request is not resent: the
// application gets a fault saying so, and the next request a new
// context. An operator may choose the resend
// (MessageSecurity.ResendAfterClearFault); over HTTPS nobody on the path
// can send the fault, and the request is resent.
func TestMessageAttackClearFaultDuplicatesOperation(t *testing.T) {
	for _, tc := range []struct {
		name      string
		tls, opt  bool
		wantRuns  int32
		wantCode  int
		wantInApp string
	}{
		{"plain HTTP", false, false, 1, http.StatusBadGateway, "was not resent"},
		{"plain HTTP, resend chosen", false, true, 2, http.StatusOK, "hello"},
		{"HTTPS", true, false, 2, http.StatusOK, "hello"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := startMessageUpstream(t, scserver.MessageSecurity{DerivedKeys: true}, scserver.Script{}, tc.tls)
			var swapped atomic.Bool
			var runs atomic.Int32 // application requests the service answered
			u.setTamper(func(r *http.Request, resp []byte) []byte {
				if !application(r) {
					return resp
				}
				runs.Add(1)
				if swapped.CompareAndSwap(false, true) {
					return []byte(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode xmlns:c="http://schemas.xmlsoap.org/ws/2005/02/sc">c:RenewNeeded</faultcode><faultstring>renew</faultstring></s:Fault></s:Body></s:Envelope>`)
				}
				return resp
			})
			cfg := messageProxyConfig(t, u, true, 0)
			cfg.Message.ResendAfterClearFault = tc.opt
			sp := serveProxy(t, cfg)
			app := newApp(t)
			r := app.post(sp.base+"/", soap.V11, echoAction, soap11Req)
			if n := runs.Load(); n != tc.wantRuns || r.status != tc.wantCode || !strings.Contains(r.body, tc.wantInApp) {
				t.Fatalf("the service ran the request %d times (want %d); the application got %d %s", n, tc.wantRuns, r.status, r.body)
			}
			if r := app.post(sp.base+"/", soap.V11, echoAction, soap11Req); r.status != http.StatusOK || !strings.Contains(r.body, "hello") {
				t.Fatalf("the next request: %d %s", r.status, r.body)
			}
			// The fault replaced the context either way: renewed in
			// place before a resend, dropped for a new one otherwise.
			if st := u.srv.Stats(); st.Issued+st.Renewed != 2 {
				t.Fatalf("issued %d renewed %d, want a second context or key", st.Issued, st.Renewed)
			}
		})
	}
}
