package msgsec

import (
	"errors"
	"testing"
	"time"

	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/xenc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// FuzzOpen opens arbitrary answers as a client under each protection
// order, and arbitrary requests as a service holding the Mono key.
// Whatever the input, Open returns; it returns an Opened exactly when it
// returns no error; an opened message has no Security header and no
// EncryptedData left; a decryption failure is the one ErrDecrypt. Seeds
// are genuine answers of each order and the Mono captures.
func FuzzOpen(f *testing.F) {
	orders := []Order{SignBeforeEncryptAndEncryptSignature, SignBeforeEncrypt, EncryptBeforeSign}
	var fixtures []fixture
	for i, o := range orders {
		fx := newFixture(f, o, i == 0, "fuzz")
		fixtures = append(fixtures, fx)
		f.Add(fx.resp)
	}
	for _, mc := range monoCases {
		f.Add(monoFile(f, mc.dir, "request.xml"))
		f.Add(monoFile(f, mc.dir, "response.xml"))
	}
	service := monoService(f)
	f.Fuzz(func(t *testing.T, src []byte) {
		for i, fx := range fixtures {
			check(t, src, func(env *soap.Envelope) (*Opened, error) { return fx.client.Open(env, fx.expect()) })
			mc := monoCases[i]
			server := monoProfile(t, mc, Server, monoTime)
			check(t, src, func(env *soap.Envelope) (*Opened, error) { return server.Open(env, Expect{Own: service}) })
		}
	})
}

func check(t *testing.T, src []byte, open func(*soap.Envelope) (*Opened, error)) {
	env, err := soap.ParseWith(src, xmldoc.Options{Limits: xmldoc.Limits{MaxBytes: 256 << 10, MaxElements: 5000}, KeepSpans: true, NoProcInst: true})
	if err != nil {
		return
	}
	start := time.Now()
	o, err := open(env)
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Open took %v", took)
	}
	switch {
	case (o == nil) == (err == nil):
		t.Fatalf("Open returned %v and %v", o, err)
	case err != nil:
		if errors.Is(err, xenc.ErrDecrypt) && err != xenc.ErrDecrypt {
			t.Fatalf("decryption failure %q says more than ErrDecrypt", err)
		}
		return
	}
	if o.Envelope.Header != nil && len(xmldoc.Children(o.Envelope.Header, wss.NameSecurity)) > 0 {
		t.Fatal("an opened message keeps its Security header")
	}
	for _, el := range o.Envelope.Body.ChildElements() {
		if xmldoc.Is(el, xenc.NameEncryptedData) {
			t.Fatal("an opened message keeps an EncryptedData in its Body")
		}
	}
}
