package outbound_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/internal/oracle"
	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// Names from the specifications, written out here rather than taken from
// the code under test.
const (
	nsDSig   = "http://www.w3.org/2000/09/xmldsig#"
	hmacSHA1 = nsDSig + "hmac-sha1"
	nsWSU    = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
	// timestampIDNode is the xmlsec1 --id-attr node of the signed Timestamp.
	timestampIDNode = nsWSU + ":Timestamp"
)

var wsuID = xmldoc.Name{Space: nsWSU, Local: "Id"}

type entropyPair struct {
	name   string
	client wssc.EntropyMode
	server scserver.Entropy
}

var entropies = []entropyPair{
	{"combined", wssc.CombinedEntropy, scserver.EntropyCombined},
	{"client", wssc.ClientEntropy, scserver.EntropyClient},
	{"server", wssc.ServerEntropy, scserver.EntropyServer},
}

// matrixCase is one application/upstream pairing through the real
// listener and a TLS upstream.
type matrixCase struct {
	name    string
	app     soap.Version // the application's SOAP version
	appWSA  wsa.Version  // the addressing the application sends
	sc      wssc.Version
	entropy entropyPair
	// proxy settings
	soap       soap.Version
	addressing outbound.Addressing
	// what the upstream must receive
	wantSOAP soap.Version
	wantWSA  wsa.Version
}

func matrixCases() []matrixCase {
	var cs []matrixCase
	for _, app := range soap.Versions {
		for _, sc := range wssc.Versions {
			for _, e := range entropies {
				cs = append(cs, matrixCase{
					name: fmt.Sprintf("%s/%s/%s", strings.ReplaceAll(app.String(), " ", ""), sc, e.name),
					app:  app, sc: sc, entropy: e, wantSOAP: app,
				})
			}
		}
	}
	return append(cs,
		matrixCase{
			name: "bridge SOAP1.1 app to SOAP1.2+WSA1.0", app: soap.V11, sc: wssc.Feb2005, entropy: entropies[0],
			soap: soap.V12, addressing: outbound.Addressing{Version: wsa.V10},
			wantSOAP: soap.V12, wantWSA: wsa.V10,
		},
		matrixCase{
			name: "pass-through without addressing", app: soap.V11, sc: wssc.V1_3, entropy: entropies[0],
			addressing: outbound.Addressing{Auto: true}, wantSOAP: soap.V11,
		},
		matrixCase{
			name: "pass-through with WSA1.0", app: soap.V12, appWSA: wsa.V10, sc: wssc.Feb2005, entropy: entropies[0],
			addressing: outbound.Addressing{Auto: true}, wantSOAP: soap.V12, wantWSA: wsa.V10,
		},
	)
}

