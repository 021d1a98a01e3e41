package outbound_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// These tests drive the context lifecycle (renewal, recovery from the
// service's security faults, rollover, shutdown, status) through the real
// listener against the built-in server behind a real TLS listener.

// debugLogger logs everything, as JSON, to buf.
func debugLogger(buf *testkit.LogBuffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// burst posts n SOAP 1.1 EchoString requests at once, request i to
// base+paths[i%len(paths)] echoing tag-i.
func burst(app *appClient, base string, paths []string, n int, tag string) ([]reply, []error) {
	replies, errs := make([]reply, n), make([]error, n)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		req, err := newRequest(http.MethodPost, base+paths[i%len(paths)], soap.V11, echoAction, envelope(soap.V11, "", echoPayload(fmt.Sprintf("%s-%d", tag, i))))
		if err != nil {
			errs[i] = err
			continue
		}
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			replies[i], errs[i] = app.do(nil, req)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	return replies, errs
}

// wantEchoes checks that every request of a burst got its echo.
func wantEchoes(t *testing.T, replies []reply, errs []error, tag string) {
	t.Helper()
	for i := range replies {
		if errs[i] != nil {
			t.Errorf("request %s-%d: %v", tag, i, errs[i])
			continue
		}
		wantEcho(t, replies[i], soap.V11, fmt.Sprintf("%s-%d", tag, i), false)
	}
}

// answerFault makes w a SOAP fault f in the version of the request
// with contentType, as the service would send it.
func answerFault(w http.ResponseWriter, contentType string, f *soap.Fault) {
	v := soap.V12
	if mt := strings.TrimSpace(strings.Split(contentType, ";")[0]); mt == soap.MediaType11 {
		v = soap.V11
	}
	env, err := f.Envelope(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", v.MediaType()+"; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write(env.Bytes())
}

// TestRenewNeededConcurrentRenewsOnce: 64 requests meet RenewNeeded at
// once (the key has protected its 64 messages). One renewal serves them
// all, every one gets its answer, each is resent at most once.
func TestRenewNeededConcurrentRenewsOnce(t *testing.T) {
	for _, sc := range wssc.Versions {
		t.Run(strings.ReplaceAll(sc.String(), " ", ""), func(t *testing.T) {
			t.Parallel()
			const n = 64
			up := newUpstream(t, scserver.Config{Versions: []wssc.Version{sc}, Script: scserver.Script{RenewAfterMessages: n}})
			px := startProxy(t, outbound.Config{Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool(), SC: sc})
			app := newApp(t)
			replies, errs := burst(app, px.base, []string{"/"}, n, "warm")
			wantEchoes(t, replies, errs, "warm")

			before := len(up.appOnly())
			replies, errs = burst(app, px.base, []string{"/"}, n, "hot")
			wantEchoes(t, replies, errs, "hot")
			st := up.srv.Stats()
			ep := px.p.Endpoints()[0].Stats()
			sent := len(up.appOnly()) - before
			if st.Renewed != 1 || len(up.ops(wssc.Renew)) != 1 {
				t.Errorf("scserver renewed %d times on %d Renew requests, want one", st.Renewed, len(up.ops(wssc.Renew)))
			}
			if st.Issued != 1 {
				t.Errorf("scserver issued %d contexts, want 1", st.Issued)
			}
			faults := st.Faults["RenewNeeded"]
			if faults == 0 {
				t.Errorf("no request met RenewNeeded: the test did not test anything (faults %v)", st.Faults)
			}
			if rs := ep.Resends; rs != int64(faults) || rs > n {
				t.Errorf("%d resends for %d RenewNeeded faults, want as many, at most %d", rs, faults, n)
			}
			if sent != n+faults || sent > 2*n {
				t.Errorf("the upstream received %d application messages for %d requests and %d faults, want %d (at most %d)", sent, n, faults, n+faults, 2*n)
			}
			if ep.Renewals != 1 || ep.Establishes != 1 {
				t.Errorf("endpoint counted %d renewals and %d establishments, want 1 and 1", ep.Renewals, ep.Establishes)
			}
			t.Logf("%d of %d requests met RenewNeeded; one renewal; %d application messages upstream", faults, n, sent)
		})
	}
}

// TestRecycleConcurrentOneIssue: the service forgets its contexts (an IIS
// recycle) and 16 requests then meet BadContextToken together: one new
// context is issued for all of them, and all succeed.
func TestRecycleConcurrentOneIssue(t *testing.T) {
	t.Parallel()
	const n = 16
	up := newUpstream(t, scserver.Config{})
	px := startProxy(t, outbound.Config{Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool()})
	app := newApp(t)
	wantEcho(t, app.post(px.base+"/", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("first"))), soap.V11, "first", false)
	if k := up.srv.ForgetAll(); k != 1 {
		t.Fatalf("ForgetAll dropped %d contexts, want 1", k)
	}
	before := len(up.appOnly())
	replies, errs := burst(app, px.base, []string{"/"}, n, "recycled")
	wantEchoes(t, replies, errs, "recycled")
	st := up.srv.Stats()
	ep := px.p.Endpoints()[0].Stats()
	if st.Issued != 2 || up.issues() != 2 {
		t.Errorf("scserver issued %d contexts on %d Issue requests, want 2 (one after the recycle)", st.Issued, up.issues())
	}
	faults := st.Faults["BadContextToken"]
	if faults == 0 || ep.Resends != int64(faults) {
		t.Errorf("%d BadContextToken faults, %d resends: want some, as many resends", faults, ep.Resends)
	}
	if sent := len(up.appOnly()) - before; sent != n+faults {
		t.Errorf("the upstream received %d application messages, want %d (each rejected one resent once)", sent, n+faults)
	}
	if len(up.ops(wssc.Renew)) != 0 {
		t.Errorf("%d Renew requests for an unknown context, want none", len(up.ops(wssc.Renew)))
	}
}

// TestWCFContextFaultsReestablish: WCF's ways of saying it does not know
// the context (SecuritySessionAborted, and an unsecured sender fault about
// an "invalid or expired security context token" under the WS-Addressing
// fault action) are answered like
// BadContextToken: one new context, the request resent once.
func TestWCFContextFaultsReestablish(t *testing.T) {
	cases := []struct {
		name  string
		fault *soap.Fault
	}{
		{"SecuritySessionAborted", soap.NewFault(soap.Sender, "The security session was terminated",
			xmldoc.Name{Space: wssc.NSDotNetSecurity, Local: "SecuritySessionAborted"})},
		{"unsecured-invalid-token", soap.NewFault(soap.Sender, "The message could not be processed. This is most likely because the action "+
			"'"+echoAction+"' is incorrect or because the message contains an invalid or expired security context token "+
			"or because there is a mismatch between bindings.")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			wantResentOnceAfter(t, func(w http.ResponseWriter, contentType string) { answerUnsecuredFault(w, contentType, c.fault) })
		})
	}
}

