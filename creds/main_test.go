package creds

import (
	"fmt"
	"os"
	"testing"

	"github.com/scproxy/scproxy/internal/keyringtest"
)

// keyringSession is a private bus with a real Secret Service, shared by
// the package's tests: the D-Bus library keeps one session connection per
// process, so the bus must be chosen before the first keyring call.
var (
	keyringSession *keyringtest.Session
	keyringErr     error
)

func TestMain(m *testing.M) {
	keyringSession, keyringErr = keyringtest.Start()
	if keyringErr == nil {
		os.Setenv("DBUS_SESSION_BUS_ADDRESS", keyringSession.Addr)
	} else {
		fmt.Fprintln(os.Stderr, "creds tests: no keyring:", keyringErr)
	}
	code := m.Run()
	if keyringSession != nil {
		keyringSession.Close()
	}
	os.Exit(code)
}

func needKeyring(t *testing.T) *keyringtest.Session {
	t.Helper()
	return keyringtest.Need(t, keyringSession, keyringErr)
}
