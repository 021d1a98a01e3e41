package secure

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/internal/oracle"
	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/splice"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// The precomputed header is byte for byte what AddContext writes at the
// same instant with the same nonces, for every context, SOAP version,
// algorithm choice and key (the context's or derived): the template is
// only a faster way to the same bytes.
func TestContextHeaderMatchesAddContext(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for name, c := range contexts(t) {
		for _, v := range soap.Versions {
			for _, method := range []string{dsig.HMACSHA1, dsig.HMACSHA256} {
				for _, digest := range []string{"", dsig.SHA256} {
					for _, derive := range []bool{false, true} {
						t.Run(fmt.Sprintf("%s/%v/%s/%s/derive=%v", name, v, method[len(method)-4:], digest, derive), func(t *testing.T) {
							o := ContextOptions{Options: Options{Digest: digest, IDPrefix: "_scabc", TTL: 3 * time.Minute, Rand: testkit.Rand(t.Name())},
								SignatureMethod: method, Derive: derive}
							h, err := NewContextHeader(v, c, o)
							if err != nil {
								t.Fatal(err)
							}
							o.Rand = testkit.Rand(t.Name())
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
}

// Each message signed with a derived key carries its own nonce, so its
// own key.
func TestContextHeaderFreshNonce(t *testing.T) {
	c := contexts(t)["sc-1.3"]
	h, err := NewContextHeader(soap.V12, c, ContextOptions{Options: Options{Rand: testkit.Rand(t.Name())}, Derive: true})
	if err != nil {
		t.Fatal(err)
	}
	nonces := map[string]bool{}
	at := time.Unix(1e9, 0)
	for range 10 {
		out, err := h.AppendTo(nil, at)
		if err != nil {
			t.Fatal(err)
		}
		_, rest, _ := bytes.Cut(out, []byte("Nonce>"))
		nonce, _, _ := bytes.Cut(rest, []byte("<"))
		if len(nonce) != 24 || nonces[string(nonce)] {
			t.Fatalf("nonce %q: not 16 fresh bytes (seen %v)", nonce, nonces)
		}
		nonces[string(nonce)] = true
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
				for _, derive := range []bool{false, true} {
					t.Run(fmt.Sprintf("%s/%s/%v/derive=%v", name, app, v, derive), func(t *testing.T) {
						h, err := NewContextHeader(v, c, ContextOptions{Options: Options{IDPrefix: "_sc1", Rand: testkit.Rand(t.Name())}, Derive: derive})
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
						keyOf := func(string) ([]byte, error) { return c.Key, nil }
						ver, err := dsig.Verify(env.Root, sig, ContextResolver(sec, c.Version, keyOf), dsig.DefaultPolicy)
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
						// xmlsec1 cannot derive: it is given the derived key.
						key := c.Key
						if derive {
							key = derivedKey(t, sec, c)
						}
						ids := []string{wss.NSWSU + ":Timestamp"}
						if out2, ok := oracle.XMLSecVerify(t, out, oracle.Key{HMAC: key}, ids...); !ok {
							t.Fatalf("xmlsec1 rejected:\n%s\n%s", out2, out)
						}
						wrong := [][]byte{bytes.Clone(key)}
						wrong[0][3] ^= 1
						if derive {
							wrong = append(wrong, c.Key) // the context key itself
						}
						for _, wrong := range wrong {
							if _, ok := oracle.XMLSecVerify(t, out, oracle.Key{HMAC: wrong}, ids...); ok {
								t.Fatal("xmlsec1 accepted a wrong key")
							}
						}
					})
				}
			}
		}
	}
}

// derivedKey returns the key of the DerivedKeyToken in sec, a header
// signed with a key derived from c's.
func derivedKey(t *testing.T, sec *etree.Element, c Context) []byte {
	t.Helper()
	el, err := xmldoc.One(sec, xmldoc.Name{Space: c.Version.SC(), Local: "DerivedKeyToken"})
	if err != nil {
		t.Fatal(err)
	}
	dkt, err := wssc.ParseDKT(el, c.Version)
	if err != nil {
		t.Fatal(err)
	}
	if len(dkt.Derivation.Nonce) != wssc.DKTNonceSize || dkt.Derivation.Length != 24 {
		t.Fatalf("derived key token: nonce of %d bytes, length %d; want 16 and 24", len(dkt.Derivation.Nonce), dkt.Derivation.Length)
	}
	key, err := dkt.Key(c.Key)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// The template signs the Timestamp only, and a derived key needs a
// nonce source.
func TestContextHeaderRefusesWiderProfiles(t *testing.T) {
	c := contexts(t)["sc-1.3"]
	for _, o := range []ContextOptions{{Options: Options{SignBody: true}}, {Derive: true}} {
		if _, err := NewContextHeader(soap.V12, c, o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}
