package wssc

import (
	"os"
	"testing"

	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

func TestClassifyFault(t *testing.T) {
	const wcfReason = "The message could not be processed. This is most likely because the action 'urn:a' is incorrect or because the message contains an invalid or expired security context token or because there is a mismatch between bindings."
	sc13 := "http://docs.oasis-open.org/ws-sx/ws-secureconversation/200512"
	sc05 := "http://schemas.xmlsoap.org/ws/2005/02/sc"
	tests := []struct {
		name  string
		fault *soap.Fault
		want  ContextFault
	}{
		{"RenewNeeded 1.3", soap.NewFault(soap.Sender, "renew", xmldoc.Name{Space: sc13, Local: "RenewNeeded"}), ContextRenewNeeded},
		{"RenewNeeded Feb 2005", soap.NewFault(soap.Sender, "renew", xmldoc.Name{Space: sc05, Local: "RenewNeeded"}), ContextRenewNeeded},
		{"RenewNeeded as the 1.1 faultcode", &soap.Fault{Version: soap.V11, Code: xmldoc.Name{Space: sc05, Local: "RenewNeeded"}}, ContextRenewNeeded},
		{"RenewNeeded outranks the reason", soap.NewFault(soap.Sender, wcfReason, xmldoc.Name{Space: sc13, Local: "RenewNeeded"}), ContextRenewNeeded},
		{"BadContextToken 1.3", soap.NewFault(soap.Sender, "bad", xmldoc.Name{Space: sc13, Local: "BadContextToken"}), ContextRejected},
		{"BadContextToken Feb 2005", soap.NewFault(soap.Receiver, "bad", xmldoc.Name{Space: sc05, Local: "BadContextToken"}), ContextRejected},
		{"SecuritySessionAborted", soap.NewFault(soap.Sender, "aborted", xmldoc.Name{Space: NSDotNetSecurity, Local: "SecuritySessionAborted"}), ContextRejected},
		{"WCF's unsecured fault, by its reason", soap.NewFault(soap.Sender, wcfReason), ContextRejected},
		{"the reason in another case", soap.NewFault(soap.Sender, "An INVALID OR EXPIRED Security Context Token."), ContextRejected},
		{"the reason from the receiver is the service's own", soap.NewFault(soap.Receiver, wcfReason), ContextUsable},
		{"BadContextToken in another namespace", soap.NewFault(soap.Sender, "bad", xmldoc.Name{Space: "urn:other", Local: "BadContextToken"}), ContextUsable},
		{"RenewNeeded in WS-Trust's namespace", soap.NewFault(soap.Sender, "renew", xmldoc.Name{Space: "http://docs.oasis-open.org/ws-sx/ws-trust/200512", Local: "RenewNeeded"}), ContextUsable},
		{"SecuritySessionAborted in another namespace", soap.NewFault(soap.Sender, "aborted", xmldoc.Name{Space: sc13, Local: "SecuritySessionAborted"}), ContextUsable},
		{"UnableToRenew is the application's", soap.NewFault(soap.Sender, "no", xmldoc.Name{Space: sc13, Local: "UnableToRenew"}), ContextUsable},
		{"a service fault", soap.NewFault(soap.Receiver, "divide by zero"), ContextUsable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ClassifyFault(tt.fault); got != tt.want {
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
		{"wcf-badcontexttoken-soap11.xml", ContextRejected},
		{"wcf-badcontexttoken-soap12.xml", ContextRejected},
		{"wcf-renewneeded-soap11.xml", ContextRenewNeeded},
		{"wcf-renewneeded-soap12.xml", ContextRenewNeeded},
		{"wcf-sessionaborted-soap12.xml", ContextRejected},
		{"wcf-exceptiondetail-soap12.xml", ContextUsable},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile("../soap/testdata/faults/" + tt.file)
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
			if got := ClassifyFault(f); got != tt.want {
				t.Errorf("ClassifyFault = %d, want %d (fault %v)", got, tt.want, f)
			}
		})
	}
}
