// Package metrics is the running proxy's account of itself to its
// operators: Prometheus metrics (the text exposition format), a liveness
// check and a readiness check, all served on the proxy's listener to
// callers on this host (outbound.Proxy.HandleLocal), next to its JSON
// status.
//
// The counters the endpoints already keep (requests, establishments,
// renewals, resends, cancels, failures, the current context's times) are
// read from them at scrape time by a collector; what only a request sees
// (its outcome, the fault it got and from whom, the upstream's latency,
// requests in flight) arrives through outbound.Observer. Metrics live in
// a registry of their own, never the process-wide default one, and carry
// no secret and no message content: their labels are route prefixes,
// upstream URLs without user information or query, and names from fixed
// sets.
package metrics
