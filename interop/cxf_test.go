package interop

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/scproxy/scproxy/session"
)

// scenario is one endpoint of the peer and how scproxy is set up for it.
type scenario struct {
	policy    string // ut, x509: the peer's policy (path's first segment)
	version   string // 2005 or 13: the path's second segment
	soap12    bool   // the service's SOAP version (the path's last segment)
	scVersion string // --sc-version
	bootstrap string // --bootstrap
	// bridged: the application speaks the other SOAP version, and
	// scproxy converts (--soap-version).
	bridged bool
	// derived: the policy has RequireDerivedKeys, and scproxy signs
	// with derived keys (--derived-keys).
	derived bool
}

// appSOAP12 is the application's SOAP version.
func (s scenario) appSOAP12() bool { return s.soap12 != s.bridged }

func (s scenario) path() string {
	soap := "soap11"
	if s.soap12 {
		soap = "soap12"
	}
	return "/" + s.policy + "/" + s.version + "/" + soap
}

func (s scenario) name() string {
	soap := map[bool]string{false: "soap1.1", true: "soap1.2"}
	name := fmt.Sprintf("%s/sc-%s/%s", s.bootstrap, s.scVersion, soap[s.appSOAP12()])
	if s.bridged {
		name += "-to-" + soap[s.soap12]
	}
	if s.derived {
		name += "/derived-keys"
	}
	return name
}

// args are the flags of `scproxy run` for the scenario, as a user would
// write them.
func (s scenario) args() []string {
	a := []string{"--upstream", shared.peer.URL(strings.TrimPrefix(s.path(), "/")), "--ca-file", shared.pki.CAFile,
		"--sc-version", s.scVersion, "--bootstrap", s.bootstrap, "--addressing", "1.0"}
	switch s.bootstrap {
	case "username":
		a = append(a, "--username", testUser, "--password-env", passwordEnv)
	case "certificate":
		a = append(a, "--cert-file", shared.pki.ClientCert, "--key-file", shared.pki.ClientKey)
	}
	if s.bridged {
		a = append(a, "--soap-version", map[bool]string{false: "1.1", true: "1.2"}[s.soap12])
	}
	if s.derived {
		a = append(a, "--derived-keys")
	}
	return a
}

// scenarios: SC over TLS with a username or an X.509 bootstrap, in both
// WS-SC versions, for SOAP 1.1 and SOAP 1.2 applications; and a legacy
// SOAP 1.1 application in front of a SOAP 1.2 service, bridged.
func scenarios() []scenario {
	var out []scenario
	for _, b := range []struct{ policy, bootstrap string }{{"ut", "username"}, {"x509", "certificate"}} {
		for _, v := range []struct{ path, flag string }{{"2005", "2005-02"}, {"13", "1.3"}} {
			for _, soap12 := range []bool{false, true} {
				out = append(out, scenario{policy: b.policy, version: v.path, soap12: soap12, scVersion: v.flag, bootstrap: b.bootstrap})
			}
		}
	}
	return append(out, scenario{policy: "ut-bridged", version: "13", soap12: true, scVersion: "1.3", bootstrap: "username", bridged: true})
}

// TestCXF runs every scenario's whole life against the CXF service: the
// scenarios in parallel (each on its own endpoint), then a restart of the
// service under all of them.
func TestCXF(t *testing.T) {
	setup(t)
	t.Logf("CXF peer started in %v", shared.peerTime)
	t.Run("lifecycle", func(t *testing.T) {
		for _, sc := range scenarios() {
			t.Run(sc.name(), func(t *testing.T) {
				t.Parallel()
				testLifecycle(t, sc)
			})
		}
	})
	t.Run("restart", func(t *testing.T) { testRestart(t, scenarios()) })
}

