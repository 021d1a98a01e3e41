// Package kdctest runs a real MIT Kerberos KDC (Debian's krb5-kdc and
// krb5-admin-server) on loopback for tests: a fresh realm in a temporary
// directory, a user with a password and a keytab, and service principals
// with their keytab. Tests of any package may use it.
//
// Without the KDC binaries the test is skipped, except under CI (CI set in
// the environment), where it fails: the CI image installs them.
package kdctest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Realm is the realm every KDC started here serves.
const Realm = "EXAMPLE.TEST"

// Enctypes are the encryption types the realm's keys have: AES-256 with
// HMAC-SHA1 (RFC 3962, what Active Directory and most keytabs use) and
// AES-128 with HMAC-SHA256 (RFC 8009).
const Enctypes = "aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha256-128"

// KDC is a running KDC and what a test needs to use it.
type KDC struct {
	// Realm is always the package's Realm.
	Realm string
	// Addr is the KDC's host:port on 127.0.0.1, UDP and TCP.
	Addr string
	// Dir is the temporary directory holding the database and files.
	Dir string
	// Krb5Conf is a client krb5.conf naming the KDC.
	Krb5Conf string
	// User and Password are the user principal (without realm) and its
	// password; UserKeytab holds the same user's keys.
	User, Password, UserKeytab string
	// SPN is the service principal (without realm) and ServiceKeytab its
	// keys.
	SPN, ServiceKeytab string

	env []string
	bin binaries
}

// binaries are the MIT programs a KDC needs.
type binaries struct {
	krb5kdc, kdb5util, kadmin string
}

// searchPath is where the binaries are looked for besides PATH: Debian
// installs them in /usr/sbin, which is not in every user's PATH.
var searchPath = []string{"/usr/sbin", "/usr/local/sbin"}

// lookup finds name in PATH or searchPath.
func lookup(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range searchPath {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH or %s", name, strings.Join(searchPath, ", "))
}

// require finds the binaries, skipping the test when one is missing and CI
// is unset, failing it when CI is set.
func require(t testing.TB) binaries {
	t.Helper()
	var b binaries
	for _, p := range []struct {
		name string
		dst  *string
	}{{"krb5kdc", &b.krb5kdc}, {"kdb5_util", &b.kdb5util}, {"kadmin.local", &b.kadmin}} {
		path, err := lookup(p.name)
		if err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("kdctest: %v; CI needs it (apt-get install krb5-kdc krb5-admin-server)", err)
			}
			t.Skipf("kdctest: %v (apt-get install krb5-kdc krb5-admin-server); skipping the test against a real KDC", err)
		}
		*p.dst = path
	}
	return b
}

// Start creates a realm in a temporary directory, adds the user "alice"
// with a random password and the service HTTP/localhost, writes their
// keytabs, and runs krb5kdc on a free loopback port until the test ends.
func Start(t testing.TB) *KDC {
	t.Helper()
	k := &KDC{Realm: Realm, Dir: t.TempDir(), User: "alice", SPN: "HTTP/localhost", bin: require(t)}
	k.Password = randomSecret(t)
	port := freePort(t)
	k.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	k.Krb5Conf = filepath.Join(k.Dir, "krb5.conf")
	kdcConf := filepath.Join(k.Dir, "kdc.conf")
	write(t, k.Krb5Conf, krb5Conf(k.Addr))
	write(t, kdcConf, kdcConfText(k.Dir, port))
	write(t, filepath.Join(k.Dir, "kadm5.acl"), "")
	// Only these two files: nothing from /etc/krb5.conf may leak in.
	k.env = append(os.Environ(), "KRB5_CONFIG="+k.Krb5Conf, "KRB5_KDC_PROFILE="+kdcConf)

	k.run(t, k.bin.kdb5util, "-r", Realm, "create", "-s", "-P", randomSecret(t))
	k.Admin(t, fmt.Sprintf("addprinc -pw %s %s", k.Password, k.User))
	k.UserKeytab = k.ktadd(t, "alice.keytab", "-norandkey "+k.User)
	k.ServiceKeytab = k.AddService(t, k.SPN, "service.keytab")
	k.serve(t, port)
	return k
}

