package secure

import (
	"bytes"
	"crypto/rsa"
	"slices"
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/internal/oracle"
	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// renewEnvelope is a Renew of c as scproxy sends it (SOAP 1.2,
// WS-Addressing 1.0 with a To), its entropy from a fixed Rand.
func renewEnvelope(t *testing.T, c Context) *soap.Envelope {
	t.Helper()
	rst, err := wssc.BuildRenew(wssc.Params{Version: c.Version, Rand: testkit.Rand(t.Name() + "/entropy")}, c.Token.Ref())
	if err != nil {
		t.Fatal(err)
	}
	env := soap.NewEnvelope(soap.V12)
	h, err := wsa.NewRequest(wsa.V10, c.Version.Action(wssc.Renew), "https://svc.example.com/Echo.svc", bytes.NewReader(make([]byte, 16)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.AddTo(env.EnsureHeader(), wsa.V10); err != nil {
		t.Fatal(err)
	}
	env.Body.AddChild(rst.Element)
	return env
}

// TestEndorsedRenew secures a Renew the way WCF's client does: the
// bootstrap credential as in the Issue, then the current SCT endorsing
// with an HMAC signature over the Timestamp only. It checks the order of
// the Security header, what each signature covers, that each reference
// resolves to one element, both signatures with xmlsec1, and keeps the
// bytes in testdata/TestEndorsedRenew/ (go test -update rewrites them).
func TestEndorsedRenew(t *testing.T) {
	oracle.Require(t, "xmlsec1")
	id := testkit.Client()
	cert := Certificate{Cert: id.Cert, Key: id.RSAKey()}
	bootstraps := []struct {
		name   string
		secure func(env *soap.Envelope, o Options) ([]byte, error)
		order  []string // Security's children after the Timestamp
	}{
		{"username", func(env *soap.Envelope, o Options) ([]byte, error) {
			return WithUsername(env, "alice", "pa55-w0rd!", false, o)
		}, []string{"UsernameToken", "SecurityContextToken", "Signature"}},
		{"certificate", func(env *soap.Envelope, o Options) ([]byte, error) {
			return WithCertificate(env, cert, o)
		}, []string{"BinarySecurityToken", "Signature", "SecurityContextToken", "Signature"}},
	}
	for scName, c := range contexts(t) {
		for _, b := range bootstraps {
			t.Run(scName+"/"+b.name, func(t *testing.T) {
				o := Options{Now: fixedNow, Rand: testkit.Rand(t.Name()), IDPrefix: "_scp-",
					Endorse: &Endorsement{Context: c, SignatureMethod: dsig.HMACSHA1}}
				out, err := b.secure(renewEnvelope(t, c), o)
				if err != nil {
					t.Fatal(err)
				}
				testkit.Golden(t, out)
				env := reparse(t, out)
				sec := securityOf(t, env)
				var got []string
				for _, el := range sec.ChildElements() {
					got = append(got, el.Tag)
				}
				want := append([]string{"Timestamp"}, b.order...)
				if !slices.Equal(got, want) {
					t.Fatalf("Security header holds %v, want %v", got, want)
				}
				if bytes.Count(out, c.Token.Fragment.Bytes) != 1 {
					t.Fatal("the SCT is not in the Renew exactly once, as issued")
				}
				sigs := xmldoc.Children(sec, xmldoc.Name{Space: dsig.NS, Local: "Signature"})
				endorsing := sigs[len(sigs)-1]
				resolveSCT := func(_ *etree.Element, m string) (dsig.VerifyingKey, error) { return dsig.HMACKey(m, c.Key) }
				v, err := dsig.Verify(env.Root, endorsing, resolveSCT, dsig.DefaultPolicy)
				if err != nil {
					t.Fatalf("the endorsing signature: %v", err)
				}
				ts, _ := xmldoc.One(sec, wss.NameTimestamp)
				to, _ := xmldoc.One(env.Header, wsa.V10.Name("To"))
				if !v.Covers(ts) || v.Covers(to) || len(v.References) != 1 {
					t.Fatal("the endorsing signature must cover the Timestamp only")
				}
				idNodes := []string{wss.NSWSU + ":Timestamp", wsa.NS10 + ":To"}
				if len(sigs) == 2 {
					pub := id.Cert.PublicKey.(*rsa.PublicKey)
					resolveCert := func(_ *etree.Element, m string) (dsig.VerifyingKey, error) { return dsig.RSAVerifyingKey(m, pub) }
					bv, err := dsig.Verify(env.Root, sigs[0], resolveCert, dsig.DefaultPolicy)
					if err != nil {
						t.Fatalf("the bootstrap's signature: %v", err)
					}
					if !bv.Covers(ts) || !bv.Covers(to) {
						t.Fatal("the bootstrap's signature must cover the Timestamp and To")
					}
					// xmlsec1 checks the first Signature: the bootstrap's.
					if out, ok := oracle.XMLSecVerify(t, env.Bytes(), oracle.Key{CertPEM: id.CertPEM}, idNodes...); !ok {
						t.Fatalf("xmlsec1 rejected the bootstrap's signature:\n%s", out)
					}
					sec.RemoveChild(sigs[0]) // it signs nothing the endorsing one covers
				}
				if out, ok := oracle.XMLSecVerify(t, env.Bytes(), oracle.Key{HMAC: c.Key}, idNodes...); !ok {
					t.Fatalf("xmlsec1 rejected the endorsing signature:\n%s", out)
				}
				if out, ok := oracle.XMLSecVerify(t, env.Bytes(), oracle.Key{HMAC: bytes.Repeat([]byte{1}, len(c.Key))}, idNodes...); ok {
					t.Fatalf("xmlsec1 accepted the endorsing signature with another key:\n%s", out)
				}
			})
		}
	}
}
