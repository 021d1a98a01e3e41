package xenc

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/wire/c14n"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

var blockURIs = []string{AES128CBC, AES192CBC, AES256CBC, TripleDESCBC}

func keyFor(t *testing.T, uri string) []byte {
	t.Helper()
	n, err := KeySize(uri)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Repeat([]byte{7}, n)
}

func TestBlockRoundTrip(t *testing.T) {
	for _, uri := range blockURIs {
		key := keyFor(t, uri)
		for n := 0; n <= 33; n++ {
			plain := bytes.Repeat([]byte{'x'}, n)
			ct, err := Encrypt(uri, key, plain, testkit.Rand("iv"))
			if err != nil {
				t.Fatal(err)
			}
			bs := 16
			if uri == TripleDESCBC {
				bs = 8
			}
			if want := bs + (n/bs+1)*bs; len(ct) != want {
				t.Errorf("%s %d bytes: ciphertext %d bytes, want %d", uri, n, len(ct), want)
			}
			got, err := Decrypt(uri, key, ct)
			if err != nil || !bytes.Equal(got, plain) {
				t.Errorf("%s %d bytes: %q, %v", uri, n, got, err)
			}
		}
	}
}

// rawCBC encrypts blocks (already a whole number of blocks) without
// padding, so that tests choose the padding bytes.
func rawCBC(t *testing.T, uri string, key, blocks []byte) []byte {
	t.Helper()
	var c cipher.Block
	var err error
	if uri == TripleDESCBC {
		c, err = des.NewTripleDESCipher(key)
	} else {
		c, err = aes.NewCipher(key)
	}
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, c.BlockSize()+len(blocks))
	copy(out[c.BlockSize():], blocks)
	cipher.NewCBCEncrypter(c, out[:c.BlockSize()]).CryptBlocks(out[c.BlockSize():], out[c.BlockSize():])
	return out
}

// TestPaddingArbitraryBytes: XML Encryption lets the pad bytes before the
// length byte be anything (WCF and WSS4J write random ones).
func TestPaddingArbitraryBytes(t *testing.T) {
	key := keyFor(t, AES128CBC)
	block := []byte("hello world!\x9a\x01\xff\x04")
	got, err := Decrypt(AES128CBC, key, rawCBC(t, AES128CBC, key, block))
	if err != nil || string(got) != "hello world!" {
		t.Fatalf("%q, %v", got, err)
	}
}

// TestDecryptOneError: every failure is ErrDecrypt, whatever its cause.
func TestDecryptOneError(t *testing.T) {
	for _, uri := range blockURIs {
		key := keyFor(t, uri)
		bs := 16
		if uri == TripleDESCBC {
			bs = 8
		}
		good, _ := Encrypt(uri, key, []byte("some plaintext"), testkit.Rand("iv"))
		pad := func(last byte) []byte {
			b := bytes.Repeat([]byte{'p'}, 2*bs)
			b[len(b)-1] = last
			return rawCBC(t, uri, key, b)
		}
		cases := map[string]struct {
			key, data []byte
		}{
			"pad length 0":          {key, pad(0)},
			"pad length over block": {key, pad(byte(bs + 1))},
			"pad length 255":        {key, pad(255)},
			"only an IV":            {key, good[:bs]},
			"not whole blocks":      {key, good[:len(good)-1]},
			"empty":                 {key, nil},
			"short key":             {key[:len(key)-1], good},
			"long key":              {append(key, 1), good},
		}
		for name, c := range cases {
			if _, err := Decrypt(uri, c.key, c.data); err != ErrDecrypt {
				t.Errorf("%s %s: %v, want ErrDecrypt", uri, name, err)
			}
		}
	}
}

