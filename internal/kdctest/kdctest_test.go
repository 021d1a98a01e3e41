package kdctest

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/types"
)

// TestRealm logs in to the started KDC with the user's password and with
// its keytab, gets a ticket for the service and decrypts it with the
// service keytab; a wrong password is refused by the KDC.
func TestRealm(t *testing.T) {
	k := Start(t)
	cfg, err := config.Load(k.Krb5Conf)
	if err != nil {
		t.Fatal(err)
	}
	userKT, err := keytab.Load(k.UserKeytab)
	if err != nil {
		t.Fatal(err)
	}
	serviceKT, err := keytab.Load(k.ServiceKeytab)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cl   *client.Client
		ok   bool
	}{
		{"password", client.NewWithPassword(k.User, k.Realm, k.Password, cfg, client.DisablePAFXFAST(true)), true},
		{"keytab", client.NewWithKeytab(k.User, k.Realm, userKT, cfg, client.DisablePAFXFAST(true)), true},
		{"wrong password", client.NewWithPassword(k.User, k.Realm, k.Password+"x", cfg, client.DisablePAFXFAST(true)), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer tc.cl.Destroy()
			err := tc.cl.Login()
			if (err == nil) != tc.ok {
				t.Fatalf("login: %v, want success %t", err, tc.ok)
			}
			if !tc.ok {
				if strings.Contains(err.Error(), k.Password) {
					t.Fatal("password in the error")
				}
				return
			}
			tkt, _, err := tc.cl.GetServiceTicket(k.SPN)
			if err != nil {
				t.Fatal(err)
			}
			spn := types.NewPrincipalName(2, k.SPN)
			if err := tkt.DecryptEncPart(serviceKT, &spn); err != nil {
				t.Fatalf("service keytab does not decrypt the ticket: %v", err)
			}
			if got := tkt.DecryptedEncPart.CName.PrincipalNameString() + "@" + tkt.DecryptedEncPart.CRealm; got != k.Principal() {
				t.Fatalf("ticket for client %s, want %s", got, k.Principal())
			}
		})
	}
}

// TestAddService adds a second service whose keytab cannot decrypt tickets
// for the first.
func TestAddService(t *testing.T) {
	k := Start(t)
	other := k.AddService(t, "HTTP/other.example.test", "other.keytab")
	kt, err := keytab.Load(other)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, e := range kt.Entries {
		names[strings.Join(e.Principal.Components, "/")+"@"+e.Principal.Realm] = true
	}
	if len(names) != 1 || !names["HTTP/other.example.test@"+Realm] {
		t.Fatalf("keytab holds %v", names)
	}
}

// recordingTB stands in for the test in require, recording a skip or a
// failure and stopping its goroutine as testing.T does.
type recordingTB struct {
	testing.TB
	skipped, failed string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestMissingBinaries: without the KDC binaries a test is skipped, naming
// the missing one, unless CI is set, when it fails.
func TestMissingBinaries(t *testing.T) {
	saved := searchPath
	t.Cleanup(func() { searchPath = saved })
	searchPath = []string{t.TempDir()}
	t.Setenv("PATH", t.TempDir())
	for _, ci := range []string{"", "1"} {
		t.Run("CI="+ci, func(t *testing.T) {
			t.Setenv("CI", ci)
			rec := &recordingTB{}
			done := make(chan struct{})
			go func() {
				defer close(done)
				require(rec)
			}()
			<-done
			got, other := rec.skipped, rec.failed
			if ci != "" {
				got, other = rec.failed, rec.skipped
			}
			if !strings.Contains(got, "krb5kdc not found") || other != "" {
				t.Fatalf("skipped %q, failed %q", rec.skipped, rec.failed)
			}
		})
	}
}
