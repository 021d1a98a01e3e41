package scserver

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wssc"
)

// TestStoreSweepsEndedContexts: contexts issued, renewed and cancelled
// over an hour-long lifetime, then the clock moved on. Until endedKept
// past their expiry the server still says why each one ended; after
// that the store and the per-context counters hold only the live ones
// (back to about zero), the aggregates keep their counts, and messages
// on the dropped contexts still get BadContextToken.
func TestStoreSweepsEndedContexts(t *testing.T) {
	const n, cancelled = 40, 10
	for _, v := range wssc.Versions {
		t.Run(v.String(), func(t *testing.T) {
			h := start(t, Config{Lifetime: time.Hour})
			t0 := h.clock.Now()
			var cs []ctx
			for range n {
				cs = append(cs, h.issue(v))
			}
			for _, c := range cs[:cancelled] {
				h.post(soap.V12, v.Action(wssc.Cancel), h.lifecycle(c, wssc.Cancel, targetXML(v, c.identifier, ""), nil)).ok(t)
			}
			// One context renewed late in its life lives on past the others.
			h.clock.Set(t0.Add(50 * time.Minute))
			renewed := h.renew(cs[n-1])
			if got := h.srv.store.len(); got != n {
				t.Fatalf("store holds %d contexts, want %d", got, n)
			}

			// Just past expiry: the reasons are still precise.
			h.clock.Set(t0.Add(time.Hour + time.Second))
			h.echo(cs[cancelled], refID).wantFault(t, v.Fault(wssc.BadContextToken), "expired at")
			h.echo(cs[0], refID).wantFault(t, v.Fault(wssc.BadContextToken), "was cancelled")
			if got := h.srv.store.len(); got != n {
				t.Errorf("store holds %d contexts just after expiry, want all %d (tombstones kept)", got, n)
			}

			// Past expiry plus endedKept plus a sweep interval: any request
			// sweeps.
			h.clock.Set(t0.Add(time.Hour + endedKept + sweepEvery))
			h.echo(renewed, refID).ok(t)
			if got := h.srv.store.len(); got != 1 {
				t.Errorf("store holds %d contexts after the sweep, want 1 (the renewed one)", got)
			}
			st := h.srv.Stats()
			if len(st.Contexts) != 1 || st.Contexts[renewed.identifier].Renewed != 1 {
				t.Errorf("per-context counters after the sweep: %+v", st.Contexts)
			}
			if st.Issued != n || st.Cancelled != cancelled || st.Renewed != 1 {
				t.Errorf("aggregates changed by the sweep: %+v", st)
			}

			// Dropped contexts, cancelled or expired, still get
			// BadContextToken, for messages and lifecycle requests alike.
			h.echo(cs[0], refID).wantFault(t, v.Fault(wssc.BadContextToken), "not known")
			h.echo(cs[cancelled], refDerived).wantFault(t, v.Fault(wssc.BadContextToken), "not known")
			h.post(soap.V12, v.Action(wssc.Renew), h.lifecycle(cs[1], wssc.Renew, targetXML(v, cs[1].identifier, ""), bytes.Repeat([]byte{1}, 32))).
				wantFault(t, v.Fault(wssc.BadContextToken), "not known")
			h.post(soap.V12, v.Action(wssc.Cancel), h.lifecycle(cs[2], wssc.Cancel, targetXML(v, cs[2].identifier, ""), nil)).
				wantFault(t, v.Fault(wssc.BadContextToken), "not known")
			if got := h.srv.store.len(); got != 1 {
				t.Errorf("rejections brought contexts back: store holds %d", got)
			}
			if st := h.srv.Stats(); len(st.Contexts) != 1 || st.RejectedUnknown != 4 {
				t.Errorf("after rejecting dropped contexts: %d entries, %d unknown", len(st.Contexts), st.RejectedUnknown)
			}
		})
	}
}

