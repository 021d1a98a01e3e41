package soap

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The vectors are real WCF, CoreWCF, Mono and WSS4J messages: every one must
// parse as a SOAP 1.2 envelope with the payload the file name promises.
func TestParseVectors(t *testing.T) {
	tests := []struct {
		file    string
		payload xmldoc.Name
	}{
		{"corewcf/app-request.xml", xmldoc.Name{Space: "http://tempuri.org/", Local: "EchoString"}},
		{"corewcf/cancel-request.xml", xmldoc.Name{Space: "http://schemas.xmlsoap.org/ws/2005/02/trust", Local: "RequestSecurityToken"}},
		{"corewcf/issue-request.pretty.xml", xmldoc.Name{Space: "http://schemas.xmlsoap.org/ws/2005/02/trust", Local: "RequestSecurityToken"}},
		{"corewcf/issue-response.pretty.xml", xmldoc.Name{Space: "http://schemas.xmlsoap.org/ws/2005/02/trust", Local: "RequestSecurityTokenResponse"}},
		{"corewcf/app-response.pretty.xml", xmldoc.Name{Space: "http://tempuri.org/", Local: "EchoStringResponse"}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			env, err := Parse(readFile(t, filepath.Join("../../testdata/vectors", tc.file)), xmldoc.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if env.Version != V12 {
				t.Errorf("version = %v, want SOAP 1.2", env.Version)
			}
			if env.Header == nil || !xmldoc.Is(env.Header, V12.Name("Header")) {
				t.Errorf("header not found")
			}
			p, err := env.Payload()
			if err != nil {
				t.Fatal(err)
			}
			if got := xmldoc.NameOf(p); got != tc.payload {
				t.Errorf("payload = %v, want %v", got, tc.payload)
			}
			if f, err := env.Fault(); f != nil || err != nil {
				t.Errorf("Fault() = %v, %v on a non-fault", f, err)
			}
		})
	}
}

// Every other stored vector parses too (SOAP 1.2 with a Body).
func TestParseAllVectors(t *testing.T) {
	files, _ := filepath.Glob("../../testdata/vectors/*/*.xml")
	more, _ := filepath.Glob("../../testdata/vectors/*/*/*.xml")
	files = append(files, more...)
	if len(files) < 10 {
		t.Fatalf("found only %d vectors", len(files))
	}
	for _, f := range files {
		env, err := ParseWith(readFile(t, f), xmldoc.Options{KeepSpans: true})
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if raw, ok := env.Doc.Raw(env.Body); !ok || !bytes.HasSuffix(raw, []byte("Body>")) {
			t.Errorf("%s: raw body bytes not kept", f)
		}
	}
}

func TestParseVersions(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want Version
	}{
		{"soap11", `<e:Envelope xmlns:e="` + NS11 + `"><e:Body/></e:Envelope>`, V11},
		{"soap12", `<e:Envelope xmlns:e="` + NS12 + `"><e:Body/></e:Envelope>`, V12},
		{"default namespace", `<Envelope xmlns="` + NS12 + `"><Header/><Body/></Envelope>`, V12},
		{"whitespace and comments", "<?xml version=\"1.0\"?>\n<e:Envelope xmlns:e=\"" + NS11 + "\">\n <!-- c -->\n <e:Body>\n </e:Body>\n</e:Envelope>\n", V11},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, err := Parse([]byte(tc.src), xmldoc.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if env.Version != tc.want {
				t.Errorf("version = %v, want %v", env.Version, tc.want)
			}
		})
	}
}

