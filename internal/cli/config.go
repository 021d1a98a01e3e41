package cli

import (
	"bytes"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// The configuration file (docs/config.md) is YAML: the settings of the
// listener and the process at the top, and a list of services, each an
// upstream with its own security settings. Its keys are not a second
// list: every key is the name of a flag of `scproxy run`, so a flag
// added to run is a key of the file from then on. Where a key may be
// written, and whether a flag beats the file for every service, is its
// scope.

// Keys of the file that are no flag of run, and the flags that are no key.
const (
	configKey   = "config"
	pidFileKey  = "pid-file"
	servicesKey = "services"
	nameKey     = "name"
	prefixKey   = "prefix"
	upstreamKey = "upstream"
	routeKey    = "route"
	endpointKey = "endpoint"
)

// maxConfigFile bounds the file read: a configuration of hundreds of
// services is a few hundred KiB.
const maxConfigFile = 4 << 20

// keyScope is where a key may be written and who may override it.
type keyScope int

const (
	// scopeService keys belong to a service: written in a service, or at
	// the top level as the default of every service. A flag or variable
	// given with --config for one of them is an error: one value for
	// every service (a route, a credential, a protocol version) is a
	// mistake, not an override. Every flag not listed below is one.
	scopeService keyScope = iota
	// scopeOverride keys are service keys that operations set for the
	// whole host: a flag or variable applies to every service.
	scopeOverride
	// scopeGlobal keys are the listener's and the process's: top level
	// only.
	scopeGlobal
	// scopeRoute keys are a service's own routes: in a service only.
	scopeRoute
)

var (
	globalKeys = []string{
		"listen", "allow-remote", "listen-unix", "listen-unix-mode", "allow-uid",
		"max-body", "max-connections", "max-body-in-flight", "write-timeout", "shutdown-timeout",
		"log-level", "log-format", pidFileKey,
	}
	overrideKeys = []string{
		"ca-file", "krb5-conf", "allow-plain-http", "establish-timeout", "upstream-timeout",
		"renew-interval", "renew-mode", "rollover", "expiry-margin",
		"endpoint-idle-timeout", "establish-rate", "cancel-on-shutdown", "access-log",
	}
	routeKeys = []string{nameKey, prefixKey, upstreamKey, routeKey, endpointKey}
	// notKeys are flags of run that are no key of the file.
	notKeys = []string{configKey, "help"}
)

// scopeOf returns the scope of key.
func scopeOf(key string) keyScope {
	switch {
	case slices.Contains(globalKeys, key):
		return scopeGlobal
	case slices.Contains(overrideKeys, key):
		return scopeOverride
	case slices.Contains(routeKeys, key):
		return scopeRoute
	}
	return scopeService
}

// secretKey matches keys that would hold a secret themselves.
var secretKey = regexp.MustCompile(`(?i)(passw|passwd|pwd|secret|passphrase|token$|^token|private.?key|^key$|^pin$|api.?key|credential.?value)`)

// secretFix is the advice of a refused secret.
const secretFix = "a configuration file never holds a secret: name where it is with " +
	"password-env: VAR, password-file: FILE (mode 0600), systemd-credential: NAME " +
	"($CREDENTIALS_DIRECTORY/NAME) or credential: KEYRING-ENTRY (scproxy creds set)"

// ConfigError is an error in a configuration file, at a line and key.
type ConfigError struct {
	File string
	Line int
	// Key is the key at fault, "" when the error is about the line.
	Key string
	Err error
}

// Error says FILE:LINE: KEY: what is wrong.
func (e *ConfigError) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s:%d: %s: %v", e.File, e.Line, e.Key, e.Err)
}

// Unwrap returns the error at the key.
func (e *ConfigError) Unwrap() error { return e.Err }

// fileValue is a key's value as the file gives it: one item, or several
// for a repeatable flag, and the line of the key.
type fileValue struct {
	items []string
	line  int
}

// fileService is one entry of services.
type fileService struct {
	name   string
	line   int
	values map[string]fileValue
}

// fileConfig is a parsed, type-checked configuration file.
type fileConfig struct {
	path     string
	top      map[string]fileValue
	services []fileService
}

