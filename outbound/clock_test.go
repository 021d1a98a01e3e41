package outbound

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/scproxy/scproxy/credcache"
	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/renewal"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// These tests run the proxy against the built-in server in memory inside
// a testing/synctest bubble: time is fake, so hours of renewals take
// milliseconds, and every instant they report is exact.

const clockPassword = "canary-clock-Pa55-91c2"

// trustCall is one WS-Trust request that reached the in-memory upstream.
type trustCall struct {
	at   time.Time
	path string
	op   wssc.Operation
	down bool // refused because the STS was down
}

// memUpstream is the built-in server answering in memory, no sockets. Its
// STS (the WS-Trust actions) can be taken down while application messages
// still go through, as when only the token service of a farm is broken.
type memUpstream struct {
	srv *scserver.Server

	mu         sync.Mutex
	down       bool
	downStatus int // 0: the call fails at once; stsHangs: it hangs; else this HTTP status
	trust      []trustCall
}

func newMemUpstream(t *testing.T, cfg scserver.Config) *memUpstream {
	t.Helper()
	cfg.PlainHTTP = true
	cfg.Users = map[string]string{"u": clockPassword}
	srv, err := scserver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &memUpstream{srv: srv}
}

// setDown takes the STS down (status 0: no answer at all) or, with down
// false, brings it back.
func (m *memUpstream) setDown(down bool, status int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.down, m.downStatus = down, status
}

func (m *memUpstream) calls() []trustCall {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]trustCall(nil), m.trust...)
}

// trustOperation tells a WS-Trust request by its action.
func trustOperation(r *http.Request) (wssc.Operation, bool) {
	_, action, err := soap.ActionFromHTTP(r.Header.Get("Content-Type"), r.Header.Get("SOAPAction"))
	if err != nil {
		return 0, false
	}
	for _, v := range wssc.Versions {
		for _, op := range []wssc.Operation{wssc.Issue, wssc.Renew, wssc.Cancel} {
			if action == v.Action(op) {
				return op, true
			}
		}
	}
	return 0, false
}

