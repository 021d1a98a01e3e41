package wssc

import (
	"bytes"
	"encoding/base64"
	"os"
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

const (
	vectors   = "../../testdata/vectors/"
	nsSOAP12  = "http://www.w3.org/2003/05/soap-envelope"
	nsWSUtest = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"

	// Published with the CoreWCF vectors.
	coreClientEntropy = "1TmBzNeSMhkxqHU+yWuwplJDS7NejEdnFlgRbGPyAOI="
	coreServerEntropy = "X10bPPRFJzVr13nwxYYVLpmd5Fsu6RR7jkF5xtCV/kM="
	coreSCTKey        = "H/N/QJpAIzvX652dTmpSKfx5jvchdVlWNaSPiPkNuP8="

	// Pairs with testdata/renew-response-1.3-cookie.xml.
	fixtureClientEntropy = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM="
)

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parse(t testing.TB, src []byte) *xmldoc.Doc {
	t.Helper()
	d, err := xmldoc.Parse(src, xmldoc.Options{KeepSpans: true})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return d
}

// soapChild returns the single element child of the envelope's part
// (Header or Body) for SOAP 1.2 test messages.
func soapPart(t testing.TB, d *xmldoc.Doc, part string) *etree.Element {
	t.Helper()
	el, err := xmldoc.One(d.Root(), xmldoc.Name{Space: nsSOAP12, Local: part})
	if err != nil {
		t.Fatal(err)
	}
	return el
}

func payload(t testing.TB, d *xmldoc.Doc) *etree.Element {
	t.Helper()
	kids := soapPart(t, d, "Body").ChildElements()
	if len(kids) != 1 {
		t.Fatalf("body has %d children", len(kids))
	}
	return kids[0]
}

func b64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// stripSpace removes whitespace-only text, undoing the indentation of the
// pretty-printed vectors so they compare with compact output.
func stripSpace(el *etree.Element) {
	for _, c := range append([]etree.Token(nil), el.Child...) {
		switch c := c.(type) {
		case *etree.CharData:
			if len(bytes.TrimSpace([]byte(c.Data))) == 0 {
				el.RemoveChild(c)
			}
		case *etree.Element:
			stripSpace(c)
		}
	}
}

// loadResponse parses a message file and its Body payload in version v.
func loadResponse(t testing.TB, path string, v Version) (*Response, []byte, error) {
	t.Helper()
	src := readFile(t, path)
	d := parse(t, src)
	r, err := ParseResponse(d, payload(t, d), v)
	return r, src, err
}
