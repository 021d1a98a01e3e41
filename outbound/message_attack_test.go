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
// in clear. The message profile acts on such a fault as WCF's service
// sends it (renew, re-sign, resend once: docs/internals.md), so the
// service runs the operation a second time, under a new MessageID and
// Timestamp its replay detection cannot catch. Whether a fault nobody
// signed may cause a resend is the product's decision (WCF's client
// surfaces the fault and resends nothing); until it is taken this test
// documents the attack and is skipped.
func TestMessageAttackClearFaultDuplicatesOperation(t *testing.T) {
	t.Skip("limitation: a fault in clear (RenewNeeded, BadContextToken) is resent after, though it may replace an answer to a request the service has run")
	u := newMessageUpstream(t, scserver.MessageSecurity{DerivedKeys: true}, scserver.Script{})
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
	sp := serveProxy(t, messageProxyConfig(t, u, true, 0))
	newApp(t).post(sp.base+"/", soap.V11, echoAction, soap11Req)
	if n := runs.Load(); n != 1 {
		t.Fatalf("the service ran the application's request %d times after a fault nobody signed", n)
	}
}
