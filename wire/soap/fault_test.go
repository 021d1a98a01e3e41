package soap

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/beevik/etree"
	"github.com/scproxy/scproxy/internal/testkit"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

const (
	nsSC2005  = "http://schemas.xmlsoap.org/ws/2005/02/sc"
	nsSC13    = "http://docs.oasis-open.org/ws-sx/ws-secureconversation/200512"
	nsDotNet  = "http://schemas.microsoft.com/ws/2006/05/security"
	nsWCFDisp = "http://schemas.microsoft.com/net/2005/12/windowscommunicationfoundation/dispatcher"
)

var (
	badContextToken05 = xmldoc.Name{Space: nsSC2005, Local: "BadContextToken"}
	renewNeeded05     = xmldoc.Name{Space: nsSC2005, Local: "RenewNeeded"}
	renewNeeded13     = xmldoc.Name{Space: nsSC13, Local: "RenewNeeded"}
	sessionAborted    = xmldoc.Name{Space: nsDotNet, Local: "SecuritySessionAborted"}
	wsaNS10           = "http://www.w3.org/2005/08/addressing"
)

func parseFaultFile(t *testing.T, path string) (*Envelope, *Fault) {
	t.Helper()
	env, err := Parse(readFile(t, path), xmldoc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := env.Fault()
	if err != nil {
		t.Fatal(err)
	}
	if f == nil {
		t.Fatal("no fault found")
	}
	return env, f
}

// WCF-shaped faults read as scproxy needs them: the specific code is found
// by namespace URI, whichever prefix carries it and whichever version.
func TestWCFFaults(t *testing.T) {
	tests := []struct {
		file     string
		version  Version
		code     xmldoc.Name
		subcodes []xmldoc.Name
		class    FaultClass
		reason   string // prefix
		role     string
		node     string
		has      xmldoc.Name
		hasNot   []xmldoc.Name
		detail   bool
	}{
		{
			file: "wcf-badcontexttoken-soap12.xml", version: V12,
			code: V12.Code(Sender), subcodes: []xmldoc.Name{badContextToken05}, class: Sender,
			reason: "The message could not be processed.", has: badContextToken05,
			// The envelope binds "a" to WS-Addressing; the Value rebinds it.
			hasNot: []xmldoc.Name{{Space: wsaNS10, Local: "BadContextToken"}, renewNeeded05},
		},
		{
			file: "wcf-badcontexttoken-soap11.xml", version: V11,
			code: badContextToken05, class: Sender,
			reason: "The message could not be processed.", has: badContextToken05,
			hasNot: []xmldoc.Name{{Space: wsaNS10, Local: "BadContextToken"}, V11.Code(Sender)},
		},
		{
			file: "wcf-renewneeded-soap12.xml", version: V12,
			code: V12.Code(Sender), subcodes: []xmldoc.Name{renewNeeded13}, class: Sender,
			reason: "The SecurityContextSecurityToken's key needs to be renewed.", has: renewNeeded13,
			hasNot: []xmldoc.Name{renewNeeded05, badContextToken05},
		},
		{
			file: "wcf-renewneeded-soap11.xml", version: V11,
			code: renewNeeded05, class: Sender,
			reason: "The SecurityContextSecurityToken's key needs to be renewed.", has: renewNeeded05,
			hasNot: []xmldoc.Name{renewNeeded13},
		},
		{
			file: "wcf-sessionaborted-soap12.xml", version: V12,
			code: V12.Code(Sender), subcodes: []xmldoc.Name{sessionAborted}, class: Sender,
			reason: "The security session was terminated", // the English text, not the first
			role:   NS12 + "/role/ultimateReceiver", has: sessionAborted,
		},
		{
			file: "wcf-exceptiondetail-soap12.xml", version: V12,
			code: V12.Code(Receiver), subcodes: []xmldoc.Name{{Space: nsWCFDisp, Local: "InternalServiceFault"}}, class: Receiver,
			reason: "Object reference not set", node: "http://example.test/Service.svc",
			has: V12.Code(Receiver), hasNot: []xmldoc.Name{V12.Code(Sender)}, detail: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			env, f := parseFaultFile(t, filepath.Join("testdata/faults", tc.file))
			if env.Version != tc.version || f.Version != tc.version {
				t.Errorf("version env %v fault %v, want %v", env.Version, f.Version, tc.version)
			}
			if f.Code != tc.code {
				t.Errorf("code = %v, want %v", f.Code, tc.code)
			}
			if !slices.Equal(f.Subcodes, tc.subcodes) {
				t.Errorf("subcodes = %v, want %v", f.Subcodes, tc.subcodes)
			}
			if f.Class() != tc.class {
				t.Errorf("class = %v, want %v", f.Class(), tc.class)
			}
			if !strings.HasPrefix(f.Reason, tc.reason) {
				t.Errorf("reason = %q, want prefix %q", f.Reason, tc.reason)
			}
			if f.Role != tc.role || f.Node != tc.node {
				t.Errorf("role %q node %q, want %q %q", f.Role, f.Node, tc.role, tc.node)
			}
			if !f.Has(tc.has) {
				t.Errorf("Has(%v) = false", tc.has)
			}
			for _, n := range tc.hasNot {
				if f.Has(n) {
					t.Errorf("Has(%v) = true", n)
				}
			}
			if (f.Detail != nil) != tc.detail {
				t.Errorf("detail present = %v, want %v", f.Detail != nil, tc.detail)
			}
			var asFault *Fault
			if err := fmt.Errorf("calling service: %w", f); !errors.As(err, &asFault) || asFault != f {
				t.Errorf("errors.As did not find the fault")
			}
			if !strings.Contains(f.Error(), tc.has.Local) {
				t.Errorf("Error() %q does not name %s", f.Error(), tc.has.Local)
			}
		})
	}
}

