package c14n_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/internal/oracle"
	"github.com/scproxy/scproxy/wire/c14n"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

const nsDSig = "http://www.w3.org/2000/09/xmldsig#"

// signatureTemplate is an HMAC-SHA1 signature over one reference; both the
// reference transform and SignedInfo's canonicalization carry the
// PrefixList, so xmlsec1 exercises it on the target and on SignedInfo.
const signatureTemplate = `<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>` +
	`<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"><ec:InclusiveNamespaces xmlns:ec="http://www.w3.org/2001/10/xml-exc-c14n#" PrefixList="{LIST}"/></ds:CanonicalizationMethod>` +
	`<ds:SignatureMethod Algorithm="http://www.w3.org/2000/09/xmldsig#hmac-sha1"/>` +
	`<ds:Reference URI="#target"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"><ec:InclusiveNamespaces xmlns:ec="http://www.w3.org/2001/10/xml-exc-c14n#" PrefixList="{LIST}"/></ds:Transform></ds:Transforms>` +
	`<ds:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/><ds:DigestValue>{DIGEST}</ds:DigestValue></ds:Reference>` +
	`</ds:SignedInfo><ds:SignatureValue>{SIG}</ds:SignatureValue></ds:Signature>`

// signWithExclusive appends to the root of src a signature whose digest and
// signature value are computed with Exclusive; the element carrying
// Id="target" is the signed reference.
func signWithExclusive(t *testing.T, src string, inclusive []string, key []byte) ([]byte, *etree.Element) {
	t.Helper()
	target := func(d *xmldoc.Doc) *etree.Element {
		els := xmldoc.WithAttr(d.Root(), xmldoc.Name{Local: "Id"}, "target")
		if len(els) != 1 {
			t.Fatalf("want one element with Id=target, found %d", len(els))
		}
		return els[0]
	}
	el := target(parse(t, []byte(src)))
	ref, err := c14n.Exclusive(el, inclusive)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha1.Sum(ref)
	sig := strings.NewReplacer("{LIST}", strings.Join(inclusive, " "),
		"{DIGEST}", base64.StdEncoding.EncodeToString(digest[:])).Replace(signatureTemplate)
	end := strings.LastIndex(src, "</")
	doc := src[:end] + sig + src[end:]

	d := parse(t, []byte(doc))
	si := d.Root().FindElement("//SignedInfo")
	if si == nil || si.NamespaceURI() != nsDSig {
		t.Fatal("test bug: SignedInfo not found")
	}
	signed, err := c14n.Exclusive(si, inclusive)
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha1.New, key)
	mac.Write(signed)
	doc = strings.Replace(doc, "{SIG}", base64.StdEncoding.EncodeToString(mac.Sum(nil)), 1)
	return []byte(doc), target(parse(t, []byte(doc)))
}

// TestExclusiveDefaultMatchesXMLSec checks PrefixLists with "#default"
// against libxml2 through xmlsec1, the only oracle at hand that passes
// "#default" through: a reference digest or a SignedInfo canonicalized
// differently from libxml2 makes xmlsec1 reject the signature.
func TestExclusiveDefaultMatchesXMLSec(t *testing.T) {
	key := []byte("0123456789abcdef0123")
	cases := []struct {
		name      string
		src       string
		inclusive []string
	}{
		{"#default on prefixed element in default context",
			`<a xmlns="urn:d" xmlns:p="urn:p"><p:b Id="target"><p:c/></p:b></a>`, []string{"#default"}},
		{"#default then undeclared below",
			`<a xmlns="urn:d" xmlns:p="urn:p"><p:b Id="target"><p:c xmlns=""><p:d/></p:c></p:b></a>`, []string{"#default"}},
		{"#default redeclared below",
			`<a xmlns="urn:d1" xmlns:p="urn:p"><p:b Id="target"><p:c xmlns="urn:d2"/></p:b></a>`, []string{"#default"}},
		{"#default with no default in scope",
			`<p:a xmlns:p="urn:p"><p:b Id="target"/></p:a>`, []string{"#default"}},
		{"#default and listed prefixes on ancestors",
			`<s:E xmlns:s="urn:s" xmlns="urn:d"><s:H xmlns:wsse="urn:wsse"><u:T xmlns:u="urn:u" Id="target"><u:C>c</u:C></u:T></s:H></s:E>`, []string{"wsse", "s", "#default"}},
		{"#default on unprefixed element already rendering it",
			`<a xmlns="urn:d"><b Id="target"><c/></b></a>`, []string{"#default"}},
		{"WSS4J PrefixList wsse s",
			`<s:E xmlns:s="urn:s"><s:H><wsse:S xmlns:wsse="urn:wsse" xmlns:wsu="urn:wsu"><wsu:T Id="target" wsu:Id="TS"><wsu:C>c</wsu:C></wsu:T></wsse:S></s:H></s:E>`, []string{"wsse", "s"}},
		{"xmlns empty below prefixed apex without #default",
			`<a xmlns="urn:d" xmlns:p="urn:p"><p:b Id="target"><p:c xmlns=""><d/></p:c></p:b></a>`, []string{"p"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc, target := signWithExclusive(t, tc.src, tc.inclusive, key)
			out, ok := oracle.XMLSecVerify(t, doc, oracle.Key{HMAC: key}, idNode(target))
			if !ok {
				got, _ := c14n.Exclusive(target, tc.inclusive)
				t.Errorf("xmlsec1 rejects the signature made with Exclusive (reference c14n %s):\n%s", got, out)
			}
		})
	}
}

// TestXMLSecOracleRejectsWrongDefault makes sure the xmlsec1 check above can
// fail: a digest computed without the default namespace that "#default"
// requires must be rejected.
func TestXMLSecOracleRejectsWrongDefault(t *testing.T) {
	key := []byte("0123456789abcdef0123")
	src := `<a xmlns="urn:d" xmlns:p="urn:p"><p:b Id="target"><p:c/></p:b></a>`
	doc, target := signWithExclusive(t, src, []string{"#default"}, key)
	without, err := c14n.Exclusive(target, nil)
	if err != nil {
		t.Fatal(err)
	}
	with, err := c14n.Exclusive(target, []string{"#default"})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(with, without) {
		t.Fatal("#default made no difference; the case cannot tell right from wrong")
	}
	good := sha1.Sum(with)
	bad := sha1.Sum(without)
	doc = bytes.Replace(doc, []byte(base64.StdEncoding.EncodeToString(good[:])), []byte(base64.StdEncoding.EncodeToString(bad[:])), 1)
	if out, ok := oracle.XMLSecVerify(t, doc, oracle.Key{HMAC: key}, idNode(target)); ok {
		t.Errorf("xmlsec1 accepted a digest without the #default namespace:\n%s", out)
	}
}

// idNode names the element for xmlsec1's --id-attr option.
func idNode(el *etree.Element) string {
	if ns := el.NamespaceURI(); ns != "" {
		return ns + ":" + el.Tag
	}
	return el.Tag
}
