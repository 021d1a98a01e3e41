package interop

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/scproxy/scproxy/internal/cxfpeer"
	"github.com/scproxy/scproxy/session"
)

// The message-security scenarios (cxfpeer.MsgScenario): the service's
// SymmetricBinding protected by the context token, bootstrapped without
// TLS by AnonymousForCertificate, UserNameForCertificate,
// MutualCertificate or MutualCertificate10, in three protection orders,
// both WS-SC versions, with and without derived keys, with Cancel and
// with MustNotSendCancel. CXF's own client proves each one
// (TestCXFMessagePeer); then scproxy runs each one's whole life
// (TestCXFMessage).

// msgFlags are the flags of `scproxy run` for a message-security
// scenario, as a user would write them: the profile, its bootstrap and
// the credential it needs, the service certificate, the suite, the
// protection order, derived keys, Cancel, the WS-SC version.
func msgFlags(s cxfpeer.MsgScenario, upstream string) []string {
	a := []string{"--upstream", upstream, "--ca-file", shared.pki.CAFile,
		"--profile", "message", "--message-bootstrap", s.Bootstrap, "--server-cert", shared.pki.ServerCert,
		"--algorithm-suite", s.Suite, "--protection-order", s.Order,
		"--derived-keys=" + fmt.Sprint(s.Derived), "--sc-version", s.SCVersion(), "--addressing", "1.0"}
	switch s.Bootstrap {
	case "username":
		a = append(a, "--username", testUser, "--password-env", passwordEnv)
	case "mutual", "mutual10":
		a = append(a, "--cert-file", shared.pki.ClientCert, "--key-file", shared.pki.ClientKey)
	}
	if !s.Cancel {
		a = append(a, "--no-cancel")
	}
	// CXF's service checks a Renew against the bootstrap binding, the
	// context endorsing, as WCF's client sends it: scproxy's default
	// (--message-renew bootstrap).
	return a
}

// contextKeyLine is one line of the service's key log: a context it
// issued or renewed, and its secret.
type contextKeyLine struct {
	Path   string `json:"path"`
	ID     string `json:"id"`
	Secret string `json:"secret"`
}

// readKeyLog reads the key log of one endpoint path from byte offset from.
func readKeyLog(t *testing.T, file string, from int64, path string) []contextKeyLine {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(from, 0); err != nil {
		t.Fatal(err)
	}
	var out []contextKeyLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var k contextKeyLine
		if json.Unmarshal(sc.Bytes(), &k) == nil && k.Path == path {
			out = append(out, k)
		}
	}
	return out
}

// checkMsgRun checks the service's view of one client's life on a
// message-security endpoint: one context issued and renewed in place
// (the same identifier, a new secret, each time), every request accepted,
// each application message sent with the context, and the Cancels: at
// least one accepted for a scenario with Cancel, none sent under
// MustNotSendCancel. apps is the number of application messages, or -1
// for any; renewals the least number of renewals.
func checkMsgRun(t *testing.T, s cxfpeer.MsgScenario, xs []exchange, ks []contextKeyLine, apps, renewals int) {
	t.Helper()
	n := ops(xs)
	if n["Issue"] != 1 || n["Renew"] < renewals || apps >= 0 && n["App"] != apps {
		t.Fatalf("the service saw %v, want one Issue, at least %d Renews and %d application messages:\n%s", n, renewals, apps, dump(xs))
	}
	if len(ks) != 1+n["Renew"] {
		t.Fatalf("the service keyed %d contexts, want the Issue's and one per Renew (%d)", len(ks), n["Renew"])
	}
	seen := map[string]bool{}
	for _, k := range ks {
		if k.ID != ks[0].ID || seen[k.Secret] {
			t.Fatalf("the contexts were not renewed in place with new keys: %s then %s", ks[0].ID, k.ID)
		}
		if b, err := base64.StdEncoding.DecodeString(k.Secret); err != nil || len(b) < 16 {
			t.Fatalf("context %s: a secret of %d bytes (%v)", k.ID, len(b), err)
		}
		seen[k.Secret] = true
	}
	for _, x := range xs {
		if x.Op == "Cancel" {
			continue
		}
		if x.Status != 200 {
			t.Fatalf("the service refused a request: %s\n%s", x, dump(xs))
		}
		if x.Op == "App" && x.Used != ks[0].ID {
			t.Fatalf("application message not sent with the context %s: %s", ks[0].ID, x)
		}
	}
	checkCancels(t, s, xs)
}

// checkCancels: at least one Cancel accepted for a scenario with Cancel,
// none sent under MustNotSendCancel.
func checkCancels(t *testing.T, s cxfpeer.MsgScenario, xs []exchange) {
	t.Helper()
	accepted := 0
	for _, x := range xs {
		if x.Op == "Cancel" && x.Status == 200 {
			accepted++
		}
	}
	switch {
	case s.Cancel && accepted == 0:
		t.Errorf("the service accepted no Cancel:\n%s", dump(xs))
	case !s.Cancel && ops(xs)["Cancel"] != 0:
		t.Errorf("a Cancel was sent under MustNotSendCancel:\n%s", dump(xs))
	}
}