// A fault built in scproxy round-trips through either version: build,
// serialise, parse, compare.
func TestFaultRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		f    *Fault
		// what a SOAP 1.1 reader sees
		code11 xmldoc.Name
	}{
		{"sender with BadContextToken", NewFault(Sender, "bad token", badContextToken05), badContextToken05},
		{"receiver, no subcode", NewFault(Receiver, "upstream unreachable"), V11.Code(Receiver)},
		{"sender, no subcode", NewFault(Sender, "bad request"), V11.Code(Sender)},
		{"version mismatch", NewFault(VersionMismatch, "wrong envelope"), V11.Code(VersionMismatch)},
		{"must understand", NewFault(MustUnderstand, "header not understood"), V11.Code(MustUnderstand)},
		{"data encoding unknown is Client in 1.1", NewFault(DataEncodingUnknown, "encoding"), V11.Code(Sender)},
		{"two subcodes: 1.1 keeps the outermost, as WCF", NewFault(Sender, "x", renewNeeded13, sessionAborted), renewNeeded13},
		{"subcode without namespace", NewFault(Sender, "x", xmldoc.Name{Local: "Local"}), xmldoc.Name{Local: "Local"}},
		{"subcode in the envelope namespace", NewFault(Receiver, "x", xmldoc.Name{Space: NS12, Local: "Custom"}), xmldoc.Name{Space: NS12, Local: "Custom"}},
		{"reason needing escapes", NewFault(Sender, "a < b & \"c\"\r\n\ttab"), V11.Code(Sender)},
		{"role and node", withRoleNode(NewFault(Receiver, "r"), "urn:role", "urn:node"), V11.Code(Receiver)},
	}
	for _, tc := range tests {
		for _, v := range Versions {
			t.Run(v.String()+"/"+tc.name, func(t *testing.T) {
				got := roundTrip(t, tc.f, v)
				if got.Version != v {
					t.Errorf("version %v", got.Version)
				}
				if got.Reason != strings.Trim(tc.f.Reason, " \t\r\n") {
					t.Errorf("reason %q, want %q", got.Reason, tc.f.Reason)
				}
				if got.Role != tc.f.Role {
					t.Errorf("role %q, want %q", got.Role, tc.f.Role)
				}
				switch v {
				case V12:
					if got.Code != tc.f.Code || !slices.Equal(got.Subcodes, tc.f.Subcodes) {
						t.Errorf("code %v %v, want %v %v", got.Code, got.Subcodes, tc.f.Code, tc.f.Subcodes)
					}
					if got.Node != tc.f.Node {
						t.Errorf("node %q, want %q", got.Node, tc.f.Node)
					}
				case V11:
					if got.Code != tc.code11 || len(got.Subcodes) != 0 {
						t.Errorf("faultcode %v %v, want %v", got.Code, got.Subcodes, tc.code11)
					}
					if got.Node != "" {
						t.Errorf("node %q in SOAP 1.1", got.Node)
					}
				}
			})
		}
	}
}

