package wssc

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/scproxy/scproxy/wire/keys"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// TestCoreWCFIssueResponse reads WCF's February 2005 Issue reply and
// recomputes the published session key from it.
func TestCoreWCFIssueResponse(t *testing.T) {
	r, src, err := loadResponse(t, vectors+"corewcf/issue-response.pretty.xml", Feb2005)
	if err != nil {
		t.Fatal(err)
	}
	sct := r.Token
	if sct == nil {
		t.Fatal("no token")
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Identifier", sct.Identifier, "urn:uuid:40859149-0ab7-4ee2-a7cc-22bc21adfe08"},
		{"wsu:Id", sct.ID, "uuid-e07815b0-d900-49c8-8ec6-a8ee018263c9-1"},
		{"Instance", sct.Instance, ""},
		{"Cookie", sct.Cookie, false},
		{"TokenType", r.TokenType, "http://schemas.xmlsoap.org/ws/2005/02/sc/sct"},
		{"Proof", r.Proof, ComputedKey},
		{"ServerEntropy", string(r.ServerEntropy), string(b64(t, coreServerEntropy))},
		{"Created", r.Lifetime.Created, time.Date(2024, 2, 14, 2, 6, 53, 311e6, time.UTC)},
		{"Expires", r.Lifetime.Expires, time.Date(2024, 2, 14, 17, 6, 53, 311e6, time.UTC)},
		{"KeySize", r.KeySize, 256},
		{"Cancelled", r.Cancelled, false},
		{"attached URI", r.Attached.Reference.URI, "#uuid-e07815b0-d900-49c8-8ec6-a8ee018263c9-1"},
		{"attached local", r.Attached.Reference.Local(), true},
		{"attached ValueType", r.Attached.Reference.ValueType, Feb2005.TokenType()},
		{"unattached URI", r.Unattached.Reference.URI, sct.Identifier},
		{"unattached local", r.Unattached.Reference.Local(), false},
		{"attached refers to SCT", RefersTo(*r.Attached.Reference, sct), true},
		{"unattached refers to SCT", RefersTo(*r.Unattached.Reference, sct), true},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	key, err := r.Key(b64(t, coreClientEntropy))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(key, b64(t, coreSCTKey)) {
		t.Errorf("session key = %x, want the published SCT key", key)
	}
	checkFragment(t, sct, src, map[string]string{"u": nsWSUtest})
}

// checkFragment asserts that the SCT was kept exactly as received and that
// it stands alone once its borrowed bindings are added.
func checkFragment(t *testing.T, sct *SCT, src []byte, bindings map[string]string) {
	t.Helper()
	f := sct.Fragment
	if !bytes.Contains(src, f.Bytes) || !bytes.HasPrefix(f.Bytes, []byte("<")) || !bytes.HasSuffix(f.Bytes, []byte("SecurityContextToken>")) {
		t.Fatalf("fragment is not an element of the input: %q", f.Bytes)
	}
	if len(f.Bindings) != len(bindings) {
		t.Errorf("bindings = %v, want %v", f.Bindings, bindings)
	}
	for p, uri := range bindings {
		if f.Bindings[p] != uri {
			t.Errorf("binding %q = %q, want %q", p, f.Bindings[p], uri)
		}
	}
	el, err := f.Element()
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := wss.ID(el); id != sct.ID {
		t.Errorf("re-parsed fragment wsu:Id = %q, want %q", id, sct.ID)
	}
}

// TestRSTRC13Cookie reads a 1.3 collection with an Instance and a WCF
// cookie (a Renew reply: WCF gives a context an Instance when it renews
// it); the u prefix is borrowed from the RSTR.
func TestRSTRC13Cookie(t *testing.T) {
	r, src, err := loadResponse(t, "testdata/renew-response-1.3-cookie.xml", V1_3)
	if err != nil {
		t.Fatal(err)
	}
	sct := r.Token
	checks := []struct {
		name      string
		got, want any
	}{
		{"Identifier", sct.Identifier, "urn:uuid:8b7d4c2e-1f3a-4e59-b6c0-2d9e8f7a6b51"},
		{"Instance", sct.Instance, "urn:uuid:0e4f6a8c-2b3d-4c5e-8f70-9a1b2c3d4e5f"},
		{"Cookie", sct.Cookie, true},
		{"wsu:Id", sct.ID, "uuid-3f2a9c41-7b6e-4d20-8e15-94c0a7d3b2e1-1"},
		{"Proof", r.Proof, ComputedKey},
		{"KeySize", r.KeySize, 256},
		{"Created", r.Lifetime.Created, time.Date(2024, 3, 1, 9, 30, 0, 125e6, time.UTC)},
		{"attached refers", RefersTo(*r.Attached.Reference, sct), true},
		{"unattached refers", RefersTo(*r.Unattached.Reference, sct), true},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	client := b64(t, fixtureClientEntropy)
	key, err := r.Key(client)
	if err != nil {
		t.Fatal(err)
	}
	// The key is P_SHA1 with the client entropy as secret; the swapped order
	// is what WCF rejects.
	if want := keys.PSHA1(client, r.ServerEntropy, 0, 32); !bytes.Equal(key, want) {
		t.Errorf("key = %x, want %x", key, want)
	}
	if swapped := keys.PSHA1(r.ServerEntropy, client, 0, 32); bytes.Equal(key, swapped) {
		t.Error("key does not depend on the entropy order")
	}
	d := parse(t, src)
	unattached, _ := xmldoc.One(payload(t, d).ChildElements()[0], V1_3.tname("RequestedUnattachedReference"))
	if ref, err := V1_3.ParseContextRef(unattached.ChildElements()[0]); err != nil || ref != sct.Ref() {
		t.Errorf("unattached reference = %+v, %v; want the token's %+v", ref, err, sct.Ref())
	}
	checkFragment(t, sct, src, map[string]string{"u": nsWSUtest})
	if !bytes.Contains(sct.Fragment.Bytes, []byte("<dnse:Cookie")) {
		t.Error("fragment lost the cookie")
	}
}

func TestCancelResponse(t *testing.T) {
	r, _, err := loadResponse(t, vectors+"corewcf/cancel-response.pretty.xml", Feb2005)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Cancelled || r.Token != nil || r.Proof != NoProof {
		t.Errorf("cancel response = %+v, want Cancelled and nothing else", r)
	}
	if _, _, err := loadResponse(t, vectors+"corewcf/cancel-response.pretty.xml", V1_3); err == nil {
		t.Error("February 2005 cancel response accepted as 1.3")
	}
}

// TestResponseNegative mutates the CoreWCF Issue reply, one defect at a
// time.
func TestResponseNegative(t *testing.T) {
	valid := string(readFile(t, vectors+"corewcf/issue-response.pretty.xml"))
	const (
		feb       = "http://schemas.xmlsoap.org/ws/2005/02/trust"
		entropy   = `<t:Entropy>`
		entropyEl = "<t:Entropy>\n        <t:BinarySecret u:Id=\"uuid-e07815b0-d900-49c8-8ec6-a8ee018263c9-2\" Type=\"http://schemas.xmlsoap.org/ws/2005/02/trust/Nonce\">X10bPPRFJzVr13nwxYYVLpmd5Fsu6RR7jkF5xtCV/kM=</t:BinarySecret>\n      </t:Entropy>"
		proof     = "<t:ComputedKey>http://schemas.xmlsoap.org/ws/2005/02/trust/CK/PSHA1</t:ComputedKey>"
		rstrOpen  = `<t:RequestSecurityTokenResponse xmlns:t="http://schemas.xmlsoap.org/ws/2005/02/trust" xmlns:u="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">`
		rstrClose = `</t:RequestSecurityTokenResponse>`
	)
	if !strings.Contains(valid, entropyEl) {
		t.Fatal("vector changed: entropy element not found")
	}
	collection := func(n int) func(string) string {
		return func(s string) string {
			i, j := strings.Index(s, rstrOpen), strings.Index(s, rstrClose)+len(rstrClose)
			one := s[i:j]
			return s[:i] + `<t:RequestSecurityTokenResponseCollection xmlns:t="` + feb + `">` + strings.Repeat(one, n) + `</t:RequestSecurityTokenResponseCollection>` + s[j:]
		}
	}
	rs := func(old, new string) func(string) string {
		return func(s string) string {
			if !strings.Contains(s, old) {
				t.Fatalf("vector changed: %q not found", old)
			}
			return strings.Replace(s, old, new, 1)
		}
	}
	tests := []struct {
		name    string
		mutate  func(string) string
		version Version
		want    func(error) bool
		text    []string
	}{
		{"trust namespace of the other version", nil, V1_3, isNamespaceError, []string{feb, V1_3.Trust()}},
		{"child of the other version", rs("<t:KeySize>256</t:KeySize>", `<k:KeySize xmlns:k="`+V1_3.Trust()+`">256</k:KeySize>`), Feb2005, isNamespaceError, []string{"KeySize", V1_3.Trust()}},
		{"two RSTRs in a collection", collection(2), Feb2005, nil, []string{"2 responses"}},
		{"collection of one accepted in February 2005", collection(1), Feb2005, func(err error) bool { return err == nil }, nil},
		{"two RequestedSecurityToken", rs("<t:RequestedAttachedReference>", "<t:RequestedSecurityToken><c:SecurityContextToken xmlns:c=\"http://schemas.xmlsoap.org/ws/2005/02/sc\"><c:Identifier>urn:x</c:Identifier></c:SecurityContextToken></t:RequestedSecurityToken><t:RequestedAttachedReference>"), Feb2005, isDuplicate, nil},
		{"two tokens in RequestedSecurityToken", rs("</c:SecurityContextToken>", "</c:SecurityContextToken><c:SecurityContextToken xmlns:c=\"http://schemas.xmlsoap.org/ws/2005/02/sc\"/>"), Feb2005, nil, []string{"holds 2 elements"}},
		{"SCT of the other version", rs(`xmlns:c="http://schemas.xmlsoap.org/ws/2005/02/sc"`, `xmlns:c="`+V1_3.SC()+`"`), Feb2005, isNamespaceError, []string{V1_3.SC()}},
		{"SCT without Identifier", rs("<c:Identifier>urn:uuid:40859149-0ab7-4ee2-a7cc-22bc21adfe08</c:Identifier>", ""), Feb2005, nil, []string{"missing", "Identifier"}},
		{"two Identifiers", rs("</c:Identifier>", "</c:Identifier><c:Identifier>urn:evil</c:Identifier>"), Feb2005, isDuplicate, nil},
		{"unsupported proof token", rs(proof, `<xenc:EncryptedKey xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"/>`), Feb2005, isUnsupportedProof, []string{"EncryptedKey"}},
		{"computed key with another algorithm", rs("CK/PSHA1", "CK/HMAC"), Feb2005, isUnsupportedProof, []string{"CK/HMAC"}},
		{"computed key without server entropy", rs(entropyEl, ""), Feb2005, nil, []string{"no server entropy"}},
		{"key and server entropy together", rs(proof, "<t:BinarySecret>AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=</t:BinarySecret>"), Feb2005, nil, []string{"both a key and server entropy"}},
		{"absurd KeySize", rs("<t:KeySize>256</t:KeySize>", "<t:KeySize>99999999999999999999</t:KeySize>"), Feb2005, nil, []string{"KeySize", "not a number"}},
		{"KeySize not a multiple of 8", rs("<t:KeySize>256</t:KeySize>", "<t:KeySize>255</t:KeySize>"), Feb2005, isBound, nil},
		{"KeySize too large", rs("<t:KeySize>256</t:KeySize>", "<t:KeySize>65536</t:KeySize>"), Feb2005, isBound, nil},
		{"negative KeySize", rs("<t:KeySize>256</t:KeySize>", "<t:KeySize>-256</t:KeySize>"), Feb2005, isBound, nil},
		{"bad base64 entropy", rs("X10bPPRFJzVr13nwxYYVLpmd5Fsu6RR7jkF5xtCV/kM=", "X10b*PRFJzVr13nwxYYVLpmd5Fsu6RR7jkF5xtCV/kM="), Feb2005, nil, []string{"base64"}},
		{"entropy of the wrong Type", rs("trust/Nonce", "trust/SymmetricKey"), Feb2005, nil, []string{"Type"}},
		{"lifetime ends before it starts", rs("2024-02-14T17:06:53.311Z", "2024-02-13T17:06:53.311Z"), Feb2005, nil, []string{"before it starts"}},
		{"lifetime without time zone", rs("2024-02-14T17:06:53.311Z", "2024-02-14T17:06:53.311"), Feb2005, nil, []string{"time zone"}},
		{"token type of the other version", rs("<t:TokenType>http://schemas.xmlsoap.org/ws/2005/02/sc/sct", "<t:TokenType>"+V1_3.TokenType()), Feb2005, nil, []string{"token type"}},
		{"two entropies", rs(entropy, entropyEl+entropy), Feb2005, isDuplicate, nil},
		{"reference STR without URI", rs(`URI="urn:uuid:40859149-0ab7-4ee2-a7cc-22bc21adfe08"`, ""), Feb2005, nil, []string{"RequestedUnattachedReference", "URI"}},
		{"two Instances", rs("</c:Identifier>", "</c:Identifier><c:Instance>urn:a</c:Instance><c:Instance>urn:b</c:Instance>"), Feb2005, isDuplicate, nil},
		{"empty Identifier", rs("urn:uuid:40859149-0ab7-4ee2-a7cc-22bc21adfe08</c:Identifier>", " </c:Identifier>"), Feb2005, nil, []string{"empty", "Identifier"}},
		{"issued token is not an SCT", func(s string) string { return strings.ReplaceAll(s, "c:SecurityContextToken", "c:Other") }, Feb2005, nil, []string{"not a SecurityContextToken"}},
		{"two STRs in an attached reference", rs("</o:SecurityTokenReference>\n      </t:RequestedAttachedReference>", "</o:SecurityTokenReference><o:SecurityTokenReference xmlns:o=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd\"/></t:RequestedAttachedReference>"), Feb2005, isDuplicate, []string{"RequestedAttachedReference"}},
		{"two proof tokens inside one", rs(proof, proof+proof), Feb2005, nil, []string{"RequestedProofToken holds 2"}},
		{"empty server entropy", rs("X10bPPRFJzVr13nwxYYVLpmd5Fsu6RR7jkF5xtCV/kM=</t:BinarySecret>", "</t:BinarySecret>"), Feb2005, nil, []string{"empty BinarySecret"}},
		{"entropy that is not a BinarySecret", rs(entropyEl, "<t:Entropy><x:Other xmlns:x=\"urn:x\"/></t:Entropy>"), Feb2005, isNotFound, []string{"server entropy"}},
		{"two Created in Lifetime", rs("<u:Created>", "<u:Created>2024-02-14T02:06:53.311Z</u:Created><u:Created>"), Feb2005, isDuplicate, []string{"lifetime"}},
		{"RequestedTokenCancelled twice", rs("<t:KeySize>", "<t:RequestedTokenCancelled/><t:RequestedTokenCancelled/><t:KeySize>"), Feb2005, isDuplicate, nil},
		{"not an RSTR", rs(rstrOpen, `<t:RequestSecurityToken xmlns:t="`+feb+`" xmlns:u="`+nsWSUtest+`">`), Feb2005, nil, []string{"expected a RequestSecurityTokenResponse"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := valid
			if tc.mutate != nil {
				src = tc.mutate(src)
			}
			if tc.name == "not an RSTR" {
				src = strings.Replace(src, rstrClose, "</t:RequestSecurityToken>", 1)
			}
			d := parse(t, []byte(src))
			_, err := ParseResponse(d, payload(t, d), tc.version)
			t.Logf("err: %v", err)
			if tc.want != nil && !tc.want(err) {
				t.Fatalf("err = %v (%T)", err, err)
			}
			if tc.want == nil && err == nil {
				t.Fatal("accepted")
			}
			for _, s := range tc.text {
				if err == nil || !strings.Contains(err.Error(), s) {
					t.Errorf("error %v does not mention %q", err, s)
				}
			}
		})
	}
}

func isNamespaceError(err error) bool {
	var ne *NamespaceError
	return errors.As(err, &ne)
}

func isDuplicate(err error) bool {
	var de *xmldoc.DuplicateError
	return errors.As(err, &de)
}

func isUnsupportedProof(err error) bool {
	var ue *UnsupportedProofTokenError
	return errors.As(err, &ue)
}

func isBound(err error) bool {
	var be *keys.BoundError
	return errors.As(err, &be)
}

// TestKey covers the three entropy modes and their misuse.
func TestKey(t *testing.T) {
	client := bytes.Repeat([]byte{7}, 32)
	server := bytes.Repeat([]byte{9}, 32)
	secret := bytes.Repeat([]byte{5}, 16)
	tests := []struct {
		name   string
		r      Response
		client []byte
		want   []byte
		errs   string
	}{
		{"combined", Response{Proof: ComputedKey, ServerEntropy: server, KeySize: 256}, client, keys.PSHA1(client, server, 0, 32), ""},
		{"combined, KeySize absent means 256", Response{Proof: ComputedKey, ServerEntropy: server}, client, keys.PSHA1(client, server, 0, 32), ""},
		{"combined, 128 bits", Response{Proof: ComputedKey, ServerEntropy: server, KeySize: 128}, client, keys.PSHA1(client, server, 0, 16), ""},
		{"combined without client entropy", Response{Proof: ComputedKey, ServerEntropy: server}, nil, nil, "none was sent"},
		{"server only", Response{Proof: BinarySecretProof, ProofSecret: secret}, nil, secret, ""},
		{"server only, key too short", Response{Proof: BinarySecretProof, ProofSecret: secret[:8]}, nil, nil, "KeySize"},
		{"client only", Response{}, client, client, ""},
		{"client only without entropy", Response{}, nil, nil, "no client entropy"},
		{"server entropy without proof", Response{ServerEntropy: server}, client, nil, "no computed-key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.r.Key(tc.client)
			if tc.errs != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errs) {
					t.Fatalf("err = %v, want one mentioning %q", err, tc.errs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("key = %x, want %x", got, tc.want)
			}
		})
	}
}

// A computed key is as long as the response says or, when it says
// nothing, as the request asked: a 128-bit request answered without
// KeySize (as CXF answers it) gives a 128-bit key, not the default 256.
func TestKeyForUsesTheRequestedSize(t *testing.T) {
	client := bytes.Repeat([]byte{7}, 16)
	server := bytes.Repeat([]byte{9}, 16)
	rst := &RST{ClientEntropy: client, KeySize: 128}
	for _, tc := range []struct {
		name string
		r    Response
		want []byte
	}{
		{"size absent: the requested", Response{Proof: ComputedKey, ServerEntropy: server}, keys.PSHA1(client, server, 0, 16)},
		{"size stated: the response's", Response{Proof: ComputedKey, ServerEntropy: server, KeySize: 256}, keys.PSHA1(client, server, 0, 32)},
	} {
		got, err := tc.r.KeyFor(rst)
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("%s: key = %x, %v; want %x", tc.name, got, err, tc.want)
		}
	}
	if got, err := (&Response{Proof: ComputedKey, ServerEntropy: server}).KeyFor(&RST{ClientEntropy: client}); err != nil || len(got) != DefaultKeySize/8 {
		t.Errorf("nothing requested nor stated: %d bytes, %v; want %d", len(got), err, DefaultKeySize/8)
	}
}

