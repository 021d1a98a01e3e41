package msgsec

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/wire/c14n"
	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// now is the fixed clock of the tests.
var now = time.Date(2026, 11, 20, 23, 48, 12, 0, time.UTC)

const sctIdentifier = "urn:uuid:6a2f1c4e-7d3b-4e0f-9a51-2c8b7e4d1f00"

// contextKey is the test context's key (32 bytes).
var contextKey = bytes.Repeat([]byte{0x5c}, 32)

// newSCT returns an SCT of version v as a server issues it.
func newSCT(t testing.TB, v wssc.Version) *wssc.SCT {
	t.Helper()
	src := fmt.Sprintf(`<c:SecurityContextToken u:Id="uuid-sct-1" xmlns:c=%q xmlns:u=%q><c:Identifier>%s</c:Identifier></c:SecurityContextToken>`, v.SC(), wss.NSWSU, sctIdentifier)
	doc, err := xmldoc.Parse([]byte(src), xmldoc.Options{KeepSpans: true})
	if err != nil {
		t.Fatal(err)
	}
	sct, err := wssc.ParseSCT(doc, doc.Root(), v)
	if err != nil {
		t.Fatal(err)
	}
	return sct
}

// config returns a Config for role with the test clock and a seeded
// randomness source.
func config(role Role, s Suite, o Order, derived bool) Config {
	return Config{
		Role: role, Version: wssc.Feb2005, Suite: s, Order: o, DerivedKeys: derived,
		Now: func() time.Time { return now }, Rand: testkit.Rand("msgsec " + role.String()),
	}
}

func mustProfile(t testing.TB, c Config) *Profile {
	t.Helper()
	p, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// payload is an application body of about n bytes.
func payload(n int) string {
	var b strings.Builder
	b.WriteString(`<Echo xmlns="urn:interop"><items>`)
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `<item n="%d">value &amp; %d</item>`, i, i)
	}
	b.WriteString(`</items></Echo>`)
	return b.String()
}

// request builds a SOAP 1.2 request with WS-Addressing 1.0 headers and
// body.
func request(t testing.TB, v soap.Version, body string, rand io.Reader) *soap.Envelope {
	t.Helper()
	env := soap.NewEnvelope(v)
	hs, err := wsa.NewRequest(wsa.V10, "urn:interop/IEcho/Echo", "http://localhost:8081/echo", rand)
	if err != nil {
		t.Fatal(err)
	}
	hs.ReplyTo = wsa.V10.Anonymous()
	if _, err := hs.AddTo(env.EnsureHeader(), wsa.V10); err != nil {
		t.Fatal(err)
	}
	setBody(t, env, body)
	return env
}

// response builds the answer to a request with MessageID relatesTo.
func response(t testing.TB, v soap.Version, relatesTo, body string) *soap.Envelope {
	t.Helper()
	env := soap.NewEnvelope(v)
	hs := wsa.Headers{Action: "urn:interop/IEcho/EchoResponse", RelatesTo: relatesTo}
	if _, err := hs.AddTo(env.EnsureHeader(), wsa.V10); err != nil {
		t.Fatal(err)
	}
	setBody(t, env, body)
	return env
}

func setBody(t testing.TB, env *soap.Envelope, body string) {
	t.Helper()
	doc, err := xmldoc.Parse([]byte(body), xmldoc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	env.Body.AddChild(doc.Root())
}

// parse reads bytes received from the wire.
func parse(t testing.TB, b []byte) *soap.Envelope {
	t.Helper()
	env, err := soap.ParseWith(b, xmldoc.Options{KeepSpans: true, NoProcInst: true})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return env
}

// canon is the exclusive canonical form of el's first child element.
func canon(t testing.TB, el *etree.Element) string {
	t.Helper()
	kids := el.ChildElements()
	if len(kids) != 1 {
		t.Fatalf("%s has %d child elements", el.Tag, len(kids))
	}
	b, err := c14n.Exclusive(kids[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// keysOf returns a ContextKeys accepting only the test context with keys.
func keysOf(keys ...[]byte) func(string) ([][]byte, error) {
	return func(id string) ([][]byte, error) {
		if id != sctIdentifier {
			return nil, nil
		}
		return keys, nil
	}
}

// errBadSignature is the dsig error of a signature made with another key.
var errBadSignature = dsig.ErrBadSignature
