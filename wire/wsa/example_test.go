package wsa_test

import (
	"bytes"
	"fmt"

	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// A request as WCF addresses it. The randomness is fixed here so the output
// is stable; scproxy passes crypto/rand.Reader.
func ExampleHeaders_AddTo() {
	seed := bytes.NewReader(bytes.Repeat([]byte{0x5a}, 16))
	h, err := wsa.NewRequest(wsa.V10, "http://tempuri.org/IEchoService/EchoString", "https://service.example/echo.svc", seed)
	if err != nil {
		panic(err)
	}
	env := soap.NewEnvelope(soap.V12)
	if _, err := h.AddTo(env.EnsureHeader(), wsa.V10); err != nil {
		panic(err)
	}
	back, err := soap.Parse(env.Bytes(), xmldoc.Limits{})
	if err != nil {
		panic(err)
	}
	got, v, err := wsa.Read(back.Header)
	if err != nil {
		panic(err)
	}
	fmt.Println(v)
	fmt.Println(got.MessageID)
	fmt.Println(got.ReplyTo)
	// Output:
	// WS-Addressing 1.0
	// urn:uuid:5a5a5a5a-5a5a-4a5a-9a5a-5a5a5a5a5a5a
	// http://www.w3.org/2005/08/addressing/anonymous
}
