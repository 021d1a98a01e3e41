package scserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/keys"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

const vectors = "../testdata/vectors/"

// testStart is the clock every test starts from unless it replays a
// capture.
var testStart = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable clock, safe for the server's goroutines.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock(t time.Time) *clock { return &clock{now: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// detRand is a deterministic, concurrency-safe byte stream (SHA-256 of a
// counter), so that every run issues the same keys and identifiers.
type detRand struct {
	mu  sync.Mutex
	ctr uint64
	buf []byte
}

func (r *detRand) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.buf) < len(p) {
		var c [8]byte
		binary.BigEndian.PutUint64(c[:], r.ctr)
		r.ctr++
		h := sha256.Sum256(c[:])
		r.buf = append(r.buf, h[:]...)
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// Credentials of the test users.
const (
	testUser     = "alice"
	testPassword = "correct horse battery staple"
)

// noCAs in a test Config disables the X.509 bootstrap, which start
// otherwise enables with the test CA.
var noCAs = x509.NewCertPool()

// harness is a running server with its clock and a client that trusts
// its CA.
type harness struct {
	t      *testing.T
	srv    *Server
	clock  *clock
	client *http.Client
	rand   *detRand
	pki    *testPKI
}

// start runs a TLS server for cfg. Unset clock, rand and users get test
// values; the X.509 bootstrap trusts the test CA.
func start(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := &harness{t: t, clock: newClock(testStart), rand: &detRand{}, pki: loadPKI(t)}
	if cfg.Now == nil {
		cfg.Now = h.clock.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = h.rand
	}
	if cfg.Users == nil {
		cfg.Users = map[string]string{testUser: testPassword}
	}
	switch cfg.TrustedCAs {
	case noCAs:
		cfg.TrustedCAs = nil
	case nil:
		cfg.TrustedCAs = h.pki.pool
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		srv.Close()
	})
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	h.srv, h.client = srv, srv.Client()
	return h
}

// response is a reply as the client sees it.
type response struct {
	status int
	header http.Header
	raw    []byte
	env    *soap.Envelope // nil when the body is not SOAP
	fault  *soap.Fault    // nil unless the Body is a fault
}

// post sends body with the HTTP binding of sv and action; action goes in
// SOAPAction (1.1) or the content type (1.2) unless it is empty.
func (h *harness) post(sv soap.Version, action string, body []byte) *response {
	h.t.Helper()
	ct, sa, err := sv.ContentType(action)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.postRaw(ct, sa, body)
}

func (h *harness) postRaw(contentType, soapAction string, body []byte) *response {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.srv.URL()+"service", bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if soapAction != "" {
		req.Header.Set("SOAPAction", soapAction)
	}
	return h.do(req)
}

func (h *harness) do(req *http.Request) *response {
	h.t.Helper()
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	out := &response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if env, err := soap.ParseWith(raw, xmldoc.Options{KeepSpans: true}); err == nil {
		out.env = env
		out.fault, err = env.Fault()
		if err != nil {
			h.t.Fatalf("malformed fault: %v\n%s", err, raw)
		}
	}
	return out
}

// ok fails the test unless r is a 200 SOAP reply.
func (r *response) ok(t *testing.T) *response {
	t.Helper()
	if r.status != http.StatusOK || r.env == nil || r.fault != nil {
		t.Fatalf("status %d, want a 200 reply:\n%s", r.status, r.raw)
	}
	return r
}

// wantFault fails the test unless r is a fault carrying code and a
// reason containing reason.
func (r *response) wantFault(t *testing.T, code xmldoc.Name, reason string) {
	t.Helper()
	if r.fault == nil {
		t.Fatalf("status %d, want fault %s:\n%s", r.status, code.Local, r.raw)
	}
	if !r.fault.Has(code) {
		t.Errorf("fault %v, want code %s", r.fault, code)
	}
	if !strings.Contains(r.fault.Reason, reason) {
		t.Errorf("fault reason %q, want it to mention %q", r.fault.Reason, reason)
	}
}

// addressing returns the reply's WS-Addressing headers.
func (r *response) addressing(t *testing.T) (wsa.Headers, wsa.Version) {
	t.Helper()
	hd, v, err := wsa.Read(r.env.Header)
	if err != nil {
		t.Fatal(err)
	}
	return hd, v
}

