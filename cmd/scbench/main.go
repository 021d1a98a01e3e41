// Command scbench measures scproxy against its baselines in one run: it
// starts the built-in WS-SecureConversation service (`scproxy
// demo-server`) and one `scproxy run` process per mode, drives them with
// its own load generator, and prints a Markdown table (and, with --json,
// every figure).
//
// Modes: direct (the client calls the service itself, no proxy), pass
// (scproxy with --security none), sc-tls (the SC-over-TLS profile) and
// x509 (--profile x509: each message signed with an X.509 certificate, no
// context) and sc-message (--profile message in front of a demo server of
// the message-security profile: every message signed and encrypted, the
// answer verified and decrypted). Each round runs every cell
// (message size × closed-loop clients, and open-loop rates) with the
// modes in a random order; the first round is discarded. Per cell: the
// proxy's CPU time per message (its threads' schedstat), its allocations
// and bytes per message (Δ of the runtime counters in its status), the
// service's CPU per message, messages per second, latency percentiles and
// the latency added over direct in the same round. Then the time to
// establish a context per bootstrap and the memory per context at up to
// 10,000 endpoints (a proxy in this process).
//
// A run whose direct throughput varies by more than 25% across the kept
// rounds is refused (exit status 1): the machine was too busy for the
// ratios to mean anything.
//
//	go run ./cmd/scbench --json perf.json
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// maxBaselineVariation is how far apart direct's rounds may be.
const maxBaselineVariation = 0.25

// options are the command's flags.
type options struct {
	scproxy    string
	jsonFile   string
	rounds     int
	duration   time.Duration
	warmup     time.Duration
	quick      bool
	seed       uint64
	modes      string
	sizes      []int
	clients    []int
	rates      []float64
	estSamples int
	endpoints  []int
	skipMemory bool
	// cxf runs the CXF yardstick instead; jvmWarmup is its first warm-up
	// per size and mode.
	cxf       bool
	jvmWarmup time.Duration
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the command: 0 on success, 1 for a refused or failed run, 2 for
// a wrong command line.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "scbench:", err)
		return 2
	}
	if o.cxf {
		return runCXFCommand(ctx, o, args, stdout, stderr)
	}
	r, err := measure(ctx, o, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "scbench:", err)
		return 1
	}
	r.Command = "scbench " + strings.Join(args, " ")
	writeMarkdown(stdout, r)
	if !writeJSON(o.jsonFile, r, stderr) {
		return 1
	}
	if r.Refused != "" {
		fmt.Fprintln(stderr, "scbench: run refused:", r.Refused)
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("scbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.scproxy, "scproxy", "", "scproxy binary to measure (default: build ./cmd/scproxy with go build)")
	fs.StringVar(&o.jsonFile, "json", "", "also write every figure to this JSON file")
	fs.IntVar(&o.rounds, "rounds", 5, "rounds (the first is discarded); at least 2")
	fs.DurationVar(&o.duration, "duration", 1500*time.Millisecond, "measured time per cell and mode")
	fs.DurationVar(&o.warmup, "warmup", 250*time.Millisecond, "unmeasured warm-up before each cell and mode")
	fs.BoolVar(&o.quick, "quick", false, "smoke run: 2 rounds of short cells at 1 KB, 10 establishments, 1 and 10 endpoints")
	fs.Uint64Var(&o.seed, "seed", 0, "seed of the mode order (default: random)")
	fs.StringVar(&o.modes, "modes", strings.Join(allModes, ","), "modes to run, comma-separated")
	fs.IntVar(&o.estSamples, "establish-samples", 200, "establishments timed per bootstrap")
	fs.BoolVar(&o.skipMemory, "skip-memory", false, "skip the memory-per-context figures")
	fs.DurationVar(&o.jvmWarmup, "jvm-warmup", 30*time.Second, "--cxf: the CXF client's first warm-up at each size")
	fs.BoolVar(&o.cxf, "cxf", false, "the CXF yardstick instead: CPU per message of CXF's own client against scproxy in front of the same CXF service (needs a JDK and Maven; defaults --rounds 5 --duration 3s --warmup 1s)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o.sizes = []int{1 << 10, 10 << 10, 100 << 10}
	o.clients = []int{1, 16, 64}
	o.rates = []float64{200, 1000}
	o.endpoints = []int{1, 100, 1000, 10000}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.cxf && !set["duration"] {
		o.duration = 3 * time.Second
	}
	if o.cxf && !set["warmup"] {
		o.warmup = time.Second
	}
	if o.quick {
		o.rounds, o.duration, o.warmup = 2, 200*time.Millisecond, 50*time.Millisecond
		o.sizes, o.clients, o.rates = []int{1 << 10}, []int{1, 4}, []float64{100}
		o.estSamples, o.endpoints = 10, []int{1, 10}
		if o.cxf {
			o.duration, o.warmup = time.Second, 500*time.Millisecond
			if !set["jvm-warmup"] {
				o.jvmWarmup = 3 * time.Second
			}
		}
	}
	for _, m := range strings.Split(o.modes, ",") {
		if !slices.Contains(allModes, m) {
			return nil, fmt.Errorf("--modes: unknown mode %q (want %s)", m, strings.Join(allModes, ", "))
		}
	}
	if o.rounds < 2 {
		return nil, errors.New("--rounds: at least 2 (the first is discarded)")
	}
	if o.duration <= 0 || o.warmup <= 0 || o.estSamples <= 0 {
		return nil, errors.New("--duration, --warmup and --establish-samples must be positive")
	}
	if o.seed == 0 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		o.seed = uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 | uint64(b[4])<<32
	}
	return o, nil
}

// machineInfo describes this machine.
func machineInfo() machine {
	m := machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.LoadBefore = loadAverage()
	return m
}

// loadAverage is the 1-, 5- and 15-minute load average, "?" when unknown.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

// randomPassword is the bench user's password, made up per run.
func randomPassword() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// writeJSON writes every figure of v to file (nothing when file is
// empty), reporting a failure on stderr.
func writeJSON(file string, v any, stderr io.Writer) bool {
	if file == "" {
		return true
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err == nil {
		err = os.WriteFile(file, b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(stderr, "scbench: writing the JSON:", err)
		return false
	}
	return true
}
