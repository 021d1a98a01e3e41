// Package bench is the machinery of scbench, scproxy's performance
// harness: a load generator (closed loop, and open loop at a fixed rate
// with latency measured from each message's scheduled send time, so that
// a stalled system cannot hide its queue), the CPU time of a process from
// /proc, and the statistics and tables of a run (medians of per-round
// ratios with their range).
package bench