// TestMatrix sends several calls per pairing of SOAP version, WS-SC
// version and entropy mode, and checks the answers the application gets,
// that one context serves them all, and that every secured message
// verifies with xmlsec1 under the context key and no other.
func TestMatrix(t *testing.T) {
	oracle.Require(t, "xmlsec1")
	for _, tc := range matrixCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, scserver.Config{Versions: []wssc.Version{tc.sc}, Entropy: tc.entropy.server})
			up.answerLikeWCF() // so that the proxy has a Security header to remove
			target := up.url(t, "/Echo.svc")
			px := startProxy(t, outbound.Config{
				Routes: routes(target), RootCAs: up.pool(), SC: tc.sc, Entropy: tc.entropy.client,
				SOAP: tc.soap, Addressing: tc.addressing,
			})
			app := newApp(t)
			const calls = 3
			for i := range calls {
				text := fmt.Sprintf("call-%d", i)
				header, msgID := "", ""
				if tc.appWSA != wsa.None {
					msgID = fmt.Sprintf("urn:uuid:00000000-0000-4000-8000-00000000000%d", i)
					header = addressingHeaders(tc.appWSA, echoAction, msgID, px.base+"/")
				}
				r := app.post(px.base+"/", tc.app, echoAction, envelope(tc.app, header, echoPayload(text)))
				env := wantEcho(t, r, tc.app, text, tc.appWSA != wsa.None)
				if tc.appWSA != wsa.None {
					h, v, err := wsa.Read(env.Header)
					if err != nil || v != tc.appWSA || h.RelatesTo != msgID {
						t.Errorf("answer addressing %v %+v (%v), want %s RelatesTo %s:\n%s", v, h, err, tc.appWSA, msgID, r.body)
					}
				}
			}

			if n := up.srv.Stats().Issued; n != 1 {
				t.Errorf("scserver issued %d contexts for %d calls, want 1", n, calls)
			}
			if n := up.issues(); n != 1 {
				t.Errorf("upstream received %d Issue requests, want 1", n)
			}
			eps := px.p.Endpoints()
			if len(eps) != 1 || eps[0].Current() == nil {
				t.Fatalf("want one endpoint with a context, got %d", len(eps))
			}
			cur := eps[0].Current()
			if got := up.srv.Stats().Contexts[cur.Identifier()].Verified; got != calls {
				t.Errorf("scserver verified %d messages under %s, want %d", got, cur.Identifier(), calls)
			}

			msgs := up.appMessages(t)
			if len(msgs) != calls {
				t.Fatalf("upstream received %d application messages, want %d", len(msgs), calls)
			}
			issued := issuedSCT(t, up)
			for i, m := range msgs {
				sct := checkSecured(t, m, cur, tc.sc, tc.wantSOAP, tc.wantWSA, target.String())
				if !bytes.Equal(sct, issued) {
					t.Errorf("message %d: the SCT is not sent as issued:\nsent   %s\nissued %s", i, sct, issued)
				}
				if !bytes.Contains(m.resp, []byte(wss.NSWSSE)) {
					t.Errorf("test bug: the upstream's answer %d has no Security header for the proxy to remove", i)
				}
			}
		})
	}
}

// addressingHeaders are the request headers a WS-Addressing client sends.
func addressingHeaders(v wsa.Version, action, msgID, to string) string {
	ns := v.Namespace()
	return `<a:Action xmlns:a="` + ns + `">` + action + `</a:Action>` +
		`<a:MessageID xmlns:a="` + ns + `">` + msgID + `</a:MessageID>` +
		`<a:ReplyTo xmlns:a="` + ns + `"><a:Address>` + v.Anonymous() + `</a:Address></a:ReplyTo>` +
		`<a:To xmlns:a="` + ns + `">` + to + `</a:To>`
}

// issuedSCT returns the raw SecurityContextToken of the one RSTR the
// upstream sent.
func issuedSCT(t *testing.T, up *upstreamRig) []byte {
	t.Helper()
	for _, m := range up.messages() {
		if isIssue(m) && m.status == http.StatusOK {
			return rawElement(t, m.resp, "SecurityContextToken")
		}
	}
	t.Fatal("no successful Issue captured")
	return nil
}

// rawElement returns the bytes of the first element named local (any
// prefix), start tag to end tag, exactly as they appear in doc.
func rawElement(t *testing.T, doc []byte, local string) []byte {
	t.Helper()
	s := string(doc)
	for i := 0; i < len(s); {
		j := strings.Index(s[i:], local)
		if j < 0 {
			break
		}
		j += i
		i = j + len(local)
		if i >= len(s) || !strings.ContainsRune(" \t\r\n>/", rune(s[i])) {
			continue
		}
		start := strings.LastIndexByte(s[:j], '<')
		qname := s[start+1 : i]
		if start < 0 || strings.ContainsAny(qname, " \t\r\n<>/\"'=") {
			continue
		}
		end := strings.Index(s[start:], "</"+qname+">")
		if end < 0 {
			t.Fatalf("element %s is not closed in:\n%s", qname, doc)
		}
		return doc[start : start+end+len("</"+qname+">")]
	}
	t.Fatalf("no %s element in:\n%s", local, doc)
	return nil
}

