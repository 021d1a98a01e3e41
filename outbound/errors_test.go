package outbound_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// TestMalformedRequests checks that a request the proxy cannot take is
// refused with a fault naming the problem before anything is sent
// upstream (not even an Issue), and that the proxy then serves the next
// good request.
func TestMalformedRequests(t *testing.T) {
	const maxBody = 64 << 10
	big := envelope(soap.V11, "", echoPayload(strings.Repeat("x", 100<<10)))
	cases := []struct {
		name        string
		contentType string // SOAP 1.1 with SOAPAction when empty
		body        string
		chunked     bool // send without Content-Length
		v           soap.Version
		status      int
		code        xmldoc.Name
		words       []string
	}{
		{name: "not XML", body: "this is not XML at all", v: soap.V11, status: http.StatusBadRequest, code: outbound.CodeBadRequest, words: []string{"malformed|XML|syntax"}},
		{name: "XML but not an envelope", body: `<EchoString xmlns="http://tempuri.org/"/>`, v: soap.V11, status: http.StatusBadRequest, code: outbound.CodeBadRequest, words: []string{"envelope"}},
		{name: "truncated envelope", body: envelope(soap.V11, "", echoPayload("x"))[:60], v: soap.V11, status: http.StatusBadRequest, code: outbound.CodeBadRequest, words: []string{"malformed|XML|syntax"}},
		{name: "JSON", contentType: "application/json", body: `{"echo":"hello"}`, v: soap.V11, status: http.StatusUnsupportedMediaType, code: outbound.CodeBadRequest, words: []string{"application/json"}},
		{name: "SOAP 1.2 envelope as text/xml", body: envelope(soap.V12, "", echoPayload("x")), v: soap.V11, status: http.StatusBadRequest, code: outbound.CodeBadRequest, words: []string{"SOAP 1.2"}},
		{name: "SOAP 1.1 envelope as application/soap+xml", contentType: `application/soap+xml; charset=utf-8; action="` + echoAction + `"`, body: envelope(soap.V11, "", echoPayload("x")), v: soap.V12, status: http.StatusBadRequest, code: outbound.CodeBadRequest, words: []string{"SOAP 1.1"}},
		{name: "already secured", body: envelope(soap.V11,
			`<wsse:Security xmlns:wsse="`+wss.NSWSSE+`"><wsse:UsernameToken><wsse:Username>app</wsse:Username></wsse:UsernameToken></wsse:Security>`,
			echoPayload("x")), v: soap.V11, status: http.StatusBadRequest, code: outbound.CodeBadRequest, words: []string{"Security"}},
		{name: "over MaxBody", body: big, v: soap.V11, status: http.StatusRequestEntityTooLarge, code: outbound.CodeTooLarge, words: []string{"limit"}},
		{name: "over MaxBody, chunked", body: big, chunked: true, v: soap.V11, status: http.StatusRequestEntityTooLarge, code: outbound.CodeTooLarge, words: []string{"limit"}},
		{name: "DTD", body: `<!DOCTYPE soap:Envelope [<!ENTITY e "expanded">]>` + envelope(soap.V11, "", echoPayload("&e;")), v: soap.V11, status: http.StatusBadRequest, code: outbound.CodeBadRequest, words: []string{"DTD|document type|DOCTYPE"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, scserver.Config{})
			px := startProxy(t, outbound.Config{Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool(), MaxBody: maxBody})
			app := newApp(t)

			var body io.Reader = strings.NewReader(tc.body)
			if tc.chunked {
				body = io.MultiReader(body) // hides the length
			}
			req, err := http.NewRequest(http.MethodPost, px.base+"/", body)
			if err != nil {
				t.Fatal(err)
			}
			if tc.contentType == "" {
				req.Header.Set("Content-Type", "text/xml; charset=utf-8")
				req.Header.Set("SOAPAction", `"`+echoAction+`"`)
			} else {
				req.Header.Set("Content-Type", tc.contentType)
			}
			wantProxyFault(t, app.send(req), tc.v, tc.status, tc.code, tc.words...)
			if n := up.count(); n != 0 {
				t.Errorf("the upstream received %d requests for a refused one, want none", n)
			}
			wantEcho(t, app.post(px.base+"/", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("next"))), soap.V11, "next", false)
		})
	}
}

// closedPortURL is an https URL on a loopback port nobody listens on.
func closedPortURL(t *testing.T) *url.URL {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	u, _ := url.Parse("https://" + addr + "/Echo.svc")
	return u
}