// TestUnrenewableServer: a service whose STS refuses every Renew
// (wsc:UnableToRenew) still serves the request that met RenewNeeded: the
// proxy issues a new context instead and resends. In Reissue mode no Renew
// is ever sent.
func TestUnrenewableServer(t *testing.T) {
	t.Run("refuses-renew", func(t *testing.T) {
		t.Parallel()
		up := newUpstream(t, scserver.Config{Script: scserver.Script{RenewAfterMessages: 1}})
		up.setIntercept(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
			if op, ok := trustOp(r.Header.Get("Content-Type"), r.Header.Get("SOAPAction")); !ok || op != wssc.Renew {
				return false
			}
			answerFault(w, r.Header.Get("Content-Type"), soap.NewFault(soap.Sender, "this service does not renew contexts", wssc.Feb2005.Fault(wssc.UnableToRenew)))
			return true
		})
		px := startProxy(t, outbound.Config{Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool()})
		app := newApp(t)
		wantEcho(t, app.post(px.base+"/", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("first"))), soap.V11, "first", false)
		wantEcho(t, app.post(px.base+"/", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("renew-needed"))), soap.V11, "renew-needed", false)
		st := up.srv.Stats()
		ep := px.p.Endpoints()[0].Stats()
		if st.Issued != 2 || st.Renewed != 0 {
			t.Errorf("scserver issued %d and renewed %d, want 2 and 0", st.Issued, st.Renewed)
		}
		if n := len(up.ops(wssc.Renew)); n != 1 {
			t.Errorf("%d Renew requests, want 1 (refused, then an Issue)", n)
		}
		if ep.RenewRefused != 1 || ep.Resends != 1 || ep.Establishes != 2 || ep.Renewals != 0 {
			t.Errorf("endpoint: %d refused, %d resends, %d establishments, %d renewals; want 1, 1, 2, 0",
				ep.RenewRefused, ep.Resends, ep.Establishes, ep.Renewals)
		}
	})
	t.Run("reissue-mode", func(t *testing.T) {
		t.Parallel()
		up := newUpstream(t, scserver.Config{Script: scserver.Script{RenewAfterMessages: 1}})
		px := startProxy(t, outbound.Config{Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool(), RenewMode: session.Reissue})
		app := newApp(t)
		for i := range 4 {
			text := fmt.Sprintf("m%d", i)
			wantEcho(t, app.post(px.base+"/", soap.V11, echoAction, envelope(soap.V11, "", echoPayload(text))), soap.V11, text, false)
		}
		st := up.srv.Stats()
		if n := len(up.ops(wssc.Renew)); n != 0 || st.Renewed != 0 {
			t.Errorf("%d Renew requests in Reissue mode, want none", n)
		}
		if st.Issued != 4 || st.Faults["RenewNeeded"] != 3 {
			t.Errorf("scserver issued %d contexts for %d RenewNeeded faults, want 4 and 3", st.Issued, st.Faults["RenewNeeded"])
		}
	})
}

