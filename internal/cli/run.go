package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/renewal"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/setting"
	up "github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wssc"
)

// RunOptions are the flags of `scproxy run`, as given: Config checks and
// converts them.
type RunOptions struct {
	Listen      string
	AllowRemote bool
	Upstream    string   // URL of route /
	Routes      []string // /path=URL
	// Endpoints are local paths below a route that are endpoints of
	// their own (the upstream's sub-addresses).
	Endpoints []string
	// AllowPlainHTTP accepts http:// upstreams for secured traffic.
	AllowPlainHTTP bool
	// ListenUnix, ListenUnixMode and AllowUIDs say who may call
	// (callers.go); listenGiven that --listen was given, not defaulted.
	ListenUnix     string
	ListenUnixMode string
	AllowUIDs      []string
	listenGiven    bool

	Security  string
	Profile   string
	SCVersion string
	Bootstrap string
	// MessageBootstrap, ServerCert, AlgorithmSuite and ProtectionOrder
	// configure --profile message (run_message.go); bootstrapGiven,
	// derivedKeysGiven, addressingGiven and keySizeGiven say that
	// --bootstrap, --derived-keys, --addressing and --key-size were given,
	// not defaulted.
	MessageBootstrap string
	ServerCert       string
	AlgorithmSuite   string
	ProtectionOrder  string
	MessageRenew     string
	// ResendAfterClearFault: --resend-after-clear-fault.
	ResendAfterClearFault bool
	bootstrapGiven        bool
	derivedKeysGiven      bool
	addressingGiven       bool
	keySizeGiven          bool

	Username       string
	PasswordEnv    string // name of the variable holding the password
	PasswordFile   string
	PasswordDigest bool
	// Credential is the keyring entry of the secret; SystemdCredential a
	// credential systemd passed in $CREDENTIALS_DIRECTORY.
	Credential        string
	SystemdCredential string
	// CertFile and KeyFile (PEM) or PKCS12File hold the certificate of
	// the certificate bootstrap and the x509 profile.
	CertFile, KeyFile, PKCS12File string
	// Keytab, SPN and Krb5Conf configure the kerberos bootstrap.
	Keytab, SPN, Krb5Conf string
	// TokenFile is an issued token (XML) whose proof key is the secret;
	// TokenSTS an STS that issues one for the user name and password;
	// TokenAppliesTo the service the token is asked for.
	TokenFile, TokenSTS, TokenAppliesTo string

	// keyringStore replaces the OS keyring in tests.
	keyringStore creds.Source

	CAFile string

	SOAPVersion        string
	Addressing         string
	Entropy            string
	KeySize            int
	SignatureAlgorithm string
	DerivedKeys        bool

	MaxBody          byteSize
	MaxConnections   int
	MaxBodyInFlight  byteSize
	WriteTimeout     time.Duration
	EstablishTimeout time.Duration
	UpstreamTimeout  time.Duration

	RenewInterval    time.Duration
	RenewMode        string
	Rollover         time.Duration
	ExpiryMargin     time.Duration
	ShutdownTimeout  time.Duration
	CancelOnShutdown bool
	// NoCancel is WS-SP's MustNotSendCancel: CancelOnShutdown false.
	NoCancel bool

	EndpointIdleTimeout time.Duration
	EstablishRate       int

	AccessLog string
	LogLevel  string
	LogFormat string

	// ConfigFile is the YAML file of the services (config.go); PIDFile
	// where a run with it writes its process id.
	ConfigFile string
	PIDFile    string
}

