package msgsec

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// monoDir holds the Mono captures (testdata/vectors/README.md).
const monoDir = "../../testdata/vectors/mono"

// monoCase is one Mono capture and the policy it was made under.
type monoCase struct {
	dir     string
	order   Order
	confirm bool // the response carries SignatureConfirmation
	user    bool
}

var monoCases = []monoCase{
	{dir: "anoncert", order: SignBeforeEncryptAndEncryptSignature, confirm: true},
	{dir: "anoncert-signonly", order: SignBeforeEncrypt, confirm: true},
	{dir: "usercert", order: SignBeforeEncryptAndEncryptSignature, user: true},
}

func monoFile(t testing.TB, parts ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{monoDir}, parts...)...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// monoService is the Mono service's certificate and key.
func monoService(t testing.TB) *Certificate {
	t.Helper()
	cb, _ := pem.Decode(monoFile(t, "keys", "server.crt"))
	kb, _ := pem.Decode(monoFile(t, "keys", "server.key"))
	if cb == nil || kb == nil {
		t.Fatal("no PEM in the Mono keys")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	key, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return &Certificate{Cert: cert, Key: key.(crypto.Signer)}
}

// monoProfile is the policy of a capture, for role, at the capture's time.
func monoProfile(t testing.TB, mc monoCase, role Role, at time.Time) *Profile {
	c := config(role, Basic256, mc.order, true)
	c.SignatureConfirmation = mc.confirm
	c.Now = func() time.Time { return at }
	return mustProfile(t, c)
}

// monoTime is when the captures were made.
var monoTime = time.Date(2026, 11, 20, 23, 48, 18, 0, time.UTC)

// openMono opens a capture's request as the service and its response as
// the client that sent the request.
func openMono(t testing.TB, mc monoCase, req, resp []byte) (*Opened, *Opened, error) {
	server := monoProfile(t, mc, Server, monoTime)
	reqIn, err := server.Open(parse(t, req), Expect{Own: monoService(t)})
	if err != nil {
		return nil, nil, err
	}
	sent := &Sent{MessageID: reqIn.Addressing.MessageID, SignatureValues: reqIn.SignatureValues, key: reqIn.Reply.Key}
	client := monoProfile(t, mc, Client, monoTime)
	respIn, err := client.Open(parse(t, resp), Expect{Request: sent})
	return reqIn, respIn, err
}

func TestMonoCaptures(t *testing.T) {
	for _, mc := range monoCases {
		t.Run(mc.dir, func(t *testing.T) {
			reqIn, respIn, err := openMono(t, mc, monoFile(t, mc.dir, "request.xml"), monoFile(t, mc.dir, "response.xml"))
			if err != nil {
				t.Fatal(err)
			}
			if reqIn.Reply.Key == nil {
				t.Fatal("the request was not keyed by its EncryptedKey")
			}
			for _, c := range []struct {
				who string
				o   *Opened
			}{{"request", reqIn}, {"response", respIn}} {
				body := canon(t, c.o.Envelope.Body)
				if !strings.Contains(body, "Echo") || strings.Contains(body, "EncryptedData") {
					t.Errorf("%s body not decrypted: %s", c.who, body)
				}
				t.Logf("%s body: %s", c.who, body)
			}
			if mc.user != (reqIn.Username != nil) {
				t.Errorf("username token %v, want one: %v", reqIn.Username, mc.user)
			}
			if reqIn.Username != nil {
				t.Logf("username token: %v", reqIn.Username)
			}
			if respIn.Addressing.RelatesTo != reqIn.Addressing.MessageID {
				t.Errorf("RelatesTo %q, MessageID %q", respIn.Addressing.RelatesTo, reqIn.Addressing.MessageID)
			}
		})
	}
}

// mutation changes one byte of a capture.
type mutation struct {
	name string
	// after is the text the changed byte follows; at is how many bytes
	// after its end.
	after string
	at    int
}

// bodyCipher and headerCipher mark a mutation in the CipherValue of the
// Body or of the first encrypted header element; a negative at counts
// from its end.
const (
	bodyCipher   = "(Body CipherValue)"
	headerCipher = "(header CipherValue)"
)

// offset is where m changes src, -1 when its text is absent.
func offset(src []byte, m mutation) int {
	s, base := string(src), 0
	after := m.after
	switch after {
	case bodyCipher:
		base = strings.Index(s, "<s:Body")
	case headerCipher:
		base = strings.Index(s, `#Element"`)
	}
	if base < 0 {
		return -1
	}
	if base > 0 {
		s, after = s[base:], "<CipherValue>"
	}
	i := strings.Index(s, after)
	if i < 0 {
		return -1
	}
	if m.at < 0 {
		return base + i + strings.Index(s[i:], "</") + m.at
	}
	return base + i + len(after) + m.at
}

// flip changes the byte at i to another base64 character.
func flip(b []byte, i int) []byte {
	out := append([]byte(nil), b...)
	if out[i] == 'A' {
		out[i] = 'B'
	} else {
		out[i] = 'A'
	}
	return out
}

func TestMonoCapturesRefuseOneByteChanged(t *testing.T) {
	reqMutations := []mutation{
		{"EncryptedKey CipherValue", "<e:CipherValue>", 40},
		{"DerivedKeyToken Nonce", "<c:Nonce>", 5},
		{"Body CipherValue first block", bodyCipher, 10},
		{"Timestamp Created", "<u:Created>2026-11-20T23:48:1", 0},
		{"Action", "urn:interop/IEcho", 2},
		{"DerivedKeyToken Length", "<c:Length>3", 0},
	}
	respMutations := []mutation{
		{"DerivedKeyToken Nonce", "<c:Nonce>", 5},
		{"EncryptedKeySHA1", "#EncryptedKeySHA1\">", 3},
		{"Body CipherValue first block", bodyCipher, 10},
		{"RelatesTo", "<a:RelatesTo u:Id=\"_", 20},
		{"Timestamp Expires", "<u:Expires>2026-11-20T23:5", 0},
	}
	for _, mc := range monoCases {
		req, resp := monoFile(t, mc.dir, "request.xml"), monoFile(t, mc.dir, "response.xml")
		extra := []mutation{{"header CipherValue (signature)", headerCipher, 30}, {"header CipherValue last block", headerCipher, -30}}
		if mc.order == SignBeforeEncrypt {
			extra = []mutation{{"DigestValue", "<DigestValue>", 3}, {"SignatureValue", "<SignatureValue>", 3}, {"SignatureValue last bytes", "<SignatureValue>", 24}}
		}
		for _, side := range []struct {
			name string
			muts []mutation
		}{{"request", append(reqMutations, extra...)}, {"response", append(respMutations, extra...)}} {
			for _, m := range side.muts {
				t.Run(mc.dir+"/"+side.name+"/"+m.name, func(t *testing.T) {
					r, s := req, resp
					src := &r
					if side.name == "response" {
						src = &s
					}
					i := offset(*src, m)
					if i < 0 {
						t.Skipf("%q not in this capture", m.after)
					}
					*src = flip(*src, i)
					if _, _, err := openMono(t, mc, r, s); err == nil {
						t.Fatalf("opened with byte %d changed", i)
					} else {
						t.Log(err)
					}
				})
			}
		}
	}
}