func (m *memUpstream) RoundTrip(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	if op, ok := trustOperation(r); ok {
		m.mu.Lock()
		down, status := m.down, m.downStatus
		m.trust = append(m.trust, trustCall{at: time.Now(), path: r.URL.Path, op: op, down: down})
		m.mu.Unlock()
		if down && status == stsHangs {
			<-r.Context().Done() // a black hole: the caller's deadline ends the call
			return nil, r.Context().Err()
		}
		if down && status == 0 {
			return nil, errors.New("connection refused (the STS is down)")
		}
		if down {
			return &http.Response{
				StatusCode: status, Header: http.Header{"Content-Type": {"text/plain; charset=utf-8"}},
				Body: io.NopCloser(strings.NewReader("Service Unavailable")), Request: r,
			}, nil
		}
	}
	in := r.Clone(r.Context())
	in.Body = io.NopCloser(bytes.NewReader(body))
	rec := httptest.NewRecorder()
	m.srv.ServeHTTP(rec, in)
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

// newClockProxy returns a proxy whose upstream is up, in memory. Without
// routes, "/" goes to https://svc.example/Echo.svc.
func newClockProxy(t *testing.T, up *memUpstream, cfg Config) *Proxy {
	t.Helper()
	if cfg.Routes == nil {
		cfg.Routes = []Route{{Prefix: "/", Upstream: mustURL(t, "https://svc.example/Echo.svc")}}
	}
	if cfg.SC == (wssc.Version{}) {
		cfg.SC = wssc.Feb2005
	}
	cfg.Bootstrap = session.Username{User: "u", Password: creds.NewSecret(clockPassword)}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.client = upstream.New(upstream.Config{Transport: up})
	return p
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// clockPost sends an EchoString request carrying text to path, as an
// application would, and returns the answer.
func clockPost(p *Proxy, path, text string) *httptest.ResponseRecorder {
	body := `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><EchoString xmlns="http://tempuri.org/"><echo>` +
		text + `</echo></EchoString></s:Body></s:Envelope>`
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Host = "127.0.0.1:8780"
	r.Header.Set("Content-Type", "text/xml; charset=utf-8")
	r.Header.Set("SOAPAction", `"http://tempuri.org/IEchoService/EchoString"`)
	w := httptest.NewRecorder()
	p.ServeHTTP(w, r)
	return w
}

// echoed reports whether w is a successful answer echoing text.
func echoed(w *httptest.ResponseRecorder, text string) bool {
	b := w.Body.String()
	return w.Code == http.StatusOK && strings.Contains(b, "EchoStringResponse") && strings.Contains(b, "<echo>"+text+"</echo>")
}

// shutdown stops the proxy's renewal loops, as every bubble must before
// it ends.
func shutdown(t *testing.T, p *Proxy) {
	t.Helper()
	p.Shutdown(t.Context())
}

// TestClockRenewsInsideJitterWindow: with a 10-minute lifetime, every
// renewal reaches the STS between 5m30s (60% less the 5% jitter) and 6m
// after the context was established or last renewed, at the instant the
// status announced as the next renewal; each endpoint draws its own
// jitter.
func TestClockRenewsInsideJitterWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up := newMemUpstream(t, scserver.Config{Lifetime: 10 * time.Minute})
		paths := []string{"/A.svc", "/B.svc", "/C.svc"}
		var rs []Route
		for i, path := range paths {
			rs = append(rs, Route{Prefix: fmt.Sprintf("/%d", i), Upstream: mustURL(t, "https://svc.example"+path)})
		}
		p := newClockProxy(t, up, Config{Routes: rs})
		defer shutdown(t, p)

		for i := range paths {
			if w := clockPost(p, fmt.Sprintf("/%d", i), "first"); !echoed(w, "first") {
				t.Fatalf("first request on route %d: HTTP %d\n%s", i, w.Code, w.Body)
			}
		}
		synctest.Wait()
		planned := map[string]time.Time{}
		for _, st := range p.Status().Endpoints {
			planned[st.Endpoint] = st.NextRenewal
		}

		time.Sleep(61 * time.Minute)
		synctest.Wait()
		lo, hi := time.Duration(1<<62), time.Duration(0)
		renews := 0
		for _, path := range paths {
			var seen []trustCall
			for _, c := range up.calls() {
				if c.path == path {
					seen = append(seen, c)
				}
			}
			if len(seen) < 2 || seen[0].op != wssc.Issue {
				t.Fatalf("%s: WS-Trust calls %v, want an Issue then renewals", path, seen)
			}
			if want := planned["https://svc.example"+path]; !seen[1].at.Equal(want) {
				t.Errorf("%s: first renewal at %v, the status announced %v", path, seen[1].at, want)
			}
			for i := 1; i < len(seen); i++ {
				if seen[i].op != wssc.Renew {
					t.Errorf("%s: call %d is %v, want Renew", path, i, seen[i].op)
				}
				gap := seen[i].at.Sub(seen[i-1].at)
				if gap < 5*time.Minute+30*time.Second || gap > 6*time.Minute {
					t.Errorf("%s: renewal %d came %v after the previous key, want within [5m30s, 6m]", path, i, gap)
				}
				lo, hi = min(lo, gap), max(hi, gap)
				renews++
			}
		}
		st := up.srv.Stats()
		if st.Renewed != renews || st.Issued != len(paths) {
			t.Errorf("scserver renewed %d and issued %d, want %d and %d", st.Renewed, st.Issued, renews, len(paths))
		}
		t.Logf("%d renewals in 61 min on %d endpoints, %v to %v after the previous key", renews, len(paths), lo, hi)
	})
}

// TestClockHundredRenewalsUnderLoad: 8 applications post every 30 s of
// fake time, staggered, for 620 minutes while the context (10-minute
// lifetime) is renewed over a hundred times; every response is delayed
// 3 s, so requests signed with the old key are in flight across renewals
// (every 10 s would be 25,000 requests: too slow under -race). No request is lost, and the
// context is never issued again.
func TestClockHundredRenewalsUnderLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up := newMemUpstream(t, scserver.Config{Lifetime: 10 * time.Minute, Script: scserver.Script{Delay: 3 * time.Second}})
		p := newClockProxy(t, up, Config{})
		defer shutdown(t, p)

		const (
			workers = 8
			every   = 30 * time.Second
			span    = 620 * time.Minute
		)
		var sent, failed atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for g := range workers {
			wg.Go(func() {
				time.Sleep(time.Duration(g) * every / workers)
				for i := 0; time.Since(start) < span; i++ {
					text := fmt.Sprintf("w%d-%d", g, i)
					sent.Add(1)
					if w := clockPost(p, "/", text); !echoed(w, text) && failed.Add(1) <= 5 {
						t.Errorf("request %s at %v: HTTP %d\n%s", text, time.Since(start), w.Code, w.Body)
					}
					time.Sleep(every)
				}
			})
		}
		wg.Wait()
		st := up.srv.Stats()
		if st.Renewed < 100 {
			t.Errorf("scserver renewed %d times in %v, want at least 100", st.Renewed, span)
		}
		if st.Issued != 1 {
			t.Errorf("scserver issued %d contexts, want 1", st.Issued)
		}
		if n := failed.Load(); n != 0 {
			t.Errorf("%d of %d requests failed", n, sent.Load())
		}
		if st.Verified != int(sent.Load()) {
			t.Errorf("scserver verified %d application messages, %d were sent", st.Verified, sent.Load())
		}
		ep := p.Endpoints()[0].Stats()
		if ep.Resends != 0 || ep.RenewFailures != 0 {
			t.Errorf("%d resends and %d failed renewals, want none", ep.Resends, ep.RenewFailures)
		}
		t.Logf("%d requests, %d renewals, faults %v", sent.Load(), st.Renewed, st.Faults)
	})
}

