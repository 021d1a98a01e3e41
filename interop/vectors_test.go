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
	"regexp"
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

// contextKey is one key of a context of a recorded run: the Issue's,
// then each accepted Renew's (the same identifier, a new key). It keeps
// the entropy the key was computed from (WS-Trust combined entropy,
// P_SHA1, 256 bits), the exchange that obtained it and the requests
// signed with it.
type contextKey struct {
	Identifier    string `json:"identifier"`
	Obtained      string `json:"obtained"`
	ClientEntropy string `json:"client_entropy"`
	ServerEntropy string `json:"server_entropy"`
	Key           string `json:"key"`
	// Secures lists the requests signed with the key, in order: the
	// messages sent while it was the context's key, and the Renew that
	// replaced it (its endorsing signature).
	Secures []string `json:"secures"`
}

// TestCXFVectors checks the recorded exchanges: every signature in them
// (the proxy's HMAC signatures on messages, Renew and Cancel, each with
// its context's key current when it was sent: the Issue's, then each
// accepted Renew's; the RSA signatures of the X.509 bootstrap) verifies
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
		if st, err := os.Stat(dir); err != nil || !st.IsDir() || filepath.Base(dir) == "message" {
			continue // message/: TestCXFMessageVectors's
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
	current := map[string]int{} // identifier -> index in ctxs of its key
	for i, x := range xs {
		base := fmt.Sprintf("%02d-%s", i+1, strings.ToLower(x.Op))
		write(t, filepath.Join(dir, base+"-request.xml"), x.Request)
		write(t, filepath.Join(dir, base+"-response.xml"), x.Response)
		for _, id := range []string{x.Used, x.Target} {
			if c, ok := current[id]; ok && id != "" {
				ctxs[c].Secures = append(ctxs[c].Secures, base+"-request.xml")
			}
		}
		if x.Issued == "" {
			continue
		}
		ce := entropy(t, x.Request)
		se := entropy(t, x.Response)
		k, err := keys.Combined(b64(t, ce), b64(t, se), 256)
		if err != nil {
			t.Fatal(err)
		}
		current[x.Issued] = len(ctxs)
		ctxs = append(ctxs, contextKey{Identifier: x.Issued, Obtained: base, ClientEntropy: ce, ServerEntropy: se, Key: base64.StdEncoding.EncodeToString(k)})
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

// verifyVectors checks one recorded run: each key is P_SHA1 of the
// entropies of the exchange that obtained it, each request's signatures
// verify with their keys (a context's key being the one current when the
// request was sent), and the run holds an Issue, an accepted Renew with a
// message secured by the new key after it, and a Cancel.
func verifyVectors(t *testing.T, dir string) {
	var ctxs []contextKey
	if err := json.Unmarshal(readFile(t, filepath.Join(dir, "keys.json")), &ctxs); err != nil {
		t.Fatal(err)
	}
	obtained := map[string][]int{} // exchange -> the keys it obtained
	for i, c := range ctxs {
		k, err := keys.Combined(b64(t, c.ClientEntropy), b64(t, c.ServerEntropy), 256)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(k, b64(t, c.Key)) {
			t.Fatalf("context %s (%s): P_SHA1 of its entropies is not the recorded key", c.Identifier, c.Obtained)
		}
		if ce := entropy(t, string(readFile(t, filepath.Join(dir, c.Obtained+"-request.xml")))); ce != c.ClientEntropy {
			t.Errorf("context %s: %s-request.xml sends entropy %s, not the recorded one", c.Identifier, c.Obtained, ce)
		}
		if se := entropy(t, string(readFile(t, filepath.Join(dir, c.Obtained+"-response.xml")))); se != c.ServerEntropy {
			t.Errorf("context %s: %s-response.xml answers entropy %s, not the recorded one", c.Identifier, c.Obtained, se)
		}
		obtained[c.Obtained] = append(obtained[c.Obtained], i)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*-request.xml"))
	sort.Strings(files)
	ops := map[string]int{}
	current := map[string]int{} // identifier -> index in ctxs of its key
	renewedUse := 0             // messages secured by a renewed key
	for _, f := range files {
		name := filepath.Base(f)
		base := strings.TrimSuffix(name, "-request.xml")
		op := strings.SplitN(base, "-", 2)[1]
		ops[op]++
		src := readFile(t, f)
		root := parseDoc(t, src)
		sigs := findSignatures(root)
		if len(sigs) == 0 && (op != "issue" || !strings.Contains(string(src), "UsernameToken")) {
			t.Errorf("%s: no signature", name)
		}
		var byContext bool
		for n, sig := range sigs {
			key, id, err := signingKey(root, sig, ctxs, current)
			if err != nil {
				t.Fatalf("%s, signature %d: %v", name, n+1, err)
			}
			if id != "" {
				byContext = true
				c := ctxs[current[id]]
				if !contains(c.Secures, name) {
					t.Errorf("%s is signed with the key of %s from %s, which keys.json does not list it as securing", name, id, c.Obtained)
				}
				if op == "app" && strings.HasSuffix(c.Obtained, "-renew") {
					renewedUse++
				}
			}
			t.Run(fmt.Sprintf("%s/%d", name, n+1), func(t *testing.T) { checkSignature(t, src, n, key) })
		}
		if op == "renew" && (!byContext || !strings.Contains(string(src), "UsernameToken") && !strings.Contains(string(src), "BinarySecurityToken")) {
			t.Errorf("%s: want the bootstrap credential endorsed by the context's key", name)
		}
		for _, i := range obtained[base] {
			if _, ok := current[ctxs[i].Identifier]; op == "renew" && !ok {
				t.Errorf("%s renewed context %s, which no Issue returned", name, ctxs[i].Identifier)
			}
			current[ctxs[i].Identifier] = i
		}
	}
	for i, c := range ctxs {
		for _, f := range c.Secures {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Errorf("key %d of %s secures %s: %v", i+1, c.Identifier, f, err)
			}
		}
	}
	if ops["issue"] < 1 || ops["renew"] < 1 || ops["app"] < 2 || ops["cancel"] < 1 || renewedUse < 1 {
		t.Errorf("recorded operations %v, %d messages with a renewed key: want an Issue, a Renew, 2 messages (one with the renewed key), a Cancel", ops, renewedUse)
	}
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// findSignatures returns the Signatures of a message, in document order.
func findSignatures(root *etree.Element) []*etree.Element {
	var sigs []*etree.Element
	xmldoc.Walk(root, func(el *etree.Element) {
		if xmldoc.Is(el, xmldoc.Name{Space: nsDS, Local: "Signature"}) {
			sigs = append(sigs, el)
		}
	})
	return sigs
}

// verifyKey is a signature's key for both verifiers.
type verifyKey struct {
	hmac []byte
	cert *x509.Certificate
}

// signingKey finds the key of sig from the token its KeyInfo references:
// the current key (in current, an index into ctxs) of the
// SecurityContextToken's context, whose identifier it also returns, or
// the certificate of a BinarySecurityToken.
func signingKey(root, sig *etree.Element, ctxs []contextKey, current map[string]int) (verifyKey, string, error) {
	var uri string
	xmldoc.Walk(sig, func(el *etree.Element) {
		if uri == "" && xmldoc.Is(el, xmldoc.Name{Space: nsWSSE, Local: "Reference"}) {
			uri, _ = xmldoc.Attr(el, xmldoc.Name{Local: "URI"})
		}
	})
	if uri == "" {
		return verifyKey{}, "", errors.New("no token reference in the signature's KeyInfo")
	}
	var tok *etree.Element
	xmldoc.Walk(root, func(el *etree.Element) {
		if tok != nil || !strings.HasPrefix(uri, "#") {
			return
		}
		for _, a := range el.Attr {
			if a.Key == "Id" && a.Value == uri[1:] {
				tok = el
			}
		}
	})
	var id string
	switch {
	case tok == nil && !strings.HasPrefix(uri, "#"):
		id = uri // a context named by its identifier
	case tok == nil:
		return verifyKey{}, "", fmt.Errorf("no token with Id %s", uri[1:])
	case xmldoc.Is(tok, xmldoc.Name{Space: nsWSSE, Local: "BinarySecurityToken"}):
		if v, _ := xmldoc.Attr(tok, xmldoc.Name{Local: "ValueType"}); v != x509v3 {
			return verifyKey{}, "", fmt.Errorf("binary token of type %s", v)
		}
		der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(xmldoc.Text(tok)))
		if err != nil {
			return verifyKey{}, "", err
		}
		cert, err := x509.ParseCertificate(der)
		return verifyKey{cert: cert}, "", err
	default:
		for _, ns := range []string{nsSC2005, nsSC13} {
			if xmldoc.Is(tok, xmldoc.Name{Space: ns, Local: "SecurityContextToken"}) {
				for _, c := range tok.ChildElements() {
					if xmldoc.Is(c, xmldoc.Name{Space: ns, Local: "Identifier"}) {
						id = xmldoc.Text(c)
					}
				}
			}
		}
		if id == "" {
			return verifyKey{}, "", fmt.Errorf("the signature's token %s is neither a certificate nor a context", tok.Tag)
		}
	}
	i, ok := current[id]
	if !ok {
		return verifyKey{}, "", fmt.Errorf("no recorded key for context %s", id)
	}
	return verifyKey{hmac: b64key(ctxs[i].Key)}, id, nil
}

func b64key(s string) []byte {
	b, _ := base64.StdEncoding.DecodeString(s) // checked against its entropies before use
	return b
}

// checkSignature verifies the n-th signature of src with xmlsec1 and with
// wire/dsig, then makes sure both refuse it with the Timestamp's Created
// changed.
func checkSignature(t *testing.T, src []byte, n int, k verifyKey) {
	ids := []string{nsWSU + ":Timestamp", nsWSA10 + ":To"}
	key := oracle.Key{HMAC: k.hmac}
	if k.hmac == nil {
		key = oracle.Key{CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.cert.Raw})}
	}
	if out, good := oracle.XMLSecVerify(t, onlySignature(t, src, n), key, ids...); !good {
		t.Errorf("xmlsec1 rejects the recorded signature:\n%s", out)
	}
	if err := verifyOwn(t, src, n, k); err != nil {
		t.Errorf("scproxy's verifier rejects the recorded signature: %v", err)
	}
	bad := tamperCreated(t, src)
	if out, good := oracle.XMLSecVerify(t, onlySignature(t, bad, n), key, ids...); good {
		t.Errorf("xmlsec1 accepts a tampered Timestamp:\n%s", out)
	}
	if err := verifyOwn(t, bad, n, k); err == nil {
		t.Errorf("scproxy's verifier accepts a tampered Timestamp")
	}
}

// sigElement matches one whole Signature element (they do not nest).
var sigElement = regexp.MustCompile(`(?s)<(?:[A-Za-z_][\w.-]*:)?Signature[\s>].*?</(?:[A-Za-z_][\w.-]*:)?Signature>`)

// onlySignature returns src without its Signatures other than the n-th,
// so that xmlsec1, which verifies the first Signature it finds, checks
// the n-th. The signatures cover the Timestamp and To, never each other.
func onlySignature(t *testing.T, src []byte, n int) []byte {
	t.Helper()
	locs := sigElement.FindAllIndex(src, -1)
	if len(locs) != len(findSignatures(parseDoc(t, src))) || n >= len(locs) {
		t.Fatalf("%d Signature elements by text, %d parsed, want the %d-th", len(locs), len(findSignatures(parseDoc(t, src))), n+1)
	}
	var out []byte
	prev := 0
	for i, l := range locs {
		if i == n {
			continue
		}
		out = append(out, src[prev:l[0]]...)
		prev = l[1]
	}
	return append(out, src[prev:]...)
}

func verifyOwn(t *testing.T, src []byte, n int, k verifyKey) error {
	root := parseDoc(t, src)
	sig := findSignatures(root)[n]
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
