package session_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/internal/oracle"
	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// recorder is the built-in server, recording WS-Trust requests;
// refuseRenew answers every Renew with UnableToRenew, refuseLogin with
// wsse:FailedAuthentication. Its endpoints belong to a pool.
type recorder struct {
	srv         *scserver.Server
	mu          sync.Mutex
	bodies      map[string][][]byte // by action suffix
	refuseRenew bool
	refuseLogin bool
	url         *url.URL
	client      *upstream.Client
	mem         *memory // when reached in process
	pool        *session.Pool
}

// newRecorder serves behind real TLS; newMemRecorder in process, for
// tests in a synctest bubble.
func newRecorder(t *testing.T, v wssc.Version) *recorder { return makeRecorder(t, v, false) }

func newMemRecorder(t *testing.T, v wssc.Version) *recorder { return makeRecorder(t, v, true) }

func makeRecorder(t *testing.T, v wssc.Version, inMemory bool) *recorder {
	t.Helper()
	srv, err := scserver.New(scserver.Config{PlainHTTP: true, Users: map[string]string{"demo": password}, Versions: []wssc.Version{v}})
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{srv: srv, bodies: map[string][][]byte{}, pool: session.NewPool(session.PoolConfig{})}
	h := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		action := req.Header.Get("Content-Type")
		op := action[strings.LastIndex(action, "/")+1:]
		op = strings.Trim(op, `"`)
		r.mu.Lock()
		r.bodies[op] = append(r.bodies[op], body)
		refuse, login := r.refuseRenew && op == "Renew", r.refuseLogin && op == "Renew"
		r.mu.Unlock()
		if refuse || login {
			f := soap.NewFault(soap.Sender, "the context cannot be renewed", v.Fault(wssc.UnableToRenew))
			if login {
				f = soap.NewFault(soap.Sender, "authentication failed", xmldoc.Name{Space: wss.NSWSSE, Local: "FailedAuthentication"})
			}
			env, _ := f.Envelope(soap.V12)
			w.Header().Set("Content-Type", "application/soap+xml; charset=utf-8")
			w.WriteHeader(500)
			w.Write(env.Bytes())
			return
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		srv.ServeHTTP(w, req)
	})
	if inMemory {
		r.mem = &memory{up: testkit.Upstream{Handler: h}}
		r.url, _ = url.Parse("https://sts.test/svc")
		r.client = upstream.New(upstream.Config{Transport: r.mem})
		t.Cleanup(func() { r.pool.Close(context.Background()); srv.Close() })
		return r
	}
	ts := httptest.NewTLSServer(h)
	t.Cleanup(func() { r.pool.Close(context.Background()); ts.Close(); srv.Close() })
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	r.url, _ = url.Parse(ts.URL + "/svc")
	r.client = upstream.New(upstream.Config{RootCAs: pool})
	return r
}

func (r *recorder) endpoint(t *testing.T, v wssc.Version, mod func(*session.Config)) *session.Endpoint {
	t.Helper()
	ep, err := r.pool.Endpoint(r.url.String(), func() session.Config {
		cfg := session.Config{URL: r.url, Version: v, Bootstrap: session.Username{User: "demo", Password: creds.NewSecret(password)}, Client: r.client, Timeout: 5 * time.Second}
		if mod != nil {
			mod(&cfg)
		}
		return cfg
	})
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

func (r *recorder) sent(op string) [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.bodies[op]...)
}

