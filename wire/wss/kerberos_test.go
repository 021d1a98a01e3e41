package wss

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

// fakeAPREQ is a DER value with the AP-REQ tag and n content bytes; the
// framing does not look inside it.
func fakeAPREQ(n int) []byte {
	return append([]byte{tagAPREQ}, append(derLength(n), bytes.Repeat([]byte{0xab}, n)...)...)
}

// TestGSSFramingRoundTrip wraps AP-REQs whose lengths need each DER length
// form and unwraps them back; the header is the one RFC 2743 §3.1 and
// RFC 4121 §4.1 give.
func TestGSSFramingRoundTrip(t *testing.T) {
	for _, n := range []int{1, 100, 127, 128, 255, 256, 1500, 65000 - 20} {
		apreq := fakeAPREQ(n)
		tok := WrapGSSKerberosAPREQ(apreq)
		if tok[0] != 0x60 {
			t.Fatalf("%d: first byte 0x%02x", n, tok[0])
		}
		hdr := len(tok) - len(apreq) - len(gssKerberosOID) - 2
		if !bytes.Equal(tok[hdr:hdr+13], []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02, 0x01, 0x00}) {
			t.Fatalf("%d: header % x", n, tok[:hdr+13])
		}
		back, err := UnwrapGSSKerberosAPREQ(tok)
		if err != nil || !bytes.Equal(back, apreq) {
			t.Fatalf("%d: unwrap: %v", n, err)
		}
	}
}

// TestGSSFramingRejects lists malformed tokens: each must be refused with
// a reason naming the defect.
func TestGSSFramingRejects(t *testing.T) {
	good := WrapGSSKerberosAPREQ(fakeAPREQ(200))
	mutate := func(f func([]byte) []byte) []byte { return f(bytes.Clone(good)) }
	// spnegoOID is 1.3.6.1.5.5.2, a SPNEGO token's mechanism.
	spnego := append([]byte{0x60, byte(8 + 2 + len(fakeAPREQ(20)))}, 0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02)
	tests := []struct {
		name, reason string
		tok          []byte
	}{
		{"empty", "truncated", nil},
		{"wrong outer tag", "tag 0x30", mutate(func(b []byte) []byte { b[0] = 0x30; return b })},
		{"outer length too long", "bytes follow", good[:len(good)-1]},
		{"trailing byte", "bytes follow", append(bytes.Clone(good), 0)},
		{"indefinite length", "indefinite", []byte{0x60, 0x80, 0, 0}},
		{"non-minimal length", "minimally", append([]byte{0x60, 0x81, 0x05}, bytes.Repeat([]byte{0}, 5)...)},
		{"wrong mechanism (SPNEGO)", "not Kerberos V5", append(append(spnego, 0x01, 0x00), fakeAPREQ(20)...)},
		{"OID one arc off", "not Kerberos V5", mutate(func(b []byte) []byte { b[bytes.Index(b, gssKerberosOID)+10] = 0x03; return b })},
		{"AP-REP token id", "not an AP-REQ", mutate(func(b []byte) []byte { b[bytes.Index(b, gssKerberosOID)+11] = 0x02; return b })},
		{"inner tag not AP-REQ", "tag 0x6f", mutate(func(b []byte) []byte { b[bytes.Index(b, gssKerberosOID)+13] = 0x6f; return b })},
		{"inner length mismatch", "AP-REQ", WrapGSSKerberosAPREQ(fakeAPREQ(200)[:150])},
		{"oversized", "exceeds", WrapGSSKerberosAPREQ(fakeAPREQ(70000))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := UnwrapGSSKerberosAPREQ(tc.tok)
			if err == nil || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.reason)
			}
		})
	}
}

// TestKerberosTokenElement builds the BinarySecurityToken and reads it
// back; other ValueTypes and encodings are refused.
func TestKerberosTokenElement(t *testing.T) {
	apreq := fakeAPREQ(300)
	el := KerberosToken("bst-1", WrapGSSKerberosAPREQ(apreq))
	d, err := xmldoc.Parse(xmldoc.Serialize(el), xmldoc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := d.Root()
	if id, _ := ID(got); id != "bst-1" || !IsKerberosToken(got) {
		t.Fatalf("token %s", xmldoc.Serialize(got))
	}
	back, err := ParseKerberosToken(got)
	if err != nil || !bytes.Equal(back, apreq) {
		t.Fatalf("parse: %v", err)
	}
	b64 := base64.StdEncoding.EncodeToString(WrapGSSKerberosAPREQ(apreq))
	bst := func(attrs string) string {
		return `<o:BinarySecurityToken xmlns:o="` + NSWSSE + `" ` + attrs + `>` + b64 + `</o:BinarySecurityToken>`
	}
	tests := []struct{ name, xml, reason string }{
		{"x509 value type", bst(`ValueType="` + ValueTypeX509v3 + `"`), "not a GSS Kerberos"},
		{"raw AP-REQ value type", bst(`ValueType="http://docs.oasis-open.org/wss/oasis-wss-kerberos-token-profile-1.1#Kerberosv5_AP_REQ"`), "not a GSS Kerberos"},
		{"hex encoding", bst(`ValueType="` + ValueTypeGSSKerberosAPREQ + `" EncodingType="` + NSWSSE + `#HexBinary"`), "EncodingType"},
		{"prefix-only namespace match", `<o:BinarySecurityToken xmlns:o="urn:other" ValueType="` + ValueTypeGSSKerberosAPREQ + `">` + b64 + `</o:BinarySecurityToken>`, "not a GSS Kerberos"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := xmldoc.Parse([]byte(tc.xml), xmldoc.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ParseKerberosToken(d.Root()); err == nil || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.reason)
			}
		})
	}
	// Without EncodingType base64 is assumed.
	d, err = xmldoc.Parse([]byte(bst(`ValueType="`+ValueTypeGSSKerberosAPREQ+`"`)), xmldoc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseKerberosToken(d.Root()); err != nil {
		t.Fatalf("no EncodingType: %v", err)
	}
}
