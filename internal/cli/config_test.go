package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/internal/keyringtest"
	"github.com/scproxy/scproxy/wire/wssc"
)

// oneService is a valid service entry, indented for services.
const oneService = `services:
  - name: a
    prefix: /a
    upstream: https://a.example.com/A.svc
    username: alice
    password-env: PW
`

// TestConfigErrors: every kind of error in a file names the file, the
// line and the key at fault, and nothing of a refused secret.
func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		line       int
		key        string
		want       string
	}{
		{"unknown top-level key", "lisen: 127.0.0.1:1\n" + oneService, 1, "lisen", "unknown key (did you mean listen?)"},
		{"unknown service key", oneService + "    sc-verison: \"1.3\"\n", 7, "sc-verison", "did you mean sc-version?"},
		{"wrong type", "max-connections: many\n" + oneService, 1, "max-connections", "want an int"},
		{"wrong duration", oneService + "    upstream-timeout: soon\n", 7, "upstream-timeout", "want a duration"},
		{"list for one value", oneService + "    sc-version: [\"1.3\"]\n", 7, "sc-version", "takes one value, not a list"},
		{"mapping for a value", oneService + "    entropy: {a: b}\n", 7, "entropy", "found a mapping"},
		{"key given twice", oneService + "    username: bob\n", 7, "username", "given twice (first on line 5)"},
		{"global key in a service", oneService + "    listen: 127.0.0.1:1\n", 7, "listen", "write it at the top level"},
		{"route key at the top", "upstream: https://x.example/\n" + oneService, 1, "upstream", "write it under services"},
		{"service without a name", "services:\n  - prefix: /a\n    upstream: https://a.example/\n", 2, "name", "every service has a name"},
		{"two services of one name", oneService + "  - name: a\n    prefix: /b\n    upstream: https://b.example/\n", 7, "name", `service "a" is named twice (first on line 2)`},
		{"two services on one prefix", oneService + "  - name: b\n    prefix: /a\n    upstream: https://b.example/\n", 8, "prefix", `prefix /a is taken by service "a" already`},
		{"a route on another's prefix", oneService + "  - name: b\n    route: [/x=https://x.example/, /a=https://b.example/]\n", 8, "route", "prefix /a is taken"},
		{"prefix not a path", oneService + "  - name: b\n    prefix: b\n    upstream: https://b.example/\n", 8, "prefix", "starting with /"},
		{"service without upstream", oneService + "  - name: b\n    prefix: /b\n", 7, "upstream", `service "b" needs an upstream`},
		{"two documents", oneService + "---\nlisten: 127.0.0.1:1\n", 7, "", "a second YAML document"},
		{"an alias for a value", "log-level: &l info\nlog-format: *l\n" + oneService, 2, "log-format", "found an alias"},
		{"no services", "listen: 127.0.0.1:1\n", 1, "services", "missing"},
		{"services not a list", "services: {a: b}\n", 1, "services", "want a list"},
		{"not YAML", "services:\n  - name: a: b\n", 2, "", "mapping values are not allowed"},
		{"literal password", oneService + "    password: " + canary + "\n", 7, "password", "never holds a secret: name where it is with password-env"},
		{"literal secret at the top", "client-secret: " + canary + "\n" + oneService, 1, "client-secret", "password-file"},
		{"password in a URL", "services:\n  - name: a\n    upstream: https://alice:" + canary + "@a.example/\n", 3, "upstream", "the URL has a password in it"},
		{"password in a route", "services:\n  - name: a\n    route: /a=https://alice:" + canary + "@a.example/\n", 3, "route", "the URL has a password in it"},
		{"token in a URL's query", "services:\n  - name: a\n    upstream: https://a.example/Svc.svc?access_token=" + canary + "\n", 3, "upstream", "the URL's query has a secret in it (access_token)"},
		{"private key", "services:\n  - name: a\n    upstream: https://a.example/\n    key-file: \"-----BEGIN PRIVATE KEY-----\\n" + canary + "\"\n", 4, "key-file", "the value is a private key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "scproxy.yaml", tc.yaml, 0o600)
			_, err := readConfigFile(path)
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v, want a *ConfigError", err)
			}
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Errorf("error %v is no usage error", err)
			}
			if ce.File != path || ce.Line != tc.line || ce.Key != tc.key {
				t.Errorf("at %s:%d key %q, want %s:%d key %q (%v)", ce.File, ce.Line, ce.Key, path, tc.line, tc.key, err)
			}
			prefix := path + ":" + strconv.Itoa(tc.line) + ": "
			if tc.key != "" {
				prefix += tc.key + ": "
			}
			if msg := err.Error(); !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, tc.want) {
				t.Errorf("error %q, want it to start with %q and say %q", msg, prefix, tc.want)
			}
			if strings.Contains(err.Error(), canary) {
				t.Errorf("the error repeats the secret: %v", err)
			}
		})
	}
}

