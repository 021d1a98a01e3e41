package scserver_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/wire/msgsec"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// BenchmarkServeEchoMessage is the service's whole work for one echo
// request in the message-security profile (WCF's defaults: Basic256,
// derived keys, the signature encrypted): parse, open (verify and
// decrypt), answer, protect the answer. The request, protected once by
// msgsec's client role, is replayed within its Timestamp's validity.
func BenchmarkServeEchoMessage(b *testing.B) {
	srv, err := scserver.New(scserver.Config{PlainHTTP: true, Message: &scserver.MessageSecurity{
		Certificate: testkit.Server().Cert, Key: testkit.Server().RSAKey(), DerivedKeys: true,
		Bootstraps: []scserver.MessageBootstrap{scserver.BootstrapAnonymous},
	}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	key := bytes.Repeat([]byte{0x42}, 32)
	const id = "urn:uuid:6a1e2c8e-0c35-4a4e-9d2f-000000000001"
	if err := srv.AddContext(scserver.ContextSpec{Identifier: id, Version: wssc.Feb2005, Key: key}); err != nil {
		b.Fatal(err)
	}
	client, err := msgsec.New(msgsec.Config{Role: msgsec.Client, Version: wssc.Feb2005, Suite: msgsec.Basic256, DerivedKeys: true, Now: time.Now, Rand: rand.Reader})
	if err != nil {
		b.Fatal(err)
	}
	r := &benchRig{}
	for _, size := range benchSizes {
		env, err := soap.Parse(r.plain(b, size), xmldoc.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		sent, err := client.Protect(env, msgsec.Outgoing{Token: msgsec.Token{Context: &msgsec.Context{Token: &wssc.SCT{Identifier: id}, Key: key}}})
		if err != nil {
			b.Fatal(err)
		}
		ct, _, _ := soap.V12.ContentType(benchAction)
		b.Run(fmt.Sprintf("size=%dKB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(len(sent.Bytes)))
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/Service.svc", bytes.NewReader(sent.Bytes))
				req.Header.Set("Content-Type", ct)
				rec := httptest.NewRecorder()
				srv.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					body, _ := io.ReadAll(rec.Body)
					b.Fatalf("HTTP %d: %s", rec.Code, body)
				}
			}
		})
	}
}
