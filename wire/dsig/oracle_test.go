package dsig

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/internal/oracle"
	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

const nsSOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"

// envelope is a message with a Timestamp and a Body to sign; %s is the SOAP
// namespace, the second %s extra declarations on the Envelope. The Body's
// default-namespace payload and the prefixed Header exercise namespace
// rendering in c14n; a default namespace declared on the Envelope makes
// "#default" in a PrefixList change the canonical form of prefixed parts.
const envelope = `<soap:Envelope xmlns:soap="%s"%s xmlns:wsu="` + nsWSU + `"><soap:Header><wsse:Security xmlns:wsse="` + nsWSSE + `"><wsu:Timestamp wsu:Id="TS-1"><wsu:Created>2026-11-21T00:00:00.000Z</wsu:Created><wsu:Expires>2026-11-21T00:05:00.000Z</wsu:Expires></wsu:Timestamp></wsse:Security></soap:Header><soap:Body wsu:Id="Body-1"><Echo xmlns="urn:interop" xmlns:x="urn:x" x:b="2" a="1"><s>hello &amp; &lt;bye&gt;</s></Echo></soap:Body></soap:Envelope>`

// TestXMLSecVerifiesOurSignatures has xmlsec1 verify what Signer makes.
// The cases run in parallel; each has xmlsec1 refuse its message with the
// body tampered, and the signed messages are then verified by one xmlsec1
// process per key, as its start-up is most of the cost of a check.
func TestXMLSecVerifiesOurSignatures(t *testing.T) {
	oracle.Require(t, "xmlsec1")
	priv := testkit.Client().RSAKey()
	pub, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	hmacBytes := []byte("0123456789abcdef0123456789abcdef")
	hmacKey := func(m string) SigningKey { k, _ := HMACKey(m, hmacBytes); return k }
	rsaKey := func(m string) SigningKey { k, _ := RSASigningKey(m, priv); return k }

	type keyCase struct {
		method string
		key    func(string) SigningKey
		oracle oracle.Key
	}
	keys := []keyCase{
		{HMACSHA1, hmacKey, oracle.Key{HMAC: hmacBytes}},
		{HMACSHA256, hmacKey, oracle.Key{HMAC: hmacBytes}},
		{RSASHA1, rsaKey, oracle.Key{PubPEM: pubPEM}},
		{RSASHA256, rsaKey, oracle.Key{PubPEM: pubPEM}},
	}
	prefixLists := map[string][]string{"no PrefixList": nil, "PrefixList #default soap": {"#default", "soap"}}
	ids := []string{nsWSU + ":Timestamp", nsSOAP11 + ":Body", nsSOAP12 + ":Body"}
	// good holds each case's signed message by the key xmlsec1 checks it
	// with, for one xmlsec1 run per key once every case has ended.
	var (
		mu   sync.Mutex
		good = map[string]map[string][]byte{}
	)
	t.Cleanup(func() {
		for _, k := range keys {
			batch := good[k.method]
			if len(batch) == 0 {
				continue
			}
			names := slices.Sorted(maps.Keys(batch))
			docs := make([][]byte, len(names))
			for i, name := range names {
				docs[i] = batch[name]
			}
			if out, ok := oracle.XMLSecVerifyAll(t, docs, k.oracle, ids...); !ok {
				// Name the first message xmlsec1 rejected.
				for i, doc := range docs {
					if out, ok := oracle.XMLSecVerify(t, doc, k.oracle, ids...); !ok {
						t.Fatalf("%s: xmlsec1 rejected our signature:\n%s\n%s", names[i], out, doc)
					}
				}
				t.Fatalf("xmlsec1 rejected one of the %s messages:\n%s", k.method, out)
			}
		}
	})
	for _, soapNS := range []string{nsSOAP11, nsSOAP12} {
		for _, extra := range []string{"", ` xmlns="urn:outer" xmlns:p="urn:p"`} {
			for _, k := range keys {
				for plName, pl := range prefixLists {
					for _, digest := range []string{SHA1, SHA256} {
						name := fmt.Sprintf("%s/%s/%s/%s/%q", soapNS, k.method, digest, plName, extra)
						t.Run(name, func(t *testing.T) {
							// Each case waits on two xmlsec1 processes.
							t.Parallel()
							d := parseString(t, fmt.Sprintf(envelope, soapNS, extra))
							root := d.Root()
							header, _ := xmldoc.One(root, xmldoc.Name{Space: soapNS, Local: "Header"})
							body, _ := xmldoc.One(root, xmldoc.Name{Space: soapNS, Local: "Body"})
							sec, _ := xmldoc.One(header, xmldoc.Name{Space: nsWSSE, Local: "Security"})
							s := Signer{Key: k.key(k.method), Digest: digest}
							_, err := s.Sign(sec, Reference{Element: sec.ChildElements()[0], InclusivePrefixes: pl}, Reference{Element: body, InclusivePrefixes: pl})
							if err != nil {
								t.Fatal(err)
							}
							signed := xmldoc.Serialize(root)
							mu.Lock()
							if good[k.method] == nil {
								good[k.method] = map[string][]byte{}
							}
							good[k.method][t.Name()] = signed
							mu.Unlock()
							// The oracle must also be able to say no: tamper the body.
							bad := parseString(t, string(signed))
							bad.Root().FindElement("./soap:Body/Echo/s").SetText("tampered")
							if out, ok := oracle.XMLSecVerify(t, xmldoc.Serialize(bad.Root()), k.oracle, nsWSU+":Timestamp", soapNS+":Body"); ok {
								t.Fatalf("xmlsec1 accepted a tampered body:\n%s", out)
							}
							// And our verifier agrees with it on the good message.
							back := parseString(t, string(signed))
							sig := back.Root().FindElement("./soap:Header/wsse:Security/Signature")
							resolve := func(_ *etree.Element, m string) (VerifyingKey, error) {
								if k.oracle.HMAC != nil {
									return HMACKey(m, hmacBytes)
								}
								return RSAVerifyingKey(m, &priv.PublicKey)
							}
							if _, err := Verify(back.Root(), sig, resolve, DefaultPolicy); err != nil {
								t.Fatalf("our verifier: %v", err)
							}
						})
					}
				}
			}
		}
	}
}
