package bootstrap_test

import (
	"context"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/wire/saml"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
)

// xmlsec1 verifies both signatures of a Renew bootstrapped with an issued
// token, as WCF's client sends it: the first with the token's proof key
// over the Timestamp and To, the second with the key of the context being
// renewed over the Timestamp only; and refuses each with the other's key.
func TestXMLSecVerifiesRenewRequest(t *testing.T) {
	r := newSTSRig(t, nil)
	tok := r.sts(t, nil)
	ep := r.endpoint(t, "/svc", tok)
	c, err := ep.Context(context.Background(), wire12)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ep.Renew(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	renews := r.sent(wssc.V1_3.Action(wssc.Renew))
	if len(renews) != 1 {
		t.Fatalf("%d Renew requests, want 1", len(renews))
	}
	req := renews[0].req
	if n := strings.Count(string(req), "Assertion "); n < 1 || !strings.Contains(string(req), "SecurityContextToken") {
		t.Fatalf("the Renew does not carry both the assertion and the SCT:\n%s", req)
	}
	proof := writeTemp(t, "proof.bin", proofKeyOf(t, r))
	sctKey := writeTemp(t, "sct.bin", c.Secure().Key)
	sig := func(n string) []string {
		return []string{"--id-attr:ID", saml.NS + ":Assertion", "--id-attr:Id", wss.NSWSU + ":Timestamp", "--id-attr:Id", wsa.NS10 + ":To",
			"--node-xpath", "(/*/*[local-name()='Header']/*[local-name()='Security']/*[local-name()='Signature'])[" + n + "]"}
	}
	if out, ok := xmlsec(t, req, append([]string{"--hmackey", proof}, sig("1")...)...); !ok || !strings.Contains(out, "References (ok/all): 2/2") {
		t.Fatalf("xmlsec1 refused the proof-key signature:\n%s\n%s", out, req)
	}
	if out, ok := xmlsec(t, req, append([]string{"--hmackey", sctKey}, sig("2")...)...); !ok || !strings.Contains(out, "References (ok/all): 1/1") {
		t.Fatalf("xmlsec1 refused the context's endorsing signature:\n%s\n%s", out, req)
	}
	if out, ok := xmlsec(t, req, append([]string{"--hmackey", sctKey}, sig("1")...)...); ok {
		t.Fatalf("xmlsec1 accepted the proof-key signature with the context key:\n%s", out)
	}
	if out, ok := xmlsec(t, req, append([]string{"--hmackey", proof}, sig("2")...)...); ok {
		t.Fatalf("xmlsec1 accepted the endorsing signature with the proof key:\n%s", out)
	}
}
