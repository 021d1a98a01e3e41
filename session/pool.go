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
}

// Pool owns the endpoints of a proxy: it makes each on first use, up to a
// limit, runs one keeper goroutine per endpoint (renewals and rollover
// cancels) on the pool's own context, reports their status, and closes
// them all. It is safe for concurrent use.
type Pool struct {
	cfg PoolConfig
	// ctx is the pool's own context, the keepers' parent: a lifetime, not
	// a request's; stop ends it at Close.
	ctx     context.Context
	stop    context.CancelFunc
	keepers sync.WaitGroup
	seed    atomic.Uint64

	mu        sync.RWMutex
	endpoints map[string]*Endpoint
	closed    bool
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
	return &Pool{cfg: cfg, ctx: ctx, stop: stop, endpoints: map[string]*Endpoint{}}
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
	ep, ok := p.endpoints[key]
	p.mu.RUnlock()
	if ok {
		return ep, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if ep, ok := p.endpoints[key]; ok {
		return ep, nil
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
	p.endpoints[key] = ep
	p.keepers.Add(1)
	rnd := p.jitter().Float64
	go func() {
		defer p.keepers.Done()
		keep(p.ctx, ep, p.cfg.Renewal, rnd)
	}()
	return ep, nil
}

// Endpoints returns the endpoints in use.
func (p *Pool) Endpoints() []*Endpoint {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]*Endpoint, 0, len(p.endpoints))
	for _, ep := range p.endpoints {
		out = append(out, ep)
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