// testLifecycle: establishment, 50 echoes, a proactive renewal driven by
// the context's short lifetime, more echoes on the renewed key, and the
// cancel at shutdown of the context, checked in the service's own log.
// The service accepts scproxy's Renew (the bootstrap credential endorsed
// by the context, WCF's shape): the context keeps its identifier with a
// new key, and the service sees one Issue only. How many renewals fall
// within the test depends on the machine's speed, never the outcome.
func testLifecycle(t *testing.T, sc scenario) {
	wire := shared.peer.WireLog
	from := wireSize(t, wire)
	px := startProxy(t, append(sc.args(), "--rollover", "1m")...)
	for i := range 50 {
		if err := px.echo(t, sc.appSOAP12(), echoElement(i, 200+i*40)); err != nil {
			t.Fatalf("message %d: %v\nscproxy log:\n%s\nservice saw:\n%s", i, err, px.output(), dump(only(readWire(t, wire, from), sc.path())))
		}
	}
	xs := only(readWire(t, wire, from), sc.path())
	if xs[0].Op != "Issue" || xs[0].Issued == "" || xs[0].Status != 200 {
		t.Fatalf("first exchange is not a successful Issue: %s", xs[0])
	}
	checkContexts(t, xs, 50)

	// The service's contexts live peerLifetime: scproxy renews at 60% of it.
	px.waitStatus(t, 3*peerLifetime, "a proactive renewal", func(s session.Status) bool {
		return s.Renewals >= 1
	})
	for i := range 5 {
		if err := px.echo(t, sc.appSOAP12(), echoElement(100+i, 1000)); err != nil {
			t.Fatalf("message after renewal %d: %v\nscproxy log:\n%s", i, err, px.output())
		}
	}
	if st := px.status(t); st.Requests != 55 || st.Resends != 0 || st.Establishes != 1 || st.Renewals < 1 {
		t.Errorf("status: %d requests, %d resends, %d establishes, %d renewals; want 55, 0, 1 and at least 1", st.Requests, st.Resends, st.Establishes, st.Renewals)
	}
	xs = only(readWire(t, wire, from), sc.path())
	issued := checkContexts(t, xs, 55)
	if len(issued) < 2 || issued[len(issued)-1].Op != "Renew" {
		t.Fatalf("want the context renewed in place, the service answered %d Issues and Renews:\n%s", len(issued), dump(xs))
	}
	last := issued[len(issued)-1]
	for _, x := range xs[len(xs)-5:] {
		if x.Op != "App" || x.Used != last.Issued {
			t.Fatalf("message after renewal not sent with the newest context %s: %s", last.Issued, x)
		}
	}

	// Shutdown: every context still alive is cancelled, once; none twice.
	from2 := wireSize(t, wire)
	stopped := time.Now()
	px.shutdown(t)
	xs = only(readWire(t, wire, from), sc.path())
	cancelled := map[string]int{}
	for _, x := range xs {
		if x.Op == "Cancel" {
			cancelled[x.Target]++
			if x.Status != 200 {
				t.Logf("the service refused the Cancel of %s: %s", x.Target, x.Fault)
			}
		}
	}
	if ops(only(readWire(t, wire, from2), sc.path()))["Cancel"] == 0 {
		t.Errorf("the service saw no Cancel at shutdown")
	}
	known := map[string]bool{}
	for _, c := range issued {
		known[c.Issued] = true
		alive := c.Expires.IsZero() || c.Expires.After(stopped.Add(time.Second))
		if n := cancelled[c.Issued]; n > 1 || alive && n != 1 {
			t.Errorf("context %s (expires %v) cancelled %d times, want once", c.Issued, c.Expires, n)
		}
	}
	for id := range cancelled {
		if !known[id] {
			t.Errorf("Cancel of %s, a context the service never issued", id)
		}
	}
}

// checkContexts checks the service's view of one proxy: one Issue, every
// Renew accepted for the same context (renewed in place), each
// application message (apps of them) accepted and sent with the context
// issued before it; it returns the Issue and Renew answers, in order.
func checkContexts(t *testing.T, xs []exchange, apps int) []exchange {
	t.Helper()
	n := ops(xs)
	if n["App"] != apps || n["Issue"] != 1 || renewed(xs) != n["Renew"] {
		t.Fatalf("the service saw %v, want %d application messages, one Issue and every Renew accepted:\n%s", n, apps, dump(xs))
	}
	var issued []exchange
	for _, x := range xs {
		switch {
		case x.Issued != "" && x.Status == 200:
			if len(issued) > 0 && (x.Issued != issued[0].Issued || x.Target != issued[0].Issued) {
				t.Fatalf("the Renew answered for context %q, not the one issued, %q: %s", x.Issued, issued[0].Issued, x)
			}
			issued = append(issued, x)
		case x.Op == "App":
			if len(issued) == 0 || x.Status != 200 || x.Used != issued[len(issued)-1].Issued {
				t.Fatalf("application message not accepted with the newest context: %s\n%s", x, dump(xs))
			}
		}
	}
	return issued
}

