package msgsec

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/internal/oracle"
	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/wire/c14n"
	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xenc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// xmlsecIDs are the elements whose wsu:Id a signature of this profile
// references, for xmlsec1's --id-attr.
var xmlsecIDs = []string{
	wss.NSWSU + ":Timestamp", soap.NS12 + ":Body",
	wsa.NS10 + ":Action", wsa.NS10 + ":MessageID", wsa.NS10 + ":ReplyTo", wsa.NS10 + ":To",
}

// messageKeys finds, in a protected message, the keys its signature and
// its EncryptedData use, derived from base as a receiver would, so that
// xmlsec1 can be given them as raw keys.
func messageKeys(t *testing.T, msg []byte, base []byte, derived bool) (sig, enc []byte) {
	return messageKeysFor(t, msg, base, derived, Basic256)
}

// messageKeysFor is messageKeys under suite s: without derived keys the
// cipher takes the first bytes of the token key.
func messageKeysFor(t *testing.T, msg []byte, base []byte, derived bool, s Suite) (sig, enc []byte) {
	t.Helper()
	env := parse(t, msg)
	sec, err := wss.FindSecurity(env.Header)
	if err != nil {
		t.Fatal(err)
	}
	if !derived {
		return base, base[:s.KeyLength()]
	}
	var dkts []*wssc.DKT
	for _, el := range xmldoc.Children(sec, xmldoc.Name{Space: wssc.Feb2005.SC(), Local: "DerivedKeyToken"}) {
		d, err := wssc.ParseDKT(el, wssc.Feb2005)
		if err != nil {
			t.Fatal(err)
		}
		dkts = append(dkts, d)
	}
	if len(dkts) != 2 {
		t.Fatalf("%d derived key tokens, want 2", len(dkts))
	}
	// The signing token is written first.
	sig, _ = dkts[0].Key(base)
	enc, _ = dkts[1].Key(base)
	return sig, enc
}

