package session_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/scproxy/scproxy/bootstrap"
	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/msgsec"
	"github.com/scproxy/scproxy/wire/secure"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wstrust"
)

// fakeProtection stands for message security in front of the built-in
// server: it secures as the sc-tls profile does (which the server
// checks: a credential, endorsed by the context when there is one) and records which binding protected each request and which
// replies were opened; refuse makes every opening fail.
type fakeProtection struct {
	refuse bool

	mu     sync.Mutex
	calls  []string // "bootstrap" or "context <identifier>"
	opened []string // the same, for each reply opened
}

func (f *fakeProtection) Kind() string { return "fake" }

func (f *fakeProtection) Bootstrap(_ context.Context, env *soap.Envelope, o secure.Options) ([]byte, wstrust.OpenFunc, error) {
	b, err := secure.WithUsername(env, "demo", password, false, o)
	return b, f.opener("bootstrap"), err
}

func (f *fakeProtection) Renew(_ context.Context, env *soap.Envelope, c secure.Context, o secure.Options) ([]byte, wstrust.OpenFunc, error) {
	return f.Context(env, c, o)
}

func (f *fakeProtection) Context(env *soap.Envelope, c secure.Context, o secure.Options) ([]byte, wstrust.OpenFunc, error) {
	// The built-in server of the sc-tls profile wants the credential in
	// a Renew, endorsed by the context.
	o.Endorse = &secure.Endorsement{Context: c}
	b, err := secure.WithUsername(env, "demo", password, false, o)
	return b, f.opener("context " + c.Token.Identifier), err
}

// opener records the request as protected by what and returns the step
// that records its reply opened, or refuses it.
func (f *fakeProtection) opener(what string) wstrust.OpenFunc {
	f.mu.Lock()
	f.calls = append(f.calls, what)
	f.mu.Unlock()
	return func(reply *soap.Envelope) (*soap.Envelope, error) {
		if f.refuse {
			return nil, errors.New("the Body is not signed")
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.opened = append(f.opened, what)
		return reply, nil
	}
}

func (f *fakeProtection) record() (calls, opened []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...), append([]string(nil), f.opened...)
}

// Under message security the Issue is protected by the bootstrap
// binding, the Renew and the Cancel by the context they concern, and
// every reply is opened by the step its own request returned before it
// is read.
func TestMessageProtectionOfTheSTSExchanges(t *testing.T) {
	r := newRecorder(t, wssc.V1_3)
	prot := &fakeProtection{}
	ep := r.endpoint(t, wssc.V1_3, func(c *session.Config) { c.Message = prot })
	first, err := ep.Context(context.Background(), wire12)
	if err != nil {
		t.Fatal(err)
	}
	second, err := ep.Renew(context.Background(), first)
	if err != nil {
		t.Fatal(err)
	}
	if second.Identifier() != first.Identifier() {
		t.Fatal("the renewal answered for another context")
	}
	if err := r.pool.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	calls, opened := prot.record()
	id := "context " + first.Identifier()
	want := []string{"bootstrap", id, id}
	if strings.Join(calls, ",") != strings.Join(want, ",") || strings.Join(opened, ",") != strings.Join(want, ",") {
		t.Fatalf("requests protected by %q, replies opened %q; want %q for Issue, Renew and Cancel", calls, opened, want)
	}
	if st := r.srv.Stats(); st.Issued != 1 || st.Renewed != 1 || st.Cancelled != 1 {
		t.Fatalf("server saw issued %d renewed %d cancelled %d", st.Issued, st.Renewed, st.Cancelled)
	}
}

// A reply the protection cannot open fails the exchange with the reason,
// and no context comes of it.
func TestMessageProtectionRefusedReply(t *testing.T) {
	r := newRecorder(t, wssc.V1_3)
	ep := r.endpoint(t, wssc.V1_3, func(c *session.Config) { c.Message = &fakeProtection{refuse: true} })
	c, err := ep.Context(context.Background(), wire12)
	if err == nil || c != nil {
		t.Fatalf("Context = %v, %v; want the refusal", c, err)
	}
	if !strings.Contains(err.Error(), "cannot be trusted: the Body is not signed") {
		t.Fatalf("error %q does not say why the reply was refused", err)
	}
	if ep.Current() != nil {
		t.Fatal("a context was kept from a refused reply")
	}
}

