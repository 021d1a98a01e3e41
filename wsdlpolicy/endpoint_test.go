package wsdlpolicy

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/internal/testkit"
)

func load(t *testing.T, file string) []Endpoint {
	t.Helper()
	d, err := (&Loader{}).Load(context.Background(), filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	eps, err := d.Endpoints()
	if err != nil {
		t.Fatal(err)
	}
	return eps
}

// TestEndpoints reads each test WSDL, shaped like what WCF publishes for
// its bindings and like what the CXF peer serves, into the settings that
// reach each endpoint, or what scproxy cannot do for it.
func TestEndpoints(t *testing.T) {
	type want struct {
		port     string
		s        Settings
		cert     bool   // the service certificate is read from the identity
		cannot   string // a word of the first Unsupported; "" when reachable
		fix      string // a word of its Fix
		noteWord string // a word of some note
	}
	tests := []struct {
		file string
		want []want
	}{
		{"wshttp-message-username.wsdl", []want{{
			port: "WSHttpBinding_IOrders", s: Settings{SOAPVersion: "1.2", Addressing: "1.0", Profile: ProfileMessage, SCVersion: "2005-02", DerivedKeys: true, AlgorithmSuite: "Basic256", ProtectionOrder: "sign-encrypt-signature"},
			cannot: "TLSNego", fix: `negotiateServiceCredential="false"`,
		}}},
		{"wshttp-message-username-nonego.wsdl", []want{{
			port: "WSHttpBinding_IOrders", s: Settings{SOAPVersion: "1.2", Addressing: "1.0", Profile: ProfileMessage, SCVersion: "2005-02", MessageBootstrap: "username", DerivedKeys: true, AlgorithmSuite: "Basic256", ProtectionOrder: "sign-encrypt-signature"},
			cert: true,
		}}},
		{"wshttp-twmc-username.wsdl", []want{{
			port: "WSHttpBinding_IOrders", s: Settings{SOAPVersion: "1.2", Addressing: "1.0", Profile: ProfileSCOverTLS, SCVersion: "2005-02", Bootstrap: "username"},
		}}},
		{"ws2007-twmc-certificate.wsdl", []want{
			{port: "WS2007HttpBinding_IOrders", s: Settings{SOAPVersion: "1.2", Addressing: "1.0", Profile: ProfileSCOverTLS, SCVersion: "1.3", Bootstrap: "certificate", SignatureAlgorithm: "hmac-sha256"}, noteWord: "HMAC-SHA1"},
			{port: "WS2007HttpBinding_IOrders1", s: Settings{SOAPVersion: "1.2", Addressing: "1.0", Profile: ProfileMessage, SCVersion: "1.3", MessageBootstrap: "username", DerivedKeys: true, AlgorithmSuite: "Basic256", ProtectionOrder: "sign-encrypt-signature"}, cert: true},
		}},
		{"custom-sc-kerberos.wsdl", []want{{
			port: "CustomBinding_IOrders", s: Settings{SOAPVersion: "1.1", Addressing: "2004-08", Profile: ProfileSCOverTLS, SCVersion: "2005-02", Bootstrap: "kerberos", KeySize: 128, NoCancel: true, SPN: "HTTP/orders.corp.example.com"},
			noteWord: "MustNotSendCancel",
		}}},
		{"custom-sc-anonymous.wsdl", []want{
			{port: "CustomBinding_IOrders", s: Settings{SOAPVersion: "1.2", Addressing: "1.0", Profile: ProfileMessage, SCVersion: "1.3", MessageBootstrap: "anonymous", DerivedKeys: true, NoCancel: true, AlgorithmSuite: "Basic128", ProtectionOrder: "encrypt-sign"}, cert: true},
			{port: "CustomBinding_IOrders1", s: Settings{SOAPVersion: "1.2", Addressing: "1.0", Profile: ProfileMessage, SCVersion: "1.3", MessageBootstrap: "mutual10", DerivedKeys: true, AlgorithmSuite: "Basic256Sha256", ProtectionOrder: "sign-encrypt-signature"}, noteWord: "no service certificate"},
		}},
		{"wshttp-windows.wsdl", []want{
			{port: "WSHttpBinding_IOrders0", s: Settings{SOAPVersion: "1.2", Addressing: "1.0", Profile: ProfileMessage, SCVersion: "2005-02", DerivedKeys: true, AlgorithmSuite: "Basic256", ProtectionOrder: "sign-encrypt-signature"}, cannot: "SpnegoContextToken", fix: "KerberosOverTransport"},
			{port: "WSHttpBinding_IOrders1", s: Settings{SOAPVersion: "1.2", Addressing: "1.0", AlgorithmSuite: "Basic256", ProtectionOrder: "sign-encrypt-signature"}, cannot: "no security context", fix: `establishSecurityContext="true"`},
			{port: "WSHttpBinding_IOrders2", s: Settings{SOAPVersion: "1.2", Addressing: "1.0", Profile: ProfileSCOverTLS, SCVersion: "2005-02", Bootstrap: "username"}, cannot: "RequireClientCertificate", fix: `clientCredentialType="None"`},
			{port: "WSHttpBinding_IOrders3", s: Settings{SOAPVersion: "1.2", Addressing: "1.0", Profile: ProfileNone}, noteWord: "security mode Transport"},
		}},
		{"cxf-ut-2005-soap11.wsdl", []want{{port: "EchoPort_ut_2005_soap11", s: Settings{SOAPVersion: "1.1", Addressing: "1.0", Profile: ProfileSCOverTLS, SCVersion: "2005-02", Bootstrap: "username"}}}},
		{"cxf-ut-13-soap12.wsdl", []want{{port: "EchoPort_ut_13_soap12", s: Settings{SOAPVersion: "1.2", Addressing: "1.0", Profile: ProfileSCOverTLS, SCVersion: "1.3", Bootstrap: "username"}}}},
		{"cxf-x509-13-soap11.wsdl", []want{{port: "EchoPort_x509_13_soap11", s: Settings{SOAPVersion: "1.1", Addressing: "1.0", Profile: ProfileSCOverTLS, SCVersion: "1.3", Bootstrap: "certificate"}}}},
		{"cxf-x509-2005-soap12.wsdl", []want{{port: "EchoPort_x509_2005_soap12", s: Settings{SOAPVersion: "1.2", Addressing: "1.0", Profile: ProfileSCOverTLS, SCVersion: "2005-02", Bootstrap: "certificate"}}}},
		{"cxf-ut-dk-2005-soap12.wsdl", []want{{port: "EchoPort_ut-dk_2005_soap12", s: Settings{SOAPVersion: "1.2", Addressing: "1.0", Profile: ProfileSCOverTLS, SCVersion: "2005-02", Bootstrap: "username", DerivedKeys: true}}}},
		{"cxf-msg-anonymous-2005-soap12.wsdl", []want{{port: "EchoPort_msg_anonymous_2005_soap12", s: Settings{SOAPVersion: "1.2", Addressing: "1.0", Profile: ProfileMessage, SCVersion: "2005-02", MessageBootstrap: "anonymous", AlgorithmSuite: "Basic256", ProtectionOrder: "sign-encrypt-signature", DerivedKeys: true}, cert: true}}},
		{"cxf-msg-username-13-soap11.wsdl", []want{{port: "EchoPort_msg_username_13_soap11", s: Settings{SOAPVersion: "1.1", Addressing: "1.0", Profile: ProfileMessage, SCVersion: "1.3", MessageBootstrap: "username", AlgorithmSuite: "Basic256", ProtectionOrder: "sign-encrypt"}, cert: true}}},
		{"cxf-msg-mutual-13-soap12.wsdl", []want{{port: "EchoPort_msg_mutual_13_soap12", s: Settings{SOAPVersion: "1.2", Addressing: "1.0", Profile: ProfileMessage, SCVersion: "1.3", MessageBootstrap: "mutual", AlgorithmSuite: "Basic256", ProtectionOrder: "sign-encrypt-signature", NoCancel: true}, cert: true}}},
		{"cxf-msg-mutual10-2005-soap12.wsdl", []want{{port: "EchoPort_msg_mutual10_2005_soap12", s: Settings{SOAPVersion: "1.2", Addressing: "1.0", Profile: ProfileMessage, SCVersion: "2005-02", MessageBootstrap: "mutual10", AlgorithmSuite: "Basic256", ProtectionOrder: "sign-encrypt"}, cert: true}}},
		{"cxf-ut-dk-13-soap11.wsdl", []want{{port: "EchoPort_ut-dk_13_soap11", s: Settings{SOAPVersion: "1.1", Addressing: "1.0", Profile: ProfileSCOverTLS, SCVersion: "1.3", Bootstrap: "username", DerivedKeys: true}}}},
	}
	for _, tc := range tests {
		t.Run(strings.TrimSuffix(tc.file, ".wsdl"), func(t *testing.T) {
			eps := load(t, tc.file)
			if len(eps) != len(tc.want) {
				t.Fatalf("%d endpoints, want %d: %+v", len(eps), len(tc.want), eps)
			}
			for i, w := range tc.want {
				ep := eps[i]
				if ep.Port != w.port {
					t.Errorf("endpoint %d is port %q, want %q", i, ep.Port, w.port)
				}
				if ep.Settings != w.s {
					t.Errorf("%s: settings\n%+v\nwant\n%+v", w.port, ep.Settings, w.s)
				}
				if got := ep.Certificate != nil; got != w.cert {
					t.Errorf("%s: certificate read %v, want %v", w.port, got, w.cert)
				}
				if w.cert && ep.Certificate.Subject.CommonName != testkit.Server().Cert.Subject.CommonName {
					t.Errorf("%s: certificate %q, want the published one", w.port, ep.Certificate.Subject)
				}
				switch {
				case w.cannot == "" && len(ep.Unsupported) > 0:
					t.Errorf("%s: unsupported %+v", w.port, ep.Unsupported)
				case w.cannot != "" && len(ep.Unsupported) == 0:
					t.Errorf("%s: reachable, want unsupported %q", w.port, w.cannot)
				case w.cannot != "":
					u := ep.Unsupported[0]
					if !strings.Contains(u.What, w.cannot) || !strings.Contains(u.Fix, w.fix) {
						t.Errorf("%s: unsupported %+v, want %q fixed by %q", w.port, u, w.cannot, w.fix)
					}
					if len(ep.Unsupported) != 1 {
						t.Errorf("%s: %d unsupported, want each named once: %+v", w.port, len(ep.Unsupported), ep.Unsupported)
					}
				}
				if w.noteWord != "" && !strings.Contains(strings.Join(ep.Notes, "\n"), w.noteWord) {
					t.Errorf("%s: notes %q lack %q", w.port, ep.Notes, w.noteWord)
				}
			}
		})
	}
}

// TestPolicyShapes: alternatives, references, optional assertions and the
// hostile shapes normalisation refuses.
func TestPolicyShapes(t *testing.T) {
	tests := []struct {
		name    string
		policy  string // inside the definitions; the binding references #P
		want    Settings
		wantErr string
		cannot  string // a word of the endpoint's first Unsupported
	}{
		{
			name: "second alternative reachable",
			policy: `<wsp:Policy wsu:Id="P"><wsp:ExactlyOne>
				<wsp:All><sp:SymmetricBinding><wsp:Policy><sp:ProtectionToken><wsp:Policy><sp:SpnegoContextToken/></wsp:Policy></sp:ProtectionToken></wsp:Policy></sp:SymmetricBinding></wsp:All>
				<wsp:All>` + twmc + `</wsp:All></wsp:ExactlyOne></wsp:Policy>`,
			want: Settings{SOAPVersion: "1.2", Profile: ProfileSCOverTLS, SCVersion: "2005-02", Bootstrap: "username"},
		},
		{
			name:   "nested reference and optional addressing",
			policy: `<wsp:Policy wsu:Id="P"><wsp:PolicyReference URI="#Q"/><wsaw:UsingAddressing wsp:Optional="true"/></wsp:Policy><wsp:Policy wsu:Id="Q">` + twmc + `</wsp:Policy>`,
			want:   Settings{SOAPVersion: "1.2", Addressing: "1.0", Profile: ProfileSCOverTLS, SCVersion: "2005-02", Bootstrap: "username"},
		},
		{
			name:    "no alternative",
			policy:  `<wsp:Policy wsu:Id="P"><wsp:ExactlyOne/></wsp:Policy>`,
			wantErr: "",
			cannot:  "no alternative",
		},
		{
			name:    "reference cycle",
			policy:  `<wsp:Policy wsu:Id="P"><wsp:PolicyReference URI="#Q"/></wsp:Policy><wsp:Policy wsu:Id="Q"><wsp:PolicyReference URI="#P"/></wsp:Policy>`,
			wantErr: "cycle",
		},
		{
			name:    "two policies with one id",
			policy:  `<wsp:Policy wsu:Id="P"/><wsp:Policy wsu:Id="P">` + twmc + `</wsp:Policy>`,
			wantErr: "more than one policy",
		},
		{
			name:    "reference to nothing",
			policy:  `<wsp:Policy wsu:Id="X"/>`,
			wantErr: `"#P" names no policy`,
		},
		{
			name:    "alternatives multiply",
			policy:  `<wsp:Policy wsu:Id="P">` + strings.Repeat(`<wsp:ExactlyOne><a:x xmlns:a="urn:a"/><a:y xmlns:a="urn:a"/></wsp:ExactlyOne>`, 8) + `</wsp:Policy>`,
			wantErr: "more than 64 alternatives",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "svc.wsdl")
			if err := os.WriteFile(file, []byte(wsdlWith(tc.policy)), 0o644); err != nil {
				t.Fatal(err)
			}
			d, err := (&Loader{}).Load(context.Background(), file)
			if err != nil {
				t.Fatal(err)
			}
			eps, err := d.Endpoints()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.cannot != "" {
				if len(eps[0].Unsupported) != 1 || !strings.Contains(eps[0].Unsupported[0].What, tc.cannot) {
					t.Errorf("unsupported %+v, want %q", eps[0].Unsupported, tc.cannot)
				}
				return
			}
			if eps[0].Settings != tc.want || len(eps[0].Unsupported) != 0 {
				t.Errorf("settings %+v unsupported %+v, want %+v", eps[0].Settings, eps[0].Unsupported, tc.want)
			}
		})
	}
}