// Renew proves possession of the current key (the Timestamp signed with
// it, verified by xmlsec1), does not sign wsa:To, targets the context by
// Identifier (and Instance in 1.3), and yields a new key for the same
// context; Cancel ends it.
func TestRenewThenCancel(t *testing.T) {
	for _, v := range wssc.Versions {
		t.Run(v.String(), func(t *testing.T) {
			r := newRecorder(t, v)
			ep := r.endpoint(t, v, nil)
			first, err := ep.Context(context.Background(), wire12)
			if err != nil {
				t.Fatal(err)
			}
			second, err := ep.Renew(context.Background(), first)
			if err != nil {
				t.Fatal(err)
			}
			if second == first || second.Identifier() != first.Identifier() || bytes.Equal(second.Secure().Key, first.Secure().Key) {
				t.Fatal("renewal did not give the same context a new key")
			}
			if v == wssc.V1_3 && (second.Token.Instance == "" || second.Token.Instance == first.Token.Instance) {
				t.Fatalf("1.3 instance %q after %q", second.Token.Instance, first.Token.Instance)
			}
			// A late caller holding the old context gets the new one, no exchange.
			if again, err := ep.Renew(context.Background(), first); err != nil || again != second {
				t.Fatalf("second Renew of the old context: %v, %v", again, err)
			}
			renews := r.sent("Renew")
			if len(renews) != 1 {
				t.Fatalf("%d Renew requests", len(renews))
			}
			env, err := soap.Parse(renews[0], xmldoc.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			sec, _ := wss.FindSecurity(env.Header)
			sig, err := xmldoc.One(sec, xmldoc.Name{Space: dsig.NS, Local: "Signature"})
			if err != nil {
				t.Fatal(err)
			}
			si, _ := xmldoc.One(sig, xmldoc.Name{Space: dsig.NS, Local: "SignedInfo"})
			refs := xmldoc.Children(si, xmldoc.Name{Space: dsig.NS, Local: "Reference"})
			ts, _ := xmldoc.One(sec, wss.NameTimestamp)
			tsID, _ := wss.ID(ts)
			if len(refs) != 1 || refs[0].SelectAttrValue("URI", "") != "#"+tsID {
				t.Fatalf("Renew signs %d parts, want the Timestamp only", len(refs))
			}
			if to, _ := xmldoc.Optional(env.Header, wsa.V10.Name("To")); to == nil {
				t.Fatal("Renew has no wsa:To")
			} else if _, signed := wss.ID(to); signed {
				t.Fatal("wsa:To carries an Id (signed)")
			}
			if out, ok := oracle.XMLSecVerify(t, renews[0], oracle.Key{HMAC: first.Secure().Key}, wss.NSWSU+":Timestamp"); !ok {
				t.Fatalf("xmlsec1 rejected the Renew with the old key:\n%s", out)
			}
			if !bytes.Contains(renews[0], []byte(first.Identifier())) {
				t.Fatal("RenewTarget does not name the context")
			}
			if err := r.pool.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			if st := r.srv.Stats(); st.Issued != 1 || st.Renewed != 1 || st.Cancelled != 1 {
				t.Fatalf("server saw issued %d renewed %d cancelled %d", st.Issued, st.Renewed, st.Cancelled)
			}
			if out, ok := oracle.XMLSecVerify(t, r.sent("Cancel")[0], oracle.Key{HMAC: second.Secure().Key}, wss.NSWSU+":Timestamp"); !ok {
				t.Fatalf("xmlsec1 rejected the Cancel with the current key:\n%s", out)
			}
			if st := ep.Status(); st.State != session.StateClosed || st.Renewals != 1 || st.Cancels != 1 || st.Establishes != 1 {
				t.Fatalf("status %+v", st)
			}
			if _, err := ep.Context(context.Background(), wire12); err == nil {
				t.Fatal("a closed endpoint handed out a context")
			}
		})
	}
}

// A server that cannot renew gets a new Issue; the replaced context is
// cancelled by the endpoint's keeper once the rollover has passed, not
// before.
func TestRenewRefusedReissuesAndRetiresAfterRollover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newMemRecorder(t, wssc.V1_3)
		r.refuseRenew = true
		ep := r.endpoint(t, wssc.V1_3, func(c *session.Config) { c.Rollover = 300 * time.Millisecond; c.CancelReplaced = true })
		first, err := ep.Context(context.Background(), wire12)
		if err != nil {
			t.Fatal(err)
		}
		second, err := ep.Renew(context.Background(), first)
		if err != nil {
			t.Fatal(err)
		}
		if second.Identifier() == first.Identifier() {
			t.Fatal("refused renewal kept the context")
		}
		if ep.Stats().RenewRefused != 1 || r.srv.Stats().Issued != 2 {
			t.Fatalf("refused %d, issued %d", ep.Stats().RenewRefused, r.srv.Stats().Issued)
		}
		time.Sleep(300*time.Millisecond - time.Nanosecond)
		synctest.Wait()
		if c := r.srv.Stats().Cancelled; c != 0 {
			t.Fatalf("old context cancelled before the rollover (%d)", c)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if c := r.srv.Stats().Cancelled; c != 1 {
			t.Fatalf("old context not cancelled once the rollover passed (%d)", c)
		}
		if cs := r.srv.Stats().Contexts[first.Identifier()]; !cs.Cancelled {
			t.Fatal("the wrong context was cancelled")
		}
		_ = r.pool.Close(context.Background())
		if st := r.srv.Stats(); st.Cancelled != 2 {
			t.Fatalf("cancelled %d at the end, want 2", st.Cancelled)
		}
	})
}