// Each negative fixture fails with its own, specific error.
func TestParseNegativeFixtures(t *testing.T) {
	var (
		version   *VersionError
		notFound  *xmldoc.NotFoundError
		duplicate *xmldoc.DuplicateError
		syntax    *xmldoc.SyntaxError
	)
	tests := []struct {
		file  string
		check func(error) bool
		want  string // substring of the message
	}{
		{"unknown-namespace.xml", func(err error) bool { return errors.As(err, &version) }, `"http://www.w3.org/2003/05/soap-envelopes"`},
		{"misspelled-11-namespace.xml", func(err error) bool { return errors.As(err, &version) }, `"http://schemas.xmlsoap.org/soap/envelop/"`},
		{"no-namespace.xml", func(err error) bool { return errors.As(err, &version) && version.Namespace == "" }, "not SOAP"},
		{"not-envelope.xml", func(err error) bool { return errors.Is(err, ErrNotEnvelope) }, "Message"},
		{"missing-body.xml", func(err error) bool { return errors.As(err, &notFound) && notFound.WrongSpace == "" }, "missing"},
		{"body-wrong-version.xml", func(err error) bool { return errors.As(err, &notFound) && notFound.WrongSpace == NS11 }, NS11},
		{"two-bodies.xml", func(err error) bool { return errors.As(err, &duplicate) && duplicate.Want.Local == "Body" }, "2 times"},
		{"two-headers.xml", func(err error) bool { return errors.As(err, &duplicate) && duplicate.Want.Local == "Header" }, "2 times"},
		{"header-after-body.xml", func(err error) bool { return errors.Is(err, ErrHeaderAfterBody) }, "after Body"},
		{"trailing-element-11.xml", func(err error) bool { return errors.Is(err, ErrUnexpectedElement) }, "{urn:x}Trailer"},
		{"element-before-body.xml", func(err error) bool { return errors.Is(err, ErrUnexpectedElement) }, "{urn:x}Before"},
		{"text-in-envelope.xml", func(err error) bool { return errors.Is(err, ErrText) }, "Envelope"},
		{"text-in-body.xml", func(err error) bool { return errors.Is(err, ErrText) }, "Body"},
		{"processing-instruction.xml", func(err error) bool { return errors.Is(err, ErrProcInst) }, "target"},
		{"dtd.xml", func(err error) bool { return errors.Is(err, xmldoc.ErrDTD) }, "document type"},
		{"malformed.xml", func(err error) bool { return errors.As(err, &syntax) }, "malformed"},
		{"unbound-element-prefix.xml", func(err error) bool { return errors.As(err, &syntax) }, `"p"`},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			env, err := Parse(readFile(t, filepath.Join("testdata/bad", tc.file)), xmldoc.Limits{})
			if err == nil {
				t.Fatalf("parsed: %s", env.Bytes())
			}
			if !tc.check(err) {
				t.Errorf("wrong error type: %v (%T)", err, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

// Limits are enforced while parsing, and the error names the limit.
func TestParseLimits(t *testing.T) {
	open := `<s:Envelope xmlns:s="` + NS12 + `"><s:Body>`
	close := `</s:Body></s:Envelope>`
	tests := []struct {
		name  string
		src   string
		lim   xmldoc.Limits
		limit string
	}{
		{"too deep", open + strings.Repeat("<a>", 20) + strings.Repeat("</a>", 20) + close, xmldoc.Limits{MaxDepth: 10}, "MaxDepth"},
		{"too many elements", open + strings.Repeat("<a/>", 50) + close, xmldoc.Limits{MaxElements: 20}, "MaxElements"},
		{"too many attributes", open + "<a" + attrs("x", 10, "") + "/>" + close, xmldoc.Limits{MaxAttributes: 5}, "MaxAttributes"},
		{"too many namespace declarations", open + "<a" + attrs("xmlns:p", 10, "urn:") + "/>" + close, xmldoc.Limits{MaxNamespaceDecls: 5}, "MaxNamespaceDecls"},
		{"oversized body", open + strings.Repeat("x", 2000) + close, xmldoc.Limits{MaxBytes: 1024}, "MaxBytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.src), tc.lim)
			var le *xmldoc.LimitError
			if !errors.As(err, &le) || le.Limit != tc.limit {
				t.Fatalf("err = %v, want limit %s", err, tc.limit)
			}
			if !strings.Contains(err.Error(), tc.limit) {
				t.Errorf("error %q does not name the limit", err)
			}
			// The same document is fine without the tight limit, so the
			// limit is what refused it.
			if _, err := Parse([]byte(tc.src), xmldoc.Limits{}); err != nil && !errors.Is(err, ErrText) {
				t.Errorf("default limits: %v", err)
			}
		})
	}
}

func attrs(prefix string, n int, valuePrefix string) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(" " + prefix + string(rune('a'+i)) + `="` + valuePrefix + string(rune('a'+i)) + `"`)
	}
	return b.String()
}

func TestPayload(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    string
		wantErr error
	}{
		{"one element", `<p:Op xmlns:p="urn:p"/>`, "Op", nil},
		{"whitespace around", "\n  <p:Op xmlns:p=\"urn:p\"/>\n", "Op", nil},
		{"absent", "", "", ErrNoPayload},
		{"whitespace only", "\n  ", "", ErrNoPayload},
		{"two elements", `<p:A xmlns:p="urn:p"/><p:B xmlns:p="urn:p"/>`, "", ErrManyPayloads},
	}
	for _, v := range Versions {
		for _, tc := range tests {
			t.Run(v.String()+"/"+tc.name, func(t *testing.T) {
				src := `<s:Envelope xmlns:s="` + v.Namespace() + `"><s:Body>` + tc.body + `</s:Body></s:Envelope>`
				env, err := Parse([]byte(src), xmldoc.Limits{})
				if err != nil {
					t.Fatal(err)
				}
				p, err := env.Payload()
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if err == nil && p.Tag != tc.want {
					t.Errorf("payload %s, want %s", p.Tag, tc.want)
				}
			})
		}
	}
}