// renewed counts the Renews the service accepted.
func renewed(xs []exchange) int {
	n := 0
	for _, x := range xs {
		if x.Op == "Renew" && x.Issued != "" {
			n++
		}
	}
	return n
}

// issuedContexts lists the distinct contexts the service issued or renewed
// successfully, in order.
func issuedContexts(xs []exchange) []string {
	var ids []string
	seen := map[string]bool{}
	for _, x := range xs {
		if x.Issued != "" && x.Status == 200 && !seen[x.Issued] {
			seen[x.Issued] = true
			ids = append(ids, x.Issued)
		}
	}
	return ids
}

// testRestart: the service restarts and forgets every context; each
// proxy establishes a new one on its next request, once, and resends:
// no fault reaches an application.
func testRestart(t *testing.T, scs []scenario) {
	wire := shared.peer.WireLog
	var pxs []*proxy
	for _, sc := range scs {
		px := startProxy(t, sc.args()...)
		if err := px.echo(t, sc.appSOAP12(), echoElement(0, 300)); err != nil {
			t.Fatalf("%s before the restart: %v\n%s", sc.name(), err, px.output())
		}
		pxs = append(pxs, px)
	}
	from := wireSize(t, wire)
	if err := shared.peer.Restart(); err != nil {
		t.Fatal(err)
	}
	for i, sc := range scs {
		for j := range 3 {
			if err := pxs[i].echo(t, sc.appSOAP12(), echoElement(j+1, 300)); err != nil {
				t.Errorf("%s after the restart, message %d: %v\nscproxy log:\n%s\nservice saw:\n%s", sc.name(), j, err,
					pxs[i].output(), dump(only(readWire(t, wire, from), sc.path())))
			}
		}
	}
	for i, sc := range scs {
		xs := only(readWire(t, wire, from), sc.path())
		n := ops(xs)
		var rejected, accepted int
		for _, x := range xs {
			if x.Op != "App" {
				continue
			}
			if x.Status == 200 {
				accepted++
			} else {
				rejected++
			}
		}
		// The first request after the restart meets the forgotten context,
		// unless a renewal (refused, the context forgotten: a new Issue)
		// came first; a renewal running at the same moment shares the new
		// context's Issue.
		if accepted != 3 || rejected > 1 || n["Issue"] < 1 || n["Issue"] > rejected+n["Renew"] {
			t.Errorf("%s after the restart: %v, %d messages rejected, %d accepted; want 3 accepted, one new context, and a rejected message only without a renewal\n%s",
				sc.name(), n, rejected, accepted, dump(xs))
		}
		if st := pxs[i].status(t); st.Resends != int64(rejected) {
			t.Errorf("%s: %d resends, want %d (each rejected message resent once)", sc.name(), st.Resends, rejected)
		}
	}
}

// derivedScenarios: SC over TLS under a policy with RequireDerivedKeys
// on the context token, username bootstrap, in both WS-SC versions, for
// SOAP 1.1 and SOAP 1.2 applications.
func derivedScenarios() []scenario {
	var out []scenario
	for _, v := range []struct{ path, flag string }{{"2005", "2005-02"}, {"13", "1.3"}} {
		for _, soap12 := range []bool{false, true} {
			out = append(out, scenario{policy: "ut-dk", version: v.path, soap12: soap12, scVersion: v.flag, bootstrap: "username", derived: true})
		}
	}
	return out
}

// TestCXFRequireDerivedKeys runs the whole life of each scenario whose
// policy puts RequireDerivedKeys on the context token over TLS: the
// service accepts only endorsing signatures made with a key derived from
// the context key, which scproxy makes under --derived-keys. Establishment,
// 50 echoes, renewal, cancel at shutdown, then a restart of the service
// under all of them, as TestCXF asserts.
func TestCXFRequireDerivedKeys(t *testing.T) {
	setup(t)
	t.Run("lifecycle", func(t *testing.T) {
		for _, sc := range derivedScenarios() {
			t.Run(sc.name(), func(t *testing.T) {
				t.Parallel()
				testLifecycle(t, sc)
			})
		}
	})
	t.Run("restart", func(t *testing.T) { testRestart(t, derivedScenarios()) })
}