// TestRolloverThenCancel: a context replaced by a new Issue while still
// valid stays usable for the rollover (200 ms here), then is cancelled;
// with KeepContexts it never is, not even at shutdown.
func TestRolloverThenCancel(t *testing.T) {
	const rollover = 200 * time.Millisecond
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("keep=%v", keep), func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, scserver.Config{Script: scserver.Script{RenewAfterMessages: 1}})
			if keep {
				t.Cleanup(func() { // runs after the proxy has shut down
					if n := up.srv.Stats().Cancelled; n != 0 {
						t.Errorf("%d contexts cancelled with KeepContexts, want none", n)
					}
				})
			}
			px := startProxy(t, outbound.Config{Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool(),
				RenewMode: session.Reissue, Rollover: rollover, KeepContexts: keep})
			app := newApp(t)
			wantEcho(t, app.post(px.base+"/", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("first"))), soap.V11, "first", false)
			old := px.p.Endpoints()[0].Current().Identifier()
			replaced := time.Now()
			wantEcho(t, app.post(px.base+"/", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("reissued"))), soap.V11, "reissued", false)
			if err := up.srv.SetScript(scserver.Script{}); err != nil {
				t.Fatal(err)
			}
			cur := px.p.Endpoints()[0].Current().Identifier()
			if cur == old {
				t.Fatalf("the context was not replaced")
			}
			if n := up.srv.Stats().Cancelled; n != 0 && time.Since(replaced) < rollover {
				t.Errorf("%d contexts cancelled before the rollover ended", n)
			}
			if keep {
				time.Sleep(3 * rollover)
				if n := len(up.ops(wssc.Cancel)); n != 0 {
					t.Errorf("%d Cancel requests with KeepContexts, want none", n)
				}
				return
			}
			deadline := time.Now().Add(5 * time.Second)
			for up.srv.Stats().Cancelled == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			st := up.srv.Stats()
			cancels := up.ops(wssc.Cancel)
			if st.Cancelled != 1 || len(cancels) != 1 {
				t.Fatalf("%d contexts cancelled on %d Cancel requests, want 1", st.Cancelled, len(cancels))
			}
			if after := cancels[0].at.Sub(replaced); after < rollover {
				t.Errorf("the replaced context was cancelled %v after its replacement began, before the %v rollover", after, rollover)
			}
			if !st.Contexts[old].Cancelled || st.Contexts[cur].Cancelled {
				t.Errorf("cancelled: old %v, current %v; want the old one only", st.Contexts[old].Cancelled, st.Contexts[cur].Cancelled)
			}
			wantEcho(t, app.post(px.base+"/", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("after"))), soap.V11, "after", false)
			t.Logf("replaced context cancelled %v after the request that replaced it began", cancels[0].at.Sub(replaced).Round(time.Millisecond))
		})
	}
}