// A Renew carries the bootstrap credential: when the service refuses the
// credential (wsse:FailedAuthentication), no Issue follows with the same
// credential (a second failed login), and the refusal is held like an
// Issue's.
func TestRenewWithRefusedCredentialIsNotReissued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newMemRecorder(t, wssc.V1_3)
		r.refuseLogin = true
		ep := r.endpoint(t, wssc.V1_3, nil)
		first, err := ep.Context(context.Background(), wire12)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ep.Renew(context.Background(), first)
		var f *soap.Fault
		if !errors.As(err, &f) || !f.Has(xmldoc.Name{Space: wss.NSWSSE, Local: "FailedAuthentication"}) {
			t.Fatalf("renewal: %v, want the service's FailedAuthentication", err)
		}
		if st := r.srv.Stats(); st.Issued != 1 || ep.Stats().RenewRefused != 0 {
			t.Fatalf("issued %d, renewals refused %d: want 1 and 0 (no second login)", st.Issued, ep.Stats().RenewRefused)
		}
		if _, err := ep.Renew(context.Background(), first); !errors.As(err, new(*session.HeldError)) {
			t.Fatalf("a second renewal at once: %v, want it held", err)
		}
		if n := len(r.sent("Renew")); n != 1 {
			t.Fatalf("%d Renew requests, want 1", n)
		}
	})
}

func TestReissueModeNeverRenews(t *testing.T) {
	r := newRecorder(t, wssc.Feb2005)
	ep := r.endpoint(t, wssc.Feb2005, func(c *session.Config) { c.RenewMode = session.Reissue; c.Version = wssc.Feb2005 })
	c, err := ep.Context(context.Background(), wire12)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ep.Renew(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if len(r.sent("Renew")) != 0 || r.srv.Stats().Issued != 2 {
		t.Fatalf("renews %d issued %d", len(r.sent("Renew")), r.srv.Stats().Issued)
	}
}

// While an expired context's renewal keeps failing, requests fail at once
// with a HeldError naming the retry time instead of queueing.
func TestExpiredContextFailsFastWhileRetrying(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newMemRecorder(t, wssc.V1_3)
		now := time.Now()
		clock := func() time.Time { return now }
		var mu sync.Mutex
		ep := r.endpoint(t, wssc.V1_3, func(c *session.Config) {
			c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock() }
			c.RetryAt = func(first time.Time, n int) time.Time { return first.Add(time.Minute) }
		})
		c, err := ep.Context(context.Background(), wire12)
		if err != nil {
			t.Fatal(err)
		}
		r.mem.down.Store(true) // the STS is gone
		mu.Lock()
		clock = func() time.Time { return c.Expires.Add(time.Second) }
		mu.Unlock()
		if _, err := ep.Renew(context.Background(), c); err == nil {
			t.Fatal("renewal against a closed server succeeded")
		}
		start := time.Now()
		_, err = ep.Context(context.Background(), wire12)
		var held *session.HeldError
		if !errors.As(err, &held) || held.Failures != 1 {
			t.Fatalf("error %v, want a HeldError", err)
		}
		if d := time.Since(start); d != 0 {
			t.Fatalf("held request took %v", d)
		}
		if st := ep.Status(); st.State != session.StateFailing || st.LastError == "" || st.RetryAt.IsZero() {
			t.Fatalf("status %+v", st)
		}
	})
}
