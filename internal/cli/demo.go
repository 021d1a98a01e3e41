package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// DemoOptions are the flags of `scproxy demo`.
type DemoOptions struct {
	Calls     int
	SCVersion string
	Bootstrap string
	// Profile is sc-tls or message; MessageBootstrap is the bootstrap of
	// the message profile, which replaces Bootstrap there.
	Profile          string
	MessageBootstrap string
}

// NewCmdDemo returns `scproxy demo`. runF runs the parsed options; nil
// means RunDemo.
func NewCmdDemo(s Streams, runF func(context.Context, *DemoOptions) error) *cobra.Command {
	o := &DemoOptions{}
	if runF == nil {
		runF = func(ctx context.Context, o *DemoOptions) error { return RunDemo(ctx, o, s) }
	}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Show scproxy at work against the built-in service, with nothing to set up",
		Long: `Start the built-in WS-SecureConversation service and scproxy in front of it,
both on loopback, then call the service as a legacy application would: plain
SOAP 1.1, no WS-Addressing, no WS-Security. The trace shows the security
context being established and every call secured, verified and answered.
With --profile message the service speaks plain HTTP and every message,
the context's Issue included, is signed and encrypted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Calls < 1 || o.Calls > 1000 {
				return usageErrorf("--calls %d: want 1 to 1000", o.Calls)
			}
			if _, err := demoSCVersion(o.SCVersion); err != nil {
				return err
			}
			if err := o.check(cmd.Flags().Changed("bootstrap"), cmd.Flags().Changed("message-bootstrap")); err != nil {
				return err
			}
			if err := noCoreDumps(); err != nil {
				return err
			}
			return runF(cmd.Context(), o)
		},
	}
	cmd.Flags().IntVar(&o.Calls, "calls", 3, "number of application calls to make")
	cmd.Flags().StringVar(&o.SCVersion, "sc-version", "2005-02", "WS-SecureConversation version: 2005-02 or 1.3")
	cmd.Flags().StringVar(&o.Bootstrap, "bootstrap", "username", "how the proxy establishes the context: "+orList(demoBootstrapNames()))
	cmd.Flags().StringVar(&o.Profile, "profile", "sc-tls", "how messages are secured: sc-tls (a security context over TLS) or message (every message signed and encrypted, over plain HTTP)")
	cmd.Flags().StringVar(&o.MessageBootstrap, "message-bootstrap", "username", "with --profile message, how the context's Issue is protected: "+orList(demoMessageBootstrapNames()))
	return cmd
}

// check validates the profile and its bootstrap; bootstrapGiven and
// messageGiven say which bootstrap flags the command line set.
func (o *DemoOptions) check(bootstrapGiven, messageGiven bool) error {
	switch o.Profile {
	case "sc-tls":
		if messageGiven {
			return usageErrorf("--message-bootstrap: used by --profile message only")
		}
		if _, ok := demoBootstraps[o.Bootstrap]; !ok {
			return usageErrorf("--bootstrap %q: want %s", o.Bootstrap, orList(demoBootstrapNames()))
		}
	case "message":
		if bootstrapGiven {
			return usageErrorf("--bootstrap: --profile message establishes its context under --message-bootstrap instead")
		}
		if _, ok := demoMessageBootstraps[o.MessageBootstrap]; !ok {
			return usageErrorf("--message-bootstrap %q: want %s", o.MessageBootstrap, orList(demoMessageBootstrapNames()))
		}
	default:
		return usageErrorf("--profile %q: want sc-tls or message", o.Profile)
	}
	return nil
}

func demoSCVersion(s string) (wssc.Version, error) {
	switch s {
	case "2005-02":
		return wssc.Feb2005, nil
	case "1.3":
		return wssc.V1_3, nil
	}
	return wssc.Version{}, usageErrorf("--sc-version %q: want 2005-02 or 1.3", s)
}

const (
	demoAction = "http://tempuri.org/IEchoService/EchoString"
	demoPath   = "/Echo.svc"
)

// RunDemo runs the demonstration and writes its trace to s.Out.
func RunDemo(ctx context.Context, o *DemoOptions, s Streams) error {
	v, err := demoSCVersion(o.SCVersion)
	if err != nil {
		return err
	}
	tr := &tracer{w: s.Out}
	// The service asks for a renewal once a key has protected two
	// messages, as a WCF service does when a key's time is up.
	scfg := scserver.Config{
		Versions: []wssc.Version{v},
		Logger:   slog.New(tr.handler("service")),
		Script:   scserver.Script{RenewAfterMessages: 2},
	}
	message := o.Profile == "message"
	setup := demoBootstraps[o.Bootstrap]
	if message {
		setup = demoMessageBootstraps[o.MessageBootstrap]
		scfg.PlainHTTP = true
	}
	cred, err := setup(&scfg)
	if err != nil {
		return err
	}
	srv, err := scserver.New(scfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := srv.Start(ctx); err != nil {
		return err
	}
	svcURL, err := url.Parse(strings.TrimSuffix(srv.URL(), "/") + demoPath)
	if err != nil {
		return err
	}
	if cred.connect != nil {
		if cred.bootstrap, err = cred.connect(srv, svcURL, v); err != nil {
			return err
		}
	}
	pcfg := outbound.Config{
		Listen:     "127.0.0.1:0",
		Routes:     []outbound.Route{{Prefix: "/", Upstream: svcURL}},
		SC:         v,
		Bootstrap:  cred.bootstrap,
		SOAP:       soap.V12,
		Addressing: outbound.Addressing{Version: wsa.V10},
		RootCAs:    srv.CertPool(),
		Logger:     slog.New(tr.handler("proxy")),
	}
	if message {
		pcfg.Profile, pcfg.DerivedKeys = outbound.ProfileMessage, scfg.Message.DerivedKeys
	}
	p, err := outbound.New(pcfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	pctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- p.Serve(pctx, ln) }()
	stopped := false
	shutdown := func() error {
		if stopped {
			return nil
		}
		stopped = true
		stop()
		return <-served
	}
	defer shutdown()

	proxyURL := "http://" + ln.Addr().String() + "/"
	tr.printf("scproxy demo: a legacy SOAP 1.1 client calls a WS-SecureConversation service through scproxy\n\n")
	protection := ""
	if m := srv.MessageSettings(); m != nil {
		protection = fmt.Sprintf(", message security: %s, %s, derived keys, over plain HTTP", m.Suite.Name, m.Order)
	}
	tr.printf("  service  %s  (built-in: SOAP 1.2, WS-Addressing 1.0, WS-SecureConversation %s%s)\n", svcURL, v, protection)
	tr.printf("  client   %s\n", cred.about)
	tr.printf("  proxy    %s -> %s\n", proxyURL, svcURL)
	tr.printf("  app      posts plain SOAP 1.1 to the proxy: no WS-Addressing, no WS-Security\n\n")

	client := &http.Client{Timeout: 30 * time.Second}
	for i := 1; i <= o.Calls; i++ {
		text := fmt.Sprintf("hello from a legacy client #%d", i)
		tr.printf("call %d: app -> proxy  SOAP 1.1 EchoString %q\n", i, text)
		tr.live(true)
		got, took, err := demoCall(ctx, client, proxyURL, text)
		tr.live(false)
		if err != nil {
			return fmt.Errorf("call %d: %w", i, err)
		}
		tr.printf("  app      <- %s %q in %s\n\n", "SOAP 1.1 EchoStringResponse", got, took.Round(time.Microsecond))
		if got != text {
			return fmt.Errorf("call %d: the service echoed %q, want %q", i, got, text)
		}
	}
	tr.printf("shutdown: the proxy cancels its context\n")
	tr.live(true)
	err = shutdown()
	tr.live(false)
	if err != nil {
		return err
	}
	st := srv.Stats()
	renewals := (o.Calls - 1) / 2 // the key's third message meets RenewNeeded
	verified := "verified %d signed message(s)"
	if message {
		verified = "verified and decrypted %d signed, encrypted message(s)"
	}
	tr.printf("\nsummary: %d calls answered, none failed; the service issued %d context, renewed it %d time(s) when it asked to, "+
		verified+", answered %d RenewNeeded fault(s) the application never saw, and cancelled %d context at shutdown\n",
		o.Calls, st.Issued, st.Renewed, st.Verified, st.Faults["RenewNeeded"], st.Cancelled)
	if st.Issued != 1 || st.Verified != o.Calls || st.Renewed != renewals || st.Faults["RenewNeeded"] != renewals || st.Cancelled != 1 {
		return fmt.Errorf("the service's counters (%+v) do not match the calls made", st)
	}
	return nil
}

func demoPassword() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// demoCall posts one SOAP 1.1 request as a basicHttpBinding client does and
// returns the echoed text.
func demoCall(ctx context.Context, c *http.Client, url, text string) (string, time.Duration, error) {
	var body bytes.Buffer
	body.WriteString(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><EchoString xmlns="http://tempuri.org/"><echo>`)
	if err := xml.EscapeText(&body, []byte(text)); err != nil {
		return "", 0, err
	}
	body.WriteString(`</echo></EchoString></s:Body></s:Envelope>`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, &body)
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", `"`+demoAction+`"`)
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	took := time.Since(start)
	if err != nil {
		return "", took, err
	}
	env, err := soap.Parse(raw, xmldoc.Limits{})
	if err != nil {
		return "", took, fmt.Errorf("HTTP %d, unreadable answer: %w", resp.StatusCode, err)
	}
	if f, _ := env.Fault(); f != nil {
		return "", took, fmt.Errorf("HTTP %d: %w", resp.StatusCode, f)
	}
	if env.Version != soap.V11 {
		return "", took, fmt.Errorf("answer in %s, want SOAP 1.1", env.Version)
	}
	payload, err := env.Payload()
	if err != nil {
		return "", took, err
	}
	echo, err := xmldoc.One(payload, xmldoc.Name{Space: "http://tempuri.org/", Local: "echo"})
	if err != nil {
		return "", took, err
	}
	return echo.Text(), took, nil
}

