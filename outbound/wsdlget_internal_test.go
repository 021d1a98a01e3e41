package outbound

import (
	"strings"
	"testing"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

// Addresses are rewritten as published: case-insensitively at the
// upstream's path, cut at the same byte whatever case mapping does to a
// string's length, and with their escapes kept (an encoded '?' stays a
// path byte).
func TestRewriteAddressesKeepsTheRest(t *testing.T) {
	const local = "http://127.0.0.1:8780/x"
	for _, tc := range []struct {
		name, remote, published, want string
	}{
		{"case differs", "https://up/Svc/Orders.svc", "https://up/svc/ORDERS.SVC/ep2", local + "/ep2"},
		{"escapes kept", "https://up/svc", "http://up/svc/a%3Fb%2F..%2Fc", local + "/a%3Fb%2F..%2Fc"},
		{"a letter whose lower case is longer", "https://up/ⱥ", "http://up/Ⱥ/ep", "http://up/Ⱥ/ep"},
		{"a prefix of a longer segment", "https://up/svc", "http://up/svc2", "http://up/svc2"},
		{"query kept", "https://up/svc", "http://up/svc?wsdl=wsdl0", local + "?wsdl=wsdl0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := `<d:definitions xmlns:d="http://schemas.xmlsoap.org/wsdl/" xmlns:s="http://schemas.xmlsoap.org/wsdl/soap/"><d:service><d:port><s:address location="` + tc.published + `"/></d:port></d:service></d:definitions>`
			out, err := rewriteAddresses([]byte(in), tc.remote, local, xmldoc.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if want := `location="` + tc.want + `"`; !strings.Contains(string(out), want) {
				t.Errorf("got %s, want %s", out, want)
			}
		})
	}
}