// checkSecured checks one application message as the upstream received
// it: HTTP binding and envelope of the upstream's SOAP version, the
// expected addressing, and the SC-over-TLS Security header (Timestamp,
// the SCT, an HMAC-SHA1 signature over the Timestamp whose KeyInfo
// references the SCT), verified by xmlsec1 with the context key and
// rejected with any other. It returns the raw SCT.
func checkSecured(t *testing.T, m captured, cur *session.Context, sc wssc.Version, wantSOAP soap.Version, wantWSA wsa.Version, to string) []byte {
	t.Helper()
	hv, action, err := soap.ActionFromHTTP(m.contentType, m.soapAction)
	if err != nil || hv != wantSOAP || action != echoAction {
		t.Errorf("upstream got Content-Type %q SOAPAction %q (%v): want %s with action %s", m.contentType, m.soapAction, err, wantSOAP, echoAction)
	}
	env, err := soap.Parse(m.body, xmldoc.DefaultLimits)
	if err != nil {
		t.Fatalf("upstream got no envelope: %v\n%s", err, m.body)
	}
	if env.Version != wantSOAP {
		t.Errorf("upstream got %s, want %s", env.Version, wantSOAP)
	}
	h, av, err := wsa.Read(env.Header)
	if err != nil || av != wantWSA {
		t.Errorf("upstream got addressing %s (%v), want %s:\n%s", av, err, wantWSA, m.body)
	}
	if wantWSA != wsa.None && (h.Action != echoAction || h.To != to) {
		t.Errorf("upstream addressing %+v: want Action %s and To %s", h, echoAction, to)
	}

	sec := one(t, env.Header, wss.NameSecurity)
	ts := one(t, sec, wss.NameTimestamp)
	sct := one(t, sec, xmldoc.Name{Space: sc.SC(), Local: "SecurityContextToken"})
	sig := one(t, sec, xmldoc.Name{Space: nsDSig, Local: "Signature"})
	if n := len(sec.ChildElements()); n != 3 {
		t.Errorf("Security header has %d children, want Timestamp, SCT and Signature:\n%s", n, m.body)
	}
	tsID, _ := xmldoc.Attr(ts, wsuID)
	sctID, _ := xmldoc.Attr(sct, wsuID)
	if tsID == "" || sctID == "" {
		t.Fatalf("Timestamp Id %q, SCT Id %q: both needed", tsID, sctID)
	}
	if id := xmldoc.Text(one(t, sct, xmldoc.Name{Space: sc.SC(), Local: "Identifier"})); id != cur.Identifier() {
		t.Errorf("SCT Identifier %q, current context %q", id, cur.Identifier())
	}
	signedInfo := one(t, sig, xmldoc.Name{Space: nsDSig, Local: "SignedInfo"})
	if alg := one(t, signedInfo, xmldoc.Name{Space: nsDSig, Local: "SignatureMethod"}).SelectAttrValue("Algorithm", ""); alg != hmacSHA1 {
		t.Errorf("signature method %q, want %q", alg, hmacSHA1)
	}
	if uri := one(t, signedInfo, xmldoc.Name{Space: nsDSig, Local: "Reference"}).SelectAttrValue("URI", ""); uri != "#"+tsID {
		t.Errorf("the signature references %q, want the Timestamp #%s", uri, tsID)
	}
	keyInfo := one(t, sig, xmldoc.Name{Space: nsDSig, Local: "KeyInfo"})
	ref := one(t, one(t, keyInfo, wss.NameSecurityTokenReference), xmldoc.Name{Space: wss.NSWSSE, Local: "Reference"})
	if uri := ref.SelectAttrValue("URI", ""); uri != "#"+sctID {
		t.Errorf("KeyInfo references %q, want the SCT #%s", uri, sctID)
	}
	if vt := ref.SelectAttrValue("ValueType", ""); sc == wssc.Feb2005 && vt != sc.TokenType() {
		t.Errorf("February 2005 KeyInfo reference ValueType %q, want %q", vt, sc.TokenType())
	}

	key := cur.Secure().Key
	if out, ok := oracle.XMLSecVerify(t, m.body, oracle.Key{HMAC: key}, timestampIDNode); !ok {
		t.Errorf("xmlsec1 rejected the message with the context key:\n%s\n%s", out, m.body)
	}
	wrong := bytes.Clone(key)
	wrong[len(wrong)-1] ^= 0x01
	if out, ok := oracle.XMLSecVerify(t, m.body, oracle.Key{HMAC: wrong}, timestampIDNode); ok {
		t.Errorf("xmlsec1 accepted the message with a flipped key bit:\n%s", out)
	}
	return rawElement(t, m.body, "SecurityContextToken")
}

