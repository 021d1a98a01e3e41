package wstrust_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/secure"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
	"github.com/scproxy/scproxy/wstrust"
)

// canary stands for the request's secret: it must appear in no error and
// no log line.
const canary = "canary-WSTrust-S3cret"

var fixedNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// zeros is a Rand that reads zero bytes: the MessageID is then fixed.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// answer is what the fake STS sends back.
type answer struct {
	status      int
	contentType string
	body        string
}

// sent is a request the fake STS received.
type sent struct {
	contentType, soapAction string
	env                     *soap.Envelope
	headers                 wsa.Headers
}

// sts is an STS over HTTP that answers each request with what reply
// makes of its MessageID.
type sts struct {
	url    *url.URL
	client *upstream.Client
	reply  func(msgID string) answer

	mu   sync.Mutex
	last *sent
}

func newSTS(t *testing.T, maxBody int64) *sts {
	t.Helper()
	s := &sts{}
	ts := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(ts.Close)
	s.url, _ = url.Parse(ts.URL + "/sts?user=secret#frag")
	s.client = upstream.New(upstream.Config{MaxBody: maxBody})
	return s
}

func (s *sts) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	env, err := soap.ParseWith(body, xmldoc.Options{})
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h, _, _ := wsa.Read(env.Header)
	s.mu.Lock()
	s.last = &sent{contentType: r.Header.Get("Content-Type"), soapAction: r.Header.Get("SOAPAction"), env: env, headers: h}
	s.mu.Unlock()
	a := s.reply(h.MessageID)
	w.Header().Set("Content-Type", a.contentType)
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

func (s *sts) lastSent() *sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// request is a Cancel request of a context in version v, enveloped in
// SOAP 1.2 and WS-Addressing 1.0 and "secured" with the canary.
func (s *sts) request(t *testing.T, v wssc.Version) wstrust.Request {
	t.Helper()
	payload, err := wssc.BuildCancel(v, wssc.ContextRef{Identifier: "urn:uuid:00000000-0000-4000-8000-000000000001"})
	if err != nil {
		t.Fatal(err)
	}
	return wstrust.Request{
		URL: s.url, Version: v, SOAP: soap.V12, Addressing: wsa.V10,
		Op: "Cancel", Action: v.Action(wssc.Cancel), ReplyActions: v.ReplyActions(wssc.Cancel),
		Payload: payload,
		Secure: func(env *soap.Envelope, o secure.Options) ([]byte, error) {
			return secure.WithUsername(env, "alice", canary, false, o)
		},
	}
}

