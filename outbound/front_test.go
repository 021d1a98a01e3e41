package outbound_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wssc"
)

// frontService makes a service of one route, prefix to the upstream's
// path, with its own settings.
func frontService(t *testing.T, name, prefix string, up *upstreamRig, path string, sc wssc.Version) outbound.Service {
	t.Helper()
	p, err := outbound.New(outbound.Config{
		Routes: []outbound.Route{{Prefix: prefix, Upstream: up.url(t, path)}}, RootCAs: up.pool(), SC: sc,
		Bootstrap: session.Username{User: testUser, Password: creds.NewSecret(testPassword)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return outbound.Service{Name: name, Proxy: p}
}

// serveFront serves f on a loopback port until the test ends.
func serveFront(t *testing.T, f *outbound.Front) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("Serve did not return within 20s of the cancel")
		}
	})
	return "http://" + ln.Addr().String()
}

// TestFrontServesEachServiceWithItsSettings: one listener, two services
// each with its own SC version against servers that take only that
// version; what no service takes is refused naming every route.
func TestFrontServesEachServiceWithItsSettings(t *testing.T) {
	feb := newUpstream(t, scserver.Config{Versions: []wssc.Version{wssc.Feb2005}})
	v13 := newUpstream(t, scserver.Config{Versions: []wssc.Version{wssc.V1_3}})
	f, err := outbound.NewFront(outbound.Config{Listen: "127.0.0.1:0"}, []outbound.Service{
		frontService(t, "feb", "/feb", feb, "/Feb.svc", wssc.Feb2005),
		frontService(t, "v13", "/v13", v13, "/V13.svc", wssc.V1_3),
	})
	if err != nil {
		t.Fatal(err)
	}
	base := serveFront(t, f)
	app := newApp(t)
	for _, path := range []string{"/feb", "/v13", "/feb"} {
		wantEcho(t, app.post(base+path, soap.V11, echoAction, envelope(soap.V11, "", echoPayload("via "+path))), soap.V11, "via "+path, false)
	}
	if feb.srv.Stats().Issued != 1 || v13.srv.Stats().Issued != 1 {
		t.Errorf("issued %d and %d contexts, want one each", feb.srv.Stats().Issued, v13.srv.Stats().Issued)
	}
	if st := f.Status(); len(st.Endpoints) != 2 || st.Security != "context" {
		t.Errorf("status %+v, want both endpoints", st)
	}
	r := app.post(base+"/other", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("x")))
	if r.status != http.StatusNotFound || !strings.Contains(r.body, "/feb") || !strings.Contains(r.body, "/v13") {
		t.Errorf("a path of no service: HTTP %d %s, want 404 naming both routes", r.status, r.body)
	}
}

// TestFrontReplace: a replacement keeps the services it names again with
// their contexts, lets a request in flight on a removed service finish,
// then cancels that service's context, before Replace returns; a set of
// services with a shared prefix is refused and nothing changes.
func TestFrontReplace(t *testing.T) {
	up := newUpstream(t, scserver.Config{})
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	up.intercept = func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		if strings.Contains(string(body), "hold-me") {
			once.Do(func() { close(held) })
			<-release
		}
		return false
	}
	keep := frontService(t, "keep", "/keep", up, "/Keep.svc", wssc.Feb2005)
	gone := frontService(t, "gone", "/gone", up, "/Gone.svc", wssc.Feb2005)
	f, err := outbound.NewFront(outbound.Config{Listen: "127.0.0.1:0"}, []outbound.Service{keep, gone})
	if err != nil {
		t.Fatal(err)
	}
	base := serveFront(t, f)
	app := newApp(t)
	wantEcho(t, app.post(base+"/keep", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("k1"))), soap.V11, "k1", false)
	inflight := make(chan reply, 1)
	go func() {
		inflight <- app.post(base+"/gone", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("hold-me")))
	}()
	<-held

	added := frontService(t, "added", "/added", up, "/Added.svc", wssc.V1_3)
	if err := f.Replace(context.Background(), []outbound.Service{keep, added, {Name: "dup", Proxy: frontService(t, "dup", "/keep", up, "/Dup.svc", wssc.Feb2005).Proxy}}); err == nil {
		t.Fatal("a set with two services on /keep was taken")
	}
	replaced := make(chan error, 1)
	go func() { replaced <- f.Replace(context.Background(), []outbound.Service{keep, added}) }()
	// Had the removed service's context been cancelled under the request
	// held, the server would refuse it and the answer, or the count of
	// contexts issued, would show it.
	if up.srv.Stats().Cancelled != 0 {
		t.Error("the removed service's context was cancelled under its request in flight")
	}
	close(release)
	wantEcho(t, <-inflight, soap.V11, "hold-me", false)
	if err := <-replaced; err != nil {
		t.Fatal(err)
	}
	if st := up.srv.Stats(); st.Cancelled != 1 || st.Issued != 2 {
		t.Errorf("after Replace: %d issued, %d cancelled; want 2 and 1 (the removed service's)", st.Issued, st.Cancelled)
	}
	wantEcho(t, app.post(base+"/keep", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("k2"))), soap.V11, "k2", false)
	wantEcho(t, app.post(base+"/added", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("a1"))), soap.V11, "a1", false)
	if n := up.srv.Stats().Issued; n != 3 {
		t.Errorf("%d contexts issued, want 3: the kept service kept its own", n)
	}
	if r := app.post(base+"/gone", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("g"))); r.status != http.StatusNotFound {
		t.Errorf("the removed service's path: HTTP %d, want 404", r.status)
	}
}