// readConfigFile reads and parses the file at path.
func readConfigFile(path string) (*fileConfig, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usageErrorf("--config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigFile+1))
	if err != nil {
		return nil, usageErrorf("--config %s: %w", path, err)
	}
	if len(data) > maxConfigFile {
		return nil, usageErrorf("--config %s: larger than %d bytes", path, maxConfigFile)
	}
	return parseConfig(path, data)
}

// parseConfig parses data, the file at path: every key known, every
// value of its flag's type, no secret, services named once and on
// distinct prefixes. Errors are *ConfigError as *UsageError.
func parseConfig(path string, data []byte) (*fileConfig, error) {
	p := &configParser{fc: &fileConfig{path: path, top: map[string]fileValue{}}, flags: runFlags()}
	if err := p.parse(data); err != nil {
		return nil, asUsage(err)
	}
	return p.fc, nil
}

// runFlags returns a fresh set of run's flags: the schema of the file.
func runFlags() *pflag.FlagSet { return NewCmdRun(Streams{}, nil).Flags() }

// configParser walks the YAML nodes, which know their lines.
type configParser struct {
	fc    *fileConfig
	flags *pflag.FlagSet
}

func (p *configParser) errorf(line int, key, format string, args ...any) error {
	return &ConfigError{File: p.fc.path, Line: line, Key: key, Err: fmt.Errorf(format, args...)}
}

func (p *configParser) parse(data []byte) error {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return p.yamlError(err)
	}
	if len(doc.Content) == 0 {
		return p.errorf(1, "", "empty: want the listener's settings and a list of services")
	}
	var more yaml.Node
	if err := dec.Decode(&more); err == nil {
		return p.errorf(more.Line, "", "a second YAML document: the file holds one")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return p.errorf(root.Line, "", "want a mapping of keys (listen: ..., services: ...)")
	}
	var services *yaml.Node
	err := p.mapping(root, func(key string, k, v *yaml.Node) error {
		if key == servicesKey {
			services = v
			return nil
		}
		switch scopeOf(key) {
		case scopeRoute:
			return p.errorf(k.Line, key, "belongs to a service: write it under services")
		}
		fv, err := p.value(key, k, v)
		if err == nil {
			p.fc.top[key] = fv
		}
		return err
	})
	if err != nil {
		return err
	}
	if services == nil {
		return p.errorf(root.Line, servicesKey, "missing: list the upstream services")
	}
	return p.services(services)
}

// yamlError gives a YAML syntax or structure error the file's name; the
// library's message carries the line.
func (p *configParser) yamlError(err error) error {
	line := 0
	msg := err.Error()
	if _, e := fmt.Sscanf(strings.TrimPrefix(msg, "yaml: "), "line %d:", &line); e == nil {
		_, rest, _ := strings.Cut(msg, ": ")
		_, rest, _ = strings.Cut(rest, ": ")
		return p.errorf(line, "", "%s", rest)
	}
	return &ConfigError{File: p.fc.path, Line: 1, Err: fmt.Errorf("not YAML: %s", strings.TrimPrefix(msg, "yaml: "))}
}

// mapping calls fn for each key of m in order, refusing keys given twice
// and keys that are no string.
func (p *configParser) mapping(m *yaml.Node, fn func(key string, k, v *yaml.Node) error) error {
	seen := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
			return p.errorf(k.Line, "", "want a key name (merge keys and complex keys are not taken)")
		}
		if first, ok := seen[k.Value]; ok {
			return p.errorf(k.Line, k.Value, "given twice (first on line %d)", first)
		}
		seen[k.Value] = k.Line
		if err := fn(k.Value, k, v); err != nil {
			return err
		}
	}
	return nil
}

// value checks the value v of key (at node k) against its flag: a known
// key, a scalar (a list for a repeatable flag), of the flag's type, no
// secret.
func (p *configParser) value(key string, k, v *yaml.Node) (fileValue, error) {
	fv := fileValue{line: k.Line}
	f := p.flags.Lookup(key)
	switch {
	case key == nameKey || key == prefixKey:
	case secretKey.MatchString(key) && (f == nil || slices.Contains(notKeys, key)):
		return fv, p.errorf(k.Line, key, "%s", secretFix)
	case f == nil || slices.Contains(notKeys, key):
		return fv, p.errorf(k.Line, key, "unknown key%s", suggestKey(key, p.flags))
	}
	_, repeatable := flagValue(f).(pflag.SliceValue)
	switch {
	case v.Kind == yaml.ScalarNode:
		fv.items = []string{v.Value}
	case v.Kind == yaml.SequenceNode && repeatable:
		for _, item := range v.Content {
			if item.Kind != yaml.ScalarNode {
				return fv, p.errorf(item.Line, key, "want a list of values, found %s", kindName(item))
			}
			fv.items = append(fv.items, item.Value)
		}
	case v.Kind == yaml.SequenceNode:
		return fv, p.errorf(v.Line, key, "takes one value, not a list")
	default:
		return fv, p.errorf(v.Line, key, "want a value, found %s", kindName(v))
	}
	for _, item := range fv.items {
		if reason := literalSecret(key, item); reason != "" {
			return fv, p.errorf(v.Line, key, "%s; %s", reason, secretFix)
		}
		if f != nil {
			// The flag's own parser checks the type, on the parser's own
			// set of flags, which nothing else reads values from.
			if err := p.flags.Set(key, item); err != nil {
				return fv, p.errorf(v.Line, key, "want %s: %v", withArticle(f.Value.Type()), unquoteFlagErr(err))
			}
		}
	}
	return fv, nil
}

// withArticle is a type's name after "a" or "an".
func withArticle(typ string) string {
	if strings.ContainsAny(typ[:1], "aeiou") {
		return "an " + typ
	}
	return "a " + typ
}

// flagValue is f's value, or nil for no flag.
func flagValue(f *pflag.Flag) pflag.Value {
	if f == nil {
		return nil
	}
	return f.Value
}