// TestKeyIsACopy guards the proof secret against callers that zero the key.
func TestKeyIsACopy(t *testing.T) {
	r := Response{Proof: BinarySecretProof, ProofSecret: bytes.Repeat([]byte{5}, 32)}
	k, err := r.Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	k[0] = 0
	if r.ProofSecret[0] != 5 {
		t.Error("Key returned the response's own slice")
	}
}

// TestDefaultNamespaceResponse reads a reply written with default namespace
// declarations and no prefixes at all ([MS-LWSSP] §4.9): everything is found
// by namespace URI, and the token stands alone as received.
func TestDefaultNamespaceResponse(t *testing.T) {
	src := readFile(t, "testdata/lwssp-issue-response.xml")
	d := parse(t, src)
	r, err := ParseResponse(d, d.Root(), Feb2005)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Identifier", r.Token.Identifier, "urn:uuid:8a63487c-662b-40bf-b2df-f3b536062f5e"},
		{"wsu:Id", r.Token.ID, "_sct"},
		{"Proof", r.Proof, ComputedKey},
		{"KeySize", r.KeySize, 256},
		{"Created, 7 fractional digits", r.Lifetime.Created, time.Date(2008, 8, 15, 1, 48, 8, 318413200, time.UTC)},
		{"Expires", r.Lifetime.Expires, time.Date(2008, 8, 15, 16, 48, 8, 318413200, time.UTC)},
		{"attached refers", RefersTo(*r.Attached.Reference, r.Token), true},
		{"unattached refers", RefersTo(*r.Unattached.Reference, r.Token), true},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// The SCT declares its own default namespace and wsu prefix: nothing is
	// borrowed from the RSTR.
	checkFragment(t, r.Token, src, map[string]string{})
	if _, err := ParseResponse(d, d.Root(), V1_3); !isNamespaceError(err) {
		t.Errorf("February 2005 reply read as 1.3: %v", err)
	}
}

