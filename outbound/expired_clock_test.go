package outbound

import (
	"bytes"
	"io"
	"net/http"
	"regexp"
	"testing"
	"testing/synctest"
	"time"

	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/wssc"
)

// pastLifetime rewrites the Lifetime of every Issue answer to have ended
// an hour ago, as an STS whose clock is hours behind writes it.
type pastLifetime struct{ up *memUpstream }

var rstrLifetime = regexp.MustCompile(`(?s)(Lifetime>.*?Created>)[^<]*(<.*?Expires>)[^<]*(<)`)

func (p pastLifetime) RoundTrip(r *http.Request) (*http.Response, error) {
	op, trust := trustOperation(r)
	resp, err := p.up.RoundTrip(r)
	if err != nil || !trust || op != wssc.Issue {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	at := func(d time.Duration) string { return time.Now().Add(d).UTC().Format("2006-01-02T15:04:05.000Z") }
	body = rstrLifetime.ReplaceAll(body, []byte("${1}"+at(-2*time.Hour)+"${2}"+at(-time.Hour)+"${3}"))
	resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// TestClockExpiredAtBirthNotReissuedWhileIdle: a context granted expired
// is refused, not kept: nothing renews it every 5 s (the renewal floor)
// while no request comes, and a request is held until the backoff's next
// attempt. Ten idle minutes make no Issue.
func TestClockExpiredAtBirthNotReissuedWhileIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up := newMemUpstream(t, scserver.Config{})
		p := newClockProxy(t, up, Config{})
		p.client = upstream.New(upstream.Config{Transport: pastLifetime{up}})
		defer shutdown(t, p)
		if w := clockPost(p, "/", "first"); w.Code != http.StatusBadGateway {
			t.Errorf("a context granted expired: HTTP %d, want 502", w.Code)
		}
		synctest.Wait()
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if n := len(up.calls()); n != 1 {
			t.Errorf("%d WS-Trust calls in ten idle minutes after a context granted expired, want 1 (the refused Issue)", n)
		}
	})
}
