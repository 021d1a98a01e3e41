package secure

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/splice"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// templateBreaker is a context whose token carries the template's sentinel
// time in its bytes, so that NewContextHeader cannot cut the header.
func templateBreaker(t *testing.T, c Context) Context {
	t.Helper()
	tok := *c.Token
	raw := tok.Fragment.Bytes
	end := bytes.IndexByte(raw, '>')
	if end < 0 {
		t.Fatal("token without a start tag")
	}
	comment := "<!--" + wss.FormatTime(sentinel) + "-->"
	tok.Fragment.Bytes = append(append(append([]byte(nil), raw[:end+1]...), comment...), raw[end+1:]...)
	c.Token = &tok
	return c
}

// Both ways of securing a spliced message, with the precomputed header and
// the long way for a token that defeats it, sign its Timestamp with the
// context key at the clock's time, keep the SCT's bytes, and leave the
// message as it was, ready to be secured again.
func TestSplicedContext(t *testing.T) {
	const app = `<s:Envelope xmlns:s="%s" xmlns:u="urn:not-wsu" xmlns:o="urn:not-wsse"><s:Header xmlns="urn:default"><u:H>x</u:H></s:Header><s:Body><o:Op>payload</o:Op></s:Body></s:Envelope>`
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	for name, c := range contexts(t) {
		for _, v := range soap.Versions {
			for _, way := range []string{"template", "long way"} {
				t.Run(fmt.Sprintf("%s/%v/%s", name, v, way), func(t *testing.T) {
					c := c
					o := ContextOptions{Options: Options{Now: func() time.Time { return at }, IDPrefix: "_sc1"}}
					var h *ContextHeader
					if way == "template" {
						var err error
						if h, err = NewContextHeader(v, c, o); err != nil {
							t.Fatal(err)
						}
					} else {
						c = templateBreaker(t, c)
						if _, err := NewContextHeader(v, c, o); err == nil {
							t.Fatal("the template accepted a token holding its sentinel")
						}
					}
					m, err := splice.Read(fmt.Appendf(nil, app, v.Namespace()), splice.Options{})
					if err != nil {
						t.Fatal(err)
					}
					before := m.Bytes(nil)
					out, err := SplicedContext(m, h, c, o, xmldoc.Limits{})
					if err != nil {
						t.Fatal(err)
					}
					if again := m.Bytes(nil); !bytes.Equal(again, before) {
						t.Fatalf("the message changed:\n%s\nwas\n%s", again, before)
					}
					checkContextSigned(t, out, c, at)
				})
			}
		}
	}
}

// checkContextSigned verifies out's Timestamp signature with c's key and
// its Created time.
func checkContextSigned(t *testing.T, out []byte, c Context, at time.Time) {
	t.Helper()
	if !bytes.Contains(out, []byte("<o:Op>payload</o:Op>")) {
		t.Fatalf("the Body changed:\n%s", out)
	}
	// The start tag may gain declarations of prefixes the envelope binds
	// otherwise; the rest is as received.
	raw := c.Token.Fragment.Bytes
	if !bytes.Contains(out, raw[bytes.IndexByte(raw, '>'):]) {
		t.Fatalf("the SCT's content changed:\n%s", out)
	}
	env, err := soap.Parse(out, xmldoc.Limits{})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	sec, err := wss.FindSecurity(env.Header)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	sig, err := xmldoc.One(sec, xmldoc.Name{Space: dsig.NS, Local: "Signature"})
	if err != nil {
		t.Fatal(err)
	}
	keys := func(string) ([]byte, error) { return c.Key, nil }
	ver, err := dsig.Verify(env.Root, sig, ContextResolver(sec, c.Version, keys), dsig.DefaultPolicy)
	if err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	ts, _ := xmldoc.One(sec, wss.NameTimestamp)
	if !ver.Covers(ts) {
		t.Fatal("Timestamp not covered")
	}
	if created := ts.FindElement("./Created"); created == nil || created.Text() != wss.FormatTime(at) {
		t.Errorf("Created %v, want %s", created, wss.FormatTime(at))
	}
}
