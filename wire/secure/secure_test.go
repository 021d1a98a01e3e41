package secure

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/internal/oracle"
	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wsa"
	"github.com/scproxy/scproxy/wire/wss"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

var fixedNow = func() time.Time { return time.Date(2026, 11, 21, 1, 2, 3, 456e6, time.UTC) }

// contexts returns one real context per SC version: the CoreWCF RSTR with
// the key WCF computed (February 2005), and a WCF-shaped 1.3 RSTRC with a
// stateful cookie inside the token.
func contexts(t *testing.T) map[string]Context {
	t.Helper()
	feb := parseContext(t, "../../testdata/vectors/corewcf/issue-response.pretty.xml", wssc.Feb2005)
	key, err := feb.resp.Key(b64(t, "1TmBzNeSMhkxqHU+yWuwplJDS7NejEdnFlgRbGPyAOI="))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(key, b64(t, "H/N/QJpAIzvX652dTmpSKfx5jvchdVlWNaSPiPkNuP8=")) {
		t.Fatal("CoreWCF key not reproduced")
	}
	v13 := parseContext(t, "../wssc/testdata/renew-response-1.3-cookie.xml", wssc.V1_3)
	return map[string]Context{
		"sc-2005-02": {Version: wssc.Feb2005, Token: feb.resp.Token, Key: key},
		"sc-1.3":     {Version: wssc.V1_3, Token: v13.resp.Token, Key: bytes.Repeat([]byte{7}, 32)},
	}
}

type parsed struct{ resp *wssc.Response }

