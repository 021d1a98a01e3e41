package outbound_test

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/renewal"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wssc"
)

// These tests attack the establishment backoff through the listener: a
// failure to establish a context, with or without a context before it,
// holds every request until the next attempt, so that N requests make one
// attempt, not N.

// waves posts n echo requests to the proxy in waves of five concurrent
// requests and returns the answers.
func waves(app *appClient, base string, n int) []reply {
	out := make([]reply, n)
	for i := 0; i < n; i += 5 {
		var wg sync.WaitGroup
		for j := i; j < min(i+5, n); j++ {
			wg.Go(func() {
				out[j] = app.post(base+"/", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("burst")))
			})
		}
		wg.Wait()
	}
	return out
}

// TestWrongPasswordOneLogin: with a wrong password, 20 application
// requests make one Issue (one failed login at the STS, not 20: an
// AD-backed service locks the account after a few), every request gets a
// fault naming the endpoint and the STS's refusal, those after the first
// say they were not tried again and when the next attempt is, and an authentication failure waits
// longer than the first backoff window (1 s to 5 s by default).
func TestWrongPasswordOneLogin(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, scserver.Config{})
	px := startProxy(t, outbound.Config{Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool(),
		Bootstrap: session.Username{User: testUser, Password: creds.NewSecret("not-the-password")}})
	app := newApp(t)
	answers := waves(app, px.base, 20)
	if n := up.issues(); n != 1 {
		t.Errorf("the STS received %d Issue requests (failed logins) for 20 requests, want 1", n)
	}
	held := 0
	for _, a := range answers {
		f := wantProxyFault(t, a, soap.V11, http.StatusBadGateway, outbound.CodeNoContext, "Echo.svc", "FailedAuthentication")
		if f != nil && strings.Contains(f.Reason, "not tried again") {
			held++
			wantProxyFault(t, a, soap.V11, http.StatusBadGateway, outbound.CodeNoContext, "1 attempt(s) failed, the next is at")
		}
	}
	if held < 15 {
		t.Errorf("%d of 20 requests held without an attempt, want the 15 after the first wave at least", held)
	}
	st := px.p.Status().Endpoints
	if len(st) != 1 || st[0].State != session.StateFailing {
		t.Fatalf("status %+v, want one failing endpoint", st)
	}
	if wait := st[0].RetryAt.Sub(st[0].LastErrorAt); wait < 20*time.Second {
		t.Errorf("next attempt %v after a refused login, want an authentication failure to wait 20 s at least", wait)
	}
}

// TestRecycleDuringOutageOneIssue: the service recycles (forgets the
// context) while its STS is down: 20 requests meet BadContextToken or
// the hold, and make one Issue between them, not 21.
func TestRecycleDuringOutageOneIssue(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, scserver.Config{})
	px := startProxy(t, outbound.Config{Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool(),
		Renewal: renewal.Policy{Base: time.Minute}})
	app := newApp(t)
	wantEcho(t, app.post(px.base+"/", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("first"))), soap.V11, "first", false)
	up.setIntercept(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		if op, ok := trustOp(r.Header.Get("Content-Type"), r.Header.Get("SOAPAction")); ok && op == wssc.Issue {
			http.Error(w, "the STS is down", http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	if k := up.srv.ForgetAll(); k != 1 {
		t.Fatalf("ForgetAll dropped %d contexts, want 1", k)
	}
	before := up.issues()
	answers := waves(app, px.base, 20)
	if n := up.issues() - before; n != 1 {
		t.Errorf("%d Issue requests for 20 requests after a recycle during an STS outage, want 1", n)
	}
	for _, a := range answers {
		wantProxyFault(t, a, soap.V11, http.StatusBadGateway, outbound.CodeNoContext, "Echo.svc", "503")
	}
}

// waitRetry waits until every failing endpoint of px may try again: the
// time its status announces for the next attempt.
func waitRetry(t *testing.T, px *servingProxy) {
	t.Helper()
	for _, st := range px.p.Status().Endpoints {
		if st.State == session.StateFailing {
			time.Sleep(time.Until(st.RetryAt) + 10*time.Millisecond)
		}
	}
}

// lifetimeTimes finds the Created and Expires of an RSTR's Lifetime.
var lifetimeTimes = regexp.MustCompile(`(?s)(Lifetime>.*?Created>)[^<]*(<.*?Expires>)[^<]*(<)`)

// TestExpiredAtBirthRefused: an STS whose RSTR grants a context already
// expired (its clock hours behind), or expiring within the expiry margin,
// gets one Issue for 20 requests, not one per request: the context is
// refused as a failed establishment, named in the fault, and the backoff
// holds the requests that follow. No application message is sent with
// it, and nothing keeps re-issuing.
func TestExpiredAtBirthRefused(t *testing.T) {
	cases := []struct {
		name             string
		created, expires time.Duration // from now
	}{
		{"past", -2 * time.Hour, -time.Hour},
		{"within the margin", -20 * time.Minute, 2 * time.Minute},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, scserver.Config{})
			up.setIntercept(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
				if op, ok := trustOp(r.Header.Get("Content-Type"), r.Header.Get("SOAPAction")); !ok || op != wssc.Issue {
					return false
				}
				rec := httptest.NewRecorder()
				up.srv.ServeHTTP(rec, r)
				at := func(d time.Duration) string { return time.Now().Add(d).UTC().Format("2006-01-02T15:04:05.000Z") }
				body := lifetimeTimes.ReplaceAll(rec.Body.Bytes(), []byte("${1}"+at(c.created)+"${2}"+at(c.expires)+"${3}"))
				maps.Copy(w.Header(), rec.Header())
				w.WriteHeader(rec.Code)
				_, _ = w.Write(body)
				return true
			})
			px := startProxy(t, outbound.Config{Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool()})
			app := newApp(t)
			answers := waves(app, px.base, 20)
			if n := up.issues(); n != 1 {
				t.Errorf("%d Issue requests for 20 requests with contexts expired at birth, want 1", n)
			}
			if n := len(up.appOnly()); n != 0 {
				t.Errorf("%d application messages sent with an expired context, want none", n)
			}
			for _, a := range answers {
				wantProxyFault(t, a, soap.V11, http.StatusBadGateway, outbound.CodeNoContext, "Echo.svc", "expiring at", "clock")
			}
			st := px.p.Status().Endpoints
			if len(st) != 1 || st[0].State != session.StateFailing || st[0].Identifier != "" {
				t.Errorf("status %+v, want one failing endpoint holding no context", st)
			}
		})
	}
}
