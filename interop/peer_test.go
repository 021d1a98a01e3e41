package interop

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/scproxy/scproxy/internal/cxfpeer"
)

// Aliases of the peer's bootstrap user.
const (
	testUser     = cxfpeer.User
	testPassword = cxfpeer.Password
)

// shared holds what every test of the binary shares: the scproxy binary,
// the keys and the running peer.
var shared struct {
	once     sync.Once
	err      error
	dir      string
	scproxy  string
	pki      *cxfpeer.PKI
	peer     *cxfpeer.Peer
	peerTime time.Duration
	// The Metro service, started by the first test that needs it.
	metroOnce sync.Once
	metro     *cxfpeer.Metro
	metroErr  error
}

// peerLifetime is the lifetime of the service's contexts: short, so that
// the proxy renews within the tests (at 60% of it).
const peerLifetime = 14 * time.Second

// setup builds scproxy and the peer and starts the peer, once per test
// binary; TestMain stops it.
func setup(t *testing.T) {
	t.Helper()
	java, mvn := cxfpeer.Require(t)
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "scproxy-interop-")
		if err != nil {
			shared.err = err
			return
		}
		shared.dir = dir
		shared.scproxy = filepath.Join(dir, "scproxy")
		if out, err := exec.Command("go", "build", "-o", shared.scproxy, "github.com/scproxy/scproxy/cmd/scproxy").CombinedOutput(); err != nil {
			shared.err = fmt.Errorf("building scproxy: %v\n%s", err, out)
			return
		}
		if shared.pki, err = cxfpeer.KitPKI(dir); err != nil {
			shared.err = err
			return
		}
		b, err := cxfpeer.BuildPeer(mvn)
		if err != nil {
			shared.err = err
			return
		}
		start := time.Now()
		shared.peer, shared.err = cxfpeer.Start(java, b, shared.pki, dir,
			cxfpeer.Options{Lifetime: peerLifetime, WireLog: filepath.Join(dir, "wire.jsonl"), KeyLog: filepath.Join(dir, "keys.jsonl")})
		shared.peerTime = time.Since(start)
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.peer != nil {
		shared.peer.Stop()
	}
	if shared.metro != nil {
		shared.metro.Stop()
	}
	if shared.dir != "" {
		if code != 0 && shared.peer != nil {
			// Keep the service's wire log (every message it received and
			// sent) and its own log for whoever reads the failure.
			fmt.Fprintf(os.Stderr, "interop: the CXF service's wire log is kept in %s, its log in %s\n",
				shared.peer.WireLog, filepath.Join(shared.dir, "peer-stderr.log"))
		} else {
			os.RemoveAll(shared.dir)
		}
	}
	os.Exit(code)
}