func one(t *testing.T, parent *etree.Element, n xmldoc.Name) *etree.Element {
	t.Helper()
	if parent == nil {
		t.Fatalf("no parent for %v", n)
	}
	el, err := xmldoc.One(parent, n)
	if err != nil {
		t.Fatalf("%v: %v", n, err)
	}
	return el
}

// oddPayload is a legal payload that a re-serializing proxy would change:
// comments, CDATA, character references, single-quoted attributes, the
// envelope's prefix rebound inside, a QName value that uses the envelope's
// prefix, namespaces declared on the Envelope and Body, and 100 KB of text.
func oddPayload(envPrefix string) string {
	return `<m:Odd xmlns:m="urn:odd" a='single "quoted"' b="x &amp; y &lt; z"  c = 'spaced' >` +
		`<!-- a comment with <angle> brackets & more -->` +
		`<m:cdata><![CDATA[<not-an-element attr="1"> & ]]]]><![CDATA[> ]]></m:cdata>` +
		`<m:refs>&#x41;&#66;&#x1F600;&quot;&apos;</m:refs>` +
		`<` + envPrefix + `:Item xmlns:` + envPrefix + `="urn:not-soap">shadow</` + envPrefix + `:Item>` +
		`<q:ref xmlns:q="urn:q" kind="` + envPrefix + `:Client"/>` +
		`<x:FromEnvelope>declared on the Envelope</x:FromEnvelope>` +
		`<y:FromBody>declared on the Body</y:FromBody>` +
		`<plain xmlns="">no namespace</plain>` +
		"<m:ws>\t  leading and trailing  \n</m:ws>" +
		`<m:big>` + strings.Repeat("0123456789abcdef", (100<<10)/16) + `</m:big>` +
		`<m:empty></m:empty><m:selfclosed />` +
		`</m:Odd>`
}

// oddEnvelope wraps payload with namespace declarations on the Envelope and
// the Body that the payload relies on.
func oddEnvelope(v soap.Version, payload string) string {
	p, ns := "soap", soap.NS11
	if v == soap.V12 {
		p, ns = "env", soap.NS12
	}
	return `<` + p + `:Envelope xmlns:` + p + `="` + ns + `" xmlns:x="urn:x-envelope"><` + p + `:Body xmlns:y="urn:y-body">` +
		payload + `</` + p + `:Body></` + p + `:Envelope>`
}

// bodyContent returns the bytes between the Body start and end tags.
func bodyContent(t *testing.T, doc []byte) string {
	t.Helper()
	raw := string(rawElement(t, doc, "Body"))
	start := strings.IndexByte(raw, '>') + 1
	end := strings.LastIndex(raw, "</")
	return raw[start:end]
}

