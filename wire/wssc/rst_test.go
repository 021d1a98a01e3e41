package wssc

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/c14n"
	"github.com/scproxy/scproxy/wire/keys"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

func canon(t *testing.T, el *etree.Element) string {
	t.Helper()
	b, err := c14n.Exclusive(el, nil)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func serialize(el *etree.Element) string { return string(xmldoc.Serialize(el)) }

// TestBuildIssueMatchesCoreWCF rebuilds the RST of the CoreWCF capture
// from its client entropy: the canonical forms must be identical.
func TestBuildIssueMatchesCoreWCF(t *testing.T) {
	d := parse(t, readFile(t, vectors+"corewcf/issue-request.pretty.xml"))
	want := payload(t, d)
	stripSpace(want)
	entropy := b64(t, coreClientEntropy)
	r, err := BuildIssue(Params{
		Version:   Feb2005,
		EntropyID: "uuid-4751c816-b23b-4229-b5fe-6f3727786382-1",
		Rand:      bytes.NewReader(entropy),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, w := canon(t, r.Element), canon(t, want); got != w {
		t.Errorf("canonical RST differs\n got: %s\nwant: %s", got, w)
	}
	if !bytes.Equal(r.ClientEntropy, entropy) || r.KeySize != 256 {
		t.Errorf("client entropy %x / key size %d, want the vector's and 256", r.ClientEntropy, r.KeySize)
	}
}

// zeros is a deterministic randomness source.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

const zero32 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

func TestBuildExact(t *testing.T) {
	const (
		wsse  = `xmlns:o="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"`
		trust = `xmlns:trust="http://docs.oasis-open.org/ws-sx/ws-trust/200512"`
		tr    = "http://docs.oasis-open.org/ws-sx/ws-trust/200512"
		sc    = "http://docs.oasis-open.org/ws-sx/ws-secureconversation/200512"
	)
	id := "urn:uuid:8b7d4c2e-1f3a-4e59-b6c0-2d9e8f7a6b51"
	tests := []struct {
		name  string
		build func() (*RST, error)
		want  string
	}{
		{"issue 1.3", func() (*RST, error) { return BuildIssue(Params{Version: V1_3, Rand: zeros{}}) },
			`<trust:RequestSecurityToken ` + trust + `><trust:TokenType>` + sc + `/sct</trust:TokenType><trust:RequestType>` + tr + `/Issue</trust:RequestType><trust:Entropy><trust:BinarySecret Type="` + tr + `/Nonce">` + zero32 + `</trust:BinarySecret></trust:Entropy><trust:KeySize>256</trust:KeySize></trust:RequestSecurityToken>`},
		{"issue 1.3 with ComputedKeyAlgorithm", func() (*RST, error) {
			return BuildIssue(Params{Version: V1_3, Rand: zeros{}, ComputedKeyAlgorithm: true})
		},
			`<trust:RequestSecurityToken ` + trust + `><trust:TokenType>` + sc + `/sct</trust:TokenType><trust:RequestType>` + tr + `/Issue</trust:RequestType><trust:Entropy><trust:BinarySecret Type="` + tr + `/Nonce">` + zero32 + `</trust:BinarySecret></trust:Entropy><trust:KeySize>256</trust:KeySize><trust:ComputedKeyAlgorithm>` + tr + `/CK/PSHA1</trust:ComputedKeyAlgorithm></trust:RequestSecurityToken>`},
		{"issue server entropy", func() (*RST, error) { return BuildIssue(Params{Version: V1_3, Mode: ServerEntropy, KeySize: 128}) },
			`<trust:RequestSecurityToken ` + trust + `><trust:TokenType>` + sc + `/sct</trust:TokenType><trust:RequestType>` + tr + `/Issue</trust:RequestType><trust:KeySize>128</trust:KeySize></trust:RequestSecurityToken>`},
		{"renew 1.3", func() (*RST, error) {
			return BuildRenew(Params{Version: V1_3, Rand: zeros{}}, ContextRef{Identifier: id})
		},
			`<trust:RequestSecurityToken ` + trust + `><trust:TokenType>` + sc + `/sct</trust:TokenType><trust:RequestType>` + tr + `/Renew</trust:RequestType><trust:Entropy><trust:BinarySecret Type="` + tr + `/Nonce">` + zero32 + `</trust:BinarySecret></trust:Entropy><trust:KeySize>256</trust:KeySize><trust:RenewTarget><o:SecurityTokenReference ` + wsse + `><o:Reference URI="` + id + `" ValueType="` + sc + `/sct"/></o:SecurityTokenReference></trust:RenewTarget></trust:RequestSecurityToken>`},
		{"renew 1.3 with instance and ComputedKeyAlgorithm after the target", func() (*RST, error) {
			return BuildRenew(Params{Version: V1_3, Rand: zeros{}, KeySize: 128, ComputedKeyAlgorithm: true}, ContextRef{Identifier: id, Instance: "urn:i"})
		},
			`<trust:RequestSecurityToken ` + trust + `><trust:TokenType>` + sc + `/sct</trust:TokenType><trust:RequestType>` + tr + `/Renew</trust:RequestType><trust:Entropy><trust:BinarySecret Type="` + tr + `/Nonce">AAAAAAAAAAAAAAAAAAAAAA==</trust:BinarySecret></trust:Entropy><trust:KeySize>128</trust:KeySize><trust:RenewTarget><o:SecurityTokenReference ` + wsse + `><o:Reference URI="` + id + `" ValueType="` + sc + `/sct" xmlns:sc="` + sc + `" sc:Instance="urn:i"/></o:SecurityTokenReference></trust:RenewTarget><trust:ComputedKeyAlgorithm>` + tr + `/CK/PSHA1</trust:ComputedKeyAlgorithm></trust:RequestSecurityToken>`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tc.build()
			if err != nil {
				t.Fatal(err)
			}
			if got := serialize(r.Element); got != tc.want {
				t.Errorf("\n got: %s\nwant: %s", got, tc.want)
			}
			again, _ := tc.build()
			if serialize(again.Element) != serialize(r.Element) {
				t.Error("two builds with the same inputs differ")
			}
		})
	}
}

// TestBuildCancelMatchesCoreWCF rebuilds the Cancel body of the CoreWCF
// capture: the bytes equal the capture's but for WCF's explicit end tag on
// the empty Reference, and the canonical forms are identical.
func TestBuildCancelMatchesCoreWCF(t *testing.T) {
	d := parse(t, readFile(t, vectors+"corewcf/cancel-request.xml"))
	want := payload(t, d)
	got, err := BuildCancel(Feb2005, ContextRef{Identifier: "urn:uuid:40859149-0ab7-4ee2-a7cc-22bc21adfe08"})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := d.Raw(want)
	exact := strings.Replace(string(raw), `"></o:Reference>`, `"/>`, 1)
	if serialize(got) != exact {
		t.Errorf("cancel body\n got: %s\nwant: %s", serialize(got), exact)
	}
	if g, w := canon(t, got), canon(t, want); g != w {
		t.Errorf("canonical cancel body differs\n got: %s\nwant: %s", g, w)
	}
}

// TestBuildCancel13 reads back the 1.3 Cancel by namespace.
func TestBuildCancel13(t *testing.T) {
	el, err := BuildCancel(V1_3, ContextRef{Identifier: "urn:x"})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := xmldoc.One(el, V1_3.tname("RequestType"))
	if err != nil || xmldoc.Text(rt) != V1_3.Trust()+"/Cancel" {
		t.Fatalf("RequestType = %v, %v", rt, err)
	}
	ct, err := xmldoc.One(el, V1_3.tname("CancelTarget"))
	if err != nil {
		t.Fatal(err)
	}
	str, err := wss.ParseSTR(ct.ChildElements()[0])
	if err != nil {
		t.Fatal(err)
	}
	if *str.Reference != (wss.Reference{URI: "urn:x", ValueType: V1_3.TokenType()}) {
		t.Errorf("cancel target = %+v", *str.Reference)
	}
	if n := len(el.ChildElements()); n != 2 {
		t.Errorf("cancel has %d children, want RequestType and CancelTarget only", n)
	}
}

func TestBuildModes(t *testing.T) {
	tests := []struct {
		mode        EntropyMode
		wantEntropy bool
	}{
		{CombinedEntropy, true},
		{ClientEntropy, true},
		{ServerEntropy, false},
	}
	for _, tc := range tests {
		t.Run(tc.mode.String(), func(t *testing.T) {
			r, err := BuildIssue(Params{Version: Feb2005, Mode: tc.mode, KeySize: 192, Rand: zeros{}, ComputedKeyAlgorithm: true})
			if err != nil {
				t.Fatal(err)
			}
			ent := xmldoc.Children(r.Element, Feb2005.tname("Entropy"))
			if (len(ent) == 1) != tc.wantEntropy || (r.ClientEntropy != nil) != tc.wantEntropy {
				t.Errorf("entropy elements %d, client entropy %x", len(ent), r.ClientEntropy)
			}
			if tc.wantEntropy && len(r.ClientEntropy) != 24 {
				t.Errorf("client entropy is %d bytes, want KeySize/8 = 24", len(r.ClientEntropy))
			}
			cka := xmldoc.Children(r.Element, Feb2005.tname("ComputedKeyAlgorithm"))
			if (len(cka) == 1) != (tc.mode == CombinedEntropy) {
				t.Errorf("ComputedKeyAlgorithm present = %v in %s mode", len(cka) == 1, tc.mode)
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name string
		p    Params
		op   Operation
		id   string
		want string
	}{
		{"no version", Params{Rand: zeros{}}, Issue, "", "no version"},
		{"key size not a multiple of 8", Params{Version: Feb2005, KeySize: 100, Rand: zeros{}}, Issue, "", "KeySize"},
		{"key size too small", Params{Version: Feb2005, KeySize: 64, Rand: zeros{}}, Issue, "", "KeySize"},
		{"no randomness", Params{Version: Feb2005}, Issue, "", "randomness"},
		{"short randomness", Params{Version: Feb2005, Rand: bytes.NewReader(make([]byte, 8))}, Issue, "", "entropy"},
		{"unknown mode", Params{Version: Feb2005, Mode: 7, Rand: zeros{}}, Issue, "", "entropy mode"},
		{"renew without identifier", Params{Version: Feb2005, Rand: zeros{}}, Renew, "", "identifier"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.op == Renew {
				_, err = BuildRenew(tc.p, ContextRef{Identifier: tc.id})
			} else {
				_, err = BuildIssue(tc.p)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := BuildIssue(Params{Version: Feb2005, Rand: bytes.NewReader(nil)}); !errors.Is(err, io.EOF) {
		t.Errorf("empty randomness: err = %v, want it wrapped", err)
	}
	var be *keys.BoundError
	if _, err := BuildIssue(Params{Version: Feb2005, KeySize: 2048, Rand: zeros{}}); !errors.As(err, &be) {
		t.Errorf("huge key size: err = %v, want a *keys.BoundError", err)
	}
	if _, err := BuildCancel(Feb2005, ContextRef{Instance: "urn:i"}); err == nil {
		t.Error("cancel without identifier accepted")
	}
	if _, err := BuildCancel(Version{}, ContextRef{Identifier: "urn:x"}); err == nil {
		t.Error("cancel without version accepted")
	}
}

// TestContextRef writes and reads the unattached reference of RenewTarget
// and CancelTarget, with the Instance attribute WCF needs once a context has
// been renewed.
func TestContextRef(t *testing.T) {
	const (
		wsse = `xmlns:o="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"`
		id   = "urn:uuid:8b7d4c2e-1f3a-4e59-b6c0-2d9e8f7a6b51"
		inst = "urn:uuid:0e4f6a8c-2b3d-4c5e-8f70-9a1b2c3d4e5f"
	)
	tests := []struct {
		name string
		v    Version
		ref  ContextRef
		want string
	}{
		{"feb without instance", Feb2005, ContextRef{Identifier: id},
			`<o:SecurityTokenReference ` + wsse + `><o:Reference URI="` + id + `" ValueType="http://schemas.xmlsoap.org/ws/2005/02/sc/sct"/></o:SecurityTokenReference>`},
		{"1.3 with instance", V1_3, ContextRef{Identifier: id, Instance: inst},
			`<o:SecurityTokenReference ` + wsse + `><o:Reference URI="` + id + `" ValueType="http://docs.oasis-open.org/ws-sx/ws-secureconversation/200512/sct" xmlns:sc="http://docs.oasis-open.org/ws-sx/ws-secureconversation/200512" sc:Instance="` + inst + `"/></o:SecurityTokenReference>`},
		{"feb with instance", Feb2005, ContextRef{Identifier: id, Instance: inst},
			`<o:SecurityTokenReference ` + wsse + `><o:Reference URI="` + id + `" ValueType="http://schemas.xmlsoap.org/ws/2005/02/sc/sct" xmlns:c="http://schemas.xmlsoap.org/ws/2005/02/sc" c:Instance="` + inst + `"/></o:SecurityTokenReference>`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			el := tc.v.ContextSTR(tc.ref)
			got := serialize(el)
			if got != tc.want {
				t.Fatalf("\n got: %s\nwant: %s", got, tc.want)
			}
			back, err := tc.v.ParseContextRef(parse(t, []byte(got)).Root())
			if err != nil || back != tc.ref {
				t.Errorf("read back %+v, %v; want %+v", back, err, tc.ref)
			}
			other := V1_3
			if tc.v == V1_3 {
				other = Feb2005
			}
			if _, err := other.ParseContextRef(parse(t, []byte(got)).Root()); err == nil {
				t.Errorf("reference of version %v accepted as %v", tc.v, other)
			}
		})
	}
}

// TestRenewTargetAfterRenewal builds the Renew of a context that has an
// Instance, read from the 1.3 fixture's token.
func TestRenewTargetAfterRenewal(t *testing.T) {
	r, _, err := loadResponse(t, "testdata/renew-response-1.3-cookie.xml", V1_3)
	if err != nil {
		t.Fatal(err)
	}
	rst, err := BuildRenew(Params{Version: V1_3, Rand: zeros{}}, r.Token.Ref())
	if err != nil {
		t.Fatal(err)
	}
	d := parse(t, xmldoc.Serialize(rst.Element))
	rt, err := xmldoc.One(d.Root(), V1_3.tname("RenewTarget"))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := V1_3.ParseContextRef(rt.ChildElements()[0])
	if err != nil {
		t.Fatal(err)
	}
	if ref.Identifier != r.Token.Identifier || ref.Instance != r.Token.Instance || ref.Instance == "" {
		t.Errorf("renew target = %+v, want the token's identifier and instance", ref)
	}
}

func TestParseContextRefNegative(t *testing.T) {
	const wsse = `xmlns:o="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"`
	str := func(inner string) string {
		return `<o:SecurityTokenReference ` + wsse + `>` + inner + `</o:SecurityTokenReference>`
	}
	tests := []struct {
		name, xml, want string
	}{
		{"local reference", str(`<o:Reference URI="#sct-1"/>`), "points into the message"},
		{"key identifier", str(`<o:KeyIdentifier ValueType="urn:x">AAAA</o:KeyIdentifier>`), "not a direct Reference"},
		{"other token type", str(`<o:Reference URI="urn:x" ValueType="urn:other"/>`), "ValueType"},
		{"no URI", str(`<o:Reference/>`), "URI"},
		{"not an STR", `<o:Reference ` + wsse + ` URI="urn:x"/>`, "expected"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Feb2005.ParseContextRef(parse(t, []byte(tc.xml)).Root())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}
