package wssc

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/keys"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// seqBytes returns n bytes counting up from start, the fixtures' entropy.
func seqBytes(start, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(start + i)
	}
	return b
}

// parseFragment parses a standalone payload as a ParseRequest input.
func parseFragment(t *testing.T, src string) *etree.Element {
	t.Helper()
	return parse(t, []byte(src)).Root()
}

// TestParseRequestCoreWCF reads the RSTs a WCF client sent CoreWCF.
func TestParseRequestCoreWCF(t *testing.T) {
	issue := payload(t, parse(t, readFile(t, vectors+"corewcf/issue-request.pretty.xml")))
	r, err := ParseRequest(issue, Feb2005)
	if err != nil {
		t.Fatal(err)
	}
	if r.Operation != Issue || r.TokenType != Feb2005.TokenType() || r.KeySize != 256 || r.Target != (ContextRef{}) {
		t.Errorf("issue request = %+v", r)
	}
	if !bytes.Equal(r.ClientEntropy, b64(t, coreClientEntropy)) {
		t.Errorf("client entropy %x, want the vector's", r.ClientEntropy)
	}

	cancel := payload(t, parse(t, readFile(t, vectors+"corewcf/cancel-request.xml")))
	r, err = ParseRequest(cancel, Feb2005)
	if err != nil {
		t.Fatal(err)
	}
	want := ContextRef{Identifier: "urn:uuid:40859149-0ab7-4ee2-a7cc-22bc21adfe08"}
	if r.Operation != Cancel || r.Target != want || r.TokenType != "" || r.ClientEntropy != nil || r.KeySize != 0 {
		t.Errorf("cancel request = %+v, want Cancel of %+v and nothing else", r, want)
	}
	if err := r.Expect(Cancel); err != nil {
		t.Error(err)
	}
	if err := r.Expect(Issue); err == nil {
		t.Error("a Cancel request passed as Issue")
	}
	if _, err := ParseRequest(cancel, V1_3); !isNamespaceError(err) {
		t.Errorf("February 2005 request read as 1.3: %v", err)
	}
}

// TestParseRequestBuilt reads what the client builders write, every
// operation, version and entropy mode: the issuer must see exactly what
// the requestor put in.
func TestParseRequestBuilt(t *testing.T) {
	for _, v := range Versions {
		for _, mode := range []EntropyMode{CombinedEntropy, ClientEntropy, ServerEntropy} {
			for _, op := range []Operation{Issue, Renew} {
				t.Run(fmt.Sprintf("%s/%s/%s", v, mode, op), func(t *testing.T) {
					p := Params{Version: v, Mode: mode, KeySize: 192, Rand: bytes.NewReader(seqBytes(1, 64))}
					target := ContextRef{Identifier: "urn:uuid:ctx", Instance: "urn:uuid:inst"}
					var rst *RST
					var err error
					if op == Issue {
						rst, err = BuildIssue(p)
					} else {
						rst, err = BuildRenew(p, target)
					}
					if err != nil {
						t.Fatal(err)
					}
					r, err := ParseRequest(parseFragment(t, serialize(rst.Element)), v)
					if err != nil {
						t.Fatal(err)
					}
					if r.Operation != op || r.KeySize != 192 || !bytes.Equal(r.ClientEntropy, rst.ClientEntropy) {
						t.Errorf("parsed %+v from %s", r, serialize(rst.Element))
					}
					if (op == Renew) != (r.Target == target) {
						t.Errorf("target %+v for %s", r.Target, op)
					}
				})
			}
		}
		t.Run(v.String()+"/Cancel", func(t *testing.T) {
			el, err := BuildCancel(v, ContextRef{Identifier: "urn:uuid:ctx"})
			if err != nil {
				t.Fatal(err)
			}
			r, err := ParseRequest(parseFragment(t, serialize(el)), v)
			if err != nil || r.Operation != Cancel || r.Target.Identifier != "urn:uuid:ctx" {
				t.Errorf("cancel parsed as %+v, %v", r, err)
			}
		})
	}
}