// stsHangs as a memUpstream downStatus makes WS-Trust calls hang until
// the caller gives up.
const stsHangs = -1

// downModes are the ways the STS is down: the connection refused, a load
// balancer's 503, or no answer at all until the establish timeout.
var downModes = []struct {
	name   string
	status int
}{{"refused", 0}, {"http-503", http.StatusServiceUnavailable}, {"hangs", stsHangs}}

// TestClockOutageBeforeRenewal: the STS is down for 30 minutes from before
// the renewal is due (2-hour lifetime, due 66–72 min after establishment).
// Application messages still go through on the valid context; the proxy
// retries in growing windows, at most 12 times; the first attempt after
// the STS is back renews the context.
func TestClockOutageBeforeRenewal(t *testing.T) {
	for _, mode := range downModes {
		t.Run(mode.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				up := newMemUpstream(t, scserver.Config{Lifetime: 2 * time.Hour})
				p := newClockProxy(t, up, Config{})
				defer shutdown(t, p)
				start := time.Now()
				if w := clockPost(p, "/", "first"); !echoed(w, "first") {
					t.Fatalf("first request: HTTP %d\n%s", w.Code, w.Body)
				}
				outageFrom, outageTo := start.Add(60*time.Minute), start.Add(90*time.Minute)
				time.AfterFunc(time.Until(outageFrom), func() { up.setDown(true, mode.status) })
				time.AfterFunc(time.Until(outageTo), func() { up.setDown(false, 0) })

				checked := false
				for i := 1; time.Since(start) < 101*time.Minute; i++ {
					time.Sleep(time.Minute)
					if !checked && time.Since(start) >= 85*time.Minute {
						checked = true
						for p.Status().Endpoints[0].State == session.StateRenewing {
							time.Sleep(time.Second) // a hanging attempt: look between attempts
						}
						checkFailingStatus(t, p, "https://svc.example/Echo.svc")
					}
					text := fmt.Sprintf("m%d", i)
					if w := clockPost(p, "/", text); !echoed(w, text) {
						t.Errorf("request at %v: HTTP %d\n%s", time.Since(start), w.Code, w.Body)
					}
				}

				var during []trustCall
				var after *trustCall
				for _, c := range up.calls()[1:] {
					switch {
					case c.down:
						during = append(during, c)
					case after == nil:
						after = &c
					}
				}
				var offsets []string
				for _, c := range during {
					offsets = append(offsets, c.at.Sub(start).Round(time.Second).String())
					if c.op != wssc.Renew {
						t.Errorf("a %v reached the STS during the outage at %v; the context was valid, want Renew only", c.op, c.at.Sub(start))
					}
				}
				if n := len(during); n == 0 || n > 12 {
					t.Errorf("%d renewal attempts during the 30-minute outage (%v), want 1 to 12", n, offsets)
				}
				if len(during) > 0 && during[0].at.Before(start.Add(66*time.Minute)) {
					t.Errorf("first attempt at %v, before the renewal was due", during[0].at.Sub(start))
				}
				switch {
				case after == nil:
					t.Errorf("no attempt in the 11 minutes after the STS came back")
				case after.op != wssc.Renew:
					t.Errorf("the first attempt after the outage was %v, want Renew", after.op)
				case after.at.After(outageTo.Add(2 * renewalCap)):
					t.Errorf("the first attempt after the outage came at %v, over two backoff caps after it", after.at.Sub(start))
				}
				st := up.srv.Stats()
				if st.Renewed != 1 || st.Issued != 1 {
					t.Errorf("scserver renewed %d and issued %d, want 1 and 1", st.Renewed, st.Issued)
				}
				es := p.Status().Endpoints[0]
				if es.State != session.StateActive || es.LastError != "" || es.Renewals != 1 || es.Establishes != 1 {
					t.Errorf("status after recovery: %+v", es)
				}
				if after != nil {
					t.Logf("%d attempts during the outage, at %v; renewed %v after the STS came back", len(during), offsets, after.at.Sub(outageTo))
				}
			})
		})
	}
}