func withRoleNode(f *Fault, role, node string) *Fault {
	f.Role, f.Node = role, node
	return f
}

func roundTrip(t *testing.T, f *Fault, v Version) *Fault {
	t.Helper()
	env, err := f.Envelope(v)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(env.Bytes(), xmldoc.Limits{})
	if err != nil {
		t.Fatalf("%v\n%s", err, env.Bytes())
	}
	got, err := back.Fault()
	if err != nil || got == nil {
		t.Fatalf("fault %v, err %v\n%s", got, err, env.Bytes())
	}
	return got
}

// Faults received in one version and passed to an application speaking the
// other keep what matters: the class and the specific code.
func TestFaultTranslation(t *testing.T) {
	tests := []struct {
		file     string
		to       Version
		code     xmldoc.Name
		subcodes []xmldoc.Name
	}{
		{"wcf-badcontexttoken-soap11.xml", V12, V12.Code(Sender), []xmldoc.Name{badContextToken05}},
		{"wcf-badcontexttoken-soap12.xml", V11, badContextToken05, nil},
		{"wcf-renewneeded-soap11.xml", V12, V12.Code(Sender), []xmldoc.Name{renewNeeded05}},
		{"wcf-renewneeded-soap12.xml", V11, renewNeeded13, nil},
		{"wcf-sessionaborted-soap12.xml", V11, sessionAborted, nil},
		// Lossy, as in WCF: SOAP 1.1 sees only the subcode, and a
		// non-standard faultcode reads back as a Sender fault.
		{"wcf-exceptiondetail-soap12.xml", V11, xmldoc.Name{Space: nsWCFDisp, Local: "InternalServiceFault"}, nil},
		// Same version: unchanged.
		{"wcf-badcontexttoken-soap11.xml", V11, badContextToken05, nil},
		{"wcf-renewneeded-soap12.xml", V12, V12.Code(Sender), []xmldoc.Name{renewNeeded13}},
	}
	for _, tc := range tests {
		t.Run(tc.file+"->"+tc.to.String(), func(t *testing.T) {
			_, f := parseFaultFile(t, filepath.Join("testdata/faults", tc.file))
			got := roundTrip(t, f, tc.to)
			if got.Code != tc.code || !slices.Equal(got.Subcodes, tc.subcodes) {
				t.Errorf("code %v %v, want %v %v", got.Code, got.Subcodes, tc.code, tc.subcodes)
			}
			wantClass := f.Class()
			if _, ok := ClassOf(got.Code); !ok {
				wantClass = Sender
			}
			if got.Class() != wantClass || got.Reason != f.Reason || got.Role != f.Role {
				t.Errorf("class/reason/role changed: %v %q %q", got.Class(), got.Reason, got.Role)
			}
		})
	}
}

