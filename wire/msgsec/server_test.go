package msgsec

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/wire/soap"
)

// bootstrapRequest is a request keyed by an EncryptedKey for cert.
func bootstrapRequest(t *testing.T, s Suite, order Order, to Token) []byte {
	t.Helper()
	client := mustProfile(t, config(Client, s, order, true))
	sent, err := client.Protect(request(t, soap.V12, payload(300), testkit.Rand("b")), Outgoing{Token: to})
	if err != nil {
		t.Fatal(err)
	}
	return sent.Bytes
}

// endorsed is a bootstrap request endorsed by the test client certificate.
func endorsed(t *testing.T, to Token) []byte {
	t.Helper()
	client := mustProfile(t, config(Client, Basic256, SignBeforeEncrypt, true))
	sent, err := client.Protect(request(t, soap.V12, payload(300), testkit.Rand("e")), Outgoing{Token: to, Endorsing: &Certificate{Cert: testkit.Client().Cert, Key: testkit.Client().Key}})
	if err != nil {
		t.Fatal(err)
	}
	return sent.Bytes
}

// TestAsymmetricRefusesOtherSigner: under the asymmetric binding a client
// accepts only the service certificate's signature.
func TestAsymmetricRefusesOtherSigner(t *testing.T) {
	cc, sc := config(Client, Basic256, SignBeforeEncrypt, false), config(Server, Basic256, SignBeforeEncrypt, false)
	cc.Asymmetric, sc.Asymmetric = true, true
	client, server := mustProfile(t, cc), mustProfile(t, sc)
	mine := Certificate{Cert: testkit.Client().Cert, Key: testkit.Client().Key}
	svc := Certificate{Cert: testkit.Server().Cert, Key: testkit.Server().Key}
	sent, err := client.Protect(request(t, soap.V12, payload(100), testkit.Rand("a")), Outgoing{Token: Token{Asymmetric: &Asymmetric{Signer: mine, Recipient: svc.Cert}}})
	if err != nil {
		t.Fatal(err)
	}
	in, err := server.Open(parse(t, sent.Bytes), Expect{Own: &svc})
	if err != nil {
		t.Fatal(err)
	}
	// An impostor answers with the client's own certificate as signer.
	forged := Token{Asymmetric: &Asymmetric{Signer: mine, Recipient: mine.Cert}}
	ans, err := server.Protect(response(t, soap.V12, in.Addressing.MessageID, payload(100)), Outgoing{Token: forged})
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.Open(parse(t, ans.Bytes), Expect{Request: sent, Own: &mine, Peer: svc.Cert})
	if err == nil || !strings.Contains(err.Error(), "another certificate") {
		t.Fatalf("opened an answer signed by another certificate: %v", err)
	}
}

// TestServerRefuses: what a service refuses in a request, each with the
// reason, and a key that does not unwrap looks like any wrong key.
func TestServerRefuses(t *testing.T) {
	own := &Certificate{Cert: testkit.Server().Cert, Key: testkit.Server().Key}
	rsa15, _ := SuiteByName("Basic256Rsa15")
	corruptKey := func(msg []byte) []byte {
		return edit(t, msg, func(env *soap.Envelope, sec *etree.Element) {
			cv := sec.FindElement("EncryptedKey").FindElement("CipherData").FindElement("CipherValue")
			b, _ := base64.StdEncoding.DecodeString(cv.Text())
			b[7] ^= 0x40
			cv.SetText(base64.StdEncoding.EncodeToString(b))
		})
	}
	toServer := Token{Recipient: testkit.Server().Cert}
	cases := []struct {
		name  string
		suite Suite
		msg   []byte
		exp   Expect
		is    error
		says  string
	}{
		{name: "key for another certificate", suite: Basic256, msg: bootstrapRequest(t, Basic256, SignBeforeEncrypt, Token{Recipient: testkit.Client().Cert}), exp: Expect{Own: own}, says: "not for this side's certificate"},
		{name: "no certificate to unwrap with", suite: Basic256, msg: bootstrapRequest(t, Basic256, SignBeforeEncrypt, toServer), says: "does not have"},
		{name: "OAEP key corrupted", suite: Basic256, msg: corruptKey(bootstrapRequest(t, Basic256, SignBeforeEncrypt, toServer)), exp: Expect{Own: own}, is: ErrDecrypt},
		{name: "RSA 1.5 key corrupted (implicit rejection)", suite: rsa15, msg: corruptKey(bootstrapRequest(t, rsa15, SignBeforeEncryptAndEncryptSignature, toServer)), exp: Expect{Own: own}, is: ErrDecrypt},
		{name: "RSA 1.5 key under an OAEP policy", suite: Basic256, msg: bootstrapRequest(t, rsa15, SignBeforeEncrypt, toServer), exp: Expect{Own: own}, says: "not the suite's"},
		{name: "endorsement required, absent", suite: Basic256, msg: bootstrapRequest(t, Basic256, SignBeforeEncrypt, toServer), exp: Expect{Own: own, Endorsed: true}, says: "not endorsed"},
		{name: "endorsed by another certificate than expected", suite: Basic256, msg: endorsed(t, toServer), exp: Expect{Own: own, Endorsed: true, Peer: testkit.OtherClient().Cert}, says: "another certificate"},
		{name: "no Security header", suite: Basic256, msg: request(t, soap.V12, payload(10), testkit.Rand("n")).Bytes(), exp: Expect{Own: own}, says: "Security"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			server := mustProfile(t, config(Server, c.suite, SignBeforeEncrypt, true))
			if c.suite.Name == rsa15.Name {
				server = mustProfile(t, config(Server, c.suite, SignBeforeEncryptAndEncryptSignature, true))
			}
			_, err := server.Open(parse(t, c.msg), c.exp)
			if err == nil {
				t.Fatal("opened")
			}
			t.Log(err)
			if c.is != nil && (!errors.Is(err, c.is) || err.Error() != c.is.Error()) {
				t.Errorf("error %q, want exactly %q", err, c.is)
			}
			if !strings.Contains(err.Error(), c.says) {
				t.Errorf("error %q does not say %q", err, c.says)
			}
		})
	}
}