func TestNewEnvelope(t *testing.T) {
	for _, v := range Versions {
		t.Run(v.String(), func(t *testing.T) {
			env := NewEnvelope(v)
			env.Body.CreateElement("p:Op").CreateAttr("xmlns:p", "urn:p")
			want := `<s:Envelope xmlns:s="` + v.Namespace() + `"><s:Header/><s:Body><p:Op xmlns:p="urn:p"/></s:Body></s:Envelope>`
			if got := string(env.Bytes()); got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
			back, err := Parse(env.Bytes(), xmldoc.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if back.Version != v || back.Header == nil {
				t.Errorf("round trip lost version or header")
			}
			if env.EnsureHeader() != env.Header {
				t.Errorf("EnsureHeader replaced an existing header")
			}
		})
	}
}

// EnsureHeader adds the Header first, in the envelope's namespace whatever
// prefix (or default namespace) the envelope uses.
func TestEnsureHeader(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"prefixed", `<soap:Envelope xmlns:soap="` + NS11 + `"><soap:Body/></soap:Envelope>`,
			`<soap:Envelope xmlns:soap="` + NS11 + `"><soap:Header/><soap:Body/></soap:Envelope>`},
		{"default namespace", `<Envelope xmlns="` + NS12 + `"><Body/></Envelope>`,
			`<Envelope xmlns="` + NS12 + `"><Header/><Body/></Envelope>`},
		{"leading whitespace kept after header", "<s:Envelope xmlns:s=\"" + NS12 + "\">\n<s:Body/></s:Envelope>",
			"<s:Envelope xmlns:s=\"" + NS12 + "\"><s:Header/>\n<s:Body/></s:Envelope>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, err := Parse([]byte(tc.src), xmldoc.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if env.Header != nil {
				t.Fatal("fixture already has a header")
			}
			h := env.EnsureHeader()
			if !xmldoc.Is(h, env.Version.Name("Header")) {
				t.Errorf("header is %v", xmldoc.NameOf(h))
			}
			if got := string(env.Bytes()); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			back, err := Parse(env.Bytes(), xmldoc.Limits{})
			if err != nil || back.Header == nil {
				t.Errorf("reparse: header %v, err %v", back != nil && back.Header != nil, err)
			}
		})
	}
}
