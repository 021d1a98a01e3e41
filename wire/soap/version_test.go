package soap

import (
	"errors"
	"testing"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

func TestVersionOf(t *testing.T) {
	tests := []struct {
		ns   string
		want Version
		ok   bool
	}{
		{NS11, V11, true},
		{NS12, V12, true},
		{"http://schemas.xmlsoap.org/soap/envelope", 0, false}, // no trailing slash
		{"http://www.w3.org/2003/05/soap-envelope/", 0, false},
		{"HTTP://WWW.W3.ORG/2003/05/soap-envelope", 0, false},
		{"", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.ns, func(t *testing.T) {
			v, ok := VersionOf(tc.ns)
			if v != tc.want || ok != tc.ok {
				t.Errorf("VersionOf = %v %v, want %v %v", v, ok, tc.want, tc.ok)
			}
			if ok && v.Namespace() != tc.ns {
				t.Errorf("Namespace() = %q", v.Namespace())
			}
		})
	}
	var zero Version
	if zero.Namespace() != "" || zero.MediaType() != "" || zero.Code(Sender) != (xmldoc.Name{}) {
		t.Error("zero version returns non-empty values")
	}
}

func TestVersionAttributes(t *testing.T) {
	tests := []struct {
		v              Version
		mustUnderstand xmldoc.Name
		role           xmldoc.Name
		mediaType      string
	}{
		{V11, xmldoc.Name{Space: NS11, Local: "mustUnderstand"}, xmldoc.Name{Space: NS11, Local: "actor"}, "text/xml"},
		{V12, xmldoc.Name{Space: NS12, Local: "mustUnderstand"}, xmldoc.Name{Space: NS12, Local: "role"}, "application/soap+xml"},
	}
	for _, tc := range tests {
		t.Run(tc.v.String(), func(t *testing.T) {
			if got := tc.v.MustUnderstand(); got != tc.mustUnderstand {
				t.Errorf("MustUnderstand = %v", got)
			}
			if got := tc.v.Role(); got != tc.role {
				t.Errorf("Role = %v", got)
			}
			if got := tc.v.MediaType(); got != tc.mediaType {
				t.Errorf("MediaType = %v", got)
			}
			if ok, err := tc.v.ParseMustUnderstand(MustUnderstandValue); !ok || err != nil {
				t.Errorf("MustUnderstandValue not understood as true in %v", tc.v)
			}
		})
	}
}

func TestParseMustUnderstand(t *testing.T) {
	tests := []struct {
		v       Version
		value   string
		want    bool
		wantErr bool
	}{
		{V11, "1", true, false},
		{V11, "0", false, false},
		{V11, "true", false, true}, // SOAP 1.1 knows only 0 and 1
		{V11, " 1", false, true},
		{V12, "1", true, false},
		{V12, "true", true, false},
		{V12, " true\n", true, false}, // xs:boolean collapses whitespace
		{V12, "false", false, false},
		{V12, "0", false, false},
		{V12, "TRUE", false, true},
		{V12, "yes", false, true},
		{V12, "", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.v.String()+"/"+tc.value, func(t *testing.T) {
			got, err := tc.v.ParseMustUnderstand(tc.value)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("= %v, %v; want %v, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestContentType(t *testing.T) {
	const action = "http://schemas.xmlsoap.org/ws/2005/02/trust/RST/SCT"
	tests := []struct {
		name        string
		v           Version
		action      string
		contentType string
		soapAction  string
	}{
		{"1.1", V11, action, "text/xml; charset=utf-8", `"` + action + `"`},
		{"1.1 empty action", V11, "", "text/xml; charset=utf-8", `""`},
		{"1.2", V12, action, `application/soap+xml; charset=utf-8; action="` + action + `"`, ""},
		{"1.2 empty action", V12, "", "application/soap+xml; charset=utf-8", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ct, sa, err := tc.v.ContentType(tc.action)
			if err != nil {
				t.Fatal(err)
			}
			if ct != tc.contentType || sa != tc.soapAction {
				t.Errorf("= %q, %q; want %q, %q", ct, sa, tc.contentType, tc.soapAction)
			}
			// What we write, we read back.
			v, a, err := ActionFromHTTP(ct, sa)
			if err != nil || v != tc.v || a != tc.action {
				t.Errorf("ActionFromHTTP = %v, %q, %v", v, a, err)
			}
		})
	}
	for _, bad := range []string{"urn:a\r\nX-Injected: 1", `urn:"q"`, `urn:a\b`, "urn:a b", "urn:\u00e9"} {
		for _, v := range Versions {
			if _, _, err := v.ContentType(bad); err == nil {
				t.Errorf("%v accepted action %q", v, bad)
			}
		}
	}
	if _, _, err := Version(0).ContentType("urn:a"); err == nil {
		t.Error("zero version has a content type")
	}
}

func TestActionFromHTTP(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		soapAction  string
		version     Version
		action      string
		err         error // nil, ErrMediaType, or errAny
	}{
		{"1.1 quoted", "text/xml; charset=utf-8", `"urn:a"`, V11, "urn:a", nil},
		{"1.1 bare (legacy clients)", "text/xml", "urn:a", V11, "urn:a", nil},
		{"1.1 empty quoted", "text/xml", `""`, V11, "", nil},
		{"1.1 absent", "text/xml", "", V11, "", nil},
		{"1.1 charset case", "Text/XML; Charset=UTF-8", ` "urn:a" `, V11, "urn:a", nil},
		{"1.1 unbalanced quote", "text/xml", `"urn:a`, 0, "", errAny},
		{"1.1 inner quote", "text/xml", `"urn:"a"`, 0, "", errAny},
		{"1.1 bare with quote", "text/xml", `urn:"a`, 0, "", errAny},
		{"1.2 action", `application/soap+xml; charset=utf-8; action="urn:b"`, "", V12, "urn:b", nil},
		{"1.2 action first, token", `application/soap+xml;action=b;charset="utf-8"`, "", V12, "b", nil},
		// RFC 2045: a URI has tspecials and must be quoted.
		{"1.2 unquoted URI refused", `application/soap+xml;action=urn:b`, "", 0, "", ErrMediaType},
		{"1.2 ignores SOAPAction", `application/soap+xml; action="urn:b"`, `"urn:other"`, V12, "urn:b", nil},
		{"1.2 without action", `application/soap+xml`, `"urn:other"`, V12, "", nil},
		{"latin-1 refused", "text/xml; charset=iso-8859-1", `"urn:a"`, 0, "", ErrMediaType},
		{"utf-16 refused", `application/soap+xml; charset=utf-16; action="urn:b"`, "", 0, "", ErrMediaType},
		{"MTOM refused", `multipart/related; type="application/xop+xml"; boundary=x`, "", 0, "", ErrMediaType},
		{"json refused", "application/json", "", 0, "", ErrMediaType},
		{"empty", "", "", 0, "", ErrMediaType},
		{"duplicate parameter", `application/soap+xml; action="a"; action="b"`, "", 0, "", ErrMediaType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, a, err := ActionFromHTTP(tc.contentType, tc.soapAction)
			switch {
			case tc.err == nil && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.err == errAny && err == nil, tc.err == ErrMediaType && !errors.Is(err, ErrMediaType):
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err == nil && (v != tc.version || a != tc.action) {
				t.Errorf("= %v, %q; want %v, %q", v, a, tc.version, tc.action)
			}
		})
	}
}

var errAny = errors.New("any error")
