package msgsec

import (
	"github.com/beevik/etree"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xenc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// tokenKind is how a test's client protects its request.
type tokenKind int

const (
	sctIncluded tokenKind = iota
	sctReferenced
	encryptedKey
	encryptedKeyUsername
	mutual   // EncryptedKey and an endorsing client certificate
	mutual10 // the asymmetric binding
)

var tokenKinds = []tokenKind{sctIncluded, sctReferenced, encryptedKey, encryptedKeyUsername, mutual, mutual10}

func (k tokenKind) String() string {
	return [...]string{"sct", "sct-by-identifier", "encrypted-key", "encrypted-key+username", "mutual", "mutual10"}[k]
}

// exchange protects a request as a client, opens it as a server, answers
// and opens the answer as the client; it returns the client's view of the
// answer and the server's view of the request.
type exchange struct {
	suite   Suite
	order   Order
	derived bool
	kind    tokenKind
	confirm bool
	soap    soap.Version
	wssc    wssc.Version // zero: February 2005
	body    string
}

func (x exchange) run(t testing.TB) (*Opened, *Opened) {
	t.Helper()
	cc := config(Client, x.suite, x.order, x.derived)
	sc := config(Server, x.suite, x.order, x.derived)
	cc.SignatureConfirmation, sc.SignatureConfirmation = x.confirm, x.confirm
	cc.Asymmetric, sc.Asymmetric = x.kind == mutual10, x.kind == mutual10
	if x.wssc.SC() != "" {
		cc.Version, sc.Version = x.wssc, x.wssc
	}
	client, server := mustProfile(t, cc), mustProfile(t, sc)
	v := x.soap
	if v == 0 {
		v = soap.V12
	}
	// A 32-byte context key under every suite, as services issue it:
	// without derived keys the cipher takes its first bytes.
	key := contextKey
	clientCert := Certificate{Cert: testkit.Client().Cert, Key: testkit.Client().Key}
	serverCert := Certificate{Cert: testkit.Server().Cert, Key: testkit.Server().Key}
	var out Outgoing
	clientExp := Expect{ContextKeys: keysOf(key)}
	serverExp := Expect{ContextKeys: keysOf(key), Own: &serverCert}
	switch x.kind {
	case sctIncluded, sctReferenced:
		out.Token.Context = &Context{Token: newSCT(t, cc.Version), Key: key, Include: x.kind == sctIncluded}
	case mutual10:
		out.Token.Asymmetric = &Asymmetric{Signer: clientCert, Recipient: serverCert.Cert}
		clientExp.Own, clientExp.Peer = &clientCert, serverCert.Cert
	default:
		out.Token.Recipient = testkit.Server().Cert
	}
	if x.kind == mutual {
		out.Endorsing = &clientCert
		serverExp.Endorsed = true
	}
	if x.kind == encryptedKeyUsername {
		ut, err := wss.NewUsernameToken("", "alice", "s3cret", wss.PasswordText, now, testkit.Rand("ut"))
		if err != nil {
			t.Fatal(err)
		}
		out.Username = ut
	}
	sent, err := client.Protect(request(t, v, x.body, testkit.Rand("req")), out)
	if err != nil {
		t.Fatalf("client Protect: %v", err)
	}
	if strings.Contains(string(sent.Bytes), "s3cret") || strings.Contains(string(sent.Bytes), "<item") {
		t.Fatalf("the request carries plaintext:\n%s", sent.Bytes)
	}
	reqIn, err := server.Open(parse(t, sent.Bytes), serverExp)
	if err != nil {
		t.Fatalf("server Open: %v\n%s", err, sent.Bytes)
	}
	resp := response(t, v, reqIn.Addressing.MessageID, x.body)
	ans, err := server.Protect(resp, Outgoing{Token: reqIn.Reply, Confirm: reqIn.SignatureValues})
	if err != nil {
		t.Fatalf("server Protect: %v", err)
	}
	clientExp.Request = sent
	respIn, err := client.Open(parse(t, ans.Bytes), clientExp)
	if err != nil {
		t.Fatalf("client Open: %v\n%s", err, ans.Bytes)
	}
	return respIn, reqIn
}

func TestRoundTrip(t *testing.T) {
	body := payload(600)
	want := canon(t, request(t, soap.V12, body, testkit.Rand("x")).Body)
	suites := []string{"Basic256", "Basic128", "Basic192Sha256", "TripleDes", "Basic256Rsa15", "Basic128Sha256Rsa15"}
	for _, name := range suites {
		s, err := SuiteByName(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, order := range []Order{SignBeforeEncryptAndEncryptSignature, SignBeforeEncrypt, EncryptBeforeSign} {
			for _, derived := range []bool{true, false} {
				for _, kind := range tokenKinds {
					x := exchange{suite: s, order: order, derived: derived, kind: kind, confirm: kind >= encryptedKey, body: body}
					t.Run(name+"/"+order.String()+"/"+map[bool]string{true: "derived", false: "direct"}[derived]+"/"+kind.String(), func(t *testing.T) {
						respIn, reqIn := x.run(t)
						if got := canon(t, reqIn.Envelope.Body); got != want {
							t.Errorf("server read body\n%s\nwant\n%s", got, want)
						}
						if got := canon(t, respIn.Envelope.Body); got != want {
							t.Errorf("client read body\n%s\nwant\n%s", got, want)
						}
						if x.kind == encryptedKeyUsername && (reqIn.Username == nil || reqIn.Username.Username != "alice" || reqIn.Username.Verify("s3cret") != nil) {
							t.Errorf("server read username token %v", reqIn.Username)
						}
						if (x.kind == mutual || x.kind == mutual10) != (reqIn.PeerCert != nil) || reqIn.PeerCert != nil && !reqIn.PeerCert.Equal(testkit.Client().Cert) {
							t.Errorf("server saw the client certificate %v", reqIn.PeerCert)
						}
						if x.kind == mutual10 && (respIn.PeerCert == nil || !respIn.PeerCert.Equal(testkit.Server().Cert)) {
							t.Errorf("client saw the service certificate %v", respIn.PeerCert)
						}
						if len(respIn.Envelope.Header.ChildElements()) == 0 || respIn.Envelope.Header.FindElement("Security") != nil {
							t.Errorf("the opened answer still has its Security header")
						}
					})
				}
			}
		}
	}
}

// throughContext protects the envelope src as a client with a context
// (Basic256, derived keys, order) and returns it opened by the server.
func throughContext(t *testing.T, order Order, src string) *Opened {
	t.Helper()
	client := mustProfile(t, config(Client, Basic256, order, true))
	server := mustProfile(t, config(Server, Basic256, order, true))
	sent, err := client.Protect(parse(t, []byte(src)), Outgoing{Token: Token{Context: &Context{Token: newSCT(t, wssc.Feb2005), Key: contextKey, Include: true}}})
	if err != nil {
		t.Fatal(err)
	}
	in, err := server.Open(parse(t, sent.Bytes), Expect{ContextKeys: keysOf(contextKey)})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// TestDefaultNamespaceBody: an application that declares a default
// namespace on its Envelope and puts a child in no namespace (xmlns="")
// gets the same Body through every order: its canonical content would
// parse into the default namespace in context (no xmlns=""), which is
// one more reason the plaintext is the content as it stands.
func TestDefaultNamespaceBody(t *testing.T) {
	src := `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns="urn:default"><s:Header><a:Action xmlns:a="http://www.w3.org/2005/08/addressing">urn:a</a:Action><a:MessageID xmlns:a="http://www.w3.org/2005/08/addressing">urn:uuid:00000000-0000-4000-8000-000000000001</a:MessageID></s:Header><s:Body><plain xmlns="">no namespace</plain><Echo><inherited>default</inherited></Echo></s:Body></s:Envelope>`
	content := func(el *etree.Element) string { return string(xenc.SerializeContent(el)) }
	want := content(parse(t, []byte(src)).Body)
	for _, order := range []Order{SignBeforeEncryptAndEncryptSignature, SignBeforeEncrypt, EncryptBeforeSign} {
		t.Run(order.String(), func(t *testing.T) {
			in := throughContext(t, order, src)
			if got := content(in.Envelope.Body); got != want {
				t.Errorf("server read\n%s\nwant\n%s", got, want)
			}
			plain := in.Envelope.Body.FindElement("plain")
			if plain == nil || plain.NamespaceURI() != "" {
				t.Errorf("the child in no namespace moved to %q", plain.NamespaceURI())
			}
		})
	}
}

// TestVersions: both SOAP versions and both WS-SecureConversation
// versions, for each token kind.
func TestVersions(t *testing.T) {
	body := payload(300)
	for _, sv := range []soap.Version{soap.V11, soap.V12} {
		want := canon(t, request(t, sv, body, testkit.Rand("x")).Body)
		for _, wv := range wssc.Versions {
			for _, kind := range tokenKinds {
				t.Run(sv.String()+"/"+wv.String()+"/"+kind.String(), func(t *testing.T) {
					respIn, reqIn := exchange{suite: Basic256, derived: true, kind: kind, soap: sv, wssc: wv, body: body}.run(t)
					if canon(t, reqIn.Envelope.Body) != want || canon(t, respIn.Envelope.Body) != want {
						t.Error("the body changed on the way")
					}
					if respIn.Envelope.Version != sv {
						t.Errorf("answer in %s", respIn.Envelope.Version)
					}
				})
			}
		}
	}
}

// TestQNameContentBody: QNames in attribute values and text (xsi:type,
// a fault's code) name their namespace through a prefix that exclusive
// canonicalization does not render, as no element or attribute name uses
// it. What is encrypted must keep those declarations, so that the
// receiver resolves the QNames as the sender meant them, in every order.
func TestQNameContentBody(t *testing.T) {
	src := `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:env="urn:on-envelope"><s:Header><a:Action xmlns:a="http://www.w3.org/2005/08/addressing">urn:a</a:Action><a:MessageID xmlns:a="http://www.w3.org/2005/08/addressing">urn:uuid:00000000-0000-4000-8000-000000000001</a:MessageID></s:Header>` +
		`<s:Body><Order xmlns="urn:orders"><item xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns:d4p1="urn:derived" i:type="d4p1:Stock">7</item>` +
		`<code xmlns:c="urn:codes">c:Sender</code><inherited>env:Value</inherited></Order></s:Body></s:Envelope>`
	want := map[string][2]string{"item": {"d4p1", "urn:derived"}, "code": {"c", "urn:codes"}, "inherited": {"env", "urn:on-envelope"}}
	for _, order := range []Order{SignBeforeEncryptAndEncryptSignature, SignBeforeEncrypt, EncryptBeforeSign} {
		t.Run(order.String(), func(t *testing.T) {
			in := throughContext(t, order, src)
			for local, ns := range want {
				el := in.Envelope.Body.FindElement(".//" + local)
				if el == nil {
					t.Fatalf("no %s in the opened body:\n%s", local, xenc.SerializeContent(in.Envelope.Body))
				}
				if got := xmldoc.InScope(el)[ns[0]]; got != ns[1] {
					t.Errorf("%s: prefix %s names %q in the opened body, want %q", local, ns[0], got, ns[1])
				}
			}
		})
	}
}
