package splice_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/splice"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

const utf8BOM = "\xEF\xBB\xBF"

// utf16Of encodes s as UTF-16 with its byte order mark.
func utf16Of(s string, order binary.AppendByteOrder) []byte {
	b := order.AppendUint16(nil, 0xFEFF)
	for _, u := range utf16.Encode([]rune(s)) {
		b = order.AppendUint16(b, u)
	}
	return b
}

// TestBOMKeepsTheBody: a UTF-8 byte order mark (as .NET writes it) does
// not shift where the Body is cut: the Body reaches the other side as
// received, whether or not a header block is added, with or without an
// XML declaration, read to the payload or not.
func TestBOMKeepsTheBody(t *testing.T) {
	cases := map[string]string{
		"header and body":  `<s:Envelope xmlns:s="` + ns11 + `"><s:Header><h:H xmlns:h="urn:h">v</h:H></s:Header><s:Body><m:Echo xmlns:m="urn:m"><m:text>hi</m:text></m:Echo></s:Body></s:Envelope>`,
		"no header":        `<s:Envelope xmlns:s="` + ns12 + `"><s:Body><Echo xmlns="urn:m">hi</Echo></s:Body></s:Envelope>`,
		"xml declaration":  `<?xml version="1.0" encoding="utf-8"?>` + "\r\n" + `<s:Envelope xmlns:s="` + ns11 + `"><s:Body><Echo xmlns="urn:m">hi</Echo></s:Body></s:Envelope>`,
		"self-closed body": `<s:Envelope xmlns:s="` + ns11 + `"><s:Header/><s:Body/></s:Envelope>`,
		"text-only body":   `<s:Envelope xmlns:s="` + ns11 + `"><s:Body> <!-- c --> </s:Body></s:Envelope>`,
	}
	for name, doc := range cases {
		for _, payload := range []bool{false, true} {
			t.Run(name, func(t *testing.T) {
				in := []byte(utf8BOM + doc)
				want := bodyOf(t, []byte(doc))
				m, err := splice.Read(in, splice.Options{Payload: payload})
				if err != nil {
					t.Fatal(err)
				}
				if !m.Complete() && m.BodySize() != len(want) {
					t.Errorf("BodySize %d, want %d", m.BodySize(), len(want))
				}
				for _, block := range [][]byte{nil, []byte(`<b:Block xmlns:b="urn:b"/>`)} {
					out := m.BytesWith(nil, block)
					if got := bodyOf(t, out); !bytes.Equal(got, want) {
						t.Fatalf("body changed:\n got %q\nwant %q\n out %s", got, want, out)
					}
				}
			})
		}
	}
}

// TestUTF16Refused: a UTF-16 envelope, announced by its byte order mark or
// by its first characters (XML 1.0 appendix F), is refused with an
// error that names the encoding, not read as garbage.
func TestUTF16Refused(t *testing.T) {
	doc := `<?xml version="1.0" encoding="utf-16"?><s:Envelope xmlns:s="` + ns11 + `"><s:Body><Echo xmlns="urn:m">hi</Echo></s:Body></s:Envelope>`
	cases := map[string][]byte{
		"little endian with BOM": utf16Of(doc, binary.LittleEndian),
		"big endian with BOM":    utf16Of(doc, binary.BigEndian),
		"little endian, no BOM":  utf16Of(doc, binary.LittleEndian)[2:],
		"big endian, no BOM":     utf16Of(doc, binary.BigEndian)[2:],
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := splice.Read(in, splice.Options{})
			if !errors.Is(err, xmldoc.ErrEncoding) {
				t.Fatalf("error %v, want ErrEncoding", err)
			}
			if !strings.Contains(err.Error(), "UTF-16") {
				t.Errorf("error %q does not name UTF-16", err)
			}
		})
	}
}