// TestConfigBuildErrors: a value the file's parser takes but run refuses
// (a choice, a bound, a missing credential) is reported at its line and
// key too, under the service's name.
func TestConfigBuildErrors(t *testing.T) {
	tests := []struct {
		name, extra string
		env         map[string]string
		line        int
		key, want   string
	}{
		{"unknown choice", "    sc-version: \"1.4\"\n", baseEnv, 7, "sc-version", "want 2005-02 or 1.3"},
		{"bound", "    key-size: 100\n", baseEnv, 7, "key-size", "multiple of 8"},
		{"missing secret", "", nil, 6, "password-env", "environment variable PW"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "scproxy.yaml", oneService+tc.extra, 0o600)
			l := &configLoader{file: path, overrides: overrides{}, s: Streams{Getenv: mapEnv(tc.env)}}
			_, _, err := l.load(context.Background())
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v, want a *ConfigError", err)
			}
			if ce.Line != tc.line || ce.Key != tc.key || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `service "a"`) {
				t.Errorf("error %q, want line %d key %s saying %q for service a", err, tc.line, tc.key, tc.want)
			}
		})
	}
}

// TestConfigPrecedence: flag > environment > the service's value > the
// file's top level > default, for global keys and for the service keys
// operations override; a per-service key given as a flag or variable with
// --config is refused.
func TestConfigPrecedence(t *testing.T) {
	const file = `log-level: warn
establish-timeout: 11s
services:
  - name: a
    prefix: /a
    upstream: https://a.example.com/A.svc
    establish-timeout: 22s
  - name: b
    prefix: /b
    upstream: https://b.example.com/B.svc
`
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		key     string
		service string // "" for a global key
		want    string
		source  string // prefix of the source; FILE stands for the file
	}{
		{"global default", nil, nil, "log-format", "", "text", "default"},
		{"global from the file", nil, nil, "log-level", "", "warn", "FILE:1"},
		{"global env beats the file", nil, map[string]string{"SCPROXY_LOG_LEVEL": "error"}, "log-level", "", "error", "env $SCPROXY_LOG_LEVEL"},
		{"global flag beats env", []string{"--log-level", "debug"}, map[string]string{"SCPROXY_LOG_LEVEL": "error"}, "log-level", "", "debug", "flag"},
		{"service default", nil, nil, "upstream-timeout", "b", "2m0s", "default"},
		{"top level for every service", nil, nil, "establish-timeout", "b", "11s", "FILE:2"},
		{"the service's own beats the top", nil, nil, "establish-timeout", "a", "22s", "FILE:7"},
		{"override env beats the service's", nil, map[string]string{"SCPROXY_ESTABLISH_TIMEOUT": "33s"}, "establish-timeout", "a", "33s", "env $SCPROXY_ESTABLISH_TIMEOUT"},
		{"override flag beats env", []string{"--establish-timeout", "44s"}, map[string]string{"SCPROXY_ESTABLISH_TIMEOUT": "33s"}, "establish-timeout", "b", "44s", "flag"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "scproxy.yaml", file, 0o600)
			flags := runFlags()
			if err := flags.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			fc, err := readConfigFile(path)
			if err != nil {
				t.Fatal(err)
			}
			rc, err := resolveConfig(fc, readOverrides(flags, mapEnv(tc.env)))
			if err != nil {
				t.Fatal(err)
			}
			v := rc.global[tc.key]
			for _, s := range rc.services {
				if s.name == tc.service {
					v = s.values[tc.key]
				}
			}
			source := strings.Replace(tc.source, "FILE", path, 1)
			if len(v.items) != 1 || v.items[0] != tc.want || v.source != source {
				t.Errorf("%s = %q from %q, want %q from %q", tc.key, v.items, v.source, tc.want, source)
			}
		})
	}
	for _, tc := range []struct {
		args []string
		env  map[string]string
	}{
		{[]string{"--sc-version", "1.3"}, nil},
		{nil, map[string]string{"SCPROXY_USERNAME": "mallory"}},
		{[]string{"--upstream", "https://x.example/"}, nil},
	} {
		flags := runFlags()
		if err := flags.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		path := writeFile(t, t.TempDir(), "scproxy.yaml", file, 0o600)
		fc, err := readConfigFile(path)
		if err != nil {
			t.Fatal(err)
		}
		_, err = resolveConfig(fc, readOverrides(flags, mapEnv(tc.env)))
		if err == nil || !strings.Contains(err.Error(), "is set per service") {
			t.Errorf("%v %v with --config: error %v, want a refusal", tc.args, tc.env, err)
		}
	}
}

