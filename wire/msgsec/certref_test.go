package msgsec

import (
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wss"
)

// keyIDRef is a SecurityTokenReference naming a certificate by key
// identifier.
func keyIDRef(valueType string, v []byte) *etree.Element {
	return wss.KeyIdentifierSTR(wss.KeyIdentifier{ValueType: valueType, Value: v})
}

// issuerSerialRef is a SecurityTokenReference naming a certificate by
// issuer and serial number, as X.509 Token Profile 1.1 §3.2.3 writes it.
func issuerSerialRef(issuer, serial string) *etree.Element {
	str := wss.KeyIdentifierSTR(wss.KeyIdentifier{ValueType: "x", Value: []byte{1}})
	str.RemoveChildAt(0)
	data := str.CreateElement("ds:X509Data")
	data.CreateAttr("xmlns:ds", dsig.NS)
	is := data.CreateElement("ds:X509IssuerSerial")
	is.CreateElement("ds:X509IssuerName").SetText(issuer)
	is.CreateElement("ds:X509SerialNumber").SetText(serial)
	return str
}

// pkcs1SKI is the RFC 5280 §4.2.1.2 (1) key identifier of an RSA
// certificate, computed here from the PKCS #1 public key (the bits of
// subjectPublicKey).
func pkcs1SKI(t *testing.T, c *x509.Certificate) []byte {
	t.Helper()
	sum := sha1.Sum(x509.MarshalPKCS1PublicKey(c.PublicKey.(*rsa.PublicKey)))
	return sum[:]
}

// TestRefersToCert: a reference to a certificate not in the message names
// the expected certificate exactly, by thumbprint, subject key identifier
// (the extension's, or computed from the key when there is none) or
// issuer and serial number; every other value or form is refused.
func TestRefersToCert(t *testing.T) {
	svc, other := testkit.Server().Cert, testkit.Client().Cert
	if len(svc.SubjectKeyId) != 0 {
		t.Fatal("the test service certificate has a SubjectKeyIdentifier extension; this test needs one without")
	}
	withExt := testkit.Issue(t, nil, &x509.Certificate{SerialNumber: svc.SerialNumber, Subject: svc.Subject,
		NotBefore: svc.NotBefore, NotAfter: svc.NotAfter, SubjectKeyId: []byte("an explicit key id")}, svc.PublicKey)
	thumb := func(c *x509.Certificate) []byte { s := sha1.Sum(c.Raw); return s[:] }
	issuer := svc.Issuer.String()
	cases := []struct {
		name string
		str  *etree.Element
		cert *x509.Certificate
		ok   bool
	}{
		{"thumbprint", keyIDRef(wss.ValueTypeThumbprintSHA1, thumb(svc)), svc, true},
		{"another certificate's thumbprint", keyIDRef(wss.ValueTypeThumbprintSHA1, thumb(other)), svc, false},
		{"computed subject key identifier", keyIDRef(wss.ValueTypeX509SKI, pkcs1SKI(t, svc)), svc, true},
		{"another key's identifier", keyIDRef(wss.ValueTypeX509SKI, pkcs1SKI(t, other)), svc, false},
		{"the extension's key identifier", keyIDRef(wss.ValueTypeX509SKI, []byte("an explicit key id")), withExt, true},
		{"a computed identifier where the extension says otherwise", keyIDRef(wss.ValueTypeX509SKI, pkcs1SKI(t, svc)), withExt, false},
		{"issuer and serial", issuerSerialRef(issuer, svc.SerialNumber.String()), svc, true},
		{"issuer spaced and typed in lower case", issuerSerialRef(strings.ReplaceAll(strings.ToLower(issuer[:2])+issuer[2:], ",", ", "), svc.SerialNumber.String()), svc, true},
		{"another serial", issuerSerialRef(issuer, other.SerialNumber.String()+"1"), svc, false},
		{"another issuer", issuerSerialRef("CN=someone else,O=scproxy tests", svc.SerialNumber.String()), svc, false},
		{"issuer in hex form", issuerSerialRef("CN=#0c01", svc.SerialNumber.String()), svc, false},
		{"a token identifier", keyIDRef(wss.ValueTypeEncryptedKeySHA1, thumb(svc)), svc, false},
		{"a reference", wss.ReferenceSTR(wss.Reference{URI: "#x"}), svc, false},
	}
	for _, c := range cases {
		err := refersToCert(c.str, c.cert)
		if (err == nil) != c.ok {
			t.Errorf("%s: refersToCert = %v, want ok %v", c.name, err, c.ok)
		}
	}
}