// twmc is WCF's TransportWithMessageCredential policy body (UserName, WS-SP 2005/07).
const twmc = `<sp:TransportBinding><wsp:Policy><sp:TransportToken><wsp:Policy><sp:HttpsToken RequireClientCertificate="false"/></wsp:Policy></sp:TransportToken></wsp:Policy></sp:TransportBinding>
<sp:EndorsingSupportingTokens><wsp:Policy><sp:SecureConversationToken><wsp:Policy><sp:BootstrapPolicy><wsp:Policy>
<sp:SignedSupportingTokens><wsp:Policy><sp:UsernameToken/></wsp:Policy></sp:SignedSupportingTokens>
</wsp:Policy></sp:BootstrapPolicy></wsp:Policy></sp:SecureConversationToken></wsp:Policy></sp:EndorsingSupportingTokens>`

// wsdlWith returns a one-port SOAP 1.2 description whose binding
// references policy #P.
func wsdlWith(policy string) string {
	return `<wsdl:definitions targetNamespace="urn:t" xmlns:tns="urn:t" xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/"
 xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy" xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
 xmlns:sp="http://schemas.xmlsoap.org/ws/2005/07/securitypolicy" xmlns:wsaw="http://www.w3.org/2006/05/addressing/wsdl">` + policy + `
<wsdl:binding name="B" type="tns:I"><wsp:PolicyReference URI="#P"/><soap12:binding transport="http://schemas.xmlsoap.org/soap/http"/></wsdl:binding>
<wsdl:service name="S"><wsdl:port name="P1" binding="tns:B"><soap12:address location="https://svc.example.com/S.svc"/></wsdl:port></wsdl:service>
</wsdl:definitions>`
}
