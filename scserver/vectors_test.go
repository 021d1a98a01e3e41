package scserver

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// The CoreWCF capture's context (testdata/vectors/README.md).
const (
	coreIdentifier = "urn:uuid:40859149-0ab7-4ee2-a7cc-22bc21adfe08"
	coreKey        = "H/N/QJpAIzvX652dTmpSKfx5jvchdVlWNaSPiPkNuP8="
)

var (
	coreAppTime    = time.Date(2024, 2, 14, 2, 7, 5, 0, time.UTC)  // just after app-request's Created
	coreCancelTime = time.Date(2024, 2, 14, 2, 8, 27, 0, time.UTC) // just after cancel-request's Created
)

// coreHarness runs a server holding the CoreWCF context, its clock at at.
func coreHarness(t *testing.T, at time.Time) *harness {
	t.Helper()
	h := start(t, Config{Versions: []wssc.Version{wssc.Feb2005}})
	h.clock.Set(at)
	if err := h.srv.AddContext(ContextSpec{Identifier: coreIdentifier, Version: wssc.Feb2005, Key: b64(t, coreKey), Created: at.Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestCoreWCFApplicationMessage: the application request a WCF client
// sent CoreWCF is accepted with the capture's key at the capture's time
// and echoed in WCF's reply shape.
func TestCoreWCFApplicationMessage(t *testing.T) {
	h := coreHarness(t, coreAppTime)
	src := readFile(t, vectors+"corewcf/app-request.xml")
	r := h.post(soap.V12, "", src).ok(t)
	hd, v := r.addressing(t)
	if v != wsa.V10 || hd.Action != echoAction+"Response" || hd.RelatesTo != "urn:uuid:abd7511b-95ad-4a9e-9647-1c07b9a11ef9" {
		t.Errorf("reply addressing %+v (%s)", hd, v)
	}
	p := r.payload(t)
	if xmldoc.NameOf(p) != (xmldoc.Name{Space: "http://tempuri.org/", Local: "EchoStringResponse"}) {
		t.Errorf("reply payload %s", xmldoc.Serialize(p))
	}
	if e := one(t, p, xmldoc.Name{Space: "http://tempuri.org/", Local: "echo"}); e.Text() != "aaaa" {
		t.Errorf("echoed %q", e.Text())
	}
	st := h.srv.Stats()
	if st.Verified != 1 || st.Contexts[coreIdentifier].Verified != 1 || st.Rejected != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestCoreWCFCancel: the captured Cancel is accepted, answered like
// CoreWCF's reply, and the context is refused afterwards.
func TestCoreWCFCancel(t *testing.T) {
	h := coreHarness(t, coreCancelTime)
	r := h.post(soap.V12, "", readFile(t, vectors+"corewcf/cancel-request.xml")).ok(t)
	hd, _ := r.addressing(t)
	if hd.Action != wssc.Feb2005.ReplyAction(wssc.Cancel) || hd.RelatesTo != "urn:uuid:4018d6c9-62a0-41e4-9dd7-cf04b0f8b19b" {
		t.Errorf("reply addressing %+v", hd)
	}
	p := r.payload(t)
	tn := xmldoc.Name{Space: wssc.Feb2005.Trust(), Local: "RequestSecurityTokenResponse"}
	if !xmldoc.Is(p, tn) || len(p.ChildElements()) != 1 || p.ChildElements()[0].Tag != "RequestedTokenCancelled" {
		t.Errorf("cancel reply %s", xmldoc.Serialize(p))
	}
	// The app request's Timestamp is still fresh at this time; the context is not.
	r = h.post(soap.V12, "", readFile(t, vectors+"corewcf/app-request.xml"))
	r.wantFault(t, wssc.Feb2005.Fault(wssc.BadContextToken), "was cancelled")
	if st := h.srv.Stats(); st.Cancelled != 1 || !st.Contexts[coreIdentifier].Cancelled {
		t.Errorf("stats %+v", st)
	}
}

// TestCoreWCFOneByteChanged changes one byte at a time in the signed parts
// of the captured messages: every change is refused, with the fault that
// names it. A byte of the Body, which this profile leaves to TLS, is not
// signed, and the last case shows the server does not pretend otherwise.
func TestCoreWCFOneByteChanged(t *testing.T) {
	feb := wssc.Feb2005
	tests := []struct {
		name     string
		file     string
		at       time.Time
		old, new string
		code     xmldoc.Name
		reason   string
	}{
		{"app Created", "app-request.xml", coreAppTime, "02:07:04.784Z</u:Created>", "02:07:04.785Z</u:Created>", codeFailedCheck, "digest mismatch"},
		{"app Expires", "app-request.xml", coreAppTime, "02:12:04.784Z", "02:12:04.794Z", codeFailedCheck, "digest mismatch"},
		{"app DigestValue", "app-request.xml", coreAppTime, "Ez9dbXPzjM7h", "Ez9dbXPzjM8h", codeFailedCheck, "does not verify"},
		{"app SignatureValue", "app-request.xml", coreAppTime, "u1Ea4tTYJ6xC", "u1Ea4tTYJ6yC", codeFailedCheck, "does not verify"},
		{"app SignatureMethod", "app-request.xml", coreAppTime, "xmldsig#hmac-sha1", "xmldsig#hmac-shaX", codeUnsupportedAlgorithm, "not allowed"},
		{"app Identifier", "app-request.xml", coreAppTime, "22bc21adfe08</c:Identifier>", "22bc21adfe09</c:Identifier>", feb.Fault(wssc.BadContextToken), "not known"},
		{"app Timestamp Id", "app-request.xml", coreAppTime, `<u:Timestamp u:Id="_0">`, `<u:Timestamp u:Id="_1">`, codeInvalidSecurity, "resolves to no element"},
		{"app token reference", "app-request.xml", coreAppTime, `URI="#uuid-e07815b0-d900-49c8-8ec6-a8ee018263c9-1"/>`, `URI="#uuid-e07815b0-d900-49c8-8ec6-a8ee018263c9-2"/>`, feb.Fault(wssc.BadContextToken), "not known"},
		{"cancel Created", "cancel-request.xml", coreCancelTime, "02:08:26.004Z</u:Created>", "02:08:26.005Z</u:Created>", codeFailedCheck, "digest mismatch"},
		{"cancel SignatureValue", "cancel-request.xml", coreCancelTime, "En1kfMeqpMJd", "En1kfMeqpMJe", codeFailedCheck, "does not verify"},
		{"cancel Identifier in token", "cancel-request.xml", coreCancelTime, "22bc21adfe08</c:Identifier>", "22bc21adfe07</c:Identifier>", feb.Fault(wssc.BadContextToken), "not known"},
		{"cancel target", "cancel-request.xml", coreCancelTime, `URI="urn:uuid:40859149-0ab7-4ee2-a7cc-22bc21adfe08"`, `URI="urn:uuid:40859149-0ab7-4ee2-a7cc-22bc21adfe09"`, codeFailedAuthentication, "signed with the key of"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := coreHarness(t, tc.at)
			src := readFile(t, vectors+"corewcf/"+tc.file)
			if bytes.Count(src, []byte(tc.old)) != 1 {
				t.Fatalf("%q not found once in %s", tc.old, tc.file)
			}
			changed := bytes.Replace(src, []byte(tc.old), []byte(tc.new), 1)
			h.post(soap.V12, "", changed).wantFault(t, tc.code, tc.reason)
			// The server keeps serving, and the untouched message still passes.
			h.post(soap.V12, "", src).ok(t)
		})
	}
	t.Run("app Body (not signed in this profile)", func(t *testing.T) {
		h := coreHarness(t, coreAppTime)
		src := bytes.Replace(readFile(t, vectors+"corewcf/app-request.xml"), []byte("<echo>aaaa</echo>"), []byte("<echo>aaab</echo>"), 1)
		r := h.post(soap.V12, "", src).ok(t)
		if !strings.Contains(string(r.raw), "aaab") {
			t.Errorf("reply does not echo the body: %s", r.raw)
		}
	})
}

// TestCoreWCFOutsideItsTime: the captured messages are refused when the
// clock is past their Timestamps' validity plus skew, or the context's
// lifetime.
func TestCoreWCFOutsideItsTime(t *testing.T) {
	h := coreHarness(t, coreAppTime.Add(11*time.Minute))
	h.post(soap.V12, "", readFile(t, vectors+"corewcf/app-request.xml")).wantFault(t, codeMessageExpired, "Expires 2024-02-14T02:12:04.784Z")

	h = coreHarness(t, coreAppTime.Add(-10*time.Minute))
	h.post(soap.V12, "", readFile(t, vectors+"corewcf/app-request.xml")).wantFault(t, codeInvalidSecurity, "created in the future")

	h = start(t, Config{Lifetime: time.Minute})
	h.clock.Set(coreAppTime)
	if err := h.srv.AddContext(ContextSpec{Identifier: coreIdentifier, Version: wssc.Feb2005, Key: b64(t, coreKey), Created: coreAppTime.Add(-2 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	h.post(soap.V12, "", readFile(t, vectors+"corewcf/app-request.xml")).wantFault(t, wssc.Feb2005.Fault(wssc.BadContextToken), "expired at")
}

// wss4jContext is the context of the WSS4J vectors: SCT secret 0x00..0x1f.
func wss4jServer(t *testing.T, identifier string, v wssc.Version) *Server {
	t.Helper()
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = byte(i)
	}
	clk := newClock(time.Date(2026, 11, 20, 23, 47, 0, 0, time.UTC))
	srv, err := New(Config{Now: clk.Now, Rand: &detRand{}, PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if err := srv.AddContext(ContextSpec{Identifier: identifier, Version: v, Key: secret}); err != nil {
		t.Fatal(err)
	}
	return srv
}

func parseEnvelope(t *testing.T, src []byte) *soap.Envelope {
	t.Helper()
	env, err := soap.ParseWith(src, xmldoc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// TestWSS4JVectors: the DerivedKeyToken signatures WSS4J made verify with
// the SCT secret, as stored, below the HTTP dispatch (the vectors have no
// addressing headers).
func TestWSS4JVectors(t *testing.T) {
	tests := []struct {
		file       string
		v          wssc.Version
		identifier string
		timestamp  bool
	}{
		{"wss4j-sct-dksign-sc200502.xml", wssc.Feb2005, "urn:uuid:00000000-0000-0000-0000-000000000001", true},
		{"wss4j-sct-dksign-sc200512.xml", wssc.V1_3, "urn:uuid:00000000-0000-0000-0000-000000000001", true},
		{"wss4j-dktest-sc200502-identifier-ref.xml", wssc.Feb2005, "uuid:E1EADAB44215B212D617952180381071", false},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			srv := wss4jServer(t, tc.identifier, tc.v)
			src := readFile(t, vectors+"wss4j/"+tc.file)
			env := parseEnvelope(t, src)
			ver, err := srv.VerifySignature(env)
			if err != nil {
				t.Fatal(err)
			}
			if ver.Identifier != tc.identifier || ver.Version != tc.v || ver.PreviousKey {
				t.Errorf("verified %+v", ver)
			}
			if !ver.Signature.Covers(env.Body) {
				t.Error("the Body is not among the verified references")
			}
			_, err = srv.VerifyMessage(env)
			if tc.timestamp && err != nil {
				t.Errorf("VerifyMessage: %v", err)
			}
			if !tc.timestamp {
				if f := faultOf(t, err); !f.Has(codeInvalidSecurity) || !strings.Contains(f.Reason, "Timestamp") {
					t.Errorf("message without Timestamp: %v", err)
				}
			}

			// One byte of the signed Body changed: the digest fails.
			bad := parseEnvelope(t, bytes.Replace(src, []byte(">hello<"), []byte(">hellp<"), 1))
			if _, err := srv.VerifySignature(bad); !faultOf(t, err).Has(codeFailedCheck) {
				t.Errorf("changed body: %v", err)
			}
			// Another context secret: the signature fails.
			other := wss4jServer(t, tc.identifier, tc.v)
			other.store.m[tc.identifier].Key[0] ^= 1
			if _, err := other.VerifySignature(env); !faultOf(t, err).Has(codeFailedCheck) {
				t.Errorf("wrong secret: %v", err)
			}
			// A server that does not hold the context.
			empty := wss4jServer(t, "urn:uuid:someone-else", tc.v)
			if _, err := empty.VerifySignature(env); !faultOf(t, err).Has(tc.v.Fault(wssc.BadContextToken)) {
				t.Errorf("unknown context: %v", err)
			}
		})
	}
}

// TestWSS4JOverHTTP posts a WSS4J vector with an action: the echo service
// accepts the derived-key signature end to end.
func TestWSS4JOverHTTP(t *testing.T) {
	h := start(t, Config{})
	h.clock.Set(time.Date(2026, 11, 20, 23, 47, 0, 0, time.UTC))
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = byte(i)
	}
	if err := h.srv.AddContext(ContextSpec{Identifier: "urn:uuid:00000000-0000-0000-0000-000000000001", Version: wssc.V1_3, Key: secret}); err != nil {
		t.Fatal(err)
	}
	r := h.post(soap.V12, "urn:interop/Echo", readFile(t, vectors+"wss4j/wss4j-sct-dksign-sc200512.xml")).ok(t)
	if p := r.payload(t); xmldoc.NameOf(p) != (xmldoc.Name{Space: "urn:interop", Local: "EchoResponse"}) {
		t.Errorf("reply %s", r.raw)
	}
	if r.env.Header != nil && len(r.env.Header.ChildElements()) != 0 {
		t.Errorf("a request without WS-Addressing got addressing headers: %s", r.raw)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, soap.MediaType12) {
		t.Errorf("content type %q", ct)
	}
	if r.status != http.StatusOK {
		t.Errorf("status %d", r.status)
	}
}
