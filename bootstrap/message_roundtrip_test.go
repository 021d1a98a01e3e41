package bootstrap_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"testing"
	"time"

	"github.com/scproxy/scproxy/bootstrap"
	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/msgsec"
	"github.com/scproxy/scproxy/wire/secure"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
	"github.com/scproxy/scproxy/wstrust"
)

// service is the other side of a Message's exchanges, made of msgsec's
// server role: it opens a request with the service certificate's key (or
// a context's key), checks what it carried, and answers with a payload,
// protected by the request's own token.
type service struct {
	t       *testing.T
	profile *msgsec.Profile
	keys    func(id string) ([][]byte, error)
	// confirmAlso are signature values confirmed besides the request's.
	confirmAlso [][]byte
}

func newService(t *testing.T, order msgsec.Order, asymmetric, confirm bool, keys func(string) ([][]byte, error)) *service {
	t.Helper()
	p, err := msgsec.New(msgsec.Config{Role: msgsec.Server, Version: wssc.V1_3, Suite: msgsec.Basic256, DerivedKeys: true, Order: order,
		Asymmetric: asymmetric, SignatureConfirmation: confirm, Now: time.Now, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	return &service{t: t, profile: p, keys: keys}
}

// answer opens request (bytes as sent) and returns the protected answer
// and what the request carried.
func (s *service) answer(request []byte) ([]byte, *msgsec.Opened) {
	s.t.Helper()
	env, err := soap.ParseWith(request, xmldoc.Options{KeepSpans: true})
	if err != nil {
		s.t.Fatal(err)
	}
	server := &msgsec.Certificate{Cert: testkit.Server().Cert, Key: testkit.Server().Key}
	opened, err := s.profile.Open(env, msgsec.Expect{Own: server, Peer: nil, ContextKeys: s.keys})
	if err != nil {
		s.t.Fatalf("the service cannot open the request: %v", err)
	}
	reply := soap.NewEnvelope(soap.V12)
	if _, err := (wsa.Headers{Action: "urn:answer", RelatesTo: opened.Addressing.MessageID}).AddTo(reply.EnsureHeader(), wsa.V10); err != nil {
		s.t.Fatal(err)
	}
	reply.Body.CreateElement("Answer").SetText("granted")
	sent, err := s.profile.Protect(reply, msgsec.Outgoing{Token: opened.Reply, Confirm: append(opened.SignatureValues, s.confirmAlso...)})
	if err != nil {
		s.t.Fatal(err)
	}
	return sent.Bytes, opened
}

// request is an addressed SOAP 1.2 envelope with an RST-like payload.
func request(t *testing.T) *soap.Envelope {
	t.Helper()
	env := soap.NewEnvelope(soap.V12)
	h, err := wsa.NewRequest(wsa.V10, wssc.V1_3.Action(wssc.Issue), "https://svc.example/Service.svc", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.AddTo(env.EnsureHeader(), wsa.V10); err != nil {
		t.Fatal(err)
	}
	env.Body.CreateElement("Ask").SetText("a context")
	return env
}

// open runs the step a Message returned on the service's answer.
func open(t *testing.T, op wstrust.OpenFunc, answer []byte) *soap.Envelope {
	t.Helper()
	env, err := soap.ParseWith(answer, xmldoc.Options{KeepSpans: true})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := op(env)
	if err != nil {
		t.Fatalf("the client cannot open the answer: %v", err)
	}
	return plain
}

// Each bootstrap binding's Issue opens at the service with what the
// binding carries (the UsernameToken, the client's certificate), and the
// service's answer opens at the client, its payload's bytes recorded; the
// answer tampered with is refused. A Context-protected request opens with
// the context's key and its answer with the same.
func TestMessageRoundTrip(t *testing.T) {
	client := &secure.Certificate{Cert: testkit.Client().Cert, Key: testkit.Client().Key}
	for _, kind := range []bootstrap.MessageKind{bootstrap.AnonymousForCertificate, bootstrap.UserNameForCertificate, bootstrap.MutualCertificate, bootstrap.MutualCertificate10} {
		t.Run(kind.String(), func(t *testing.T) {
			cfg := bootstrap.MessageConfig{Kind: kind, ServerCert: testkit.Server().Cert, Version: wssc.V1_3, DerivedKeys: true}
			switch kind {
			case bootstrap.UserNameForCertificate:
				cfg.User, cfg.Password = "alice", creds.NewSecret(messagePassword)
			case bootstrap.MutualCertificate, bootstrap.MutualCertificate10:
				cfg.Client = client
			}
			m, err := bootstrap.NewMessage(cfg)
			if err != nil {
				t.Fatal(err)
			}
			o := secure.Options{Now: time.Now, Rand: rand.Reader, IDPrefix: "_t"}
			body, op, err := m.Bootstrap(t.Context(), request(t), o)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(body, []byte("a context")) || bytes.Contains(body, []byte(messagePassword)) {
				t.Fatal("the Issue's Body or password crossed in clear")
			}
			svc := newService(t, 0, kind == bootstrap.MutualCertificate10, true, nil)
			answer, opened := svc.answer(body)
			switch {
			case kind == bootstrap.UserNameForCertificate && (opened.Username == nil || opened.Username.Username != "alice" || opened.Username.Password != messagePassword):
				t.Fatalf("the service got UsernameToken %+v", opened.Username)
			case (kind == bootstrap.MutualCertificate || kind == bootstrap.MutualCertificate10) && (opened.PeerCert == nil || !opened.PeerCert.Equal(client.Cert)):
				t.Fatal("the service did not get the client's certificate")
			}
			plain := open(t, op, answer)
			payload, err := plain.Payload()
			if err != nil || payload.Text() != "granted" {
				t.Fatalf("opened payload %v, %v", payload, err)
			}
			if raw, ok := plain.Doc.Raw(payload); !ok || !bytes.Contains(raw, []byte("granted")) {
				t.Fatal("the opened payload's bytes were not recorded")
			}
			tampered := bytes.Replace(answer, []byte("<CipherValue>"), []byte("<CipherValue>AAAA"), 1)
			if env, err := soap.ParseWith(tampered, xmldoc.Options{}); err != nil {
				t.Fatal(err)
			} else if _, err := op(env); err == nil {
				t.Fatal("a tampered answer opened")
			}
		})
	}
	t.Run("context", func(t *testing.T) {
		m, err := bootstrap.NewMessage(bootstrap.MessageConfig{Kind: bootstrap.AnonymousForCertificate, ServerCert: testkit.Server().Cert, Version: wssc.V1_3, DerivedKeys: true})
		if err != nil {
			t.Fatal(err)
		}
		key := bytes.Repeat([]byte{7}, 32)
		sct := sctFor(t, "urn:uuid:00000000-0000-4000-8000-00000000c0de")
		body, op, err := m.Context(request(t), secure.Context{Version: wssc.V1_3, Token: sct, Key: key}, secure.Options{Now: time.Now, Rand: rand.Reader})
		if err != nil {
			t.Fatal(err)
		}
		svc := newService(t, 0, false, false, func(id string) ([][]byte, error) {
			if id != sct.Identifier {
				return nil, msgsec.ErrUnknownContext
			}
			return [][]byte{key}, nil
		})
		answer, _ := svc.answer(body)
		if payload, err := open(t, op, answer).Payload(); err != nil || payload.Text() != "granted" {
			t.Fatalf("opened payload %v, %v", payload, err)
		}
	})
}

// sctFor is a SecurityContextToken of identifier id, as parsed from an
// RSTR.
func sctFor(t *testing.T, id string) *wssc.SCT {
	t.Helper()
	src := `<c:SecurityContextToken xmlns:c="` + wssc.V1_3.SC() + `" xmlns:u="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd" u:Id="sct-1"><c:Identifier>` + id + `</c:Identifier></c:SecurityContextToken>`
	doc, err := xmldoc.Parse([]byte(src), xmldoc.Options{KeepSpans: true})
	if err != nil {
		t.Fatal(err)
	}
	sct, err := wssc.ParseSCT(doc, doc.Root(), wssc.V1_3)
	if err != nil {
		t.Fatal(err)
	}
	return sct
}

// With RenewUnderBootstrap a Renew goes as WCF's and CXF's clients send
// it: under the bootstrap binding (the UsernameToken with it), the
// context's SCT included and endorsing the signature; the answer, keyed by
// the Renew's own fresh key, must confirm both signatures. (msgsec's
// server role does not verify a context's endorsement: the service here
// opens the Renew without it, and confirms it by its value; msgsec's own
// tests verify the endorsing signature.)
func TestMessageRenewUnderBootstrap(t *testing.T) {
	m, err := bootstrap.NewMessage(bootstrap.MessageConfig{Kind: bootstrap.UserNameForCertificate, ServerCert: testkit.Server().Cert, Version: wssc.V1_3,
		DerivedKeys: true, Order: msgsec.SignBeforeEncrypt, User: "alice", Password: creds.NewSecret(messagePassword), RenewUnderBootstrap: true})
	if err != nil {
		t.Fatal(err)
	}
	key := bytes.Repeat([]byte{9}, 32)
	sct := sctFor(t, "urn:uuid:00000000-0000-4000-8000-0000000e0d5e")
	body, op, err := m.Renew(t.Context(), request(t), secure.Context{Version: wssc.V1_3, Token: sct, Key: key}, secure.Options{Now: time.Now, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(body, sct.Fragment.Bytes) || !bytes.Contains(body, []byte("EncryptedKey")) {
		t.Fatal("the Renew lacks the SCT or the bootstrap's EncryptedKey")
	}
	env, err := soap.ParseWith(body, xmldoc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sec, err := wss.FindSecurity(env.Header)
	if err != nil {
		t.Fatal(err)
	}
	sigs := xmldoc.Children(sec, xmldoc.Name{Space: dsig.NS, Local: "Signature"})
	if len(sigs) != 2 {
		t.Fatalf("%d signatures, want the primary and the context's endorsement", len(sigs))
	}
	endorsement, err := base64.StdEncoding.DecodeString(xmldoc.Text(sigs[1].FindElement("SignatureValue")))
	if err != nil {
		t.Fatal(err)
	}
	sec.RemoveChild(sigs[1])
	svc := newService(t, msgsec.SignBeforeEncrypt, false, true, nil)
	svc.confirmAlso = [][]byte{endorsement}
	answer, opened := svc.answer(env.Bytes())
	if opened.Username == nil || opened.Username.Username != "alice" {
		t.Fatalf("the service got UsernameToken %+v", opened.Username)
	}
	if payload, err := open(t, op, answer).Payload(); err != nil || payload.Text() != "granted" {
		t.Fatalf("opened payload %v, %v", payload, err)
	}
	svc.confirmAlso = nil
	answer, _ = svc.answer(env.Bytes())
	if reply, err := soap.ParseWith(answer, xmldoc.Options{}); err != nil {
		t.Fatal(err)
	} else if _, err := op(reply); err == nil {
		t.Fatal("an answer that does not confirm the endorsement opened")
	}
	if _, err := bootstrap.NewMessage(bootstrap.MessageConfig{Kind: bootstrap.MutualCertificate, ServerCert: testkit.Server().Cert, Version: wssc.V1_3,
		Client: &secure.Certificate{Cert: testkit.Client().Cert, Key: testkit.Client().Key}, RenewUnderBootstrap: true}); err == nil {
		t.Fatal("mutual with RenewUnderBootstrap was accepted")
	}
}
