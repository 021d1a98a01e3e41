package testkit

import (
	"net/http"
	"net/http/httptest"
)

// Upstream is an http.RoundTripper that serves every request with a
// handler in process, without sockets: a test's upstream when the test
// needs answers, not network behaviour. Use it as an http.Client's
// Transport (or wherever a RoundTripper is taken).
type Upstream struct {
	// Handler answers every request.
	Handler http.Handler
}

// RoundTrip serves req with the handler and returns its answer. The
// request's body is read by the handler as a server would read it; the
// answer's body is what the handler wrote. A caller whose context ends
// gets its error at once, as from a real connection, while the handler
// runs on (in a synctest bubble its goroutine is the bubble's).
func (u Upstream) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	in := req.Clone(req.Context())
	if in.Body == nil {
		in.Body = http.NoBody
	}
	in.RequestURI = req.URL.RequestURI()
	in.RemoteAddr = "192.0.2.1:1234"
	if in.Host == "" {
		in.Host = req.URL.Host
	}
	done := make(chan *http.Response, 1)
	go func() {
		rec := httptest.NewRecorder()
		u.Handler.ServeHTTP(rec, in)
		done <- rec.Result()
	}()
	select {
	case resp := <-done:
		resp.Request = req
		return resp, nil
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
}

// Client returns an http.Client whose transport is u.
func (u Upstream) Client() *http.Client { return &http.Client{Transport: u} }
