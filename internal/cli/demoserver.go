package cli

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/wire/msgsec"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// DemoServerOptions are the flags of `scproxy demo-server`.
type DemoServerOptions struct {
	Listen string
	// AllowRemote permits a Listen address beyond this host.
	AllowRemote bool
	PlainHTTP   bool
	CertDir     string
	Versions    []string
	Users       []string // name:password
	// UserEnv names environment variables each holding a user as
	// name:password, keeping the password off the command line.
	UserEnv           []string
	ClientCA          string // PEM file enabling the X.509 bootstrap
	Entropy           string
	Lifetime          time.Duration
	Rollover          time.Duration
	Skew              time.Duration
	TimestampValidity time.Duration
	Cookie            bool
	EchoActions       []string
	MaxBytes          int
	LogFormat         string
	// AllowUnsecured echoes messages without a Security header (the
	// performance harness's baseline).
	AllowUnsecured bool

	// KerberosKeytab and KerberosSPN enable the Kerberos bootstrap.
	KerberosKeytab string
	KerberosSPN    string

	// IssueTokens runs the SAML token service beside the STS.
	IssueTokens bool

	// Profile is sc-tls (contexts over TLS) or message (every message
	// signed and encrypted); the other fields here apply to message.
	Profile            string
	MessageBootstraps  []string
	ServerCert         string // PEM service certificate (default: generated)
	ServerKey          string // its PEM RSA key
	AlgorithmSuite     string
	SignatureAlgorithm string
	ProtectionOrder    string
	DerivedKeys        bool
	NoCancel           bool

	RenewAfterMessages int
	RenewAfterKeyAge   time.Duration
	Delay              time.Duration
	FailFirst          int
	FailStatus         int
	RecycleEvery       time.Duration

	// getenv reads UserEnv; nil means an empty environment.
	getenv func(string) string
	// messageFlags are the flags of --profile message the command line
	// set, refused under another profile.
	messageFlags []string
}

// demoUser is the user the server gets when none is given; its password
// is made up at start and printed.
const demoUser = "demo"