// renewalCap is the longest backoff window (renewal.DefaultCap).
const renewalCap = 5 * time.Minute

// checkFailingStatus checks the status of an endpoint whose renewal keeps
// failing while its context is still valid: the failure, when the next
// attempt comes, and no secret.
func checkFailingStatus(t *testing.T, p *Proxy, endpoint string) {
	t.Helper()
	st := p.Status()
	if len(st.Endpoints) != 1 {
		t.Fatalf("status lists %d endpoints, want 1", len(st.Endpoints))
	}
	es := st.Endpoints[0]
	now := time.Now()
	if es.State != session.StateFailing {
		t.Errorf("state %q during the outage, want %q", es.State, session.StateFailing)
	}
	if es.LastError == "" || !strings.Contains(es.LastError, endpoint) || es.LastErrorAt.IsZero() || es.LastErrorAt.After(now) {
		t.Errorf("last error %q at %v, want the failed renewal naming %s", es.LastError, es.LastErrorAt, endpoint)
	}
	if !es.RetryAt.After(now) || !es.NextRenewal.Equal(es.RetryAt) {
		t.Errorf("retry at %v, next renewal %v, now %v: want the same instant, in the future", es.RetryAt, es.NextRenewal, now)
	}
	if es.Failures == 0 {
		t.Errorf("failures %d, want some", es.Failures)
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(clockPassword)) {
		t.Errorf("the status shows the password: %s", b)
	}
}

// TestClockOutageOutlastsLifetime: the STS goes down before the renewal of
// a 10-minute context is due and stays down for 35 minutes. Until the
// expiry margin (5 minutes, clamped to a quarter of the 10-minute life)
// requests succeed; after it each gets a fault at once (no fake time
// passes, no WS-Trust call is made for it) naming the endpoint; once the
// STS is back the renewal loop's next attempt establishes a new context
// and requests succeed again.
func TestClockOutageOutlastsLifetime(t *testing.T) {
	const endpoint = "https://svc.example/Echo.svc"
	for _, mode := range downModes {
		t.Run(mode.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				up := newMemUpstream(t, scserver.Config{Lifetime: 10 * time.Minute})
				p := newClockProxy(t, up, Config{})
				defer shutdown(t, p)
				start := time.Now()
				if w := clockPost(p, "/", "first"); !echoed(w, "first") {
					t.Fatalf("first request: HTTP %d\n%s", w.Code, w.Body)
				}
				expires := p.Endpoints()[0].Current().Expires
				if !expires.Equal(start.Add(10 * time.Minute)) {
					t.Fatalf("context expires at %v, want 10 min after %v", expires, start)
				}
				usable := expires.Add(-credcache.Clamp(credcache.DefaultMargin, start, expires))
				backAt := start.Add(40 * time.Minute)
				up.setDown(true, mode.status)
				time.AfterFunc(time.Until(backAt), func() { up.setDown(false, 0) })
				// Requests fall between whole minutes: none races the
				// renewal loop at the instant of expiry.
				time.Sleep(5*time.Minute + 15*time.Second)

				var (
					held, ok int
					reason   string
					resumed  time.Time
				)
				for i := 1; time.Since(start) < 55*time.Minute; i++ {
					time.Sleep(30 * time.Second)
					now := time.Now()
					before := len(up.calls())
					text := fmt.Sprintf("m%d", i)
					w := clockPost(p, "/", text)
					if took := time.Since(now); took != 0 {
						t.Errorf("request at %v took %v of fake time, want an answer at once (queued behind the renewal loop's attempt?)", now.Sub(start), took)
					}
					switch {
					case echoed(w, text):
						ok++
						if now.After(expires) && resumed.IsZero() {
							resumed = now
						}
					case now.Before(usable):
						t.Errorf("request at %v, before the expiry margin: HTTP %d\n%s", now.Sub(start), w.Code, w.Body)
					case !resumed.IsZero():
						t.Errorf("request at %v, after service resumed: HTTP %d\n%s", now.Sub(start), w.Code, w.Body)
					default:
						held++
						if n := len(up.calls()) - before; n != 0 {
							t.Errorf("request at %v made %d WS-Trust calls, want none (the renewal loop retries)", now.Sub(start), n)
						}
						f := clockFault(t, w)
						if f == nil {
							continue
						}
						reason = f.Reason
						if w.Code < 500 || !strings.Contains(f.Reason, endpoint) || !strings.Contains(f.Code.Space+fmt.Sprint(f.Subcodes), NSFault) {
							t.Errorf("request at %v: HTTP %d, fault %v %v %q; want scproxy's own fault naming %s", now.Sub(start), w.Code, f.Code, f.Subcodes, f.Reason, endpoint)
						}
					}
				}
				if held == 0 || resumed.IsZero() {
					t.Fatalf("%d requests held, service resumed at %v: want held requests, then service", held, resumed)
				}
				var established *trustCall
				for _, c := range up.calls() {
					if !c.down && c.at.After(start) {
						established = &c
						break
					}
				}
				switch {
				case established == nil:
					t.Errorf("no context established after the outage")
				case established.op != wssc.Issue:
					t.Errorf("first successful WS-Trust call after the outage is %v, want Issue (the context had expired)", established.op)
				case established.at.After(backAt.Add(2 * renewalCap)):
					t.Errorf("established at %v, over two backoff caps after the STS came back", established.at.Sub(start))
				case resumed.Before(established.at):
					t.Errorf("service resumed at %v, before the new context at %v", resumed.Sub(start), established.at.Sub(start))
				}
				st := up.srv.Stats()
				if st.Issued != 2 {
					t.Errorf("scserver issued %d contexts, want 2 (the first, the one after the outage)", st.Issued)
				}
				if established != nil {
					t.Logf("%d requests held at once, %d answered; %d WS-Trust attempts while down; new context %v after the STS came back; held reason: %s",
						held, ok, countDown(up.calls()), established.at.Sub(backAt), reason)
				}
			})
		})
	}
}