// TestParseRequestNegative changes one thing at a time in a valid 1.3
// Issue request (or a Renew/Cancel one for the targets).
func TestParseRequestNegative(t *testing.T) {
	const (
		tr    = "http://docs.oasis-open.org/ws-sx/ws-trust/200512"
		sc    = "http://docs.oasis-open.org/ws-sx/ws-secureconversation/200512"
		o     = `xmlns:o="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"`
		open  = `<trust:RequestSecurityToken xmlns:trust="` + tr + `">`
		close = `</trust:RequestSecurityToken>`
		tt    = `<trust:TokenType>` + sc + `/sct</trust:TokenType>`
		issue = `<trust:RequestType>` + tr + `/Issue</trust:RequestType>`
		ent   = `<trust:Entropy><trust:BinarySecret Type="` + tr + `/Nonce">` + zero32 + `</trust:BinarySecret></trust:Entropy>`
		ks    = `<trust:KeySize>256</trust:KeySize>`
		ref   = `<o:SecurityTokenReference ` + o + `><o:Reference URI="urn:uuid:ctx" ValueType="` + sc + `/sct"/></o:SecurityTokenReference>`
	)
	valid := open + tt + issue + ent + ks + close
	if _, err := ParseRequest(parseFragment(t, valid), V1_3); err != nil {
		t.Fatalf("base request refused: %v", err)
	}
	renew := func(target string) string {
		return open + tt + `<trust:RequestType>` + tr + `/Renew</trust:RequestType>` + ent + target + close
	}
	cancel := func(target string) string {
		return open + `<trust:RequestType>` + tr + `/Cancel</trust:RequestType>` + target + close
	}
	tests := []struct {
		name string
		src  string
		is   func(error) bool
	}{
		{"not an RST", `<trust:RequestSecurityTokenResponse xmlns:trust="` + tr + `"/>`, contains("expected a RequestSecurityToken")},
		{"RST in February 2005", strings.ReplaceAll(valid, `xmlns:trust="`+tr+`"`, `xmlns:trust="http://schemas.xmlsoap.org/ws/2005/02/trust"`), isNamespaceError},
		{"child in foreign namespace", open + tt + issue + `<x:KeySize xmlns:x="http://schemas.xmlsoap.org/ws/2005/02/trust">256</x:KeySize>` + close, isNamespaceError},
		{"no RequestType", open + tt + ent + close, contains("no RequestType")},
		{"two RequestTypes", open + issue + issue + close, isDuplicate},
		{"unknown RequestType", open + `<trust:RequestType>` + tr + `/Validate</trust:RequestType>` + close, contains("unsupported RequestType")},
		{"February 2005 RequestType", open + `<trust:RequestType>http://schemas.xmlsoap.org/ws/2005/02/trust/Issue</trust:RequestType>` + close, isNamespaceError},
		{"other token type", open + `<trust:TokenType>urn:oasis:names:tc:SAML:2.0:assertion</trust:TokenType>` + issue + close, contains("token type")},
		{"February 2005 token type", open + `<trust:TokenType>http://schemas.xmlsoap.org/ws/2005/02/sc/sct</trust:TokenType>` + issue + close, contains("token type")},
		{"two BinarySecrets", open + issue + `<trust:Entropy><trust:BinarySecret>` + zero32 + `</trust:BinarySecret><trust:BinarySecret>` + zero32 + `</trust:BinarySecret></trust:Entropy>` + close, contains("exactly one")},
		{"encrypted entropy", open + issue + `<trust:Entropy><xenc:EncryptedKey xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"/></trust:Entropy>` + close, contains("exactly one")},
		{"entropy of type key", open + issue + `<trust:Entropy><trust:BinarySecret Type="` + tr + `/SymmetricKey">` + zero32 + `</trust:BinarySecret></trust:Entropy>` + close, contains("Type")},
		{"entropy not base64", open + issue + `<trust:Entropy><trust:BinarySecret>!!</trust:BinarySecret></trust:Entropy>` + close, contains("base64")},
		{"entropy empty", open + issue + `<trust:Entropy><trust:BinarySecret/></trust:Entropy>` + close, contains("empty")},
		{"entropy too short", open + issue + `<trust:Entropy><trust:BinarySecret>AAAA</trust:BinarySecret></trust:Entropy>` + close, contains("bits is outside")},
		{"KeySize not a number", open + issue + `<trust:KeySize>lots</trust:KeySize>` + close, contains("not a number")},
		{"KeySize with sign", open + issue + `<trust:KeySize>+256</trust:KeySize>` + close, contains("not a number")},
		{"KeySize too small", open + issue + `<trust:KeySize>64</trust:KeySize>` + close, isBound},
		{"KeySize too large", open + issue + `<trust:KeySize>1048576</trust:KeySize>` + close, isBound},
		{"KeySize not bytes", open + issue + `<trust:KeySize>250</trust:KeySize>` + close, isBound},
		{"two KeySizes", open + issue + ks + ks + close, isDuplicate},
		{"other computed key", open + issue + `<trust:ComputedKeyAlgorithm>urn:other</trust:ComputedKeyAlgorithm>` + close, isUnsupportedProof},
		{"Issue with a RenewTarget", open + issue + `<trust:RenewTarget>` + ref + `</trust:RenewTarget>` + close, contains("Issue request carries a RenewTarget")},
		{"Renew without target", renew(""), contains("no RenewTarget")},
		{"Renew with CancelTarget", renew(`<trust:CancelTarget>` + ref + `</trust:CancelTarget>`), contains("no RenewTarget")},
		{"Renew with both targets", renew(`<trust:RenewTarget>` + ref + `</trust:RenewTarget><trust:CancelTarget>` + ref + `</trust:CancelTarget>`), contains("carries a CancelTarget")},
		{"Renew target empty", renew(`<trust:RenewTarget/>`), isNotFound},
		{"Renew target two references", renew(`<trust:RenewTarget>` + ref + ref + `</trust:RenewTarget>`), isDuplicate},
		{"Renew target extra element", renew(`<trust:RenewTarget>` + ref + `<x xmlns="urn:x"/></trust:RenewTarget>`), contains("holds 2 elements")},
		{"Renew target local", renew(`<trust:RenewTarget><o:SecurityTokenReference ` + o + `><o:Reference URI="#sct-1"/></o:SecurityTokenReference></trust:RenewTarget>`), contains("points into the message")},
		{"Renew target other ValueType", renew(`<trust:RenewTarget><o:SecurityTokenReference ` + o + `><o:Reference URI="urn:uuid:ctx" ValueType="http://schemas.xmlsoap.org/ws/2005/02/sc/sct"/></o:SecurityTokenReference></trust:RenewTarget>`), contains("ValueType")},
		{"Cancel without target", cancel(""), contains("no CancelTarget")},
		{"Cancel target key identifier", cancel(`<trust:CancelTarget><o:SecurityTokenReference ` + o + `><o:KeyIdentifier>AAAA</o:KeyIdentifier></o:SecurityTokenReference></trust:CancelTarget>`), contains("not a direct Reference")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseRequest(parseFragment(t, tc.src), V1_3)
			if !tc.is(err) {
				t.Errorf("got %+v, %v", r, err)
			}
		})
	}
	if _, err := ParseRequest(parseFragment(t, valid), Version{}); err == nil {
		t.Error("zero version accepted")
	}
}