// TestBodyBytesUntouched checks that the application's Body content
// reaches the upstream byte for byte, and keeps its meaning: the prefixes
// it borrows from the Envelope and the Body still resolve the same.
func TestBodyBytesUntouched(t *testing.T) {
	const action = "urn:odd/Odd"
	cases := []struct {
		name       string
		app        soap.Version
		soap       soap.Version
		addressing outbound.Addressing
	}{
		{"SOAP1.1 kept", soap.V11, 0, outbound.Addressing{}},
		{"SOAP1.2 kept", soap.V12, 0, outbound.Addressing{Auto: true}},
		{"SOAP1.1 to SOAP1.2+WSA1.0", soap.V11, soap.V12, outbound.Addressing{Version: wsa.V10}},
		{"SOAP1.2 to SOAP1.1", soap.V12, soap.V11, outbound.Addressing{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, scserver.Config{})
			px := startProxy(t, outbound.Config{
				Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool(), SOAP: tc.soap, Addressing: tc.addressing,
			})
			envPrefix := map[soap.Version]string{soap.V11: "soap", soap.V12: "env"}[tc.app]
			payload := oddPayload(envPrefix)
			r := newApp(t).post(px.base+"/", tc.app, action, oddEnvelope(tc.app, payload))
			if r.status != http.StatusOK {
				t.Fatalf("HTTP %d:\n%.2000s", r.status, r.body)
			}
			msgs := up.appMessages(t)
			if len(msgs) != 1 {
				t.Fatalf("upstream received %d application messages, want 1", len(msgs))
			}
			if got := bodyContent(t, msgs[0].body); got != payload {
				t.Errorf("Body content changed on the way (%d bytes sent, %d received):\n%s", len(payload), len(got), firstDiff(payload, got))
			}

			env, err := soap.Parse(msgs[0].body, xmldoc.DefaultLimits)
			if err != nil {
				t.Fatal(err)
			}
			p, err := env.Payload()
			if err != nil {
				t.Fatal(err)
			}
			ref := one(t, p, xmldoc.Name{Space: "urn:q", Local: "ref"})
			if ns := xmldoc.InScope(ref)[envPrefix]; ns != tc.app.Namespace() {
				t.Errorf("the QName %s:Client in the body now resolves %s to %q, want %q", envPrefix, envPrefix, ns, tc.app.Namespace())
			}
			one(t, p, xmldoc.Name{Space: "urn:x-envelope", Local: "FromEnvelope"})
			one(t, p, xmldoc.Name{Space: "urn:y-body", Local: "FromBody"})
			one(t, p, xmldoc.Name{Space: "urn:not-soap", Local: "Item"})
		})
	}
}

func firstDiff(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	lo := max(0, i-80)
	return fmt.Sprintf("first difference at byte %d:\nsent     %q\nreceived %q", i, a[lo:min(len(a), i+80)], b[lo:min(len(b), i+80)])
}

// TestConcurrentFirstRequests starts 64 requests on a proxy with no
// context yet, all at once: every one succeeds and the STS issues one
// context.
func TestConcurrentFirstRequests(t *testing.T) {
	t.Parallel()
	const n = 64
	up := newUpstream(t, scserver.Config{})
	px := startProxy(t, outbound.Config{Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool()})
	app := newApp(t)

	replies := make([]reply, n)
	errs := make([]error, n)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		v := soap.Versions[i%2]
		req, err := newRequest(http.MethodPost, px.base+"/", v, echoAction, envelope(v, "", echoPayload(fmt.Sprintf("c-%d", i))))
		if err != nil {
			t.Fatal(err)
		}
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			replies[i], errs[i] = app.do(nil, req)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("request %d: %v", i, errs[i])
			continue
		}
		wantEcho(t, replies[i], soap.Versions[i%2], fmt.Sprintf("c-%d", i), false)
	}
	if got := up.srv.Stats().Issued; got != 1 {
		t.Errorf("scserver issued %d contexts for %d concurrent first requests, want 1", got, n)
	}
	if got := up.issues(); got != 1 {
		t.Errorf("upstream received %d Issue requests, want 1", got)
	}
	if got := up.srv.Stats().Verified; got != n {
		t.Errorf("scserver verified %d messages, want %d", got, n)
	}
}