// NewCmdRun returns `scproxy run`. runF runs the validated configuration;
// nil means runProxy.
func NewCmdRun(s Streams, runF func(context.Context, *outbound.Config) error) *cobra.Command {
	o := &RunOptions{MaxBody: up.DefaultMaxBody}
	if runF == nil {
		runF = func(ctx context.Context, cfg *outbound.Config) error { return runProxy(ctx, cfg, s.environ()) }
	}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the proxy: plain SOAP in, secured SOAP out",
		Long: `Run the proxy. Legacy applications send plain SOAP to the local listener;
scproxy establishes a WS-SecureConversation security context with each
upstream endpoint and secures every message with it.

Every flag can also be set through the environment variable named after
it: SCPROXY_ followed by the flag name in upper case with - turned into _,
e.g. SCPROXY_SC_VERSION for --sc-version. A flag on the command line beats
the environment, which beats the default. A repeatable flag takes a
comma-separated list from the environment.

The password never appears on the command line: --password-env names the
variable holding it, or --password-file a file only its owner can read.`,
		Example: `  scproxy run --upstream https://svc.example.com/Service.svc \
    --username alice --password-env SVC_PASSWORD
  scproxy run --route /orders=https://a.example.com/Orders.svc \
    --route /stock=https://b.example.com/Stock.svc --security none
  scproxy run --upstream http://svc.example.com/Service.svc --profile message \
    --message-bootstrap username --server-cert service.pem \
    --username alice --password-env SVC_PASSWORD`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Before any secret is read: no core file carries it.
			if err := noCoreDumps(); err != nil {
				return err
			}
			getenv := s.environ()
			if file := configFile(cmd.Flags(), getenv); file != "" {
				return runConfigFile(cmd.Context(), cmd.Flags(), file, s)
			}
			if err := bindEnv(cmd.Flags(), envPrefix, getenv); err != nil {
				return err
			}
			o.listenGiven = cmd.Flags().Changed("listen")
			o.bootstrapGiven = cmd.Flags().Changed("bootstrap")
			o.derivedKeysGiven = cmd.Flags().Changed("derived-keys")
			o.addressingGiven = cmd.Flags().Changed("addressing")
			o.keySizeGiven = cmd.Flags().Changed("key-size")
			cfg, err := o.Config(getenv, s)
			if err != nil {
				return err
			}
			return runF(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Listen, "listen", outbound.DefaultListen, "local address the applications call")
	f.BoolVar(&o.AllowRemote, "allow-remote", false, "allow a --listen address beyond this host (every caller then uses the credential)")
	f.StringVar(&o.ListenUnix, "listen-unix", "", "listen on this Unix socket instead of --listen: only processes that may open the file can call")
	f.StringVar(&o.ListenUnixMode, "listen-unix-mode", "0600", "mode of the --listen-unix socket: 0600 (this user) or 0660 (and its group)")
	f.StringArrayVar(&o.AllowUIDs, "allow-uid", nil, "local user (uid or name) whose processes may call the TCP listener (repeatable; default: the user scproxy runs as; any: every local user)")
	f.StringVar(&o.Upstream, "upstream", "", "upstream endpoint URL for route /")
	f.StringArrayVar(&o.Routes, "route", nil, "a route as /path=URL (repeatable)")
	f.StringArrayVar(&o.Endpoints, "endpoint", nil, "a local path below a route that is an endpoint of its own, with its own context, e.g. /orders/ep2 for .../Orders.svc/ep2 (repeatable; other paths below a route are refused)")
	f.BoolVar(&o.AllowPlainHTTP, "allow-plain-http", false, "allow http:// upstreams for secured traffic and an http:// --token-sts (a test service only: the bootstrap credential and every message cross in clear; --profile message needs it not, its messages being encrypted)")
	f.StringVar(&o.Security, "security", "context", "context (secure every message) or none (plain forwarding)")
	f.StringVar(&o.Profile, "profile", "sc-tls", "how messages are secured: sc-tls (a security context over TLS), message (a security context by message security: signed and encrypted, WCF wsHttpBinding's Message mode) or x509 (each message signed with the certificate, no context)")
	f.StringVar(&o.SCVersion, "sc-version", "2005-02", "WS-SecureConversation version of the upstream: 2005-02 or 1.3")
	f.StringVar(&o.Bootstrap, "bootstrap", "username", "how to authenticate the establishment of a context: username, certificate, issued-token or kerberos")
	f.StringVar(&o.MessageBootstrap, "message-bootstrap", "anonymous", "--profile message: how the context's Issue is protected: anonymous (AnonymousForCertificate), username (UserNameForCertificate, the username flags), mutual (MutualCertificate) or mutual10 (MutualCertificate10; both with the certificate flags)")
	f.StringVar(&o.ServerCert, "server-cert", "", "--profile message: PEM file of the service's certificate (WCF publishes it in the WSDL)")
	f.StringVar(&o.AlgorithmSuite, "algorithm-suite", "Basic256", "--profile message: WS-SecurityPolicy algorithm suite: Basic256, Basic192, Basic128, TripleDes, each optionally with Sha256 and/or Rsa15 (Basic256Sha256, Basic128Rsa15, Basic256Sha256Rsa15...)")
	f.StringVar(&o.MessageRenew, "message-renew", "bootstrap", "--profile message: how a Renew is protected: bootstrap (as WCF's client sends it, under the --message-bootstrap binding with its credential, which WCF's and CXF's services check a Renew against, the context endorsing) or context (by the context alone); scproxy's built-in server accepts both, and a refused Renew is followed by a new Issue either way")
	f.StringVar(&o.ProtectionOrder, "protection-order", "sign-encrypt-signature", "--profile message: sign-encrypt-signature (WCF's default: the signature encrypted too), sign-encrypt or encrypt-sign")
	f.BoolVar(&o.ResendAfterClearFault, "resend-after-clear-fault", false, "--profile message over http://: after a fault in clear saying the context must change (BadContextToken after a service restart or idle timeout), replace the context and resend the request; off, the application gets a fault and the next request a new context, since anyone on the network path can send such a fault in place of the answer to a request the service has run (protected faults, and any over https://, are resent either way)")
	f.StringVar(&o.Username, "username", "", "user name of the bootstrap")
	f.StringVar(&o.PasswordEnv, "password-env", "", "name of the environment variable holding the password")
	f.StringVar(&o.PasswordFile, "password-file", "", "file holding the password, readable by its owner only")
	f.BoolVar(&o.PasswordDigest, "password-digest", false, "send PasswordDigest instead of PasswordText")
	f.StringVar(&o.Credential, "credential", "", "keyring entry holding the user name and secret (default: the upstream's host)")
	f.StringVar(&o.SystemdCredential, "systemd-credential", "", "systemd credential (in $CREDENTIALS_DIRECTORY) holding the secret")
	f.StringVar(&o.CertFile, "cert-file", "", "PEM certificate of the certificate bootstrap or the x509 profile")
	f.StringVar(&o.KeyFile, "key-file", "", "PEM private key of --cert-file, readable by its owner only")
	f.StringVar(&o.PKCS12File, "pkcs12-file", "", "PKCS#12 file with certificate and key; the secret is its passphrase")
	f.StringVar(&o.Keytab, "keytab", "", "Kerberos keytab of the user (instead of a password)")
	f.StringVar(&o.SPN, "spn", "", "Kerberos service principal of the upstream, e.g. HTTP/svc.example.com")
	f.StringVar(&o.Krb5Conf, "krb5-conf", "/etc/krb5.conf", "Kerberos configuration (realm and KDCs)")
	f.StringVar(&o.TokenFile, "token-file", "", "issued token (XML) for the issued-token bootstrap; the secret is its proof key, base64")
	f.StringVar(&o.TokenSTS, "token-sts", "", "STS URL that issues the token for the user name and password")
	f.StringVar(&o.TokenAppliesTo, "token-applies-to", "", "AppliesTo of the token request (default: the upstream URL)")
	f.StringVar(&o.CAFile, "ca-file", "", "PEM file of CA certificates trusted in addition to the system roots")
	f.StringVar(&o.SOAPVersion, "soap-version", "auto", "SOAP version of the upstream: auto (the application's), 1.1 or 1.2")
	f.StringVar(&o.Addressing, "addressing", "auto", "WS-Addressing of the upstream: auto (the application's), none, 2004-08 or 1.0 (default under --profile message: 1.0, and none is refused)")
	f.StringVar(&o.Entropy, "entropy", "combined", "key entropy: combined, client or server")
	f.IntVar(&o.KeySize, "key-size", wssc.DefaultKeySize, "size of the context key in bits (default under --profile message: the algorithm suite's key size, as WCF asks)")
	f.StringVar(&o.SignatureAlgorithm, "signature-algorithm", "hmac-sha1", "message signature: hmac-sha1 or hmac-sha256")
	f.BoolVar(&o.DerivedKeys, "derived-keys", false, "sign (and under --profile message encrypt) each message with keys derived from the context key (DerivedKeyTokens, fresh nonce per message), for services whose policy has RequireDerivedKeys (default: true under --profile message, as WCF, else false)")
	f.Var(&o.MaxBody, "max-body", "largest request or response body, in bytes (suffixes KiB and MiB allowed)")
	f.IntVar(&o.MaxConnections, "max-connections", outbound.DefaultMaxConns, "application connections open at once; one more is answered 503 with Retry-After")
	f.Var(&o.MaxBodyInFlight, "max-body-in-flight", "bytes of request bodies held at once by all requests (default 64MiB, or twice --max-body when larger; more than --max-body); beyond it 503 with Retry-After")
	f.DurationVar(&o.WriteTimeout, "write-timeout", outbound.DefaultWriteTimeout, "time allowed to write one answer to the application")
	f.DurationVar(&o.EstablishTimeout, "establish-timeout", session.DefaultEstablishTimeout, "time allowed to establish a context")
	f.DurationVar(&o.UpstreamTimeout, "upstream-timeout", up.DefaultTimeout, "time allowed for one upstream call")
	f.DurationVar(&o.RenewInterval, "renew-interval", renewal.DefaultInterval, "renew a context after at most this long (also at 60% of its lifetime)")
	f.StringVar(&o.RenewMode, "renew-mode", "renew", "renew (WS-Trust Renew, a new Issue when refused) or reissue (always a new Issue)")
	f.DurationVar(&o.Rollover, "rollover", session.DefaultRollover, "how long a context replaced by a new Issue stays usable before it is cancelled (0: cancelled at once)")
	f.DurationVar(&o.ExpiryMargin, "expiry-margin", session.DefaultExpiryMargin, "renew a context this long before it expires rather than use it: the service's clock skew (at most a quarter of the lifetime; 0: none)")
	f.DurationVar(&o.ShutdownTimeout, "shutdown-timeout", outbound.DefaultShutdownTimeout, "time allowed for requests in flight at shutdown")
	f.DurationVar(&o.EndpointIdleTimeout, "endpoint-idle-timeout", outbound.DefaultEndpointIdleTimeout, "drop an endpoint unused this long, cancelling its context (0: never)")
	f.IntVar(&o.EstablishRate, "establish-rate", outbound.DefaultEstablishRate, "establishments (Issues with the credential) allowed per route and minute (0: no bound)")
	f.BoolVar(&o.CancelOnShutdown, "cancel-on-shutdown", true, "cancel every context at shutdown and each replaced context after --rollover (false for servers with stateful cookie contexts: nothing is cancelled)")
	f.BoolVar(&o.NoCancel, "no-cancel", false, "send no Cancel, at shutdown or after a rollover: WS-SecurityPolicy's MustNotSendCancel, WCF's requireCancellation=false (the same as --cancel-on-shutdown=false)")
	f.StringVar(&o.LogLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&o.AccessLog, "access-log", "info", "level of the line logged per request (method, path, endpoint, status, duration; never a body): debug, info, warn or off")
	f.StringVar(&o.LogFormat, "log-format", "text", "text or json")
	f.StringVar(&o.ConfigFile, configKey, "", "YAML file of the listener and its services (docs/config.md); flags and the environment beat it, and SIGHUP or scproxy reload applies a changed file")
	f.StringVar(&o.PIDFile, pidFileKey, "", "with --config: file to write the process id to, which scproxy reload signals (default $RUNTIME_DIRECTORY/scproxy.pid, else $XDG_RUNTIME_DIR/scproxy.pid)")
	annotateEnv(f, envPrefix)
	return cmd
}

