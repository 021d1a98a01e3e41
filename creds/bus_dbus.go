//go:build (dragonfly && cgo) || (freebsd && cgo) || linux || netbsd || openbsd

package creds

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/godbus/dbus/v5"
)

// secretsName is the bus name of the Secret Service.
const secretsName = "org.freedesktop.secrets"

// checkKeyring makes sure a Secret Service is already running on an
// existing session bus before go-keyring is called. Without this check
// the D-Bus library would start a bus of its own (dbus-launch) and the bus
// would activate a keyring daemon, both left running after scproxy exits;
// and a headless host would wait for a prompt nobody sees.
func checkKeyring(ctx context.Context) error {
	addr := os.Getenv("DBUS_SESSION_BUS_ADDRESS")
	if addr == "" {
		rt := os.Getenv("XDG_RUNTIME_DIR")
		if rt == "" {
			return noBus("DBUS_SESSION_BUS_ADDRESS and XDG_RUNTIME_DIR are not set")
		}
		sock := filepath.Join(rt, "bus")
		if _, err := os.Stat(sock); err != nil {
			return noBus("DBUS_SESSION_BUS_ADDRESS is not set and " + sock + " does not exist")
		}
		addr = "unix:path=" + sock
	}
	conn, err := dbus.Connect(addr, dbus.WithContext(ctx))
	if err != nil {
		return noBus(fmt.Sprintf("cannot connect to the session bus: %v", err))
	}
	defer conn.Close()
	var running bool
	if err := conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, secretsName).Store(&running); err != nil {
		return noBus(fmt.Sprintf("the session bus did not answer: %v", err))
	}
	if !running {
		return &UnavailableError{Source: "keyring", Reason: "no Secret Service is running on the session bus", Fix: keyringFix}
	}
	return nil
}

func noBus(reason string) error {
	return &UnavailableError{Source: "keyring", Reason: "no D-Bus session bus (" + reason + ")", Fix: keyringFix}
}