// clientFor is a wstrust.Client of the fake STS with a fixed clock and Rand
// that logs to log.
func (s *sts) clientFor(limits xmldoc.Limits, log *bytes.Buffer) *wstrust.Client {
	c := &wstrust.Client{HTTP: s.client, Limits: limits, Now: func() time.Time { return fixedNow }, Rand: zeros{}}
	if log != nil {
		c.Logger = slog.New(slog.NewJSONHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return c
}

// reply writes an envelope of version sv with the addressing headers h
// (none when h.Action is empty) around payload.
func reply(t *testing.T, sv soap.Version, h wsa.Headers, payload ...*etree.Element) string {
	t.Helper()
	env := soap.NewEnvelope(sv)
	if h.Action != "" {
		if _, err := h.AddTo(env.Header, wsa.V10); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range payload {
		env.Body.AddChild(p)
	}
	return string(env.Bytes())
}

// cancelled is a Cancel reply's payload in v.
func cancelled(t *testing.T, v wssc.Version) *etree.Element {
	t.Helper()
	el, err := wssc.BuildCancelResponse(v)
	if err != nil {
		t.Fatal(err)
	}
	return el
}

// fault is a SOAP fault envelope of version sv.
func fault(t *testing.T, sv soap.Version, reason string) string {
	t.Helper()
	env, err := soap.NewFault(soap.Sender, reason, wssc.V1_3.Fault(wssc.BadContextToken)).Envelope(sv)
	if err != nil {
		t.Fatal(err)
	}
	return string(env.Bytes())
}

const (
	ct12 = "application/soap+xml; charset=utf-8"
	ct11 = "text/xml; charset=utf-8"
)

// TestExchangeAcceptsReplies: a reply in the request's SOAP and WS-Trust
// versions, with status 200, is read whichever of the allowed actions it
// carries, with or without RelatesTo, with or without addressing; a
// request sent without addressing relates to nothing, so a reply's
// RelatesTo is not checked.
func TestExchangeAcceptsReplies(t *testing.T) {
	v := wssc.V1_3
	cases := []struct {
		name  string
		plain bool // the request is sent without WS-Addressing
		reply func(t *testing.T, msgID string) string
	}{
		{"reply action related", false, func(t *testing.T, id string) string {
			return reply(t, soap.V12, wsa.Headers{Action: v.ReplyAction(wssc.Cancel), RelatesTo: id}, cancelled(t, v))
		}},
		{"no RelatesTo", false, func(t *testing.T, id string) string {
			return reply(t, soap.V12, wsa.Headers{Action: v.ReplyAction(wssc.Cancel)}, cancelled(t, v))
		}},
		{"no addressing", false, func(t *testing.T, id string) string {
			return reply(t, soap.V12, wsa.Headers{}, cancelled(t, v))
		}},
		{"unaddressed request, any RelatesTo", true, func(t *testing.T, id string) string {
			return reply(t, soap.V12, wsa.Headers{Action: "urn:whatever", RelatesTo: "urn:uuid:another"}, cancelled(t, v))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSTS(t, 0)
			s.reply = func(id string) answer { return answer{200, ct12, tc.reply(t, id)} }
			r := s.request(t, v)
			if tc.plain {
				r.Addressing = wsa.None
			}
			resp, err := wstrust.Exchange(context.Background(), s.clientFor(xmldoc.Limits{}, nil), r, wssc.ParseResponse)
			if err != nil {
				t.Fatal(err)
			}
			if !resp.Cancelled || resp.Version != v {
				t.Fatalf("response %+v, want the cancellation in %s", resp, v)
			}
		})
	}
}

// TestExchangeRefusesBadReplies: every way a reply can be wrong is an
// error saying what is wrong, a fault is the STS's typed *soap.Fault, and
// no error carries the request's secret.
func TestExchangeRefusesBadReplies(t *testing.T) {
	v := wssc.V1_3
	good := func(t *testing.T, id string) string {
		return reply(t, soap.V12, wsa.Headers{Action: v.ReplyAction(wssc.Cancel), RelatesTo: id}, cancelled(t, v))
	}
	big := strings.Repeat("x", 4<<10)
	cases := []struct {
		name   string
		answer func(t *testing.T, id string) answer
		want   string               // in the error
		is     func(err error) bool // when set, must hold
	}{
		{name: "wrong media type", want: `HTTP 200 with "text/html", not SOAP`, answer: func(t *testing.T, id string) answer {
			return answer{200, "text/html", good(t, id)}
		}},
		{name: "no media type", want: "not SOAP", answer: func(t *testing.T, id string) answer {
			return answer{200, "", good(t, id)}
		}},
		{name: "malformed XML", want: "HTTP 200 with a message scproxy cannot read", answer: func(t *testing.T, id string) answer {
			return answer{200, ct12, strings.TrimSuffix(good(t, id), "</s:Envelope>")}
		}},
		{name: "not an envelope", want: "cannot read", is: isErr(soap.ErrNotEnvelope), answer: func(t *testing.T, id string) answer {
			return answer{200, ct12, "<html/>"}
		}},
		{name: "larger than the parse limit", want: "cannot read", is: isLimit, answer: func(t *testing.T, id string) answer {
			return answer{200, ct12, reply(t, soap.V12, wsa.Headers{Action: v.ReplyAction(wssc.Cancel), RelatesTo: id}, comment(big), cancelled(t, v))}
		}},
		{name: "larger than the upstream limit", want: "response too large", is: isUpstream(upstream.TooLarge), answer: func(t *testing.T, id string) answer {
			return answer{200, ct12, good(t, id) + strings.Repeat(" ", 64<<10)}
		}},
		{name: "fault", want: "the context is unknown", is: isFault, answer: func(t *testing.T, id string) answer {
			return answer{500, ct12, fault(t, soap.V12, "the context is unknown")}
		}},
		{name: "fault with status 200", want: "the context is unknown", is: isFault, answer: func(t *testing.T, id string) answer {
			return answer{200, ct12, fault(t, soap.V12, "the context is unknown")}
		}},
		{name: "fault in the other SOAP version", want: "the context is unknown", is: isFault, answer: func(t *testing.T, id string) answer {
			return answer{500, ct11, fault(t, soap.V11, "the context is unknown")}
		}},
		{name: "malformed fault", want: "the STS answered with a malformed fault", answer: func(t *testing.T, id string) answer {
			return answer{500, ct12, `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault/></s:Body></s:Envelope>`}
		}},
		{name: "wrong SOAP version", want: "the STS answered in SOAP 1.1 to a SOAP 1.2 request", answer: func(t *testing.T, id string) answer {
			return answer{200, ct11, reply(t, soap.V11, wsa.Headers{Action: v.ReplyAction(wssc.Cancel), RelatesTo: id}, cancelled(t, v))}
		}},
		{name: "wrong status", want: "the STS answered HTTP 202", answer: func(t *testing.T, id string) answer {
			return answer{202, ct12, good(t, id)}
		}},
		{name: "server error without a fault", want: "the STS answered HTTP 500", answer: func(t *testing.T, id string) answer {
			return answer{500, ct12, good(t, id)}
		}},
		{name: "wrong RelatesTo", want: "the STS's reply relates to another request", answer: func(t *testing.T, id string) answer {
			return answer{200, ct12, reply(t, soap.V12, wsa.Headers{Action: v.ReplyAction(wssc.Cancel), RelatesTo: "urn:uuid:another"}, cancelled(t, v))}
		}},
		{name: "wrong action", want: `reply action "` + v.ReplyAction(wssc.Issue) + `" does not answer a WS-Trust 1.3 Cancel request`, answer: func(t *testing.T, id string) answer {
			return answer{200, ct12, reply(t, soap.V12, wsa.Headers{Action: v.ReplyAction(wssc.Issue), RelatesTo: id}, cancelled(t, v))}
		}},
		{name: "addressed without an action", is: isErr(wsa.ErrNoAction), answer: func(t *testing.T, id string) answer {
			s := reply(t, soap.V12, wsa.Headers{Action: "urn:placeholder", RelatesTo: id}, cancelled(t, v))
			return answer{200, ct12, stripAction(s)}
		}},
		{name: "wrong WS-Trust version", is: isNamespace, answer: func(t *testing.T, id string) answer {
			return answer{200, ct12, reply(t, soap.V12, wsa.Headers{Action: v.ReplyAction(wssc.Cancel), RelatesTo: id}, cancelled(t, wssc.Feb2005))}
		}},
		{name: "not a response", want: "expected a RequestSecurityTokenResponse", answer: func(t *testing.T, id string) answer {
			return answer{200, ct12, reply(t, soap.V12, wsa.Headers{Action: v.ReplyAction(wssc.Cancel), RelatesTo: id}, etree.NewElement("Ping"))}
		}},
		{name: "empty body", is: isErr(soap.ErrNoPayload), answer: func(t *testing.T, id string) answer {
			return answer{200, ct12, reply(t, soap.V12, wsa.Headers{Action: v.ReplyAction(wssc.Cancel), RelatesTo: id})}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSTS(t, 16<<10)
			s.reply = func(id string) answer { return tc.answer(t, id) }
			r := s.request(t, v)
			resp, err := wstrust.Exchange(context.Background(), s.clientFor(xmldoc.Limits{MaxBytes: 2 << 10}, nil), r, wssc.ParseResponse)
			if err == nil {
				t.Fatalf("accepted: %+v", resp)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if tc.is != nil && !tc.is(err) {
				t.Errorf("error %v (%T) is not of the expected kind", err, err)
			}
			if strings.Contains(err.Error(), canary) {
				t.Errorf("the secret in the error: %v", err)
			}
		})
	}
}

func isErr(target error) func(error) bool {
	return func(err error) bool { return errors.Is(err, target) }
}

func isFault(err error) bool {
	var f *soap.Fault
	return errors.As(err, &f) && f.Has(wssc.V1_3.Fault(wssc.BadContextToken))
}

func isLimit(err error) bool {
	var le *xmldoc.LimitError
	return errors.As(err, &le)
}

func isNamespace(err error) bool {
	var ne *wssc.NamespaceError
	return errors.As(err, &ne)
}

func isUpstream(k upstream.Kind) func(error) bool {
	return func(err error) bool {
		var ue *upstream.Error
		return errors.As(err, &ue) && ue.Kind == k
	}
}

// comment is an element carrying s, to make a reply large.
func comment(s string) *etree.Element {
	el := etree.NewElement("Padding")
	el.CreateAttr("xmlns", "urn:padding")
	el.SetText(s)
	return el
}

// stripAction removes the wsa:Action header from an envelope written by
// reply.
func stripAction(s string) string {
	i := strings.Index(s, "<a:Action")
	j := strings.Index(s, "</a:Action>")
	if i < 0 || j < 0 {
		return s
	}
	return s[:i] + s[j+len("</a:Action>"):]
}

// TestExchangeSendsTheRequest: the request is the payload in an envelope
// of the version asked for, addressed to the URL with the action and a
// MessageID from the client's Rand, secured by the Secure function with
// the client's clock, and bound to HTTP as the SOAP version says.
func TestExchangeSendsTheRequest(t *testing.T) {
	v := wssc.Feb2005
	for _, w := range []struct {
		sv                soap.Version
		av                wsa.Version
		contentType, soap string
	}{
		{soap.V12, wsa.V10, `application/soap+xml; charset=utf-8; action="` + v.Action(wssc.Cancel) + `"`, ""},
		{soap.V11, wsa.V200408, "text/xml; charset=utf-8", `"` + v.Action(wssc.Cancel) + `"`},
		{soap.V11, wsa.None, "text/xml; charset=utf-8", `"` + v.Action(wssc.Cancel) + `"`},
	} {
		t.Run(w.sv.String()+"/"+w.av.String(), func(t *testing.T) {
			s := newSTS(t, 0)
			ct := ct12
			if w.sv == soap.V11 {
				ct = ct11
			}
			s.reply = func(id string) answer {
				return answer{200, ct, reply(t, w.sv, wsa.Headers{}, cancelled(t, v))}
			}
			r := s.request(t, v)
			r.SOAP, r.Addressing = w.sv, w.av
			var stamped time.Time
			sec := r.Secure
			r.Secure = func(env *soap.Envelope, o secure.Options) ([]byte, error) {
				stamped = o.Now()
				return sec(env, o)
			}
			if _, err := wstrust.Exchange(context.Background(), s.clientFor(xmldoc.Limits{}, nil), r, wssc.ParseResponse); err != nil {
				t.Fatal(err)
			}
			got := s.lastSent()
			if got.contentType != w.contentType || got.soapAction != w.soap {
				t.Errorf("Content-Type %q, SOAPAction %q; want %q, %q", got.contentType, got.soapAction, w.contentType, w.soap)
			}
			if got.env.Version != w.sv || !stamped.Equal(fixedNow) {
				t.Errorf("sent in %s stamped %v, want %s stamped %v", got.env.Version, stamped, w.sv, fixedNow)
			}
			payload, err := got.env.Payload()
			if err != nil || !xmldoc.Is(payload, xmldoc.Name{Space: v.Trust(), Local: "RequestSecurityToken"}) {
				t.Errorf("payload %v (%v), want the RST", payload, err)
			}
			want := wsa.Headers{}
			if w.av != wsa.None {
				want = wsa.Headers{Action: v.Action(wssc.Cancel), MessageID: "urn:uuid:00000000-0000-4000-8000-000000000000", To: s.url.String(), ReplyTo: w.av.Anonymous()}
			}
			if got.headers != want {
				t.Errorf("addressing %+v, want %+v", got.headers, want)
			}
		})
	}
}

// TestExchangeLogsWithoutContent: each exchange logs what it was and how
// long it took at debug level, naming the endpoint without its query,
// and never the content of the request or the reply.
func TestExchangeLogsWithoutContent(t *testing.T) {
	v := wssc.V1_3
	for _, tc := range []struct {
		name   string
		answer func(t *testing.T, id string) answer
		lines  []string
	}{
		{"answered", func(t *testing.T, id string) answer {
			return answer{200, ct12, reply(t, soap.V12, wsa.Headers{Action: v.ReplyAction(wssc.Cancel), RelatesTo: id}, cancelled(t, v))}
		}, []string{"sending WS-Trust request", "WS-Trust answer"}},
		{"refused", func(t *testing.T, id string) answer {
			return answer{500, ct12, fault(t, soap.V12, "refused "+canary)}
		}, []string{"sending WS-Trust request", "WS-Trust answer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSTS(t, 0)
			s.reply = func(id string) answer { return tc.answer(t, id) }
			var log bytes.Buffer
			_, _ = wstrust.Exchange(context.Background(), s.clientFor(xmldoc.Limits{}, &log), s.request(t, v), wssc.ParseResponse)
			out := log.String()
			for _, l := range tc.lines {
				if !strings.Contains(out, `"level":"DEBUG","msg":"`+l+`"`) {
					t.Errorf("no %q line at debug level in:\n%s", l, out)
				}
			}
			for _, attr := range []string{`"op":"Cancel"`, `"message_id":"urn:uuid:00000000-0000-4000-8000-000000000000"`, `"took":`, `"endpoint":"` + upstream.Redact(s.url) + `"`} {
				if !strings.Contains(out, attr) {
					t.Errorf("no %s in:\n%s", attr, out)
				}
			}
			for _, secret := range []string{canary, "user=secret", "RequestSecurityToken", "Envelope"} {
				if strings.Contains(out, secret) {
					t.Errorf("%q in the log:\n%s", secret, out)
				}
			}
		})
	}
}

// TestExchangeUnanswered: a call that gets no answer is the upstream's
// error, logged as failed.
func TestExchangeUnanswered(t *testing.T) {
	s := newSTS(t, 0)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	r := s.request(t, wssc.V1_3)
	r.URL, _ = url.Parse(closed.URL + "/sts")
	var log bytes.Buffer
	_, err := wstrust.Exchange(context.Background(), s.clientFor(xmldoc.Limits{}, &log), r, wssc.ParseResponse)
	if !isUpstream(upstream.Unreachable)(err) {
		t.Fatalf("error %v (%T), want an unreachable *upstream.Error", err, err)
	}
	if !strings.Contains(log.String(), `"msg":"WS-Trust request failed"`) {
		t.Errorf("no failure line in:\n%s", log.String())
	}
}

// TestExchangeIncompleteRequest: a request lacking what it needs fails
// before anything is sent.
func TestExchangeIncompleteRequest(t *testing.T) {
	s := newSTS(t, 0)
	s.reply = func(string) answer { t.Error("a request was sent"); return answer{} }
	for name, mod := range map[string]func(*wstrust.Request){
		"no URL":     func(r *wstrust.Request) { r.URL = nil },
		"no payload": func(r *wstrust.Request) { r.Payload = nil },
		"no Secure":  func(r *wstrust.Request) { r.Secure = nil },
	} {
		t.Run(name, func(t *testing.T) {
			r := s.request(t, wssc.V1_3)
			mod(&r)
			if _, err := wstrust.Exchange(context.Background(), s.clientFor(xmldoc.Limits{}, nil), r, wssc.ParseResponse); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

// TestExchangeOpensTheReply: a request's Open step runs on the checked
// reply before anything of it is read: the addressing checked and the
// payload parsed are those of the envelope it returns, and a reply it
// refuses is an error naming why, with nothing of the reply read.
func TestExchangeOpensTheReply(t *testing.T) {
	v := wssc.V1_3
	cases := []struct {
		name string
		open func(t *testing.T, id string) wstrust.OpenFunc
		want string // in the error; "" for a cancellation read
	}{
		{"the opened envelope is read", func(t *testing.T, id string) wstrust.OpenFunc {
			return func(env *soap.Envelope) (*soap.Envelope, error) {
				if got := env.Body.ChildElements()[0].Tag; got != "Protected" {
					return nil, errors.New("open saw " + got)
				}
				return soap.ParseWith([]byte(reply(t, soap.V12, wsa.Headers{Action: v.ReplyAction(wssc.Cancel), RelatesTo: id}, cancelled(t, v))), xmldoc.Options{KeepSpans: true})
			}
		}, ""},
		{"the opened envelope's addressing is checked", func(t *testing.T, id string) wstrust.OpenFunc {
			return func(*soap.Envelope) (*soap.Envelope, error) {
				return soap.ParseWith([]byte(reply(t, soap.V12, wsa.Headers{Action: v.ReplyAction(wssc.Cancel), RelatesTo: "urn:uuid:another"}, cancelled(t, v))), xmldoc.Options{KeepSpans: true})
			}
		}, "relates to another request"},
		{"a protected fault, once opened", func(t *testing.T, id string) wstrust.OpenFunc {
			return func(*soap.Envelope) (*soap.Envelope, error) {
				return soap.ParseWith([]byte(fault(t, soap.V12, "the context is unknown")), xmldoc.Options{KeepSpans: true})
			}
		}, "the context is unknown"},
		{"a refused reply", func(t *testing.T, id string) wstrust.OpenFunc {
			return func(*soap.Envelope) (*soap.Envelope, error) {
				return nil, errors.New("the signature does not cover the Body")
			}
		}, "the STS's reply cannot be trusted: the signature does not cover the Body"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSTS(t, 0)
			var id string
			s.reply = func(msgID string) answer {
				id = msgID
				return answer{200, ct12, reply(t, soap.V12, wsa.Headers{}, etree.NewElement("Protected"))}
			}
			r := s.request(t, v)
			r.Open = func(env *soap.Envelope) (*soap.Envelope, error) { return tc.open(t, id)(env) }
			resp, err := wstrust.Exchange(context.Background(), s.clientFor(xmldoc.Limits{}, nil), r, wssc.ParseResponse)
			if tc.want == "" {
				if err != nil || !resp.Cancelled {
					t.Fatalf("Exchange = %+v, %v; want the opened cancellation", resp, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Exchange error %v, want %q", err, tc.want)
			}
			var f *soap.Fault
			if strings.Contains(tc.name, "fault") && !errors.As(err, &f) {
				t.Fatalf("Exchange error %T, want the STS's *soap.Fault", err)
			}
		})
	}
}
