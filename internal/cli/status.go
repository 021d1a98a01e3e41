package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/scproxy/scproxy/outbound"
)

// StatusOptions are the flags of `scproxy status`.
type StatusOptions struct {
	Listen string
	JSON   bool
	// ListenUnix is the Unix socket of a proxy run with --listen-unix.
	ListenUnix string
}

// NewCmdStatus returns `scproxy status`. runF runs the parsed options; nil
// means RunStatus.
func NewCmdStatus(s Streams, runF func(context.Context, *StatusOptions) error) *cobra.Command {
	o := &StatusOptions{}
	if runF == nil {
		runF = func(ctx context.Context, o *StatusOptions) error { return RunStatus(ctx, o, s) }
	}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the security context of every endpoint of a running proxy",
		Long: `Ask a running proxy (scproxy run) for the state of each upstream endpoint:
its security context, when it expires and is next renewed, counts of
requests, establishments, renewals, resends and cancels, and the last error.

The same listener answers monitoring, to callers on this host:
/_scproxy/healthz (200 while the process serves), /_scproxy/readyz (200
when the listener is up and every route has a usable context or has not
failed to establish one; 503 with the failing route, its error and next
retry otherwise) and /_scproxy/metrics (Prometheus).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := bindEnv(cmd.Flags(), envPrefix, s.environ()); err != nil {
				return err
			}
			return runF(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Listen, "listen", outbound.DefaultListen, "listen address of the running proxy")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the status as JSON")
	cmd.Flags().StringVar(&o.ListenUnix, "listen-unix", "", "Unix socket of the running proxy (instead of --listen)")
	annotateEnv(cmd.Flags(), envPrefix)
	return cmd
}

// RunStatus fetches and prints the status.
func RunStatus(ctx context.Context, o *StatusOptions, s Streams) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	tr, host := statusTransport(o)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+outbound.StatusPath, nil)
	if err != nil {
		return usageErrorf("--listen %q: %v", o.Listen, err)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return fmt.Errorf("no proxy answers on %s (is scproxy run running there? --listen or --listen-unix): %w", statusWhere(o), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered HTTP %d", statusWhere(o), resp.StatusCode)
	}
	var st outbound.Status
	if err := json.Unmarshal(body, &st); err != nil {
		return fmt.Errorf("%s is not a scproxy status: %w", statusWhere(o), err)
	}
	if o.JSON {
		_, err := s.Out.Write(body)
		return err
	}
	return printStatus(s.Out, st, time.Now())
}

// statusTransport returns the transport to the proxy and the Host to
// ask for: through --listen-unix when given, else to --listen.
func statusTransport(o *StatusOptions) (*http.Transport, string) {
	tr := &http.Transport{Proxy: nil}
	if o.ListenUnix == "" {
		return tr, o.Listen
	}
	var d net.Dialer
	tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
		return d.DialContext(ctx, "unix", o.ListenUnix)
	}
	return tr, "localhost"
}

// statusWhere names the proxy's address.
func statusWhere(o *StatusOptions) string {
	if o.ListenUnix != "" {
		return o.ListenUnix
	}
	return o.Listen
}

func printStatus(w io.Writer, st outbound.Status, now time.Time) error {
	if len(st.Endpoints) == 0 {
		_, err := fmt.Fprintf(w, "no endpoint has been used yet (security %s)\n", st.Security)
		return err
	}
	if m := st.Message; m != nil {
		fmt.Fprintf(w, "profile message: %s, %s, derived keys %v, %s\n", m.Suite, m.Order, m.DerivedKeys, m.SignatureMethod)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	// ESTABLISHED is when the current context was; ISSUED counts the
	// contexts established (first ones and re-establishments).
	fmt.Fprintln(tw, "ENDPOINT\tSTATE\tCONTEXT\tESTABLISHED\tEXPIRES\tNEXT RENEWAL\tREQUESTS\tISSUED\tRENEWED\tRESENT\tCANCELLED\tLAST ERROR")
	for _, e := range st.Endpoints {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", e.Endpoint, e.State, dash(e.Identifier), relative(e.Established, now),
			relative(e.Expires, now), relative(e.NextRenewal, now), e.Requests, e.Establishes, e.Renewals, e.Resends, e.Cancels, dash(e.LastError))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// relative shows a time as "in 5h0m0s" or "3m0s ago".
func relative(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := t.Sub(now).Round(time.Second)
	if d < 0 {
		return (-d).String() + " ago"
	}
	return "in " + d.String()
}
