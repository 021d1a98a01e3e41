package wssc

import (
	"slices"
	"testing"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

// TestVersionURIs pins every URI against the table of the protocol notes.
func TestVersionURIs(t *testing.T) {
	const (
		fsc = "http://schemas.xmlsoap.org/ws/2005/02/sc"
		ftr = "http://schemas.xmlsoap.org/ws/2005/02/trust"
		osc = "http://docs.oasis-open.org/ws-sx/ws-secureconversation/200512"
		otr = "http://docs.oasis-open.org/ws-sx/ws-trust/200512"
	)
	tests := []struct {
		name      string
		got, want string
	}{
		{"feb token type", Feb2005.TokenType(), fsc + "/sct"},
		{"feb dk", Feb2005.DKValueType(), fsc + "/dk"},
		{"feb issue", Feb2005.Action(Issue), ftr + "/RST/SCT"},
		{"feb issue reply", Feb2005.ReplyAction(Issue), ftr + "/RSTR/SCT"},
		{"feb renew", Feb2005.Action(Renew), ftr + "/RST/SCT/Renew"},
		{"feb renew reply", Feb2005.ReplyAction(Renew), ftr + "/RSTR/SCT/Renew"},
		{"feb cancel", Feb2005.Action(Cancel), ftr + "/RST/SCT/Cancel"},
		{"feb cancel reply", Feb2005.ReplyAction(Cancel), ftr + "/RSTR/SCT/Cancel"},
		{"feb request type", Feb2005.RequestType(Renew), ftr + "/Renew"},
		{"feb computed key", Feb2005.ComputedKeyPSHA1(), ftr + "/CK/PSHA1"},
		{"feb nonce", Feb2005.NonceType(), ftr + "/Nonce"},
		{"1.3 token type", V1_3.TokenType(), osc + "/sct"},
		{"1.3 dk", V1_3.DKValueType(), osc + "/dk"},
		{"1.3 issue", V1_3.Action(Issue), otr + "/RST/SCT"},
		// WCF answers a 1.3 SCT Issue with RSTR/SCT around a collection.
		{"1.3 issue reply", V1_3.ReplyAction(Issue), otr + "/RSTR/SCT"},
		{"1.3 renew reply", V1_3.ReplyAction(Renew), otr + "/RSTR/SCT/Renew"},
		{"1.3 cancel", V1_3.Action(Cancel), otr + "/RST/SCT/Cancel"},
		{"1.3 request type", V1_3.RequestType(Issue), otr + "/Issue"},
		{"1.3 computed key", V1_3.ComputedKeyPSHA1(), otr + "/CK/PSHA1"},
		{"1.3 symmetric key", V1_3.SymmetricKeyType(), otr + "/SymmetricKey"},
		{"1.3 fault", V1_3.Fault(RenewNeeded).String(), "{" + osc + "}RenewNeeded"},
		{"feb fault", Feb2005.Fault(BadContextToken).String(), "{" + fsc + "}BadContextToken"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

func TestReplyActions(t *testing.T) {
	const (
		ftr = "http://schemas.xmlsoap.org/ws/2005/02/trust"
		otr = "http://docs.oasis-open.org/ws-sx/ws-trust/200512"
	)
	tests := []struct {
		v    Version
		op   Operation
		want []string
	}{
		{Feb2005, Issue, []string{ftr + "/RSTR/SCT"}},
		{Feb2005, Cancel, []string{ftr + "/RSTR/SCT/Cancel"}},
		{V1_3, Issue, []string{otr + "/RSTR/SCT", otr + "/RSTRC/IssueFinal"}},
		{V1_3, Renew, []string{otr + "/RSTR/SCT/Renew"}},
	}
	for _, tc := range tests {
		if got := tc.v.ReplyActions(tc.op); !slices.Equal(got, tc.want) {
			t.Errorf("%v %v reply actions = %q, want %q", tc.v, tc.op, got, tc.want)
		}
	}
}

func TestVersionOf(t *testing.T) {
	tests := []struct {
		uri  string
		want Version
		ok   bool
	}{
		{"http://schemas.xmlsoap.org/ws/2005/02/sc", Feb2005, true},
		{"http://schemas.xmlsoap.org/ws/2005/02/trust", Feb2005, true},
		{"http://docs.oasis-open.org/ws-sx/ws-secureconversation/200512", V1_3, true},
		{"http://docs.oasis-open.org/ws-sx/ws-trust/200512", V1_3, true},
		{"http://docs.oasis-open.org/ws-sx/ws-trust/200512/", Version{}, false},
		{"http://schemas.xmlsoap.org/ws/2004/04/sc", Version{}, false},
		{"", Version{}, false},
	}
	for _, tc := range tests {
		got, ok := VersionOf(tc.uri)
		if got != tc.want || ok != tc.ok {
			t.Errorf("VersionOf(%q) = %v, %v", tc.uri, got, ok)
		}
	}
}

func TestFaultOf(t *testing.T) {
	tests := []struct {
		name xmldoc.Name
		v    Version
		code FaultCode
		ok   bool
	}{
		{V1_3.Fault(BadContextToken), V1_3, BadContextToken, true},
		{Feb2005.Fault(UnknownDerivationSource), Feb2005, UnknownDerivationSource, true},
		{xmldoc.Name{Space: Feb2005.Trust(), Local: "RenewNeeded"}, Version{}, "", false},
		{xmldoc.Name{Space: Feb2005.SC(), Local: "Other"}, Version{}, "", false},
		{xmldoc.Name{Space: NSDotNetSecurity, Local: "BadContextToken"}, Version{}, "", false},
	}
	for _, tc := range tests {
		v, c, ok := FaultOf(tc.name)
		if v != tc.v || c != tc.code || ok != tc.ok {
			t.Errorf("FaultOf(%s) = %v, %q, %v", tc.name, v, c, ok)
		}
	}
}

func TestOperationString(t *testing.T) {
	if Renew.String() != "Renew" || Operation(9).String() != "Operation(9)" {
		t.Error(Renew.String(), Operation(9).String())
	}
	if Feb2005.String() != "February 2005" || V1_3.String() != "1.3" {
		t.Error(Feb2005.String(), V1_3.String())
	}
}
