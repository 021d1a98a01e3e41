package session

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scproxy/scproxy/renewal"
)

// DefaultMaxEndpoints bounds the endpoints of a Pool when
// PoolConfig.MaxEndpoints is zero.
const DefaultMaxEndpoints = 1024

// PoolConfig configures a Pool.
type PoolConfig struct {
	// MaxEndpoints bounds the endpoints held at once; DefaultMaxEndpoints
	// when zero.
	MaxEndpoints int
	// Renewal says when contexts are renewed and retried after failures.
	Renewal renewal.Policy
	// KeepContexts leaves every context alive at Close (servers that keep
	// context state in a stateful cookie need no cancel).
	KeepContexts bool
	// Rand seeds each endpoint's timing jitter; nil means crypto/rand.
	Rand io.Reader
	// IdleTimeout, when positive, drops an endpoint that has not been
	// asked for in that long: its keeper stops and its contexts are
	// cancelled (unless KeepContexts), so that endpoints nobody uses
	// neither hold a place nor renew forever. Zero keeps every endpoint.
	IdleTimeout time.Duration
}

// Pool owns the endpoints of a proxy: it makes each on first use, up to a
// limit, runs one keeper goroutine per endpoint (renewals and rollover
// cancels) on the pool's own context, drops those idle for
// PoolConfig.IdleTimeout (one goroutine, the evictor, started with the
// first endpoint), reports their status, and closes them all. It is safe
// for concurrent use.
type Pool struct {
	cfg PoolConfig
	// ctx is the pool's own context, the keepers' parent: a lifetime, not
	// a request's; stop ends it at Close.
	ctx     context.Context
	stop    context.CancelFunc
	keepers sync.WaitGroup
	seed    atomic.Uint64

	mu        sync.RWMutex
	endpoints map[string]*entry
	closed    bool
	evicting  bool // the evictor runs
}

// entry is an endpoint in the pool.
type entry struct {
	ep *Endpoint
	// used is when the endpoint was last asked for (Unix nanoseconds),
	// stored under the pool's read lock so that the evictor, which reads
	// it under the write lock, never drops an endpoint just handed out.
	used atomic.Int64
	// stop ends the endpoint's keeper.
	stop context.CancelFunc
}

// NewPool returns an empty Pool.
func NewPool(cfg PoolConfig) *Pool {
	if cfg.MaxEndpoints <= 0 {
		cfg.MaxEndpoints = DefaultMaxEndpoints
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	ctx, stop := context.WithCancel(context.Background())
	return &Pool{cfg: cfg, ctx: ctx, stop: stop, endpoints: map[string]*entry{}}
}

// jitter returns a random source for one endpoint: timing jitter needs no
// cryptographic randomness, only independence between endpoints and runs.
func (p *Pool) jitter() *mrand.Rand {
	var b [8]byte
	_, _ = io.ReadFull(p.cfg.Rand, b[:])
	return mrand.New(mrand.NewPCG(binary.LittleEndian.Uint64(b[:]), p.seed.Add(1)))
}

// Endpoint returns the endpoint named key, making it from config() on
// first use and starting its keeper. A Config without RetryAt retries
// after failures as the pool's renewal policy says.
func (p *Pool) Endpoint(key string, config func() Config) (*Endpoint, error) {
	p.mu.RLock()
	en, ok := p.endpoints[key]
	if ok {
		en.used.Store(time.Now().UnixNano())
	}
	p.mu.RUnlock()
	if ok {
		return en.ep, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if en, ok := p.endpoints[key]; ok {
		en.used.Store(time.Now().UnixNano())
		return en.ep, nil
	}
	if len(p.endpoints) >= p.cfg.MaxEndpoints {
		return nil, fmt.Errorf("more than %d upstream endpoints in use", p.cfg.MaxEndpoints)
	}
	if p.closed {
		return nil, errors.New("the proxy is shutting down")
	}
	cfg := config()
	if cfg.RetryAt == nil {
		retryRand := p.jitter() // used under the endpoint's cache lock only
		cfg.RetryAt = func(first time.Time, n int) time.Time {
			return p.cfg.Renewal.RetryAt(first, n, retryRand.Float64)
		}
	}
	ep, err := New(cfg)
	if err != nil {
		return nil, err
	}
	kctx, stop := context.WithCancel(p.ctx)
	en = &entry{ep: ep, stop: stop}
	en.used.Store(time.Now().UnixNano())
	p.endpoints[key] = en
	p.keepers.Add(1)
	rnd := p.jitter().Float64
	go func() {
		defer p.keepers.Done()
		keep(kctx, ep, p.cfg.Renewal, rnd)
	}()
	if p.cfg.IdleTimeout > 0 && !p.evicting {
		p.evicting = true
		p.keepers.Go(p.evictIdle)
	}
	return ep, nil
}

// evictIdle is the evictor: it wakes when the least recently used
// endpoint is due to go idle, drops the endpoints idle for IdleTimeout
// and shuts them down, and returns when the pool closes.
func (p *Pool) evictIdle() {
	timer := time.NewTimer(p.cfg.IdleTimeout)
	defer timer.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-timer.C:
		}
		idle, next := p.takeIdle(time.Now())
		for _, en := range idle {
			en.stop()
			_ = en.ep.shutdown(context.WithoutCancel(p.ctx), !p.cfg.KeepContexts)
		}
		timer.Reset(time.Until(next))
	}
}

// takeIdle removes the endpoints not asked for since IdleTimeout before
// now and returns them, and when the next one may go idle.
func (p *Pool) takeIdle(now time.Time) (idle []*entry, next time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	next = now.Add(p.cfg.IdleTimeout)
	for key, en := range p.endpoints {
		due := time.Unix(0, en.used.Load()).Add(p.cfg.IdleTimeout)
		if p.closed || due.After(now) {
			next = earliest(next, due)
			continue
		}
		delete(p.endpoints, key)
		idle = append(idle, en)
	}
	return idle, next
}

// Endpoints returns the endpoints in use.
func (p *Pool) Endpoints() []*Endpoint {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]*Endpoint, 0, len(p.endpoints))
	for _, en := range p.endpoints {
		out = append(out, en.ep)
	}
	return out
}

// Status returns the status of every endpoint, sorted by address.
func (p *Pool) Status() []Status {
	eps := p.Endpoints()
	out := make([]Status, 0, len(eps))
	for _, ep := range eps {
		out = append(out, ep.Status())
	}
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.Endpoint, b.Endpoint) })
	return out
}

// Close stops making endpoints, stops the keepers, lets the exchanges
// under way finish and cancels every live context (unless KeepContexts),
// endpoints in parallel, each call under the endpoint's timeout, all
// bounded by ctx. A failed cancel is logged and does not hold up the
// others; the first failures are returned. Closing again does nothing.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.stop()
	stopped := make(chan struct{})
	go func() { p.keepers.Wait(); close(stopped) }()
	select {
	case <-stopped:
	case <-ctx.Done():
	}
	eps := p.Endpoints()
	errs := make([]error, len(eps))
	var wg sync.WaitGroup
	for i, ep := range eps {
		wg.Go(func() { errs[i] = ep.shutdown(ctx, !p.cfg.KeepContexts) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