// msgClient is CXF's message-security client, started once.
var msgClient struct {
	once sync.Once
	c    *cxfpeer.MsgClient
	err  error
}

// TestCXFMessagePeer proves each message-security scenario of the peer
// with CXF's own client: bootstrap, two echoes, a renewal, an echo on the
// renewed key and, unless MustNotSendCancel, an echo and a Cancel, each
// accepted by the service (its wire log and key log say so).
func TestCXFMessagePeer(t *testing.T) {
	setup(t)
	client := startMsgClient(t)
	scs := shared.peer.MsgScenarios()
	if len(scs) < 12 {
		t.Fatalf("the peer serves %d message-security scenarios, want at least 12", len(scs))
	}
	for _, s := range scs {
		t.Run(strings.TrimPrefix(s.Path, "/msg/"), func(t *testing.T) {
			from, keysFrom := wireSize(t, shared.peer.WireLog), wireSize(t, shared.peer.KeyLog)
			got, err := client.Run(s)
			if err != nil {
				t.Fatalf("%v\nthe client's log:\n%s", err, client.StderrTail())
			}
			want := "renewed no-cancel"
			if s.Cancel {
				want = "renewed cancel-sent"
			}
			if got != want {
				t.Fatalf("CXF's client says %q, want %q", got, want)
			}
			apps := 3
			if s.Cancel {
				apps = 4
			}
			checkMsgRun(t, s, only(readWire(t, shared.peer.WireLog, from), s.Path),
				readKeyLog(t, shared.peer.KeyLog, keysFrom, s.Path), apps, 1)
		})
	}
}

// TestCXFMessage runs each message-security scenario's whole life through
// `scproxy run` against the CXF service: establishment under the
// scenario's bootstrap, 20 echoes from an application of the service's
// SOAP version (a 64 KB one among them), a proactive renewal driven by
// the context's short lifetime, 5 echoes on the renewed key, and at
// shutdown the Cancel (none under MustNotSendCancel), as the service's
// wire and key logs show. One scenario runs again for a SOAP 1.1
// application in front of a SOAP 1.2 service. A scenario whose feature
// scproxy lacks is skipped, naming what is missing.
func TestCXFMessage(t *testing.T) {
	setup(t)
	scs := shared.peer.MsgScenarios()
	if len(scs) == 0 {
		t.Fatal("the peer serves no message-security scenario")
	}
	t.Run("lifecycle", func(t *testing.T) {
		for _, s := range scs {
			t.Run(strings.TrimPrefix(s.Path, "/msg/"), func(t *testing.T) {
				t.Parallel()
				testMsgLifecycle(t, s, false)
			})
		}
	})
	// After the others: the same endpoint, its logs read alone.
	for _, s := range scs {
		if s.SOAP12 {
			t.Run("bridged-soap1.1/"+strings.TrimPrefix(s.Path, "/msg/"), func(t *testing.T) {
				testMsgLifecycle(t, s, true)
			})
			break
		}
	}
}

// testMsgLifecycle runs one scenario's life through scproxy; bridged: the
// application speaks SOAP 1.1 to a SOAP 1.2 service (--soap-version).
func testMsgLifecycle(t *testing.T, s cxfpeer.MsgScenario, bridged bool) {
	wire, keyLog := shared.peer.WireLog, shared.peer.KeyLog
	from, keysFrom := wireSize(t, wire), wireSize(t, keyLog)
	args := append(msgFlags(s, shared.peer.Plain+s.Path), "--rollover", "1m")
	appSOAP12 := s.SOAP12
	if bridged {
		args = append(args, "--soap-version", "1.2")
		appSOAP12 = false
	}
	px := startProxy(t, args...)
	for i := range 20 {
		size := 200 + i*50
		if i == 10 {
			size = 64 << 10
		}
		if err := px.echo(t, appSOAP12, echoElement(i, size)); err != nil {
			t.Fatalf("message %d: %v\nscproxy log:\n%s\nservice saw:\n%s", i, err, px.output(), dump(only(readWire(t, wire, from), s.Path)))
		}
	}
	st := px.waitStatus(t, 3*peerLifetime, "a renewal or a new context", func(st session.Status) bool {
		return st.Renewals >= 1 || st.Establishes >= 2
	})
	if st.Renewals < 1 {
		t.Fatalf("the context was not renewed in place: %+v\nscproxy log:\n%s\nservice saw:\n%s", st, px.output(), dump(only(readWire(t, wire, from), s.Path)))
	}
	for i := range 5 {
		if err := px.echo(t, appSOAP12, echoElement(100+i, 1000)); err != nil {
			t.Fatalf("message after renewal %d: %v\nscproxy log:\n%s", i, err, px.output())
		}
	}
	if st := px.status(t); st.Requests != 25 || st.Resends != 0 || st.Establishes != 1 {
		t.Errorf("status: %d requests, %d resends, %d establishes; want 25, 0 and one establishment", st.Requests, st.Resends, st.Establishes)
	}
	px.shutdown(t)
	xs := only(readWire(t, wire, from), s.Path)
	checkMsgRun(t, s, xs, readKeyLog(t, keyLog, keysFrom, s.Path), 25, 1)
}
