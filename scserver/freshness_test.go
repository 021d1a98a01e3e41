package scserver

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// freshCase is a Timestamp, relative to the server's clock, and what the
// server answers: ok, or a fault code and words of its reason.
type freshCase struct {
	name             string
	created, expires time.Duration // from now; expires noExpires: none
	code             xmldoc.Name   // zero: accepted
	reason           string
}

// noExpires marks a freshCase without Expires.
const noExpires = time.Duration(-1 << 63)

// xml writes the case's Timestamp at now.
func (fc freshCase) xml(now time.Time) string {
	var exp time.Time
	if fc.expires != noExpires {
		exp = now.Add(fc.expires)
	}
	return timestampAt(now.Add(fc.created), exp)
}

// check posts src and compares the answer with the case.
func (fc freshCase) check(t *testing.T, h *harness, action string, src []byte) {
	t.Helper()
	r := h.post(soap.V12, action, src)
	if fc.code == (xmldoc.Name{}) {
		r.ok(t)
		return
	}
	r.wantFault(t, fc.code, fc.reason)
}

// freshCases are judged under the default policy: 5 minutes of validity
// and 5 minutes of skew. Boundary instants are accepted, a millisecond
// beyond them refused.
var freshCases = []freshCase{
	{"fresh", -time.Second, 5 * time.Minute, xmldoc.Name{}, ""},
	{"fresh, no Expires", -time.Minute, noExpires, xmldoc.Name{}, ""},
	{"stale Created, Expires an hour away", -11 * time.Minute, time.Hour, codeMessageExpired, "too old"},
	{"no Expires, created a day ago", -24 * time.Hour, noExpires, codeMessageExpired, "too old"},
	{"created a year ago, Expires a year away", -365 * 24 * time.Hour, 365 * 24 * time.Hour, codeMessageExpired, "too old"},
	{"far-future Expires on a fresh Created", -time.Second, 365 * 24 * time.Hour, xmldoc.Name{}, ""},
	{"Expires before Created", 0, -time.Second, codeInvalidSecurity, "expires before it is created"},
	{"Expires equal to Created", -time.Second, -time.Second, codeInvalidSecurity, "not after Created"},
	{"Created exactly validity plus skew ago", -10 * time.Minute, noExpires, xmldoc.Name{}, ""},
	{"Created a millisecond before that", -10*time.Minute - time.Millisecond, noExpires, codeMessageExpired, "too old"},
	{"Created exactly skew ahead", 5 * time.Minute, 10 * time.Minute, xmldoc.Name{}, ""},
	{"Created a millisecond further ahead", 5*time.Minute + time.Millisecond, 10 * time.Minute, codeInvalidSecurity, "created in the future"},
	{"Expires exactly skew ago", -9 * time.Minute, -5 * time.Minute, xmldoc.Name{}, ""},
	{"Expires a millisecond before that", -9 * time.Minute, -5*time.Minute - time.Millisecond, codeMessageExpired, "has expired"},
}

// TestFreshnessApplication: application messages (echo) signed with a
// context key, in both versions, each with a hand-built Timestamp of
// freshCases. A stale Created is refused whatever Expires says.
func TestFreshnessApplication(t *testing.T) {
	for _, v := range wssc.Versions {
		h := start(t, Config{})
		c := h.issue(v)
		for _, fc := range freshCases {
			t.Run(v.String()+"/"+fc.name, func(t *testing.T) {
				src := contextMessageTS(t, c, soap.V12, wsa.V10, echoAction, echoBody, fc.xml(h.clock.Now()), refID)
				fc.check(t, h, echoAction, src)
			})
		}
	}
}

// TestFreshnessIssue: Issue requests bootstrapped with a UsernameToken
// and with an X.509 signature, each with a hand-built Timestamp of
// freshCases.
func TestFreshnessIssue(t *testing.T) {
	entropy := bytes.Repeat([]byte{0x44}, 32)
	for _, v := range wssc.Versions {
		h := start(t, Config{})
		m := msg{soap: soap.V12, wsa: wsa.V10, action: v.Action(wssc.Issue), messageID: "urn:uuid:f", body: rstXML(v, wssc.Issue, entropy, 256, "")}
		for _, fc := range freshCases {
			now := h.clock.Now()
			t.Run(v.String()+"/username/"+fc.name, func(t *testing.T) {
				um := m
				um.security = fc.xml(now) + usernameToken(testUser, testPassword, false, now)
				fc.check(t, h, v.Action(wssc.Issue), []byte(um.xml()))
			})
			t.Run(v.String()+"/x509/"+fc.name, func(t *testing.T) {
				fc.check(t, h, v.Action(wssc.Issue), x509SignedTS(t, m, h.pki.good, h.pki.goodKey, fc.xml(now)))
			})
		}
	}
}