// TestShutdown: with 64 slow requests in flight on two endpoints, ending
// Serve's context lets all of them finish, then cancels each endpoint's
// context (in parallel) unless KeepContexts; Serve returns within the
// shutdown timeout and a margin. A cancel that cannot reach the upstream
// is logged and does not hold Serve up. No log line carries the password.
func TestShutdown(t *testing.T) {
	const (
		n               = 64
		delay           = 500 * time.Millisecond
		shutdownTimeout = 3 * time.Second
		margin          = 2 * time.Second
	)
	cases := []struct {
		name         string
		keep         bool
		upstreamGone bool
	}{
		{"cancel", false, false},
		{"keep-contexts", true, false},
		{"upstream-gone", false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			logs := &testkit.LogBuffer{}
			up := newUpstream(t, scserver.Config{})
			sp := serveProxy(t, outbound.Config{
				Routes: []outbound.Route{
					{Prefix: "/a", Upstream: up.url(t, "/A.svc")},
					{Prefix: "/b", Upstream: up.url(t, "/B.svc")},
				},
				RootCAs: up.pool(), KeepContexts: c.keep, ShutdownTimeout: shutdownTimeout, Logger: debugLogger(logs),
			})
			app := newApp(t)
			paths := []string{"/a", "/b"}
			replies, errs := burst(app, sp.base, paths, 2, "warm")
			wantEchoes(t, replies, errs, "warm")

			var (
				took time.Duration
				err  error
			)
			if c.upstreamGone {
				up.stop()
				took, err = sp.stop()
			} else {
				if err := up.srv.SetScript(scserver.Script{Delay: delay}); err != nil {
					t.Fatal(err)
				}
				before := up.count()
				done := make(chan struct{})
				go func() {
					defer close(done)
					replies, errs = burst(app, sp.base, paths, n, "slow")
				}()
				deadline := time.Now().Add(10 * time.Second)
				for up.count()-before < n && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
				}
				if got := up.count() - before; got < n {
					t.Fatalf("only %d of %d requests reached the upstream", got, n)
				}
				took, err = sp.stop()
				<-done
				wantEchoes(t, replies, errs, "slow")
			}
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
			if took > shutdownTimeout+margin {
				t.Errorf("Serve returned %v after the cancel, want within %v", took, shutdownTimeout+margin)
			}

			st := up.srv.Stats()
			cancels := up.ops(wssc.Cancel)
			eps := sp.p.Endpoints()
			switch {
			case c.keep:
				if st.Cancelled != 0 || len(cancels) != 0 {
					t.Errorf("%d contexts cancelled with KeepContexts, want none", st.Cancelled)
				}
			case c.upstreamGone:
				if got := strings.Count(logs.String(), "security context not cancelled"); got != len(paths) {
					t.Errorf("%d failed cancels logged, want %d:\n%s", got, len(paths), logs)
				}
				for _, ep := range eps {
					if ep.Stats().CancelFailures != 1 {
						t.Errorf("%s: %d cancel failures, want 1", ep.URL(), ep.Stats().CancelFailures)
					}
				}
			default:
				if st.Cancelled != len(paths) || len(cancels) != len(paths) {
					t.Fatalf("%d contexts cancelled on %d Cancel requests, want %d (one per endpoint)", st.Cancelled, len(cancels), len(paths))
				}
				if a, b := cancels[0], cancels[1]; !(a.at.Before(b.done) && b.at.Before(a.done)) {
					t.Errorf("the cancels ran one after the other (%v–%v, %v–%v), want in parallel",
						a.at.Format("15:04:05.000"), a.done.Format("15:04:05.000"), b.at.Format("15:04:05.000"), b.done.Format("15:04:05.000"))
				}
				for _, es := range sp.p.Status().Endpoints {
					if es.Cancels != 1 || es.State != session.StateClosed || es.Requests != 1+n/2 {
						t.Errorf("status after shutdown: %+v; want closed, 1 cancel, %d requests", es, 1+n/2)
					}
				}
			}
			if len(eps) != len(paths) {
				t.Errorf("%d endpoints, want %d", len(eps), len(paths))
			}
			out := logs.String()
			if strings.Contains(out, testPassword) {
				t.Errorf("the password is in the log:\n%s", out)
			}
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				if !json.Valid([]byte(line)) {
					t.Errorf("log line is not JSON: %s", line)
				}
			}
			t.Logf("Serve returned %v after the cancel; %d contexts cancelled", took.Round(time.Millisecond), st.Cancelled)
		})
	}
}