// AddService adds the service principal spn with a random key and writes
// its keys to file (a name in Dir), whose path it returns.
func (k *KDC) AddService(t testing.TB, spn, file string) string {
	t.Helper()
	k.Admin(t, "addprinc -randkey "+spn)
	return k.ktadd(t, file, spn)
}

// ktadd writes keys to a keytab in Dir; args are ktadd's after -k file.
func (k *KDC) ktadd(t testing.TB, file, args string) string {
	t.Helper()
	p := filepath.Join(k.Dir, file)
	k.Admin(t, fmt.Sprintf("ktadd -k %s %s", p, args))
	return p
}

// Admin runs one kadmin.local query against the realm's database.
func (k *KDC) Admin(t testing.TB, query string) {
	t.Helper()
	k.run(t, k.bin.kadmin, "-r", Realm, "-q", query)
}

// Principal returns the user's full principal name, user@REALM.
func (k *KDC) Principal() string { return k.User + "@" + k.Realm }

// run runs an MIT tool with the realm's configuration and fails the test
// with its output when it fails. Queries may contain passwords, so the
// command line is not part of the failure message.
func (k *KDC) run(t testing.TB, bin string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = k.env
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kdctest: %s: %v\n%s", filepath.Base(bin), err, redact(out, k.Password))
	}
}

// serve starts krb5kdc in the foreground and waits until it answers on
// TCP; the test's cleanup stops it.
func (k *KDC) serve(t testing.TB, port int) {
	t.Helper()
	var log syncBuffer
	cmd := exec.Command(k.bin.krb5kdc, "-n", "-r", Realm, "-P", filepath.Join(k.Dir, "krb5kdc.pid"))
	cmd.Env = k.env
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("kdctest: start krb5kdc: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			t.Fatalf("kdctest: krb5kdc exited: %v\n%s\n%s", err, log.String(), readFile(filepath.Join(k.Dir, "kdc.log")))
		default:
		}
		if c, err := net.DialTimeout("tcp", k.Addr, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("kdctest: krb5kdc does not answer on %s after 15s\n%s", k.Addr, log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// krb5Conf is the client configuration: only this realm, no DNS, the
// realm's enctypes.
func krb5Conf(addr string) string {
	return fmt.Sprintf(`[libdefaults]
	default_realm = %[1]s
	dns_lookup_realm = false
	dns_lookup_kdc = false
	rdns = false
	ignore_acceptor_hostname = false
	default_tkt_enctypes = %[3]s
	default_tgs_enctypes = %[3]s
	permitted_enctypes = %[3]s
	ticket_lifetime = 10h
	renew_lifetime = 7d

[realms]
	%[1]s = {
		kdc = %[2]s
		admin_server = %[2]s
	}

[domain_realm]
	localhost = %[1]s
	127.0.0.1 = %[1]s
`, Realm, addr, Enctypes)
}

// kdcConfText is the KDC's configuration: database, stash and log in dir,
// the port on UDP and TCP.
func kdcConfText(dir string, port int) string {
	return fmt.Sprintf(`[kdcdefaults]
	kdc_ports = %[2]d
	kdc_tcp_ports = %[2]d

[realms]
	%[1]s = {
		database_name = %[3]s/principal
		key_stash_file = %[3]s/stash
		acl_file = %[3]s/kadm5.acl
		kdc_ports = %[2]d
		kdc_tcp_ports = %[2]d
		max_life = 10h
		max_renewable_life = 7d
		master_key_type = aes256-cts-hmac-sha1-96
		supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha256-128:normal
	}

[logging]
	kdc = FILE:%[3]s/kdc.log
`, Realm, port, dir)
}

// freePort returns a loopback port free on both TCP and UDP at the time of
// the call.
func freePort(t testing.TB) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("kdctest: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("kdctest: no port free on both TCP and UDP")
	return 0
}

// randomSecret returns 24 random bytes as URL-safe base64, a password that
// needs no quoting in a kadmin query.
func randomSecret(t testing.TB) string {
	t.Helper()
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "Kdc-" + base64.RawURLEncoding.EncodeToString(b)
}

func write(t testing.TB, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// redact removes secret from tool output before it reaches a test log.
func redact(out []byte, secret string) string {
	if secret == "" {
		return string(out)
	}
	return string(bytes.ReplaceAll(out, []byte(secret), []byte("[redacted]")))
}

// syncBuffer collects a child's output; the child writes from its own
// goroutine while the test may read.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
