package scserver

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// FuzzServeHTTP posts arbitrary bodies to the handler, which holds the
// CoreWCF context at the capture's time. Whatever comes in, the answer is
// a SOAP envelope: a reply with status 200 only when the message was
// accepted, otherwise a fault with an error status.
func FuzzServeHTTP(f *testing.F) {
	for _, path := range []string{"corewcf/app-request.xml", "corewcf/cancel-request.xml", "wss4j/wss4j-sct-dksign-sc200512.xml", "corewcf/issue-request.pretty.xml"} {
		f.Add(readFile(f, vectors+path), true)
	}
	f.Add([]byte("<not soap"), false)
	clk := newClock(coreAppTime)
	srv, err := New(Config{Now: clk.Now, Rand: &detRand{}, PlainHTTP: true, Users: map[string]string{testUser: testPassword}, Limits: xmldoc.Limits{MaxBytes: 64 << 10}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { srv.Close() })
	if err := srv.AddContext(ContextSpec{Identifier: coreIdentifier, Version: wssc.Feb2005, Key: b64(f, coreKey), Created: coreAppTime}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, soap12 bool) {
		ct := "text/xml; charset=utf-8"
		if soap12 {
			ct = "application/soap+xml; charset=utf-8"
		}
		req := httptest.NewRequest(http.MethodPost, "/service", bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		env, err := soap.Parse(rec.Body.Bytes(), xmldoc.Limits{})
		if err != nil {
			t.Fatalf("status %d, reply is not SOAP: %v\n%s", rec.Code, err, rec.Body.Bytes())
		}
		fault, err := env.Fault()
		if err != nil {
			t.Fatalf("malformed fault: %v", err)
		}
		if (rec.Code == http.StatusOK) != (fault == nil) {
			t.Fatalf("status %d with fault %v", rec.Code, fault)
		}
	})
}
