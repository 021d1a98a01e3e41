package wstrust_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
	"github.com/scproxy/scproxy/wstrust"
)

// TestExchangeOpensAProtectedFault: under message security an STS sends
// its fault protected and, as SOAP over HTTP has it, with HTTP 500: it is
// opened and returned as the STS's *soap.Fault (which the caller reads:
// a refused Renew falls back to an Issue). A reply with an error status
// that does not open, or opens to no fault, is the HTTP error as before.
// A fault in clear is the STS's *soap.Fault too, marked unverified.
func TestExchangeOpensAProtectedFault(t *testing.T) {
	v := wssc.V1_3
	cases := []struct {
		name  string
		open  func(t *testing.T, id string) wstrust.OpenFunc
		fault bool
		want  string
		clear bool // the STS answers a fault in clear
	}{
		{"a protected fault", func(t *testing.T, id string) wstrust.OpenFunc {
			return func(*soap.Envelope) (*soap.Envelope, error) {
				return soap.ParseWith([]byte(fault(t, soap.V12, "the context cannot be renewed")), xmldoc.Options{KeepSpans: true})
			}
		}, true, "the context cannot be renewed", false},
		{"a reply that does not open", func(t *testing.T, id string) wstrust.OpenFunc {
			return func(*soap.Envelope) (*soap.Envelope, error) {
				return nil, errors.New("the signature does not cover the Body")
			}
		}, false, "the STS answered HTTP 500", false},
		{"an opened answer that is no fault", func(t *testing.T, id string) wstrust.OpenFunc {
			return func(*soap.Envelope) (*soap.Envelope, error) {
				return soap.ParseWith([]byte(reply(t, soap.V12, wsa.Headers{Action: v.ReplyAction(wssc.Cancel), RelatesTo: id}, cancelled(t, v))), xmldoc.Options{KeepSpans: true})
			}
		}, false, "the STS answered HTTP 500", false},
		{"a fault in clear", func(t *testing.T, id string) wstrust.OpenFunc {
			return func(*soap.Envelope) (*soap.Envelope, error) {
				t.Error("a fault in clear was given to Open")
				return nil, errors.New("not protected")
			}
		}, true, "unverified: a fault in clear", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSTS(t, 0)
			var id string
			s.reply = func(msgID string) answer {
				id = msgID
				if tc.clear {
					return answer{500, ct12, fault(t, soap.V12, "the context cannot be renewed")}
				}
				return answer{500, ct12, reply(t, soap.V12, wsa.Headers{}, etree.NewElement("Protected"))}
			}
			r := s.request(t, v)
			r.Open = func(env *soap.Envelope) (*soap.Envelope, error) { return tc.open(t, id)(env) }
			_, err := wstrust.Exchange(context.Background(), s.clientFor(xmldoc.Limits{}, nil), r, wssc.ParseResponse)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Exchange error %v, want %q", err, tc.want)
			}
			var f *soap.Fault
			if errors.As(err, &f) != tc.fault {
				t.Fatalf("Exchange error %T (%v): a *soap.Fault is %v, want %v", err, err, !tc.fault, tc.fault)
			}
		})
	}
}
