package main

import (
	"math"

	"github.com/scproxy/scproxy/internal/bench"
)

// cellSummary is one mode in one cell over the kept rounds: the median of
// each figure with its range, and the per-round ratios and differences
// against the baselines measured in the same round.
type cellSummary struct {
	Cell        cell         `json:"cell"`
	Mode        string       `json:"mode"`
	Rounds      int          `json:"rounds"`
	Errors      int          `json:"errors"`
	MsgPerSec   bench.Spread `json:"msg_per_sec"`
	P50us       bench.Spread `json:"p50_us"`
	P99us       bench.Spread `json:"p99_us"`
	P999us      bench.Spread `json:"p999_us"`
	AddedP50us  bench.Spread `json:"added_p50_us"` // over direct, same round
	AddedP99us  bench.Spread `json:"added_p99_us"`
	ServerCPUus bench.Spread `json:"server_cpu_us_per_msg"`
	ProxyCPUus  bench.Spread `json:"proxy_cpu_us_per_msg"`
	Allocs      bench.Spread `json:"allocs_per_msg"`
	Bytes       bench.Spread `json:"bytes_per_msg"`
	// CPUvsPass and CPUvsSCTLS are the proxy's CPU per message over pass's
	// and sc-tls's in the same round.
	CPUvsPass  bench.Spread `json:"cpu_vs_pass"`
	CPUvsSCTLS bench.Spread `json:"cpu_vs_sc_tls"`
}

// roundIndex finds a kept run by round, cell and mode.
type roundIndex map[int]map[cell]map[string]*runRecord

func indexRuns(runs []runRecord) roundIndex {
	ix := roundIndex{}
	for i := range runs {
		r := &runs[i]
		if !r.Kept {
			continue
		}
		if ix[r.Round] == nil {
			ix[r.Round] = map[cell]map[string]*runRecord{}
		}
		if ix[r.Round][r.Cell] == nil {
			ix[r.Round][r.Cell] = map[string]*runRecord{}
		}
		ix[r.Round][r.Cell][r.Mode] = r
	}
	return ix
}

// summarise summarises every cell and measured mode.
func summarise(runs []runRecord, cells []cell, modes []string) []cellSummary {
	ix := indexRuns(runs)
	var out []cellSummary
	for _, c := range cells {
		for _, m := range modes {
			out = append(out, summariseOne(ix, c, m))
		}
	}
	return out
}

// series collects one figure of mode m in cell c over the kept rounds;
// fig returns NaN where a round lacks it.
func (ix roundIndex) series(c cell, m string, fig func(r, direct, pass, sctls *runRecord) float64) []float64 {
	var vs []float64
	for _, byCell := range ix {
		runs := byCell[c]
		r := runs[m]
		if r == nil {
			continue
		}
		vs = append(vs, fig(r, runs[modeDirect], runs[modePass], runs[modeSCTLS]))
	}
	return vs
}

func summariseOne(ix roundIndex, c cell, m string) cellSummary {
	s := cellSummary{Cell: c, Mode: m}
	spread := func(fig func(r, direct, pass, sctls *runRecord) float64) bench.Spread {
		return bench.SpreadOf(ix.series(c, m, fig))
	}
	for _, v := range ix.series(c, m, func(r, _, _, _ *runRecord) float64 { return float64(r.Errors) }) {
		s.Rounds++
		s.Errors += int(v)
	}
	s.MsgPerSec = spread(func(r, _, _, _ *runRecord) float64 { return r.MsgPerSec })
	s.P50us = spread(func(r, _, _, _ *runRecord) float64 { return r.P50us })
	s.P99us = spread(func(r, _, _, _ *runRecord) float64 { return r.P99us })
	s.P999us = spread(func(r, _, _, _ *runRecord) float64 { return r.P999us })
	s.ServerCPUus = spread(func(r, _, _, _ *runRecord) float64 { return r.ServerCPUus })
	s.AddedP50us = spread(func(r, d, _, _ *runRecord) float64 { return diff(r, d, func(x *runRecord) float64 { return x.P50us }) })
	s.AddedP99us = spread(func(r, d, _, _ *runRecord) float64 { return diff(r, d, func(x *runRecord) float64 { return x.P99us }) })
	s.ProxyCPUus = spread(func(r, _, _, _ *runRecord) float64 {
		return proxyFig(r, func(p *proxyFigures) float64 { return p.CPUus })
	})
	s.Allocs = spread(func(r, _, _, _ *runRecord) float64 {
		return proxyFig(r, func(p *proxyFigures) float64 { return p.Allocs })
	})
	s.Bytes = spread(func(r, _, _, _ *runRecord) float64 {
		return proxyFig(r, func(p *proxyFigures) float64 { return p.Bytes })
	})
	s.CPUvsPass = spread(func(r, _, pass, _ *runRecord) float64 { return cpuRatio(r, pass) })
	s.CPUvsSCTLS = spread(func(r, _, _, sctls *runRecord) float64 { return cpuRatio(r, sctls) })
	return s
}

func proxyFig(r *runRecord, f func(*proxyFigures) float64) float64 {
	if r == nil || r.Proxy == nil {
		return math.NaN()
	}
	return f(r.Proxy)
}

// cpuRatio is r's proxy CPU per message over base's.
func cpuRatio(r, base *runRecord) float64 {
	cpu := func(p *proxyFigures) float64 { return p.CPUus }
	return proxyFig(r, cpu) / proxyFig(base, cpu)
}

// diff is f(r) − f(base), NaN without a base.
func diff(r, base *runRecord, f func(*runRecord) float64) float64 {
	if base == nil {
		return math.NaN()
	}
	return f(r) - f(base)
}

// baselineVariation returns, for the closed-loop cell where direct's
// throughput varies most across the kept rounds, the cell and the
// variation ((max − min) / median).
func baselineVariation(sums []cellSummary) (cell, float64) {
	var worst cell
	v := -1.0
	for _, s := range sums {
		if s.Mode != modeDirect || s.Cell.Rate > 0 || !s.MsgPerSec.Valid() {
			continue
		}
		if x := s.MsgPerSec.Variation(); x > v {
			worst, v = s.Cell, x
		}
	}
	return worst, max(v, 0)
}
