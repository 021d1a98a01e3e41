package outbound_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/setting"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wssc"
)

// waitFor polls cond until it holds, failing the test after limit.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rawHead is the head of a SOAP 1.1 POST to the proxy announcing a body
// of n bytes.
func rawHead(n int, extra string) string {
	return fmt.Sprintf("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml; charset=utf-8\r\nSOAPAction: \"%s\"\r\nContent-Length: %d\r\n%s\r\n", echoAction, n, extra)
}

// dial connects to the proxy, closing the connection at the test's end.
func dial(t *testing.T, px *proxyRig) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(px.base, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestAnnouncedBodiesAreNotPreallocated: 200 connections each announce a
// body of MaxBody (1 MiB) and send none of it. Once the proxy reads each
// body (it says 100 Continue when it does), its heap has grown by far
// less than the 200 MiB announced: memory follows the bytes that arrive.
// The proxy keeps serving meanwhile.
func TestAnnouncedBodiesAreNotPreallocated(t *testing.T) {
	const (
		conns   = 200
		maxBody = 1 << 20
		margin  = 32 << 20
	)
	up := newUpstream(t, scserver.Config{})
	px := startProxy(t, outbound.Config{Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool(), MaxBody: maxBody})
	app := newApp(t)
	wantEcho(t, app.post(px.base+"/", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("before"))), soap.V11, "before", false)
	before := testkit.HeapInUse()
	testkit.AnnounceBodies(t, strings.TrimPrefix(px.base, "http://"), rawHead(maxBody, "Expect: 100-continue\r\n"), conns)
	after := testkit.HeapInUse()
	grew := int64(after) - int64(before)
	t.Logf("heap %d KiB before, %d KiB with %d connections announcing %d bytes each (grew %d KiB)", before>>10, after>>10, conns, maxBody, grew>>10)
	if grew > margin {
		t.Errorf("the heap grew by %d MiB for bodies announced but not sent, want under %d MiB", grew>>20, margin>>20)
	}
	wantEcho(t, app.post(px.base+"/", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("during"))), soap.V11, "during", false)
}

// TestBodiesOverBudgetAre503: with a budget of 1.5 MiB for the bodies in
// flight, a client holding 1 MiB of an unfinished body leaves no room
// for a 600 KiB request, which is answered 503 with Retry-After and the
// Busy fault, at once; once the first is gone, requests pass again.
func TestBodiesOverBudgetAre503(t *testing.T) {
	const maxBody = 1 << 20
	up := newUpstream(t, scserver.Config{})
	px := startProxy(t, outbound.Config{Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool(), MaxBody: maxBody, MaxBodyInFlight: maxBody + maxBody/2})
	hog := dial(t, px)
	if _, err := io.WriteString(hog, rawHead(maxBody, "")+strings.Repeat("x", maxBody-1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the unfinished body is read", 10*time.Second, func() bool { return px.p.BodyBytesInFlight() >= maxBody })

	app := newApp(t)
	big := envelope(soap.V11, "", echoPayload(strings.Repeat("y", 600<<10)))
	r := app.post(px.base+"/", soap.V11, echoAction, big)
	wantProxyFault(t, r, soap.V11, http.StatusServiceUnavailable, outbound.CodeBusy, "budget")
	if r.header.Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After: %v", r.header)
	}

	hog.Close()
	waitFor(t, "the budget is given back", 10*time.Second, func() bool { return px.p.BodyBytesInFlight() == 0 })
	wantEcho(t, app.post(px.base+"/", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("after"))), soap.V11, "after", false)
}

// TestConnectionsOverLimitAre503: with MaxConns 4 and four connections
// open, a fifth is answered 503 with Retry-After and the Busy fault and
// closed, never queued; once one of the four is gone, requests pass.
func TestConnectionsOverLimitAre503(t *testing.T) {
	up := newUpstream(t, scserver.Config{})
	px := startProxy(t, outbound.Config{Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool(), MaxConns: 4})
	var held []net.Conn
	for range 4 {
		c := dial(t, px)
		if _, err := io.WriteString(c, "POST / HTTP/1.1\r\n"); err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	waitFor(t, "four connections accepted", 10*time.Second, func() bool { return px.p.OpenConns() == 4 })

	c := dial(t, px)
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	body := envelope(soap.V11, "", echoPayload("fifth"))
	if _, err := io.WriteString(c, rawHead(len(body), "")+body); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("the fifth connection got no answer: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	wantProxyFault(t, reply{status: resp.StatusCode, header: resp.Header, body: string(b)}, soap.V11, http.StatusServiceUnavailable, outbound.CodeBusy, "connections")
	if resp.Header.Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After: %v", resp.Header)
	}
	if n := px.p.OpenConns(); n != 4 {
		t.Errorf("%d connections counted open, want 4", n)
	}

	held[0].Close()
	waitFor(t, "a connection closed", 10*time.Second, func() bool { return px.p.OpenConns() == 3 })
	app := newApp(t)
	wantEcho(t, app.post(px.base+"/", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("after"))), soap.V11, "after", false)
}