// TestForgedMarkerDoesNotMoveTheBlock: comments in the application's
// envelope that look like whatever the splice might use to find its
// places do not move the added header block out of the Header nor the
// Body's content out of the Body.
func TestForgedMarkerDoesNotMoveTheBlock(t *testing.T) {
	forged := `<!--scproxy:header--><!--scproxy:body-->`
	cases := map[string]string{
		"between header and body": `<s:Envelope xmlns:s="` + ns11 + `"><s:Header><h:H xmlns:h="urn:h"/></s:Header>` + forged + `<s:Body><Echo xmlns="urn:m">hi</Echo></s:Body></s:Envelope>`,
		"before the header":       `<s:Envelope xmlns:s="` + ns11 + `">` + forged + `<s:Header/><s:Body><Echo xmlns="urn:m">hi</Echo></s:Body></s:Envelope>`,
		"no header":               `<s:Envelope xmlns:s="` + ns11 + `">` + forged + `<s:Body><Echo xmlns="urn:m">hi</Echo></s:Body></s:Envelope>`,
		"inside a header block":   `<s:Envelope xmlns:s="` + ns11 + `"><s:Header><h:H xmlns:h="urn:h">` + forged + `</h:H></s:Header><s:Body><Echo xmlns="urn:m">hi</Echo></s:Body></s:Envelope>`,
		"in the body":             `<s:Envelope xmlns:s="` + ns11 + `"><s:Header/><s:Body><Echo xmlns="urn:m">` + forged + `</Echo>` + forged + `</s:Body></s:Envelope>`,
	}
	block := `<b:Block xmlns:b="urn:b">mine</b:Block>`
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			m, err := splice.Read([]byte(in), splice.Options{})
			if err != nil {
				t.Fatal(err)
			}
			out := m.BytesWith(nil, []byte(block))
			env, err := soap.Parse(out, xmldoc.Limits{})
			if err != nil {
				t.Fatalf("output does not parse: %v\n%s", err, out)
			}
			blocks := env.Header.ChildElements()
			if len(blocks) == 0 || xmldoc.NameOf(blocks[len(blocks)-1]) != (xmldoc.Name{Space: "urn:b", Local: "Block"}) {
				t.Fatalf("the block is not the Header's last child:\n%s", out)
			}
			if n := strings.Count(string(out), block); n != 1 {
				t.Fatalf("the block is written %d times:\n%s", n, out)
			}
			if got, want := bodyOf(t, out), bodyOf(t, []byte(in)); !bytes.Equal(got, want) {
				t.Fatalf("body changed:\n got %q\nwant %q", got, want)
			}
		})
	}
}

// TestProcessingInstructionsRefused: SOAP forbids processing instructions
// (SOAP 1.1 §3, SOAP 1.2 Part 1 §5) anywhere in the envelope, the Body
// that is not parsed included; the XML declaration is not one, and "<?"
// inside a comment or a CDATA section is text.
func TestProcessingInstructionsRefused(t *testing.T) {
	env := func(head, header, body string) string {
		return head + `<s:Envelope xmlns:s="` + ns11 + `"><s:Header>` + header + `</s:Header><s:Body>` + body + `</s:Body></s:Envelope>`
	}
	echo := `<Echo xmlns="urn:m">hi</Echo>`
	refused := map[string]string{
		"before the envelope":     env(`<?xml-stylesheet href="a"?>`, "", echo),
		"after the declaration":   env(`<?xml version="1.0"?><?php echo 1 ?>`, "", echo),
		"in the header":           env("", `<h:H xmlns:h="urn:h"><?pi x?></h:H>`, echo),
		"between header and body": strings.Replace(env("", "", echo), "</s:Header>", "</s:Header><?pi?>", 1),
		"first in the body":       env("", "", `<?pi?>`+echo),
		"deep in the body":        env("", "", `<Echo xmlns="urn:m"><a><b>`+strings.Repeat("x", 10000)+`<?target data?></b></a></Echo>`),
		"after comment in body":   env("", "", `<!-- <? -->`+echo+`<![CDATA[ <? ]]><?pi?>`),
		"body without elements":   env("", "", ` <?pi?> `),
	}
	for name, in := range refused {
		for _, payload := range []bool{false, true} {
			t.Run(name, func(t *testing.T) {
				_, err := splice.Read([]byte(in), splice.Options{Payload: payload})
				if !errors.Is(err, xmldoc.ErrProcInst) {
					t.Fatalf("error %v, want ErrProcInst", err)
				}
			})
		}
	}
	allowed := map[string]string{
		"xml declaration":          env(`<?xml version="1.0" encoding="utf-8"?>`, "", echo),
		"xml declaration with BOM": utf8BOM + env(`<?xml version="1.0"?>`, "", echo),
		"in a body comment":        env("", "", `<!-- <?pi?> -->`+echo),
		"in a body CDATA section":  env("", "", `<Echo xmlns="urn:m"><![CDATA[<?pi?>]]></Echo>`),
		"in a header comment":      env("", `<!-- <?pi?> -->`, echo),
		"escaped in body text":     env("", "", `<Echo xmlns="urn:m">&lt;?pi?></Echo>`),
	}
	for name, in := range allowed {
		t.Run(name, func(t *testing.T) {
			if _, err := splice.Read([]byte(in), splice.Options{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