// TestClockRenewsWithinTheExpiryMargin: a context within the expiry
// margin (5 minutes by default) is renewed before the request that finds
// it is signed, not used: the request a second before the margin goes out
// with the first key, the one a second after waits for one Renew and goes
// out with the new key, and the service rejects nothing. The renewal
// loop is set to renew late (at 99% of the lifetime, less its jitter), as
// when it is held back, so that the request meets the margin first.
func TestClockRenewsWithinTheExpiryMargin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up := newMemUpstream(t, scserver.Config{Lifetime: time.Hour})
		p := newClockProxy(t, up, Config{Renewal: renewal.Policy{Fraction: 0.99}})
		defer shutdown(t, p)
		start := time.Now()
		if w := clockPost(p, "/", "first"); !echoed(w, "first") {
			t.Fatalf("first request: HTTP %d\n%s", w.Code, w.Body)
		}
		first := p.Endpoints()[0].Current()
		time.Sleep(55*time.Minute - time.Second)
		if w := clockPost(p, "/", "before"); !echoed(w, "before") || p.Endpoints()[0].Current() != first || len(up.calls()) != 1 {
			t.Fatalf("a second before the margin: HTTP %d, %d WS-Trust calls; want the first context used", w.Code, len(up.calls()))
		}
		time.Sleep(2 * time.Second)
		at := time.Now()
		if w := clockPost(p, "/", "within"); !echoed(w, "within") {
			t.Fatalf("within the margin: HTTP %d\n%s", w.Code, w.Body)
		}
		calls := up.calls()
		if len(calls) != 2 || calls[1].op != wssc.Renew || !calls[1].at.Equal(at) {
			t.Fatalf("WS-Trust calls %+v; want the Issue at %v, then one Renew at %v", calls, start, at)
		}
		cur := p.Endpoints()[0].Current()
		if cur == first || cur.Identifier() != first.Identifier() || !cur.Expires.Equal(at.Add(time.Hour)) {
			t.Fatalf("context after the request %v, expiring at %v; want the first renewed", cur, cur.Expires)
		}
		if st := up.srv.Stats(); st.Renewed != 1 || st.Rejected != 0 || st.Verified != 3 {
			t.Fatalf("server renewed %d, rejected %d, verified %d; want 1, 0, 3", st.Renewed, st.Rejected, st.Verified)
		}
	})
}