// TestUnreadAnswersAreCutOff: five clients post a request and never read
// the 8 MiB answer. With WriteTimeout 1 s the proxy closes each of their
// connections after the deadline, and the heap goes back to what it was:
// nothing of theirs is pinned, and no request body stays charged.
func TestUnreadAnswersAreCutOff(t *testing.T) {
	const (
		clients = 5
		answer  = 8 << 20
	)
	bigAnswer := envelope(soap.V11, "", echoPayload(strings.Repeat("z", answer)))
	var served atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		_, _ = io.WriteString(w, bigAnswer)
	}))
	t.Cleanup(up.Close)
	target, _ := url.Parse(up.URL + "/Echo.svc")
	px := startProxy(t, outbound.Config{Routes: routes(target), Security: outbound.SecurityNone, MaxBody: 2 * answer, WriteTimeout: time.Second})
	app := newApp(t)
	if r := app.post(px.base+"/", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("warm-up"))); r.status != http.StatusOK || len(r.body) < answer {
		t.Fatalf("warm-up: HTTP %d, %d bytes", r.status, len(r.body))
	}
	app.client.CloseIdleConnections()
	waitFor(t, "the warm-up connection closed", 10*time.Second, func() bool { return px.p.OpenConns() == 0 })
	before := testkit.HeapInUse()

	body := envelope(soap.V11, "", echoPayload("never read"))
	for range clients {
		c := dial(t, px)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(16 << 10)
		}
		if _, err := io.WriteString(c, rawHead(len(body), "")+body); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	waitFor(t, "the proxy closes connections whose answer is not read", 30*time.Second, func() bool {
		return served.Load() == clients+1 && px.p.OpenConns() == 0
	})
	if n := px.p.BodyBytesInFlight(); n != 0 {
		t.Errorf("%d bytes of request bodies still charged", n)
	}
	after := testkit.HeapInUse()
	t.Logf("unread answers cut off %v after they were sent; heap %d KiB before, %d KiB after", time.Since(start).Round(10*time.Millisecond), before>>10, after>>10)
	if grew := int64(after) - int64(before); grew > 16<<20 {
		t.Errorf("the heap grew by %d MiB after the unread answers were cut off", grew>>20)
	}
}

// TestUpstreamStatusOutsideFinalRange: an upstream answering with a
// status outside 200-599 (HTTP/1.1 099, 600, 999; Go's client hands such
// statuses over as they are) gets the application a 502 fault naming
// the status, not a closed connection.
func TestUpstreamStatusOutsideFinalRange(t *testing.T) {
	for _, status := range []string{"099", "600", "999"} {
		t.Run(status, func(t *testing.T) {
			u := rawUpstream(t, fmt.Sprintf("HTTP/1.1 %s Odd\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: %d\r\n\r\n%s", status, len(soap11Req), soap11Req))
			px := startProxy(t, outbound.Config{Routes: routes(u), Security: outbound.SecurityNone})
			app := newApp(t)
			r := app.post(px.base+"/", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("odd status")))
			wantProxyFault(t, r, soap.V11, http.StatusBadGateway, outbound.CodeBadResponse, "status "+strings.TrimLeft(status, "0"))
		})
	}
}

