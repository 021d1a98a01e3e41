package xmldoc_test

import (
	"errors"
	"testing"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

// TestNoProcInst: under NoProcInst a processing instruction before, in or
// after the root is refused with ErrProcInst; the XML declaration is not
// one. Without it they are accepted as before.
func TestNoProcInst(t *testing.T) {
	refused := []string{
		`<?pi?><r/>`,
		`<?xml version="1.0"?><?pi data?><r/>`,
		`<r><a><?pi data?></a></r>`,
		`<r/><?pi?>`,
		utf8BOM + `<?xml version="1.0"?><r><?pi?></r>`,
	}
	for _, src := range refused {
		if _, err := xmldoc.Parse([]byte(src), xmldoc.Options{NoProcInst: true}); !errors.Is(err, xmldoc.ErrProcInst) {
			t.Errorf("%q: err = %v, want ErrProcInst", src, err)
		}
		if _, err := xmldoc.Parse([]byte(src), xmldoc.Options{}); err != nil {
			t.Errorf("%q without NoProcInst: %v", src, err)
		}
	}
	for _, src := range []string{`<?xml version="1.0" encoding="utf-8"?><r/>`, utf8BOM + `<?xml version="1.0"?><r><!-- <?pi?> --><![CDATA[<?pi?>]]></r>`} {
		if _, err := xmldoc.Parse([]byte(src), xmldoc.Options{NoProcInst: true}); err != nil {
			t.Errorf("%q: %v", src, err)
		}
	}
}

// TestAppendWithPlacesInsertsByTree: inserts land as the last content of
// their own elements, whatever the document holds that looks like them,
// and an element with an insert and no children gets an end tag.
func TestAppendWithPlacesInsertsByTree(t *testing.T) {
	d, err := xmldoc.Parse([]byte(`<r><h><x/><!--INS--></h><!--INS--><b/></r>`), xmldoc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	root := d.Root()
	h, b := root.SelectElement("h"), root.SelectElement("b")
	out := xmldoc.AppendWith([]byte("prefix:"), root, nil,
		xmldoc.Insert{El: h, Bytes: []byte("<y/>")}, xmldoc.Insert{El: b, Bytes: []byte("content")})
	want := `prefix:<r><h><x/><!--INS--><y/></h><!--INS--><b>content</b></r>`
	if string(out) != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
	if got := string(xmldoc.AppendWith(nil, root, nil, xmldoc.Insert{El: b})); got != `<r><h><x/><!--INS--></h><!--INS--><b></b></r>` {
		t.Errorf("empty insert: %s", got)
	}
}
