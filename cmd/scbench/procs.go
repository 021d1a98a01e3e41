package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/scproxy/scproxy/outbound"
)

// buildScproxy builds the scproxy command into dir and returns its path.
func buildScproxy(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "scproxy")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/scproxy/scproxy/cmd/scproxy")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building scproxy: %v\n%s", err, out)
	}
	return bin, nil
}

// child is a process the harness started: the demo server or a proxy.
type child struct {
	name string
	cmd  *exec.Cmd
	// addr is the proxy's listen address; url the server's.
	addr, url string
	// tail keeps the last lines the process wrote, for error messages.
	mu   sync.Mutex
	tail []string
	done chan struct{}
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) keep(line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tail = append(c.tail, line)
	if len(c.tail) > 20 {
		c.tail = c.tail[1:]
	}
}

// output is what the process last wrote.
func (c *child) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.tail, "\n")
}

// start runs bin with args and environment env, and hands each line of
// the stream (stdout when fromStdout, else stderr) to ready until it
// returns true; later lines are kept for diagnostics. It fails when the
// process exits or says nothing useful within a minute.
func start(name, bin string, args, env []string, fromStdout bool, ready func(c *child, line string) bool) (*child, error) {
	c := &child{name: name, cmd: exec.Command(bin, args...), done: make(chan struct{})}
	c.cmd.Env = append(os.Environ(), env...)
	var r io.Reader
	var err error
	if fromStdout {
		r, err = c.cmd.StdoutPipe()
	} else {
		r, err = c.cmd.StderrPipe()
	}
	if err != nil {
		return nil, err
	}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	ok := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		signalled := false
		for sc.Scan() {
			c.keep(sc.Text())
			if !signalled && ready(c, sc.Text()) {
				signalled = true
				close(ok)
			}
		}
		_ = c.cmd.Wait()
		close(c.done)
	}()
	select {
	case <-ok:
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("%s exited at start:\n%s", name, c.output())
	case <-time.After(time.Minute):
		c.stop()
		return nil, fmt.Errorf("%s did not start within a minute:\n%s", name, c.output())
	}
}

// stop asks the process to shut down (SIGTERM) and kills it if it has
// not exited after 15 seconds.
func (c *child) stop() {
	if c == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// startServer runs `scproxy demo-server` on a loopback port: HTTPS with a
// generated CA, user bench, X.509 trusted from caFile, unsecured messages
// echoed for the baselines, and its token service when issueTokens.
func startServer(bin, password, caFile string, issueTokens bool) (*child, string, error) {
	args := []string{"--client-ca", caFile, "--allow-unsecured"}
	if issueTokens {
		args = append(args, "--issue-tokens")
	}
	c, said, err := startDemoServer("demo-server", bin, password, args, "ca-file")
	if err != nil {
		return nil, "", err
	}
	return c, said["ca-file"], nil
}

// startMessageServer runs `scproxy demo-server --profile message` on a
// loopback port: user bench, establishing under the username binding
// (UserNameForCertificate), Basic256, derived keys, WCF's protection
// order. It returns the server, its CA file and its service certificate.
func startMessageServer(bin, password string) (*child, string, string, error) {
	c, said, err := startDemoServer("demo-server (message)", bin, password,
		[]string{"--profile", "message", "--message-bootstrap", "username"}, "ca-file", "server-cert")
	if err != nil {
		return nil, "", "", err
	}
	return c, said["ca-file"], said["server-cert"], nil
}

// startDemoServer runs `scproxy demo-server` on a loopback port with user
// bench and args, and returns it once it has said its url and each of
// want ("ca-file: FILE"), with what it said.
func startDemoServer(name, bin, password string, args []string, want ...string) (*child, map[string]string, error) {
	args = append([]string{"demo-server", "--listen", "127.0.0.1:0", "--user", "bench:" + password, "--log-format", "none"}, args...)
	said := map[string]string{}
	c, err := start(name, bin, args, nil, true, func(c *child, line string) bool {
		if v, ok := strings.CutPrefix(line, "url: "); ok {
			c.url = strings.TrimSpace(v)
		}
		for _, w := range want {
			if v, ok := strings.CutPrefix(line, w+": "); ok {
				said[w] = strings.TrimSpace(v)
			}
		}
		return c.url != "" && len(said) == len(want)
	})
	return c, said, err
}

// proxyFlags are the settings every proxy gets: a legacy SOAP 1.1
// application in front, a SOAP 1.2, WS-Addressing 1.0 service behind
// (WCF's wsHttpBinding shape), so that every mode bridges the same way.
func proxyFlags(upstreamURL, caFile string) []string {
	return []string{"run", "--listen", "127.0.0.1:0", "--upstream", upstreamURL, "--ca-file", caFile,
		"--soap-version", "1.2", "--addressing", "1.0", "--log-format", "json", "--log-level", "info"}
}

// startProxy runs `scproxy run` with args and returns it once it listens.
func startProxy(name, bin string, args, env []string) (*child, error) {
	return start(name, bin, args, env, false, func(c *child, line string) bool {
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "scproxy listening" && rec.Addr != "" {
			c.addr = rec.Addr
			return true
		}
		return false
	})
}

// commandHelp returns `scproxy <command> --help`, to learn which flags
// the binary under test has.
func commandHelp(bin, command string) string {
	out, _ := exec.Command(bin, command, "--help").CombinedOutput()
	return string(out)
}

// statusClient reads proxies' status; it never goes through an HTTP
// proxy from the environment.
var statusClient = &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 10 * time.Second}

// status reads a proxy's status.
func status(addr string) (outbound.Status, error) {
	var st outbound.Status
	resp, err := statusClient.Get("http://" + addr + outbound.StatusPath)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("status: HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("status: %w", err)
	}
	if st.Runtime.Mallocs == 0 {
		return st, errors.New("status: the proxy reports no runtime figures (an older scproxy?)")
	}
	return st, nil
}
