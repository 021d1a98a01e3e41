package outbound

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scproxy/scproxy/wire/soap"
)

// The listener's limits: how many application connections are open at
// once (Config.MaxConns), how many bytes of request bodies are held at
// once (Config.MaxBodyInFlight) and how long an answer may take to write
// (Config.WriteTimeout). What goes beyond a limit is answered 503 with
// Retry-After at once, never queued: a queue would hold the memory and
// connections the limits are there to bound.

// retryAfter is the Retry-After of an answer over a limit, in seconds.
const retryAfter = "1"

// errOverBudget ends the reading of a body that would take the bodies in
// flight beyond their budget.
var errOverBudget = errors.New("the request bodies in flight are over their budget")

// budget is a number of bytes shared by the requests in flight.
type budget struct {
	limit int64
	used  atomic.Int64
}

// take charges n bytes, or reports false when that would exceed the limit.
func (b *budget) take(n int64) bool {
	for {
		u := b.used.Load()
		if u+n > b.limit {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

// give returns n bytes taken before.
func (b *budget) give(n int64) { b.used.Add(-n) }

// charges are the bytes one holder (a request's body, a description
// being fetched) took of a budget.
type charges struct {
	b *budget
	n int64
}

// charge takes n more bytes, or returns errOverBudget when the budget
// has not that many left.
func (c *charges) charge(n int) error {
	if !c.b.take(int64(n)) {
		return errOverBudget
	}
	c.n += int64(n)
	return nil
}

// release gives back every byte taken.
func (c *charges) release() {
	c.b.give(c.n)
	c.n = 0
}

// overBudget is the answer to a request whose bytes would take the
// bodies in flight beyond their budget: 503, to retry later.
func (p *Proxy) overBudget(w http.ResponseWriter) error {
	w.Header().Set("Retry-After", retryAfter)
	w.Header().Set("Connection", "close")
	return upstreamError(http.StatusServiceUnavailable, CodeBusy, "the request bodies in flight are over their budget of %d bytes; retry later", p.cfg.MaxBodyInFlight)
}

// release drops the request's buffers and gives their bytes back to the
// budget, once the answer is ready: from then on only the answer is held.
func (x *exchange) release() {
	x.body.release()
	x.sent = sealed{}
}

// answerWriter is the application's ResponseWriter, which, when the
// answer starts (whatever path writes it), releases the request's buffers
// and sets the write deadline: an application that does not read its
// answer is cut off at the deadline rather than holding it.
type answerWriter struct {
	http.ResponseWriter
	x       *exchange
	started bool
	status  int // the status answered, once written
}

func (w *answerWriter) start() {
	if w.started {
		return
	}
	w.started = true
	w.x.release()
	// A socket's deadline is on the wall clock, whatever p.now says.
	_ = http.NewResponseController(w.ResponseWriter).SetWriteDeadline(time.Now().Add(w.x.p.cfg.WriteTimeout))
}

func (w *answerWriter) WriteHeader(status int) {
	w.start()
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *answerWriter) Write(b []byte) (int, error) {
	w.start()
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *answerWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// connLimiter is a listener that holds the connections open at once to
// max: one more is answered busy and closed, never handed to the server.
type connLimiter struct {
	net.Listener
	max  int64
	open atomic.Int64
	// refusing counts the refusals being written, themselves bounded: a
	// flood beyond that is closed without an answer.
	refusing atomic.Int64
	busy     []byte
}

// maxRefusing bounds the busy answers being written at once.
const maxRefusing = 64

// limitConns wraps ln so that at most max connections are open at once.
func limitConns(ln net.Listener, max int) *connLimiter {
	f := soap.NewFault(soap.Receiver, fmt.Sprintf("scproxy: more than %d application connections are open; retry later", max), CodeBusy)
	body := []byte("scproxy: too many connections\n")
	ct := "text/plain; charset=utf-8"
	if env, err := f.Envelope(soap.V11); err == nil {
		body = env.Bytes()
		ct, _, _ = soap.V11.ContentType("")
	}
	head := fmt.Sprintf("HTTP/1.1 503 Service Unavailable\r\nRetry-After: %s\r\nConnection: close\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", retryAfter, ct, len(body))
	return &connLimiter{Listener: ln, max: int64(max), busy: append([]byte(head), body...)}
}

// Accept returns the next connection within the limit.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) <= l.max {
			return &countedConn{Conn: c, l: l}, nil
		}
		l.open.Add(-1)
		if l.refusing.Add(1) > maxRefusing {
			l.refusing.Add(-1)
			_ = c.Close()
			continue
		}
		go l.refuse(c)
	}
}

// refuse answers c busy, reads what the client sent meanwhile (so that
// closing does not reset the connection before the answer is read) and
// closes it, all within a second.
func (l *connLimiter) refuse(c net.Conn) {
	defer l.refusing.Add(-1)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write(l.busy); err != nil {
		return
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	var buf [4096]byte
	for {
		if _, err := c.Read(buf[:]); err != nil {
			return
		}
	}
}

// countedConn is a connection counted by its connLimiter until closed.
type countedConn struct {
	net.Conn
	l    *connLimiter
	once sync.Once
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.open.Add(-1) })
	return err
}

// NetConn returns the connection counted, for code that asks the socket
// itself (its peer's credentials), as tls.Conn's NetConn does.
func (c *countedConn) NetConn() net.Conn { return c.Conn }

// CloseWrite half-closes the connection when it can, so that the server
// can send a refusal (413, 503) and then drain what the client still
// sends, instead of resetting the connection under the answer.
func (c *countedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}