// TestUpstreamFailures checks what the application gets when the
// upstream on one route fails, and that a second route of the same proxy
// keeps working.
func TestUpstreamFailures(t *testing.T) {
	cases := []struct {
		name string
		// bad returns the failing route's upstream URL and its rig (nil when
		// nothing listens).
		bad    func(t *testing.T) (*url.URL, *upstreamRig)
		status int
		code   xmldoc.Name
		// words the reason must contain; the endpoint URL is added with
		// withURL.
		words   []string
		withURL bool
		// sts: the reason must carry the STS's own fault reason, and a
		// second request must not try a second Issue (a refused login is
		// not repeated before its backoff window).
		sts bool
		// recovers: the failing route works on the next request after the
		// backoff window.
		recovers bool
	}{
		{name: "upstream stopped", bad: func(t *testing.T) (*url.URL, *upstreamRig) {
			up := newUpstream(t, scserver.Config{})
			up.stop()
			return up.url(t, "/Echo.svc"), nil
		}, status: http.StatusBadGateway, code: outbound.CodeUnreachable, withURL: true},
		{name: "closed port", bad: func(t *testing.T) (*url.URL, *upstreamRig) {
			return closedPortURL(t), nil
		}, status: http.StatusBadGateway, code: outbound.CodeUnreachable, withURL: true},
		{name: "STS refuses the credential", bad: func(t *testing.T) (*url.URL, *upstreamRig) {
			up := newUpstream(t, scserver.Config{Users: map[string]string{testUser: "not-the-password-we-send"}})
			return up.url(t, "/Echo.svc"), up
		}, status: http.StatusBadGateway, code: outbound.CodeNoContext, sts: true},
		{name: "untrusted certificate", bad: func(t *testing.T) (*url.URL, *upstreamRig) {
			up := newUntrustedUpstream(t, scserver.Config{})
			return up.url(t, "/Echo.svc"), up
		}, status: http.StatusBadGateway, code: outbound.CodeUntrusted, words: []string{"certificate", "trusted roots"}},
		{name: "STS unavailable once", bad: func(t *testing.T) (*url.URL, *upstreamRig) {
			up := newUpstream(t, scserver.Config{})
			if err := up.srv.FailNext(1, http.StatusServiceUnavailable); err != nil {
				t.Fatal(err)
			}
			return up.url(t, "/Echo.svc"), up
		}, status: http.StatusBadGateway, recovers: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			good := newUpstream(t, scserver.Config{})
			badURL, bad := tc.bad(t)
			px := startProxy(t, outbound.Config{
				Routes: []outbound.Route{
					{Prefix: "/bad", Upstream: badURL},
					{Prefix: "/good", Upstream: good.url(t, "/Echo.svc")},
				},
				RootCAs: good.pool(),
			})
			app := newApp(t)
			for _, v := range soap.Versions {
				r := app.post(px.base+"/bad", v, echoAction, envelope(v, "", echoPayload("bad")))
				words := tc.words
				if tc.withURL {
					words = append(words, badURL.String())
				}
				if tc.sts {
					st := bad.srv.Stats()
					if len(st.LastFailures) == 0 {
						t.Fatal("the STS recorded no failure")
					}
					words = append(words, st.LastFailures[len(st.LastFailures)-1])
				}
				code := tc.code
				if code == (xmldoc.Name{}) {
					f := wantFault(t, r, v)
					if r.status != tc.status {
						t.Errorf("HTTP %d, want %d", r.status, tc.status)
					}
					if f != nil && !hasProxyCode(f) {
						t.Errorf("fault codes %v %v: none in %s", f.Code, f.Subcodes, outbound.NSFault)
					}
				} else {
					wantProxyFault(t, r, v, tc.status, code, words...)
				}
				wantEcho(t, app.post(px.base+"/good", v, echoAction, envelope(v, "", echoPayload("good"))), v, "good", false)
				if tc.recovers {
					break
				}
			}
			switch {
			case tc.sts:
				if n := bad.issues(); n != 1 {
					t.Errorf("two requests made %d Issue attempts, want 1 (the second held until the backoff's next attempt)", n)
				}
			case tc.recovers:
				waitRetry(t, px)
				wantEcho(t, app.post(px.base+"/bad", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("recovered"))), soap.V11, "recovered", false)
			case tc.code == outbound.CodeUntrusted:
				if n := bad.count(); n != 0 {
					t.Errorf("the untrusted upstream received %d requests, want none", n)
				}
			}
			if n := good.srv.Stats().Issued; n != 1 {
				t.Errorf("the good upstream issued %d contexts, want 1", n)
			}
		})
	}
}

func hasProxyCode(f *soap.Fault) bool {
	for _, c := range append([]xmldoc.Name{f.Code}, f.Subcodes...) {
		if c.Space == outbound.NSFault {
			return true
		}
	}
	return false
}

// TestAppDisconnectCancelsUpstream: an application that hangs up while
// its request waits on the service cancels the upstream call: the
// service sees its request end, the proxy sends nothing more and is not
// left holding the call until its own timeout, and the next request
// succeeds.
func TestAppDisconnectCancelsUpstream(t *testing.T) {
	up := newUpstream(t, scserver.Config{})
	px := startProxy(t, outbound.Config{Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool()})
	app := newApp(t)
	wantEcho(t, app.post(px.base+"/", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("warm"))), soap.V11, "warm", false)

	arrived, ended := make(chan struct{}), make(chan time.Duration, 1)
	up.setIntercept(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		if _, ok := trustOp(r.Header.Get("Content-Type"), r.Header.Get("SOAPAction")); ok {
			return false
		}
		close(arrived)
		start := time.Now()
		select {
		case <-r.Context().Done():
			ended <- time.Since(start)
		case <-time.After(20 * time.Second):
			ended <- -1
		}
		return true
	})
	ctx, cancel := context.WithCancel(context.Background())
	req, err := newRequest(http.MethodPost, px.base+"/", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("hang up")))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req.WithContext(ctx))
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the request never reached the service")
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("the application's call ended with %v, want its own cancellation", err)
	}
	select {
	case d := <-ended:
		if d < 0 {
			t.Fatal("the service's request was still open 20 s after the application hung up")
		}
		t.Logf("the service saw its request end %v after the application hung up", d)
	case <-time.After(30 * time.Second):
		t.Fatal("the intercept never finished")
	}
	up.setIntercept(nil)
	wantEcho(t, app.post(px.base+"/", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("after"))), soap.V11, "after", false)
	if n := len(up.appOnly()); n != 3 {
		t.Errorf("the service received %d application messages, want 3 (nothing resent)", n)
	}
}