// TestConfigSchemaIsRunFlags: every flag of run is a key of the file (but
// --config itself), each key is documented in docs/config.md, and the
// global and override lists name flags that exist.
func TestConfigSchemaIsRunFlags(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "config.md"))
	if err != nil {
		t.Fatal(err)
	}
	flags := runFlags()
	flags.VisitAll(func(f *pflag.Flag) {
		if slices.Contains(notKeys, f.Name) {
			return
		}
		if !bytes.Contains(doc, []byte("`"+f.Name+"`")) {
			t.Errorf("key %s is not described in docs/config.md", f.Name)
		}
	})
	for _, k := range slices.Concat(globalKeys, overrideKeys, []string{upstreamKey, routeKey, endpointKey}) {
		if flags.Lookup(k) == nil {
			t.Errorf("%s is listed as a key but is no flag of run", k)
		}
	}
	for _, k := range []string{nameKey, prefixKey, servicesKey} {
		if !bytes.Contains(doc, []byte("`"+k+"`")) {
			t.Errorf("key %s is not described in docs/config.md", k)
		}
	}
}

// TestExampleConfig: the example file parses and resolves, two services
// with the settings its comments describe.
func TestExampleConfig(t *testing.T) {
	fc, err := readConfigFile(filepath.Join("..", "..", "testdata", "config", "example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := resolveConfig(fc, overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rc.services) != 2 {
		t.Fatalf("%d services, want 2", len(rc.services))
	}
	if got := rc.services[1].values["sc-version"].items; !slices.Equal(got, []string{wssc.V1_3.String()}) && !slices.Equal(got, []string{"1.3"}) {
		t.Errorf("stock sc-version %q, want 1.3", got)
	}
	if got := rc.services[0].values["establish-timeout"]; got.items[0] != "30s" || got.line != 20 {
		t.Errorf("orders establish-timeout %q from line %d, want the top level's 30s (line 20)", got.items, got.line)
	}
}

// TestConfigShowNoSecret: config show prints each credential as the
// reference the file gives, with its source, never the secret, whether
// it is in the environment, a file or the OS keyring; and it checks
// that each secret can be read.
func TestConfigShowNoSecret(t *testing.T) {
	keyringtest.Shared(t)
	ctx := context.Background()
	k := &creds.Keyring{}
	if err := k.Set(ctx, "config-show-b", creds.Credential{Username: "bert", Secret: creds.NewSecret(canary + "-keyring")}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Delete(ctx, "config-show-b") })
	dir := t.TempDir()
	pwFile := writeFile(t, dir, "pw", canary+"-file\n", 0o600)
	path := writeFile(t, dir, "scproxy.yaml", oneService+`  - name: b
    prefix: /b
    upstream: https://b.example.com/B.svc
    credential: config-show-b
  - name: c
    prefix: /c
    upstream: https://c.example.com/C.svc
    username: carol
    password-file: `+pwFile+"\n", 0o600)
	env := map[string]string{"PW": canary, "SCPROXY_CONFIG": path, "SCPROXY_UPSTREAM_TIMEOUT": "90s"}
	var out, errOut bytes.Buffer
	code := Main(ctx, []string{"config", "show", "--all"}, Streams{Out: &out, Err: &errOut, Getenv: mapEnv(env)})
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{
		"password-env: PW  # " + path + ":6",
		"credential: config-show-b  # " + path + ":10",
		"password-file: " + pwFile + "  # " + path + ":15",
		"upstream-timeout: 90s  # env $SCPROXY_UPSTREAM_TIMEOUT",
		"listen: 127.0.0.1:8780  # default",
		"allow-plain-http: false  # default",
		"upstream: https://b.example.com/B.svc  # " + path + ":9",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("config show lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String()+errOut.String(), canary) {
		t.Errorf("config show prints a secret:\n%s%s", out.String(), errOut.String())
	}
	// The listing shows references; the check after it reads them.
	delete(env, "PW")
	out.Reset()
	code = Main(ctx, []string{"config", "show"}, Streams{Out: &out, Err: &errOut, Getenv: mapEnv(env)})
	if code != ExitUsage || !strings.Contains(errOut.String(), path+":6: password-env") {
		t.Errorf("without $PW: exit %d, %s; want a usage error at line 6", code, errOut.String())
	}
}

// TestConfigCheckCommand: config check exits 0 for a good file and 2 with
// file:line:key for a bad one.
func TestConfigCheckCommand(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", oneService, 0o600)
	bad := writeFile(t, dir, "bad.yaml", oneService+"    renew-mode: sometimes\n", 0o600)
	var out, errOut bytes.Buffer
	s := Streams{Out: &out, Err: &errOut, Getenv: mapEnv(baseEnv)}
	if code := Main(context.Background(), []string{"config", "check", good}, s); code != ExitOK || !strings.Contains(out.String(), "1 services, ok") {
		t.Errorf("good file: exit %d, %s%s", code, out.String(), errOut.String())
	}
	if code := Main(context.Background(), []string{"config", "check", bad}, s); code != ExitUsage ||
		!regexp.MustCompile(regexp.QuoteMeta(bad)+`:7: renew-mode: service "a": renew-mode "sometimes": want renew or reissue`).MatchString(errOut.String()) {
		t.Errorf("bad file: exit %d, %s", code, errOut.String())
	}
}

// TestConfigRunSingleServiceLikeFlags: a file of one service gives the
// configuration the same flags give.
func TestConfigRunSingleServiceLikeFlags(t *testing.T) {
	path := writeFile(t, t.TempDir(), "scproxy.yaml", "max-connections: 7\n"+oneService+"    sc-version: \"1.3\"\n    upstream-timeout: 90s\n", 0o600)
	l := &configLoader{file: path, overrides: overrides{}, s: Streams{Getenv: mapEnv(baseEnv)}}
	_, built, err := l.load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want, _ := mustConfig(t, baseEnv, "--route", "/a=https://a.example.com/A.svc", "--username", "alice", "--password-env", "PW",
		"--sc-version", "1.3", "--upstream-timeout", "90s", "--max-connections", "7")
	got := built[0].cfg
	if got.SC != want.SC || got.UpstreamTimeout != want.UpstreamTimeout || got.MaxConns != want.MaxConns ||
		got.Bootstrap != want.Bootstrap || got.Routes[0].Prefix != want.Routes[0].Prefix ||
		got.Routes[0].Upstream.String() != want.Routes[0].Upstream.String() || got.UpstreamTimeout != 90*time.Second {
		t.Errorf("from the file %+v\nfrom flags %+v", got, want)
	}
}

// BenchmarkConfigParse50: reading, checking and resolving a file of 50
// services, what every reload does before it builds them.
func BenchmarkConfigParse50(b *testing.B) {
	var yaml strings.Builder
	yaml.WriteString("services:\n")
	for i := range 50 {
		fmt.Fprintf(&yaml, "  - name: s%02d\n    prefix: /s%02d\n    upstream: https://s%02d.example.com/S.svc\n    sc-version: \"1.3\"\n    username: alice\n    password-env: PW\n    upstream-timeout: 90s\n", i, i, i)
	}
	path := filepath.Join(b.TempDir(), "scproxy.yaml")
	if err := os.WriteFile(path, []byte(yaml.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		fc, err := readConfigFile(path)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := resolveConfig(fc, overrides{}); err != nil {
			b.Fatal(err)
		}
	}
}
