package msgsec

import (
	"strings"
	"testing"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
)

// tokenKind is how a test's client protects its request.
type tokenKind int

const (
	sctIncluded tokenKind = iota
	sctReferenced
	encryptedKey
	encryptedKeyUsername
)

func (k tokenKind) String() string {
	return [...]string{"sct", "sct-by-identifier", "encrypted-key", "encrypted-key+username"}[k]
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
	body    string
}

func (x exchange) run(t testing.TB) (*Opened, *Opened) {
	t.Helper()
	cc := config(Client, x.suite, x.order, x.derived)
	sc := config(Server, x.suite, x.order, x.derived)
	cc.SignatureConfirmation, sc.SignatureConfirmation = x.confirm, x.confirm
	client, server := mustProfile(t, cc), mustProfile(t, sc)
	v := x.soap
	if v == 0 {
		v = soap.V12
	}
	key := contextKey[:x.suite.KeyLength()]
	if x.derived {
		key = contextKey
	}
	var out Outgoing
	switch x.kind {
	case sctIncluded, sctReferenced:
		out.Token.Context = &Context{Token: newSCT(t, wssc.Feb2005), Key: key, Include: x.kind == sctIncluded}
	default:
		out.Token.Recipient = testkit.Server().Cert
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
	reqIn, err := server.Open(parse(t, sent.Bytes), Expect{ContextKeys: keysOf(key), Own: &Certificate{Cert: testkit.Server().Cert, Key: testkit.Server().Key}})
	if err != nil {
		t.Fatalf("server Open: %v\n%s", err, sent.Bytes)
	}
	resp := response(t, v, reqIn.Addressing.MessageID, x.body)
	ans, err := server.Protect(resp, Outgoing{Token: reqIn.Reply, Confirm: reqIn.SignatureValues})
	if err != nil {
		t.Fatalf("server Protect: %v", err)
	}
	respIn, err := client.Open(parse(t, ans.Bytes), Expect{Request: sent, ContextKeys: keysOf(key)})
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
				for _, kind := range []tokenKind{sctIncluded, sctReferenced, encryptedKey, encryptedKeyUsername} {
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
						if len(respIn.Envelope.Header.ChildElements()) == 0 || respIn.Envelope.Header.FindElement("Security") != nil {
							t.Errorf("the opened answer still has its Security header")
						}
					})
				}
			}
		}
	}
}
