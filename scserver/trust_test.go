package scserver

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// TestIssueEntropyModes issues a context in both versions under every
// entropy policy, with and without client entropy, reads the reply by
// hand, and proves the key by having the echo service accept a message
// signed with it, directly and through a DerivedKeyToken.
func TestIssueEntropyModes(t *testing.T) {
	entropy := bytes.Repeat([]byte{0x11}, 32)
	tests := []struct {
		policy    Entropy
		entropy   []byte
		proof     string // local name of the proof token's child, "" for none
		keyIsSent bool
	}{
		{EntropyAuto, entropy, "ComputedKey", false},
		{EntropyAuto, nil, "BinarySecret", true},
		{EntropyCombined, entropy, "ComputedKey", false},
		{EntropyClient, entropy, "", false},
		{EntropyServer, entropy, "BinarySecret", true},
		{EntropyServer, nil, "BinarySecret", true},
	}
	for _, v := range wssc.Versions {
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%s/%s/client-entropy=%t", v, tc.policy, tc.entropy != nil), func(t *testing.T) {
				h := start(t, Config{Entropy: tc.policy})
				r := h.post(soap.V12, v.Action(wssc.Issue), h.issueMessage(v, soap.V12, wsa.V10, bootUsername, tc.entropy, h.clock.Now())).ok(t)
				checkIssueReply(t, r, v, tc.proof, h.clock.Now())
				c := grantOf(t, r, v, tc.entropy)
				if tc.policy == EntropyClient && !bytes.Equal(c.key, entropy) {
					t.Errorf("client-entropy key %x, want the entropy", c.key)
				}
				if len(c.key) != 32 {
					t.Errorf("key of %d bytes, want 32", len(c.key))
				}
				for _, ref := range []keyRef{refID, refIdentifier, refDerived} {
					h.echo(c, ref).ok(t)
				}
				st := h.srv.Stats()
				if st.Issued != 1 || st.Verified != 3 || st.Contexts[c.identifier].Verified != 3 {
					t.Errorf("stats %+v", st)
				}
			})
		}
	}
}

// checkIssueReply checks the reply's addressing and RSTR fields against
// WCF's shape.
func checkIssueReply(t *testing.T, r *response, v wssc.Version, proof string, now time.Time) {
	t.Helper()
	hd, wv := r.addressing(t)
	if wv != wsa.V10 || hd.Action != v.ReplyAction(wssc.Issue) || hd.RelatesTo != "urn:uuid:00000000-0000-4000-8000-0000000000aa" {
		t.Errorf("reply addressing %+v", hd)
	}
	tn := func(local string) xmldoc.Name { return xmldoc.Name{Space: v.Trust(), Local: local} }
	rstr := r.payload(t)
	if v == wssc.V1_3 {
		rstr = one(t, rstr, tn("RequestSecurityTokenResponse"))
	}
	var order []string
	for _, c := range rstr.ChildElements() {
		order = append(order, c.Tag)
	}
	want := []string{"TokenType", "RequestedSecurityToken", "RequestedAttachedReference", "RequestedUnattachedReference"}
	if proof != "" {
		want = append(want, "RequestedProofToken")
	}
	if proof == "ComputedKey" {
		want = append(want, "Entropy")
	}
	want = append(want, "Lifetime", "KeySize")
	if strings.Join(order, " ") != strings.Join(want, " ") {
		t.Errorf("RSTR children %v, want %v", order, want)
	}
	if proof != "" {
		if kid := one(t, rstr, tn("RequestedProofToken")).ChildElements()[0]; kid.Tag != proof {
			t.Errorf("proof token %s, want %s", kid.Tag, proof)
		}
	}
	lt := one(t, rstr, tn("Lifetime"))
	created := xmldoc.Text(one(t, lt, wss.NameCreated))
	expires := xmldoc.Text(one(t, lt, wss.NameExpires))
	if created != wss.FormatTime(now) || expires != wss.FormatTime(now.Add(DefaultLifetime)) {
		t.Errorf("lifetime %s..%s, want %s + 15h", created, expires, wss.FormatTime(now))
	}
	if ks := xmldoc.Text(one(t, rstr, tn("KeySize"))); ks != "256" {
		t.Errorf("KeySize %s", ks)
	}
}

