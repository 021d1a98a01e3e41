package splice_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/splice"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

const (
	ns11 = "http://schemas.xmlsoap.org/soap/envelope/"
	ns12 = "http://www.w3.org/2003/05/soap-envelope"
)

// bodyOf returns the bytes between the Body's start and end tags, found by
// a full parse with spans (an independent path from splice's backwards scan).
func bodyOf(t *testing.T, doc []byte) []byte {
	t.Helper()
	env, err := soap.ParseWith(doc, xmldoc.Options{KeepSpans: true})
	if err != nil {
		t.Fatalf("output does not parse: %v\n%s", err, doc)
	}
	raw, ok := env.Doc.Raw(env.Body)
	if !ok {
		t.Fatal("no span for Body")
	}
	if bytes.HasSuffix(raw, []byte("/>")) && !bytes.Contains(raw, []byte("</")) {
		return nil
	}
	start := bytes.IndexByte(raw, '>') + 1
	end := bytes.LastIndex(raw, []byte("</"))
	return raw[start:end]
}

func TestUnchangedRoundTripKeepsBody(t *testing.T) {
	cases := map[string]string{
		"soap11 no header":    `<soap:Envelope xmlns:soap="` + ns11 + `"><soap:Body><m:Op xmlns:m="urn:m"><a>1</a></m:Op></soap:Body></soap:Envelope>`,
		"soap12 header":       `<e:Envelope xmlns:e="` + ns12 + `"><e:Header><h:X xmlns:h="urn:h">v</h:X></e:Header><e:Body>` + "\n  <m:Op xmlns:m='urn:m' a=\"&lt;&#x41;\"><![CDATA[<not/> & raw]]><!-- c --></m:Op>\n" + `</e:Body></e:Envelope>`,
		"spaces in tails":     `<s:Envelope xmlns:s="` + ns11 + `"><s:Body><x/></s:Body  >` + "\n" + `</s:Envelope >` + "\r\n\t ",
		"self-closed body":    `<s:Envelope xmlns:s="` + ns12 + `"><s:Header/><s:Body/></s:Envelope>`,
		"default ns":          `<Envelope xmlns="` + ns11 + `"><Body><Op xmlns="urn:m">&amp;</Op></Body></Envelope>`,
		"body ends lookalike": `<s:Envelope xmlns:s="` + ns11 + `"><s:Body><x><![CDATA[</s:Body></s:Envelope>]]></x></s:Body></s:Envelope>`,
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			m, err := splice.Read([]byte(in), splice.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Env.Body.ChildElements()) != 0 {
				t.Fatal("Read parsed into the Body")
			}
			out := m.Bytes(nil)
			if got, want := bodyOf(t, out), bodyOf(t, []byte(in)); !bytes.Equal(got, want) {
				t.Fatalf("body changed:\n got %q\nwant %q", got, want)
			}
			if m.BodySize() != len(bodyOf(t, []byte(in))) {
				t.Fatalf("BodySize %d, want %d", m.BodySize(), len(bodyOf(t, []byte(in))))
			}
		})
	}
}