// TestNewProof checks each entropy mode's key against its definition, and
// the combined key against the CoreWCF vector.
func TestNewProof(t *testing.T) {
	client := b64(t, coreClientEntropy)
	server := b64(t, coreServerEntropy)
	req := &Request{Version: Feb2005, Operation: Issue, ClientEntropy: client, KeySize: 256}

	p, err := NewProof(req, CombinedEntropy, bytes.NewReader(server))
	if err != nil {
		t.Fatal(err)
	}
	if p.Kind != ComputedKey || !bytes.Equal(p.Key, b64(t, coreSCTKey)) || !bytes.Equal(p.ServerEntropy, server) {
		t.Errorf("combined proof = %+v, want the CoreWCF key", p)
	}

	p, err = NewProof(req, ClientEntropy, nil)
	if err != nil || p.Kind != NoProof || !bytes.Equal(p.Key, client) || p.ServerEntropy != nil {
		t.Errorf("client proof = %+v, %v", p, err)
	}
	p.Key[0] ^= 1
	if req.ClientEntropy[0] != client[0] {
		t.Error("client proof key aliases the request")
	}

	small := &Request{Version: V1_3, KeySize: 128, ClientEntropy: client}
	p, err = NewProof(small, ServerEntropy, bytes.NewReader(seqBytes(7, 64)))
	if err != nil || p.Kind != BinarySecretProof || !bytes.Equal(p.Key, seqBytes(7, 16)) || p.ServerEntropy != nil {
		t.Errorf("server proof = %+v, %v; want 16 bytes from rand", p, err)
	}
	p, err = NewProof(&Request{Version: V1_3}, ServerEntropy, bytes.NewReader(seqBytes(0, 64)))
	if err != nil || len(p.Key) != DefaultKeySize/8 {
		t.Errorf("default key size: %+v, %v", p, err)
	}

	bad := []struct {
		name string
		req  *Request
		mode EntropyMode
		rand *bytes.Reader
		is   func(error) bool
	}{
		{"combined without client entropy", &Request{Version: V1_3}, CombinedEntropy, bytes.NewReader(server), func(err error) bool { return errors.Is(err, ErrNoClientEntropy) }},
		{"client without client entropy", &Request{Version: V1_3}, ClientEntropy, nil, func(err error) bool { return errors.Is(err, ErrNoClientEntropy) }},
		{"combined without rand", req, CombinedEntropy, nil, contains("no randomness")},
		{"rand runs dry", req, CombinedEntropy, bytes.NewReader([]byte{1, 2}), contains("key material")},
		{"unknown mode", req, EntropyMode(9), bytes.NewReader(server), contains("unknown entropy mode")},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.rand == nil {
				_, err = NewProof(tc.req, tc.mode, nil)
			} else {
				_, err = NewProof(tc.req, tc.mode, tc.rand)
			}
			if !tc.is(err) {
				t.Errorf("err = %v", err)
			}
		})
	}
}