// zeroIsNone maps a duration flag whose 0 means "none" (--rollover,
// --expiry-margin) to the configuration, where zero is the default and
// none is negative (outbound.NoRollover).
func zeroIsNone(d time.Duration) time.Duration {
	if d == 0 {
		return outbound.NoRollover
	}
	return d
}

// noBound maps a count flag whose 0 means "no bound" (--establish-rate)
// to the configuration, where zero is the default and negative none.
func noBound(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// runProxy runs the proxy until ctx ends, as a service when a service
// manager started it (getenv reads what the manager passed; see
// serveAgent), then lets the bootstraps that hold background work (a
// Kerberos login's renewal) stop.
func runProxy(ctx context.Context, cfg *outbound.Config, getenv func(string) string) error {
	defer closeBootstraps(cfg)
	p, err := outbound.New(*cfg)
	if err != nil {
		return err
	}
	return serveAgent(ctx, p, cfg.Logger, getenv, p.Serve)
}

// closeBootstraps closes every bootstrap of cfg that can be closed.
func closeBootstraps(cfg *outbound.Config) {
	bs := []any{cfg.Bootstrap}
	for _, r := range cfg.Routes {
		bs = append(bs, r.Bootstrap)
	}
	for _, b := range bs {
		if c, ok := b.(interface{ Close() error }); ok {
			_ = c.Close()
		}
	}
}

// Config parses the options into the proxy configuration, which
// outbound.Config.Validate checks. getenv reads the variable named by
// --password-env; the logger writes to s.Err. Every error is a
// *UsageError naming the flag at fault, and none contains the password.
func (o *RunOptions) Config(getenv func(string) string, s Streams) (*outbound.Config, error) {
	cfg := &outbound.Config{
		Listen:           o.Listen,
		AllowRemote:      o.AllowRemote,
		AllowPlainHTTP:   o.AllowPlainHTTP,
		KeySize:          o.KeySize,
		MaxBody:          int64(o.MaxBody),
		MaxConns:         o.MaxConnections,
		MaxBodyInFlight:  int64(o.MaxBodyInFlight),
		WriteTimeout:     o.WriteTimeout,
		EstablishTimeout: o.EstablishTimeout,
		UpstreamTimeout:  o.UpstreamTimeout,
		Renewal:          renewal.Policy{Interval: o.RenewInterval},
		Rollover:         zeroIsNone(o.Rollover),
		ExpiryMargin:     zeroIsNone(o.ExpiryMargin),
		ShutdownTimeout:  o.ShutdownTimeout,
		KeepContexts:     !o.CancelOnShutdown || o.NoCancel,
		DerivedKeys:      o.DerivedKeys,

		EndpointIdleTimeout: zeroIsNone(o.EndpointIdleTimeout),
		EstablishRate:       noBound(o.EstablishRate),
	}
	steps := []func() error{
		func() (err error) { cfg.RenewMode, err = pick("--renew-mode", o.RenewMode, renewModes); return err },
		func() (err error) { cfg.Routes, err = o.routes(); return err },
		func() error { return o.callers(cfg) },
		func() (err error) { cfg.Security, err = pick("--security", o.Security, securities); return err },
		func() (err error) { cfg.Profile, err = pick("--profile", o.Profile, profiles); return err },
		func() (err error) { cfg.SC, err = pick("--sc-version", o.SCVersion, scVersions); return err },
		func() (err error) { cfg.SOAP, err = pick("--soap-version", o.SOAPVersion, soapVersions); return err },
		func() (err error) { cfg.Addressing, err = pick("--addressing", o.Addressing, addressings); return err },
		func() (err error) { cfg.Entropy, err = pick("--entropy", o.Entropy, entropies); return err },
		func() (err error) {
			cfg.SignatureMethod, err = pick("--signature-algorithm", o.SignatureAlgorithm, signatureMethods)
			return err
		},
		o.checkFlagBounds,
		func() error { return o.messageSettings(cfg) },
		// Every setting is checked before any secret is read.
		cfg.ValidateSettings,
		func() (err error) { cfg.RootCAs, err = rootCAs(o.CAFile); return err },
		func() (err error) { cfg.Logger, err = o.logger(s.Err); return err },
		func() (err error) {
			cfg.AccessLog, err = pick("--access-log", o.AccessLog, accessLogLevels)
			return err
		},
		func() error {
			switch {
			case cfg.Security != outbound.SecurityContext:
				return nil
			case cfg.Profile == outbound.ProfileX509:
				return o.x509Certificate(cfg, getenv)
			case cfg.Profile == outbound.ProfileMessage:
				return o.messageBootstraps(cfg, getenv)
			}
			return o.bootstraps(cfg, getenv)
		},
		cfg.Validate,
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, o.usage(cfg, err)
		}
	}
	return cfg, nil
}

