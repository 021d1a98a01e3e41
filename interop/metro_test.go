package interop

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/scproxy/scproxy/internal/cxfpeer"
)

// setupMetro builds and starts the Metro service once per test binary
// (after setup: the same scproxy binary and keys); TestMain stops it.
// Metro's own client proves its endpoint before it is announced.
func setupMetro(t *testing.T) *cxfpeer.Metro {
	t.Helper()
	setup(t)
	java, mvn := cxfpeer.Require(t)
	shared.metroOnce.Do(func() {
		b, err := cxfpeer.BuildMetro(mvn)
		if err != nil {
			shared.metroErr = err
			return
		}
		shared.metro, shared.metroErr = cxfpeer.StartMetro(java, b, shared.pki, shared.dir)
	})
	if shared.metroErr != nil {
		t.Fatal(shared.metroErr)
	}
	return shared.metro
}

// TestMetroMessagePeer: Metro's own client establishes a context with the
// Metro service's message-security endpoint and echoes two messages
// through it (the service refuses to start otherwise).
func TestMetroMessagePeer(t *testing.T) {
	start := time.Now()
	m := setupMetro(t)
	t.Logf("Metro service proven by Metro's client and serving %s (%v)", m.URL, time.Since(start))
}

// TestMetroMessage runs scproxy against the Metro service's endpoint
// (AnonymousForCertificate, derived keys, EncryptSignature, Basic256,
// WS-SC February 2005, SOAP 1.2): establishment and 10 echoes from a SOAP
// 1.2 application, then shutdown.
func TestMetroMessage(t *testing.T) {
	m := setupMetro(t)
	s := cxfpeer.MetroScenario
	px := startProxy(t, msgFlags(s, m.URL)...)
	for i := range 10 {
		// The operation of Metro's WSDL: its element and action.
		text := fmt.Sprintf("message %d through scproxy %s", i, strings.Repeat("&amp;-ü-", i*40))
		got, err := px.call(t, true, "urn:scproxy:metro/echo", `<e:Echo xmlns:e="urn:scproxy:metro">`+text+`</e:Echo>`)
		if err == nil && !strings.Contains(got, text) {
			err = fmt.Errorf("the echo came back as %s", trim(got))
		}
		if err != nil {
			t.Fatalf("message %d: %v\nscproxy log:\n%s\nMetro's log:\n%s", i, err, px.output(), m.StderrTail())
		}
	}
	if st := px.status(t); st.Requests != 10 || st.Establishes != 1 || st.Resends != 0 {
		t.Errorf("status: %d requests, %d establishes, %d resends; want 10, 1, 0", st.Requests, st.Establishes, st.Resends)
	}
	px.shutdown(t)
}
