package wssc

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

func TestClassifyFault(t *testing.T) {
	const wcfReason = "The message could not be processed. This is most likely because the action 'urn:a' is incorrect or because the message contains an invalid or expired security context token or because there is a mismatch between bindings."
	sc13 := "http://docs.oasis-open.org/ws-sx/ws-secureconversation/200512"
	sc05 := "http://schemas.xmlsoap.org/ws/2005/02/sc"
	// wcf is the envelope of WCF's unsecured fault: the WS-Addressing
	// fault action, no Security header.
	wcf := FaultEnvelope{Action: "http://www.w3.org/2005/08/addressing/soap/fault"}
	tests := []struct {
		name  string
		fault *soap.Fault
		env   FaultEnvelope
		want  ContextFault
	}{
		{"RenewNeeded 1.3", soap.NewFault(soap.Sender, "renew", xmldoc.Name{Space: sc13, Local: "RenewNeeded"}), FaultEnvelope{}, ContextRenewNeeded},
		{"RenewNeeded Feb 2005", soap.NewFault(soap.Sender, "renew", xmldoc.Name{Space: sc05, Local: "RenewNeeded"}), FaultEnvelope{}, ContextRenewNeeded},
		{"RenewNeeded as the 1.1 faultcode", &soap.Fault{Version: soap.V11, Code: xmldoc.Name{Space: sc05, Local: "RenewNeeded"}}, FaultEnvelope{}, ContextRenewNeeded},
		{"RenewNeeded outranks the reason", soap.NewFault(soap.Sender, wcfReason, xmldoc.Name{Space: sc13, Local: "RenewNeeded"}), FaultEnvelope{}, ContextRenewNeeded},
		{"BadContextToken 1.3", soap.NewFault(soap.Sender, "bad", xmldoc.Name{Space: sc13, Local: "BadContextToken"}), FaultEnvelope{}, ContextRejected},
		{"BadContextToken Feb 2005", soap.NewFault(soap.Receiver, "bad", xmldoc.Name{Space: sc05, Local: "BadContextToken"}), FaultEnvelope{}, ContextRejected},
		{"SecuritySessionAborted", soap.NewFault(soap.Sender, "aborted", xmldoc.Name{Space: NSDotNetSecurity, Local: "SecuritySessionAborted"}), FaultEnvelope{}, ContextRejected},
		{"WCF's unsecured fault, by its shape", soap.NewFault(soap.Sender, wcfReason), wcf, ContextRejected},
		{"WCF's unsecured fault with WS-Addressing 2004/08", soap.NewFault(soap.Sender, wcfReason), FaultEnvelope{Action: "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault"}, ContextRejected},
		{"the reason in another case", soap.NewFault(soap.Sender, "An INVALID OR EXPIRED Security Context Token."), wcf, ContextRejected},
		{"the reason from the receiver is the service's own", soap.NewFault(soap.Receiver, wcfReason), wcf, ContextUsable},
		{"the reason alone: no action", soap.NewFault(soap.Sender, wcfReason), FaultEnvelope{}, ContextUsable},
		{"wsse:FailedCheck", soap.NewFault(soap.Sender, "check failed", xmldoc.Name{Space: wss.NSWSSE, Local: "FailedCheck"}), FaultEnvelope{}, ContextSecurityFault},
		{"wsse:InvalidSecurityToken as the 1.1 faultcode", &soap.Fault{Version: soap.V11, Code: xmldoc.Name{Space: wss.NSWSSE, Local: "InvalidSecurityToken"}}, FaultEnvelope{}, ContextSecurityFault},
		{"WSS4J's SecurityError", soap.NewFault(soap.Sender, "a security error", xmldoc.Name{Space: "http://ws.apache.org/wss4j", Local: "SecurityError"}), FaultEnvelope{}, ContextSecurityFault},
		{"a security code in another namespace", soap.NewFault(soap.Sender, "no", xmldoc.Name{Space: "urn:example", Local: "FailedCheck"}), FaultEnvelope{}, ContextUsable},
		{"the reason in a secured fault", soap.NewFault(soap.Sender, wcfReason), FaultEnvelope{Action: wcf.Action, Secured: true}, ContextUsable},
		{"the reason under the service's own action", soap.NewFault(soap.Sender, wcfReason), FaultEnvelope{Action: "http://tempuri.org/IService/EchoValidationFault"}, ContextUsable},
		{"the reason echoed in a validation fault with its own code", soap.NewFault(soap.Sender, "value 'an invalid or expired security context token' is not a valid order number",
			xmldoc.Name{Space: "urn:example:orders", Local: "Validation"}), wcf, ContextUsable},
		{"BadContextToken in another namespace", soap.NewFault(soap.Sender, "bad", xmldoc.Name{Space: "urn:other", Local: "BadContextToken"}), FaultEnvelope{}, ContextUsable},
		{"RenewNeeded in WS-Trust's namespace", soap.NewFault(soap.Sender, "renew", xmldoc.Name{Space: "http://docs.oasis-open.org/ws-sx/ws-trust/200512", Local: "RenewNeeded"}), FaultEnvelope{}, ContextUsable},
		{"SecuritySessionAborted in another namespace", soap.NewFault(soap.Sender, "aborted", xmldoc.Name{Space: sc13, Local: "SecuritySessionAborted"}), FaultEnvelope{}, ContextUsable},
		{"UnableToRenew is the application's", soap.NewFault(soap.Sender, "no", xmldoc.Name{Space: sc13, Local: "UnableToRenew"}), FaultEnvelope{}, ContextUsable},
		{"a service fault", soap.NewFault(soap.Receiver, "divide by zero"), FaultEnvelope{}, ContextUsable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ClassifyFault(tt.fault, tt.env); got != tt.want {
				t.Errorf("ClassifyFault(%v) = %d, want %d", tt.fault, got, tt.want)
			}
		})
	}
}

// TestClassifyWCFFaults classifies the faults WCF writes, as parsed from
// the wire, whatever prefixes they declare.
func TestClassifyWCFFaults(t *testing.T) {
	tests := []struct {
		file string
		want ContextFault
	}{
		{"../soap/testdata/faults/wcf-badcontexttoken-soap11.xml", ContextRejected},
		{"../soap/testdata/faults/wcf-badcontexttoken-soap12.xml", ContextRejected},
		{"../soap/testdata/faults/wcf-renewneeded-soap11.xml", ContextRenewNeeded},
		{"../soap/testdata/faults/wcf-renewneeded-soap12.xml", ContextRenewNeeded},
		{"../soap/testdata/faults/wcf-sessionaborted-soap12.xml", ContextRejected},
		{"../soap/testdata/faults/wcf-exceptiondetail-soap12.xml", ContextUsable},
		{"testdata/faults/wcf-unknowntoken-soap12.xml", ContextRejected},
		{"testdata/faults/echo-validation-soap12.xml", ContextUsable},
		{"testdata/faults/echo-validation-secured-soap12.xml", ContextUsable},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			b, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			env, err := soap.Parse(b, xmldoc.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			f, err := env.Fault()
			if err != nil || f == nil {
				t.Fatalf("Fault() = %v, %v", f, err)
			}
			if got := ClassifyFault(f, EnvelopeOf(env)); got != tt.want {
				t.Errorf("ClassifyFault = %d, want %d (fault %v)", got, tt.want, f)
			}
		})
	}
}
