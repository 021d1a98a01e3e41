package cli

import (
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/scproxy/scproxy/wsdlpolicy"
	"github.com/spf13/cobra"
)

// InspectOptions are the flags of `scproxy inspect`.
type InspectOptions struct {
	Location string
	CAFile   string
	Format   string
	Output   string
	CertDir  string
	Timeout  time.Duration
}

// inspectFormats are the values of --format: how the settings are
// printed.
var inspectFormats = []choice[func(io.Writer, string, []inspected) error]{
	{"config", renderConfig},
	{"flags", renderFlags},
}

// NewCmdInspect returns `scproxy inspect`. runF runs the parsed options;
// nil means runInspect.
func NewCmdInspect(s Streams, runF func(context.Context, *InspectOptions, Streams) error) *cobra.Command {
	o := &InspectOptions{}
	if runF == nil {
		runF = runInspect
	}
	cmd := &cobra.Command{
		Use:   "inspect URL|FILE",
		Short: "Read a service's WSDL and policy and print the settings that reach it",
		Long: `Read a service's WSDL (a URL, tried with ?wsdl first as WCF and CXF publish
it, or a file), follow its wsdl:import, resolve its WS-Policy and print, for
each endpoint, a config block ready for scproxy: SOAP and WS-Addressing
versions, WS-SecureConversation version, profile, bootstrap, algorithm
suite, derived keys and cancellation. A service certificate published in
the endpoint's identity is written to a PEM file and referenced. What
scproxy cannot do (WCF's TLSNego, SPNEGO, no security context) is named,
with the change on the service that makes it reachable.

Nothing is sent but GET requests: no credential, no cookie; documents are
capped in size and number, and http:// and https:// are the only schemes
read.`,
		Example: `  scproxy inspect https://svc.example.com/Orders.svc
  scproxy inspect --output orders.yaml https://svc.example.com/Orders.svc?singleWsdl
  scproxy inspect --format flags ./Orders.wsdl`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Location = args[0]
			if _, err := pick("--format", o.Format, inspectFormats); err != nil {
				return err
			}
			if o.Timeout <= 0 {
				return usageErrorf("--timeout must be positive")
			}
			return runF(cmd.Context(), o, s)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.CAFile, "ca-file", "", "PEM file of CA certificates trusted in addition to the system roots")
	f.StringVar(&o.Format, "format", "config", "config (a services: block for --config) or flags (a `scproxy run` command line per endpoint)")
	f.StringVarP(&o.Output, "output", "o", "", "write to this file instead of standard output (a published service certificate goes next to it)")
	f.StringVar(&o.CertDir, "cert-dir", "", "directory for published service certificates (default: the --output file's, else the current one; created when missing)")
	f.DurationVar(&o.Timeout, "timeout", wsdlpolicy.DefaultTimeout, "time allowed for reading the whole description")
	return cmd
}

// runInspect reads the description and writes the settings.
func runInspect(ctx context.Context, o *InspectOptions, s Streams) error {
	render, err := pick("--format", o.Format, inspectFormats)
	if err != nil {
		return err
	}
	roots, err := rootCAs(o.CAFile)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	l := &wsdlpolicy.Loader{Client: wsdlpolicy.NewClient(roots)}
	d, err := l.Load(ctx, o.Location)
	if err != nil {
		return err
	}
	eps, err := d.Endpoints()
	if err != nil {
		return err
	}
	certDir := o.CertDir
	if certDir == "" && o.Output != "" {
		certDir = filepath.Dir(o.Output)
	}
	blocks := make([]inspected, len(eps))
	names := map[string]int{}
	for i, ep := range eps {
		blocks[i] = inspected{Endpoint: ep, name: uniqueName(names, ep)}
		if ep.Certificate != nil && ep.Settings.Profile == wsdlpolicy.ProfileMessage && len(ep.Unsupported) == 0 {
			if blocks[i].certFile, err = writeCert(certDir, blocks[i].name, ep.Certificate.Raw); err != nil {
				return err
			}
		}
	}
	var w io.Writer = s.Out
	var file *os.File
	if o.Output != "" {
		if file, err = os.OpenFile(o.Output, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644); err != nil {
			return err
		}
		defer file.Close()
		w = file
	}
	if err := render(w, d.Location, blocks); err != nil {
		return err
	}
	if file != nil {
		return file.Close()
	}
	return nil
}

// inspected is one endpoint with the names it is printed under.
type inspected struct {
	wsdlpolicy.Endpoint
	name     string // the service's name in the config
	certFile string // where its certificate was written, or ""
}