// ResponseKeys: the answer to a request secured with the current context
// is keyed by it, or during the rollover by the context it replaced; the
// answer to a request secured with the replaced context is accepted
// during the rollover and refused after it.
func TestResponseKeysFollowTheRollover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newMemRig(t, scserver.Config{}, nil)
		ep := r.unkept(t, func(c *session.Config) { c.Rollover = time.Minute })
		first, err := ep.Context(t.Context(), wire12)
		if err != nil {
			t.Fatal(err)
		}
		if got := ep.ResponseKeys(first); len(got) != 1 || got[0] != first {
			t.Fatalf("before a renewal: %v, want the context alone", got)
		}
		second, err := ep.Renew(t.Context(), first)
		if err != nil {
			t.Fatal(err)
		}
		if got := ep.ResponseKeys(second); len(got) != 2 || got[0] != second || got[1] != first {
			t.Fatalf("current during the rollover: %v, want it and the replaced one", got)
		}
		if got := ep.ResponseKeys(first); len(got) != 1 || got[0] != first {
			t.Fatalf("replaced, during the rollover: %v, want it", got)
		}
		time.Sleep(time.Minute)
		if got := ep.ResponseKeys(first); len(got) != 0 {
			t.Fatalf("replaced, after the rollover: %v, want none", got)
		}
		if got := ep.ResponseKeys(second); len(got) != 1 || got[0] != second {
			t.Fatalf("current after the rollover: %v, want it alone", got)
		}
	})
}

// messageRig is the built-in server in the message-security profile over
// plain HTTP, and an endpoint protecting its STS exchanges with the
// bootstrap binding mb.
func messageRig(t *testing.T, v wssc.Version, mb bootstrap.MessageKind, order msgsec.Order, derived bool, mods ...func(*bootstrap.MessageConfig)) (*scserver.Server, *session.Endpoint, *session.Pool) {
	t.Helper()
	srv, err := scserver.New(scserver.Config{
		PlainHTTP: true, Versions: []wssc.Version{v}, Users: map[string]string{"demo": password},
		TrustedCAs: testkit.Pool(),
		Message: &scserver.MessageSecurity{
			Order: order, DerivedKeys: derived,
			Bootstraps: []scserver.MessageBootstrap{scserver.BootstrapAnonymous, scserver.BootstrapUsername, scserver.BootstrapMutual, scserver.BootstrapMutual10},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { ts.Close(); srv.Close() })
	cert, _ := srv.ServiceCertificate()
	mc := bootstrap.MessageConfig{Kind: mb, ServerCert: cert, Version: v, Order: order, DerivedKeys: derived,
		User: "demo", Password: creds.NewSecret(password)}
	if mb == bootstrap.MutualCertificate || mb == bootstrap.MutualCertificate10 {
		mc.User = ""
		mc.Client = &secure.Certificate{Cert: testkit.Client().Cert, Key: testkit.Client().Key}
	}
	if mb == bootstrap.AnonymousForCertificate {
		mc.User = ""
	}
	for _, mod := range mods {
		mod(&mc)
	}
	m, err := bootstrap.NewMessage(mc)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(ts.URL + "/svc")
	pool := session.NewPool(session.PoolConfig{})
	ep, err := pool.Endpoint(u.String(), func() session.Config {
		return session.Config{URL: u, Version: v, Bootstrap: m, Message: m, Client: upstream.New(upstream.Config{}), Timeout: 5 * time.Second}
	})
	if err != nil {
		t.Fatal(err)
	}
	return srv, ep, pool
}

// Against the built-in server in the message-security profile, each
// bootstrap binding establishes a context (the Issue protected by it, the
// reply opened), which is renewed in place and cancelled. The Renew goes
// in either shape: protected by the context alone, or as WCF's client
// sends it (under the bootstrap binding, the context endorsing); both are
// accepted (a refused Renew's new Issue is
// TestRenewRefusedReissuesAndRetiresAfterRollover's).
func TestMessageProfileIssueRenewCancel(t *testing.T) {
	for _, underBootstrap := range []bool{false, true} {
		for _, v := range wssc.Versions {
			for _, mb := range []bootstrap.MessageKind{bootstrap.AnonymousForCertificate, bootstrap.UserNameForCertificate, bootstrap.MutualCertificate, bootstrap.MutualCertificate10} {
				t.Run(fmt.Sprintf("%s/%s/renew-under-bootstrap=%v", v, mb, underBootstrap), func(t *testing.T) {
					srv, ep, pool := messageRig(t, v, mb, msgsec.SignBeforeEncryptAndEncryptSignature, true,
						func(c *bootstrap.MessageConfig) { c.RenewUnderBootstrap = underBootstrap })
					first, err := ep.Context(context.Background(), wire12)
					if err != nil {
						t.Fatal(err)
					}
					second, err := ep.Renew(context.Background(), first)
					if err != nil {
						t.Fatal(err)
					}
					if second.Identifier() != first.Identifier() || string(second.Secure().Key) == string(first.Secure().Key) {
						t.Fatal("the renewal did not give the context a new key")
					}
					if err := pool.Close(context.Background()); err != nil {
						t.Fatal(err)
					}
					if st := srv.Stats(); st.Issued != 1 || st.Renewed != 1 || st.Cancelled != 1 {
						t.Fatalf("server saw issued %d renewed %d cancelled %d, want 1 each", st.Issued, st.Renewed, st.Cancelled)
					}
					if st := ep.Stats(); st.RenewRefused != 0 {
						t.Fatalf("%d renewals refused", st.RenewRefused)
					}
					if st := ep.Status(); st.Bootstrap != mb.String() {
						t.Fatalf("status names bootstrap %q, want %q", st.Bootstrap, mb)
					}
				})
			}
		}
	}
}