// TestAsymmetricReferencedSigner: a service that signs its answer with
// its certificate referenced, never included (a RecipientToken with
// IncludeToken Never), and names the client's certificate by subject key
// identifier or issuer and serial, is verified with the configured
// service certificate; the same answer is refused when another
// certificate is expected.
func TestAsymmetricReferencedSigner(t *testing.T) {
	cc, sc := config(Client, Basic256, SignBeforeEncrypt, false), config(Server, Basic256, SignBeforeEncrypt, false)
	cc.Asymmetric, sc.Asymmetric = true, true
	client, server := mustProfile(t, cc), mustProfile(t, sc)
	mine := Certificate{Cert: testkit.Client().Cert, Key: testkit.Client().Key}
	svc := Certificate{Cert: testkit.Server().Cert, Key: testkit.Server().Key}
	refs := map[string]func(c *x509.Certificate) *etree.Element{
		"subject key identifier": func(c *x509.Certificate) *etree.Element { return keyIDRef(wss.ValueTypeX509SKI, pkcs1SKI(t, c)) },
		"issuer and serial": func(c *x509.Certificate) *etree.Element {
			return issuerSerialRef(c.Issuer.String(), c.SerialNumber.String())
		},
	}
	for name, ref := range refs {
		t.Run(name, func(t *testing.T) {
			sent, err := client.Protect(request(t, soap.V12, payload(100), testkit.Rand("a")), Outgoing{Token: Token{Asymmetric: &Asymmetric{Signer: mine, Recipient: svc.Cert}}})
			if err != nil {
				t.Fatal(err)
			}
			in, err := server.Open(parse(t, sent.Bytes), Expect{Own: &svc})
			if err != nil {
				t.Fatal(err)
			}
			ans, err := server.Protect(response(t, soap.V12, in.Addressing.MessageID, payload(100)), Outgoing{Token: in.Reply})
			if err != nil {
				t.Fatal(err)
			}
			reshaped := edit(t, ans.Bytes, func(_ *soap.Envelope, sec *etree.Element) {
				bst := sec.FindElement("BinarySecurityToken")
				if bst == nil {
					t.Fatal("the service's answer carries no certificate to remove")
				}
				sec.RemoveChild(bst)
				replaceSTR(t, sec.FindElement("Signature/KeyInfo"), ref(svc.Cert))
				replaceSTR(t, sec.FindElement("EncryptedKey/KeyInfo"), ref(mine.Cert))
			})
			opened, err := client.Open(parse(t, reshaped), Expect{Request: sent, Own: &mine, Peer: svc.Cert})
			if err != nil {
				t.Fatalf("the answer signed by the referenced service certificate: %v", err)
			}
			if !opened.PeerCert.Equal(svc.Cert) {
				t.Fatal("the answer's signer is not the service certificate")
			}
			_, err = client.Open(parse(t, reshaped), Expect{Request: sent, Own: &mine, Peer: testkit.CA().Cert})
			if err == nil || !strings.Contains(err.Error(), "not by the expected certificate") {
				t.Fatalf("an answer referencing the service certificate opened while another was expected: %v", err)
			}
		})
	}
}

// replaceSTR puts str in place of keyInfo's SecurityTokenReference.
func replaceSTR(t *testing.T, keyInfo, str *etree.Element) {
	t.Helper()
	if keyInfo == nil {
		t.Fatal("no KeyInfo")
	}
	old := keyInfo.FindElement("SecurityTokenReference")
	if old == nil {
		t.Fatal("no SecurityTokenReference in the KeyInfo")
	}
	keyInfo.RemoveChild(old)
	keyInfo.AddChild(str)
}
