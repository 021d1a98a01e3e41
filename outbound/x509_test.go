package outbound_test

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/internal/oracle"
	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/secure"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// x509PKI is the test kit's CA, which the test service trusts, the client
// certificate it signed, and the kit's certificate of a CA nobody trusts.
type x509PKI struct {
	pool            *x509.CertPool
	client, foreign secure.Certificate
}

func testPKI(t *testing.T) *x509PKI {
	t.Helper()
	return &x509PKI{
		pool:    testkit.Pool(),
		client:  secure.Certificate{Cert: testkit.Client().Cert, Key: testkit.Client().RSAKey()},
		foreign: secure.Certificate{Cert: testkit.OtherClient().Cert, Key: testkit.OtherClient().RSAKey()},
	}
}

// TestX509Profile runs the x509 profile through the real listener and the
// built-in service over TLS: every message is signed with the certificate
// (verified by the service and by xmlsec1), no context is ever issued, the
// status counts the messages; a certificate the service does not trust
// gets the application the service's fault.
func TestX509Profile(t *testing.T) {
	pki := testPKI(t)
	tests := []struct {
		name string
		cert secure.Certificate
		app  soap.Version
		sent soap.Version // what the service receives
		// wantCode is the service's fault code; zero for echoes.
		wantCode xmldoc.Name
	}{
		{name: "trusted certificate with a SOAP 1.1 application and a SOAP 1.2 service", cert: pki.client, app: soap.V11, sent: soap.V12},
		{name: "trusted certificate and SOAP 1.2 throughout", cert: pki.client, app: soap.V12, sent: soap.V12},
		{name: "certificate of an untrusted CA", cert: pki.foreign, app: soap.V11, sent: soap.V12,
			wantCode: xmldoc.Name{Space: wss.NSWSSE, Local: "FailedAuthentication"}},
	}
	const calls = 3
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rig := newUpstream(t, scserver.Config{TrustedCAs: pki.pool})
			cred := tt.cert
			sp := serveProxy(t, outbound.Config{
				Routes: routes(rig.url(t, "/Echo.svc")), RootCAs: rig.pool(),
				Security: outbound.SecurityContext, Profile: outbound.ProfileX509, Certificate: &cred,
				SOAP: tt.sent, Addressing: outbound.Addressing{Version: wsa.V10},
			})
			app := newApp(t)
			for i := range calls {
				text := strings.Repeat("x", i+1)
				r := app.post(sp.base+"/", tt.app, echoAction, envelope(tt.app, "", echoPayload(text)))
				if tt.wantCode == (xmldoc.Name{}) {
					wantEcho(t, r, tt.app, text, false)
					continue
				}
				if r.status != http.StatusInternalServerError {
					t.Errorf("HTTP %d, want the service's 500", r.status)
				}
				if f := wantFault(t, r, tt.app); f != nil && !f.Has(tt.wantCode) {
					t.Errorf("fault %v, want the service's %v", f, tt.wantCode)
				}
			}
			st := rig.srv.Stats()
			wantVerified := calls
			if tt.wantCode != (xmldoc.Name{}) {
				wantVerified = 0
			}
			if st.Verified != wantVerified || st.Issued != 0 || rig.issues() != 0 {
				t.Errorf("service verified %d, issued %d (%d Issue requests); want %d verified and nothing issued", st.Verified, st.Issued, rig.issues(), wantVerified)
			}
			status := statusOver(t, sp.base)
			if status.Profile != "x509" || len(status.Endpoints) != 0 {
				t.Errorf("status profile %q with %d context endpoints, want x509 and none", status.Profile, len(status.Endpoints))
			}
			if want := rig.url(t, "/Echo.svc").String(); len(status.Signed) != 1 || status.Signed[0].Endpoint != want || status.Signed[0].Requests != calls {
				t.Errorf("status signed %+v, want %d for %s", status.Signed, calls, want)
			}
			if rt := status.Runtime; rt.Goroutines == 0 || rt.Mallocs == 0 || rt.TotalAlloc == 0 {
				t.Errorf("status runtime %+v, want the process's counters", rt)
			}
			msgs := rig.appOnly()
			if len(msgs) != calls {
				t.Fatalf("the service received %d messages, want %d", len(msgs), calls)
			}
			if tt.wantCode == (xmldoc.Name{}) {
				checkCertificateSigned(t, msgs[0].body, tt.cert)
			}
		})
	}
}

// checkCertificateSigned has xmlsec1 verify a message the proxy sent with
// the certificate's public key, Timestamp and wsa:To signed, and checks
// that the message carries the certificate itself.
func checkCertificateSigned(t *testing.T, body []byte, cred secure.Certificate) {
	t.Helper()
	env, err := soap.Parse(body, xmldoc.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	sec := one(t, env.Header, wss.NameSecurity)
	got, err := wss.ParseX509Token(one(t, sec, wss.NameBinarySecurityToken))
	if err != nil || !got.Equal(cred.Cert) {
		t.Fatalf("the BinarySecurityToken does not carry the certificate (%v)", err)
	}
	if _, ok := xmldoc.Attr(one(t, env.Header, wsa.V10.Name("To")), wsuID); !ok {
		t.Fatal("wsa:To has no wsu:Id, so it cannot be signed")
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cred.Cert.Raw})
	ids := []string{timestampIDNode, wsa.NS10 + ":To"}
	if out, ok := oracle.XMLSecVerify(t, body, oracle.Key{CertPEM: certPEM}, ids...); !ok {
		t.Fatalf("xmlsec1 rejected the message:\n%s\n%s", out, body)
	}
}

// TestX509ConfigValidate: the x509 profile needs a certificate whose
// private key is at hand and RSA, and needs no bootstrap credential.
func TestX509ConfigValidate(t *testing.T) {
	pki := testPKI(t)
	mismatched := secure.Certificate{Cert: pki.client.Cert, Key: pki.foreign.Key}
	tests := []struct {
		name string
		cert *secure.Certificate
		want string // "" for valid
	}{
		{"certificate and its key, no bootstrap", &pki.client, ""},
		{"certificate with RSA-SHA256", &secure.Certificate{Cert: pki.client.Cert, Key: pki.client.Key, Method: dsig.RSASHA256}, ""},
		{"no certificate", nil, "no certificate"},
		{"certificate without key", &secure.Certificate{Cert: pki.client.Cert}, "no certificate"},
		{"key of another certificate", &mismatched, "does not belong"},
		{"HMAC method", &secure.Certificate{Cert: pki.client.Cert, Key: pki.client.Key, Method: dsig.HMACSHA1}, "signature method"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, err := url.Parse("https://svc.example/Echo.svc")
			if err != nil {
				t.Fatal(err)
			}
			cfg := outbound.Config{Routes: routes(up), Profile: outbound.ProfileX509, Certificate: tt.cert}
			err = cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate = %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

// statusOver reads the proxy's status as a client of the listener does.
func statusOver(t *testing.T, base string) outbound.Status {
	t.Helper()
	resp, err := http.Get(base + outbound.StatusPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st outbound.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("status: %v", err)
	}
	return st
}