// payload returns the reply's single Body element.
func (r *response) payload(t *testing.T) *etree.Element {
	t.Helper()
	p, err := r.env.Payload()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// msg is a hand-built SOAP message: the template below, not the client
// packages, writes it.
type msg struct {
	soap      soap.Version
	wsa       wsa.Version // None: no addressing headers
	action    string
	messageID string
	security  string // inner XML of the Security header; "-" for no header
	body      string
}

func nsDecl(prefix, uri string) string { return fmt.Sprintf(` xmlns:%s="%s"`, prefix, uri) }

// xml writes the message. The Security header declares wsse and wsu.
func (m msg) xml() string {
	var b strings.Builder
	b.WriteString(`<s:Envelope` + nsDecl("s", m.soap.Namespace()))
	if m.wsa != wsa.None {
		b.WriteString(nsDecl("a", m.wsa.Namespace()))
	}
	b.WriteString(`><s:Header>`)
	if m.wsa != wsa.None {
		fmt.Fprintf(&b, `<a:Action s:mustUnderstand="1">%s</a:Action>`, m.action)
		if m.messageID != "" {
			fmt.Fprintf(&b, `<a:MessageID>%s</a:MessageID>`, m.messageID)
		}
		fmt.Fprintf(&b, `<a:ReplyTo><a:Address>%s</a:Address></a:ReplyTo>`, m.wsa.Anonymous())
		b.WriteString(`<a:To s:mustUnderstand="1">https://localhost/service</a:To>`)
	}
	if m.security != "-" {
		b.WriteString(`<o:Security s:mustUnderstand="1"` + nsDecl("o", wss.NSWSSE) + nsDecl("u", wss.NSWSU) + `>` + m.security + `</o:Security>`)
	}
	b.WriteString(`</s:Header><s:Body>` + m.body + `</s:Body></s:Envelope>`)
	return b.String()
}

// timestamp writes a wsu:Timestamp with Id _0 valid for ttl.
func timestamp(created time.Time, ttl time.Duration) string {
	return timestampAt(created, created.Add(ttl))
}

// timestampAt writes a wsu:Timestamp with Id _0 and any Created and
// Expires, the zero Expires meaning none.
func timestampAt(created, expires time.Time) string {
	exp := ""
	if !expires.IsZero() {
		exp = "<u:Expires>" + wss.FormatTime(expires) + "</u:Expires>"
	}
	return `<u:Timestamp u:Id="_0"><u:Created>` + wss.FormatTime(created) + `</u:Created>` + exp + `</u:Timestamp>`
}

// sctXML writes a SecurityContextToken with wsu:Id sct-1.
func sctXML(v wssc.Version, identifier string) string {
	return fmt.Sprintf(`<c:SecurityContextToken u:Id="sct-1"%s><c:Identifier>%s</c:Identifier></c:SecurityContextToken>`, nsDecl("c", v.SC()), identifier)
}

// dktXML writes a DerivedKeyToken with wsu:Id dk-1 over the SCT sct-1.
func dktXML(v wssc.Version, nonce []byte, length int) string {
	return fmt.Sprintf(`<c:DerivedKeyToken u:Id="dk-1"%s><o:SecurityTokenReference><o:Reference URI="#sct-1"/></o:SecurityTokenReference><c:Offset>0</c:Offset><c:Length>%d</c:Length><c:Nonce>%s</c:Nonce></c:DerivedKeyToken>`,
		nsDecl("c", v.SC()), length, base64.StdEncoding.EncodeToString(nonce))
}

// strXML writes a SecurityTokenReference with one Reference.
func strXML(uri, valueType string) string {
	vt := ""
	if valueType != "" {
		vt = fmt.Sprintf(` ValueType="%s"`, valueType)
	}
	return fmt.Sprintf(`<o:SecurityTokenReference%s><o:Reference URI="%s"%s/></o:SecurityTokenReference>`, nsDecl("o", wss.NSWSSE), uri, vt)
}

// signSpec says how sign signs a message.
type signSpec struct {
	key     dsig.SigningKey
	keyInfo string   // SecurityTokenReference XML
	ids     []string // wsu:Ids to sign; nil means the Timestamp
}

// sign parses the message, signs the elements named by spec.ids into its
// Security header, and serialises it.
func sign(t *testing.T, src string, spec signSpec) []byte {
	t.Helper()
	d, err := xmldoc.Parse([]byte(src), xmldoc.Options{})
	if err != nil {
		t.Fatalf("test message: %v\n%s", err, src)
	}
	ids := spec.ids
	if ids == nil {
		ids = []string{"_0"}
	}
	var refs []dsig.Reference
	for _, id := range ids {
		found := xmldoc.WithAttr(d.Root(), wss.NameID, id)
		if len(found) != 1 {
			t.Fatalf("%d elements with Id %q", len(found), id)
		}
		refs = append(refs, dsig.Reference{Element: found[0]})
	}
	var sec *etree.Element
	xmldoc.Walk(d.Root(), func(el *etree.Element) {
		if xmldoc.Is(el, wss.NameSecurity) {
			sec = el
		}
	})
	ki, err := xmldoc.Parse([]byte(spec.keyInfo), xmldoc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	kiEl := ki.Root()
	ki.RemoveChild(kiEl)
	s := dsig.Signer{Key: spec.key, KeyInfo: kiEl}
	if _, err := s.Sign(sec, refs...); err != nil {
		t.Fatal(err)
	}
	return xmldoc.Serialize(d.Root())
}

func hmacKey(t *testing.T, key []byte) dsig.SigningKey {
	t.Helper()
	k, err := dsig.HMACKey(dsig.HMACSHA1, key)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// ctx is an issued context as a test client holds it.
type ctx struct {
	v          wssc.Version
	identifier string
	instance   string
	key        []byte
	token      string // the SCT exactly as issued, to send back
}

// keyRef selects how a context message's KeyInfo names its key.
type keyRef int

const (
	refID         keyRef = iota // #sct-1 (with the SCT ValueType in February 2005, as WCF)
	refIdentifier               // the bare Identifier, the SCT not in the header
	refDerived                  // a DerivedKeyToken over #sct-1, as WSS4J
)

// contextMessage builds an application message signed with c's key, its
// Timestamp created at now.
func contextMessage(t *testing.T, c ctx, sv soap.Version, wv wsa.Version, action, body string, now time.Time, ref keyRef) []byte {
	t.Helper()
	return contextMessageTS(t, c, sv, wv, action, body, timestamp(now, 5*time.Minute), ref)
}

// contextMessageTS is contextMessage with the Timestamp XML given (Id _0,
// signed).
func contextMessageTS(t *testing.T, c ctx, sv soap.Version, wv wsa.Version, action, body, ts string, ref keyRef) []byte {
	t.Helper()
	tok := c.token
	if tok == "" {
		tok = sctXML(c.v, c.identifier)
	}
	sec := ts
	key := c.key
	var ki string
	switch ref {
	case refID:
		vt := ""
		if c.v == wssc.Feb2005 {
			vt = c.v.TokenType()
		}
		sec += tok
		ki = strXML("#"+idOfToken(t, tok), vt)
	case refIdentifier:
		ki = strXML(c.identifier, c.v.TokenType())
	case refDerived:
		nonce := []byte("0123456789abcdef")
		dk, err := keys.Derive(c.key, keys.Derivation{Nonce: nonce, Length: 24})
		if err != nil {
			t.Fatal(err)
		}
		sec += tok + strings.Replace(dktXML(c.v, nonce, 24), "#sct-1", "#"+idOfToken(t, tok), 1)
		key, ki = dk, strXML("#dk-1", c.v.DKValueType())
	}
	m := msg{soap: sv, wsa: wv, action: action, messageID: "urn:uuid:00000000-0000-4000-8000-000000000001", security: sec, body: body}
	return sign(t, m.xml(), signSpec{key: hmacKey(t, key), keyInfo: ki})
}

// idOfToken reads the wsu:Id of a token's XML.
func idOfToken(t *testing.T, tok string) string {
	t.Helper()
	d, err := xmldoc.Parse([]byte(`<w`+nsDecl("u", wss.NSWSU)+nsDecl("o", wss.NSWSSE)+`>`+tok+`</w>`), xmldoc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	id, ok := wss.ID(d.Root().ChildElements()[0])
	if !ok {
		t.Fatalf("token without wsu:Id: %s", tok)
	}
	return id
}

const echoBody = `<EchoString xmlns="http://tempuri.org/"><echo>aaaa</echo></EchoString>`
const echoAction = "http://tempuri.org/IEchoService/EchoString"

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func b64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// faultOf extracts the *soap.Fault from an error of VerifyMessage.
func faultOf(t *testing.T, err error) *soap.Fault {
	t.Helper()
	var f *soap.Fault
	if !errors.As(err, &f) {
		t.Fatalf("error %v is not a SOAP fault", err)
	}
	return f
}
