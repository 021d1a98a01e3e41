package wssc

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/keys"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// wss4jSecret is the SCT secret of the WSS4J vectors: bytes 0x00..0x1f.
var wss4jSecret = func() []byte {
	b := make([]byte, 32)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}()

// dktResolver verifies a signature whose KeyInfo points to a DKT in the
// message: the DKT is parsed, its base must be the message's SCT, and the
// key is derived from the SCT secret. Each resolved DKT is recorded.
func dktResolver(t *testing.T, d *xmldoc.Doc, v Version, secret []byte, seen *[]*DKT) dsig.KeyResolver {
	return func(keyInfo *etree.Element, method string) (dsig.VerifyingKey, error) {
		strEl, err := xmldoc.One(keyInfo, wss.NameSecurityTokenReference)
		if err != nil {
			return nil, err
		}
		str, err := wss.ParseSTR(strEl)
		if err != nil {
			return nil, err
		}
		if str.Reference == nil || str.Reference.ValueType != v.DKValueType() {
			return nil, fmt.Errorf("signature key is not a DKT reference: %+v", str)
		}
		dkEls := xmldoc.WithAttr(d.Root(), wss.NameID, str.Reference.Target())
		if len(dkEls) != 1 {
			return nil, fmt.Errorf("%d elements with Id %s", len(dkEls), str.Reference.Target())
		}
		dkt, err := ParseDKT(dkEls[0], v)
		if err != nil {
			return nil, err
		}
		sct, err := ParseSCT(d, sctOf(t, d, v), v)
		if err != nil {
			return nil, err
		}
		if dkt.Base.Reference == nil || !RefersTo(*dkt.Base.Reference, sct) {
			return nil, fmt.Errorf("DKT base %+v does not refer to the SCT %s / %s", dkt.Base.Reference, sct.ID, sct.Identifier)
		}
		*seen = append(*seen, dkt)
		key, err := dkt.Key(secret)
		if err != nil {
			return nil, err
		}
		return dsig.HMACKey(method, key)
	}
}

func securityOf(t *testing.T, d *xmldoc.Doc) *etree.Element {
	t.Helper()
	sec, err := wss.FindSecurity(soapPart(t, d, "Header"))
	if err != nil {
		t.Fatal(err)
	}
	return sec
}

func sctOf(t *testing.T, d *xmldoc.Doc, v Version) *etree.Element {
	t.Helper()
	el, err := xmldoc.One(securityOf(t, d), v.sname("SecurityContextToken"))
	if err != nil {
		t.Fatal(err)
	}
	return el
}

// TestWSS4JDerivedKeys parses WSS4J's DerivedKeyTokens (both versions, and
// the reference by Identifier), derives their keys from the SCT secret and
// verifies WSS4J's signatures with them: a wrong derivation cannot verify.
func TestWSS4JDerivedKeys(t *testing.T) {
	tests := []struct {
		file       string
		v          Version
		identifier bool // the DKT references the SCT by its Identifier
	}{
		{"wss4j-sct-dksign-sc200502.xml", Feb2005, false},
		{"wss4j-sct-dksign-sc200512.xml", V1_3, false},
		{"wss4j-dktest-sc200502-identifier-ref.xml", Feb2005, true},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			d := parse(t, readFile(t, vectors+"wss4j/"+tc.file))
			sig, err := xmldoc.One(securityOf(t, d), xmldoc.Name{Space: dsig.NS, Local: "Signature"})
			if err != nil {
				t.Fatal(err)
			}
			var seen []*DKT
			if _, err := dsig.Verify(d.Root(), sig, dktResolver(t, d, tc.v, wss4jSecret, &seen), dsig.DefaultPolicy); err != nil {
				t.Fatalf("verify with the derived key: %v", err)
			}
			dkt := seen[0]
			want := keys.Derivation{Nonce: dkt.Derivation.Nonce, Length: 24}
			if fmt.Sprint(dkt.Derivation) != fmt.Sprint(want) || len(dkt.Derivation.Nonce) != 16 {
				t.Errorf("derivation = %+v, want offset 0, length 24, default label, 16-byte nonce", dkt.Derivation)
			}
			if !strings.HasSuffix(dkt.Base.TokenType, "#EncryptedKey") {
				t.Errorf("STR TokenType %q: the WSS4J quirk should be kept as read", dkt.Base.TokenType)
			}
			sct, _ := ParseSCT(d, sctOf(t, d, tc.v), tc.v)
			if byID := dkt.Base.Reference.Target() == sct.ID; byID == tc.identifier {
				t.Errorf("reference %q matched by wsu:Id = %v", dkt.Base.Reference.URI, byID)
			}
			wrong := bytes.Clone(wss4jSecret)
			wrong[31] ^= 1
			if _, err := dsig.Verify(d.Root(), sig, dktResolver(t, d, tc.v, wrong, &seen), dsig.DefaultPolicy); !errors.Is(err, dsig.ErrBadSignature) {
				t.Errorf("verify with a key derived from another secret: %v", err)
			}
		})
	}
}