// uniqueName names an endpoint after its port, lower-case, made unique.
func uniqueName(seen map[string]int, ep wsdlpolicy.Endpoint) string {
	var b strings.Builder
	for _, r := range strings.ToLower(ep.Port) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	name := strings.Trim(b.String(), "-")
	if name == "" {
		name = "service"
	}
	seen[name]++
	if n := seen[name]; n > 1 {
		name += "-" + strconv.Itoa(n)
	}
	return name
}

// writeCert writes a certificate as PEM to dir/name.pem, creating dir.
func writeCert(dir, name string, der []byte) (string, error) {
	if dir == "" {
		dir = "."
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("--cert-dir: %w", err)
	}
	p := filepath.Join(dir, name+".pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", err
	}
	return p, nil
}

// inspectKey is one key of a service's configuration; the key is the flag
// of `scproxy run` that sets it.
type inspectKey struct {
	key, value string
	comment    string
	commented  bool // printed as a hint, not set: the user fills it in
	number     bool // printed unquoted
}

// settingsOf returns the settings of a reachable endpoint, in the order
// a reader expects them.
func settingsOf(b inspected) []inspectKey {
	s := b.Settings
	out := []inspectKey{{key: "upstream", value: b.Address}}
	add := func(key, value string) { out = append(out, inspectKey{key: key, value: value}) }
	hint := func(key, value, comment string) {
		out = append(out, inspectKey{key: key, value: value, comment: comment, commented: true})
	}
	add("soap-version", s.SOAPVersion)
	if s.Addressing != "" {
		add("addressing", s.Addressing)
	} else {
		add("addressing", "none")
	}
	switch s.Profile {
	case wsdlpolicy.ProfileNone:
		add("security", "none")
		return out
	case wsdlpolicy.ProfileX509:
		add("profile", "x509")
		hint("cert-file", "client.pem", "the client certificate and its key")
		hint("key-file", "client.key", "")
		return out
	}
	add("profile", s.Profile)
	add("sc-version", s.SCVersion)
	if s.Profile == wsdlpolicy.ProfileMessage {
		add("message-bootstrap", s.MessageBootstrap)
		if b.certFile != "" {
			add("server-cert", b.certFile)
		} else {
			hint("server-cert", "service.pem", "the service certificate: the WSDL publishes none")
		}
		if s.AlgorithmSuite != "" {
			add("algorithm-suite", s.AlgorithmSuite)
		}
		add("protection-order", s.ProtectionOrder)
		// Written although it is the default: a WCF service takes a Renew
		// only under the bootstrap binding, endorsed by the context.
		out = append(out, inspectKey{key: "message-renew", value: "bootstrap", comment: "as WCF's client renews"})
	} else {
		add("bootstrap", s.Bootstrap)
		if s.SignatureAlgorithm != "" {
			add("signature-algorithm", s.SignatureAlgorithm)
		}
		if s.KeySize != 0 {
			out = append(out, inspectKey{key: "key-size", value: strconv.Itoa(s.KeySize), number: true})
		}
	}
	if s.Entropy != "" {
		add("entropy", s.Entropy)
	}
	if s.DerivedKeys || s.Profile == wsdlpolicy.ProfileMessage {
		// explicit under the message profile, whose default is true
		add("derived-keys", strconv.FormatBool(s.DerivedKeys))
	}
	if s.NoCancel {
		add("cancel-on-shutdown", "false")
	}
	return append(out, credentialHints(b)...)
}

// credentialHints says where the bootstrap's secret comes from: never a
// value, always a reference the user completes.
func credentialHints(b inspected) []inspectKey {
	host := ""
	if u, err := url.Parse(b.Address); err == nil {
		host = u.Host
	}
	password := []inspectKey{
		{key: "credential", value: host, comment: "keyring: scproxy creds set " + host + " --username USER", commented: true},
		{key: "username", value: "USER", comment: "on a server: with password-file, password-env or systemd-credential", commented: true},
		{key: "password-file", value: "/etc/scproxy/" + b.name + ".password", commented: true},
	}
	s := b.Settings
	switch {
	case s.Bootstrap == "username" || s.MessageBootstrap == "username":
		return password
	case s.Bootstrap == "certificate" || s.MessageBootstrap == "mutual" || s.MessageBootstrap == "mutual10":
		return []inspectKey{
			{key: "cert-file", value: "client.pem", comment: "the client certificate and its key", commented: true},
			{key: "key-file", value: "client.key", commented: true},
		}
	case s.Bootstrap == "issued-token":
		return []inspectKey{{key: "token-sts", value: "https://sts.example.com/", comment: "or token-file", commented: true}}
	case s.Bootstrap == "kerberos":
		return []inspectKey{
			{key: "spn", value: s.SPN},
			{key: "keytab", value: "user.keytab", comment: "or the password, from the keyring entry " + host, commented: true},
		}
	}
	return nil
}

