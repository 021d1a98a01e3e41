package outbound_test

import (
	"strings"
	"testing"

	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wssc"
)

func TestSmokeSOAP11AppToSOAP12Service(t *testing.T) {
	up := newUpstream(t, scserver.Config{})
	px := startProxy(t, outbound.Config{
		Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool(), SC: wssc.Feb2005,
		SOAP: soap.V12, Addressing: outbound.Addressing{Version: wsa.V10},
	})
	status, hdr, body := call(t, px.base+"/", "text/xml; charset=utf-8", `"`+echoAction+`"`, soap11Req)
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	if !strings.HasPrefix(hdr.Get("Content-Type"), "text/xml") || !strings.Contains(body, "EchoStringResponse") || !strings.Contains(body, soap.NS11) {
		t.Fatalf("response %s: %s", hdr.Get("Content-Type"), body)
	}
	for _, m := range up.messages() {
		t.Logf("%s\n%s", m.contentType, m.body)
	}
	t.Log(body)
}
