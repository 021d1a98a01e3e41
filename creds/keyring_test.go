package creds

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/scproxy/scproxy/internal/testkit"
)

func TestKeyringRoundTrip(t *testing.T) {
	s := needKeyring(t)
	ctx := context.Background()
	k := &Keyring{}
	name := "svc.example.com"
	secret := "pw-" + t.Name() + "-Zq9"
	if err := k.Set(ctx, name, Credential{Username: "alice", Secret: NewSecret(secret)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Delete(ctx, name) })
	got, err := k.Get(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if got.Username != "alice" || got.Secret.Reveal() != secret {
		t.Fatalf("got user %q, secret matches %v", got.Username, got.Secret.Reveal() == secret)
	}

	// The entry is in the Secret Service itself, where another client
	// finds it under service scproxy and the credential's name.
	if _, err := exec.LookPath("secret-tool"); err == nil {
		cmd := exec.Command("secret-tool", "lookup", "service", KeyringService, "username", name)
		cmd.Env = append(os.Environ(), s.Env...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("secret-tool lookup: %v", err)
		}
		if !strings.Contains(string(out), secret) || !strings.Contains(string(out), "alice") {
			t.Fatalf("secret-tool found an entry without the secret and user")
		}
	}

	// Set replaces.
	if err := k.Set(ctx, name, Credential{Username: "bob", Secret: NewSecret(secret + "2")}); err != nil {
		t.Fatal(err)
	}
	if got, err = k.Get(ctx, name); err != nil || got.Username != "bob" || got.Secret.Reveal() != secret+"2" {
		t.Fatalf("after replace: user %q, err %v", got.Username, err)
	}

	if err := k.Delete(ctx, name); err != nil {
		t.Fatal(err)
	}
	_, err = k.Get(ctx, name)
	if !IsNotFound(err) || !strings.Contains(err.Error(), "scproxy creds set "+name) {
		t.Fatalf("after delete: %v", err)
	}
	if err := k.Delete(ctx, name); !IsNotFound(err) {
		t.Fatalf("second delete: %v", err)
	}
}

// An entry stored by another tool as a bare secret is read as one.
func TestKeyringBareEntry(t *testing.T) {
	s := needKeyring(t)
	if _, err := exec.LookPath("secret-tool"); err != nil {
		t.Skip("secret-tool not installed")
	}
	cmd := exec.Command("secret-tool", "store", "--label=x", "service", KeyringService, "username", "bare")
	cmd.Env = append(os.Environ(), s.Env...)
	cmd.Stdin = strings.NewReader("just-a-password")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("secret-tool store: %v %s", err, out)
	}
	k := &Keyring{}
	t.Cleanup(func() { _ = k.Delete(context.Background(), "bare") })
	got, err := k.Get(context.Background(), "bare")
	if err != nil || got.Username != "" || got.Secret.Reveal() != "just-a-password" {
		t.Fatalf("got user %q err %v", got.Username, err)
	}
}

func TestKeyringRefusesEmptyAndBadNames(t *testing.T) {
	k := &Keyring{}
	ctx := context.Background()
	if err := k.Set(ctx, "x", Credential{Username: "u"}); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty secret: %v", err)
	}
	for _, name := range []string{"", "a\nb", strings.Repeat("n", 201)} {
		if _, err := k.Get(ctx, name); err == nil || IsNotFound(err) {
			t.Errorf("name %q: %v", name, err)
		}
	}
}

// Without a session bus the keyring is refused at once with the
// alternatives named, and nothing is started in its place.
func TestKeyringWithoutSessionBus(t *testing.T) {
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	marker := "SCPROXY_TEST_MARKER"
	t.Setenv(marker, t.Name()+time.Now().Format(time.RFC3339Nano))
	marker += "=" + os.Getenv(marker)
	start := time.Now()
	_, err := (&Keyring{}).Get(context.Background(), "anything")
	took := time.Since(start)
	var u *UnavailableError
	if !errors.As(err, &u) {
		t.Fatalf("got %v, want UnavailableError", err)
	}
	msg := err.Error()
	for _, want := range []string{"no D-Bus session bus", "a file", "an environment variable", "a systemd credential"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("message spans lines: %q", msg)
	}
	testkit.Budget(t, "time to refuse", took, 250*time.Millisecond)
	if left := startedWith(t, marker); len(left) > 0 {
		t.Errorf("processes started: %v", left)
	}
}