// TestBuildResponseMatchesCoreWCF rebuilds CoreWCF's Issue reply from its
// values: the canonical forms must be identical.
func TestBuildResponseMatchesCoreWCF(t *testing.T) {
	d := parse(t, readFile(t, vectors+"corewcf/issue-response.pretty.xml"))
	want := payload(t, d)
	stripSpace(want)
	g := Grant{
		Version: Feb2005,
		Token: Token{
			ID:         "uuid-e07815b0-d900-49c8-8ec6-a8ee018263c9-1",
			Identifier: "urn:uuid:40859149-0ab7-4ee2-a7cc-22bc21adfe08",
		},
		Proof:     &Proof{Kind: ComputedKey, Key: b64(t, coreSCTKey), ServerEntropy: b64(t, coreServerEntropy)},
		EntropyID: "uuid-e07815b0-d900-49c8-8ec6-a8ee018263c9-2",
		Lifetime: Lifetime{
			Created: time.Date(2024, 2, 14, 2, 6, 53, 311e6, time.UTC),
			Expires: time.Date(2024, 2, 14, 17, 6, 53, 311e6, time.UTC),
		},
	}
	got, err := BuildResponse(g)
	if err != nil {
		t.Fatal(err)
	}
	if c, w := canon(t, got), canon(t, want); c != w {
		t.Errorf("canonical RSTR differs\n got: %s\nwant: %s", c, w)
	}
}

