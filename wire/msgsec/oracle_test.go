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
	t.Helper()
	env := parse(t, msg)
	sec, err := wss.FindSecurity(env.Header)
	if err != nil {
		t.Fatal(err)
	}
	if !derived {
		return base, base
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
					if !derived {
						base = contextKey[:s.KeyLength()]
					}
					sent, err := mustProfile(t, c).Protect(request(t, soap.V12, body, testkit.Rand("req")), Outgoing{Token: Token{Context: &Context{Token: newSCT(t, wssc.Feb2005), Key: base, Include: true}}})
					if err != nil {
						t.Fatal(err)
					}
					sigKey, encKey := messageKeys(t, sent.Bytes, base, derived)
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
					if got := canon(t, parse(t, doc).Body); got != want {
						t.Errorf("xmlsec1 decrypted the body to\n%s\nwant\n%s", got, want)
					}
				})
			}
		}
	}
}
