package scserver

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/chksumtype"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/scproxy/scproxy/internal/kdctest"
	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// otherSPN is a second service of the test realm.
const otherSPN = "HTTP/other.example.test"

// krbFixture holds service tickets from a real KDC: one for the server's
// principal and one for another service, with their session keys, as a
// client has them after its TGS exchanges.
type krbFixture struct {
	kdc           *kdctest.KDC
	keytab        *keytab.Keytab
	tkt, otherTkt messages.Ticket
	key, otherKey types.EncryptionKey
}

func newKrbFixture(t *testing.T) *krbFixture {
	t.Helper()
	f := &krbFixture{kdc: kdctest.Start(t)}
	f.kdc.AddService(t, otherSPN, "other.keytab")
	cfg, err := config.Load(f.kdc.Krb5Conf)
	if err != nil {
		t.Fatal(err)
	}
	cl := client.NewWithPassword(f.kdc.User, f.kdc.Realm, f.kdc.Password, cfg, client.DisablePAFXFAST(true))
	t.Cleanup(cl.Destroy)
	if err := cl.Login(); err != nil {
		t.Fatal(err)
	}
	if f.tkt, f.key, err = cl.GetServiceTicket(f.kdc.SPN); err != nil {
		t.Fatal(err)
	}
	if f.otherTkt, f.otherKey, err = cl.GetServiceTicket(otherSPN); err != nil {
		t.Fatal(err)
	}
	if f.keytab, err = keytab.Load(f.kdc.ServiceKeytab); err != nil {
		t.Fatal(err)
	}
	return f
}

// acceptor is a fresh acceptor (with an empty replay cache) for the
// fixture's service.
func (f *krbFixture) acceptor(t *testing.T) *KerberosAcceptor {
	t.Helper()
	a, err := NewKerberosAcceptor(f.keytab, f.kdc.SPN)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// krbSpec says how a test Issue request departs from a correct one.
type krbSpec struct {
	otherService bool                             // a ticket for otherSPN
	noSubkey     bool                             // sign with the ticket's session key, as without a subkey
	age          time.Duration                    // how long before the message the authenticator was made
	apreq        func([]byte) []byte              // changes the DER AP-REQ
	gss          func([]byte) []byte              // frames the AP-REQ; nil means WrapGSSKerberosAPREQ
	signKey      func(sub, session []byte) []byte // the HMAC key; nil means the right one
	signIDs      []string                         // wsu:Ids signed; nil means the Timestamp
	keyInfoURI   string                           // the STR's Reference; "" means the token
	noSignature  bool
	extra        string // appended to the Security header
}

// issue builds a Kerberos-bootstrapped Issue request at now by hand: the
// authenticator, AP-REQ and GSS framing with gokrb5's message types, the
// XML with the server tests' template.
func (f *krbFixture) issue(t *testing.T, now time.Time, sp krbSpec) []byte {
	t.Helper()
	tkt, key := f.tkt, f.key
	if sp.otherService {
		tkt, key = f.otherTkt, f.otherKey
	}
	ct := now.Add(-sp.age).UTC()
	cksum := make([]byte, 24)
	binary.LittleEndian.PutUint32(cksum, 16)
	auth := types.Authenticator{
		AVNO: 5, CRealm: f.kdc.Realm, CName: types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, f.kdc.User),
		Cksum: types.Checksum{CksumType: chksumtype.GSSAPI, Checksum: cksum},
		CTime: ct.Truncate(time.Second), Cusec: ct.Nanosecond() / 1000, SeqNumber: 7,
	}
	signWith := key.KeyValue
	if !sp.noSubkey {
		et, err := crypto.GetEtype(key.KeyType)
		if err != nil {
			t.Fatal(err)
		}
		sub := make([]byte, et.GetKeyByteSize())
		rand.Read(sub)
		auth.SubKey = types.EncryptionKey{KeyType: key.KeyType, KeyValue: sub}
		signWith = sub
	}
	if sp.signKey != nil {
		signWith = sp.signKey(auth.SubKey.KeyValue, key.KeyValue)
	}
	ap, err := messages.NewAPReq(tkt, key, auth)
	if err != nil {
		t.Fatal(err)
	}
	der, err := ap.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if sp.apreq != nil {
		der = sp.apreq(der)
	}
	frame := wss.WrapGSSKerberosAPREQ
	if sp.gss != nil {
		frame = sp.gss
	}
	v := wssc.V1_3
	m := msg{soap: soap.V12, wsa: wsa.V10, action: v.Action(wssc.Issue), messageID: "urn:uuid:00000000-0000-4000-8000-0000000000kb",
		body: rstXML(v, wssc.Issue, bytes.Repeat([]byte{0x33}, 32), 256, "")}
	m.security = timestamp(now, 5*time.Minute) + krbTokenXML("krb-1", frame(der)) + sp.extra
	if sp.noSignature {
		return []byte(m.xml())
	}
	uri := sp.keyInfoURI
	if uri == "" {
		uri = "#krb-1"
	}
	return sign(t, m.xml(), signSpec{key: hmacKey(t, signWith), keyInfo: strXML(uri, wss.ValueTypeGSSKerberosAPREQ), ids: sp.signIDs})
}