func TestUnwrapOAEP(t *testing.T) {
	id := testkit.Server()
	key := bytes.Repeat([]byte{3}, 32)
	ct, err := WrapKey(RSAOAEPMGF1P, key, &id.RSAKey().PublicKey, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := UnwrapKey(RSAOAEPMGF1P, ct, id.RSAKey(), 32, rand.Reader); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("%x, %v", got, err)
	}
	bad := append([]byte(nil), ct...)
	bad[10] ^= 1
	for name, c := range map[string]struct {
		ct   []byte
		size int
	}{"corrupt": {bad, 32}, "other size": {ct, 16}, "truncated": {ct[:len(ct)-1], 32}} {
		if got, err := UnwrapKey(RSAOAEPMGF1P, c.ct, id.RSAKey(), c.size, rand.Reader); err != ErrDecrypt {
			t.Errorf("%s: %x, %v; want ErrDecrypt", name, got, err)
		}
	}
}

// TestUnwrapRSA15ImplicitRejection: a ciphertext that does not unwrap
// gives a random key of the expected size and no error, so the failure
// shows only when that key decrypts nothing.
func TestUnwrapRSA15ImplicitRejection(t *testing.T) {
	id := testkit.Server()
	key := bytes.Repeat([]byte{3}, 32)
	ct, err := WrapKey(RSA15, key, &id.RSAKey().PublicKey, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := UnwrapKey(RSA15, ct, id.RSAKey(), 32, rand.Reader); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("%x, %v", got, err)
	}
	bad := append([]byte(nil), ct...)
	bad[5] ^= 0x80
	got, err := UnwrapKey(RSA15, bad, id.RSAKey(), 32, rand.Reader)
	if err != nil || len(got) != 32 || bytes.Equal(got, key) {
		t.Fatalf("corrupt ciphertext: %x, %v; want a random 32-byte key and no error", got, err)
	}
	// A wrapped key of another size is also replaced, not reported.
	if got, err := UnwrapKey(RSA15, ct, id.RSAKey(), 16, rand.Reader); err != nil || len(got) != 16 {
		t.Fatalf("other size: %x, %v", got, err)
	}
	if _, err := UnwrapKey(RSA15, ct, id.RSAKey(), 0, rand.Reader); err == nil || errors.Is(err, ErrDecrypt) {
		t.Fatalf("no size: %v", err)
	}
}

func parseEl(t *testing.T, s string) *etree.Element {
	t.Helper()
	d, err := xmldoc.Parse([]byte(s), xmldoc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Root()
}

func TestParseEncryptedDataStrict(t *testing.T) {
	ki := `<KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><o:SecurityTokenReference xmlns:o="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><o:Reference URI="#k"/></o:SecurityTokenReference></KeyInfo>`
	good := `<EncryptedData Id="d" Type="` + TypeContent + `" xmlns="` + NS + `"><EncryptionMethod Algorithm="` + AES256CBC + `"/>` + ki + `<CipherData><CipherValue>AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=</CipherValue></CipherData></EncryptedData>`
	d, err := ParseEncryptedData(parseEl(t, good))
	if err != nil || d.ID != "d" || d.Method != AES256CBC || len(d.CipherValue) != 32 || d.KeyInfo == nil {
		t.Fatalf("%+v, %v", d, err)
	}
	cases := []struct {
		name, from, to string
		decrypt        bool
	}{
		{"bad base64", "AAECAwQF", "AA!CAwQF", true},
		{"empty CipherValue", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "", true},
		{"CipherReference", "<CipherValue>AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=</CipherValue>", `<CipherReference URI="http://attacker/"/>`, false},
		{"unknown algorithm", AES256CBC, NS + "aes256-gcm", false},
		{"other Type", TypeContent, "http://www.w3.org/2001/04/xmlenc#EncryptedKey", false},
		{"namespace by prefix only", `xmlns="` + NS + `"`, `xmlns="urn:not-xenc"`, false},
		{"two EncryptionMethods", `<EncryptionMethod Algorithm="` + AES256CBC + `"/>`, `<EncryptionMethod Algorithm="` + AES256CBC + `"/><EncryptionMethod Algorithm="` + AES128CBC + `"/>`, false},
		{"KeyInfo with two children", `</o:SecurityTokenReference></KeyInfo>`, `</o:SecurityTokenReference><X509Data/></KeyInfo>`, false},
		{"unknown child", "<CipherData>", "<Extra/><CipherData>", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := strings.Replace(good, c.from, c.to, 1)
			if src == good {
				t.Fatal("edit did not apply")
			}
			_, err := ParseEncryptedData(parseEl(t, src))
			if err == nil {
				t.Fatal("accepted")
			}
			if c.decrypt != (err == ErrDecrypt) {
				t.Errorf("error %v; ErrDecrypt expected: %v", err, c.decrypt)
			}
		})
	}
}