// TestExpect checks a parsed reply against the operation that was asked for.
func TestExpect(t *testing.T) {
	issue, _, err := loadResponse(t, vectors+"corewcf/issue-response.pretty.xml", Feb2005)
	if err != nil {
		t.Fatal(err)
	}
	cancel, _, err := loadResponse(t, vectors+"corewcf/cancel-response.pretty.xml", Feb2005)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		r    *Response
		op   Operation
		want string // "" for success
	}{
		{"issue reply to Issue", issue, Issue, ""},
		{"issue reply to Renew", issue, Renew, ""},
		{"issue reply to Cancel", issue, Cancel, "lacks RequestedTokenCancelled"},
		{"cancel reply to Cancel", cancel, Cancel, ""},
		{"cancel reply to Issue", cancel, Issue, "no security context token"},
		{"cancel reply to Renew", cancel, Renew, "no security context token"},
		{"token and cancellation", &Response{Token: issue.Token, Cancelled: true}, Renew, "RequestedTokenCancelled"},
		{"cancellation with a token", &Response{Token: issue.Token, Cancelled: true}, Cancel, "new token"},
		{"unknown operation", issue, Operation(7), "unknown operation"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.r.Expect(tc.op)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// TestServerEntropyResponse reads a reply that carries the key itself
// (server entropy mode): Key needs no client entropy and returns the key.
func TestServerEntropyResponse(t *testing.T) {
	const key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	src := `<t:RequestSecurityTokenResponse xmlns:t="http://schemas.xmlsoap.org/ws/2005/02/trust">` +
		`<t:TokenType>http://schemas.xmlsoap.org/ws/2005/02/sc/sct</t:TokenType>` +
		`<t:RequestedSecurityToken><c:SecurityContextToken xmlns:c="http://schemas.xmlsoap.org/ws/2005/02/sc"><c:Identifier>urn:x</c:Identifier></c:SecurityContextToken></t:RequestedSecurityToken>` +
		`<t:RequestedProofToken><t:BinarySecret Type="http://schemas.xmlsoap.org/ws/2005/02/trust/SymmetricKey">` + key + `</t:BinarySecret></t:RequestedProofToken>` +
		`</t:RequestSecurityTokenResponse>`
	d := parse(t, []byte(src))
	r, err := ParseResponse(d, d.Root(), Feb2005)
	if err != nil {
		t.Fatal(err)
	}
	if r.Proof != BinarySecretProof || r.KeySize != 0 || r.Expect(Issue) != nil {
		t.Fatalf("response = %+v", r)
	}
	got, err := r.Key(nil)
	if err != nil || !bytes.Equal(got, b64(t, key)) {
		t.Errorf("key = %x, %v; want the BinarySecret", got, err)
	}
	// A nonce is not a key: a proof BinarySecret must be a symmetric key.
	bad := strings.Replace(src, "trust/SymmetricKey", "trust/Nonce", 1)
	d = parse(t, []byte(bad))
	if _, err := ParseResponse(d, d.Root(), Feb2005); err == nil || !strings.Contains(err.Error(), "Type") {
		t.Errorf("proof BinarySecret of Type Nonce: %v", err)
	}
}

func TestParseSCTNeedsDocument(t *testing.T) {
	d := parse(t, []byte(`<c:SecurityContextToken xmlns:c="http://schemas.xmlsoap.org/ws/2005/02/sc"><c:Identifier>urn:x</c:Identifier></c:SecurityContextToken>`))
	if _, err := ParseSCT(nil, d.Root(), Feb2005); err == nil {
		t.Error("token parsed without its document")
	}
	unspanned, err := xmldoc.Parse([]byte(`<c:SecurityContextToken xmlns:c="http://schemas.xmlsoap.org/ws/2005/02/sc"><c:Identifier>urn:x</c:Identifier></c:SecurityContextToken>`), xmldoc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseSCT(unspanned, unspanned.Root(), Feb2005); err == nil || !strings.Contains(err.Error(), "KeepSpans") {
		t.Errorf("document without spans: %v", err)
	}
	const src = `<c:SecurityContextToken xmlns:c="http://schemas.xmlsoap.org/ws/2005/02/sc"><c:Identifier>urn:x</c:Identifier></c:SecurityContextToken>`
	sct, err := ParseSCT(d, d.Root(), Feb2005)
	if err != nil || string(sct.Fragment.Bytes) != src || len(sct.Fragment.Bindings) != 0 {
		t.Errorf("standalone token: %+v, %v", sct, err)
	}
}