// TestServiceFaultPassedOnce checks that a fault of the service that is
// not about security reaches the application once, in its SOAP version,
// without a resend, and leaves the context in use.
func TestServiceFaultPassedOnce(t *testing.T) {
	const unknown = "http://tempuri.org/IEchoService/NotThere"
	for _, v := range soap.Versions {
		t.Run(strings.ReplaceAll(v.String(), " ", ""), func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, scserver.Config{EchoActions: []string{echoAction}})
			px := startProxy(t, outbound.Config{Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool()})
			app := newApp(t)
			wantEcho(t, app.post(px.base+"/", v, echoAction, envelope(v, "", echoPayload("before"))), v, "before", false)

			before := len(up.appMessages(t))
			r := app.post(px.base+"/", v, unknown, envelope(v, "", `<NotThere xmlns="http://tempuri.org/"/>`))
			msgs := up.appMessages(t)
			if got := len(msgs) - before; got != 1 {
				t.Errorf("the upstream received the failing request %d times, want once", got)
			}
			last := msgs[len(msgs)-1]
			if r.status != last.status {
				t.Errorf("HTTP %d, the service answered %d", r.status, last.status)
			}
			f := wantFault(t, r, v)
			if f != nil {
				if !f.Has(wsa.V10.Name("ActionNotSupported")) {
					t.Errorf("fault codes %v %v, want the service's ActionNotSupported:\n%s", f.Code, f.Subcodes, r.body)
				}
				for _, c := range append([]xmldoc.Name{f.Code}, f.Subcodes...) {
					if c.Space == outbound.NSFault {
						t.Errorf("the service's fault is presented as scproxy's own (%v)", c)
					}
				}
				if !strings.Contains(f.Reason, unknown) {
					t.Errorf("fault reason %q lost the service's text naming %s", f.Reason, unknown)
				}
			}
			if got, sent := bodyContent(t, []byte(r.body)), bodyContent(t, last.resp); got != sent {
				t.Errorf("the fault reached the application changed:\n%s\nthe service sent:\n%s", got, sent)
			}

			wantEcho(t, app.post(px.base+"/", v, echoAction, envelope(v, "", echoPayload("after"))), v, "after", false)
			if n := up.srv.Stats().Issued; n != 1 {
				t.Errorf("a fault unrelated to security led to %d contexts, want 1", n)
			}
		})
	}
}

// TestBadContextTokenAfterRecycle: the service forgets its contexts (an
// IIS recycle). The next request meets BadContextToken at the service; the
// proxy establishes a new context and resends it once, so the application
// gets its answer; the one after uses the new context directly.
func TestBadContextTokenAfterRecycle(t *testing.T) {
	for _, sc := range wssc.Versions {
		for _, v := range soap.Versions {
			t.Run(fmt.Sprintf("%s/%s", sc, strings.ReplaceAll(v.String(), " ", "")), func(t *testing.T) {
				t.Parallel()
				up := newUpstream(t, scserver.Config{Versions: []wssc.Version{sc}})
				px := startProxy(t, outbound.Config{Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool(), SC: sc})
				app := newApp(t)
				wantEcho(t, app.post(px.base+"/", v, echoAction, envelope(v, "", echoPayload("first"))), v, "first", false)
				old := px.p.Endpoints()[0].Current().Identifier()
				if n := up.srv.ForgetAll(); n != 1 {
					t.Fatalf("ForgetAll dropped %d contexts, want 1", n)
				}

				// The service answers BadContextToken; the application does
				// not see it: the proxy establishes a new context and resends.
				before := len(up.appMessages(t))
				wantEcho(t, app.post(px.base+"/", v, echoAction, envelope(v, "", echoPayload("rejected"))), v, "rejected", false)
				if got := len(up.appMessages(t)) - before; got != 2 {
					t.Errorf("the rejected request reached the upstream %d times, want twice (rejected, resent)", got)
				}
				wantEcho(t, app.post(px.base+"/", v, echoAction, envelope(v, "", echoPayload("again"))), v, "again", false)
				st := up.srv.Stats()
				if st.Issued != 2 {
					t.Errorf("scserver issued %d contexts, want 2", st.Issued)
				}
				if st.Faults["BadContextToken"] != 1 {
					t.Errorf("faults %v, want one BadContextToken", st.Faults)
				}
				if rs := px.p.Endpoints()[0].Stats().Resends; rs != 1 {
					t.Errorf("%d resends, want 1", rs)
				}
				cur := px.p.Endpoints()[0].Current()
				if cur == nil || cur.Identifier() == old {
					t.Fatalf("the proxy still uses context %s", old)
				}
				if st.Contexts[cur.Identifier()].Verified != 2 {
					t.Errorf("the new context %s verified %d messages, want 2 (the resend and the next)", cur.Identifier(), st.Contexts[cur.Identifier()].Verified)
				}
			})
		}
	}
}