// renderConfig writes a services: block in the config file's format.
func renderConfig(w io.Writer, location string, blocks []inspected) error {
	p := &printer{w: w}
	p.linef("# scproxy inspect %s", location)
	p.linef("services:")
	for _, b := range blocks {
		p.linef("  # %s, port %s (binding %s): %s", b.Service, b.Port, b.Binding, b.Address)
		for _, n := range b.Notes {
			p.comment("  # ", n)
		}
		if len(b.Unsupported) > 0 {
			p.unsupported("  # ", b)
			continue
		}
		p.linef("  - name: %s", b.name)
		p.linef("    prefix: /%s", b.name)
		for _, s := range settingsOf(b) {
			line := s.key + ": " + inspectScalar(s.value, s.number)
			if s.commented {
				line = "# " + line
			}
			if s.comment != "" {
				line += "  # " + s.comment
			}
			p.linef("    %s", line)
		}
	}
	return p.err
}

// renderFlags writes a `scproxy run` command line per reachable endpoint.
func renderFlags(w io.Writer, location string, blocks []inspected) error {
	p := &printer{w: w}
	p.linef("# scproxy inspect %s", location)
	for _, b := range blocks {
		p.linef("# %s, port %s (binding %s): %s", b.Service, b.Port, b.Binding, b.Address)
		for _, n := range b.Notes {
			p.comment("# ", n)
		}
		if len(b.Unsupported) > 0 {
			p.unsupported("# ", b)
			continue
		}
		args := []string{"scproxy", "run"}
		var hints []string
		for _, s := range settingsOf(b) {
			if s.commented {
				hints = append(hints, strings.Join(flagWords(s), " "))
				continue
			}
			args = append(args, flagWords(s)...)
		}
		p.linef("%s", strings.Join(args, " "))
		if len(hints) > 0 {
			p.comment("# ", "add as needed: "+strings.Join(hints, ", "))
		}
	}
	return p.err
}

// printer writes lines and keeps the first error.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) linef(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format+"\n", args...)
	}
}

// comment writes text as comment lines, the first after prefix and the
// others indented under it, wrapped at 100 columns.
func (p *printer) comment(prefix, text string) {
	const width = 100
	hash := strings.IndexByte(prefix, '#')
	indent := prefix[:hash+1] + strings.Repeat(" ", len(prefix)-hash-1+2)
	line, start := prefix, prefix
	for _, word := range strings.Fields(text) {
		if len(line)+len(word)+1 > width && line != start {
			p.linef("%s", strings.TrimRight(line, " "))
			line, start = indent, indent
		}
		line += word + " "
	}
	p.linef("%s", strings.TrimRight(line, " "))
}

// unsupported writes why an endpoint cannot be reached and what changes it.
func (p *printer) unsupported(prefix string, b inspected) {
	p.comment(prefix, "scproxy cannot reach this endpoint as published:")
	for _, u := range b.Unsupported {
		p.comment(prefix+"- ", u.What)
		p.comment(prefix+"  ", "fix on the service: "+u.Fix)
	}
}

// inspectScalar writes a string value so that YAML reads it as that string
// (quoted when it starts with a digit, as versions do, or holds YAML
// syntax), and a number or boolean as such.
func inspectScalar(v string, number bool) string {
	if number || v == "true" || v == "false" {
		return v
	}
	if v == "" || v[0] >= '0' && v[0] <= '9' || strings.ContainsAny(v, ":#{}[],&*!|>'\"%@`") && !isURLValue(v) {
		return strconv.Quote(v)
	}
	return v
}

func isURLValue(v string) bool {
	u, err := url.Parse(v)
	return err == nil && u.Scheme != "" && u.Host != "" && !strings.ContainsAny(v, " #")
}

// flagWords writes a setting as `scproxy run` takes it: a boolean flag
// alone when true, with =false when false.
func flagWords(s inspectKey) []string {
	switch s.value {
	case "true":
		return []string{"--" + s.key}
	case "false":
		return []string{"--" + s.key + "=false"}
	}
	return []string{"--" + s.key, shellWord(s.value)}
}

// shellWord quotes v for a POSIX shell when it needs quoting.
func shellWord(v string) string {
	if v != "" && strings.Trim(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=+@%,") == "" {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}
