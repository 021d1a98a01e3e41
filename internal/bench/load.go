package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// Request is the SOAP call the load generator repeats.
type Request struct {
	URL    string
	Header http.Header
	Body   []byte
	// Want must occur in every answer (with HTTP 200) for it to count as
	// a success.
	Want []byte
}

// Sample is the outcome of one load run.
type Sample struct {
	Messages   int // answered with success
	Errors     int
	FirstError string
	Elapsed    time.Duration
	// Latencies of the successful messages, in the order they finished.
	Latencies []time.Duration
}

// Rate is successful messages per second.
func (s Sample) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Messages) / s.Elapsed.Seconds()
}

// recorder collects outcomes from many goroutines.
type recorder struct {
	mu sync.Mutex
	s  Sample
}

func (r *recorder) record(lat time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.s.Errors++
		if r.s.FirstError == "" {
			r.s.FirstError = err.Error()
		}
		return
	}
	r.s.Messages++
	r.s.Latencies = append(r.s.Latencies, lat)
}

// Send makes one call and checks the answer.
func Send(ctx context.Context, c *http.Client, r Request) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return err
	}
	req.Header = r.Header.Clone()
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, r.Want) {
		return fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, body)
	}
	return nil
}

// ClosedLoop runs clients callers for d, each sending its next message as
// soon as the previous one is answered.
func ClosedLoop(ctx context.Context, c *http.Client, r Request, clients int, d time.Duration) Sample {
	var rec recorder
	start := time.Now()
	end := start.Add(d)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for t := time.Now(); t.Before(end) && ctx.Err() == nil; t = time.Now() {
				err := Send(ctx, c, r)
				rec.record(time.Since(t), err)
			}
		})
	}
	wg.Wait()
	rec.s.Elapsed = time.Since(start)
	return rec.s
}

// OpenLoop sends rate messages per second for d, whatever the answers
// do, from up to workers callers at once. A message's latency runs from
// the instant it was scheduled, not from when a caller was free to send
// it: when the system stalls, the messages queued behind the stall show
// it (no coordinated omission).
func OpenLoop(ctx context.Context, c *http.Client, r Request, rate float64, d time.Duration, workers int) Sample {
	var rec recorder
	n := int(rate * d.Seconds())
	due := make(chan time.Time, n)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for at := range due {
				err := Send(ctx, c, r)
				rec.record(time.Since(at), err)
			}
		})
	}
	start := time.Now()
	interval := time.Duration(float64(time.Second) / rate)
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		if wait := time.Until(at); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		due <- at
	}
	close(due)
	wg.Wait()
	rec.s.Elapsed = time.Since(start)
	return rec.s
}