func TestParseReferenceList(t *testing.T) {
	ids, err := ParseReferenceList(ReferenceList("a", "b"))
	if err != nil || strings.Join(ids, ",") != "a,b" {
		t.Fatalf("%v, %v", ids, err)
	}
	for name, src := range map[string]string{
		"empty":        `<ReferenceList xmlns="` + NS + `"/>`,
		"twice":        `<ReferenceList xmlns="` + NS + `"><DataReference URI="#a"/><DataReference URI="#a"/></ReferenceList>`,
		"KeyReference": `<ReferenceList xmlns="` + NS + `"><KeyReference URI="#a"/></ReferenceList>`,
		"remote":       `<ReferenceList xmlns="` + NS + `"><DataReference URI="http://x/#a"/></ReferenceList>`,
		"empty Id":     `<ReferenceList xmlns="` + NS + `"><DataReference URI="#"/></ReferenceList>`,
	} {
		if ids, err := ParseReferenceList(parseEl(t, src)); err == nil {
			t.Errorf("%s: accepted %v", name, ids)
		}
	}
}

func TestEncryptedKeyRoundTrip(t *testing.T) {
	ek := EncryptedKey{ID: "ek", Method: RSAOAEPMGF1P, KeyInfo: etree.NewElement("x"), CipherValue: []byte{1, 2, 3}, References: []string{"d1"}}
	src := xmldoc.Serialize(ek.Element())
	got, err := ParseEncryptedKey(parseEl(t, string(src)))
	if err != nil || got.ID != "ek" || got.Method != RSAOAEPMGF1P || !bytes.Equal(got.CipherValue, []byte{1, 2, 3}) || len(got.References) != 1 {
		t.Fatalf("%+v, %v", got, err)
	}
	for name, edit := range map[string][2]string{
		"SHA-256 OAEP digest": {"xmldsig#sha1", "xmlenc#sha256"},
		"no KeyInfo":          {"<KeyInfo xmlns=\"http://www.w3.org/2000/09/xmldsig#\"><x/></KeyInfo>", ""},
		"unknown transport":   {RSAOAEPMGF1P, NS + "kw-aes256"},
	} {
		s := strings.Replace(string(src), edit[0], edit[1], 1)
		if s == string(src) {
			t.Fatalf("%s: edit did not apply", name)
		}
		if _, err := ParseEncryptedKey(parseEl(t, s)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestContentRoundTrip encrypts content that uses prefixes declared on an
// ancestor and decrypts it back in place: the canonical form is unchanged.
func TestContentRoundTrip(t *testing.T) {
	root := parseEl(t, `<s:Envelope xmlns:s="urn:soap" xmlns:p="urn:p"><s:Body><p:a x="1">t&amp;<p:b/></p:a> tail <c xmlns="urn:c"/></s:Body></s:Envelope>`)
	body := root.ChildElements()[0]
	before, _ := c14n.Exclusive(body, nil)
	b := Block{Method: AES128CBC, Key: keyFor(t, AES128CBC), Rand: testkit.Rand("iv")}
	if _, err := b.EncryptContent(body, "d1"); err != nil {
		t.Fatal(err)
	}
	if len(body.ChildElements()) != 1 || strings.Contains(string(xmldoc.Serialize(root)), "tail") {
		t.Fatalf("content not replaced: %s", xmldoc.Serialize(root))
	}
	// Round trip through bytes, as a receiver sees it.
	root = parseEl(t, string(xmldoc.Serialize(root)))
	body = root.ChildElements()[0]
	d, err := ParseEncryptedData(body.ChildElements()[0])
	if err != nil || d.ID != "d1" {
		t.Fatalf("%v %v", d, err)
	}
	plain, err := d.Decrypt(b.Key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Replace(body.ChildElements()[0], TypeContent, plain, xmldoc.Limits{}); err != nil {
		t.Fatal(err)
	}
	after, _ := c14n.Exclusive(body, nil)
	if string(after) != string(before) {
		t.Errorf("after decryption\n%s\nwant\n%s", after, before)
	}
}

// TestReplaceRefusesGarbage: plaintext that is not XML (a wrong key whose
// padding happened to pass) is ErrDecrypt too, as is an Element that is
// not one element.
func TestReplaceRefusesGarbage(t *testing.T) {
	for name, c := range map[string]struct{ typ, plain string }{
		"not XML":       {TypeContent, "\x8f\x01<<"},
		"unclosed":      {TypeContent, "<a>"},
		"two elements":  {TypeElement, "<a/><b/>"},
		"text":          {TypeElement, "<a/>text"},
		"escape parent": {TypeContent, "</w><w>"},
	} {
		root := parseEl(t, `<r><EncryptedData xmlns="`+NS+`"/></r>`)
		if _, err := Replace(root.ChildElements()[0], c.typ, []byte(c.plain), xmldoc.Limits{}); err != ErrDecrypt {
			t.Errorf("%s: %v, want ErrDecrypt", name, err)
		}
	}
}

// TestContentUnderDefaultNamespace: a child in no namespace under an
// inherited default namespace stays in no namespace through
// EncryptContent and Replace.
func TestContentUnderDefaultNamespace(t *testing.T) {
	root := parseEl(t, `<r xmlns="urn:d"><b><c xmlns="">x</c><d/></b></r>`)
	body := root.ChildElements()[0]
	b := Block{Method: AES128CBC, Key: keyFor(t, AES128CBC), Rand: testkit.Rand("iv")}
	ed, err := b.EncryptContent(body, "d1")
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseEncryptedData(ed)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := d.Decrypt(b.Key)
	if err != nil {
		t.Fatal(err)
	}
	els, err := Replace(ed, TypeContent, plain, xmldoc.Limits{})
	if err != nil || len(els) != 2 {
		t.Fatalf("%v %v", els, err)
	}
	if els[0].NamespaceURI() != "" || els[1].NamespaceURI() != "urn:d" {
		t.Errorf("namespaces after decryption: %q, %q", els[0].NamespaceURI(), els[1].NamespaceURI())
	}
}

// Decrypted content put in place keeps its bytes as decrypted: a token in
// it (a SecurityContextToken in an answer's Body) is kept exactly as the
// sender wrote it, not as the tree would be written again.
func TestPlainKeepsItsBytes(t *testing.T) {
	const token = `<c:SecurityContextToken  xmlns:c='http://docs.oasis-open.org/ws-sx/ws-secureconversation/200512' Id='a'><c:Identifier>urn:x</c:Identifier><c:Extra/></c:SecurityContextToken >`
	doc, err := xmldoc.Parse([]byte(`<e:Envelope xmlns:e="urn:env"><e:Body><x:EncryptedData xmlns:x="`+NS+`"/></e:Body></e:Envelope>`), xmldoc.Options{KeepSpans: true})
	if err != nil {
		t.Fatal(err)
	}
	ed := doc.Root().ChildElements()[0].ChildElements()[0]
	p, err := ParsePlain(ed, TypeContent, []byte("\n  "+token+"\n"), xmldoc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	p.Replace()
	sct := doc.Root().ChildElements()[0].ChildElements()[0]
	if _, ok := doc.Raw(sct); ok {
		t.Fatal("the document knows the bytes of an element it never parsed")
	}
	doc.Graft(p.Doc())
	raw, ok := doc.Raw(sct)
	if !ok || string(raw) != token {
		t.Fatalf("Raw = %q, %v; want the token as decrypted", raw, ok)
	}
	frag, err := doc.Fragment(sct)
	if err != nil || string(frag.Bytes) != token {
		t.Fatalf("Fragment = %q, %v", frag.Bytes, err)
	}
	if written := xmldoc.Serialize(sct); string(written) == token {
		t.Fatal("the token written again is the same: the test shows nothing")
	}
}