// NewCmdDemoServer returns `scproxy demo-server`. runF runs the parsed
// options; nil means RunDemoServer.
func NewCmdDemoServer(s Streams, runF func(context.Context, *DemoServerOptions) error) *cobra.Command {
	o := &DemoServerOptions{getenv: s.environ()}
	if runF == nil {
		runF = func(ctx context.Context, o *DemoServerOptions) error { return RunDemoServer(ctx, o, s) }
	}
	cmd := &cobra.Command{
		Use:   "demo-server",
		Short: "Run the built-in WS-SecureConversation test service",
		Long: `Run the built-in WS-SecureConversation service: a security token service
that issues, renews and cancels security context tokens, and an echo service
that checks the security of every message. Point a legacy application and
scproxy at it before touching production.

It prints its URL, the CA certificate file a client must trust, and the
credentials of the demo user.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, name := range messageFlags {
				if cmd.Flags().Changed(name) {
					o.messageFlags = append(o.messageFlags, "--"+name)
				}
			}
			return runF(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Listen, "listen", scserver.DefaultAddr, "address to listen on (anything but loopback needs --allow-remote)")
	f.BoolVar(&o.AllowRemote, "allow-remote", false, "allow a --listen address beyond this host (the demo users' passwords then travel to other hosts' clients)")
	f.BoolVar(&o.PlainHTTP, "plain-http", false, "serve plain HTTP instead of HTTPS")
	f.StringVar(&o.CertDir, "cert-dir", "", "directory for the generated CA certificate (default: a temporary one)")
	f.StringSliceVar(&o.Versions, "versions", []string{"feb2005", "1.3"}, "WS-SecureConversation versions accepted: feb2005, 1.3")
	f.StringArrayVar(&o.Users, "user", nil, "a user as name:password, visible to other local users in the process list (repeatable; default: user demo with a random password)")
	f.StringArrayVar(&o.UserEnv, "user-env", nil, "an environment variable holding a user as name:password, keeping the password off the command line (repeatable)")
	f.StringVar(&o.ClientCA, "client-ca", "", "PEM file of CAs trusted for the X.509 bootstrap (default: X.509 disabled)")
	f.StringVar(&o.KerberosKeytab, "kerberos-keytab", "", "keytab of the service principal, enabling the Kerberos bootstrap (default: Kerberos disabled)")
	f.StringVar(&o.KerberosSPN, "kerberos-spn", "", "service principal Kerberos tickets must be for, such as HTTP/svc.example.com (with --kerberos-keytab)")
	f.StringVar(&o.Entropy, "entropy", "auto", "key entropy: auto, combined, client or server")
	f.DurationVar(&o.Lifetime, "lifetime", scserver.DefaultLifetime, "lifetime of an issued context")
	f.DurationVar(&o.Rollover, "rollover", scserver.DefaultRollover, "how long the previous key is accepted after a renewal")
	f.DurationVar(&o.Skew, "skew", scserver.DefaultSkew, "clock skew tolerated on timestamps")
	f.DurationVar(&o.TimestampValidity, "timestamp-validity", scserver.DefaultTimestampValidity, "how old a message's Timestamp may be, before the skew is added")
	f.BoolVar(&o.Cookie, "cookie", false, "put a WCF-style stateful cookie in issued tokens")
	f.StringArrayVar(&o.EchoActions, "echo-action", nil, "an application action to echo (repeatable; default: any)")
	f.IntVar(&o.MaxBytes, "max-bytes", xmldoc.DefaultLimits.MaxBytes, "largest request accepted, in bytes")
	f.StringVar(&o.LogFormat, "log-format", "text", "request log format: text, json or none")
	f.BoolVar(&o.AllowUnsecured, "allow-unsecured", false, "also echo messages without any Security header (a baseline for measurements)")
	f.BoolVar(&o.IssueTokens, "issue-tokens", false, "also issue SAML 2.0 holder-of-key tokens to the users (WS-Trust Issue, action <trust>/RST/Issue) and accept them as a bootstrap")
	f.StringVar(&o.Profile, "profile", "sc-tls", "how messages are secured: sc-tls (a security context over TLS) or message (every message signed and encrypted, WCF's wsHttpBinding in Message mode)")
	f.StringSliceVar(&o.MessageBootstraps, "message-bootstrap", nil, "with --profile message, how an Issue may be protected: "+orList(messageBootstrapNames())+" (default: username, and mutual with --client-ca)")
	f.StringVar(&o.ServerCert, "server-cert", "", "with --profile message, PEM service certificate clients encrypt for (default: a generated one, written as service.pem beside the CA file)")
	f.StringVar(&o.ServerKey, "server-key", "", "PEM RSA private key of --server-cert")
	f.StringVar(&o.AlgorithmSuite, "algorithm-suite", msgsec.Basic256.Name, "with --profile message, the WS-SecurityPolicy algorithm suite (Basic128, Basic192, Basic256, TripleDes, with Sha256 and/or Rsa15)")
	f.StringVar(&o.SignatureAlgorithm, "signature-algorithm", "hmac-sha1", "with --profile message, the symmetric signature: hmac-sha1 or hmac-sha256 (WCF's Basic256Sha256)")
	f.StringVar(&o.ProtectionOrder, "protection-order", "sign-encrypt-signature", "with --profile message: sign-encrypt-signature, sign-encrypt or encrypt-sign")
	f.BoolVar(&o.DerivedKeys, "derived-keys", true, "with --profile message, require and use derived keys (RequireDerivedKeys)")
	f.BoolVar(&o.NoCancel, "no-cancel", false, "with --profile message, issue stateful cookie contexts and refuse Cancel (MustNotSendCancel)")
	f.IntVar(&o.RenewAfterMessages, "renew-after-messages", 0, "answer RenewNeeded once a key has protected this many messages (0: never)")
	f.DurationVar(&o.RenewAfterKeyAge, "renew-after-key-age", 0, "answer RenewNeeded once a key is this old (0: never)")
	f.DurationVar(&o.Delay, "delay", 0, "hold every response back this long")
	f.IntVar(&o.FailFirst, "fail-first", 0, "fail the first N requests with --fail-status")
	f.IntVar(&o.FailStatus, "fail-status", http.StatusServiceUnavailable, "HTTP status of scripted failures")
	f.DurationVar(&o.RecycleEvery, "recycle-every", 0, "forget every context at this interval, as an IIS recycle does (0: never)")
	return cmd
}

// Config validates the options and returns the server configuration. With
// no --user, it makes the demo user a password from rnd.
func (o *DemoServerOptions) Config(rnd io.Reader) (scserver.Config, error) {
	cfg := scserver.Config{
		Addr: o.Listen, PlainHTTP: o.PlainHTTP, CertDir: o.CertDir,
		Lifetime: o.Lifetime, Rollover: o.Rollover, Skew: o.Skew, TimestampValidity: o.TimestampValidity,
		Cookie: o.Cookie, EchoActions: o.EchoActions, AllowUnsecured: o.AllowUnsecured, IssueTokens: o.IssueTokens,
		Limits: xmldoc.Limits{MaxBytes: o.MaxBytes},
		Script: scserver.Script{RenewAfterMessages: o.RenewAfterMessages, RenewAfterKeyAge: o.RenewAfterKeyAge, Delay: o.Delay},
	}
	if err := checkLoopback(o.Listen, o.AllowRemote, "it hands the demo users' passwords to any client"); err != nil {
		return cfg, err
	}
	var err error
	if cfg.Versions, err = parseVersions(o.Versions); err != nil {
		return cfg, err
	}
	if cfg.Entropy, err = scserver.ParseEntropy(o.Entropy); err != nil {
		return cfg, &UsageError{Err: err}
	}
	pairs, err := o.userPairs()
	if err != nil {
		return cfg, err
	}
	if cfg.Users, err = parseUsers(pairs, rnd); err != nil {
		return cfg, err
	}
	if o.ClientCA != "" {
		pemBytes, err := os.ReadFile(o.ClientCA)
		if err != nil {
			return cfg, fmt.Errorf("--client-ca: %w", err)
		}
		cfg.TrustedCAs = x509.NewCertPool()
		if !cfg.TrustedCAs.AppendCertsFromPEM(pemBytes) {
			return cfg, usageErrorf("--client-ca %s holds no PEM certificate", o.ClientCA)
		}
	}
	if (o.KerberosKeytab == "") != (o.KerberosSPN == "") {
		return cfg, usageErrorf("--kerberos-keytab and --kerberos-spn go together")
	}
	if o.KerberosKeytab != "" {
		if cfg.Kerberos, err = scserver.LoadKerberosAcceptor(o.KerberosKeytab, o.KerberosSPN); err != nil {
			return cfg, err
		}
	}
	if cfg.Message, err = o.messageSecurity(); err != nil {
		return cfg, err
	}
	switch {
	case o.MaxBytes <= 0:
		return cfg, usageErrorf("--max-bytes must be positive")
	case o.Lifetime <= 0 || o.Skew <= 0 || o.TimestampValidity <= 0:
		return cfg, usageErrorf("--lifetime, --skew and --timestamp-validity must be positive")
	case o.RenewAfterMessages < 0 || o.RenewAfterKeyAge < 0 || o.Delay < 0 || o.FailFirst < 0 || o.RecycleEvery < 0:
		return cfg, usageErrorf("scripted faults take no negative values")
	case o.FailStatus < 100 || o.FailStatus > 599:
		return cfg, usageErrorf("--fail-status %d is not an HTTP status", o.FailStatus)
	case o.LogFormat != "text" && o.LogFormat != "json" && o.LogFormat != "none":
		return cfg, usageErrorf("--log-format %q: use text, json or none", o.LogFormat)
	}
	return cfg, nil
}

// userPairs returns the --user pairs followed by those of the --user-env
// variables. An unset variable, or one not holding name:password, is a
// usage error naming the variable, never its value.
func (o *DemoServerOptions) userPairs() ([]string, error) {
	getenv := o.getenv
	if getenv == nil {
		getenv = noEnv
	}
	pairs := slices.Clone(o.Users)
	for _, variable := range o.UserEnv {
		v := getenv(variable)
		if user, password, ok := strings.Cut(v, ":"); !ok || user == "" || password == "" {
			return nil, usageErrorf("--user-env: $%s must hold name:password", variable)
		}
		pairs = append(pairs, v)
	}
	return pairs, nil
}

func parseVersions(names []string) ([]wssc.Version, error) {
	var out []wssc.Version
	for _, n := range names {
		switch strings.ToLower(strings.TrimSpace(n)) {
		case "feb2005", "2005-02", "2005/02":
			out = append(out, wssc.Feb2005)
		case "1.3", "1.4", "200512":
			out = append(out, wssc.V1_3)
		default:
			return nil, usageErrorf("--versions: unknown WS-SecureConversation version %q (feb2005 or 1.3)", n)
		}
	}
	if len(out) == 0 {
		return nil, usageErrorf("--versions: at least one version is needed")
	}
	return out, nil
}

// parseUsers reads name:password pairs; with none, it makes the demo user
// with a random password.
func parseUsers(pairs []string, rnd io.Reader) (map[string]string, error) {
	users := map[string]string{}
	for _, p := range pairs {
		name, password, ok := strings.Cut(p, ":")
		if !ok || name == "" || password == "" {
			return nil, usageErrorf("--user wants name:password")
		}
		users[name] = password
	}
	if len(users) == 0 {
		b := make([]byte, 12)
		if _, err := io.ReadFull(rnd, b); err != nil {
			return nil, fmt.Errorf("demo password: %w", err)
		}
		users[demoUser] = base64.RawURLEncoding.EncodeToString(b)
	}
	return users, nil
}

// RunDemoServer runs the service until ctx ends, printing where it is
// and how to log in.
func RunDemoServer(ctx context.Context, o *DemoServerOptions, s Streams) error {
	cfg, err := o.Config(rand.Reader)
	if err != nil {
		return err
	}
	switch o.LogFormat {
	case "json":
		cfg.Logger = slog.New(slog.NewJSONHandler(s.Err, nil))
	case "text":
		cfg.Logger = slog.New(slog.NewTextHandler(s.Err, nil))
	}
	srv, err := scserver.New(cfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	if o.FailFirst > 0 {
		if err := srv.FailNext(o.FailFirst, o.FailStatus); err != nil {
			return err
		}
	}
	if err := srv.Start(ctx); err != nil {
		return err
	}
	printBanner(s.Out, srv, cfg)
	if o.RecycleEvery > 0 {
		go recycle(ctx, srv, o.RecycleEvery)
	}
	<-ctx.Done()
	return nil
}

// recycle forgets every context at each tick until ctx ends.
func recycle(ctx context.Context, srv *scserver.Server, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			srv.ForgetAll()
		}
	}
}

// printBanner writes one "key: value" line per fact, for people and for
// scripts that start the server and read where it is.
func printBanner(w io.Writer, srv *scserver.Server, cfg scserver.Config) {
	fmt.Fprintln(w, "scproxy demo server")
	fmt.Fprintf(w, "url: %s\n", srv.URL())
	if !cfg.PlainHTTP {
		fmt.Fprintf(w, "ca-file: %s\n", srv.CAFile())
	}
	var versions []string
	for _, v := range cfg.Versions {
		versions = append(versions, v.String())
	}
	fmt.Fprintf(w, "versions: %s\n", strings.Join(versions, ", "))
	for _, name := range slices.Sorted(maps.Keys(cfg.Users)) {
		fmt.Fprintf(w, "user: %s\npassword: %s\n", name, cfg.Users[name])
	}
	if cfg.TrustedCAs != nil {
		fmt.Fprintln(w, "x509: enabled")
	}
	if cfg.AllowUnsecured {
		fmt.Fprintln(w, "unsecured: accepted")
	}
	if cfg.Kerberos != nil {
		fmt.Fprintf(w, "kerberos: %s\n", cfg.Kerberos)
	}
	if m := srv.MessageSettings(); m != nil {
		_, file := srv.ServiceCertificate()
		bootstraps := make([]string, len(m.Bootstraps))
		for i, b := range m.Bootstraps {
			bootstraps[i] = b.String()
		}
		fmt.Fprintf(w, "profile: message (%s, %s, derived keys %v, bootstraps %s)\n", m.Suite.Name, m.Order, m.DerivedKeys, strings.Join(bootstraps, ", "))
		fmt.Fprintf(w, "server-cert: %s\n", file)
		if m.NoCancel {
			fmt.Fprintln(w, "cancel: not expected (cookie contexts, MustNotSendCancel)")
		}
	}
	if cfg.IssueTokens {
		fmt.Fprintf(w, "token service: SAML 2.0 tokens for the users, signed by %q\n", srv.IssuerCertificate().Subject)
	}
}

// messageFlags are the flags that only --profile message reads.
var messageFlags = []string{"message-bootstrap", "server-cert", "server-key", "algorithm-suite", "signature-algorithm", "protection-order", "derived-keys", "no-cancel"}

func messageBootstrapNames() []string {
	names := make([]string, len(scserver.MessageBootstraps))
	for i, b := range scserver.MessageBootstraps {
		names[i] = b.String()
	}
	return names
}

// messageSecurity returns the message-security settings of --profile
// message, nil for sc-tls.
func (o *DemoServerOptions) messageSecurity() (*scserver.MessageSecurity, error) {
	switch o.Profile {
	case "sc-tls":
		if len(o.messageFlags) > 0 {
			return nil, usageErrorf("%s: used by --profile message only", strings.Join(o.messageFlags, ", "))
		}
		return nil, nil
	case "message":
	default:
		return nil, usageErrorf("--profile %q: want sc-tls or message", o.Profile)
	}
	m := &scserver.MessageSecurity{DerivedKeys: o.DerivedKeys, NoCancel: o.NoCancel}
	var err error
	if m.Suite, err = msgsec.SuiteByName(o.AlgorithmSuite); err != nil {
		return nil, &UsageError{Err: fmt.Errorf("--algorithm-suite: %w", err)}
	}
	if m.SignatureMethod, err = pick("--signature-algorithm", o.SignatureAlgorithm, signatureMethods); err != nil {
		return nil, err
	}
	if m.Order, err = pick("--protection-order", o.ProtectionOrder, protectionOrders); err != nil {
		return nil, err
	}
	for _, name := range o.MessageBootstraps {
		b, err := scserver.ParseMessageBootstrap(name)
		if err != nil {
			return nil, &UsageError{Err: fmt.Errorf("--message-bootstrap: %w", err)}
		}
		if (b == scserver.BootstrapMutual || b == scserver.BootstrapMutual10) && o.ClientCA == "" {
			return nil, usageErrorf("--message-bootstrap %s needs --client-ca, the CAs client certificates must chain to", b)
		}
		m.Bootstraps = append(m.Bootstraps, b)
	}
	if (o.ServerCert == "") != (o.ServerKey == "") {
		return nil, usageErrorf("--server-cert and --server-key go together")
	}
	if o.ServerCert != "" {
		if m.Certificate, m.Key, err = loadServiceCert(o.ServerCert, o.ServerKey); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// loadServiceCert reads a PEM certificate and its PEM RSA key.
func loadServiceCert(certFile, keyFile string) (*x509.Certificate, *rsa.PrivateKey, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("--server-cert, --server-key: %w", err)
	}
	key, ok := pair.PrivateKey.(*rsa.PrivateKey)
	if !ok {
		return nil, nil, usageErrorf("--server-key: the service key must be RSA, not %T", pair.PrivateKey)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, nil, fmt.Errorf("--server-cert: %w", err)
	}
	return cert, key, nil
}
