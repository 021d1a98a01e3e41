package scserver

import (
	"testing"

	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// TestAllowUnsecured: with AllowUnsecured a message without any Security
// header is echoed; without it, it is refused; and a Security header is
// checked either way (an empty one does not pass as "unsecured").
func TestAllowUnsecured(t *testing.T) {
	plain := msg{soap: soap.V12, wsa: wsa.V10, action: echoAction, security: "-", body: echoBody}
	emptySec := msg{soap: soap.V12, wsa: wsa.V10, action: echoAction, security: "", body: echoBody}
	tests := []struct {
		name  string
		allow bool
		m     msg
		code  xmldoc.Name // zero: echoed
	}{
		{"no header, allowed", true, plain, xmldoc.Name{}},
		{"no header, not allowed", false, plain, codeInvalidSecurity},
		{"empty Security header, allowed", true, emptySec, codeInvalidSecurity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t, Config{AllowUnsecured: tt.allow})
			r := h.post(soap.V12, echoAction, []byte(tt.m.xml()))
			if tt.code == (xmldoc.Name{}) {
				if got := r.ok(t).payload(t).Tag; got != "EchoStringResponse" {
					t.Errorf("payload %s, want EchoStringResponse", got)
				}
				if st := h.srv.Stats(); st.Verified != 0 || st.Rejected != 0 {
					t.Errorf("verified %d, rejected %d: an unsecured message is neither", st.Verified, st.Rejected)
				}
				return
			}
			r.wantFault(t, tt.code, "")
		})
	}
}