// tracer prints the demo's trace, including what the service and the proxy
// log while a call is under way.
type tracer struct {
	mu     sync.Mutex
	w      io.Writer
	active bool
}

func (t *tracer) printf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.w, format, args...)
}

func (t *tracer) live(on bool) {
	t.mu.Lock()
	t.active = on
	t.mu.Unlock()
}

func (t *tracer) handler(who string) slog.Handler { return &traceHandler{t: t, who: who} }

// traceHandler turns log records into trace lines.
type traceHandler struct {
	t     *tracer
	who   string
	attrs []slog.Attr
}

// Enabled leaves out debug lines: the trace tells the story, not the
// byte counts.
func (h *traceHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *traceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &traceHandler{t: h.t, who: h.who, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h *traceHandler) WithGroup(string) slog.Handler { return h }

func (h *traceHandler) Handle(_ context.Context, r slog.Record) error {
	a := map[string]string{}
	r.Attrs(func(at slog.Attr) bool {
		if at.Value.Kind() == slog.KindTime {
			t := at.Value.Time()
			a[at.Key] = fmt.Sprintf("%s (in %s)", t.UTC().Format(time.RFC3339), time.Until(t).Round(time.Minute))
		} else {
			a[at.Key] = at.Value.String()
		}
		return true
	})
	line := traceLine(h.who, r.Message, a)
	if line == "" {
		return nil
	}
	h.t.mu.Lock()
	defer h.t.mu.Unlock()
	if h.t.active || r.Level >= slog.LevelWarn {
		fmt.Fprintf(h.t.w, "  %-8s %s\n", h.who, line)
	}
	return nil
}

// traceLine renders the log records the demo shows; others are skipped.
func traceLine(who, msg string, a map[string]string) string {
	switch {
	case who == "service" && msg == "request":
		name := shortAction(a["action"])
		if a["op"] != "echo" {
			name = "WS-Trust " + a["op"] + " request"
		}
		s := fmt.Sprintf("received %s (%s, %s)", name, a["soap"], a["addressing"])
		if a["bootstrap"] != "" {
			s += ", signed and encrypted under the " + a["bootstrap"] + " bootstrap"
		}
		if a["principal"] != "" {
			s += ", authenticated " + a["principal"]
		}
		switch {
		case a["fault"] != "":
		case a["op"] == "echo" && a["security"] == "message":
			s += ", signature verified with context " + a["context"] + ", body decrypted, echoed signed and encrypted"
		case a["op"] == "echo":
			s += ", signature verified with context " + a["context"] + ", echoed"
		case a["context"] != "":
			s += ", context " + a["context"]
		}
		if a["fault"] != "" {
			return fmt.Sprintf("%s -> fault %s (%s)", s, a["fault"], a["reason"])
		}
		return fmt.Sprintf("%s -> HTTP %s", s, a["status"])
	case who == "proxy" && msg == "security context established":
		return fmt.Sprintf("security context established: %s, expires %s (bootstrap %s, took %s)", a["identifier"], a["expires"], a["bootstrap"], a["took"])
	case who == "proxy" && msg == "security context renewed":
		return fmt.Sprintf("security context renewed: %s has a new key, expires %s (took %s)", a["identifier"], a["expires"], a["took"])
	case who == "proxy" && msg == "request resent with the context renewed", who == "proxy" && msg == "request resent with the context re-established":
		return "the request is signed again with the new key and resent; the application sees no fault"
	case who == "proxy" && msg == "security context cancelled":
		return "security context cancelled: " + a["identifier"]
	case who == "proxy" && msg == "callers limited to local users":
		return "callers limited to local users (uids " + strings.Trim(a["uids"], "[]") + "): another user's process is refused"
	case who == "proxy" && (msg == "scproxy listening" || strings.HasPrefix(msg, "shutting down")):
		return ""
	}
	return msg + " " + fmt.Sprint(a)
}

func shortAction(a string) string {
	if i := strings.LastIndex(a, "/"); i >= 0 && i < len(a)-1 {
		return a[i+1:]
	}
	return a
}
