package interop

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/session"
)

// passwordEnv is the variable the tests hand the bootstrap password in.
const passwordEnv = "INTEROP_PASSWORD"

// proxy is a running `scproxy run`.
type proxy struct {
	cmd  *exec.Cmd
	addr string
	mu   sync.Mutex
	log  []string
	done chan struct{}
	err  error
}

// startProxy runs scproxy with args after `run --listen 127.0.0.1:0`,
// logging JSON at info level, and waits until it listens.
func startProxy(t *testing.T, args ...string) *proxy {
	t.Helper()
	all := append([]string{"run", "--listen", "127.0.0.1:0", "--log-format", "json", "--log-level", "info"}, args...)
	p := &proxy{cmd: exec.Command(shared.scproxy, all...), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), passwordEnv+"="+testPassword)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.log = append(p.log, line)
			p.mu.Unlock()
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "scproxy listening" {
				ready <- rec.Addr
			}
		}
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	select {
	case p.addr = <-ready:
	case <-p.done:
		t.Fatalf("scproxy exited at start: %v\n%s", p.err, p.output())
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Fatalf("scproxy did not listen within 30 s:\n%s", p.output())
	}
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if strings.Contains(p.output(), testPassword) {
			t.Errorf("the bootstrap password reached scproxy's log")
		}
	})
	return p
}

func (p *proxy) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.log, "\n")
}

// shutdown sends SIGTERM and waits for the exit; scproxy cancels its
// contexts on the way out.
func (p *proxy) shutdown(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("scproxy did not exit within 60 s of SIGTERM:\n%s", p.output())
	}
	if p.err != nil {
		t.Errorf("scproxy exited with %v:\n%s", p.err, p.output())
	}
}

var appClient = &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 60 * time.Second}

// status reads the proxy's one endpoint.
func (p *proxy) status(t *testing.T) session.Status {
	t.Helper()
	resp, err := appClient.Get("http://" + p.addr + outbound.StatusPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st outbound.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if len(st.Endpoints) != 1 {
		t.Fatalf("status: %d endpoints, want 1", len(st.Endpoints))
	}
	return st.Endpoints[0]
}

// waitStatus polls the proxy's status until cond holds, failing after d.
func (p *proxy) waitStatus(t *testing.T, d time.Duration, what string, cond func(session.Status) bool) session.Status {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		st := p.status(t)
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s not seen; status %+v\nscproxy log:\n%s", d, what, st, p.output())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// echoAction is the application's action.
const echoAction = "urn:scproxy:interop/echo"

// echoElement is the application's request payload: an element whose
// text makes it size bytes long.
func echoElement(i, size int) string {
	head := fmt.Sprintf(`<e:echo xmlns:e="urn:scproxy:interop" n="%d">`, i)
	tail := `</e:echo>`
	n := size - len(head) - len(tail)
	if n < 1 {
		n = 1
	}
	fill := strings.Repeat(fmt.Sprintf("payload-%d-&amp;-ü-", i), n/16+1)
	return head + fill[:strings.LastIndex(fill[:n], "-")+1] + tail
}

var bodyRE = regexp.MustCompile(`<(?:([A-Za-z_][\w.-]*):)?Body(?:\s[^>]*)?>`)

// echo sends element in an envelope of the application's SOAP version
// and checks that the answer is that envelope's version, not a fault, and
// carries the element byte for byte.
func (p *proxy) echo(t *testing.T, soap12 bool, element string) error {
	t.Helper()
	return p.echoAt(t, "/", soap12, element)
}

// echoAt is echo to the route at path.
func (p *proxy) echoAt(t *testing.T, path string, soap12 bool, element string) error {
	t.Helper()
	got, err := p.callAt(t, path, soap12, echoAction, element)
	if err == nil && got != element {
		err = fmt.Errorf("echo differs:\n got %q\nwant %q", trim(got), trim(element))
	}
	return err
}

// call sends element with action in an envelope of the application's
// SOAP version and returns the Body content of the answer, checking that
// the answer is that envelope's version and not a fault.
func (p *proxy) call(t *testing.T, soap12 bool, action, element string) (string, error) {
	t.Helper()
	return p.callAt(t, "/", soap12, action, element)
}

// callAt is call to the route at path.
func (p *proxy) callAt(t *testing.T, path string, soap12 bool, action, element string) (string, error) {
	t.Helper()
	ns, ct := nsSOAP11, "text/xml; charset=utf-8"
	if soap12 {
		ns, ct = nsSOAP12, `application/soap+xml; charset=utf-8; action="`+action+`"`
	}
	env := `<s:Envelope xmlns:s="` + ns + `"><s:Body>` + element + `</s:Body></s:Envelope>`
	req, err := http.NewRequest(http.MethodPost, "http://"+p.addr+path, strings.NewReader(env))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", ct)
	if !soap12 {
		req.Header.Set("SOAPAction", `"`+action+`"`)
	}
	resp, err := appClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	m := parseMessage(string(b))
	if m.bodyChild.Local == "Fault" || m.fault != "" {
		return "", fmt.Errorf("a fault reached the application: %s", b)
	}
	loc := bodyRE.FindSubmatchIndex(b)
	if loc == nil || !bytes.Contains(b[:loc[0]], []byte(ns)) && !bytes.Contains(b[loc[0]:loc[1]], []byte(ns)) {
		return "", fmt.Errorf("answer is not a %s envelope: %s", ns, b)
	}
	prefix := ""
	if loc[2] >= 0 {
		prefix = string(b[loc[2]:loc[3]]) + ":"
	}
	end := bytes.LastIndex(b, []byte("</"+prefix+"Body>"))
	if end < loc[1] {
		return "", fmt.Errorf("answer has no Body end: %s", b)
	}
	return string(b[loc[1]:end]), nil
}

func trim(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}
