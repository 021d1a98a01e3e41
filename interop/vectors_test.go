package interop

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/internal/oracle"
	"github.com/scproxy/scproxy/session"
	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/keys"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

var update = flag.Bool("update", false, "record testdata/vectors/cxf anew from a run against the CXF peer")

// vectorDir holds the recorded exchanges with the CXF service.
const vectorDir = "../testdata/vectors/cxf"

const (
	nsDS   = "http://www.w3.org/2000/09/xmldsig#"
	x509v3 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
)

// vectorScenarios are the recorded runs: each bootstrap in each WS-SC
// version, both SOAP versions among them.
func vectorScenarios() []scenario {
	return []scenario{
		{policy: "ut", version: "2005", soap12: false, scVersion: "2005-02", bootstrap: "username"},
		{policy: "ut", version: "13", soap12: true, scVersion: "1.3", bootstrap: "username"},
		{policy: "x509", version: "2005", soap12: true, scVersion: "2005-02", bootstrap: "certificate"},
		{policy: "x509", version: "13", soap12: false, scVersion: "1.3", bootstrap: "certificate"},
	}
}

func (s scenario) vectorName() string {
	return strings.ReplaceAll(strings.TrimPrefix(s.path(), "/"), "/", "-")
}

// contextKey is one context of a recorded run and the entropy its key
// was computed from (WS-Trust combined entropy, P_SHA1, 256 bits).
type contextKey struct {
	Identifier    string `json:"identifier"`
	ClientEntropy string `json:"client_entropy"`
	ServerEntropy string `json:"server_entropy"`
	Key           string `json:"key"`
}

// TestCXFVectors checks the recorded exchanges: every signature in them
// (the proxy's HMAC signatures with each context's key on messages,
// Renew and Cancel; the RSA signatures of the X.509 bootstrap) verifies
// with xmlsec1 and with scproxy's own verifier, and neither accepts a
// tampered Timestamp. With -update it first records them anew.
func TestCXFVectors(t *testing.T) {
	if *update {
		setup(t)
		for _, sc := range vectorScenarios() {
			record(t, sc)
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(vectorDir, "*"))
	var n int
	for _, dir := range dirs {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			continue
		}
		n++
		t.Run(filepath.Base(dir), func(t *testing.T) { verifyVectors(t, dir) })
	}
	if n != len(vectorScenarios()) {
		t.Fatalf("%d recorded runs under %s, want %d", n, vectorDir, len(vectorScenarios()))
	}
}