// A bus on which no Secret Service runs is refused without activating
// one, even though the bus could start gnome-keyring-daemon on demand.
func TestKeyringBusWithoutSecretService(t *testing.T) {
	if _, err := exec.LookPath("dbus-daemon"); err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("dbus-daemon not installed")
		}
		t.Fatal("dbus-daemon not installed")
	}
	dir := t.TempDir()
	bus := exec.Command("dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address=1", "--address=unix:path="+dir+"/bus")
	if err := bus.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Process.Kill(); _ = bus.Wait() })
	addr := "unix:path=" + dir + "/bus"
	waitBus(t, addr)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", addr)
	_, err := (&Keyring{}).Get(context.Background(), "anything")
	if !IsUnavailable(err) || !strings.Contains(err.Error(), "no Secret Service is running") {
		t.Fatalf("got %v", err)
	}
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var owned bool
	if err := conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, secretsName).Store(&owned); err != nil || owned {
		t.Fatalf("a Secret Service was activated on the bus (owned %v, err %v)", owned, err)
	}
}

// A Secret Service that never answers costs the timeout, not a hang.
func TestKeyringTimeout(t *testing.T) {
	if _, err := exec.LookPath("dbus-daemon"); err != nil {
		t.Skip("dbus-daemon not installed")
	}
	dir := t.TempDir()
	bus := exec.Command("dbus-daemon", "--session", "--nofork", "--nopidfile", "--address=unix:path="+dir+"/bus")
	if err := bus.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Process.Kill(); _ = bus.Wait() })
	addr := "unix:path=" + dir + "/bus"
	waitBus(t, addr)
	// A service that takes the Secret Service's name and never replies.
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	release := make(chan struct{})
	defer close(release)
	if err := conn.Export(stuck{release}, "/org/freedesktop/secrets", "org.freedesktop.Secret.Service"); err != nil {
		t.Fatal(err)
	}
	if reply, err := conn.RequestName(secretsName, dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("request name: %v %v", reply, err)
	}
	// The operation below is what go-keyring does first, on a
	// connection of its own: go-keyring's process-wide connection belongs
	// to the package's real keyring.
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", addr)
	k := &Keyring{Timeout: 300 * time.Millisecond}
	start := time.Now()
	err = k.call(context.Background(), "x", func() error {
		// What go-keyring does first: open a session with the service.
		c, err := dbus.Connect(addr)
		if err != nil {
			return err
		}
		defer c.Close()
		var v dbus.Variant
		var p dbus.ObjectPath
		return c.Object(secretsName, "/org/freedesktop/secrets").Call("org.freedesktop.Secret.Service.OpenSession", 0, "plain", dbus.MakeVariant("")).Store(&v, &p)
	})
	took := time.Since(start)
	if !IsUnavailable(err) || !strings.Contains(err.Error(), "no answer within 300ms") {
		t.Fatalf("got %v", err)
	}
	testkit.Budget(t, "time to refuse", took, 500*time.Millisecond)
}

type stuck struct{ release chan struct{} }

func (s stuck) OpenSession(string, dbus.Variant) (dbus.Variant, dbus.ObjectPath, *dbus.Error) {
	<-s.release
	return dbus.MakeVariant(""), "/", nil
}

func waitBus(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := dbus.Connect(addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("bus did not start")
}

// startedWith lists the processes other than this one whose environment
// holds marker: whatever this process started since setting it.
func startedWith(t *testing.T, marker string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc")
	}
	self := strconv.Itoa(os.Getpid())
	var found []string
	for _, e := range entries {
		if e.Name() == self {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !strings.Contains(string(env), marker) {
			continue
		}
		found = append(found, e.Name())
	}
	return found
}
