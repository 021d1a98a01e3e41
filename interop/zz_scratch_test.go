package interop

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"testing"
)

func TestScratchWSDL(t *testing.T) {
	setup(t)
	pem, _ := os.ReadFile(shared.pki.CAFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for _, p := range []string{"ut/2005/soap11", "ut/13/soap12", "x509/13/soap11", "ut-dk/2005/soap12"} {
		resp, err := c.Get(shared.peer.URL(p) + "?wsdl")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		os.WriteFile("/tmp/cxfwsdl-"+map[string]string{"ut/2005/soap11": "ut-2005-soap11", "ut/13/soap12": "ut-13-soap12", "x509/13/soap11": "x509-13-soap11", "ut-dk/2005/soap12": "utdk-2005-soap12"}[p]+".wsdl", b, 0o644)
	}
}