// 1.1 <-> 1.2 code names map both ways.
func TestFaultClasses(t *testing.T) {
	tests := []struct {
		class    FaultClass
		v11, v12 string
	}{
		{Sender, "Client", "Sender"},
		{Receiver, "Server", "Receiver"},
		{VersionMismatch, "VersionMismatch", "VersionMismatch"},
		{MustUnderstand, "MustUnderstand", "MustUnderstand"},
		{DataEncodingUnknown, "Client", "DataEncodingUnknown"},
	}
	for _, tc := range tests {
		t.Run(tc.class.String(), func(t *testing.T) {
			if got := V11.Code(tc.class); got != (xmldoc.Name{Space: NS11, Local: tc.v11}) {
				t.Errorf("1.1 code %v", got)
			}
			if got := V12.Code(tc.class); got != (xmldoc.Name{Space: NS12, Local: tc.v12}) {
				t.Errorf("1.2 code %v", got)
			}
			if c, ok := ClassOf(V12.Code(tc.class)); !ok || c != tc.class {
				t.Errorf("ClassOf(1.2) = %v %v", c, ok)
			}
			want := tc.class
			if tc.class == DataEncodingUnknown {
				want = Sender
			}
			if c, ok := ClassOf(V11.Code(tc.class)); !ok || c != want {
				t.Errorf("ClassOf(1.1) = %v %v, want %v", c, ok, want)
			}
		})
	}
	others := []struct {
		name  string
		code  xmldoc.Name
		class FaultClass
		ok    bool
	}{
		{"1.1 dotted refinement", xmldoc.Name{Space: NS11, Local: "Client.Authentication"}, Sender, true},
		{"1.1 dotted server", xmldoc.Name{Space: NS11, Local: "Server.Busy"}, Receiver, true},
		{"1.2 has no dotted codes", xmldoc.Name{Space: NS12, Local: "Sender.X"}, 0, false},
		{"1.2 name in 1.1 namespace", xmldoc.Name{Space: NS11, Local: "Sender"}, 0, false},
		{"1.1 name in 1.2 namespace", xmldoc.Name{Space: NS12, Local: "Client"}, 0, false},
		{"WCF specific code", badContextToken05, 0, false},
		{"right name, no namespace", xmldoc.Name{Local: "Client"}, 0, false},
	}
	for _, tc := range others {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := ClassOf(tc.code)
			if c != tc.class || ok != tc.ok {
				t.Errorf("ClassOf = %v %v, want %v %v", c, ok, tc.class, tc.ok)
			}
		})
	}
}

// Detail survives being cut out of its envelope and rendered in either
// version: every element and attribute keeps its namespace, and prefixes
// used inside text (QName values) stay bound.
func TestFaultDetail(t *testing.T) {
	_, f := parseFaultFile(t, "testdata/faults/wcf-exceptiondetail-soap12.xml")
	if f.Detail.Parent() != nil {
		t.Fatal("detail is not detached")
	}
	check := func(t *testing.T, detail *etree.Element) {
		t.Helper()
		kids := detail.ChildElements()
		if len(kids) != 2 {
			t.Fatalf("detail has %d children", len(kids))
		}
		want := xmldoc.Name{Space: "http://schemas.datacontract.org/2004/07/System.ServiceModel", Local: "ExceptionDetail"}
		if got := xmldoc.NameOf(kids[0]); got != want {
			t.Errorf("first entry %v, want %v", got, want)
		}
		nilAttr, ok := xmldoc.Attr(kids[0].ChildElements()[0], xmldoc.Name{Space: "http://www.w3.org/2001/XMLSchema-instance", Local: "nil"})
		if !ok || nilAttr != "true" {
			t.Errorf("i:nil lost its namespace")
		}
		extra := kids[1]
		if got := xmldoc.NameOf(extra); got != (xmldoc.Name{Space: "urn:example:declared-on-envelope", Local: "Extra"}) {
			t.Errorf("second entry %v", got)
		}
		kind, _ := xmldoc.Attr(extra, xmldoc.Name{Space: "urn:example:declared-on-envelope", Local: "kind"})
		if p, _, _ := strings.Cut(kind, ":"); xmldoc.InScope(extra)[p] != "urn:example:declared-on-envelope" {
			t.Errorf("QName value %q not resolvable where it landed", kind)
		}
	}
	t.Run("detached", func(t *testing.T) {
		check(t, f.Detail)
		d, err := xmldoc.Parse(xmldoc.Serialize(f.Detail), xmldoc.Options{})
		if err != nil {
			t.Fatalf("detached detail does not stand alone: %v", err)
		}
		check(t, d.Root())
	})
	for _, v := range Versions {
		t.Run(v.String(), func(t *testing.T) {
			got := roundTrip(t, f, v)
			if got.Detail == nil {
				t.Fatal("detail lost")
			}
			check(t, got.Detail)
			wantTag := map[Version]xmldoc.Name{V11: {Local: "detail"}, V12: V12.Name("Detail")}[v]
			env, _ := f.Envelope(v)
			fe, _ := env.Payload()
			if last := fe.ChildElements()[len(fe.ChildElements())-1]; xmldoc.NameOf(last) != wantTag {
				t.Errorf("detail element %v, want %v", xmldoc.NameOf(last), wantTag)
			}
		})
	}
}

