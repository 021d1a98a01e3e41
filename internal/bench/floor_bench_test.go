package bench

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkForwarderFloor measures what any Go HTTP proxy pays per message
// before it looks at one byte of SOAP: path=direct is a client calling a
// TLS service; path=forwarded puts between them a forwarder that only
// reads the request, posts it on with net/http over TLS and copies the
// answer back. The difference in allocs/op between the two is the floor
// of a net/http proxy's allocations per message (about 95 at 1 KB with
// Go 1.26), against which scproxy's `pass` figure and the target
// of 100 allocations per message are to be read.
func BenchmarkForwarderFloor(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 1<<10)
	svc := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/soap+xml")
		w.Write(in)
	}))
	defer svc.Close()
	upstream := svc.Client()
	fwd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, _ := io.ReadAll(r.Body)
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, svc.URL, bytes.NewReader(in))
		req.Header.Set("Content-Type", "application/soap+xml")
		resp, err := upstream.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		w.Header().Set("Content-Type", "text/xml")
		w.Write(out)
	}))
	defer fwd.Close()
	client := svc.Client() // trusts the service; plain HTTP to the forwarder
	for _, path := range []struct{ name, url string }{{"direct", svc.URL}, {"forwarded", fwd.URL}} {
		b.Run("path="+path.name, func(b *testing.B) {
			req := Request{URL: path.url, Header: http.Header{"Content-Type": {"text/xml"}}, Body: body, Want: []byte("xxxx")}
			b.ReportAllocs()
			for b.Loop() {
				if err := Send(context.Background(), client, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