// configFlags names the flag of each setting of the configurations the
// command line builds (outbound.Config, bootstrap.KerberosConfig,
// bootstrap.TokenSTS): the one table between the configurations' names,
// which their *setting.Error use, and the command line's. A route's
// settings are named by the flag that gave the route (routeFlag).
var configFlags = map[string]string{
	"Listen":           "--listen",
	"ListenUnix":       "--listen-unix",
	"ListenUnixMode":   "--listen-unix-mode",
	"AllowUIDs":        "--allow-uid",
	"AnyLocalUser":     "--allow-uid",
	"AllowRemote":      "--allow-remote",
	"AllowPlainHTTP":   "--allow-plain-http",
	"Routes":           "--upstream or --route",
	"Security":         "--security",
	"Profile":          "--profile",
	"Certificate":      "--cert-file",
	"SC":               "--sc-version",
	"Bootstrap":        "--bootstrap",
	"Entropy":          "--entropy",
	"KeySize":          "--key-size",
	"SignatureMethod":  "--signature-algorithm",
	"DerivedKeys":      "--derived-keys",
	"SOAP":             "--soap-version",
	"Addressing":       "--addressing",
	"RootCAs":          "--ca-file",
	"MaxBody":          "--max-body",
	"MaxConns":         "--max-connections",
	"MaxBodyInFlight":  "--max-body-in-flight",
	"WriteTimeout":     "--write-timeout",
	"EstablishTimeout": "--establish-timeout",
	"UpstreamTimeout":  "--upstream-timeout",
	"Renewal.Interval": "--renew-interval",
	"RenewMode":        "--renew-mode",
	"Rollover":         "--rollover",
	"ExpiryMargin":     "--expiry-margin",
	"ShutdownTimeout":  "--shutdown-timeout",
	"KeepContexts":     "--cancel-on-shutdown",

	"Message.Suite": "--algorithm-suite",
	"Message.Order": "--protection-order",

	"EndpointIdleTimeout": "--endpoint-idle-timeout",
	"EstablishRate":       "--establish-rate",

	"KerberosConfig.Principal":  "--username",
	"KerberosConfig.KeytabFile": "--keytab",
	"KerberosConfig.SPN":        "--spn",
	"KerberosConfig.Realm":      "--krb5-conf",
	"KerberosConfig.KDCs":       "--krb5-conf",
	"KerberosConfig.Krb5Conf":   "--krb5-conf",

	"TokenSTS.URL":      "--token-sts",
	"TokenSTS.Version":  "--sc-version",
	"TokenSTS.Username": "--username",
	// The STS receives the password: plain http needs the same flag as
	// a plain-http upstream of secured traffic.
	"TokenSTS.AllowPlainHTTP": "--allow-plain-http",
}