// TestStatus: the status (Proxy.Status and GET on the status path) shows
// the context in use, the next renewal, counters matching what happened
// and, after a failed renewal, the error; never the password.
func TestStatus(t *testing.T) {
	t.Parallel()
	logs := &testkit.LogBuffer{}
	up := newUpstream(t, scserver.Config{Script: scserver.Script{RenewAfterMessages: 2}})
	endpoint := up.url(t, "/Echo.svc").String()
	sp := serveProxy(t, outbound.Config{Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool(), Logger: debugLogger(logs)})
	app := newApp(t)
	post := func(text string) reply {
		return app.post(sp.base+"/", soap.V11, echoAction, envelope(soap.V11, "", echoPayload(text)))
	}
	// Two messages on the first key, the third meets RenewNeeded: one
	// renewal, one resend.
	for i := range 3 {
		text := fmt.Sprintf("m%d", i)
		wantEcho(t, post(text), soap.V11, text, false)
	}
	cur := sp.p.Endpoints()[0].Current()
	got := fetchStatus(t, app, sp.base)
	for _, st := range []outbound.Status{sp.p.Status(), got} {
		if len(st.Endpoints) != 1 {
			t.Fatalf("status lists %d endpoints, want 1: %+v", len(st.Endpoints), st)
		}
		es := st.Endpoints[0]
		if es.Endpoint != endpoint || es.State != session.StateActive || es.Identifier != cur.Identifier() || !es.Expires.Equal(cur.Expires) {
			t.Errorf("status %+v; want %s active with %s until %v", es, endpoint, cur.Identifier(), cur.Expires)
		}
		if !es.NextRenewal.After(time.Now()) || !es.NextRenewal.Before(cur.Expires) {
			t.Errorf("next renewal %v, want in the future, before expiry %v", es.NextRenewal, cur.Expires)
		}
		if es.Requests != 3 || es.Establishes != 1 || es.Renewals != 1 || es.Resends != 1 || es.Cancels != 0 || es.Failures != 0 || es.LastError != "" {
			t.Errorf("counters %+v; want 3 requests, 1 establishment, 1 renewal, 1 resend, no cancel, no failure", es)
		}
	}

	// The STS starts answering 503; the next RenewNeeded cannot be served.
	up.setIntercept(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		if op, ok := trustOp(r.Header.Get("Content-Type"), r.Header.Get("SOAPAction")); !ok || op != wssc.Renew {
			return false
		}
		http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
		return true
	})
	wantEcho(t, post("m3"), soap.V11, "m3", false)
	r := post("m4")
	wantProxyFault(t, r, soap.V11, http.StatusBadGateway, outbound.CodeNoContext, endpoint, "503")
	raw := fetchStatusRaw(t, app, sp.base)
	var st outbound.Status
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		t.Fatalf("status is not JSON: %v\n%s", err, raw)
	}
	es := st.Endpoints[0]
	if es.State != session.StateFailing || !strings.Contains(es.LastError, "503") || !strings.Contains(es.LastError, endpoint) || es.LastErrorAt.IsZero() || es.Failures < 1 {
		t.Errorf("status after a failed renewal: %+v; want failing, the 503 naming %s as last error", es, endpoint)
	}
	if es.RetryAt.IsZero() {
		t.Errorf("status after a failed renewal has no retry time: %+v", es)
	}
	for _, key := range []string{`"state": "failing"`, `"identifier"`, `"expires"`, `"next_renewal"`, `"last_error"`, `"requests": 5`, `"renewals": 1`, `"resends": 1`} {
		if !strings.Contains(raw, key) {
			t.Errorf("status JSON lacks %s:\n%s", key, raw)
		}
	}
	if strings.Contains(raw, testPassword) {
		t.Errorf("the status shows the password:\n%s", raw)
	}
	if _, err := sp.stop(); err != nil {
		t.Errorf("Serve: %v", err)
	}
	if strings.Contains(logs.String(), testPassword) {
		t.Errorf("the password is in the log:\n%s", logs)
	}
}