// Detail content that binds "s" to its own namespace moves the envelope to
// another prefix instead of being silently re-namespaced.
func TestFaultDetailPrefixCollision(t *testing.T) {
	src := `<e:Envelope xmlns:e="` + NS12 + `" xmlns:s="urn:not-soap"><e:Body><e:Fault><e:Code><e:Value>e:Sender</e:Value></e:Code>` +
		`<e:Reason><e:Text xml:lang="en">x</e:Text></e:Reason><e:Detail><s:Info>s:Value</s:Info></e:Detail></e:Fault></e:Body></e:Envelope>`
	env, err := Parse([]byte(src), xmldoc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := env.Fault()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range Versions {
		t.Run(v.String(), func(t *testing.T) {
			out, err := f.Envelope(v)
			if err != nil {
				t.Fatal(err)
			}
			if out.Root.Space != "s1" {
				t.Errorf("envelope prefix %q, want s1", out.Root.Space)
			}
			got := roundTrip(t, f, v)
			info := got.Detail.ChildElements()[0]
			if xmldoc.NameOf(info) != (xmldoc.Name{Space: "urn:not-soap", Local: "Info"}) {
				t.Errorf("detail entry %v", xmldoc.NameOf(info))
			}
		})
	}
}

// Rendering refuses what it cannot write and cleans what it can.
func TestFaultRenderErrors(t *testing.T) {
	var qe *QNameError
	tests := []struct {
		name string
		f    *Fault
	}{
		{"subcode with a colon", NewFault(Sender, "x", xmldoc.Name{Space: "urn:x", Local: "a:b"})},
		{"empty subcode", NewFault(Sender, "x", xmldoc.Name{Space: "urn:x"})},
		{"subcode starting with a digit", NewFault(Sender, "x", xmldoc.Name{Space: "urn:x", Local: "1st"})},
		{"subcode in the xmlns namespace", NewFault(Sender, "x", xmldoc.Name{Space: xmldoc.NSXMLNS, Local: "x"})},
	}
	for _, tc := range tests {
		for _, v := range Versions {
			t.Run(v.String()+"/"+tc.name, func(t *testing.T) {
				if _, err := tc.f.Envelope(v); !errors.As(err, &qe) {
					t.Errorf("err = %v, want *QNameError", err)
				}
			})
		}
	}
	t.Run("unknown version", func(t *testing.T) {
		if _, err := NewFault(Sender, "x").Envelope(Version(9)); err == nil {
			t.Error("rendered in an unknown version")
		}
	})
	t.Run("invalid characters in reason", func(t *testing.T) {
		got := roundTrip(t, NewFault(Sender, "nul\x00 bell\x07 bad\xff utf8"), V12)
		if got.Reason != "nul\uFFFD bell\uFFFD bad\uFFFD utf8" {
			t.Errorf("reason %q", got.Reason)
		}
	})
}

// The rendered bytes are stable and shaped like WCF's (golden files under
// testdata/TestFaultGolden; go test -update rewrites them).
func TestFaultGolden(t *testing.T) {
	detail := etree.NewElement("Detail")
	entry := detail.CreateElement("d:Info")
	entry.CreateAttr("xmlns:d", "urn:detail")
	entry.SetText("more")
	tests := []struct {
		name string
		f    *Fault
	}{
		{"badcontexttoken", NewFault(Sender, "The security context token is expired or is not valid. The message was not processed.", badContextToken05)},
		{"receiver-with-detail", &Fault{Version: V12, Code: V12.Code(Receiver), Reason: "upstream failed", Role: "urn:scproxy", Detail: detail}},
	}
	for _, tc := range tests {
		for _, v := range Versions {
			name := fmt.Sprintf("%s-soap%d%d.xml", tc.name, 1, map[Version]int{V11: 1, V12: 2}[v])
			t.Run(name, func(t *testing.T) {
				env, err := tc.f.Envelope(v)
				if err != nil {
					t.Fatal(err)
				}
				testkit.Golden(t, env.Bytes())
			})
		}
	}
}

// Malformed faults fail with ErrBadFault and the specific cause.
func TestFaultNegativeFixtures(t *testing.T) {
	var (
		qe        *QNameError
		notFound  *xmldoc.NotFoundError
		duplicate *xmldoc.DuplicateError
	)
	tests := []struct {
		file  string
		check func(error) bool
		want  string
	}{
		{"fault12-unbound-prefix.xml", func(err error) bool { return errors.As(err, &qe) && qe.Unbound }, "wsc:BadContextToken"},
		{"fault11-unbound-prefix.xml", func(err error) bool { return errors.As(err, &qe) && qe.Unbound }, "wsc:BadContextToken"},
		{"fault11-bad-qname.xml", func(err error) bool { return errors.As(err, &qe) && !qe.Unbound }, "not a QName"},
		{"fault12-11-code.xml", func(err error) bool { return true }, "not a SOAP 1.2 code"},
		{"fault12-wrong-order.xml", func(err error) bool { return errors.As(err, &notFound) && notFound.Want.Local == "Code" }, "Code"},
		{"fault12-empty-reason.xml", func(err error) bool { return errors.As(err, &notFound) && notFound.Want.Local == "Text" }, "Text"},
		{"fault12-extra-child.xml", func(err error) bool { return true }, "unexpected element"},
		{"fault12-two-values.xml", func(err error) bool { return true }, "unexpected element"},
		{"fault11-no-faultstring.xml", func(err error) bool { return errors.As(err, &notFound) && notFound.Want.Local == "faultstring" }, "faultstring"},
		{"fault11-qualified-faultcode.xml", func(err error) bool { return errors.As(err, &notFound) || strings.Contains(err.Error(), "unexpected") }, "faultcode"},
		{"fault11-two-faultcodes.xml", func(err error) bool { return errors.As(err, &duplicate) }, "2 times"},
		{"fault-and-payload.xml", func(err error) bool { return true }, "1 other"},
		{"fault-other-version.xml", func(err error) bool { return true }, NS12},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			env, err := Parse(readFile(t, filepath.Join("testdata/bad", tc.file)), xmldoc.Limits{})
			if err != nil {
				t.Fatalf("envelope itself rejected: %v", err)
			}
			f, err := env.Fault()
			if err == nil {
				t.Fatalf("accepted fault %+v", f)
			}
			if !errors.Is(err, ErrBadFault) || !tc.check(err) {
				t.Errorf("wrong error: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
	t.Run("empty body is no fault", func(t *testing.T) {
		env, err := Parse(readFile(t, "testdata/bad/empty-body.xml"), xmldoc.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if f, err := env.Fault(); f != nil || err != nil {
			t.Errorf("Fault() = %v, %v", f, err)
		}
		if _, err := env.Payload(); !errors.Is(err, ErrNoPayload) {
			t.Errorf("Payload() err = %v", err)
		}
	})
}

// ParseFault refuses an element that is not a Fault of the given version.
func TestParseFaultWrongElement(t *testing.T) {
	_, f := parseFaultFile(t, "testdata/faults/wcf-badcontexttoken-soap12.xml")
	env, _ := f.Envelope(V12)
	fe, _ := env.Payload()
	if _, err := ParseFault(fe, V11); !errors.Is(err, ErrBadFault) {
		t.Errorf("1.2 Fault read as 1.1: %v", err)
	}
	if _, err := ParseFault(env.Body, V12); !errors.Is(err, ErrBadFault) {
		t.Errorf("Body read as Fault: %v", err)
	}
}