func countDown(cs []trustCall) int {
	n := 0
	for _, c := range cs {
		if c.down {
			n++
		}
	}
	return n
}

// clockFault parses an answer as a SOAP 1.1 fault.
func clockFault(t *testing.T, w *httptest.ResponseRecorder) *soap.Fault {
	t.Helper()
	env, err := soap.Parse(w.Body.Bytes(), xmldoc.DefaultLimits)
	if err != nil {
		t.Errorf("HTTP %d, not SOAP: %v\n%s", w.Code, err, w.Body)
		return nil
	}
	f, err := env.Fault()
	if err != nil || f == nil {
		t.Errorf("HTTP %d, not a fault (%v):\n%s", w.Code, err, w.Body)
		return nil
	}
	return f
}

// TestClockShutdownDuringRenewal: the proxy shuts down while the renewal
// loop's exchange with the STS (10 s slow) is under way. Shutdown must not
// leave a live context behind: every context the service still holds is
// cancelled, and nothing is established once Shutdown has returned.
func TestClockShutdownDuringRenewal(t *testing.T) {
	for _, mode := range []session.RenewMode{session.RenewInPlace, session.Reissue} {
		t.Run(mode.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				up := newMemUpstream(t, scserver.Config{Lifetime: 10 * time.Minute, Script: scserver.Script{Delay: 10 * time.Second}})
				p := newClockProxy(t, up, Config{RenewMode: mode})
				defer shutdown(t, p)
				if w := clockPost(p, "/", "first"); !echoed(w, "first") {
					t.Fatalf("first request: HTTP %d\n%s", w.Code, w.Body)
				}
				synctest.Wait()
				next := p.Status().Endpoints[0].NextRenewal
				if next.IsZero() {
					t.Fatal("no renewal planned")
				}
				time.Sleep(time.Until(next) + time.Second) // the renewal is under way
				if st := p.Status().Endpoints[0]; st.State != session.StateRenewing {
					t.Fatalf("state %q a second after the renewal began, want %q", st.State, session.StateRenewing)
				}
				p.Shutdown(t.Context())
				atShutdown := p.Status().Endpoints[0].Identifier
				callsAtShutdown := len(up.calls())
				time.Sleep(time.Minute)
				synctest.Wait()

				st := up.srv.Stats()
				for id, cs := range st.Contexts {
					if !cs.Cancelled {
						t.Errorf("context %s (%d messages verified) is still live at the service after shutdown (issued %d, renewed %d, cancelled %d)", id, cs.Verified, st.Issued, st.Renewed, st.Cancelled)
					}
				}
				if es := p.Status().Endpoints[0]; es.Identifier != atShutdown {
					t.Errorf("context %s published after Shutdown returned (it had %s)", es.Identifier, atShutdown)
				}
				if n := len(up.calls()) - callsAtShutdown; n != 0 {
					t.Logf("%d WS-Trust calls after Shutdown returned", n)
				}
				t.Logf("issued %d, renewed %d, cancelled %d", st.Issued, st.Renewed, st.Cancelled)
			})
		})
	}
}

// TestClockShutdownWithHungSTS: the STS stops answering at all while a
// renewal is under way; Shutdown is bounded by the establish timeout (the
// exchange under way, then the cancel, each under it) and records the
// failed cancel.
func TestClockShutdownWithHungSTS(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const establish = 10 * time.Second
		up := newMemUpstream(t, scserver.Config{Lifetime: 10 * time.Minute})
		p := newClockProxy(t, up, Config{EstablishTimeout: establish})
		defer shutdown(t, p)
		if w := clockPost(p, "/", "first"); !echoed(w, "first") {
			t.Fatalf("first request: HTTP %d\n%s", w.Code, w.Body)
		}
		synctest.Wait()
		up.setDown(true, stsHangs)
		time.Sleep(time.Until(p.Status().Endpoints[0].NextRenewal) + time.Second)
		start := time.Now()
		p.Shutdown(t.Context())
		took := time.Since(start)
		if took > 2*establish {
			t.Errorf("Shutdown took %v with a hung STS, want at most %v (the renewal under way, then the cancel)", took, 2*establish)
		}
		ep := p.Endpoints()[0].Stats()
		if ep.CancelFailures != 1 || ep.Cancels != 0 {
			t.Errorf("%d cancels, %d failed; want the one failed", ep.Cancels, ep.CancelFailures)
		}
		t.Logf("Shutdown took %v of fake time with a hung STS and a %v establish timeout", took, establish)
	})
}
