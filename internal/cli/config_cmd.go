package cli

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// NewCmdConfig returns `scproxy config show|check`.
func NewCmdConfig(s Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show or check the configuration file (docs/config.md)",
	}
	cmd.AddCommand(newCmdConfigShow(s), newCmdConfigCheck(s))
	return cmd
}

// withRunFlags gives cmd every flag of run, so that it sees the
// configuration as run with the same command line would.
func withRunFlags(cmd *cobra.Command) *pflag.FlagSet {
	flags := runFlags()
	cmd.Flags().AddFlagSet(flags)
	return cmd.Flags()
}

func newCmdConfigShow(s Streams) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Print the effective configuration, each value with its source (flag, env, FILE:LINE, default)",
		Long: `Print the configuration run would use: the file of --config or $SCPROXY_CONFIG
with the flags and environment variables of run applied, each value followed by
where it came from. Credentials are shown as the references the file gives
(a variable's name, a file, a keyring entry), never as the secret. The
credentials are then read and every service checked as run would; a failure
is reported after the listing.`,
		Example: `  scproxy config show --config /etc/scproxy/config.yaml
  SCPROXY_LOG_LEVEL=debug scproxy config show --config config.yaml --all`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			file := configFile(cmd.Flags(), s.environ())
			if file == "" {
				return usageErrorf("no configuration file: give --config FILE or set $%s", envName(envPrefix, configKey))
			}
			l := newConfigLoader(cmd.Flags(), file, s)
			rc, err := l.resolve()
			if err != nil {
				return err
			}
			if err := printConfig(s.Out, rc, all); err != nil {
				return err
			}
			built, err := rc.build(cmd.Context(), s)
			closeBuilt(built)
			return err
		},
	}
	withRunFlags(cmd)
	cmd.Flags().BoolVar(&all, "all", false, "also print the keys left at their defaults")
	return cmd
}

func newCmdConfigCheck(s Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "check FILE",
		Short: "Check a configuration file: keys, types, routes, credentials; exit 0 when run would start",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l := newConfigLoader(cmd.Flags(), args[0], s)
			_, built, err := l.load(cmd.Context())
			if err != nil {
				return err
			}
			closeBuilt(built)
			fmt.Fprintf(s.Out, "%s: %d services, ok\n", args[0], len(built))
			return nil
		},
	}
	withRunFlags(cmd)
	return cmd
}

// printConfig writes rc as YAML, each value followed by its source as a
// comment; without all, values at their defaults are left out.
func printConfig(w io.Writer, rc *resolvedConfig, all bool) error {
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "# %s, with flags and environment applied\n", rc.path)
	schema := runFlags()
	printValues(ew, schema, "", rc.global, all)
	fmt.Fprintln(ew, servicesKey+":")
	for _, svc := range rc.services {
		fmt.Fprintf(ew, "  - %s: %s  # %s:%d\n", nameKey, yamlScalar("string", svc.name), rc.path, svc.line)
		rest := withoutKey(svc.values, nameKey)
		printValues(ew, schema, "    ", rest, all)
	}
	return ew.err
}

// withoutKey returns m without key.
func withoutKey(m map[string]setValue, key string) map[string]setValue {
	out := make(map[string]setValue, len(m))
	for k, v := range m {
		if k != key {
			out[k] = v
		}
	}
	return out
}

// printValues writes values sorted by key, at indent.
func printValues(w io.Writer, schema *pflag.FlagSet, indent string, values map[string]setValue, all bool) {
	keys := make([]string, 0, len(values))
	for k, v := range values {
		if all || v.source != sourceDefault {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := values[k]
		typ := "string" // name and prefix
		if f := schema.Lookup(k); f != nil {
			typ = f.Value.Type()
		}
		items := make([]string, len(v.items))
		for i, it := range v.items {
			items[i] = yamlScalar(typ, redactURL(it))
		}
		val := "[" + strings.Join(items, ", ") + "]"
		if _, repeatable := flagValue(schema.Lookup(k)).(pflag.SliceValue); !repeatable && len(items) == 1 {
			val = items[0]
		}
		fmt.Fprintf(w, "%s%s: %s  # %s\n", indent, k, val, v.source)
	}
}

// redactURL hides the password of a URL-like value (a flag or variable
// may hold one; the file may not).
func redactURL(v string) string {
	prefix, raw, isRoute := strings.Cut(v, "=")
	if !isRoute {
		prefix, raw = "", v
	} else {
		prefix += "="
	}
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return v
	}
	return prefix + u.Redacted()
}

