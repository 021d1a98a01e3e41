package outbound_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/creds"
	"github.com/scproxy/scproxy/outbound"
	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wssc"
)

// canaryCase is one bootstrap under the canary: how the server accepts
// it, the credential, a credential that fails, and the secrets no output
// may show (raw strings; their base64 and hex forms are checked too).
type canaryCase struct {
	name    string
	server  func(*testing.T, *scserver.Config)
	good    func(*testing.T, *upstreamRig) session.Bootstrap
	bad     func(*testing.T, *upstreamRig) session.Bootstrap
	secrets func(*testing.T, *upstreamRig) [][]byte
	// profile is how the proxy secures messages (the zero value: sc-tls).
	profile outbound.Profile
}

// canaryCases lists every bootstrap; files of other bootstraps add theirs
// in init functions.
var canaryCases = []canaryCase{
	{
		name:   "username",
		server: func(*testing.T, *scserver.Config) {},
		good: func(*testing.T, *upstreamRig) session.Bootstrap {
			return session.Username{User: testUser, Password: creds.NewSecret(testPassword)}
		},
		bad: func(*testing.T, *upstreamRig) session.Bootstrap {
			return session.Username{User: testUser, Password: creds.NewSecret(testPassword + "-wrong")}
		},
		secrets: func(*testing.T, *upstreamRig) [][]byte { return [][]byte{[]byte(testPassword)} },
	},
	{
		name:   "username digest",
		server: func(*testing.T, *scserver.Config) {},
		good: func(*testing.T, *upstreamRig) session.Bootstrap {
			return session.Username{User: testUser, Password: creds.NewSecret(testPassword), Digest: true}
		},
		bad: func(*testing.T, *upstreamRig) session.Bootstrap {
			return session.Username{User: testUser, Password: creds.NewSecret(testPassword + "-wrong"), Digest: true}
		},
		secrets: func(*testing.T, *upstreamRig) [][]byte { return [][]byte{[]byte(testPassword)} },
	},
}

// TestSecretsCanary runs each bootstrap's whole lifecycle through the
// proxy (establish, renew after RenewNeeded, resend, cancel at shutdown),
// plus a failing establishment, at debug level with the text and the JSON
// log formats, and looks for the bootstrap's secrets in every log line,
// every answer the application got and the status document (the proxy
// writes no files). The context keys the proxy held are searched for too.
func TestSecretsCanary(t *testing.T) {
	for _, cc := range canaryCases {
		for _, format := range []string{"text", "json"} {
			t.Run(cc.name+"/"+format, func(t *testing.T) {
				var logs bytes.Buffer
				logger := canaryLogger(&logs, format)
				scfg := scserver.Config{Script: scserver.Script{RenewAfterMessages: 1}, Logger: logger}
				cc.server(t, &scfg)
				up := newUpstream(t, scfg)
				var seen bytes.Buffer
				var keys [][]byte
				run := func(b session.Bootstrap, wantOK bool) {
					px := serveProxy(t, outbound.Config{
						Routes: routes(up.url(t, "/Echo.svc")), RootCAs: up.pool(), SC: wssc.V1_3,
						SOAP: soap.V12, Addressing: outbound.Addressing{Version: wsa.V10},
						Bootstrap: b, Logger: logger, Profile: cc.profile, DerivedKeys: cc.profile == outbound.ProfileMessage,
					})
					app := newApp(t)
					for i := range 3 {
						r := app.post(px.base+"/", soap.V11, echoAction, envelope(soap.V11, "", echoPayload("canary call")))
						seen.WriteString(r.body)
						if ok := r.status == http.StatusOK; ok != wantOK {
							t.Fatalf("call %d: status %d, want ok=%v: %s", i, r.status, wantOK, r.body)
						}
						for _, ep := range px.p.Endpoints() {
							if c := ep.Current(); c != nil {
								keys = append(keys, c.Secure().Key)
							}
						}
					}
					resp, err := http.Get(px.base + outbound.StatusPath)
					if err != nil {
						t.Fatal(err)
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					seen.Write(body)
					if _, err := px.stop(); err != nil {
						t.Fatal(err)
					}
				}
				run(cc.good(t, up), true)
				st := up.srv.Stats()
				if st.Issued != 1 || st.Renewed < 1 || st.Cancelled != 1 {
					t.Fatalf("lifecycle incomplete: issued %d, renewed %d, cancelled %d", st.Issued, st.Renewed, st.Cancelled)
				}
				run(cc.bad(t, up), false)
				everything := logs.String() + seen.String()
				if !strings.Contains(logs.String(), "DEBUG") && !strings.Contains(logs.String(), `"level":"DEBUG"`) {
					t.Fatal("no debug lines were logged: the canary would prove nothing")
				}
				if len(keys) == 0 {
					t.Fatal("no context key was seen: the key search would prove nothing")
				}
				for _, s := range append(cc.secrets(t, up), keys...) {
					for _, form := range []string{string(s), base64.StdEncoding.EncodeToString(s), hex.EncodeToString(s)} {
						if len(form) >= 6 && strings.Contains(everything, form) {
							t.Fatalf("a secret shows in the output (form %.4s...)", form)
						}
					}
				}
			})
		}
	}
}

func canaryLogger(w io.Writer, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