// TestMonoDKTKeyIdentifier reads a DKT whose base is named by an
// EncryptedKeySHA1 KeyIdentifier and which omits Offset.
func TestMonoDKTKeyIdentifier(t *testing.T) {
	d := parse(t, readFile(t, vectors+"mono/anoncert/response.xml"))
	el, err := xmldoc.One(securityOf(t, d), Feb2005.sname("DerivedKeyToken"))
	if err != nil {
		t.Fatal(err)
	}
	dkt, err := ParseDKT(el, Feb2005)
	if err != nil {
		t.Fatal(err)
	}
	ki := dkt.Base.KeyIdentifier
	if ki == nil || !strings.HasSuffix(ki.ValueType, "#EncryptedKeySHA1") || len(ki.Value) != 20 {
		t.Fatalf("key identifier = %+v, want a 20-byte EncryptedKeySHA1", ki)
	}
	if d := dkt.Derivation; d.Offset != 0 || d.HasGeneration || d.Length != 32 || len(d.Nonce) != 32 || d.Label != nil || dkt.ID != "_1" {
		t.Errorf("dkt = %+v", dkt)
	}
}

func TestBuildDKT(t *testing.T) {
	ref := wss.Reference{URI: "#sct-1", ValueType: Feb2005.TokenType()}
	const (
		head  = `<c:DerivedKeyToken xmlns:c="http://schemas.xmlsoap.org/ws/2005/02/sc" xmlns:u="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd" u:Id="dk-1"><o:SecurityTokenReference xmlns:o="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><o:Reference URI="#sct-1" ValueType="http://schemas.xmlsoap.org/ws/2005/02/sc/sct"/></o:SecurityTokenReference>`
		nonce = `<c:Nonce>AAAAAAAAAAAAAAAAAAAAAA==</c:Nonce></c:DerivedKeyToken>`
	)
	tests := []struct {
		name string
		d    keys.Derivation
		want string
	}{
		{"WCF signing key: no Offset, no Label", keys.Derivation{Length: 24}, head + `<c:Length>24</c:Length>` + nonce},
		{"default length written", keys.Derivation{}, head + `<c:Length>32</c:Length>` + nonce},
		{"default label given explicitly is omitted", keys.Derivation{Label: []byte(keys.DefaultLabel), Length: 24}, head + `<c:Length>24</c:Length>` + nonce},
		{"offset and label", keys.Derivation{Offset: 32, Label: []byte("scproxy"), Length: 16}, head + `<c:Offset>32</c:Offset><c:Length>16</c:Length><c:Label>scproxy</c:Label>` + nonce},
		{"generation", keys.Derivation{Generation: 2, HasGeneration: true, Length: 16}, head + `<c:Generation>2</c:Generation><c:Length>16</c:Length>` + nonce},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dkt, err := NewDKT("dk-1", ref, tc.d, zeros{})
			if err != nil {
				t.Fatal(err)
			}
			el, err := dkt.Element(Feb2005)
			if err != nil {
				t.Fatal(err)
			}
			if got := serialize(el); got != tc.want {
				t.Fatalf("\n got: %s\nwant: %s", got, tc.want)
			}
			back, err := ParseDKT(el, Feb2005)
			if err != nil {
				t.Fatal(err)
			}
			k1, err1 := dkt.Key(wss4jSecret)
			k2, err2 := back.Key(wss4jSecret)
			if err1 != nil || err2 != nil || !bytes.Equal(k1, k2) || *back.Base.Reference != ref || back.ID != "dk-1" {
				t.Errorf("round trip differs: %+v (%v, %v)", back, err1, err2)
			}
		})
	}
}

func TestNewDKTErrors(t *testing.T) {
	ref := wss.Reference{URI: "#x"}
	if _, err := NewDKT("", ref, keys.Derivation{}, nil); err == nil {
		t.Error("no randomness accepted")
	}
	var be *keys.BoundError
	if _, err := NewDKT("", ref, keys.Derivation{Offset: 1 << 20}, zeros{}); !errors.As(err, &be) {
		t.Errorf("huge offset: %v", err)
	}
	if _, err := (&DKT{Base: wss.STR{}}).Element(Feb2005); err == nil {
		t.Error("DKT without a base reference written")
	}
	both := wss.STR{Reference: &ref, KeyIdentifier: &wss.KeyIdentifier{ValueType: wss.ValueTypeEncryptedKeySHA1, Value: []byte{1}}}
	if _, err := (&DKT{Base: both}).Element(Feb2005); err == nil {
		t.Error("DKT with two base references written")
	}
}