// TestQueryStringsShareTheEndpoint: requests to one service path that
// differ only in their query string share the endpoint's context (one
// Issue, one endpoint, one renewal loop), and each application message
// still reaches the service with its own query.
func TestQueryStringsShareTheEndpoint(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, scserver.Config{})
	px := startProxy(t, outbound.Config{Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool()})
	app := newApp(t)
	for i := range 5 {
		r := app.post(fmt.Sprintf("%s/?n=%d", px.base, i), soap.V11, echoAction, envelope(soap.V11, "", echoPayload(fmt.Sprintf("q-%d", i))))
		wantEcho(t, r, soap.V11, fmt.Sprintf("q-%d", i), false)
	}
	if got := up.issues(); got != 1 {
		t.Errorf("upstream received %d Issue requests for one service path, want 1", got)
	}
	if eps := px.p.Endpoints(); len(eps) != 1 || strings.Contains(eps[0].URL(), "?") {
		t.Errorf("proxy holds %d endpoints (first %v), want one without a query", len(eps), eps)
	}
	var queries []string
	for _, m := range up.appMessages(t) {
		queries = append(queries, m.uri)
	}
	if want := []string{"/Echo.svc?n=0", "/Echo.svc?n=1", "/Echo.svc?n=2", "/Echo.svc?n=3", "/Echo.svc?n=4"}; !slices.Equal(queries, want) {
		t.Errorf("the service received %q, want %q", queries, want)
	}
}

// TestServiceFaultUnchanged: a service fault in the application's SOAP
// version reaches it as the service wrote it: every Reason text, the Node,
// Role and Detail, and the service's own header blocks, byte for byte in
// the Body. Only WS-Security headers are the proxy's to remove.
func TestServiceFaultUnchanged(t *testing.T) {
	faults := map[soap.Version]string{
		soap.V11: `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><x:Trace xmlns:x="urn:trace">t-11</x:Trace></s:Header>` +
			`<s:Body><s:Fault><faultcode xmlns:b="urn:billing">b:CardDeclined</faultcode><faultstring xml:lang="en-GB">declined</faultstring>` +
			`<faultactor>urn:billing:gateway</faultactor><detail><b:Why xmlns:b="urn:billing" code="51">funds<!-- kept --></b:Why></detail></s:Fault></s:Body></s:Envelope>`,
		soap.V12: `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header><x:Trace xmlns:x="urn:trace">t-12</x:Trace></s:Header>` +
			`<s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value xmlns:b="urn:billing">b:CardDeclined</s:Value></s:Subcode></s:Code>` +
			`<s:Reason><s:Text xml:lang="en">declined</s:Text><s:Text xml:lang="de">abgelehnt</s:Text></s:Reason>` +
			`<s:Node>urn:billing:gateway</s:Node><s:Role>urn:billing:role</s:Role><s:Detail><b:Why xmlns:b="urn:billing" code="51">funds<!-- kept --></b:Why></s:Detail></s:Fault></s:Body></s:Envelope>`,
	}
	for _, v := range soap.Versions {
		t.Run(strings.ReplaceAll(v.String(), " ", ""), func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, scserver.Config{})
			px := startProxy(t, outbound.Config{Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool()})
			up.setIntercept(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
				if _, ok := trustOp(r.Header.Get("Content-Type"), r.Header.Get("SOAPAction")); ok {
					return false
				}
				w.Header().Set("Content-Type", v.MediaType()+"; charset=utf-8")
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = io.WriteString(w, faults[v])
				return true
			})
			r := newApp(t).post(px.base+"/", v, echoAction, envelope(v, "", echoPayload("x")))
			if r.status != http.StatusInternalServerError {
				t.Errorf("HTTP %d, want the service's 500", r.status)
			}
			if got, sent := bodyContent(t, []byte(r.body)), bodyContent(t, []byte(faults[v])); got != sent {
				t.Errorf("the fault reached the application changed:\n%s\nthe service sent:\n%s", got, sent)
			}
			if !strings.Contains(r.body, `<x:Trace xmlns:x="urn:trace">t-`) {
				t.Errorf("the service's header block is lost:\n%s", r.body)
			}
			if n := len(up.appOnly()); n != 1 {
				t.Errorf("the service received the request %d times, want once", n)
			}
		})
	}
}