// record runs one scenario's life (establish, a message, a renewal, a
// message, shutdown) and writes the service's view of it.
func record(t *testing.T, sc scenario) {
	wire := shared.peer.WireLog
	from := wireSize(t, wire)
	px := startProxy(t, append(sc.args(), "--rollover", "1m")...)
	if err := px.echo(t, sc.appSOAP12(), echoElement(1, 400)); err != nil {
		t.Fatal(err)
	}
	px.waitStatus(t, 3*peerLifetime, "a proactive renewal", func(s session.Status) bool { return s.Renewals+s.Establishes >= 2 })
	if err := px.echo(t, sc.appSOAP12(), echoElement(2, 400)); err != nil {
		t.Fatal(err)
	}
	px.shutdown(t)
	xs := only(readWire(t, wire, from), sc.path())
	dir := filepath.Join(vectorDir, sc.vectorName())
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var ctxs []contextKey
	for i, x := range xs {
		base := fmt.Sprintf("%02d-%s", i+1, strings.ToLower(x.Op))
		write(t, filepath.Join(dir, base+"-request.xml"), x.Request)
		write(t, filepath.Join(dir, base+"-response.xml"), x.Response)
		if x.Issued == "" {
			continue
		}
		ce := entropy(t, x.Request)
		se := entropy(t, x.Response)
		k, err := keys.Combined(b64(t, ce), b64(t, se), 256)
		if err != nil {
			t.Fatal(err)
		}
		ctxs = append(ctxs, contextKey{Identifier: x.Issued, ClientEntropy: ce, ServerEntropy: se, Key: base64.StdEncoding.EncodeToString(k)})
	}
	b, _ := json.MarshalIndent(ctxs, "", "  ")
	write(t, filepath.Join(dir, "keys.json"), string(b)+"\n")
	t.Logf("recorded %d exchanges of %s into %s", len(xs), sc.name(), dir)
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// entropy returns the text of the wst:Entropy/wst:BinarySecret of a
// WS-Trust request or answer (either version).
func entropy(t *testing.T, msg string) string {
	t.Helper()
	d := parseDoc(t, []byte(msg))
	var out string
	xmldoc.Walk(d, func(el *etree.Element) {
		for _, ns := range []string{nsTrust2005, nsTrust13} {
			if xmldoc.Is(el, xmldoc.Name{Space: ns, Local: "BinarySecret"}) && el.Parent() != nil &&
				xmldoc.Is(el.Parent(), xmldoc.Name{Space: ns, Local: "Entropy"}) {
				out = xmldoc.Text(el)
			}
		}
	})
	if out == "" {
		t.Fatalf("no Entropy in %s", trim(msg))
	}
	return out
}

func parseDoc(t *testing.T, src []byte) *etree.Element {
	t.Helper()
	d, err := xmldoc.Parse(src, xmldoc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Root()
}

// verifyVectors checks one recorded run.
func verifyVectors(t *testing.T, dir string) {
	var ctxs []contextKey
	if err := json.Unmarshal(readFile(t, filepath.Join(dir, "keys.json")), &ctxs); err != nil {
		t.Fatal(err)
	}
	byID := map[string][]byte{}
	for _, c := range ctxs {
		k, err := keys.Combined(b64(t, c.ClientEntropy), b64(t, c.ServerEntropy), 256)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(k, b64(t, c.Key)) {
			t.Fatalf("context %s: P_SHA1 of its entropies is not the recorded key", c.Identifier)
		}
		byID[c.Identifier] = k
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*-request.xml"))
	sort.Strings(files)
	ops := map[string]int{}
	for _, f := range files {
		op := strings.TrimSuffix(strings.SplitN(filepath.Base(f), "-", 2)[1], "-request.xml")
		ops[op]++
		src := readFile(t, f)
		root := parseDoc(t, src)
		sig := findSignature(root)
		if sig == nil {
			if op != "issue" || !strings.Contains(string(src), "UsernameToken") {
				t.Errorf("%s: no signature", filepath.Base(f))
			}
			continue
		}
		key, err := signingKey(root, sig, byID)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(f), err)
		}
		t.Run(filepath.Base(f), func(t *testing.T) { checkSignature(t, src, key) })
	}
	if ops["issue"] < 2 || ops["renew"] < 1 || ops["app"] < 2 || ops["cancel"] < 2 {
		t.Errorf("recorded operations %v: want at least 2 Issue, 1 Renew, 2 messages, 2 Cancel", ops)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func findSignature(root *etree.Element) *etree.Element {
	var sig *etree.Element
	xmldoc.Walk(root, func(el *etree.Element) {
		if sig == nil && xmldoc.Is(el, xmldoc.Name{Space: nsDS, Local: "Signature"}) {
			sig = el
		}
	})
	return sig
}

// verifyKey is a signature's key for both verifiers.
type verifyKey struct {
	hmac []byte
	cert *x509.Certificate
}

// signingKey finds the key of sig: the context key of the SCT in the
// message, or the certificate of its BinarySecurityToken.
func signingKey(root, sig *etree.Element, byID map[string][]byte) (verifyKey, error) {
	var k verifyKey
	var err error
	xmldoc.Walk(root, func(el *etree.Element) {
		switch {
		case xmldoc.Is(el, xmldoc.Name{Space: nsSC2005, Local: "Identifier"}) || xmldoc.Is(el, xmldoc.Name{Space: nsSC13, Local: "Identifier"}):
			if el.Parent() != nil && el.Parent().Parent() != nil && el.Parent().Parent().Tag == "Security" && k.hmac == nil {
				if key, ok := byID[xmldoc.Text(el)]; ok {
					k.hmac = key
				} else {
					err = fmt.Errorf("no recorded key for context %s", xmldoc.Text(el))
				}
			}
		case xmldoc.Is(el, xmldoc.Name{Space: nsWSSE, Local: "BinarySecurityToken"}):
			if v, _ := xmldoc.Attr(el, xmldoc.Name{Local: "ValueType"}); v == x509v3 {
				der, e := base64.StdEncoding.DecodeString(strings.TrimSpace(xmldoc.Text(el)))
				if e == nil {
					k.cert, e = x509.ParseCertificate(der)
				}
				if e != nil {
					err = e
				}
			}
		}
	})
	if err == nil && k.hmac == nil && k.cert == nil {
		err = errors.New("no key for the signature")
	}
	return k, err
}

// checkSignature verifies src with xmlsec1 and with wire/dsig, then makes
// sure both refuse it with the Timestamp's Created changed.
func checkSignature(t *testing.T, src []byte, k verifyKey) {
	ids := []string{nsWSU + ":Timestamp", nsWSA10 + ":To"}
	key := oracle.Key{HMAC: k.hmac}
	if k.hmac == nil {
		key = oracle.Key{CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.cert.Raw})}
	}
	if out, good := oracle.XMLSecVerify(t, src, key, ids...); !good {
		t.Errorf("xmlsec1 rejects the recorded signature:\n%s", out)
	}
	if err := verifyOwn(t, src, k); err != nil {
		t.Errorf("scproxy's verifier rejects the recorded signature: %v", err)
	}
	bad := tamperCreated(t, src)
	if out, good := oracle.XMLSecVerify(t, bad, key, ids...); good {
		t.Errorf("xmlsec1 accepts a tampered Timestamp:\n%s", out)
	}
	if err := verifyOwn(t, bad, k); err == nil {
		t.Errorf("scproxy's verifier accepts a tampered Timestamp")
	}
}

func verifyOwn(t *testing.T, src []byte, k verifyKey) error {
	root := parseDoc(t, src)
	sig := findSignature(root)
	resolve := func(_ *etree.Element, m string) (dsig.VerifyingKey, error) {
		if k.hmac != nil {
			return dsig.HMACKey(m, k.hmac)
		}
		pub, ok := k.cert.PublicKey.(*rsa.PublicKey)
		if !ok {
			return nil, errors.New("not an RSA certificate")
		}
		return dsig.RSAVerifyingKey(m, pub)
	}
	v, err := dsig.Verify(root, sig, resolve, dsig.DefaultPolicy)
	if err != nil {
		return err
	}
	for _, r := range v.References {
		if xmldoc.Is(r.Element, xmldoc.Name{Space: nsWSU, Local: "Timestamp"}) {
			return nil
		}
	}
	return errors.New("the signature does not cover the Timestamp")
}

// tamperCreated moves the Timestamp's Created one second on.
func tamperCreated(t *testing.T, src []byte) []byte {
	t.Helper()
	s := string(src)
	i := strings.Index(s, "Created>")
	if i < 0 {
		t.Fatal("no Created")
	}
	i += len("Created>")
	j := strings.Index(s[i:], "<")
	ts, err := time.Parse(time.RFC3339Nano, s[i:i+j])
	if err != nil {
		t.Fatal(err)
	}
	return []byte(s[:i] + ts.Add(time.Second).UTC().Format("2006-01-02T15:04:05.000Z") + s[i+j:])
}