// TestIssueBootstraps authenticates with each bootstrap credential in
// every SOAP and WS-Addressing combination; the reply comes back in the
// request's versions.
func TestIssueBootstraps(t *testing.T) {
	entropy := bytes.Repeat([]byte{0x22}, 32)
	for _, v := range wssc.Versions {
		for _, boot := range []bootstrap{bootUsername, bootDigest, bootX509} {
			for _, sv := range soap.Versions {
				for _, wv := range []wsa.Version{wsa.None, wsa.V200408, wsa.V10} {
					t.Run(fmt.Sprintf("%s/%s/%s/%s", v, boot, sv, wv), func(t *testing.T) {
						h := start(t, Config{})
						r := h.post(sv, v.Action(wssc.Issue), h.issueMessage(v, sv, wv, boot, entropy, h.clock.Now())).ok(t)
						if r.env.Version != sv {
							t.Errorf("reply in %s", r.env.Version)
						}
						hd, rv := r.addressing(t)
						if rv != wv || (wv != wsa.None && hd.Action != v.ReplyAction(wssc.Issue)) {
							t.Errorf("reply addressing %+v in %s, want %s", hd, rv, wv)
						}
						c := grantOf(t, r, v, entropy)
						r = h.post(sv, echoAction, contextMessage(t, c, sv, wv, echoAction, echoBody, h.clock.Now(), refID)).ok(t)
						if r.env.Version != sv {
							t.Errorf("echo reply in %s", r.env.Version)
						}
					})
				}
			}
		}
	}
}