func TestHeaderAddedBeforeUnreadBody(t *testing.T) {
	in := `<soap:Envelope xmlns:soap="` + ns11 + `"><soap:Body><m:Op xmlns:m="urn:m">` + strings.Repeat("<i>x</i>", 1000) + `</m:Op></soap:Body></soap:Envelope>`
	m, err := splice.Read([]byte(in), splice.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := m.Env.EnsureHeader()
	blk := h.CreateElement("t:Block")
	blk.CreateAttr("xmlns:t", "urn:t")
	blk.SetText("added")
	out := m.Bytes(nil)
	env, err := soap.Parse(out, xmldoc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := xmldoc.One(env.Header, xmldoc.Name{Space: "urn:t", Local: "Block"})
	if err != nil || got.Text() != "added" {
		t.Fatalf("header block: %v", err)
	}
	if !bytes.Equal(bodyOf(t, out), bodyOf(t, []byte(in))) {
		t.Fatal("body changed")
	}
}

func TestReadRefuses(t *testing.T) {
	cases := []struct {
		name, in string
		tail     bool
	}{
		{"comment after envelope", `<s:Envelope xmlns:s="` + ns11 + `"><s:Body><x/></s:Body></s:Envelope><!-- t -->`, true},
		{"element after body", `<s:Envelope xmlns:s="` + ns11 + `"><s:Body><x/></s:Body><y/></s:Envelope>`, true},
		{"truncated", `<s:Envelope xmlns:s="` + ns11 + `"><s:Body><x/></s:Body>`, true},
		{"end tags with other prefix", `<s:Envelope xmlns:s="` + ns11 + `" xmlns:t="` + ns11 + `"><s:Body><x/></t:Body></t:Envelope>`, true},
		{"self-closed body then text", `<s:Envelope xmlns:s="` + ns11 + `"><s:Body/>junk</s:Envelope>`, true},
		{"not soap", `<a><b/></a>`, false},
		{"wrong version", `<s:Envelope xmlns:s="urn:x"><s:Body/></s:Envelope>`, false},
		{"no body", `<s:Envelope xmlns:s="` + ns11 + `"><s:Header/></s:Envelope>`, false},
		{"dtd", `<!DOCTYPE x [<!ENTITY a "b">]><s:Envelope xmlns:s="` + ns11 + `"><s:Body/></s:Envelope>`, false},
		{"malformed header", `<s:Envelope xmlns:s="` + ns11 + `"><s:Header><a></b></s:Header><s:Body/></s:Envelope>`, false},
		{"header after body start", `<s:Envelope xmlns:s="` + ns11 + `"><s:Body><x/></s:Body><s:Header/></s:Envelope>`, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := splice.Read([]byte(c.in), splice.Options{})
			if err == nil {
				t.Fatal("accepted")
			}
			if c.tail != errors.Is(err, splice.ErrTail) {
				t.Fatalf("error %v: tail error = %v, want %v", err, errors.Is(err, splice.ErrTail), c.tail)
			}
		})
	}
}

func TestHeadLimitsApply(t *testing.T) {
	deep := strings.Repeat("<a>", 200) + strings.Repeat("</a>", 200)
	in := `<s:Envelope xmlns:s="` + ns11 + `"><s:Header>` + deep + `</s:Header><s:Body/></s:Envelope>`
	_, err := splice.Read([]byte(in), splice.Options{})
	var le *xmldoc.LimitError
	if !errors.As(err, &le) || le.Limit != "MaxDepth" {
		t.Fatalf("got %v, want MaxDepth", err)
	}
	big := `<s:Envelope xmlns:s="` + ns11 + `"><s:Body>` + strings.Repeat("x", 5000) + `</s:Body></s:Envelope>`
	if _, err := splice.Read([]byte(big), splice.Options{Limits: xmldoc.Limits{MaxBytes: 4096}}); !errors.As(err, &le) || le.Limit != "MaxBytes" {
		t.Fatalf("got %v, want MaxBytes", err)
	}
}

func TestConvert(t *testing.T) {
	in := `<soap:Envelope xmlns:soap="` + ns11 + `"><soap:Header>` +
		`<h:A xmlns:h="urn:h" soap:mustUnderstand="1" soap:actor="http://schemas.xmlsoap.org/soap/actor/next">a</h:A>` +
		`<h:B xmlns:h="urn:h" soap:mustUnderstand="0">b</h:B>` +
		`</soap:Header><soap:Body><m:Op xmlns:m="urn:m"><soap:Inner/></m:Op></soap:Body></soap:Envelope>`
	m, err := splice.Read([]byte(in), splice.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Convert(soap.V12); err != nil {
		t.Fatal(err)
	}
	out := m.Bytes(nil)
	env, err := soap.Parse(out, xmldoc.Limits{})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if env.Version != soap.V12 {
		t.Fatalf("version %v", env.Version)
	}
	a, _ := xmldoc.One(env.Header, xmldoc.Name{Space: "urn:h", Local: "A"})
	if v, _ := xmldoc.Attr(a, xmldoc.Name{Space: ns12, Local: "mustUnderstand"}); v != "true" {
		t.Errorf("A mustUnderstand %q, want true\n%s", v, out)
	}
	if v, _ := xmldoc.Attr(a, xmldoc.Name{Space: ns12, Local: "role"}); v != "http://www.w3.org/2003/05/soap-envelope/role/next" {
		t.Errorf("A role %q\n%s", v, out)
	}
	b, _ := xmldoc.One(env.Header, xmldoc.Name{Space: "urn:h", Local: "B"})
	for _, at := range b.Attr {
		if at.NamespaceURI() == ns11 || at.NamespaceURI() == ns12 {
			t.Errorf("B keeps %s:%s", at.Space, at.Key)
		}
	}
	// Content inside the Body keeps its own meaning: soap:Inner is still
	// in the SOAP 1.1 namespace.
	op := env.Body.ChildElements()[0]
	if inner := op.ChildElements()[0]; inner.NamespaceURI() != ns11 {
		t.Errorf("body content moved to %q", inner.NamespaceURI())
	}
	if !bytes.Equal(bodyOf(t, out), bodyOf(t, []byte(in))) {
		t.Fatal("body bytes changed")
	}

	// And back: 1.2 to 1.1.
	m2, err := splice.Read(out, splice.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m2.Convert(soap.V11); err != nil {
		t.Fatal(err)
	}
	env2, err := soap.Parse(m2.Bytes(nil), xmldoc.Limits{})
	if err != nil || env2.Version != soap.V11 {
		t.Fatalf("back to 1.1: %v", err)
	}
	a2, _ := xmldoc.One(env2.Header, xmldoc.Name{Space: "urn:h", Local: "A"})
	if v, _ := xmldoc.Attr(a2, xmldoc.Name{Space: ns11, Local: "mustUnderstand"}); v != "1" {
		t.Errorf("mustUnderstand %q, want 1", v)
	}
	if v, _ := xmldoc.Attr(a2, xmldoc.Name{Space: ns11, Local: "actor"}); v != "http://schemas.xmlsoap.org/soap/actor/next" {
		t.Errorf("actor %q", v)
	}
}

func TestConvertRefusesRoleNone(t *testing.T) {
	in := `<e:Envelope xmlns:e="` + ns12 + `"><e:Header><h:A xmlns:h="urn:h" e:role="http://www.w3.org/2003/05/soap-envelope/role/none"/></e:Header><e:Body/></e:Envelope>`
	m, err := splice.Read([]byte(in), splice.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Convert(soap.V11); err == nil {
		t.Fatal("role none converted to SOAP 1.1")
	}
}

func TestConvertDefaultNamespaceEnvelope(t *testing.T) {
	in := `<Envelope xmlns="` + ns11 + `"><Body><Op xmlns="urn:m"/></Body></Envelope>`
	m, err := splice.Read([]byte(in), splice.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Convert(soap.V12); err != nil {
		t.Fatal(err)
	}
	env, err := soap.Parse(m.Bytes(nil), xmldoc.Limits{})
	if err != nil || env.Version != soap.V12 {
		t.Fatalf("%v", err)
	}
}

func TestPayloadName(t *testing.T) {
	fault := `<s:Envelope xmlns:s="` + ns12 + `"><s:Header><x:H xmlns:x="urn:x"/></s:Header><s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value></s:Code><s:Reason><s:Text xml:lang="en">r</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>`
	m, err := splice.Read([]byte(fault), splice.Options{Payload: true})
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := m.PayloadName(); !ok || n != (xmldoc.Name{Space: ns12, Local: "Fault"}) {
		t.Fatalf("payload %v %v", n, ok)
	}
	// The payload is not written twice.
	m.Env.Root.RemoveChild(m.Env.Header)
	m.Env.Header = nil
	out := m.Bytes(nil)
	if strings.Count(string(out), "Fault>") != 2 || strings.Contains(string(out), "urn:x") {
		t.Fatalf("output %s", out)
	}
	empty := `<s:Envelope xmlns:s="` + ns12 + `"><s:Body>  </s:Body></s:Envelope>`
	m, err = splice.Read([]byte(empty), splice.Options{Payload: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.PayloadName(); ok || !m.Complete() {
		t.Fatal("empty body has a payload")
	}
}

// TestBodyCostIndependentOfSize: the head parse does not read the Body:
// a 1 MiB body made of one unterminated-looking text is never tokenized.
func TestBodyNotTokenized(t *testing.T) {
	// Malformed content inside the Body is not Read's business: it is the
	// application's payload and the service's to judge.
	in := `<s:Envelope xmlns:s="` + ns11 + `"><s:Body><a><b></a></s:Body></s:Envelope>`
	m, err := splice.Read([]byte(in), splice.Options{})
	if err != nil {
		t.Fatalf("Read tokenized the Body: %v", err)
	}
	if !bytes.Contains(m.Bytes(nil), []byte("<a><b></a>")) {
		t.Fatal("body not carried")
	}
}
