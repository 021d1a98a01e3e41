package outbound_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// This file holds the wire-level regressions of the second security
// review (issue 18, points 9, 14, 15 and 18), each through a running
// proxy in front of the built-in server.

const bom = "\xEF\xBB\xBF"

// answerWith makes the upstream answer every application message with
// what edit makes of the built-in server's answer.
func (u *upstreamRig) answerWith(edit func([]byte) []byte) {
	u.setIntercept(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		if _, ok := trustOp(r.Header.Get("Content-Type"), r.Header.Get("SOAPAction")); ok {
			return false
		}
		rec := httptest.NewRecorder()
		u.srv.ServeHTTP(rec, r)
		for k, vs := range rec.Header() {
			w.Header()[k] = vs
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(edit(rec.Body.Bytes()))
		return true
	})
}

// TestBOMRequestBodyIntact: a request that starts with a UTF-8 byte
// order mark, as .NET clients write it, reaches the service with its
// Body as sent (it reached it as "<s:Body>dy><Echo…").
func TestBOMRequestBodyIntact(t *testing.T) {
	for _, v := range soap.Versions {
		t.Run(strings.ReplaceAll(v.String(), " ", ""), func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, scserver.Config{})
			px := startProxy(t, outbound.Config{Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool()})
			payload := echoPayload("with a BOM")
			r := newApp(t).post(px.base+"/", v, echoAction, bom+`<?xml version="1.0" encoding="utf-8"?>`+envelope(v, "", payload))
			wantEcho(t, r, v, "with a BOM", false)
			msgs := up.appMessages(t)
			if len(msgs) != 1 {
				t.Fatalf("the service received %d application messages, want 1", len(msgs))
			}
			if got := bodyContent(t, msgs[0].body); got != payload {
				t.Errorf("the Body changed on the way:\n%s", firstDiff(payload, got))
			}
		})
	}
}

// TestBOMAnswerBodyIntact: an answer that starts with a UTF-8 byte order
// mark reaches the application with its Body as the service sent it (it
// reached it as HTTP 200 with "dy>" in the Body).
func TestBOMAnswerBodyIntact(t *testing.T) {
	for _, v := range soap.Versions {
		t.Run(strings.ReplaceAll(v.String(), " ", ""), func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, scserver.Config{})
			up.answerWithSecurity(bom)
			px := startProxy(t, outbound.Config{Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool()})
			r := newApp(t).post(px.base+"/", v, echoAction, envelope(v, "", echoPayload("answered with a BOM")))
			wantEcho(t, r, v, "answered with a BOM", false)
			msgs := up.appMessages(t)
			if len(msgs) != 1 {
				t.Fatalf("the service received %d application messages, want 1", len(msgs))
			}
			if got, sent := bodyContent(t, []byte(r.body)), bodyContent(t, msgs[0].resp[len(bom):]); got != sent {
				t.Errorf("the answer's Body changed on the way:\n%s", firstDiff(sent, got))
			}
		})
	}
}

// answerWithSecurity makes the answers start with prefix and carry WCF's
// response Security header, which the proxy removes: the answer is
// re-written, not passed through.
func (u *upstreamRig) answerWithSecurity(prefix string) {
	u.answerWith(func(b []byte) []byte { return append([]byte(prefix), withResponseSecurity(b)...) })
}

// TestUTF16RequestRefused: a UTF-16 request (with its byte order mark, as
// WCF's textMessageEncoding writes it with writeEncoding="utf-16") is
// refused with a Sender fault that names the encoding, whatever its
// Content-Type claims; the service sees nothing.
func TestUTF16RequestRefused(t *testing.T) {
	up := newUpstream(t, scserver.Config{})
	px := startProxy(t, outbound.Config{Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool()})
	doc := envelope(soap.V11, "", echoPayload("x"))
	le := []byte{0xFF, 0xFE}
	for _, r := range doc {
		le = append(le, byte(r), 0)
	}
	r := newApp(t).post(px.base+"/", soap.V11, echoAction, string(le))
	f := wantProxyFault(t, r, soap.V11, http.StatusBadRequest, outbound.CodeBadRequest, "UTF-16", "UTF-8")
	if f != nil && f.Class() != soap.Sender {
		t.Errorf("fault class %v, want Sender", f.Class())
	}
	if n := len(up.appMessages(t)); n != 0 {
		t.Errorf("the service received %d application messages, want none", n)
	}
}

