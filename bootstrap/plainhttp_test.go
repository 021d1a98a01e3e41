package bootstrap_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/bootstrap"
	"github.com/scproxy/scproxy/setting"
	"github.com/scproxy/scproxy/upstream"
)

// TestTokenSTSPlainHTTPRefused: an http:// token STS would receive the
// password in clear, so it is refused like a plain-http upstream of
// secured traffic, naming the setting that allows it for a test STS.
func TestTokenSTSPlainHTTPRefused(t *testing.T) {
	r := newSTSRig(t, nil)
	cfg := bootstrap.TokenSTS{}
	r.sts(t, func(c *bootstrap.TokenSTS) { cfg = *c }) // the rig's settings
	cfg.URL, _ = url.Parse("http://sts.example/Token.svc")
	_, err := bootstrap.NewIssuedTokenFromSTS(cfg)
	var se *setting.Error
	if !errors.As(err, &se) || se.Field != "TokenSTS.URL" || se.Allow != "TokenSTS.AllowPlainHTTP" {
		t.Fatalf("got %v, want a *setting.Error for TokenSTS.URL allowed by TokenSTS.AllowPlainHTTP", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "in clear") || strings.Contains(msg, tokenPassword) {
		t.Fatalf("message %q: want the reason, never the password", msg)
	}
}

// TestTokenSTSPlainHTTPAllowed: with AllowPlainHTTP the token is fetched
// from a plain-http STS and secures an establishment.
func TestTokenSTSPlainHTTPAllowed(t *testing.T) {
	r := newSTSRig(t, nil)
	plain := httptest.NewServer(http.HandlerFunc(r.record))
	t.Cleanup(plain.Close)
	tok := r.sts(t, func(c *bootstrap.TokenSTS) {
		c.URL, _ = url.Parse(plain.URL + "/Token.svc")
		c.AllowPlainHTTP = true
		c.Client = upstream.New(upstream.Config{})
	})
	ep := r.endpoint(t, "/svc", tok)
	if _, err := ep.Context(context.Background(), wire12); err != nil {
		t.Fatal(err)
	}
	if tok.Fetches() != 1 || r.srv.Stats().TokensIssued != 1 {
		t.Fatalf("%d fetches, stats %+v", tok.Fetches(), r.srv.Stats())
	}
}
