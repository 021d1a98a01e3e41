package session_test

import (
	"context"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wssc"
)

// TestReissueAfterRenewalAndRecycle: a request signed with a context
// before its renewal meets a service that has meanwhile dropped every
// context (a recycle). Reissuing on its fault must establish a new
// context, not hand back the renewed key of the dead token, on which the
// resend would fail too. (Found by the soak test: requests failed with
// BadContextToken after a resend when a renewal and a recycle crossed.)
func TestReissueAfterRenewalAndRecycle(t *testing.T) {
	r := newRig(t, scserver.Config{}, nil)
	ctx := context.Background()
	signed, err := r.ep.Context(ctx, wire12)
	if err != nil {
		t.Fatal(err)
	}
	renewed, err := r.ep.Renew(ctx, signed)
	if err != nil {
		t.Fatal(err)
	}
	if renewed == signed || renewed.Identifier() != signed.Identifier() {
		t.Fatalf("renewal gave %v from %v, want the same token with a new key", renewed, signed)
	}
	r.srv.ForgetAll()
	fresh, err := r.ep.Reissue(ctx, signed)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Identifier() == signed.Identifier() {
		t.Fatalf("reissue after the recycle kept the dead token %s", fresh.Identifier())
	}
	if n := r.srv.Stats().Issued; n != 2 {
		t.Errorf("the server issued %d contexts, want 2", n)
	}
	// Another request's late report about the dead token changes nothing.
	if r.ep.Invalidate(renewed) || r.ep.Current() != fresh {
		t.Errorf("a late report about the dead token dropped the new context")
	}
}

// TestReissueJoiningARenewal: the server renews a context, then drops
// every context (a recycle) before its answer reaches the endpoint; a
// request that met the recycle meanwhile asks for a new context and
// joins the renewal under way. It must not get the renewed token, which
// the server has dropped, but a new one. (Found by the soak test under
// the race detector: requests failed with BadContextToken after their
// resend.)
func TestReissueJoiningARenewal(t *testing.T) {
	srv, err := scserver.New(scserver.Config{PlainHTTP: true, Users: map[string]string{"demo": password}})
	if err != nil {
		t.Fatal(err)
	}
	renewed, release := make(chan struct{}), make(chan struct{})
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, action, _ := soap.ActionFromHTTP(r.Header.Get("Content-Type"), r.Header.Get("SOAPAction"))
		if action != wssc.V1_3.Action(wssc.Renew) {
			srv.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, r)
		close(renewed)
		<-release // the answer is late
		w.Header().Set("Content-Type", rec.Header().Get("Content-Type"))
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(func() { ts.Close(); srv.Close() })
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	u, _ := url.Parse(ts.URL + "/svc")
	ep, err := session.New(session.Config{
		URL: u, Version: wssc.V1_3, Bootstrap: session.Username{User: "demo", Password: creds.NewSecret(password)},
		Client: upstream.New(upstream.Config{RootCAs: pool}), Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	first, err := ep.Context(ctx, wire12)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = ep.Renew(ctx, first) }()
	<-renewed
	srv.ForgetAll()
	got := make(chan *session.Context)
	go func() {
		c, err := ep.Reissue(ctx, first)
		if err != nil {
			t.Error(err)
		}
		got <- c
	}()
	time.Sleep(100 * time.Millisecond) // the reissue has joined the renewal
	close(release)
	c := <-got
	if c == nil || c.Identifier() == first.Identifier() {
		t.Fatalf("reissue after the recycle gave %v, the dropped token; want a new context", c)
	}
	if n := srv.Stats().Issued; n != 2 {
		t.Errorf("the server issued %d contexts, want 2", n)
	}
}