// xmlsec runs xmlsec1 with args on doc and returns the output file.
func xmlsec(t *testing.T, doc []byte, args ...string) []byte {
	t.Helper()
	bin := oracle.Require(t, "xmlsec1")
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.xml"), filepath.Join(dir, "out.xml")
	if err := os.WriteFile(in, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append(append(args, "--output", out), in)...)
	var msg bytes.Buffer
	cmd.Stdout, cmd.Stderr = &msg, &msg
	if err := cmd.Run(); err != nil {
		t.Fatalf("xmlsec1 %s: %v\n%s\n%s", strings.Join(args, " "), err, msg.String(), doc)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func keyFile(t *testing.T, key []byte) string {
	p := filepath.Join(t.TempDir(), "key.bin")
	if err := os.WriteFile(p, key, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// xmlsecDecrypt decrypts the EncryptedData with Id id.
func xmlsecDecrypt(t *testing.T, doc []byte, s Suite, key []byte, id string) []byte {
	opt := "--aeskey"
	if s.Encryption == xenc.TripleDESCBC {
		opt = "--deskey"
	}
	return xmlsec(t, doc, "--decrypt", opt, keyFile(t, key), "--id-attr:Id", xenc.NS+":EncryptedData", "--node-id", id)
}

// encryptedIDs returns the Ids of the EncryptedData of doc, those in the
// Security header first.
func encryptedIDs(t *testing.T, doc []byte) []string {
	env := parse(t, doc)
	var head, body []string
	xmldoc.Walk(env.Root, func(e *etree.Element) {
		if xmldoc.Is(e, xenc.NameEncryptedData) {
			id, _ := xmldoc.Attr(e, xmldoc.Name{Local: "Id"})
			if e.Parent() == env.Body {
				body = append(body, id)
			} else {
				head = append(head, id)
			}
		}
	})
	return append(head, body...)
}

// TestXMLSecOpensProtect has xmlsec1 decrypt and verify what Protect
// sends, for each suite family and protection order, with the derived
// (or direct) keys given as raw key files.
func TestXMLSecOpensProtect(t *testing.T) {
	oracle.Require(t, "xmlsec1")
	body := payload(2000)
	want := canon(t, request(t, soap.V12, body, testkit.Rand("x")).Body)
	for _, name := range []string{"Basic256", "Basic128", "Basic192Sha256", "TripleDes", "Basic256Sha256Rsa15"} {
		s, _ := SuiteByName(name)
		for _, order := range []Order{SignBeforeEncryptAndEncryptSignature, SignBeforeEncrypt, EncryptBeforeSign} {
			for _, derived := range []bool{true, false} {
				t.Run(name+"/"+order.String()+"/"+map[bool]string{true: "derived", false: "direct"}[derived], func(t *testing.T) {
					c := config(Client, s, order, derived)
					if name == "Basic192Sha256" {
						c.SignatureMethod = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"
					}
					base := contextKey
					sent, err := mustProfile(t, c).Protect(request(t, soap.V12, body, testkit.Rand("req")), Outgoing{Token: Token{Context: &Context{Token: newSCT(t, wssc.Feb2005), Key: base, Include: true}}})
					if err != nil {
						t.Fatal(err)
					}
					sigKey, encKey := messageKeysFor(t, sent.Bytes, base, derived, s)
					doc := sent.Bytes
					verify := func() {
						out, ok := oracle.XMLSecVerify(t, doc, oracle.Key{HMAC: sigKey}, xmlsecIDs...)
						if !ok {
							t.Fatalf("xmlsec1 does not verify:\n%s\n%s", out, doc)
						}
					}
					if order == EncryptBeforeSign {
						verify()
					}
					for _, id := range encryptedIDs(t, doc) {
						doc = xmlsecDecrypt(t, doc, s, encKey, id)
					}
					if order != EncryptBeforeSign {
						verify()
					}
					body := parse(t, doc).Body
					if got := canon(t, body); got != want {
						t.Errorf("xmlsec1 decrypted the body to\n%s\nwant\n%s", got, want)
					}
					// What scproxy digests for the Body is canonical for
					// libxml2 too.
					digested, err := c14n.Exclusive(body, nil)
					if err != nil {
						t.Fatal(err)
					}
					if again := oracle.ExcC14N(t, digested); !bytes.Equal(again, digested) {
						t.Errorf("xmllint --exc-c14n changes the digested Body:\n%s\n%s", digested, again)
					}
				})
			}
		}
	}
}

// xmlsecVerifyAt has xmlsec1 verify the Signature selected by xpath with
// the certificate's public key.
func xmlsecVerifyAt(t *testing.T, doc []byte, certPEM []byte, xpath string) {
	t.Helper()
	bin := oracle.Require(t, "xmlsec1")
	dir := t.TempDir()
	in, cert := filepath.Join(dir, "in.xml"), filepath.Join(dir, "cert.pem")
	for p, b := range map[string][]byte{in: doc, cert: certPEM} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"--verify", "--pubkey-cert-pem", cert, "--node-xpath", xpath}
	for _, n := range xmlsecIDs {
		args = append(args, "--id-attr:Id", n)
	}
	args = append(args, "--id-attr:Id", dsig.NS+":Signature", in)
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("xmlsec1 does not verify the signature at %s: %v\n%s\n%s", xpath, err, out, doc)
	}
}

// TestXMLSecCertificates has xmlsec1 check the RSA signatures: the
// asymmetric binding's (with the sender's certificate) and an endorsing
// one over the primary signature, after decrypting what Protect
// encrypted.
func TestXMLSecCertificates(t *testing.T) {
	oracle.Require(t, "xmlsec1")
	client := Certificate{Cert: testkit.Client().Cert, Key: testkit.Client().Key}
	server := testkit.Server()
	for _, order := range []Order{SignBeforeEncryptAndEncryptSignature, SignBeforeEncrypt} {
		for _, kind := range []tokenKind{mutual, mutual10} {
			t.Run(order.String()+"/"+kind.String(), func(t *testing.T) {
				c := config(Client, Basic256, order, false)
				out := Outgoing{Token: Token{Recipient: server.Cert}, Endorsing: &client}
				if kind == mutual10 {
					c.Asymmetric = true
					out = Outgoing{Token: Token{Asymmetric: &Asymmetric{Signer: client, Recipient: server.Cert}}}
				}
				sent, err := mustProfile(t, c).Protect(request(t, soap.V12, payload(500), testkit.Rand("req")), out)
				if err != nil {
					t.Fatal(err)
				}
				// The message key, unwrapped as the service does.
				env := parse(t, sent.Bytes)
				sec, _ := wss.FindSecurity(env.Header)
				ekEl, err := xmldoc.One(sec, xenc.NameEncryptedKey)
				if err != nil {
					t.Fatal(err)
				}
				ek, err := xenc.ParseEncryptedKey(ekEl)
				if err != nil {
					t.Fatal(err)
				}
				key, err := ek.Unwrap(server.RSAKey(), 32, testkit.Rand("u"))
				if err != nil {
					t.Fatal(err)
				}
				doc := sent.Bytes
				for _, id := range encryptedIDs(t, doc) {
					doc = xmlsecDecrypt(t, doc, Basic256, key, id)
				}
				if kind == mutual10 {
					xmlsecVerifyAt(t, doc, testkit.Client().CertPEM, "(//*[local-name()='Signature'])[1]")
					return
				}
				if out, ok := oracle.XMLSecVerify(t, doc, oracle.Key{HMAC: key}, xmlsecIDs...); !ok {
					t.Fatalf("xmlsec1 does not verify the primary signature:\n%s", out)
				}
				xmlsecVerifyAt(t, doc, testkit.Client().CertPEM, "(//*[local-name()='Signature'])[2]")
			})
		}
	}
}