// TestDKTOnKeyIdentifier: a server's DerivedKeyToken names the key of the
// request it answers by EncryptedKeySHA1 (the Mono captures do); it is
// written with that key identifier and reads back the same.
func TestDKTOnKeyIdentifier(t *testing.T) {
	ki := &wss.KeyIdentifier{ValueType: wss.ValueTypeEncryptedKeySHA1, EncodingType: wss.EncodingBase64Binary, Value: bytes.Repeat([]byte{4}, 20)}
	dkt, err := NewDKTOn("dk-2", wss.STR{KeyIdentifier: ki}, keys.Derivation{Length: 32}, zeros{})
	if err != nil {
		t.Fatal(err)
	}
	el, err := dkt.Element(Feb2005)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseDKT(el, Feb2005)
	if err != nil {
		t.Fatal(err)
	}
	if k := back.Base.KeyIdentifier; back.Base.Reference != nil || k == nil || k.ValueType != ki.ValueType || !bytes.Equal(k.Value, ki.Value) {
		t.Errorf("read back %+v", back.Base)
	}
}

// TestParseDKTNegative feeds hostile or malformed tokens; bounds are
// enforced at parse time, before any derivation.
func TestParseDKTNegative(t *testing.T) {
	const (
		sc   = "http://schemas.xmlsoap.org/ws/2005/02/sc"
		str  = `<o:SecurityTokenReference xmlns:o="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><o:Reference URI="#sct"/></o:SecurityTokenReference>`
		good = `<c:Nonce>AAAAAAAAAAAAAAAAAAAAAA==</c:Nonce>`
	)
	dk := func(ns, body string) string {
		return `<c:DerivedKeyToken xmlns:c="` + ns + `">` + body + `</c:DerivedKeyToken>`
	}
	tests := []struct {
		name string
		xml  string
		want func(error) bool
	}{
		{"valid control", dk(sc, str+good), func(err error) bool { return err == nil }},
		{"other version", dk(V1_3.SC(), str+good), isNamespaceError},
		{"no reference", dk(sc, good), isNotFound},
		{"two references", dk(sc, str+str+good), isDuplicate},
		{"no nonce", dk(sc, str), isNotFound},
		{"bad base64 nonce", dk(sc, str+`<c:Nonce>@@@@</c:Nonce>`), contains("base64")},
		{"huge offset", dk(sc, str+`<c:Offset>65536</c:Offset>`+good), isBound},
		{"offset beyond int", dk(sc, str+`<c:Offset>99999999999999999999</c:Offset>`+good), contains("not a small")},
		{"negative offset", dk(sc, str+`<c:Offset>-1</c:Offset>`+good), contains("not a small")},
		{"huge length", dk(sc, str+`<c:Length>100000</c:Length>`+good), isBound},
		{"zero length", dk(sc, str+`<c:Length>0</c:Length>`+good), contains("zero Length")},
		{"huge generation", dk(sc, str+`<c:Generation>50</c:Generation>`+good), isBound},
		{"generation and offset", dk(sc, str+`<c:Generation>1</c:Generation><c:Offset>0</c:Offset>`+good), contains("both")},
		{"long label", dk(sc, str+`<c:Label>`+strings.Repeat("x", 200)+`</c:Label>`+good), isBound},
		{"long nonce", dk(sc, str+`<c:Nonce>`+strings.Repeat("AAAA", 100)+`</c:Nonce>`), isBound},
		{"two nonces", dk(sc, str+good+good), isDuplicate},
		{"other algorithm", strings.Replace(dk(sc, str+good), `">`, `" Algorithm="urn:other">`, 1), contains("algorithm")},
		{"embedded reference", dk(sc, `<o:SecurityTokenReference xmlns:o="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><o:Embedded/></o:SecurityTokenReference>`+good), func(err error) bool { return errors.Is(err, wss.ErrUnsupportedReference) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := parse(t, []byte(tc.xml))
			_, err := ParseDKT(d.Root(), Feb2005)
			t.Logf("err: %v", err)
			if !tc.want(err) {
				t.Fatalf("err = %v (%T)", err, err)
			}
		})
	}
}

func isNotFound(err error) bool {
	var nf *xmldoc.NotFoundError
	return errors.As(err, &nf)
}

func contains(s string) func(error) bool {
	return func(err error) bool { return err != nil && strings.Contains(err.Error(), s) }
}

func TestRefersTo(t *testing.T) {
	sct := &SCT{ID: "sct-1", Identifier: "urn:uuid:1"}
	tests := []struct {
		uri  string
		want bool
	}{
		{"#sct-1", true},
		{"#urn:uuid:1", true},
		{"urn:uuid:1", true},
		{"sct-1", false},
		{"#sct-2", false},
		{"urn:uuid:2", false},
	}
	for _, tc := range tests {
		if got := RefersTo(wss.Reference{URI: tc.uri}, sct); got != tc.want {
			t.Errorf("RefersTo(%q) = %v, want %v", tc.uri, got, tc.want)
		}
	}
	if RefersTo(wss.Reference{URI: "#"}, &SCT{Identifier: "urn:x"}) {
		t.Error("an empty fragment matched an SCT without wsu:Id")
	}
}