// unquoteFlagErr drops pflag's restatement of the flag and value from err:
// the ConfigError names the key.
func unquoteFlagErr(err error) string {
	msg := err.Error()
	if _, rest, ok := strings.Cut(msg, ": "); ok && strings.HasPrefix(msg, "invalid argument") {
		return rest
	}
	return msg
}

// kindName names a YAML node kind for messages, with its article.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias (write the value)"
	}
	return "a value"
}

// literalSecret says why value, of key, is a secret written in the file,
// or "": a URL with a password in it, or a PEM private key.
func literalSecret(key, value string) string {
	if strings.Contains(value, "PRIVATE KEY-----") {
		return "the value is a private key"
	}
	raw := value
	if key == routeKey {
		_, raw, _ = strings.Cut(value, "=")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			return "the URL has a password in it"
		}
	}
	for name := range u.Query() {
		if secretKey.MatchString(name) || urlSecretParam.MatchString(name) {
			return fmt.Sprintf("the URL's query has a secret in it (%s)", name)
		}
	}
	return ""
}

// urlSecretParam matches query parameters that carry a credential
// (access_token, sig of a shared access signature, code, apikey...).
var urlSecretParam = regexp.MustCompile(`(?i)^(access_?token|id_?token|sig|signature|code|auth|apikey|key)$`)

// suggestKey names the key of a flag close to key, for a typo.
func suggestKey(key string, flags *pflag.FlagSet) string {
	best, bestD := "", 3
	flags.VisitAll(func(f *pflag.Flag) {
		if d := editDistance(key, f.Name); d < bestD && !slices.Contains(notKeys, f.Name) {
			best, bestD = f.Name, d
		}
	})
	if best == "" {
		return " (the keys are the flags of scproxy run; see docs/config.md)"
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// services parses the list of services: each a mapping with a unique
// name, no global key, and routes no other service has.
func (p *configParser) services(n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return p.errorf(n.Line, servicesKey, "want a list of services (- name: ...)")
	}
	if len(n.Content) == 0 {
		return p.errorf(n.Line, servicesKey, "empty: list at least one service")
	}
	names := map[string]int{}
	prefixes := map[string]string{}
	for _, item := range n.Content {
		if item.Kind != yaml.MappingNode {
			return p.errorf(item.Line, servicesKey, "want each service as a mapping (- name: ...)")
		}
		svc := fileService{line: item.Line, values: map[string]fileValue{}}
		err := p.mapping(item, func(key string, k, v *yaml.Node) error {
			if key == servicesKey || scopeOf(key) == scopeGlobal {
				return p.errorf(k.Line, key, "a setting of the listener or the process: write it at the top level, for every service")
			}
			fv, err := p.value(key, k, v)
			svc.values[key] = fv
			return err
		})
		if err != nil {
			return err
		}
		if err := p.identify(&svc, names, prefixes); err != nil {
			return err
		}
		p.fc.services = append(p.fc.services, svc)
	}
	return nil
}

// identify checks svc's name and prefixes against those of the services
// before it.
func (p *configParser) identify(svc *fileService, names map[string]int, prefixes map[string]string) error {
	name, ok := svc.values[nameKey]
	if !ok || name.items[0] == "" {
		return p.errorf(svc.line, nameKey, "missing: every service has a name")
	}
	svc.name = name.items[0]
	if first, dup := names[svc.name]; dup {
		return p.errorf(name.line, nameKey, "service %q is named twice (first on line %d)", svc.name, first)
	}
	names[svc.name] = name.line
	if pv, ok := svc.values[prefixKey]; ok && !strings.HasPrefix(pv.items[0], "/") {
		return p.errorf(pv.line, prefixKey, "want a local path starting with /, e.g. /%s", svc.name)
	}
	if _, ok := svc.values[upstreamKey]; !ok && len(svc.values[routeKey].items) == 0 {
		return p.errorf(svc.line, upstreamKey, "missing: service %q needs an upstream (or route: /path=URL)", svc.name)
	}
	for _, r := range svc.prefixes() {
		if other, dup := prefixes[r.prefix]; dup {
			return p.errorf(r.line, r.key, "prefix %s is taken by service %q already: two services cannot share a route", r.prefix, other)
		}
		prefixes[r.prefix] = svc.name
	}
	return nil
}

// prefixAt is a route prefix and where the file gives it.
type prefixAt struct {
	prefix, key string
	line        int
}

// prefixes returns the service's route prefixes: prefix (default /) when
// upstream is given, and each route's.
func (s *fileService) prefixes() []prefixAt {
	var out []prefixAt
	if up, ok := s.values[upstreamKey]; ok {
		at := prefixAt{prefix: "/", key: upstreamKey, line: up.line}
		if pv, ok := s.values[prefixKey]; ok {
			at = prefixAt{prefix: pv.items[0], key: prefixKey, line: pv.line}
		}
		out = append(out, at)
	}
	if rv, ok := s.values[routeKey]; ok {
		for _, r := range rv.items {
			prefix, _, _ := strings.Cut(r, "=")
			out = append(out, prefixAt{prefix: prefix, key: routeKey, line: rv.line})
		}
	}
	return out
}