// TestFreshnessRenewCancel: a Renew and a Cancel signed with the current
// key but carrying a stale Timestamp (no Expires) are refused, and the
// context is neither renewed nor cancelled.
func TestFreshnessRenewCancel(t *testing.T) {
	for _, v := range wssc.Versions {
		t.Run(v.String(), func(t *testing.T) {
			h := start(t, Config{})
			c := h.issue(v)
			stale := timestampAt(h.clock.Now().Add(-time.Hour), time.Time{})
			renew := contextMessageTS(t, c, soap.V12, wsa.V10, v.Action(wssc.Renew), rstXML(v, wssc.Renew, bytes.Repeat([]byte{1}, 32), 256, targetXML(v, c.identifier, "")), stale, refID)
			h.post(soap.V12, v.Action(wssc.Renew), renew).wantFault(t, codeMessageExpired, "too old")
			cancel := contextMessageTS(t, c, soap.V12, wsa.V10, v.Action(wssc.Cancel), rstXML(v, wssc.Cancel, nil, 0, targetXML(v, c.identifier, "")), stale, refID)
			h.post(soap.V12, v.Action(wssc.Cancel), cancel).wantFault(t, codeMessageExpired, "too old")
			h.echo(c, refID).ok(t) // the original key, still current and live
			if st := h.srv.Stats(); st.Renewed != 0 || st.Cancelled != 0 || st.Faults["MessageExpired"] != 2 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestTimestampPolicySettings: TimestampValidity and Skew move the
// boundaries (accepted just inside, refused just outside), the digest
// UsernameToken's Created follows the same window, and negative values
// are refused by New.
func TestTimestampPolicySettings(t *testing.T) {
	cfg := Config{TimestampValidity: time.Minute, Skew: 30 * time.Second}
	h := start(t, cfg)
	c := h.issue(wssc.V1_3)
	ms := time.Millisecond
	tests := []freshCase{
		{"Created validity plus skew ago", -90 * time.Second, noExpires, xmldoc.Name{}, ""},
		{"Created a millisecond older", -90*time.Second - ms, noExpires, codeMessageExpired, "maximum age 1m0s and skew 30s"},
		{"Created skew ahead", 30 * time.Second, time.Minute, xmldoc.Name{}, ""},
		{"Created a millisecond further ahead", 30*time.Second + ms, time.Minute, codeInvalidSecurity, "plus skew 30s"},
		{"Expires skew ago", -40 * time.Second, -30 * time.Second, xmldoc.Name{}, ""},
		{"Expires a millisecond before that", -40 * time.Second, -30*time.Second - ms, codeMessageExpired, "minus skew 30s"},
		// Under the default policy (10 minutes in all) this one passes.
		{"Created two minutes ago", -2 * time.Minute, 3 * time.Minute, codeMessageExpired, "too old"},
	}
	for _, fc := range tests {
		t.Run(fc.name, func(t *testing.T) {
			src := contextMessageTS(t, c, soap.V12, wsa.V10, echoAction, echoBody, fc.xml(h.clock.Now()), refID)
			fc.check(t, h, echoAction, src)
		})
	}
	t.Run("digest UsernameToken Created", func(t *testing.T) {
		now := h.clock.Now()
		for _, tc := range []struct {
			age  time.Duration
			want bool
		}{{90 * time.Second, true}, {91 * time.Second, false}} {
			v := wssc.V1_3
			m := msg{soap: soap.V12, wsa: wsa.V10, action: v.Action(wssc.Issue), body: rstXML(v, wssc.Issue, bytes.Repeat([]byte{2}, 32), 256, ""),
				security: timestamp(now, time.Minute) + usernameToken(testUser, testPassword, true, now.Add(-tc.age))}
			r := h.post(soap.V12, v.Action(wssc.Issue), []byte(m.xml()))
			if tc.want {
				r.ok(t)
			} else {
				r.wantFault(t, codeMessageExpired, "UsernameToken was created")
			}
		}
	})
	for _, bad := range []Config{{TimestampValidity: -time.Second}, {Skew: -time.Second}} {
		if _, err := New(bad); err == nil {
			t.Errorf("New(%+v) accepted a negative duration", fmt.Sprint(bad.TimestampValidity, bad.Skew))
		}
	}
}