// TestRenew renews in both versions: same Identifier, new key, a new
// Instance in 1.3 only; the old key works for the rollover period and not
// after; the renewal needs the current key of the very context.
func TestRenew(t *testing.T) {
	for _, v := range wssc.Versions {
		t.Run(v.String(), func(t *testing.T) {
			h := start(t, Config{})
			old := h.issue(v)
			h.echo(old, refID).ok(t)
			renewed := h.renew(old)
			if renewed.identifier != old.identifier || bytes.Equal(renewed.key, old.key) {
				t.Errorf("renewed %q key %x, was %q key %x", renewed.identifier, renewed.key, old.identifier, old.key)
			}
			if (v == wssc.V1_3) != (renewed.instance != "") {
				t.Errorf("instance %q after renewal in %s", renewed.instance, v)
			}
			h.echo(renewed, refID).ok(t)
			h.echo(renewed, refDerived).ok(t)

			// Within the rollover period the previous key still verifies.
			h.clock.Advance(4 * time.Minute)
			h.echo(old, refID).ok(t)
			h.echo(old, refDerived).ok(t)
			// But it cannot renew again.
			entropy := bytes.Repeat([]byte{1}, 32)
			h.post(soap.V12, v.Action(wssc.Renew), h.lifecycle(old, wssc.Renew, targetXML(v, old.identifier, renewed.instance), entropy)).
				wantFault(t, codeFailedCheck, "does not verify")

			h.clock.Advance(2 * time.Minute)
			h.echo(old, refID).wantFault(t, codeFailedCheck, "does not verify")
			h.echo(renewed, refID).ok(t)

			// Renew again from the renewed key: works, with yet another key.
			again := h.renew(renewed)
			if bytes.Equal(again.key, renewed.key) || (v == wssc.V1_3 && again.instance == renewed.instance) {
				t.Errorf("second renewal kept the key or instance")
			}
			st := h.srv.Stats()
			if st.Renewed != 2 || st.Contexts[old.identifier].Renewed != 2 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestRenewRejected covers each reason a Renew is refused.
func TestRenewRejected(t *testing.T) {
	entropy := bytes.Repeat([]byte{3}, 32)
	for _, v := range wssc.Versions {
		t.Run(v.String()+"/other context", func(t *testing.T) {
			h := start(t, Config{})
			a, b := h.issue(v), h.issue(v)
			h.post(soap.V12, v.Action(wssc.Renew), h.lifecycle(a, wssc.Renew, targetXML(v, b.identifier, ""), entropy)).
				wantFault(t, codeFailedAuthentication, "signed with the key of")
		})
		t.Run(v.String()+"/unknown context", func(t *testing.T) {
			h := start(t, Config{})
			ghost := ctx{v: v, identifier: "urn:uuid:ghost", key: bytes.Repeat([]byte{9}, 32)}
			h.post(soap.V12, v.Action(wssc.Renew), h.lifecycle(ghost, wssc.Renew, targetXML(v, ghost.identifier, ""), entropy)).
				wantFault(t, v.Fault(wssc.BadContextToken), "not known")
		})
		t.Run(v.String()+"/no RenewTarget", func(t *testing.T) {
			h := start(t, Config{})
			c := h.issue(v)
			h.post(soap.V12, v.Action(wssc.Renew), h.lifecycle(c, wssc.Renew, "", entropy)).
				wantFault(t, xmldoc.Name{Space: v.Trust(), Local: "InvalidRequest"}, "RenewTarget")
		})
		t.Run(v.String()+"/RequestType Issue under the Renew action", func(t *testing.T) {
			h := start(t, Config{})
			c := h.issue(v)
			src := contextMessage(t, c, soap.V12, wsa.V10, v.Action(wssc.Renew), rstXML(v, wssc.Issue, entropy, 256, ""), h.clock.Now(), refID)
			h.post(soap.V12, v.Action(wssc.Renew), src).wantFault(t, xmldoc.Name{Space: v.Trust(), Local: "InvalidRequest"}, "does not match")
		})
		t.Run(v.String()+"/no bootstrap credential", func(t *testing.T) {
			// The context's signature alone, which WCF refuses too.
			h := start(t, Config{})
			c := h.issue(v)
			h.post(soap.V12, v.Action(wssc.Renew), h.lifecycleAs(c, wssc.Renew, targetXML(v, c.identifier, ""), entropy, "")).
				wantFault(t, codeInvalidSecurity, "carries no bootstrap credential")
		})
		t.Run(v.String()+"/wrong password", func(t *testing.T) {
			h := start(t, Config{})
			c := h.issue(v)
			ut := usernameToken(testUser, "wrong", false, h.clock.Now())
			h.post(soap.V12, v.Action(wssc.Renew), h.lifecycleAs(c, wssc.Renew, targetXML(v, c.identifier, ""), entropy, ut)).
				wantFault(t, codeFailedAuthentication, "authentication failed")
		})
		t.Run(v.String()+"/another principal", func(t *testing.T) {
			h := start(t, Config{Users: map[string]string{testUser: testPassword, "bob": "bob's password"}})
			c := h.issue(v)
			ut := usernameToken("bob", "bob's password", false, h.clock.Now())
			h.post(soap.V12, v.Action(wssc.Renew), h.lifecycleAs(c, wssc.Renew, targetXML(v, c.identifier, ""), entropy, ut)).
				wantFault(t, codeFailedAuthentication, "was not issued to user:bob")
		})
		t.Run(v.String()+"/cancelled", func(t *testing.T) {
			h := start(t, Config{})
			c := h.issue(v)
			h.post(soap.V12, v.Action(wssc.Cancel), h.lifecycle(c, wssc.Cancel, targetXML(v, c.identifier, ""), nil)).ok(t)
			h.post(soap.V12, v.Action(wssc.Renew), h.lifecycle(c, wssc.Renew, targetXML(v, c.identifier, ""), entropy)).
				wantFault(t, v.Fault(wssc.BadContextToken), "was cancelled")
		})
	}
	t.Run("1.3 stale Instance", func(t *testing.T) {
		h := start(t, Config{})
		c := h.issue(wssc.V1_3)
		r := h.renew(c)
		h.post(soap.V12, wssc.V1_3.Action(wssc.Renew), h.lifecycle(r, wssc.Renew, targetXML(wssc.V1_3, r.identifier, "urn:uuid:stale"), entropy)).
			wantFault(t, wssc.V1_3.Fault(wssc.BadContextToken), "no key instance")
	})
	t.Run("combined entropy required", func(t *testing.T) {
		h := start(t, Config{Entropy: EntropyCombined})
		c := h.issue(wssc.V1_3)
		h.post(soap.V12, wssc.V1_3.Action(wssc.Renew), h.lifecycle(c, wssc.Renew, targetXML(wssc.V1_3, c.identifier, ""), nil)).
			wantFault(t, xmldoc.Name{Space: wssc.V1_3.Trust(), Local: "InvalidRequest"}, "carries none")
	})
}

// TestCancel cancels in both versions: RequestedTokenCancelled, then
// BadContextToken for messages, a second Cancel and a Renew.
func TestCancel(t *testing.T) {
	for _, v := range wssc.Versions {
		t.Run(v.String(), func(t *testing.T) {
			h := start(t, Config{})
			c := h.issue(v)
			other := h.issue(v)
			h.post(soap.V12, v.Action(wssc.Cancel), h.lifecycle(c, wssc.Cancel, targetXML(v, other.identifier, ""), nil)).
				wantFault(t, codeFailedAuthentication, "targets context")
			r := h.post(soap.V12, v.Action(wssc.Cancel), h.lifecycle(c, wssc.Cancel, targetXML(v, c.identifier, ""), nil)).ok(t)
			hd, _ := r.addressing(t)
			p := r.payload(t)
			if hd.Action != v.ReplyAction(wssc.Cancel) || !xmldoc.Is(p, xmldoc.Name{Space: v.Trust(), Local: "RequestSecurityTokenResponse"}) ||
				len(xmldoc.Children(p, xmldoc.Name{Space: v.Trust(), Local: "RequestedTokenCancelled"})) != 1 {
				t.Errorf("cancel reply %s", r.raw)
			}
			h.echo(c, refID).wantFault(t, v.Fault(wssc.BadContextToken), "was cancelled")
			h.echo(c, refDerived).wantFault(t, v.Fault(wssc.BadContextToken), "was cancelled")
			h.post(soap.V12, v.Action(wssc.Cancel), h.lifecycle(c, wssc.Cancel, targetXML(v, c.identifier, ""), nil)).
				wantFault(t, v.Fault(wssc.BadContextToken), "was cancelled")
			h.echo(other, refID).ok(t)
			st := h.srv.Stats()
			if st.Cancelled != 1 || !st.Contexts[c.identifier].Cancelled || st.Contexts[c.identifier].Rejected != 3 {
				t.Errorf("stats %+v", st.Contexts[c.identifier])
			}
		})
	}
}

// TestVersionsAccepted: a server configured for one version refuses the
// other's Issue, and tokens of the other version in application messages.
func TestVersionsAccepted(t *testing.T) {
	for _, only := range wssc.Versions {
		other := wssc.V1_3
		if only == wssc.V1_3 {
			other = wssc.Feb2005
		}
		t.Run(only.String()+" only", func(t *testing.T) {
			h := start(t, Config{Versions: []wssc.Version{only}})
			h.issue(only)
			src := h.issueMessage(other, soap.V12, wsa.V10, bootUsername, bytes.Repeat([]byte{1}, 32), h.clock.Now())
			h.post(soap.V12, other.Action(wssc.Issue), src).wantFault(t, wsa.V10.Name("ActionNotSupported"), "not enabled")
			foreign := ctx{v: other, identifier: "urn:uuid:x", key: bytes.Repeat([]byte{1}, 32)}
			h.echo(foreign, refID).wantFault(t, other.Fault(wssc.UnsupportedContextToken), "not accepted")
			if err := h.srv.AddContext(ContextSpec{Identifier: "urn:uuid:y", Version: other, Key: foreign.key}); err == nil {
				t.Error("AddContext accepted a version the server does not speak")
			}
		})
	}
	t.Run("context used with the other version's token", func(t *testing.T) {
		h := start(t, Config{})
		c := h.issue(wssc.Feb2005)
		c.v, c.token = wssc.V1_3, ""
		h.echo(c, refID).wantFault(t, wssc.V1_3.Fault(wssc.BadContextToken), "was issued for WS-SecureConversation February 2005")
	})
}

// TestIssueRejected covers each reason an Issue is refused, in both
// versions.
func TestIssueRejected(t *testing.T) {
	for _, v := range wssc.Versions {
		t.Run(v.String(), func(t *testing.T) { issueRejected(t, v) })
	}
}

// issueRejected is TestIssueRejected for version v.
func issueRejected(t *testing.T, v wssc.Version) {
	other := wssc.Feb2005
	if v == wssc.Feb2005 {
		other = wssc.V1_3
	}
	entropy := bytes.Repeat([]byte{7}, 32)
	issue := func(security string) []byte {
		return []byte(msg{soap: soap.V12, wsa: wsa.V10, action: v.Action(wssc.Issue), security: security, body: rstXML(v, wssc.Issue, entropy, 256, "")}.xml())
	}
	tn := func(local string) xmldoc.Name { return xmldoc.Name{Space: v.Trust(), Local: local} }
	now := testStart
	ts := timestamp(now, 5*time.Minute)
	p := loadPKI(t)
	x509Msg := func(m msg, cert bool) []byte {
		if cert {
			return x509Signed(t, m, p.good, p.goodKey, now)
		}
		return x509Signed(t, m, p.foreign, p.foreignKey, now)
	}
	base := msg{soap: soap.V12, wsa: wsa.V10, action: v.Action(wssc.Issue), body: rstXML(v, wssc.Issue, entropy, 256, "")}
	tests := []struct {
		name   string
		cfg    Config
		src    []byte
		code   xmldoc.Name
		reason string
	}{
		{"wrong password", Config{}, issue(ts + usernameToken(testUser, "wrong", false, now)), codeFailedAuthentication, `user "alice"`},
		{"wrong digest password", Config{}, issue(ts + usernameToken(testUser, "wrong", true, now)), codeFailedAuthentication, `user "alice"`},
		{"unknown user", Config{}, issue(ts + usernameToken("mallory", testPassword, false, now)), codeFailedAuthentication, `user "mallory"`},
		{"stale digest", Config{}, issue(ts + usernameToken(testUser, testPassword, true, now.Add(-time.Hour))), codeMessageExpired, "UsernameToken was created"},
		{"username without Timestamp", Config{}, issue(usernameToken(testUser, testPassword, false, now)), codeInvalidSecurity, "exactly one Timestamp"},
		{"expired Timestamp", Config{}, issue(timestamp(now.Add(-time.Hour), 5*time.Minute) + usernameToken(testUser, testPassword, false, now)), codeMessageExpired, "expired"},
		{"two UsernameTokens", Config{}, issue(ts + usernameToken(testUser, testPassword, false, now) + strings.Replace(usernameToken(testUser, testPassword, false, now), "ut-1", "ut-2", 1)), codeInvalidSecurity, "2 UsernameTokens"},
		{"malformed UsernameToken", Config{}, issue(ts + `<o:UsernameToken><o:Password>x</o:Password></o:UsernameToken>`), codeInvalidSecurityToken, "malformed"},
		{"usernames disabled", Config{Users: map[string]string{}}, issue(ts + usernameToken(testUser, testPassword, false, now)), codeFailedAuthentication, "not enabled"},
		{"no credential", Config{}, issue(ts), codeInvalidSecurity, "neither"},
		{"no Security header", Config{}, issue("-"), codeInvalidSecurity, "exactly one Security header"},
		{"untrusted certificate", Config{}, x509Msg(base, false), codeFailedAuthentication, "not trusted"},
		{"x509 disabled", Config{TrustedCAs: noCAs}, x509Msg(base, true), codeFailedAuthentication, "not enabled"},
		{"certificate signature over something else", Config{}, mangle(x509Msg(base, true), "<u:Created>", "<u:Created>1"), codeFailedCheck, "digest mismatch"},
		{"certificate reference to nothing", Config{}, mangle(x509Msg(base, true), `URI="#bst-1"`, `URI="#bst-2"`), codeInvalidSecurityToken, "matches 0 tokens"},
		{"malformed RST", Config{}, []byte(msg{soap: soap.V12, wsa: wsa.V10, action: v.Action(wssc.Issue), security: ts + usernameToken(testUser, testPassword, false, now), body: `<t:RequestSecurityToken` + nsDecl("t", v.Trust()) + `/>`}.xml()), tn("InvalidRequest"), "no RequestType"},
		{"RST of the other version", Config{}, []byte(msg{soap: soap.V12, wsa: wsa.V10, action: v.Action(wssc.Issue), security: ts + usernameToken(testUser, testPassword, false, now), body: rstXML(other, wssc.Issue, entropy, 256, "")}.xml()), tn("InvalidRequest"), "namespace"},
		{"combined entropy required", Config{Entropy: EntropyCombined}, []byte(msg{soap: soap.V12, wsa: wsa.V10, action: v.Action(wssc.Issue), security: ts + usernameToken(testUser, testPassword, false, now), body: rstXML(v, wssc.Issue, nil, 256, "")}.xml()), tn("InvalidRequest"), "configured for combined entropy"},
		{"client entropy required", Config{Entropy: EntropyClient}, []byte(msg{soap: soap.V12, wsa: wsa.V10, action: v.Action(wssc.Issue), security: ts + usernameToken(testUser, testPassword, false, now), body: rstXML(v, wssc.Issue, nil, 256, "")}.xml()), tn("InvalidRequest"), "configured for client entropy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, tc.cfg)
			h.post(soap.V12, v.Action(wssc.Issue), tc.src).wantFault(t, tc.code, tc.reason)
			if st := h.srv.Stats(); st.Issued != 0 || st.Rejected != 1 || st.Faults[tc.code.Local] != 1 {
				t.Errorf("stats %+v", st)
			}
			// The server keeps serving.
			if tc.cfg.Users == nil {
				h.issue(v)
			}
		})
	}
	t.Run("expired certificate", func(t *testing.T) {
		h := start(t, Config{})
		h.post(soap.V12, v.Action(wssc.Issue), x509Signed(t, base, p.expired, p.goodKey, now)).wantFault(t, codeFailedAuthentication, "expired")
	})
}

// mangle replaces the first old with new in src, failing loudly through a
// panic if old is absent (a broken fixture, not a test outcome).
func mangle(src []byte, old, new string) []byte {
	if !bytes.Contains(src, []byte(old)) {
		panic(fmt.Sprintf("%q not in message", old))
	}
	return bytes.Replace(src, []byte(old), []byte(new), 1)
}

// TestKeySize: the requested KeySize sets the key length in every mode
// that makes a key, and the reply states it.
func TestKeySize(t *testing.T) {
	for _, v := range wssc.Versions {
		for _, tc := range []struct {
			policy  Entropy
			bits    int
			entropy int // bytes of client entropy sent
		}{
			{EntropyCombined, 128, 16},
			{EntropyCombined, 512, 64},
			{EntropyServer, 192, 0},
			{EntropyClient, 128, 16},
		} {
			t.Run(fmt.Sprintf("%s/%s/%d", v, tc.policy, tc.bits), func(t *testing.T) {
				h := start(t, Config{Entropy: tc.policy})
				var entropy []byte
				if tc.entropy > 0 {
					entropy = bytes.Repeat([]byte{0x33}, tc.entropy)
				}
				m := msg{soap: soap.V12, wsa: wsa.V10, action: v.Action(wssc.Issue), messageID: "urn:uuid:k",
					security: timestamp(h.clock.Now(), 5*time.Minute) + usernameToken(testUser, testPassword, false, h.clock.Now()),
					body:     rstXML(v, wssc.Issue, entropy, tc.bits, "")}
				r := h.post(soap.V12, v.Action(wssc.Issue), []byte(m.xml())).ok(t)
				c := grantOf(t, r, v, entropy)
				if len(c.key)*8 != tc.bits {
					t.Errorf("key of %d bits, want %d", len(c.key)*8, tc.bits)
				}
				if !strings.Contains(string(r.raw), fmt.Sprintf("KeySize>%d<", tc.bits)) {
					t.Errorf("reply does not state KeySize %d: %s", tc.bits, r.raw)
				}
				h.echo(c, refID).ok(t)
				h.echo(c, refDerived).ok(t)
			})
		}
	}
}