// krbTokenXML writes a Kerberos BinarySecurityToken with gss as content.
func krbTokenXML(id string, gss []byte) string {
	return fmt.Sprintf(`<o:BinarySecurityToken u:Id="%s" ValueType="%s" EncodingType="%s">%s</o:BinarySecurityToken>`,
		id, wss.ValueTypeGSSKerberosAPREQ, wss.EncodingBase64Binary, base64.StdEncoding.EncodeToString(gss))
}

// flipAt returns a function that flips one bit of the DER AP-REQ in the
// middle of the part find locates.
func flipAt(find func(der []byte) (int, int)) func([]byte) []byte {
	return func(der []byte) []byte {
		out := bytes.Clone(der)
		from, n := find(out)
		out[from+n/2] ^= 0x01
		return out
	}
}

// TestKerberosBootstrap drives the server with Issue requests built by
// hand around real tickets: the correct ones are accepted and name the
// client principal, each defect gets the fault that names it.
func TestKerberosBootstrap(t *testing.T) {
	f := newKrbFixture(t)
	ticketCipher := func(der []byte) (int, int) {
		c := f.tkt.EncPart.Cipher
		return bytes.Index(der, c), len(c)
	}
	authenticatorCipher := func(der []byte) (int, int) { return len(der) - 40, 40 }
	spnegoOID := func(der []byte) []byte {
		gss := wss.WrapGSSKerberosAPREQ(der)
		// 1.2.840.113554.1.2.2 becomes 1.2.840.113554.1.2.3: same length.
		gss[bytes.Index(gss, []byte{0x2a, 0x86, 0x48})+8] = 0x03
		return gss
	}
	wrongKey := func(sub, _ []byte) []byte { return bytes.Repeat([]byte{0x42}, len(sub)) }
	sessionKey := func(_, session []byte) []byte { return session }
	tests := []struct {
		name     string
		spec     krbSpec
		disabled bool
		code     xmldoc.Name // zero: accepted
		reason   string
	}{
		{name: "correct, signed with the subkey", spec: krbSpec{}},
		{name: "correct, no subkey: the ticket's session key", spec: krbSpec{noSubkey: true}},
		{name: "authenticator a minute old", spec: krbSpec{age: time.Minute}},
		{name: "Kerberos not enabled", disabled: true, code: codeFailedAuthentication, reason: "not enabled"},
		{name: "tampered ticket", spec: krbSpec{apreq: flipAt(ticketCipher)}, code: codeFailedAuthentication, reason: "ticket cannot be decrypted with the service's key"},
		{name: "tampered authenticator", spec: krbSpec{apreq: flipAt(authenticatorCipher)}, code: codeFailedAuthentication, reason: "authenticator cannot be decrypted"},
		{name: "ticket for another service", spec: krbSpec{otherService: true}, code: codeFailedAuthentication, reason: "is for " + otherSPN + "@" + kdctest.Realm + ", not for this service"},
		{name: "GSS wrapper with another OID", spec: krbSpec{gss: spnegoOID}, code: codeInvalidSecurityToken, reason: "not Kerberos V5"},
		{name: "GSS wrapper one byte short", spec: krbSpec{gss: func(d []byte) []byte { g := wss.WrapGSSKerberosAPREQ(d); return g[:len(g)-1] }}, code: codeInvalidSecurityToken, reason: "malformed"},
		{name: "AP-REQ that does not decode", spec: krbSpec{apreq: func(d []byte) []byte { return []byte{0x6e, 0x03, 0x02, 0x01, 0x05} }}, code: codeInvalidSecurityToken, reason: "does not decode"},
		{name: "signature with a wrong key", spec: krbSpec{signKey: wrongKey}, code: codeFailedCheck, reason: "does not verify"},
		{name: "signature with the session key despite a subkey", spec: krbSpec{signKey: sessionKey}, code: codeFailedCheck, reason: "does not verify"},
		{name: "Timestamp not signed", spec: krbSpec{signIDs: []string{"krb-1"}}, code: codeInvalidSecurity, reason: "Timestamp is not covered"},
		{name: "no signature", spec: krbSpec{noSignature: true}, code: codeInvalidSecurity, reason: "exactly one Signature"},
		{name: "key reference to the Timestamp", spec: krbSpec{keyInfoURI: "#_0"}, code: codeInvalidSecurityToken, reason: "does not name the one Kerberos token"},
		{name: "two Kerberos tokens", spec: krbSpec{extra: krbTokenXML("krb-2", []byte{0x60, 0})}, code: codeInvalidSecurity, reason: "2 Kerberos tokens"},
		{name: "authenticator ten minutes old", spec: krbSpec{age: 10 * time.Minute}, code: codeFailedAuthentication, reason: "away from the server's clock"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var log testkit.LogBuffer
			cfg := Config{Now: time.Now, Kerberos: f.acceptor(t), Logger: slog.New(slog.NewTextHandler(&log, nil))}
			if tc.disabled {
				cfg.Kerberos = nil
			}
			h := start(t, cfg)
			r := h.post(soap.V12, wssc.V1_3.Action(wssc.Issue), f.issue(t, time.Now(), tc.spec))
			if tc.code == (xmldoc.Name{}) {
				c := grantOf(t, r.ok(t), wssc.V1_3, bytes.Repeat([]byte{0x33}, 32))
				h.post(soap.V12, echoAction, contextMessage(t, c, soap.V12, wsa.V10, echoAction, echoBody, time.Now(), refID)).ok(t)
				if !strings.Contains(log.String(), "principal=krb5:"+f.kdc.Principal()) {
					t.Fatalf("log does not name the principal:\n%s", log.String())
				}
				return
			}
			r.wantFault(t, tc.code, tc.reason)
			if st := h.srv.Stats(); st.Issued != 0 || st.Faults[tc.code.Local] != 1 {
				t.Fatalf("stats %+v", st)
			}
			if b64 := base64.StdEncoding.EncodeToString(f.tkt.EncPart.Cipher[:24]); strings.Contains(string(r.raw), b64) || strings.Contains(log.String(), b64) {
				t.Fatal("ticket bytes in the fault or the log")
			}
		})
	}
}