// yamlScalar writes s, a value of a flag of type typ, quoted when YAML
// would read it as anything but that string.
func yamlScalar(typ, s string) string {
	if typ != "string" && typ != "stringArray" && s != "" {
		return s // a number, a duration, a bool: as the flag prints it
	}
	switch {
	case s == "", strings.TrimSpace(s) != s, strings.ContainsAny(s[:1], "!&*-?[]{}|>'\"%@`#,:"),
		strings.Contains(s, ": "), strings.Contains(s, " #"), strings.HasSuffix(s, ":"):
		return strconv.Quote(s)
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return strconv.Quote(s)
	}
	switch strings.ToLower(s) {
	case "true", "false", "yes", "no", "on", "off", "null", "~":
		return strconv.Quote(s)
	}
	return s
}

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

// ReloadOptions are the flags of `scproxy reload`.
type ReloadOptions struct {
	PIDFile string
	Config  string
}

// NewCmdReload returns `scproxy reload`: it checks the file, when given,
// and signals the running agent (SIGHUP) to apply it.
func NewCmdReload(s Streams) *cobra.Command {
	o := &ReloadOptions{}
	cmd := &cobra.Command{
		Use:   "reload",
		Short: "Make the running scproxy apply its changed configuration file (SIGHUP)",
		Long: `Signal the scproxy run --config process whose id is in the pid file (SIGHUP).
With --config (or $SCPROXY_CONFIG) the file is checked first, as scproxy config
check does, and a file that fails is not signalled: its errors are printed here.
The agent itself checks the file again and keeps its running services when the
file fails; its log says what it did.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			getenv := s.environ()
			pidFile := []string{o.PIDFile}
			if file := configFile(cmd.Flags(), getenv); file != "" {
				l := newConfigLoader(pflag.NewFlagSet("", pflag.ContinueOnError), file, s)
				rc, built, err := l.load(cmd.Context())
				if err != nil {
					return err
				}
				closeBuilt(built)
				// The file's pid-file is where its agent wrote its pid.
				if o.PIDFile == "" {
					pidFile = rc.global[pidFileKey].items
				}
			}
			return signalAgent(pidFilePath(pidFile, getenv))
		},
	}
	cmd.Flags().StringVar(&o.PIDFile, pidFileKey, "", "pid file of the running scproxy (default $RUNTIME_DIRECTORY/scproxy.pid, else $XDG_RUNTIME_DIR/scproxy.pid)")
	cmd.Flags().StringVar(&o.Config, configKey, "", "configuration file to check before signalling")
	return cmd
}

// signalAgent sends SIGHUP to the agent holding pidFile. A file no agent
// holds is left by one that was killed: the process id in it may since
// have been given to another program, which is not signalled.
func signalAgent(pidFile string) error {
	if pidFile == "" {
		return usageErrorf("no pid file: give --pid-file FILE (the pid-file of the running scproxy), or set $XDG_RUNTIME_DIR")
	}
	pid, err := heldPID(pidFile)
	if errors.Is(err, errStalePIDFile) {
		return fmt.Errorf("stale pid file %s: %w", pidFile, err)
	}
	if err != nil {
		return fmt.Errorf("pid file %s: %w (is scproxy run --config running?)", pidFile, err)
	}
	p, err := os.FindProcess(pid)
	if err == nil {
		err = p.Signal(syscall.SIGHUP)
	}
	if err != nil {
		return fmt.Errorf("signal scproxy (pid %d from %s): %w", pid, pidFile, err)
	}
	return nil
}
