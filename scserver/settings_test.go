package scserver

import (
	"bytes"
	"testing"
	"time"

	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// rstrLifetime reads the Lifetime of an Issue or Renew reply by hand.
func rstrLifetime(t *testing.T, r *response, v wssc.Version) (created, expires string) {
	t.Helper()
	tn := func(local string) xmldoc.Name { return xmldoc.Name{Space: v.Trust(), Local: local} }
	rstr := r.payload(t)
	if v == wssc.V1_3 {
		rstr = one(t, rstr, tn("RequestSecurityTokenResponse"))
	}
	lt := one(t, rstr, tn("Lifetime"))
	return xmldoc.Text(one(t, lt, wss.NameCreated)), xmldoc.Text(one(t, lt, wss.NameExpires))
}

// TestLifetimeSetting: a non-default Lifetime is what the Issue and Renew
// replies state, and when the context stops working: accepted a
// millisecond before, BadContextToken at the instant.
func TestLifetimeSetting(t *testing.T) {
	const lifetime = 2 * time.Hour
	for _, v := range wssc.Versions {
		t.Run(v.String(), func(t *testing.T) {
			h := start(t, Config{Lifetime: lifetime})
			t0 := h.clock.Now()
			entropy := bytes.Repeat([]byte{0x5a}, 32)
			r := h.post(soap.V12, v.Action(wssc.Issue), h.issueMessage(v, soap.V12, wsa.V10, bootUsername, entropy, t0)).ok(t)
			if c, e := rstrLifetime(t, r, v); c != wss.FormatTime(t0) || e != wss.FormatTime(t0.Add(lifetime)) {
				t.Errorf("Issue Lifetime %s..%s, want %s + %s", c, e, wss.FormatTime(t0), lifetime)
			}
			c := grantOf(t, r, v, entropy)
			h.clock.Set(t0.Add(lifetime - time.Millisecond))
			h.echo(c, refID).ok(t)
			h.clock.Set(t0.Add(lifetime))
			h.echo(c, refID).wantFault(t, v.Fault(wssc.BadContextToken), "expired at "+wss.FormatTime(t0.Add(lifetime)))

			// A renewal restarts the lifetime from its own time.
			h2 := start(t, Config{Lifetime: lifetime})
			c = h2.issue(v)
			t1 := h2.clock.Now().Add(time.Hour)
			h2.clock.Set(t1)
			rr := h2.post(soap.V12, v.Action(wssc.Renew), h2.lifecycle(c, wssc.Renew, targetXML(v, c.identifier, ""), entropy)).ok(t)
			if cr, e := rstrLifetime(t, rr, v); cr != wss.FormatTime(t1) || e != wss.FormatTime(t1.Add(lifetime)) {
				t.Errorf("Renew Lifetime %s..%s, want %s + %s", cr, e, wss.FormatTime(t1), lifetime)
			}
			renewed := grantOf(t, rr, v, entropy)
			h2.clock.Set(t1.Add(lifetime - time.Millisecond))
			h2.echo(renewed, refID).ok(t)
			h2.clock.Set(t1.Add(lifetime))
			h2.echo(renewed, refID).wantFault(t, v.Fault(wssc.BadContextToken), "expired at")
		})
	}
}

// TestRolloverSetting: a one-minute Rollover keeps the replaced key
// working up to just before a minute after the renewal, not at the
// minute; a negative one retires it at once; zero is the default (five
// minutes, see TestRenew).
func TestRolloverSetting(t *testing.T) {
	tests := []struct {
		name     string
		rollover time.Duration
		inside   time.Duration // still accepted this long after renewal; <0: never
		outside  time.Duration // refused from this long after renewal
	}{
		{"one minute", time.Minute, time.Minute - time.Millisecond, time.Minute},
		{"negative: no rollover", -time.Second, -1, 0},
		{"zero: the default", 0, DefaultRollover - time.Millisecond, DefaultRollover},
	}
	for _, v := range wssc.Versions {
		for _, tc := range tests {
			t.Run(v.String()+"/"+tc.name, func(t *testing.T) {
				h := start(t, Config{Rollover: tc.rollover})
				old := h.issue(v)
				renewedAt := h.clock.Now()
				renewed := h.renew(old)
				if tc.inside >= 0 {
					h.clock.Set(renewedAt.Add(tc.inside))
					h.echo(old, refID).ok(t)
					h.echo(old, refDerived).ok(t)
				}
				h.clock.Set(renewedAt.Add(tc.outside))
				h.echo(old, refID).wantFault(t, codeFailedCheck, "does not verify")
				h.echo(renewed, refID).ok(t)
			})
		}
	}
}

// TestRenewEntropyModes renews under server-only and client-only entropy
// in both versions: the reply's proof token has the mode's shape, the
// new key is the server's BinarySecret or exactly the client's entropy,
// and it verifies messages while the old key rolls over.
func TestRenewEntropyModes(t *testing.T) {
	tests := []struct {
		policy Entropy
		proof  string // child of RequestedProofToken, "" for none
	}{
		{EntropyServer, "BinarySecret"},
		{EntropyClient, ""},
	}
	for _, v := range wssc.Versions {
		for _, tc := range tests {
			t.Run(v.String()+"/"+tc.policy.String(), func(t *testing.T) {
				h := start(t, Config{Entropy: tc.policy})
				old := h.issue(v)
				entropy := bytes.Repeat([]byte{0xc3}, 32)
				r := h.post(soap.V12, v.Action(wssc.Renew), h.lifecycle(old, wssc.Renew, targetXML(v, old.identifier, old.instance), entropy)).ok(t)
				tn := func(local string) xmldoc.Name { return xmldoc.Name{Space: v.Trust(), Local: local} }
				rstr := r.payload(t)
				if v == wssc.V1_3 {
					rstr = one(t, rstr, tn("RequestSecurityTokenResponse"))
				}
				proof, _ := xmldoc.Optional(rstr, tn("RequestedProofToken"))
				switch {
				case tc.proof == "" && proof != nil:
					t.Errorf("client-entropy renewal sent a proof token: %s", xmldoc.Serialize(proof))
				case tc.proof != "" && (proof == nil || proof.ChildElements()[0].Tag != tc.proof):
					t.Errorf("proof token %v, want %s", proof, tc.proof)
				}
				if ent, _ := xmldoc.Optional(rstr, tn("Entropy")); ent != nil {
					t.Errorf("a %s renewal carries server Entropy", tc.policy)
				}
				renewed := grantOf(t, r, v, entropy)
				if bytes.Equal(renewed.key, old.key) || renewed.identifier != old.identifier {
					t.Fatalf("renewal kept the key or changed the context")
				}
				if tc.policy == EntropyClient && !bytes.Equal(renewed.key, entropy) {
					t.Errorf("client-entropy key %x, want the entropy sent", renewed.key)
				}
				h.echo(renewed, refID).ok(t)
				h.echo(renewed, refDerived).ok(t)
				h.echo(old, refID).ok(t) // rollover
			})
		}
	}
}

// TestLifecycleThroughDerivedKey: a Renew and a Cancel signed through a
// DerivedKeyToken over the context (WSS4J's way) are accepted like
// direct ones.
func TestLifecycleThroughDerivedKey(t *testing.T) {
	for _, v := range wssc.Versions {
		t.Run(v.String(), func(t *testing.T) {
			h := start(t, Config{})
			c := h.issue(v)
			entropy := bytes.Repeat([]byte{0x7e}, 32)
			sec := timestamp(h.clock.Now(), 5*time.Minute) + usernameToken(testUser, testPassword, false, h.clock.Now())
			src := contextMessageTS(t, c, soap.V12, wsa.V10, v.Action(wssc.Renew), rstXML(v, wssc.Renew, entropy, 256, targetXML(v, c.identifier, "")), sec, refDerived)
			if !bytes.Contains(src, []byte("DerivedKeyToken")) {
				t.Fatal("the Renew is not signed through a DerivedKeyToken")
			}
			renewed := grantOf(t, h.post(soap.V12, v.Action(wssc.Renew), src).ok(t), v, entropy)
			h.echo(renewed, refID).ok(t)
			src = contextMessage(t, renewed, soap.V12, wsa.V10, v.Action(wssc.Cancel), rstXML(v, wssc.Cancel, nil, 0, targetXML(v, c.identifier, "")), h.clock.Now(), refDerived)
			h.post(soap.V12, v.Action(wssc.Cancel), src).ok(t)
			h.echo(renewed, refDerived).wantFault(t, v.Fault(wssc.BadContextToken), "was cancelled")
			if st := h.srv.Stats(); st.Renewed != 1 || st.Cancelled != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestCancelWithoutTarget: a Cancel with no CancelTarget, or an empty
// one, is an InvalidRequest and cancels nothing.
func TestCancelWithoutTarget(t *testing.T) {
	for _, v := range wssc.Versions {
		t.Run(v.String(), func(t *testing.T) {
			h := start(t, Config{})
			c := h.issue(v)
			invalid := xmldoc.Name{Space: v.Trust(), Local: "InvalidRequest"}
			empty := h.lifecycle(c, wssc.Cancel, "", nil)
			h.post(soap.V12, v.Action(wssc.Cancel), empty).wantFault(t, invalid, "CancelTarget")
			body := mangle([]byte(rstXML(v, wssc.Cancel, nil, 0, "")), "<t:CancelTarget></t:CancelTarget>", "")
			absent := contextMessage(t, c, soap.V12, wsa.V10, v.Action(wssc.Cancel), string(body), h.clock.Now(), refID)
			h.post(soap.V12, v.Action(wssc.Cancel), absent).wantFault(t, invalid, "has no CancelTarget")
			h.echo(c, refID).ok(t)
			if st := h.srv.Stats(); st.Cancelled != 0 || st.Contexts[c.identifier].Cancelled {
				t.Errorf("stats %+v", st)
			}
		})
	}
}