// TestKerberosReplayAndExpiry: an Issue request sent twice is refused the
// second time as a replay, though a new authenticator for the same ticket
// is accepted; a server whose clock is past the ticket's end refuses it.
func TestKerberosReplayAndExpiry(t *testing.T) {
	f := newKrbFixture(t)
	t.Run("replay", func(t *testing.T) {
		h := start(t, Config{Now: time.Now, Kerberos: f.acceptor(t)})
		action := wssc.V1_3.Action(wssc.Issue)
		msg := f.issue(t, time.Now(), krbSpec{})
		h.post(soap.V12, action, msg).ok(t)
		h.post(soap.V12, action, msg).wantFault(t, codeFailedAuthentication, "already used: replay refused")
		h.post(soap.V12, action, f.issue(t, time.Now(), krbSpec{})).ok(t)
		if st := h.srv.Stats(); st.Issued != 2 || st.Rejected != 1 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("expired ticket", func(t *testing.T) {
		// The realm's tickets live 10 hours.
		later := func() time.Time { return time.Now().Add(11 * time.Hour) }
		h := start(t, Config{Now: later, Kerberos: f.acceptor(t)})
		h.post(soap.V12, wssc.V1_3.Action(wssc.Issue), f.issue(t, later(), krbSpec{})).wantFault(t, codeFailedAuthentication, "ticket expired at")
	})
	t.Run("ticket not yet valid", func(t *testing.T) {
		earlier := func() time.Time { return time.Now().Add(-time.Hour) }
		h := start(t, Config{Now: earlier, Kerberos: f.acceptor(t)})
		h.post(soap.V12, wssc.V1_3.Action(wssc.Issue), f.issue(t, earlier(), krbSpec{})).wantFault(t, codeFailedAuthentication, "valid only from")
	})
}

// TestReplayCacheBoundAndPrune: the cache refuses a duplicate, refuses new
// entries once full (failing closed) and makes room as entries age past
// the skew.
func TestReplayCacheBoundAndPrune(t *testing.T) {
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	key := func(client string, at time.Time) replayKey {
		return replayKey{client: client, ctime: at.Unix(), cusec: at.Nanosecond() / 1000}
	}
	c := newReplayCache(2)
	steps := []struct {
		name   string
		k      replayKey
		now    time.Time
		status int // 0: accepted
		reason string
	}{
		{"first", key("a@R", t0), t0, 0, ""},
		{"same client, next microsecond", key("a@R", t0.Add(time.Microsecond)), t0, 0, ""},
		{"duplicate", key("a@R", t0), t0.Add(time.Second), http.StatusInternalServerError, "replay refused"},
		{"full", key("b@R", t0), t0.Add(2 * time.Second), http.StatusServiceUnavailable, "too many"},
		{"room after the skew", key("b@R", t0.Add(6*time.Minute)), t0.Add(6 * time.Minute), 0, ""},
		{"an entry older than the skew is forgotten", key("a@R", t0), t0.Add(6 * time.Minute), 0, ""},
	}
	for _, s := range steps {
		rej := c.add(s.k, s.now, 5*time.Minute)
		switch {
		case s.status == 0 && rej != nil:
			t.Fatalf("%s: refused: %v", s.name, rej)
		case s.status != 0 && (rej == nil || rej.status != s.status || !strings.Contains(rej.fault.Reason, s.reason)):
			t.Fatalf("%s: %v, want HTTP %d saying %q", s.name, rej, s.status, s.reason)
		}
	}
}

// TestNewKerberosAcceptorChecks refuses an empty keytab and a principal
// the keytab has no key for.
func TestNewKerberosAcceptorChecks(t *testing.T) {
	f := newKrbFixture(t)
	tests := []struct {
		name string
		kt   *keytab.Keytab
		spn  string
		want string
	}{
		{"empty keytab", keytab.New(), f.kdc.SPN, "empty"},
		{"principal not in the keytab", f.keytab, otherSPN, "no key for"},
		{"realm not in the keytab", f.keytab, f.kdc.SPN + "@OTHER.TEST", "no key for"},
		{"no principal", f.keytab, "", "not a principal name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewKerberosAcceptor(tc.kt, tc.spn); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
	a, err := NewKerberosAcceptor(f.keytab, f.kdc.SPN+"@"+kdctest.Realm)
	if err != nil || a.String() != "kerberos acceptor for HTTP/localhost@"+kdctest.Realm {
		t.Fatalf("%v %v", a, err)
	}
}