// flagName returns the flag that sets the configuration's field, or the
// field itself when no flag does.
func (o *RunOptions) flagName(cfg *outbound.Config, field string) string {
	if f, ok := configFlags[field]; ok {
		return f
	}
	var i int
	var rest string
	if n, _ := fmt.Sscanf(field, "Routes[%d].%s", &i, &rest); n == 2 && i >= 0 && i < len(cfg.Routes) {
		if rest == "Prefix" {
			return "--route"
		}
		if strings.HasPrefix(rest, "Endpoints") {
			return "--endpoint"
		}
		return o.routeFlag(cfg.Routes[i])
	}
	return field
}

// routeFlag is the flag that gave r: --upstream for its route /, else
// --route with r's path.
func (o *RunOptions) routeFlag(r outbound.Route) string {
	if r.Prefix == "/" && o.Upstream != "" {
		return "--upstream"
	}
	return "--route " + r.Prefix
}

// usage makes err a *UsageError, a configuration's *setting.Error said with
// the names of the flags.
func (o *RunOptions) usage(cfg *outbound.Config, err error) error {
	var fe *setting.Error
	if errors.As(err, &fe) {
		return &UsageError{Err: errors.New(fe.Describe(func(field string) string { return o.flagName(cfg, field) }))}
	}
	return asUsage(err)
}

