package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/scproxy/scproxy/internal/bench"
)

// machine describes where a run happened.
type machine struct {
	CPUs   int    `json:"cpus"`
	CPU    string `json:"cpu"`
	Go     string `json:"go"`
	Kernel string `json:"kernel"`
	// LoadBefore and LoadAfter are /proc/loadavg at the start and the end:
	// other work on the machine is what makes a run's rounds disagree.
	LoadBefore string `json:"load_before"`
	LoadAfter  string `json:"load_after"`
}

// modeInfo is a mode and, when it was not measured, why.
type modeInfo struct {
	Name string `json:"name"`
	Note string `json:"note,omitempty"`
}

// report is the whole run, as written to --json.
type report struct {
	Command  string    `json:"command"`
	Started  time.Time `json:"started"`
	Seconds  float64   `json:"seconds"`
	Machine  machine   `json:"machine"`
	Seed     uint64    `json:"seed"`
	Rounds   int       `json:"rounds"`
	Duration string    `json:"duration_per_cell"`
	Modes    []modeInfo
	// Refused is set when the run cannot be trusted (see baseline).
	Refused string `json:"refused,omitempty"`
	// Baseline is direct's largest throughput variation across the kept
	// rounds, and the cell it happened in.
	Baseline struct {
		Cell      cell    `json:"cell"`
		Variation float64 `json:"variation"`
	} `json:"baseline"`
	Runs          []runRecord       `json:"runs"`
	Cells         []cellSummary     `json:"cells"`
	Establishment []establishFigure `json:"establishment"`
	Memory        []memoryFigure    `json:"memory"`
	Targets       []target          `json:"targets"`
}

// target is one of the targets and how the run did against it.
type target struct {
	Name   string `json:"name"`
	Result string `json:"result"`
	// Met is nil when the run could not measure it.
	Met *bool `json:"met"`
}

// ms formats microseconds as milliseconds.
func ms(us float64) string { return fmt.Sprintf("%.2f", us/1000) }

// med formats a spread's median with f, "–" without values.
func med(s bench.Spread, f func(float64) string) string {
	if !s.Valid() {
		return "–"
	}
	return f(s.Median)
}

// rng formats a spread as "median (min–max)".
func rng(s bench.Spread, f func(float64) string) string {
	if !s.Valid() {
		return "–"
	}
	return fmt.Sprintf("%s (%s–%s)", f(s.Median), f(s.Min), f(s.Max))
}

func fixed(prec int) func(float64) string {
	return func(v float64) string { return fmt.Sprintf("%.*f", prec, v) }
}

func kib(v float64) string { return fmt.Sprintf("%.1f", v/1024) }

