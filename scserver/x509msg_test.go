package scserver

import (
	"bytes"
	"testing"
	"time"

	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// TestCertificateSignedMessages: application messages signed with an
// X.509 certificate instead of a context (scproxy's x509 profile, WCF's
// CertificateOverTransport) are echoed when the certificate chains to
// TrustedCAs and the signed Timestamp is fresh, and refused with the
// WS-Security fault naming the problem otherwise; no context is issued or
// counted either way.
func TestCertificateSignedMessages(t *testing.T) {
	echo := msg{soap: soap.V12, wsa: wsa.V10, action: echoAction, messageID: "urn:uuid:00000000-0000-4000-8000-0000000000bb", body: echoBody}
	tests := []struct {
		name    string
		noCAs   bool
		message func(h *harness) []byte
		code    xmldoc.Name // zero: accepted
		reason  string
	}{
		{
			name:    "trusted certificate",
			message: func(h *harness) []byte { return x509Signed(h.t, echo, h.pki.good, h.pki.goodKey, h.clock.Now()) },
		},
		{
			name:    "certificate of another CA",
			message: func(h *harness) []byte { return x509Signed(h.t, echo, h.pki.foreign, h.pki.foreignKey, h.clock.Now()) },
			code:    codeFailedAuthentication, reason: "not trusted",
		},
		{
			name:    "expired certificate",
			message: func(h *harness) []byte { return x509Signed(h.t, echo, h.pki.expired, h.pki.goodKey, h.clock.Now()) },
			code:    codeFailedAuthentication, reason: "not trusted",
		},
		{
			name: "stale timestamp",
			message: func(h *harness) []byte {
				return x509Signed(h.t, echo, h.pki.good, h.pki.goodKey, h.clock.Now().Add(-time.Hour))
			},
			code: codeMessageExpired, reason: "expired",
		},
		{
			name: "timestamp changed after signing",
			message: func(h *harness) []byte {
				now := h.clock.Now()
				b := x509Signed(h.t, echo, h.pki.good, h.pki.goodKey, now)
				return bytes.Replace(b, []byte(wss.FormatTime(now)), []byte(wss.FormatTime(now.Add(time.Second))), 1)
			},
			code: codeFailedCheck, reason: "changed",
		},
		{
			name:    "server without X.509 trust",
			noCAs:   true,
			message: func(h *harness) []byte { return x509Signed(h.t, echo, h.pki.good, h.pki.goodKey, h.clock.Now()) },
			code:    codeFailedAuthentication, reason: "not enabled",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{}
			if tt.noCAs {
				cfg.TrustedCAs = noCAs
			}
			h := start(t, cfg)
			r := h.post(soap.V12, echoAction, tt.message(h))
			st := h.srv.Stats()
			if tt.code == (xmldoc.Name{}) {
				r.ok(t)
				if got := r.payload(t).Tag; got != "EchoStringResponse" {
					t.Errorf("payload %s, want EchoStringResponse", got)
				}
				if st.Verified != 1 || st.Rejected != 0 {
					t.Errorf("verified %d, rejected %d; want 1 and 0", st.Verified, st.Rejected)
				}
			} else {
				r.wantFault(t, tt.code, tt.reason)
				if st.Verified != 0 || st.Rejected != 1 {
					t.Errorf("verified %d, rejected %d; want 0 and 1", st.Verified, st.Rejected)
				}
			}
			if st.Issued != 0 || len(st.Contexts) != 0 {
				t.Errorf("issued %d, %d contexts counted; a certificate message involves none", st.Issued, len(st.Contexts))
			}
		})
	}
}

// TestCertificateSignedNeedsNoContextToken: a header with a
// BinarySecurityToken beside a SecurityContextToken is a context message
// (its context must be known), not a certificate one.
func TestCertificateSignedNeedsNoContextToken(t *testing.T) {
	h := start(t, Config{})
	m := msg{soap: soap.V12, wsa: wsa.V10, action: echoAction, body: echoBody}
	b := x509Signed(t, m, h.pki.good, h.pki.goodKey, h.clock.Now())
	tests := []struct {
		name string
		src  []byte
		want bool
	}{
		{"certificate only", b, true},
		{"with a context token", bytes.Replace(b, []byte("</o:Security>"), []byte(sctXML(wssc.Feb2005, "urn:uuid:unknown")+"</o:Security>"), 1), false},
		{"no security header", []byte(msg{soap: soap.V12, wsa: wsa.V10, action: echoAction, security: "-", body: echoBody}.xml()), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := soap.Parse(tt.src, xmldoc.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if got := certificateSigned(env); got != tt.want {
				t.Errorf("certificateSigned = %v, want %v", got, tt.want)
			}
		})
	}
	r := h.post(soap.V12, echoAction, bytes.Replace(b, []byte("</o:Security>"), []byte(sctXML(wssc.Feb2005, "urn:uuid:unknown")+"</o:Security>"), 1))
	if r.fault == nil || h.srv.Stats().Verified != 0 {
		t.Fatalf("a certificate signature beside an unknown context token was accepted:\n%s", r.raw)
	}
}
