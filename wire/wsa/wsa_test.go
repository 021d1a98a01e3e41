package wsa

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

const (
	ns11 = "http://schemas.xmlsoap.org/soap/envelope/"
	ns12 = "http://www.w3.org/2003/05/soap-envelope"
)

// parse parses an envelope with the shared parser only, so these tests do
// not depend on wire/soap beyond what the package itself uses.
func parse(t testing.TB, src []byte) *xmldoc.Doc {
	t.Helper()
	d, err := xmldoc.Parse(src, xmldoc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func load(t testing.TB, path string) *xmldoc.Doc {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parse(t, b)
}

// header returns the Header child of the envelope root, nil if absent.
func header(t testing.TB, d *xmldoc.Doc) *etree.Element {
	t.Helper()
	root := d.Root()
	h, err := xmldoc.Optional(root, xmldoc.Name{Space: root.NamespaceURI(), Local: "Header"})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestVersionURIs(t *testing.T) {
	tests := []struct {
		v                          Version
		ns, anonymous, faultAction string
	}{
		{V10, "http://www.w3.org/2005/08/addressing", "http://www.w3.org/2005/08/addressing/anonymous", "http://www.w3.org/2005/08/addressing/soap/fault"},
		{V200408, "http://schemas.xmlsoap.org/ws/2004/08/addressing", "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous", "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault"},
		{None, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.v.String(), func(t *testing.T) {
			if got := tt.v.Namespace(); got != tt.ns {
				t.Errorf("Namespace = %q, want %q", got, tt.ns)
			}
			if got := tt.v.Anonymous(); got != tt.anonymous {
				t.Errorf("Anonymous = %q, want %q", got, tt.anonymous)
			}
			if got := tt.v.FaultAction(); got != tt.faultAction {
				t.Errorf("FaultAction = %q, want %q", got, tt.faultAction)
			}
			got, ok := VersionOf(tt.ns)
			if want := tt.v != None; ok != want || got != tt.v {
				t.Errorf("VersionOf(%q) = %v, %v; want %v, %v", tt.ns, got, ok, tt.v, want)
			}
		})
	}
	if _, ok := VersionOf("http://www.w3.org/2005/08/addressing/"); ok {
		t.Error("VersionOf accepted a namespace with a trailing slash")
	}
}

// repeat is an endless reader of one byte value.
type repeat byte

func (r repeat) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

func TestNewMessageID(t *testing.T) {
	tests := []struct {
		name string
		r    io.Reader
		want string
	}{
		{"counting bytes", bytes.NewReader([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}),
			"urn:uuid:00010203-0405-4607-8809-0a0b0c0d0e0f"},
		{"all ones keep only version and variant bits", repeat(0xff), "urn:uuid:ffffffff-ffff-4fff-bfff-ffffffffffff"},
		{"all zeros gain version and variant bits", repeat(0), "urn:uuid:00000000-0000-4000-8000-000000000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NewMessageID(tt.r)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestNewMessageIDShortRead(t *testing.T) {
	_, err := NewMessageID(bytes.NewReader(make([]byte, 15)))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestNewMessageIDConsumesSixteenBytes(t *testing.T) {
	src := bytes.NewReader(bytes.Repeat([]byte{0xab}, 40))
	a, errA := NewMessageID(src)
	b, errB := NewMessageID(src)
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if a != b || src.Len() != 8 {
		t.Errorf("ids %s, %s; %d bytes left, want equal ids and 8 left", a, b, src.Len())
	}
	uuid := regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	if !uuid.MatchString(a) {
		t.Errorf("%s is not a version 4 UUID URN", a)
	}
}

func TestNewRequest(t *testing.T) {
	for _, v := range []Version{V10, V200408} {
		t.Run(v.String(), func(t *testing.T) {
			h, err := NewRequest(v, "urn:op", "https://service.example/svc", repeat(0))
			if err != nil {
				t.Fatal(err)
			}
			want := Headers{
				Action:    "urn:op",
				MessageID: "urn:uuid:00000000-0000-4000-8000-000000000000",
				To:        "https://service.example/svc",
				ReplyTo:   v.Anonymous(),
			}
			if h != want {
				t.Errorf("got %+v, want %+v", h, want)
			}
		})
	}
	if _, err := NewRequest(V10, "urn:op", "x", bytes.NewReader(nil)); !errors.Is(err, io.EOF) {
		t.Errorf("empty randomness: err = %v, want io.EOF", err)
	}
}

const vectors = "../../testdata/vectors/"

// TestReadVectors reads the addressing headers of every real message in
// the vector set: WCF talking to CoreWCF, and Mono's WCF (which puts wsu:Id
// on each header block for signing).
func TestReadVectors(t *testing.T) {
	const anon = "http://www.w3.org/2005/08/addressing/anonymous"
	const svc = "https://localhost:60867/WSHttpWcfService/basichttp.svc"
	tests := []struct {
		file string
		want Headers
		v    Version
	}{
		{"corewcf/app-request.xml", Headers{Action: "http://tempuri.org/IEchoService/EchoString",
			MessageID: "urn:uuid:abd7511b-95ad-4a9e-9647-1c07b9a11ef9", ReplyTo: anon, To: svc}, V10},
		{"corewcf/app-response.pretty.xml", Headers{Action: "http://tempuri.org/IEchoService/EchoStringResponse"}, V10},
		{"corewcf/issue-request.pretty.xml", Headers{Action: "http://schemas.xmlsoap.org/ws/2005/02/trust/RST/SCT",
			MessageID: "urn:uuid:11048819-ca8b-4cc3-8054-ab18ff4abef3", ReplyTo: anon, To: svc}, V10},
		{"corewcf/issue-response.pretty.xml", Headers{Action: "http://schemas.xmlsoap.org/ws/2005/02/trust/RSTR/SCT",
			RelatesTo: "urn:uuid:11048819-ca8b-4cc3-8054-ab18ff4abef3"}, V10},
		{"corewcf/cancel-request.xml", Headers{Action: "http://schemas.xmlsoap.org/ws/2005/02/trust/RST/SCT/Cancel",
			MessageID: "urn:uuid:4018d6c9-62a0-41e4-9dd7-cf04b0f8b19b", ReplyTo: anon, To: svc}, V10},
		{"corewcf/cancel-response.pretty.xml", Headers{Action: "http://schemas.xmlsoap.org/ws/2005/02/trust/RSTR/SCT/Cancel",
			RelatesTo: "urn:uuid:3856fb84-ac4a-471e-9764-a47d3fa3ed5f"}, V10},
		{"mono/anoncert/request.xml", Headers{Action: "urn:interop/IEcho/Echo",
			MessageID: "urn:uuid:e7474712-e64d-43b6-90bd-02dfadb3e6f3", ReplyTo: anon, To: "http://localhost:8081/echo"}, V10},
		{"mono/anoncert/response.xml", Headers{Action: "urn:interop/IEcho/EchoResponse",
			RelatesTo: "urn:uuid:e7474712-e64d-43b6-90bd-02dfadb3e6f3"}, V10},
		{"wss4j/wss4j-sct-dksign-sc200502.xml", Headers{}, None},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, v, err := Read(header(t, load(t, vectors+tt.file)))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || v != tt.v {
				t.Errorf("got %+v in %v\nwant %+v in %v", got, v, tt.want, tt.v)
			}
		})
	}
}

func TestReadFixtures(t *testing.T) {
	tests := []struct {
		file    string
		wantErr error
		want    Headers
		v       Version
	}{
		{file: "dup-to.xml", wantErr: &xmldoc.DuplicateError{}},
		{file: "dup-action.xml", wantErr: &xmldoc.DuplicateError{}},
		{file: "dup-relatesto.xml", wantErr: &xmldoc.DuplicateError{}},
		{file: "mixed.xml", wantErr: ErrMixed},
		{file: "no-action.xml", wantErr: ErrNoAction},
		{file: "empty-messageid.xml", wantErr: ErrValue},
		{file: "action-element-content.xml", wantErr: ErrValue},
		{file: "replyto-no-address.xml", wantErr: &xmldoc.NotFoundError{}},
		{file: "replyto-two-addresses.xml", wantErr: &xmldoc.DuplicateError{}},
		{file: "replyto-address-wrong-version.xml", wantErr: &xmldoc.NotFoundError{}},
		{file: "relatesto-not-reply-10.xml", wantErr: ErrRelationship},
		{file: "relatesto-unbound-200408.xml", wantErr: ErrRelationship},
		{file: "relatesto-wrong-ns-200408.xml", wantErr: ErrRelationship},
		{file: "ok-200408-relatesto-qname.xml", want: Headers{Action: "urn:op", RelatesTo: "uuid:1"}, v: V200408},
		{file: "ok-10-relatesto-explicit.xml", want: Headers{Action: "urn:op", RelatesTo: "urn:uuid:1"}, v: V10},
		{file: "ok-prefix-trap.xml", want: Headers{Action: "urn:real"}, v: V10},
		{file: "ok-none.xml", v: None},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.file, ".xml"), func(t *testing.T) {
			got, v, err := Read(header(t, load(t, filepath.Join("testdata", "read", tt.file))))
			if tt.wantErr != nil {
				if !matches(err, tt.wantErr) {
					t.Fatalf("err = %v, want %T %v", err, tt.wantErr, tt.wantErr)
				}
				if got != (Headers{}) || v != None {
					t.Errorf("headers returned with an error: %+v, %v", got, v)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || v != tt.v {
				t.Errorf("got %+v in %v\nwant %+v in %v", got, v, tt.want, tt.v)
			}
		})
	}
}

// matches reports whether err is want (a sentinel) or has want's type.
func matches(err, want error) bool {
	switch want.(type) {
	case *xmldoc.DuplicateError:
		var e *xmldoc.DuplicateError
		return errors.As(err, &e)
	case *xmldoc.NotFoundError:
		var e *xmldoc.NotFoundError
		return errors.As(err, &e)
	}
	return errors.Is(err, want)
}

func TestReadNotAHeader(t *testing.T) {
	d := load(t, vectors+"corewcf/app-request.xml")
	body := d.Root().ChildElements()[1]
	if _, _, err := Read(body); !errors.Is(err, ErrNotHeader) {
		t.Errorf("Body: err = %v, want ErrNotHeader", err)
	}
	h, v, err := Read(nil)
	if err != nil || v != None || h != (Headers{}) {
		t.Errorf("nil header: %+v, %v, %v; want nothing", h, v, err)
	}
}

// TestAddToReproducesWCF removes the addressing headers from WCF's request
// and writes them again: each block must come out byte for byte as WCF
// wrote it.
func TestAddToReproducesWCF(t *testing.T) {
	for _, file := range []string{"corewcf/app-request.xml", "corewcf/cancel-request.xml"} {
		t.Run(file, func(t *testing.T) {
			d := load(t, vectors+file)
			h := header(t, d)
			want, v, err := Read(h)
			if err != nil {
				t.Fatal(err)
			}
			orig := map[string]string{}
			for _, c := range h.ChildElements() {
				if c.NamespaceURI() == v.Namespace() {
					orig[c.Tag] = string(xmldoc.Serialize(c))
					h.RemoveChild(c)
				}
			}
			els, err := want.AddTo(h, v)
			if err != nil {
				t.Fatal(err)
			}
			if len(els.All()) != len(orig) {
				t.Fatalf("wrote %d blocks, WCF had %d", len(els.All()), len(orig))
			}
			for _, el := range els.All() {
				if got := string(xmldoc.Serialize(el)); got != orig[el.Tag] {
					t.Errorf("%s:\n got %s\nwant %s", el.Tag, got, orig[el.Tag])
				}
			}
		})
	}
}

func TestAddToShapes(t *testing.T) {
	req := Headers{
		Action:    "urn:op",
		MessageID: "urn:uuid:00000000-0000-4000-8000-000000000000",
		ReplyTo:   "http://www.w3.org/2005/08/addressing/anonymous",
		To:        "https://service.example/svc",
	}
	tests := []struct {
		name       string
		envelope   string
		v          Version
		h          Headers
		wantHeader string // the Header element after AddTo
	}{
		{
			name:     "fresh SOAP 1.2 envelope declares wsa on each block",
			envelope: `<s:Envelope xmlns:s="` + ns12 + `"><s:Header/><s:Body/></s:Envelope>`,
			v:        V10,
			h:        req,
			wantHeader: `<s:Header>` +
				`<a:Action xmlns:a="http://www.w3.org/2005/08/addressing" s:mustUnderstand="1">urn:op</a:Action>` +
				`<a:MessageID xmlns:a="http://www.w3.org/2005/08/addressing">urn:uuid:00000000-0000-4000-8000-000000000000</a:MessageID>` +
				`<a:ReplyTo xmlns:a="http://www.w3.org/2005/08/addressing"><a:Address>http://www.w3.org/2005/08/addressing/anonymous</a:Address></a:ReplyTo>` +
				`<a:To xmlns:a="http://www.w3.org/2005/08/addressing" s:mustUnderstand="1">https://service.example/svc</a:To>` +
				`</s:Header>`,
		},
		{
			name:     "SOAP 1.1 reply in 2004/08 with a bound prefix reused",
			envelope: `<soapenv:Envelope xmlns:soapenv="` + ns11 + `" xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing"><soapenv:Header><app:Session xmlns:app="urn:app">1</app:Session></soapenv:Header><soapenv:Body/></soapenv:Envelope>`,
			v:        V200408,
			h:        Headers{Action: "urn:op/Response", RelatesTo: "uuid:1"},
			wantHeader: `<soapenv:Header><app:Session xmlns:app="urn:app">1</app:Session>` +
				`<wsa:Action soapenv:mustUnderstand="1">urn:op/Response</wsa:Action>` +
				`<wsa:RelatesTo>uuid:1</wsa:RelatesTo>` +
				`</soapenv:Header>`,
		},
		{
			name:     "SOAP namespace as default gets a declared prefix for mustUnderstand",
			envelope: `<Envelope xmlns="` + ns12 + `"><Header/><Body/></Envelope>`,
			v:        V10,
			h:        Headers{Action: "urn:op"},
			wantHeader: `<Header>` +
				`<a:Action xmlns:a="http://www.w3.org/2005/08/addressing" xmlns:s="` + ns12 + `" s:mustUnderstand="1">urn:op</a:Action>` +
				`</Header>`,
		},
		{
			name:     "prefix a taken by SOAP itself",
			envelope: `<a:Envelope xmlns:a="` + ns11 + `"><a:Header/><a:Body/></a:Envelope>`,
			v:        V10,
			h:        Headers{Action: "urn:op", To: "urn:to"},
			wantHeader: `<a:Header>` +
				`<a1:Action xmlns:a1="http://www.w3.org/2005/08/addressing" a:mustUnderstand="1">urn:op</a1:Action>` +
				`<a1:To xmlns:a1="http://www.w3.org/2005/08/addressing" a:mustUnderstand="1">urn:to</a1:To>` +
				`</a:Header>`,
		},
		{
			name:     "prefix a bound elsewhere is shadowed locally",
			envelope: `<s:Envelope xmlns:s="` + ns12 + `" xmlns:a="urn:app"><s:Header><a:Token>t</a:Token></s:Header><s:Body/></s:Envelope>`,
			v:        V10,
			h:        Headers{Action: "urn:op"},
			wantHeader: `<s:Header><a:Token>t</a:Token>` +
				`<a:Action xmlns:a="http://www.w3.org/2005/08/addressing" s:mustUnderstand="1">urn:op</a:Action>` +
				`</s:Header>`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := parse(t, []byte(tt.envelope))
			h := header(t, d)
			els, err := tt.h.AddTo(h, tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(xmldoc.Serialize(h)); got != tt.wantHeader {
				t.Errorf("header:\n got %s\nwant %s", got, tt.wantHeader)
			}
			// The written envelope, parsed again, reads back as written,
			// with mustUnderstand on Action and To in the SOAP namespace.
			d2 := parse(t, xmldoc.Serialize(d.Root()))
			h2 := header(t, d2)
			got, v, err := Read(h2)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.h || v != tt.v {
				t.Errorf("read back %+v in %v, want %+v in %v", got, v, tt.h, tt.v)
			}
			soapNS := h2.NamespaceURI()
			for _, c := range h2.ChildElements() {
				if _, ok := VersionOf(c.NamespaceURI()); !ok {
					continue
				}
				mu, ok := xmldoc.Attr(c, xmldoc.Name{Space: soapNS, Local: "mustUnderstand"})
				if want := c.Tag == "Action" || c.Tag == "To"; ok != want || (ok && mu != "1") {
					t.Errorf("%s: mustUnderstand = %q, %v; want present=%v", c.Tag, mu, ok, want)
				}
			}
			if els.Action == nil || (els.To == nil) != (tt.h.To == "") || (els.RelatesTo == nil) != (tt.h.RelatesTo == "") {
				t.Errorf("returned elements %+v do not match the headers written", els)
			}
		})
	}
}

func TestAddToErrors(t *testing.T) {
	env := func(hdr string) string {
		return `<s:Envelope xmlns:s="` + ns12 + `" xmlns:a="http://www.w3.org/2005/08/addressing" xmlns:b="http://schemas.xmlsoap.org/ws/2004/08/addressing"><s:Header>` + hdr + `</s:Header><s:Body/></s:Envelope>`
	}
	tests := []struct {
		name    string
		hdr     string
		v       Version
		h       Headers
		body    bool // pass the Body instead of the Header
		wantErr error
	}{
		{name: "not a header", body: true, v: V10, h: Headers{Action: "urn:op"}, wantErr: ErrNotHeader},
		{name: "no version", v: None, h: Headers{Action: "urn:op"}, wantErr: ErrNoVersion},
		{name: "no action", v: V10, h: Headers{To: "urn:to"}, wantErr: ErrNoAction},
		{name: "to already there", hdr: `<a:To>urn:old</a:To>`, v: V10, h: Headers{Action: "urn:op", To: "urn:to"}, wantErr: ErrPresent},
		{name: "action already there", hdr: `<a:Action>urn:old</a:Action>`, v: V10, h: Headers{Action: "urn:op"}, wantErr: ErrPresent},
		{name: "other version present", hdr: `<b:MessageID>uuid:1</b:MessageID>`, v: V10, h: Headers{Action: "urn:op"}, wantErr: ErrMixed},
		{name: "unrelated header of same version kept", hdr: `<a:From><a:Address>urn:me</a:Address></a:From>`, v: V10, h: Headers{Action: "urn:op"}},
		{name: "message id not written so not a clash", hdr: `<a:MessageID>uuid:1</a:MessageID>`, v: V10, h: Headers{Action: "urn:op"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := parse(t, []byte(env(tt.hdr)))
			target := header(t, d)
			if tt.body {
				target = d.Root().ChildElements()[1]
			}
			before := string(xmldoc.Serialize(d.Root()))
			_, err := tt.h.AddTo(target, tt.v)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if after := string(xmldoc.Serialize(d.Root())); after != before {
				t.Errorf("failed AddTo changed the envelope:\n%s", after)
			}
		})
	}
	if _, err := (Headers{Action: "urn:op"}).AddTo(nil, V10); !errors.Is(err, ErrNotHeader) {
		t.Errorf("nil header: err = %v, want ErrNotHeader", err)
	}
}

// TestWithSOAPEnvelopes writes headers into envelopes built by wire/soap in
// every combination of SOAP and WS-Addressing version and reads them back
// through soap.Parse.
func TestWithSOAPEnvelopes(t *testing.T) {
	for _, sv := range []soap.Version{soap.V11, soap.V12} {
		for _, v := range []Version{V200408, V10} {
			t.Run(sv.String()+" "+v.String(), func(t *testing.T) {
				h, err := NewRequest(v, "urn:op", "https://service.example/svc", repeat(7))
				if err != nil {
					t.Fatal(err)
				}
				env := soap.NewEnvelope(sv)
				if _, err := h.AddTo(env.EnsureHeader(), v); err != nil {
					t.Fatal(err)
				}
				back, err := soap.Parse(env.Bytes(), xmldoc.Limits{})
				if err != nil {
					t.Fatal(err)
				}
				got, gotV, err := Read(back.Header)
				if err != nil {
					t.Fatal(err)
				}
				if got != h || gotV != v {
					t.Errorf("got %+v in %v, want %+v in %v", got, gotV, h, v)
				}
				action, err := xmldoc.One(back.Header, v.Name("Action"))
				if err != nil {
					t.Fatal(err)
				}
				mu, _ := xmldoc.Attr(action, sv.MustUnderstand())
				if ok, err := sv.ParseMustUnderstand(mu); !ok || err != nil {
					t.Errorf("Action mustUnderstand = %q (%v), want true in %s", mu, err, sv)
				}
			})
		}
	}
}