// fetchStatusRaw reads the status path of the proxy at base.
func fetchStatusRaw(t *testing.T, app *appClient, base string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+outbound.StatusPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := app.send(req)
	if r.status != http.StatusOK || mediaType(r.header) != "application/json" {
		t.Fatalf("GET %s: HTTP %d %q\n%s", outbound.StatusPath, r.status, r.header.Get("Content-Type"), r.body)
	}
	return r.body
}

func fetchStatus(t *testing.T, app *appClient, base string) outbound.Status {
	t.Helper()
	raw := fetchStatusRaw(t, app, base)
	var st outbound.Status
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		t.Fatalf("status is not JSON: %v\n%s", err, raw)
	}
	if strings.Contains(raw, testPassword) {
		t.Errorf("the status shows the password:\n%s", raw)
	}
	return st
}

// TestResendOnlyOnce: a service that answers RenewNeeded to every message
// gets the request twice (the original, the resend after one renewal);
// the second fault reaches the application as the service sent it.
func TestResendOnlyOnce(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, scserver.Config{})
	px := startProxy(t, outbound.Config{Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool()})
	app := newApp(t)
	wantEcho(t, app.post(px.base+"/", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("first"))), soap.V11, "first", false)
	up.setIntercept(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		if _, ok := trustOp(r.Header.Get("Content-Type"), r.Header.Get("SOAPAction")); ok {
			return false
		}
		answerFault(w, r.Header.Get("Content-Type"), soap.NewFault(soap.Sender, "renew, always", wssc.Feb2005.Fault(wssc.RenewNeeded)))
		return true
	})
	before := len(up.appOnly())
	r := app.post(px.base+"/", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("again")))
	if sent := len(up.appOnly()) - before; sent != 2 {
		t.Errorf("the upstream received the request %d times, want twice", sent)
	}
	if f := wantFault(t, r, soap.V11); f != nil && (!f.Has(wssc.Feb2005.Fault(wssc.RenewNeeded)) || f.Reason != "renew, always") {
		t.Errorf("the application got %v %v %q, want the service's RenewNeeded", f.Code, f.Subcodes, f.Reason)
	}
	if st := up.srv.Stats(); st.Renewed != 1 {
		t.Errorf("scserver renewed %d times, want 1", st.Renewed)
	}
	if rs := px.p.Endpoints()[0].Stats().Resends; rs != 1 {
		t.Errorf("%d resends, want 1", rs)
	}
}

// wantResentOnceAfter: once the service has accepted a message, it
// answers the next one with answer, once; the proxy establishes one new
// context, resends once, and the application gets its echo.
func wantResentOnceAfter(t *testing.T, answer func(w http.ResponseWriter, contentType string)) {
	t.Helper()
	up := newUpstream(t, scserver.Config{})
	px := startProxy(t, outbound.Config{Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool()})
	app := newApp(t)
	wantEcho(t, app.post(px.base+"/", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("first"))), soap.V11, "first", false)
	var once sync.Once
	up.setIntercept(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		if _, ok := trustOp(r.Header.Get("Content-Type"), r.Header.Get("SOAPAction")); ok {
			return false
		}
		hit := false
		once.Do(func() { hit = true; answer(w, r.Header.Get("Content-Type")) })
		return hit
	})
	before := len(up.appOnly())
	wantEcho(t, app.post(px.base+"/", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("again"))), soap.V11, "again", false)
	if sent := len(up.appOnly()) - before; sent != 2 {
		t.Errorf("the upstream received the request %d times, want twice (faulted, resent)", sent)
	}
	if st := up.srv.Stats(); st.Issued != 2 {
		t.Errorf("scserver issued %d contexts, want 2", st.Issued)
	}
	if rs := px.p.Endpoints()[0].Stats().Resends; rs != 1 {
		t.Errorf("%d resends, want 1", rs)
	}
}