func parseContext(t *testing.T, path string, v wssc.Version) parsed {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env, err := soap.ParseWith(src, xmldoc.Options{KeepSpans: true})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := env.Payload()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := wssc.ParseResponse(env.Doc, payload, v)
	if err != nil {
		t.Fatal(err)
	}
	return parsed{resp}
}

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// appEnvelope is what a legacy application sends, addressed as WCF would.
func appEnvelope(t *testing.T, v soap.Version) *soap.Envelope {
	t.Helper()
	env := soap.NewEnvelope(v)
	h, err := wsa.NewRequest(wsa.V10, "http://tempuri.org/IEchoService/EchoString", "https://svc.example.com/Echo.svc", bytes.NewReader(make([]byte, 16)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.AddTo(env.EnsureHeader(), wsa.V10); err != nil {
		t.Fatal(err)
	}
	p := env.Body.CreateElement("EchoString")
	p.CreateAttr("xmlns", "http://tempuri.org/")
	p.CreateElement("echo").SetText("a & b < c")
	return env
}

func reparse(t *testing.T, b []byte) *soap.Envelope {
	t.Helper()
	env, err := soap.ParseWith(b, xmldoc.Options{KeepSpans: true})
	if err != nil {
		t.Fatalf("our own output does not parse: %v\n%s", err, b)
	}
	return env
}

func securityOf(t *testing.T, env *soap.Envelope) *etree.Element {
	t.Helper()
	sec, err := wss.FindSecurity(env.Header)
	if err != nil {
		t.Fatal(err)
	}
	return sec
}

func signatureIn(t *testing.T, sec *etree.Element) *etree.Element {
	t.Helper()
	sig, err := xmldoc.One(sec, xmldoc.Name{Space: dsig.NS, Local: "Signature"})
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// TestWithContext signs with a context in every combination and has both
// xmlsec1 and our verifier check the result with the key each must use.
func TestWithContext(t *testing.T) {
	oracle.Require(t, "xmlsec1")
	for scName, c := range contexts(t) {
		for _, sv := range soap.Versions {
			for _, derive := range []bool{false, true} {
				for _, method := range []string{dsig.HMACSHA1, dsig.HMACSHA256} {
					name := fmt.Sprintf("%s/%s/derive=%v/%s", scName, sv, derive, method[strings.LastIndex(method, "#")+1:])
					t.Run(name, func(t *testing.T) {
						o := ContextOptions{Options: Options{Now: fixedNow, Rand: rand.Reader, SignBody: derive}, SignatureMethod: method, Derive: derive}
						out, err := WithContext(appEnvelope(t, sv), c, o)
						if err != nil {
							t.Fatal(err)
						}
						if !bytes.Contains(out, c.Token.Fragment.Bytes) {
							t.Fatalf("the token is not sent back byte for byte:\n%s\nwant inside:\n%s", out, c.Token.Fragment.Bytes)
						}
						env := reparse(t, out)
						sec := securityOf(t, env)
						var derived []byte
						keysFor := func(id string) ([]byte, error) {
							if id != c.Token.Identifier {
								return nil, fmt.Errorf("unknown context %q", id)
							}
							return c.Key, nil
						}
						resolve := ContextResolver(sec, c.Version, keysFor)
						v, err := dsig.Verify(env.Root, signatureIn(t, sec), func(ki *etree.Element, m string) (dsig.VerifyingKey, error) {
							k, err := resolve(ki, m)
							if err == nil && derive {
								dkt, _ := xmldoc.One(sec, xmldoc.Name{Space: c.Version.SC(), Local: "DerivedKeyToken"})
								d, _ := wssc.ParseDKT(dkt, c.Version)
								derived, _ = d.Key(c.Key)
							}
							return k, err
						}, dsig.DefaultPolicy)
						if err != nil {
							t.Fatalf("our verifier: %v", err)
						}
						ts, _ := xmldoc.One(sec, wss.NameTimestamp)
						if !v.Covers(ts) || (derive && !v.Covers(env.Body)) {
							t.Fatalf("signed parts %+v miss the Timestamp or Body", v.References)
						}
						key := c.Key
						if derive {
							if len(derived) != 24 {
								t.Fatalf("derived key of %d bytes, want 24", len(derived))
							}
							key = derived
						}
						ids := []string{wss.NSWSU + ":Timestamp", sv.Namespace() + ":Body"}
						if out, ok := oracle.XMLSecVerify(t, env.Bytes(), oracle.Key{HMAC: key}, ids...); !ok {
							t.Fatalf("xmlsec1 rejected the signature:\n%s", out)
						}
						wrong := bytes.Clone(key)
						wrong[0] ^= 0xff
						if out, ok := oracle.XMLSecVerify(t, env.Bytes(), oracle.Key{HMAC: wrong}, ids...); ok {
							t.Fatalf("xmlsec1 accepted another key:\n%s", out)
						}
					})
				}
			}
		}
	}
}

// TestTokenBytesUnchangedWithoutDeclarations checks that the SCT's
// borrowed namespace (wsu on the RSTR in WCF's response) is declared on the
// Security header, so the token's own bytes carry no additions.
func TestTokenBytesUnchangedWithoutDeclarations(t *testing.T) {
	c := contexts(t)["sc-2005-02"]
	if c.Token.Fragment.Bindings["u"] != wss.NSWSU {
		t.Fatalf("fixture changed: bindings %v", c.Token.Fragment.Bindings)
	}
	out, err := WithContext(appEnvelope(t, soap.V12), c, ContextOptions{Options: Options{Now: fixedNow}})
	if err != nil {
		t.Fatal(err)
	}
	raw := string(c.Token.Fragment.Bytes)
	if strings.Count(string(out), raw) != 1 {
		t.Fatalf("token not present exactly once, unchanged:\n%s", out)
	}
}

func TestWithCertificate(t *testing.T) {
	oracle.Require(t, "xmlsec1")
	id := testkit.Client()
	priv, cert, certPEM := id.RSAKey(), id.Cert, id.CertPEM
	for _, sv := range soap.Versions {
		for _, method := range []string{dsig.RSASHA1, dsig.RSASHA256} {
			t.Run(fmt.Sprintf("%s/%s", sv, method[strings.LastIndex(method, "#")+1:]), func(t *testing.T) {
				out, err := WithCertificate(appEnvelope(t, sv), Certificate{Cert: cert, Key: priv, Method: method}, Options{Now: fixedNow})
				if err != nil {
					t.Fatal(err)
				}
				env := reparse(t, out)
				sec := securityOf(t, env)
				bst, err := xmldoc.One(sec, wss.NameBinarySecurityToken)
				if err != nil {
					t.Fatal(err)
				}
				got, err := wss.ParseX509Token(bst)
				if err != nil || !got.Equal(cert) {
					t.Fatalf("BinarySecurityToken does not carry the certificate: %v", err)
				}
				resolve := func(_ *etree.Element, m string) (dsig.VerifyingKey, error) {
					return dsig.RSAVerifyingKey(m, got.PublicKey.(*rsa.PublicKey))
				}
				v, err := dsig.Verify(env.Root, signatureIn(t, sec), resolve, dsig.DefaultPolicy)
				if err != nil {
					t.Fatal(err)
				}
				to, _ := xmldoc.One(env.Header, wsa.V10.Name("To"))
				ts, _ := xmldoc.One(sec, wss.NameTimestamp)
				if !v.Covers(to) || !v.Covers(ts) {
					t.Fatal("Timestamp and To are not both signed")
				}
				ids := []string{wss.NSWSU + ":Timestamp", wsa.NS10 + ":To"}
				if out, ok := oracle.XMLSecVerify(t, env.Bytes(), oracle.Key{CertPEM: certPEM}, ids...); !ok {
					t.Fatalf("xmlsec1 rejected the signature:\n%s", out)
				}
			})
		}
	}
}

func TestWithUsername(t *testing.T) {
	const password = "pa55-w0rd!"
	for _, digest := range []bool{false, true} {
		t.Run(fmt.Sprintf("digest=%v", digest), func(t *testing.T) {
			out, err := WithUsername(appEnvelope(t, soap.V11), "alice", password, digest, Options{Now: fixedNow, Rand: rand.Reader})
			if err != nil {
				t.Fatal(err)
			}
			env := reparse(t, out)
			sec := securityOf(t, env)
			utEl, err := xmldoc.One(sec, wss.NameUsernameToken)
			if err != nil {
				t.Fatal(err)
			}
			ut, err := wss.ParseUsernameToken(utEl)
			if err != nil {
				t.Fatal(err)
			}
			if err := ut.Verify(password); err != nil {
				t.Fatalf("token does not verify with the password: %v", err)
			}
			if err := ut.Verify("other"); !errors.Is(err, wss.ErrBadPassword) {
				t.Fatalf("another password: %v", err)
			}
			if digest == bytes.Contains(out, []byte(password)) {
				t.Fatalf("digest=%v but the clear password presence is %v", digest, !digest)
			}
			tsEl, _ := xmldoc.One(sec, wss.NameTimestamp)
			ts, err := wss.ParseTimestamp(tsEl)
			if err != nil || !ts.Created.Equal(fixedNow()) || ts.Expires.Sub(ts.Created) != DefaultTTL {
				t.Fatalf("timestamp %+v, %v", ts, err)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	c := contexts(t)["sc-2005-02"]
	secured := func() *soap.Envelope {
		env := appEnvelope(t, soap.V12)
		env.EnsureHeader().AddChild(wss.NewSecurityHeader(soap.V12.Namespace()))
		return env
	}
	tests := []struct {
		name string
		run  func() error
		want string
	}{
		{"application supplied a Security header", func() error {
			_, err := WithContext(secured(), c, ContextOptions{Options: Options{Now: fixedNow}})
			return err
		}, ErrAlreadySecured.Error()},
		{"no clock", func() error {
			_, err := WithContext(appEnvelope(t, soap.V12), c, ContextOptions{})
			return err
		}, "no clock"},
		{"no key", func() error {
			_, err := WithContext(appEnvelope(t, soap.V12), Context{Version: c.Version, Token: c.Token}, ContextOptions{Options: Options{Now: fixedNow}})
			return err
		}, "no token or key"},
		{"derived key without randomness", func() error {
			_, err := WithContext(appEnvelope(t, soap.V12), c, ContextOptions{Options: Options{Now: fixedNow}, Derive: true})
			return err
		}, "nonce source"},
		{"unknown signature method", func() error {
			_, err := WithContext(appEnvelope(t, soap.V12), c, ContextOptions{Options: Options{Now: fixedNow}, SignatureMethod: "urn:md5"})
			return err
		}, "not allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestIDsDoNotCollide gives the application body the Ids scproxy would
// use; the signature must still reference exactly one element each.
func TestIDsDoNotCollide(t *testing.T) {
	c := contexts(t)["sc-2005-02"]
	env := appEnvelope(t, soap.V12)
	wss.SetID(env.Body.ChildElements()[0], "_0")
	out, err := WithContext(env, c, ContextOptions{Options: Options{Now: fixedNow, SignBody: true}})
	if err != nil {
		t.Fatal(err)
	}
	back := reparse(t, out)
	sec := securityOf(t, back)
	keysFor := func(string) ([]byte, error) { return c.Key, nil }
	if _, err := dsig.Verify(back.Root, signatureIn(t, sec), ContextResolver(sec, c.Version, keysFor), dsig.DefaultPolicy); err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
}

// TestResolverUnknownContext: a signature naming a context the verifier
// does not know fails with the lookup's error, the server's cue for
// wsc:BadContextToken.
func TestResolverUnknownContext(t *testing.T) {
	c := contexts(t)["sc-1.3"]
	out, err := WithContext(appEnvelope(t, soap.V12), c, ContextOptions{Options: Options{Now: fixedNow}})
	if err != nil {
		t.Fatal(err)
	}
	env := reparse(t, out)
	sec := securityOf(t, env)
	unknown := errors.New("no such context")
	_, err = dsig.Verify(env.Root, signatureIn(t, sec), ContextResolver(sec, c.Version, func(string) ([]byte, error) { return nil, unknown }), dsig.DefaultPolicy)
	if !errors.Is(err, unknown) {
		t.Fatalf("err = %v, want the lookup's error", err)
	}
}
