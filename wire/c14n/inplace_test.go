package c14n_test

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/c14n"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// TestExclusiveInPlaceMatchesExclusive: canonicalizing a Body where it
// is gives Exclusive's bytes, and leaves the Body's own tag and the rest
// of the document as they were.
func TestExclusiveInPlaceMatchesExclusive(t *testing.T) {
	docs := map[string][]byte{
		"large":       largeDocument(200),
		"app-request": readFile(t, filepath.Join(vectorsDir, "corewcf", "app-request.xml")),
		"comments":    []byte(`<s:Envelope xmlns:s="urn:s" xmlns:u="urn:u"><s:Body u:Id="b"><!-- c --><a xmlns="urn:a" u:k="1"><!-- d --><b/></a>text</s:Body></s:Envelope>`),
		"apex prefix": []byte(`<s:Envelope xmlns:s="urn:s"><s:Body><s:Fault><s:Code/></s:Fault></s:Body></s:Envelope>`),
	}
	// body is the Envelope's last child, the Body.
	body := func(d *xmldoc.Doc) *etree.Element {
		return byPath(t, d.Root(), len(d.Root().ChildElements())-1)
	}
	for name, src := range docs {
		want, err := c14n.Exclusive(body(parse(t, src)), nil)
		if err != nil {
			t.Fatal(err)
		}
		d := parse(t, src)
		got, err := c14n.ExclusiveInPlace(body(d), nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: in place\n%s\nExclusive\n%s", name, got, want)
		}
		body(d).Child = nil
		again := parse(t, src)
		body(again).Child = nil
		if g, w := xmldoc.Serialize(d.Root()), xmldoc.Serialize(again.Root()); !bytes.Equal(g, w) {
			t.Errorf("%s: the document around the content changed:\n%s\nwant\n%s", name, g, w)
		}
	}
}
