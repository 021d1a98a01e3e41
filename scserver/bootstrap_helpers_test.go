package scserver

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/keys"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// testPKI is the test kit's CA with client certificates: one it signed,
// the kit's untrusted one, one expired at testStart.
type testPKI struct {
	pool                   *x509.CertPool
	good, foreign, expired *x509.Certificate
	goodKey, foreignKey    *rsa.PrivateKey
}

var (
	pkiOnce sync.Once
	pki     *testPKI
)

// loadPKI builds the test PKI once per test binary.
func loadPKI(t *testing.T) *testPKI {
	t.Helper()
	pkiOnce.Do(func() {
		client, other := testkit.Client(), testkit.OtherClient()
		pki = &testPKI{pool: testkit.Pool(), good: client.Cert, goodKey: client.RSAKey(), foreign: other.Cert, foreignKey: other.RSAKey()}
		pki.expired = testkit.Issue(t, nil, &x509.Certificate{
			SerialNumber: big.NewInt(100), Subject: pkix.Name{CommonName: "expired client"},
			NotBefore: time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC),
			KeyUsage: x509.KeyUsageDigitalSignature,
		}, client.Key.Public())
	})
	return pki
}

// rstXML writes a RequestSecurityToken by hand. target is the inner XML
// of the RenewTarget or CancelTarget.
func rstXML(v wssc.Version, op wssc.Operation, entropy []byte, keySize int, target string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<t:RequestSecurityToken%s>`, nsDecl("t", v.Trust()))
	if op != wssc.Cancel {
		fmt.Fprintf(&b, `<t:TokenType>%s</t:TokenType>`, v.TokenType())
	}
	fmt.Fprintf(&b, `<t:RequestType>%s</t:RequestType>`, v.RequestType(op))
	if entropy != nil {
		fmt.Fprintf(&b, `<t:Entropy><t:BinarySecret Type="%s">%s</t:BinarySecret></t:Entropy>`, v.NonceType(), base64.StdEncoding.EncodeToString(entropy))
	}
	if keySize != 0 {
		fmt.Fprintf(&b, `<t:KeySize>%d</t:KeySize>`, keySize)
	}
	switch op {
	case wssc.Renew:
		b.WriteString(`<t:RenewTarget>` + target + `</t:RenewTarget>`)
	case wssc.Cancel:
		b.WriteString(`<t:CancelTarget>` + target + `</t:CancelTarget>`)
	}
	b.WriteString(`</t:RequestSecurityToken>`)
	return b.String()
}

// targetXML references a context by Identifier (and Instance).
func targetXML(v wssc.Version, identifier, instance string) string {
	inst := ""
	if instance != "" {
		inst = fmt.Sprintf(` c:Instance="%s"%s`, instance, nsDecl("c", v.SC()))
	}
	return fmt.Sprintf(`<o:SecurityTokenReference%s><o:Reference URI="%s" ValueType="%s"%s/></o:SecurityTokenReference>`, nsDecl("o", wss.NSWSSE), identifier, v.TokenType(), inst)
}

// usernameToken writes a UsernameToken with a text or digest password.
func usernameToken(user, password string, digest bool, created time.Time) string {
	if !digest {
		return fmt.Sprintf(`<o:UsernameToken u:Id="ut-1"><o:Username>%s</o:Username><o:Password Type="%s">%s</o:Password></o:UsernameToken>`, user, wss.PasswordText, password)
	}
	nonce := []byte("digest nonce 16b")
	c := wss.FormatTime(created)
	h := sha1.New()
	h.Write(nonce)
	h.Write([]byte(c))
	h.Write([]byte(password))
	return fmt.Sprintf(`<o:UsernameToken u:Id="ut-1"><o:Username>%s</o:Username><o:Password Type="%s">%s</o:Password><o:Nonce EncodingType="%s">%s</o:Nonce><u:Created>%s</u:Created></o:UsernameToken>`,
		user, wss.PasswordDigest, base64.StdEncoding.EncodeToString(h.Sum(nil)), wss.EncodingBase64Binary, base64.StdEncoding.EncodeToString(nonce), c)
}

// bootstrap is how an Issue request authenticates.
type bootstrap int

const (
	bootUsername bootstrap = iota
	bootDigest
	bootX509
)

func (b bootstrap) String() string { return [...]string{"username", "digest", "x509"}[b] }

// issueMessage builds an Issue request for v with entropy (nil for none)
// and the bootstrap credential, its Timestamp created at now.
func (h *harness) issueMessage(v wssc.Version, sv soap.Version, wv wsa.Version, boot bootstrap, entropy []byte, now time.Time) []byte {
	h.t.Helper()
	m := msg{soap: sv, wsa: wv, action: v.Action(wssc.Issue), messageID: "urn:uuid:00000000-0000-4000-8000-0000000000aa", body: rstXML(v, wssc.Issue, entropy, 256, "")}
	switch boot {
	case bootUsername, bootDigest:
		m.security = timestamp(now, 5*time.Minute) + usernameToken(testUser, testPassword, boot == bootDigest, now)
		return []byte(m.xml())
	}
	return x509Signed(h.t, m, h.pki.good, h.pki.goodKey, now)
}

// x509Signed puts a Timestamp and cert in m's Security header and signs
// the Timestamp with key (RSA-SHA1, as WCF).
func x509Signed(t *testing.T, m msg, cert *x509.Certificate, key *rsa.PrivateKey, now time.Time) []byte {
	t.Helper()
	return x509SignedTS(t, m, cert, key, timestamp(now, 5*time.Minute))
}

// x509SignedTS is x509Signed with the Timestamp XML given (Id _0).
func x509SignedTS(t *testing.T, m msg, cert *x509.Certificate, key *rsa.PrivateKey, ts string) []byte {
	t.Helper()
	m.security = ts + fmt.Sprintf(`<o:BinarySecurityToken u:Id="bst-1" ValueType="%s" EncodingType="%s">%s</o:BinarySecurityToken>`,
		wss.ValueTypeX509v3, wss.EncodingBase64Binary, base64.StdEncoding.EncodeToString(cert.Raw))
	k, err := dsig.RSASigningKey(dsig.RSASHA1, key)
	if err != nil {
		t.Fatal(err)
	}
	return sign(t, m.xml(), signSpec{key: k, keyInfo: strXML("#bst-1", wss.ValueTypeX509v3)})
}

// grantOf reads an Issue or Renew reply by hand (not with the client
// parser): the SCT as issued, its Identifier and Instance, and the key
// from the proof token and entropy.
func grantOf(t *testing.T, r *response, v wssc.Version, clientEntropy []byte) ctx {
	t.Helper()
	p := r.payload(t)
	tn := func(local string) xmldoc.Name { return xmldoc.Name{Space: v.Trust(), Local: local} }
	sn := func(local string) xmldoc.Name { return xmldoc.Name{Space: v.SC(), Local: local} }
	rstr := p
	if v == wssc.V1_3 {
		if !xmldoc.Is(p, tn("RequestSecurityTokenResponseCollection")) {
			t.Fatalf("1.3 reply body is %s, want a collection", xmldoc.NameOf(p))
		}
		rstr = one(t, p, tn("RequestSecurityTokenResponse"))
	} else if !xmldoc.Is(p, tn("RequestSecurityTokenResponse")) {
		t.Fatalf("reply body is %s", xmldoc.NameOf(p))
	}
	sct := one(t, one(t, rstr, tn("RequestedSecurityToken")), sn("SecurityContextToken"))
	c := ctx{v: v, identifier: xmldoc.Text(one(t, sct, sn("Identifier")))}
	if inst, _ := xmldoc.Optional(sct, sn("Instance")); inst != nil {
		c.instance = xmldoc.Text(inst)
	}
	c.token = string(xmldoc.Serialize(sct))
	bits := 256
	if ks, _ := xmldoc.Optional(rstr, tn("KeySize")); ks != nil {
		fmt.Sscan(xmldoc.Text(ks), &bits)
	}
	proof, _ := xmldoc.Optional(rstr, tn("RequestedProofToken"))
	switch {
	case proof == nil:
		c.key = clientEntropy
	case len(xmldoc.Children(proof, tn("ComputedKey"))) == 1:
		ent := one(t, one(t, rstr, tn("Entropy")), tn("BinarySecret"))
		server, err := wss.DecodeBase64(ent.Text())
		if err != nil {
			t.Fatal(err)
		}
		c.key = keys.PSHA1(clientEntropy, server, 0, bits/8)
	default:
		k, err := wss.DecodeBase64(one(t, proof, tn("BinarySecret")).Text())
		if err != nil {
			t.Fatal(err)
		}
		c.key = k
	}
	return c
}

func one(t *testing.T, el *etree.Element, n xmldoc.Name) *etree.Element {
	t.Helper()
	c, err := xmldoc.One(el, n)
	if err != nil {
		t.Fatalf("%v in %s", err, xmldoc.Serialize(el))
	}
	return c
}

// issue runs an Issue exchange (username bootstrap, combined entropy,
// SOAP 1.2 with WS-Addressing 1.0) and returns the context.
func (h *harness) issue(v wssc.Version) ctx {
	h.t.Helper()
	entropy := bytes.Repeat([]byte{0x5a}, 32)
	r := h.post(soap.V12, v.Action(wssc.Issue), h.issueMessage(v, soap.V12, wsa.V10, bootUsername, entropy, h.clock.Now())).ok(h.t)
	return grantOf(h.t, r, v, entropy)
}

// echo sends an application message signed with c and returns the reply.
func (h *harness) echo(c ctx, ref keyRef) *response {
	h.t.Helper()
	return h.post(soap.V12, echoAction, contextMessage(h.t, c, soap.V12, wsa.V10, echoAction, echoBody, h.clock.Now(), ref))
}

// lifecycle builds a Renew or Cancel of target signed with c's key. A
// Renew also carries the bootstrap credential (the test user's
// UsernameToken), as WCF's does.
func (h *harness) lifecycle(c ctx, op wssc.Operation, target string, entropy []byte) []byte {
	h.t.Helper()
	return h.lifecycleAs(c, op, target, entropy, usernameToken(testUser, testPassword, false, h.clock.Now()))
}

// lifecycleAs is lifecycle with the Renew's bootstrap token XML given
// ("" for none: the context's signature alone).
func (h *harness) lifecycleAs(c ctx, op wssc.Operation, target string, entropy []byte, bootstrap string) []byte {
	h.t.Helper()
	ks, sec := 0, timestamp(h.clock.Now(), 5*time.Minute)
	if op == wssc.Renew {
		ks, sec = 256, sec+bootstrap
	}
	return contextMessageTS(h.t, c, soap.V12, wsa.V10, c.v.Action(op), rstXML(c.v, op, entropy, ks, target), sec, refID)
}

// renew renews c and returns the new context.
func (h *harness) renew(c ctx) ctx {
	h.t.Helper()
	entropy := bytes.Repeat([]byte{0xa5}, 32)
	r := h.post(soap.V12, c.v.Action(wssc.Renew), h.lifecycle(c, wssc.Renew, targetXML(c.v, c.identifier, c.instance), entropy)).ok(h.t)
	return grantOf(h.t, r, c.v, entropy)
}