// asUsage marks err as an error in the command line.
func asUsage(err error) error {
	var ue *UsageError
	if errors.As(err, &ue) {
		return err
	}
	return &UsageError{Err: err}
}

// choice is one accepted value of a flag.
type choice[T any] struct {
	name  string
	value T
}

// pick returns the value of the choice named v, or an error naming the
// flag and listing the choices.
func pick[T any](flag, v string, choices []choice[T]) (T, error) {
	names := make([]string, len(choices))
	for i, c := range choices {
		if c.name == v {
			return c.value, nil
		}
		names[i] = c.name
	}
	var zero T
	return zero, usageErrorf("%s %q: want %s", flag, v, orList(names))
}

// orList joins names as "a, b or c".
func orList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

var (
	renewModes = []choice[session.RenewMode]{
		{"renew", session.RenewInPlace},
		{"reissue", session.Reissue},
	}
	securities = []choice[outbound.Security]{
		{"context", outbound.SecurityContext},
		{"none", outbound.SecurityNone},
	}
	profiles = []choice[outbound.Profile]{
		{"sc-tls", outbound.ProfileSCOverTLS},
		{"x509", outbound.ProfileX509},
		{"message", outbound.ProfileMessage},
	}
	scVersions = []choice[wssc.Version]{
		{"2005-02", wssc.Feb2005},
		{"1.3", wssc.V1_3},
	}
	soapVersions = []choice[soap.Version]{
		{"auto", 0},
		{"1.1", soap.V11},
		{"1.2", soap.V12},
	}
	addressings = []choice[outbound.Addressing]{
		{"auto", outbound.Addressing{Auto: true}},
		{"none", outbound.Addressing{Version: wsa.None}},
		{"2004-08", outbound.Addressing{Version: wsa.V200408}},
		{"1.0", outbound.Addressing{Version: wsa.V10}},
	}
	entropies = []choice[wssc.EntropyMode]{
		{"combined", wssc.CombinedEntropy},
		{"client", wssc.ClientEntropy},
		{"server", wssc.ServerEntropy},
	}
	signatureMethods = []choice[string]{
		{"hmac-sha1", dsig.HMACSHA1},
		{"hmac-sha256", dsig.HMACSHA256},
	}
	logLevels = []choice[slog.Level]{
		{"debug", slog.LevelDebug},
		{"info", slog.LevelInfo},
		{"warn", slog.LevelWarn},
		{"error", slog.LevelError},
	}
	logFormats = []choice[func(io.Writer, *slog.HandlerOptions) slog.Handler]{
		{"text", func(w io.Writer, o *slog.HandlerOptions) slog.Handler { return slog.NewTextHandler(w, o) }},
		{"json", func(w io.Writer, o *slog.HandlerOptions) slog.Handler { return slog.NewJSONHandler(w, o) }},
	}
)