// TestForgedSpliceMarkerKeepsSecurityInHeader: an application comment
// that looks like the splice's placeholder, between the Header and the
// Body, does not move the proxy's Security block out of the Header.
func TestForgedSpliceMarkerKeepsSecurityInHeader(t *testing.T) {
	up := newUpstream(t, scserver.Config{})
	px := startProxy(t, outbound.Config{Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool()})
	in := strings.Replace(envelope(soap.V11, `<h:Tenant xmlns:h="urn:h">t1</h:Tenant>`, echoPayload("forged")),
		"</soap:Header>", "</soap:Header><!--scproxy:header--><!--scproxy:body-->", 1)
	r := newApp(t).post(px.base+"/", soap.V11, echoAction, in)
	wantEcho(t, r, soap.V11, "forged", false)
	msgs := up.appMessages(t)
	if len(msgs) != 1 {
		t.Fatalf("the service received %d application messages, want 1", len(msgs))
	}
	env, err := soap.Parse(msgs[0].body, xmldoc.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := xmldoc.One(env.Header, xmldoc.Name{Space: wss.NSWSSE, Local: "Security"}); err != nil {
		t.Errorf("no Security header block: %v\n%s", err, msgs[0].body)
	}
}

// TestToDeclaredWhereWritten: an application that declares the
// WS-Addressing prefix on its Action and sends no To, to a service of the
// same addressing version, gets its request to the service
// namespace-well-formed, with a To the service reads.
func TestToDeclaredWhereWritten(t *testing.T) {
	for _, v := range soap.Versions {
		t.Run(strings.ReplaceAll(v.String(), " ", ""), func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, scserver.Config{})
			target := up.url(t, "/Echo.svc")
			px := startProxy(t, outbound.Config{Routes: routes(target), RootCAs: up.pool(), Addressing: outbound.Addressing{Auto: true}})
			header := `<a:Action xmlns:a="` + wsa.NS10 + `">` + echoAction + `</a:Action><a:MessageID xmlns:a="` + wsa.NS10 + `">urn:uuid:00000000-0000-4000-8000-000000000001</a:MessageID>`
			r := newApp(t).post(px.base+"/", v, echoAction, envelope(v, header, echoPayload("to")))
			wantEcho(t, r, v, "to", true)
			msgs := up.appMessages(t)
			if len(msgs) != 1 {
				t.Fatalf("the service received %d application messages, want 1", len(msgs))
			}
			env, err := soap.Parse(msgs[0].body, xmldoc.DefaultLimits)
			if err != nil {
				t.Fatalf("the request the service received is not namespace-well-formed: %v\n%s", err, msgs[0].body)
			}
			h, av, err := wsa.Read(env.Header)
			if err != nil || av != wsa.V10 || h.To != target.String() {
				t.Errorf("the service reads To %q in %v (%v), want %q:\n%s", h.To, av, err, target, msgs[0].body)
			}
		})
	}
}

// TestProcessingInstructionInRequestRefused: SOAP forbids processing
// instructions (SOAP 1.1 §3, SOAP 1.2 Part 1 §5); one anywhere in a
// request, the Body the proxy does not parse included, is the
// application's error: HTTP 400 with a Sender fault, and the service
// sees nothing.
func TestProcessingInstructionInRequestRefused(t *testing.T) {
	up := newUpstream(t, scserver.Config{})
	px := startProxy(t, outbound.Config{Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool()})
	app := newApp(t)
	cases := map[string]func(soap.Version) string{
		"prolog": func(v soap.Version) string {
			return `<?xml-stylesheet href="x.xsl"?>` + envelope(v, "", echoPayload("x"))
		},
		"header": func(v soap.Version) string {
			return envelope(v, `<h:Tenant xmlns:h="urn:h"><?pi data?>t1</h:Tenant>`, echoPayload("x"))
		},
		"body": func(v soap.Version) string {
			return envelope(v, "", `<EchoString xmlns="http://tempuri.org/"><echo>x<?pi data?></echo></EchoString>`)
		},
	}
	for name, doc := range cases {
		for _, v := range soap.Versions {
			r := app.post(px.base+"/", v, echoAction, doc(v))
			f := wantProxyFault(t, r, v, http.StatusBadRequest, outbound.CodeBadRequest, "processing instruction")
			if f != nil && f.Class() != soap.Sender {
				t.Errorf("%s, %s: fault class %v, want Sender", name, v, f.Class())
			}
		}
	}
	if n := len(up.appMessages(t)); n != 0 {
		t.Errorf("the service received %d application messages, want none", n)
	}
	// The XML declaration is not a processing instruction.
	r := app.post(px.base+"/", soap.V11, echoAction, `<?xml version="1.0" encoding="utf-8"?>`+envelope(soap.V11, "", echoPayload("decl")))
	wantEcho(t, r, soap.V11, "decl", false)
}

// TestProcessingInstructionInAnswerRefused: a processing instruction in
// the service's answer, in its Header or its Body, is a bad response:
// HTTP 502 with the proxy's fault, not passed on.
func TestProcessingInstructionInAnswerRefused(t *testing.T) {
	edits := map[string]func([]byte) []byte{
		"prolog": func(b []byte) []byte { return append([]byte(`<?pi data?>`), b...) },
		"header": func(b []byte) []byte {
			return bytes.Replace(withResponseSecurity(b), []byte("</u:Timestamp>"), []byte("</u:Timestamp><?pi data?>"), 1)
		},
		"body": func(b []byte) []byte {
			return bytes.Replace(b, []byte("</EchoStringResponse>"), []byte("<?pi data?></EchoStringResponse>"), 1)
		},
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, scserver.Config{})
			up.answerWith(func(b []byte) []byte {
				out := edit(b)
				if bytes.Equal(out, b) {
					t.Errorf("test bug: the %s edit changed nothing in %s", name, b)
				}
				return out
			})
			px := startProxy(t, outbound.Config{Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool()})
			r := newApp(t).post(px.base+"/", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("x")))
			wantProxyFault(t, r, soap.V11, http.StatusBadGateway, outbound.CodeBadResponse, "processing instruction")
		})
	}
}