// TestStoreDropsEndedContextLazily: between sweeps, a lookup that meets
// an ended context drops it.
func TestStoreDropsEndedContextLazily(t *testing.T) {
	h := start(t, Config{Lifetime: time.Hour})
	t0 := h.clock.Now()
	c := h.issue(wssc.V1_3)
	// This request sweeps, too early to drop c; the next sweep is a
	// minute away.
	h.clock.Set(t0.Add(time.Hour + endedKept - 30*time.Second))
	h.echo(c, refID).wantFault(t, wssc.V1_3.Fault(wssc.BadContextToken), "expired at")
	if got := h.srv.store.len(); got != 1 {
		t.Fatalf("store holds %d, want 1", got)
	}
	h.clock.Advance(40 * time.Second) // c has ended; no sweep is due
	h.echo(c, refID).wantFault(t, wssc.V1_3.Fault(wssc.BadContextToken), "not known")
	if got := h.srv.store.len(); got != 0 {
		t.Errorf("store holds %d after meeting an ended context, want 0", got)
	}
}

// TestStatsUnknownIdentifiers: messages naming identifiers the server
// never issued (any sender can make them up) add no per-context entry;
// they count in RejectedUnknown, and LastFailures keeps the latest
// reasons within its bound.
func TestStatsUnknownIdentifiers(t *testing.T) {
	const n = 200
	h := start(t, Config{})
	c := h.issue(wssc.V1_3)
	h.echo(c, refID).ok(t)
	for i := range n {
		ghost := ctx{v: wssc.V1_3, identifier: fmt.Sprintf("urn:uuid:ghost-%d", i), key: bytes.Repeat([]byte{byte(i)}, 32)}
		h.echo(ghost, refID).wantFault(t, wssc.V1_3.Fault(wssc.BadContextToken), "not known")
	}
	st := h.srv.Stats()
	if len(st.Contexts) != 1 || st.Contexts[c.identifier].Verified != 1 || st.Contexts[c.identifier].Rejected != 0 {
		t.Errorf("per-context counters %+v, want only the issued context, untouched", st.Contexts)
	}
	if st.RejectedUnknown != n || st.Rejected != n || st.Faults["BadContextToken"] != n {
		t.Errorf("unknown %d, rejected %d, BadContextToken %d; want %d each", st.RejectedUnknown, st.Rejected, st.Faults["BadContextToken"], n)
	}
	if len(st.LastFailures) != maxFailures || !strings.Contains(st.LastFailures[maxFailures-1], fmt.Sprintf("ghost-%d", n-1)) {
		t.Errorf("last failures: %d kept, latest %q", len(st.LastFailures), st.LastFailures[len(st.LastFailures)-1])
	}
	// A rejection naming the issued context still counts against it.
	bad := c
	bad.key = bytes.Repeat([]byte{0xee}, 32)
	h.echo(bad, refID).wantFault(t, codeFailedCheck, "does not verify")
	if st := h.srv.Stats(); st.Contexts[c.identifier].Rejected != 1 || st.RejectedUnknown != n {
		t.Errorf("rejection of the issued context: %+v, unknown %d", st.Contexts[c.identifier], st.RejectedUnknown)
	}
}

// TestCookieNotRestoredAfterExpiry: after a recycle, a cookie brings its
// context back only while the context is unexpired; an expired one is
// not restored, so old tokens cannot refill the store.
func TestCookieNotRestoredAfterExpiry(t *testing.T) {
	h := start(t, Config{Cookie: true, Lifetime: time.Hour})
	c := h.issue(wssc.Feb2005)
	h.srv.ForgetAll()
	h.echo(c, refID).ok(t) // restored from its cookie
	h.srv.ForgetAll()
	h.clock.Advance(time.Hour)
	h.echo(c, refID).wantFault(t, wssc.Feb2005.Fault(wssc.BadContextToken), "not known")
	if got := h.srv.store.len(); got != 0 {
		t.Errorf("store holds %d after an expired cookie, want 0", got)
	}
}

// BenchmarkStoreSweep times one sweep over 10,000 live contexts, the cost
// a request pays at most once per sweepEvery.
func BenchmarkStoreSweep(b *testing.B) {
	st := newStore()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for i := range 10_000 {
		if err := st.add(&session{Identifier: fmt.Sprintf("urn:uuid:%d", i), Expires: now.Add(100 * 365 * 24 * time.Hour)}); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		now = now.Add(sweepEvery)
		if !st.sweep(now) {
			b.Fatal("no sweep")
		}
	}
	if st.len() != 10_000 {
		b.Fatalf("swept live contexts: %d left", st.len())
	}
}