// TestBuildResponseMatchesRenew13 rebuilds the 1.3 Renew reply fixture
// (collection, Instance, cookie).
func TestBuildResponseMatchesRenew13(t *testing.T) {
	d := parse(t, readFile(t, "testdata/renew-response-1.3-cookie.xml"))
	want := payload(t, d)
	stripSpace(want)
	server := seqBytes(200, 32)
	key, err := keys.Combined(seqBytes(100, 32), server, 256)
	if err != nil {
		t.Fatal(err)
	}
	g := Grant{
		Version: V1_3,
		Token: Token{
			ID:         "uuid-3f2a9c41-7b6e-4d20-8e15-94c0a7d3b2e1-1",
			Identifier: "urn:uuid:8b7d4c2e-1f3a-4e59-b6c0-2d9e8f7a6b51",
			Instance:   "urn:uuid:0e4f6a8c-2b3d-4c5e-8f70-9a1b2c3d4e5f",
			Cookie:     b64(t, "AQAAANCMnd8BFdERjHoAwE/Cl+sBAAAAc2Nwcm94eSB0ZXN0IGNvb2tpZSwgbm90IGEgcmVhbCBEUEFQSSBibG9i"),
		},
		Proof:     &Proof{Kind: ComputedKey, Key: key, ServerEntropy: server},
		EntropyID: "uuid-3f2a9c41-7b6e-4d20-8e15-94c0a7d3b2e1-2",
		Lifetime: Lifetime{
			Created: time.Date(2024, 3, 1, 9, 30, 0, 125e6, time.UTC),
			Expires: time.Date(2024, 3, 2, 0, 30, 0, 125e6, time.UTC),
		},
		KeySize: 256,
	}
	got, err := BuildResponse(g)
	if err != nil {
		t.Fatal(err)
	}
	if c, w := canon(t, got), canon(t, want); c != w {
		t.Errorf("canonical RSTRC differs\n got: %s\nwant: %s", c, w)
	}
}

// TestCancelResponseMatchesCoreWCF rebuilds CoreWCF's Cancel reply.
func TestCancelResponseMatchesCoreWCF(t *testing.T) {
	d := parse(t, readFile(t, vectors+"corewcf/cancel-response.pretty.xml"))
	want := payload(t, d)
	stripSpace(want)
	got, err := BuildCancelResponse(Feb2005)
	if err != nil {
		t.Fatal(err)
	}
	if c, w := canon(t, got), canon(t, want); c != w {
		t.Errorf("canonical cancel RSTR differs\n got: %s\nwant: %s", c, w)
	}
	if _, err := BuildCancelResponse(Version{}); err == nil {
		t.Error("zero version accepted")
	}
}

// wrapBody puts payload in a SOAP 1.2 Body, as a reply would carry it.
func wrapBody(payload *etree.Element) []byte {
	return []byte(`<s:Envelope xmlns:s="` + nsSOAP12 + `"><s:Body>` + serialize(payload) + `</s:Body></s:Envelope>`)
}