// checkLoopback refuses a --listen address that is not host:port, and
// one beyond this host without --allow-remote (outbound.CheckListen);
// risk says what serving other hosts would expose.
func checkLoopback(addr string, allowRemote bool, risk string) error {
	err := outbound.CheckListen(addr, allowRemote)
	var fe *setting.Error
	if !errors.As(err, &fe) {
		return err
	}
	name := func(field string) string { return configFlags[field] }
	if fe.Allow != "" {
		return usageErrorf("%s; %s", fe.Describe(name), risk)
	}
	return usageErrorf("%s", fe.Describe(name))
}

// routes returns --upstream as route / followed by every --route;
// outbound.Config.Validate checks them.
func (o *RunOptions) routes() ([]outbound.Route, error) {
	var out []outbound.Route
	if o.Upstream != "" {
		u, err := upstreamURL("--upstream", o.Upstream)
		if err != nil {
			return nil, err
		}
		out = append(out, outbound.Route{Prefix: "/", Upstream: u})
	}
	for _, r := range o.Routes {
		prefix, raw, ok := strings.Cut(r, "=")
		switch {
		// Until the path is known to be one, the text may be a URL with
		// credentials in it, and is not repeated.
		case !ok || raw == "":
			return nil, usageErrorf("--route: want /path=URL")
		case prefix == "/" && o.Upstream != "":
			return nil, usageErrorf("--route / and --upstream both give route /: keep one")
		}
		flag := "--route"
		if strings.HasPrefix(prefix, "/") {
			flag += " " + prefix
		}
		u, err := upstreamURL(flag, raw)
		if err != nil {
			return nil, err
		}
		out = append(out, outbound.Route{Prefix: prefix, Upstream: u})
	}
	return out, addEndpoints(out, o.Endpoints)
}

// addEndpoints gives each --endpoint to the route it lies below, the one
// with the longest prefix, as a path below that route's upstream.
func addEndpoints(routes []outbound.Route, endpoints []string) error {
	for _, e := range endpoints {
		best := -1
		for i, r := range routes {
			base := strings.TrimSuffix(r.Prefix, "/")
			if strings.HasPrefix(e, base+"/") && (best < 0 || len(r.Prefix) > len(routes[best].Prefix)) {
				best = i
			}
		}
		if best < 0 {
			return usageErrorf("--endpoint %s: below no route; give a path below a --route or --upstream path", e)
		}
		r := &routes[best]
		r.Endpoints = append(r.Endpoints, strings.TrimPrefix(e, strings.TrimSuffix(r.Prefix, "/")))
	}
	return nil
}

