package session

import (
	"errors"
	"fmt"
	"testing"

	"github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// TestRefusedCredential: a Sender fault answering an Issue, or
// wsse:FailedAuthentication answering a Renew (which carries the
// bootstrap credential too), is a refused credential (it waits longer
// before the next attempt); anything else is retried on the ordinary
// windows.
func TestRefusedCredential(t *testing.T) {
	failed := xmldoc.Name{Space: wss.NSWSSE, Local: "FailedAuthentication"}
	fail := func(op wssc.Operation, err error) error {
		return &Error{Op: op, Endpoint: "https://svc.example/", Err: err}
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"wsse:FailedAuthentication as a SOAP 1.2 subcode", fail(wssc.Issue, soap.NewFault(soap.Sender, "authentication failed", failed)), true},
		{"wsse:InvalidSecurity as the SOAP 1.1 faultcode", fail(wssc.Issue, &soap.Fault{Version: soap.V11, Code: xmldoc.Name{Space: wss.NSWSSE, Local: "InvalidSecurity"}}), true},
		{"a generic Sender fault, wrapped", fail(wssc.Issue, fmt.Errorf("bootstrap: %w", soap.NewFault(soap.Sender, "bad request"))), true},
		{"a Receiver fault", fail(wssc.Issue, soap.NewFault(soap.Receiver, "database down")), false},
		{"the STS unreachable", fail(wssc.Issue, &upstream.Error{Kind: upstream.Unreachable, Err: errors.New("connection refused")}), false},
		{"wsse:FailedAuthentication to a Renew (it carries the credential)", fail(wssc.Renew, soap.NewFault(soap.Sender, "no", failed)), true},
		{"another Sender fault to a Renew", fail(wssc.Renew, soap.NewFault(soap.Sender, "cannot renew")), false},
		{"a fault outside an exchange", soap.NewFault(soap.Sender, "no", failed), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := refusedCredential(tt.err); got != tt.want {
				t.Errorf("refusedCredential(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
