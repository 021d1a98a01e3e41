package scserver

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wssc"
)

// TestScriptRenewNeeded: after N messages or a key age the service answers
// RenewNeeded (in the version's SC namespace, with WCF's session fault
// action) until the context is renewed; a renewal restarts the count.
func TestScriptRenewNeeded(t *testing.T) {
	for _, v := range wssc.Versions {
		t.Run(v.String()+"/messages", func(t *testing.T) {
			h := start(t, Config{Script: Script{RenewAfterMessages: 2}})
			c := h.issue(v)
			h.echo(c, refID).ok(t)
			h.echo(c, refDerived).ok(t)
			for range 2 {
				r := h.echo(c, refID)
				r.wantFault(t, v.Fault(wssc.RenewNeeded), "protected 2 messages")
				if hd, _ := r.addressing(t); hd.Action != sessionFaultAction {
					t.Errorf("RenewNeeded action %q", hd.Action)
				}
			}
			c = h.renew(c)
			h.echo(c, refID).ok(t)
			h.echo(c, refID).ok(t)
			h.echo(c, refID).wantFault(t, v.Fault(wssc.RenewNeeded), "limit is 2")
			st := h.srv.Stats()
			if st.Faults["RenewNeeded"] != 3 || st.Contexts[c.identifier].Verified != 4 {
				t.Errorf("stats %+v", st)
			}
		})
		t.Run(v.String()+"/key age", func(t *testing.T) {
			h := start(t, Config{})
			c := h.issue(v)
			if err := h.srv.SetScript(Script{RenewAfterKeyAge: time.Hour}); err != nil {
				t.Fatal(err)
			}
			h.clock.Advance(59 * time.Minute)
			h.echo(c, refID).ok(t)
			h.clock.Advance(time.Minute)
			h.echo(c, refID).wantFault(t, v.Fault(wssc.RenewNeeded), "1h0m0s old")
			c = h.renew(c)
			h.echo(c, refID).ok(t)
			if err := h.srv.SetScript(Script{}); err != nil {
				t.Fatal(err)
			}
			h.clock.Advance(2 * time.Hour)
			h.echo(c, refID).ok(t)
		})
	}
}

// TestScriptForgetAll: a recycle drops every context, so their messages
// get BadContextToken and a new Issue is needed; with cookies, the
// context comes back from the token the client still holds.
func TestScriptForgetAll(t *testing.T) {
	for _, v := range wssc.Versions {
		t.Run(v.String(), func(t *testing.T) {
			h := start(t, Config{})
			c := h.issue(v)
			h.echo(c, refID).ok(t)
			if n := h.srv.ForgetAll(); n != 1 {
				t.Errorf("forgot %d contexts, want 1", n)
			}
			h.echo(c, refID).wantFault(t, v.Fault(wssc.BadContextToken), "not known to this server")
			h.echo(c, refDerived).wantFault(t, v.Fault(wssc.BadContextToken), "not known to this server")
			h.echo(h.issue(v), refID).ok(t)
			if st := h.srv.Stats(); st.Contexts[c.identifier].Verified != 1 || st.Contexts[c.identifier].Rejected != 2 {
				t.Errorf("counters lost in the recycle: %+v", st.Contexts[c.identifier])
			}
		})
		t.Run(v.String()+"/cookie", func(t *testing.T) {
			h := start(t, Config{Cookie: true})
			c := h.issue(v)
			if !strings.Contains(c.token, "Cookie") {
				t.Fatalf("token without cookie: %s", c.token)
			}
			h.srv.ForgetAll()
			h.echo(c, refID).ok(t)
			h.echo(c, refDerived).ok(t)
			// After a renewal the new token's cookie carries the new key.
			r := h.renew(c)
			h.srv.ForgetAll()
			h.echo(r, refID).ok(t)
			h.echo(c, refID).wantFault(t, codeFailedCheck, "does not verify")
			// A cancelled context does not come back while the server
			// remembers the cancellation.
			h.post(soap.V12, v.Action(wssc.Cancel), h.lifecycle(r, wssc.Cancel, targetXML(v, r.identifier, r.instance), nil)).ok(t)
			h.echo(r, refID).wantFault(t, v.Fault(wssc.BadContextToken), "was cancelled")
		})
	}
	t.Run("forged cookie", func(t *testing.T) {
		h := start(t, Config{Cookie: true})
		c := h.issue(wssc.V1_3)
		h.srv.ForgetAll()
		// The same cookie under another Identifier does not open.
		moved := c
		moved.identifier = "urn:uuid:moved"
		moved.token = strings.Replace(c.token, c.identifier, moved.identifier, 1)
		h.echo(moved, refID).wantFault(t, wssc.V1_3.Fault(wssc.BadContextToken), "not known")
		// A cookie from another server does not open either.
		other := start(t, Config{Cookie: true, Rand: &detRand{ctr: 1 << 40}})
		other.echo(c, refID).wantFault(t, wssc.V1_3.Fault(wssc.BadContextToken), "not known")
	})
}

// TestScriptFailNext: the next k requests get the status with no SOAP,
// then service resumes.
func TestScriptFailNext(t *testing.T) {
	h := start(t, Config{})
	c := h.issue(wssc.V1_3)
	if err := h.srv.FailNext(2, http.StatusServiceUnavailable); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		r := h.echo(c, refID)
		if r.status != http.StatusServiceUnavailable || r.env != nil || !strings.Contains(string(r.raw), "scripted failure") {
			t.Errorf("status %d body %q, want a plain 503", r.status, r.raw)
		}
	}
	h.echo(c, refID).ok(t)
	if err := h.srv.FailNext(1, 42); err == nil {
		t.Error("status 42 accepted")
	}
	if err := h.srv.FailNext(-1, 500); err == nil {
		t.Error("negative count accepted")
	}
	if st := h.srv.Stats(); st.Requests != 4 || st.Verified != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestScriptDelay: responses are held back by the delay; a client that
// gives up does not disturb the server.
func TestScriptDelay(t *testing.T) {
	h := start(t, Config{})
	c := h.issue(wssc.V1_3)
	if err := h.srv.SetScript(Script{Delay: 150 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	h.echo(c, refID).ok(t)
	if d := time.Since(began); d < 150*time.Millisecond {
		t.Errorf("reply after %s, want at least the delay", d)
	}

	src := contextMessage(t, c, soap.V12, wsa.V10, echoAction, echoBody, h.clock.Now(), refID)
	ct, _, _ := soap.V12.ContentType(echoAction)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.srv.URL(), bytes.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ct)
	if _, err := h.client.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("impatient client: %v", err)
	}
	if err := h.srv.SetScript(Script{}); err != nil {
		t.Fatal(err)
	}
	h.echo(c, refID).ok(t)
	if err := h.srv.SetScript(Script{Delay: -time.Second}); err == nil {
		t.Error("negative delay accepted")
	}
}

// TestDefaultRejectsNothingExtra: a fresh script does not ask for renewal
// however many messages pass.
func TestDefaultRejectsNothingExtra(t *testing.T) {
	h := start(t, Config{})
	c := h.issue(wssc.Feb2005)
	for range 20 {
		h.echo(c, refID).ok(t)
	}
	if got := h.srv.Stats().Faults; len(got) != 0 {
		t.Errorf("faults %v", got)
	}
}