// upstreamURL parses a URL. Its messages show no part of it, since a
// mistaken user:password in it is a secret.
func upstreamURL(flag, raw string) (*url.URL, error) {
	noScheme := ""
	if !strings.Contains(raw, "://") {
		noScheme = ": add https:// in front of it"
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the raw URL
		}
		return nil, usageErrorf("%s: not a URL: %v%s", flag, err, noScheme)
	}
	if noScheme != "" {
		return nil, usageErrorf("%s: want an absolute URL, this one has no scheme%s", flag, noScheme)
	}
	return u, nil
}

// checkFlagBounds refuses what the command line does not take although
// the configuration does: zero, which the configuration reads as "the
// default" while a flag always carries a value (its default is shown in
// the help), a negative --rollover (0 is none), and a renewal interval
// under a minute, which only tests want.
func (o *RunOptions) checkFlagBounds() error {
	switch {
	case o.KeySize == 0:
		return usageErrorf("--key-size 0: give the size in bits, e.g. %d", wssc.DefaultKeySize)
	case o.MaxBody == 0:
		return usageErrorf("--max-body 0: give the largest body, e.g. 4MiB")
	case o.MaxConnections <= 0:
		return usageErrorf("--max-connections %d: want a positive number, e.g. %d", o.MaxConnections, outbound.DefaultMaxConns)
	case o.WriteTimeout <= 0:
		return usageErrorf("--write-timeout %v: want a positive duration, e.g. 30s", o.WriteTimeout)
	case o.EstablishTimeout <= 0:
		return usageErrorf("--establish-timeout %v: want a positive duration, e.g. 30s", o.EstablishTimeout)
	case o.UpstreamTimeout <= 0:
		return usageErrorf("--upstream-timeout %v: want a positive duration, e.g. 2m", o.UpstreamTimeout)
	case o.RenewInterval < time.Minute:
		return usageErrorf("--renew-interval %v: want at least 1m, e.g. 10h", o.RenewInterval)
	case o.Rollover < 0:
		return usageErrorf("--rollover %v: want zero or a positive duration, e.g. 5m", o.Rollover)
	case o.ExpiryMargin < 0:
		return usageErrorf("--expiry-margin %v: want zero or a positive duration, e.g. 5m", o.ExpiryMargin)
	case o.ShutdownTimeout <= 0:
		return usageErrorf("--shutdown-timeout %v: want a positive duration, e.g. 30s", o.ShutdownTimeout)
	case o.EndpointIdleTimeout < 0:
		return usageErrorf("--endpoint-idle-timeout %v: want zero or a positive duration, e.g. 24h", o.EndpointIdleTimeout)
	case o.EstablishRate < 0:
		return usageErrorf("--establish-rate %d: want zero or a positive count, e.g. %d", o.EstablishRate, outbound.DefaultEstablishRate)
	}
	return nil
}

// rootCAs returns the system roots plus the certificates of file, or nil
// (the system roots) when file is empty.
func rootCAs(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	pemBytes, err := os.ReadFile(file)
	if err != nil {
		return nil, usageErrorf("--ca-file: %v", err) // names the file
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, usageErrorf("--ca-file %s: no PEM certificate in it", file)
	}
	return pool, nil
}

// logger returns the logger of --log-level and --log-format writing to w.
func (o *RunOptions) logger(w io.Writer) (*slog.Logger, error) {
	level, err := pick("--log-level", o.LogLevel, logLevels)
	if err != nil {
		return nil, err
	}
	handler, err := pick("--log-format", o.LogFormat, logFormats)
	if err != nil {
		return nil, err
	}
	if w == nil {
		w = io.Discard
	}
	return slog.New(handler(w, &slog.HandlerOptions{Level: level})), nil
}

// byteSize is a flag of bytes, written as an integer with an optional
// binary suffix.
type byteSize int64

var byteSuffixes = []struct {
	suffix string
	factor int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}}

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *byteSize) Type() string { return "bytes" }

func (b *byteSize) Set(s string) error {
	num, factor := s, int64(1)
	for _, x := range byteSuffixes {
		if n, ok := strings.CutSuffix(s, x.suffix); ok {
			num, factor = strings.TrimSpace(n), x.factor
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/factor {
		return errors.New("want a number of bytes, optionally with KiB or MiB, e.g. 4MiB")
	}
	*b = byteSize(n * factor)
	return nil
}
