package secure

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/scproxy/scproxy/internal/oracle"
	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/splice"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// The precomputed header is byte for byte what AddContext writes at the
// same instant, for every context, SOAP version and algorithm choice: the
// template is only a faster way to the same bytes.
func TestContextHeaderMatchesAddContext(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for name, c := range contexts(t) {
		for _, v := range soap.Versions {
			for _, method := range []string{dsig.HMACSHA1, dsig.HMACSHA256} {
				for _, digest := range []string{"", dsig.SHA256} {
					t.Run(fmt.Sprintf("%s/%v/%s/%s", name, v, method[len(method)-4:], digest), func(t *testing.T) {
						o := ContextOptions{Options: Options{Digest: digest, IDPrefix: "_scabc", TTL: 3 * time.Minute}, SignatureMethod: method}
						h, err := NewContextHeader(v, c, o)
						if err != nil {
							t.Fatal(err)
						}
						for range 20 {
							at := time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)).UTC()
							got, err := h.AppendTo(nil, at)
							if err != nil {
								t.Fatal(err)
							}
							o.Now = func() time.Time { return at }
							env := soap.NewEnvelope(v)
							tokens, err := AddContext(env, c, o)
							if err != nil {
								t.Fatal(err)
							}
							sec, _ := wss.FindSecurity(env.Header)
							if want := xmldoc.SerializeWith(sec, tokens); !bytes.Equal(got, want) {
								t.Fatalf("at %v:\n got %s\nwant %s", at, got, want)
							}
						}
					})
				}
			}
		}
	}
}

// Spliced into application envelopes that bind the header's prefixes to
// other namespaces, the header still verifies, with our verifier and with
// xmlsec1, and the SCT inside it keeps its exact bytes.
func TestContextHeaderStandsAlone(t *testing.T) {
	apps := map[string]string{
		"prefixes taken": `<s:Envelope xmlns:s="%s" xmlns:u="urn:not-wsu" xmlns:o="urn:not-wsse" xmlns:c="urn:not-sc"><s:Header xmlns="urn:default"><u:H>x</u:H></s:Header><s:Body><o:Op/></s:Body></s:Envelope>`,
		"default ns":     `<Envelope xmlns="%s"><Body><Op xmlns="urn:m"/></Body></Envelope>`,
		"other prefix":   `<soapenv:Envelope xmlns:soapenv="%s" xmlns:s="urn:s-is-not-soap"><soapenv:Header/><soapenv:Body><s:Op/></soapenv:Body></soapenv:Envelope>`,
	}
	now := time.Now()
	for name, c := range contexts(t) {
		for app, tmpl := range apps {
			for _, v := range soap.Versions {
				t.Run(fmt.Sprintf("%s/%s/%v", name, app, v), func(t *testing.T) {
					h, err := NewContextHeader(v, c, ContextOptions{Options: Options{IDPrefix: "_sc1"}})
					if err != nil {
						t.Fatal(err)
					}
					block, err := h.AppendTo(nil, now)
					if err != nil {
						t.Fatal(err)
					}
					m, err := splice.Read([]byte(fmt.Sprintf(tmpl, v.Namespace())), splice.Options{})
					if err != nil {
						t.Fatal(err)
					}
					out := m.BytesWith(nil, block)
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
						t.Fatalf("our verifier: %v\n%s", err, out)
					}
					ts, _ := xmldoc.One(sec, wss.NameTimestamp)
					if !ver.Covers(ts) {
						t.Fatal("Timestamp not covered")
					}
					if !bytes.Contains(out, c.Token.Fragment.Bytes) {
						t.Fatal("the SCT's bytes changed")
					}
					ids := []string{wss.NSWSU + ":Timestamp"}
					if out2, ok := oracle.XMLSecVerify(t, out, oracle.Key{HMAC: c.Key}, ids...); !ok {
						t.Fatalf("xmlsec1 rejected:\n%s\n%s", out2, out)
					}
					wrong := bytes.Clone(c.Key)
					wrong[3] ^= 1
					if _, ok := oracle.XMLSecVerify(t, out, oracle.Key{HMAC: wrong}, ids...); ok {
						t.Fatal("xmlsec1 accepted a wrong key")
					}
				})
			}
		}
	}
}

func TestContextHeaderRefusesWiderProfiles(t *testing.T) {
	c := contexts(t)["sc-1.3"]
	for _, o := range []ContextOptions{{Options: Options{SignBody: true}}, {Derive: true}} {
		if _, err := NewContextHeader(soap.V12, c, o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}