// TestIssuerRoundTrip has the client parser read every reply the issuer
// writes, for both versions, every entropy mode, Issue and Renew, with and
// without a cookie: the requestor must end up with the issuer's key and
// token.
func TestIssuerRoundTrip(t *testing.T) {
	created := time.Date(2025, 1, 2, 3, 4, 5, 6e6, time.UTC)
	for _, v := range Versions {
		for _, mode := range []EntropyMode{CombinedEntropy, ClientEntropy, ServerEntropy} {
			for _, renew := range []bool{false, true} {
				name := fmt.Sprintf("%s/%s/renew=%t", v, mode, renew)
				t.Run(name, func(t *testing.T) {
					rst, err := BuildIssue(Params{Version: v, Mode: mode, Rand: bytes.NewReader(seqBytes(1, 32))})
					if err != nil {
						t.Fatal(err)
					}
					req, err := ParseRequest(parseFragment(t, serialize(rst.Element)), v)
					if err != nil {
						t.Fatal(err)
					}
					proof, err := NewProof(req, mode, bytes.NewReader(seqBytes(50, 32)))
					if err != nil {
						t.Fatal(err)
					}
					tok := Token{ID: "uuid-x-1", Identifier: "urn:uuid:ctx"}
					if renew {
						tok.Instance, tok.Cookie = "urn:uuid:inst", []byte("sealed")
					}
					out, err := BuildResponse(Grant{Version: v, Token: tok, Proof: proof, Lifetime: Lifetime{Created: created, Expires: created.Add(time.Hour)}})
					if err != nil {
						t.Fatal(err)
					}
					d := parse(t, wrapBody(out))
					resp, err := ParseResponse(d, payload(t, d), v)
					if err != nil {
						t.Fatalf("client refused the reply: %v\n%s", err, serialize(out))
					}
					if err := resp.Expect(Issue); err != nil {
						t.Fatal(err)
					}
					key, err := resp.Key(rst.ClientEntropy)
					if err != nil || !bytes.Equal(key, proof.Key) {
						t.Errorf("client key %x (%v), issuer key %x", key, err, proof.Key)
					}
					got := resp.Token
					if got.ID != tok.ID || got.Identifier != tok.Identifier || got.Instance != tok.Instance || got.Cookie != renew {
						t.Errorf("client token %+v, issued %+v", got, tok)
					}
					if !resp.Lifetime.Created.Equal(created) || resp.KeySize != len(proof.Key)*8 {
						t.Errorf("lifetime %v, key size %d", resp.Lifetime, resp.KeySize)
					}
					unatt, err := v.ParseContextRef(findSTR(t, out, "RequestedUnattachedReference"))
					if err != nil || unatt != got.Ref() {
						t.Errorf("unattached reference %+v (%v), want %+v", unatt, err, got.Ref())
					}
					if resp.Attached == nil || resp.Attached.Reference.URI != "#"+tok.ID {
						t.Errorf("attached reference %+v", resp.Attached)
					}
				})
			}
		}
	}
}

// findSTR returns the SecurityTokenReference inside the RSTR child local.
func findSTR(t *testing.T, root *etree.Element, local string) *etree.Element {
	t.Helper()
	var found *etree.Element
	xmldoc.Walk(root, func(el *etree.Element) {
		if el.Tag == local {
			found, _ = xmldoc.One(el, wss.NameSecurityTokenReference)
		}
	})
	if found == nil {
		t.Fatalf("no %s", local)
	}
	return found
}

func TestBuildResponseErrors(t *testing.T) {
	proof := &Proof{Kind: ComputedKey, Key: seqBytes(0, 32), ServerEntropy: seqBytes(0, 32)}
	tok := Token{Identifier: "urn:uuid:x"}
	tests := []struct {
		name string
		g    Grant
		want string
	}{
		{"no version", Grant{Token: tok, Proof: proof}, "no version"},
		{"no identifier", Grant{Version: V1_3, Proof: proof}, "no Identifier"},
		{"no proof", Grant{Version: V1_3, Token: tok}, "no proof key"},
		{"computed without entropy", Grant{Version: V1_3, Token: tok, Proof: &Proof{Kind: ComputedKey, Key: seqBytes(0, 32)}}, "server entropy"},
		{"odd key size", Grant{Version: V1_3, Token: tok, Proof: proof, KeySize: 12}, "KeySize"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := BuildResponse(tc.g); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
	// Without a wsu:Id there is nothing to attach a reference to.
	out, err := BuildResponse(Grant{Version: Feb2005, Token: tok, Proof: proof})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(serialize(out), "RequestedAttachedReference") || strings.Contains(serialize(out), "Lifetime") {
		t.Errorf("reply without Id or lifetime: %s", serialize(out))
	}
}