// writeMarkdown writes the tables of r.
func writeMarkdown(w io.Writer, r *report) {
	fmt.Fprintf(w, "scbench: %d rounds (first discarded), %s per cell, modes in random order per round (seed %d)\n", r.Rounds, r.Duration, r.Seed)
	fmt.Fprintf(w, "machine: %d × %s, %s, Linux %s; load average %s before, %s after\n\n", r.Machine.CPUs, r.Machine.CPU, r.Machine.Go, r.Machine.Kernel, r.Machine.LoadBefore, r.Machine.LoadAfter)
	for _, m := range r.Modes {
		if m.Note != "" {
			fmt.Fprintf(w, "- `%s`: %s\n", m.Name, m.Note)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Closed loop (medians over the kept rounds; ratios and differences are per round against the same round's baseline, median (min–max)):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| size × clients | mode | proxy CPU µs/msg | × pass CPU | allocs/msg | KiB alloc/msg | server CPU µs/msg | msg/s | p50 ms | p99 ms | + p50 ms over direct | + p99 ms over direct | errors |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, s := range r.Cells {
		if s.Cell.Rate > 0 {
			continue
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d |\n", s.Cell, s.Mode,
			med(s.ProxyCPUus, fixed(1)), rng(s.CPUvsPass, fixed(2)), med(s.Allocs, fixed(0)), med(s.Bytes, kib),
			med(s.ServerCPUus, fixed(0)), med(s.MsgPerSec, fixed(0)), med(s.P50us, ms), med(s.P99us, ms),
			rng(s.AddedP50us, ms), rng(s.AddedP99us, ms), s.Errors)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Open loop (latency from each message's scheduled send time):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| size at rate | mode | p50 ms | p99 ms | p99.9 ms | + p99 ms over direct | proxy CPU µs/msg | errors |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, s := range r.Cells {
		if s.Cell.Rate == 0 {
			continue
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %d |\n", s.Cell, s.Mode, med(s.P50us, ms), med(s.P99us, ms),
			med(s.P999us, ms), rng(s.AddedP99us, ms), med(s.ProxyCPUus, fixed(1)), s.Errors)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Establishment of a context (loopback TLS, connection open):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| bootstrap | samples | p50 ms | p99 ms | note |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | --- |")
	for _, e := range r.Establishment {
		fmt.Fprintf(w, "| %s | %d | %.2f | %.2f | %s |\n", e.Bootstrap, e.Samples, e.P50ms, e.P99ms, e.Note)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Memory per endpoint held by one proxy (live heap and goroutine stacks after GC):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| endpoints | established | KiB per context | heap KiB | stack KiB | goroutines each | errors | s |")
	fmt.Fprintln(w, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, m := range r.Memory {
		fmt.Fprintf(w, "| %d | %d | %s | %s | %s | %.1f | %d | %.1f |\n", m.Endpoints, m.Established, kib(m.BytesPerContext),
			kib(m.HeapPerContext), kib(m.StackPerContext), m.GoroutinesPerContext, m.Errors, m.Seconds)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Targets:")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| target | this run | met |")
	fmt.Fprintln(w, "| --- | --- | --- |")
	for _, t := range r.Targets {
		met := "not measured"
		if t.Met != nil {
			met = map[bool]string{true: "yes", false: "**no**"}[*t.Met]
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", t.Name, t.Result, met)
	}
	fmt.Fprintf(w, "\ndirect baseline: throughput varies by at most %.0f%% across the kept rounds (%s)\n", 100*r.Baseline.Variation, r.Baseline.Cell)
	if r.Refused != "" {
		fmt.Fprintf(w, "\n**REFUSED**: %s\n", r.Refused)
	}
}

// targets judges the run against the targets.
func targets(sums []cellSummary, est []establishFigure, mem []memoryFigure, sizes []int) []target {
	find := func(mode string, pred func(cell) bool) []cellSummary {
		var out []cellSummary
		for _, s := range sums {
			if s.Mode == mode && s.Cell.Rate == 0 && pred(s.Cell) {
				out = append(out, s)
			}
		}
		return out
	}
	var out []target
	for _, size := range sizes {
		at := func(c cell) bool { return c.Size == size }
		out = append(out, judge(fmt.Sprintf("`sc-tls` CPU/msg ≤ 1.25× `pass` at %s", sizeName(size)),
			find(modeSCTLS, at), func(s cellSummary) bench.Spread { return s.CPUvsPass }, "×", 2, func(v float64) bool { return v <= 1.25 }))
	}
	one := func(c cell) bool { return c.Size == 1<<10 }
	out = append(out,
		judge("`x509` CPU/msg ≥ 4× `sc-tls` at 1 KB", find(modeX509, one), func(s cellSummary) bench.Spread { return s.CPUvsSCTLS }, "×", 1, func(v float64) bool { return v >= 4 }),
		judge("`pass` ≤ 150 µs CPU per 1 KB message", find(modePass, one), func(s cellSummary) bench.Spread { return s.ProxyCPUus }, " µs", 1, func(v float64) bool { return v <= 150 }),
		judge("`pass` ≤ 100 allocations per 1 KB message", find(modePass, one), func(s cellSummary) bench.Spread { return s.Allocs }, "", 0, func(v float64) bool { return v <= 100 }),
		judge("`sc-message` proxy CPU ≤ 20 ms per 100 KB round trip", find(modeSCMessage, func(c cell) bool { return c.Size == 100<<10 }),
			func(s cellSummary) bench.Spread { return s.ProxyCPUus }, " µs", 0, func(v float64) bool { return v <= 20000 }),
	)
	for _, e := range est {
		t := target{Name: fmt.Sprintf("establishment p50 ≤ 10 ms on loopback TLS (%s)", e.Bootstrap), Result: e.Note}
		if e.Samples > 0 {
			t.Result = fmt.Sprintf("p50 %.2f ms, p99 %.2f ms", e.P50ms, e.P99ms)
			t.Met = ptr(e.P50ms <= 10)
		}
		out = append(out, t)
	}
	if len(mem) > 0 {
		last := mem[len(mem)-1]
		out = append(out,
			target{Name: "≤ 64 KiB per context", Result: fmt.Sprintf("%s KiB at %d endpoints", kib(last.BytesPerContext), last.Endpoints), Met: ptr(last.BytesPerContext <= 64<<10)},
			target{Name: "10,000 endpoints in one process", Result: fmt.Sprintf("%d of %d established, %d errors", last.Established, last.Endpoints, last.Errors),
				Met: ptr(last.Endpoints >= 10000 && last.Established == last.Endpoints && last.Errors == 0)},
		)
	}
	return out
}

// judge checks the median of fig in every summary against ok and lists
// them by client count.
func judge(name string, sums []cellSummary, fig func(cellSummary) bench.Spread, unit string, prec int, ok func(float64) bool) target {
	t := target{Name: name}
	var parts []string
	met := true
	for _, s := range sums {
		sp := fig(s)
		if !sp.Valid() {
			continue
		}
		parts = append(parts, fmt.Sprintf("%.*f%s (%d clients)", prec, sp.Median, unit, s.Cell.Clients))
		met = met && ok(sp.Median)
	}
	if len(parts) == 0 {
		t.Result = "not measured in this run"
		return t
	}
	t.Result = strings.Join(parts, ", ")
	t.Met = ptr(met)
	return t
}

func ptr[T any](v T) *T { return &v }