// rawUpstream answers every request on a plain TCP listener with answer,
// byte for byte, and closes the connection.
func rawUpstream(t *testing.T, answer string) *url.URL {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, req.Body)
				_, _ = io.WriteString(c, answer)
			}()
		}
	}()
	u, err := url.Parse("http://" + ln.Addr().String() + "/Service.svc")
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestListenRefusesLocalhost: the name localhost stands for 127.0.0.1
// and ::1, and a listener binds one of them; the name is refused (in
// favour of either address), so that the other is not left to any local
// process.
func TestListenRefusesLocalhost(t *testing.T) {
	for _, addr := range []string{"localhost:8780", "LocalHost:0"} {
		err := outbound.CheckListen(addr, false)
		var se *setting.Error
		if !errors.As(err, &se) || se.Field != "Listen" || !strings.Contains(err.Error(), "127.0.0.1") || !strings.Contains(err.Error(), "::1") {
			t.Errorf("CheckListen(%q) = %v, want a Listen error naming both addresses", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:8780", "[::1]:8780"} {
		if err := outbound.CheckListen(addr, false); err != nil {
			t.Errorf("CheckListen(%q) = %v", addr, err)
		}
	}
}

// TestShutdownBoundsAWaitingIssue: with ShutdownTimeout 2 s and a request
// waiting for an Issue the STS does not answer, the whole shutdown ends
// within the timeout (not after the establish timeout), and the waiting
// client gets a 503 fault saying the proxy is shutting down, not an
// empty reply.
func TestShutdownBoundsAWaitingIssue(t *testing.T) {
	const shutdownTimeout = 2 * time.Second
	up := newUpstream(t, scserver.Config{})
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	issued := make(chan struct{}, 1)
	up.setIntercept(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		if op, ok := trustOp(r.Header.Get("Content-Type"), r.Header.Get("SOAPAction")); ok && op == wssc.Issue {
			select {
			case issued <- struct{}{}:
			default:
			}
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		return false
	})
	p, err := outbound.New(outbound.Config{Listen: "127.0.0.1:0", Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool(),
		Bootstrap:       session.Username{User: testUser, Password: creds.NewSecret(testPassword)},
		ShutdownTimeout: shutdownTimeout, EstablishTimeout: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	go func() { served <- p.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	app := newApp(t)
	answered := make(chan reply, 1)
	go func() {
		r, err := app.do(app.client, mustRequest(t, base+"/", envelope(soap.V11, "", echoPayload("waiting"))))
		if err != nil {
			r = reply{body: err.Error()}
		}
		answered <- r
	}()
	select {
	case <-issued:
	case <-time.After(10 * time.Second):
		t.Fatal("no Issue reached the STS")
	}
	start := time.Now()
	stop()
	select {
	case err = <-served:
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return within 30s")
	}
	took := time.Since(start)
	t.Logf("shutdown took %v (timeout %v): %v", took.Round(10*time.Millisecond), shutdownTimeout, err)
	if took > shutdownTimeout+2*time.Second {
		t.Errorf("shutdown took %v, beyond its timeout of %v", took, shutdownTimeout)
	}
	select {
	case r := <-answered:
		wantProxyFault(t, r, soap.V11, http.StatusServiceUnavailable, outbound.CodeNoContext, "shutting down")
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting client got no answer")
	}
}

func mustRequest(t *testing.T, url, body string) *http.Request {
	t.Helper()
	req, err := newRequest(http.MethodPost, url, soap.V11, echoAction, body)
	if err != nil {
		t.Fatal(err)
	}
	return req.WithContext(context.Background())
}

// TestLargestBodyFitsTheSmallestBudget: a request of exactly MaxBody
// bytes is read within a budget one byte larger, whether it announces its
// length or not (the buffer of a body without a length grows to the limit
// and no further).
func TestLargestBodyFitsTheSmallestBudget(t *testing.T) {
	env := envelope(soap.V11, "", echoPayload(strings.Repeat("z", 6000)))
	up := newUpstream(t, scserver.Config{})
	px := startProxy(t, outbound.Config{Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool(), MaxBody: int64(len(env)), MaxBodyInFlight: int64(len(env)) + 1})
	app := newApp(t)
	for _, chunked := range []bool{false, true} {
		var body io.Reader = strings.NewReader(env)
		if chunked {
			body = io.MultiReader(body) // hides the length
		}
		req, err := http.NewRequest(http.MethodPost, px.base+"/", body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "text/xml; charset=utf-8")
		req.Header.Set("SOAPAction", `"`+echoAction+`"`)
		// The echo comes back larger than the limit (answers are held to it
		// too), so success here is the request read and forwarded: the
		// service's answer, not the proxy's 503 or 413.
		r := app.send(req)
		if r.status == http.StatusServiceUnavailable || r.status == http.StatusRequestEntityTooLarge {
			t.Fatalf("chunked %v: HTTP %d, want the request read within its budget: %s", chunked, r.status, r.body)
		}
		if !strings.Contains(string(r.body), "response is larger than the limit") {
			t.Fatalf("chunked %v: HTTP %d, want the service's (too large) answer: %s", chunked, r.status, r.body)
		}
	}
}
