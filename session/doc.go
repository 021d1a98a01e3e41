// Package session owns the life of the WS-SecureConversation security
// contexts scproxy holds as a client, one per upstream endpoint, from the
// first request to shutdown.
//
// An Endpoint establishes its context with a WS-Trust Issue exchange
// (WS-SecureConversation 1.3 §3, WS-Trust 1.3 §4) bootstrapped by a
// credential, hands the current context to every request without taking
// a lock, renews it (WS-Trust 1.3 §7) when the server asks, lets a
// rejected context be dropped so the next request establishes a new one,
// and cancels contexts (WS-Trust 1.3 §8). The context lives in a
// credcache.Cache: an immutable *Context behind an atomic pointer, one
// exchange in flight at a time whose result every waiting request shares,
// run on a context of its own so that a request that gives up does not
// cancel it for the others, an Invalidate that only drops the context the
// server actually rejected, a backoff after any failure (with or without
// a context; longer after the STS refuses the credential), and an expiry
// margin: a context that close to its expiry is renewed before use, and a
// context granted already within it is refused.
//
// Under message security (Config.Message) no TLS protects the STS
// exchanges: the Issue is protected by the bootstrap binding, Renew and
// Cancel by the context itself, and every reply is verified and decrypted
// before it is read; ResponseKeys says which contexts may key the answer
// to a request (the one that protected it, and during the rollover the
// one a renewal replaced).
//
// A Pool owns the endpoints of a proxy: it makes them on first use, up to
// a limit, runs one keeper goroutine for each on the pool's own context
// (proactive renewal at the times package renewal gives, retries after
// failures, cancellation of replaced contexts once their rollover has
// passed), reports their status, and closes them: it drains the exchanges
// under way, then cancels every live context.
package session
