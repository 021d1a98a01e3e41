package wstrust_test

import (
	"context"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
	"github.com/scproxy/scproxy/wstrust"
)

// wcf415 is what WCF answers a SOAP 1.1 request to a SOAP 1.2 endpoint.
const wcf415 = "Cannot process the message because the content type 'text/xml; charset=utf-8' was not the expected type 'application/soap+xml; charset=utf-8'."

// TestExchangeExplainsHTTPErrors (what a newcomer hit): an STS answer that
// is no SOAP keeps the service's own words, bounded and printable, and
// names the setting that fixes the usual cause of its status; an answer
// quoting the request's credential is not quoted.
func TestExchangeExplainsHTTPErrors(t *testing.T) {
	v := wssc.V1_3
	cases := []struct {
		name string
		soap soap.Version
		a    answer
		want []string
		not  []string
	}{
		{"SOAP 1.1 to a SOAP 1.2 service", soap.V11, answer{415, "text/plain", wcf415},
			[]string{"HTTP 415", wcf415, "--soap-version 1.2 --addressing 1.0"}, nil},
		{"SOAP 1.2 to a SOAP 1.1 service", soap.V12, answer{415, "text/plain", "Unsupported Media Type"},
			[]string{"HTTP 415", "--soap-version 1.1"}, []string{"--soap-version 1.2"}},
		{"no such address", soap.V12, answer{404, "text/html", "<html><head><style>body{color:red}</style><title>404</title></head><body>\x1b[1mThe resource\r\ncannot be found.</body></html>"},
			[]string{"HTTP 404", "The resource cannot be found.", "check the upstream URL"}, []string{"\x1b", "color:red", "<body>"}},
		{"HTTP authentication", soap.V12, answer{401, "text/html", "Unauthorized"},
			[]string{"HTTP 401", "check the credential"}, nil},
		{"forbidden", soap.V12, answer{403, "text/plain", "Forbidden"},
			[]string{"HTTP 403", "check the credential"}, nil},
		{"an echo of the request", soap.V12, answer{400, "text/plain", "Bad request: <o:Password>" + canary + "</o:Password>"},
			[]string{"HTTP 400", "not shown"}, []string{canary}},
		{"a long page", soap.V12, answer{500, "text/html", strings.Repeat("Server Error ", 200)},
			[]string{"HTTP 500", "Server Error", "…"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSTS(t, 16<<10)
			s.reply = func(string) answer { return tc.a }
			r := s.request(t, v)
			r.SOAP = tc.soap
			if tc.soap == soap.V11 {
				r.Addressing = wsa.None
			}
			_, err := wstrust.Exchange(context.Background(), s.clientFor(xmldoc.Limits{}, nil), r, wssc.ParseResponse)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(err.Error(), n) {
					t.Errorf("error %q says %q", err, n)
				}
			}
			if len(err.Error()) > 1000 {
				t.Errorf("error of %d bytes", len(err.Error()))
			}
		})
	}
}
