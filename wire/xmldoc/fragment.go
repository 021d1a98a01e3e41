package xmldoc

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/beevik/etree"
)

// Fragment is an element kept exactly as a peer sent it, so that it can be
// sent back byte for byte (a security context token is opaque to the client:
// servers such as WCF keep session state inside it and some compare it
// bytewise). Bindings records the namespace declarations the element used but
// inherited from its ancestors; they are the only bytes added when the
// fragment is written somewhere those bindings are not already in scope.
type Fragment struct {
	Bytes    []byte
	Bindings map[string]string // prefix ("" for default) to namespace URI
}

// Fragment returns el exactly as received. The document must have been
// parsed with KeepSpans.
func (d *Doc) Fragment(el *etree.Element) (Fragment, error) {
	raw, ok := d.Raw(el)
	if !ok {
		return Fragment{}, errors.New("xml: element bytes not recorded (parse with KeepSpans)")
	}
	inherited := map[string]string{}
	if p := el.Parent(); p != nil {
		inherited = InScope(p)
	}
	needed := map[string]string{}
	collectBorrowed(el, map[string]bool{}, inherited, needed)
	return Fragment{Bytes: slices.Clone(raw), Bindings: needed}, nil
}

// collectBorrowed records in needed every prefix the subtree uses without
// declaring it on the path from the fragment's root.
func collectBorrowed(el *etree.Element, declared map[string]bool, inherited, needed map[string]string) {
	local := declared
	cloned := false
	for _, a := range el.Attr {
		if p, ok := DeclaredPrefix(a); ok {
			if !cloned {
				local, cloned = maps.Clone(declared), true
			}
			local[p] = true
		}
	}
	use := func(p string) {
		if p == "xml" || p == "xmlns" || local[p] {
			return
		}
		// An unprefixed element with no default namespace in scope borrows
		// "no namespace": placed under a default namespace it needs xmlns="".
		if uri, ok := inherited[p]; ok || p == "" {
			needed[p] = uri
		}
	}
	use(el.Space)
	for _, a := range el.Attr {
		if _, ok := DeclaredPrefix(a); !ok && a.Space != "" {
			use(a.Space)
		}
	}
	for _, c := range el.ChildElements() {
		collectBorrowed(c, local, inherited, needed)
	}
}

// Element parses the fragment into a standalone element, its borrowed
// bindings declared on it, for inspection and canonicalization.
func (f Fragment) Element() (*etree.Element, error) {
	d, err := Parse(f.with(f.Bindings), Options{})
	if err != nil {
		return nil, fmt.Errorf("fragment: %w", err)
	}
	root := d.Root()
	d.RemoveChild(root)
	return root, nil
}

// with returns the fragment's bytes with declarations for bindings added to
// its start tag, right after the element name, in sorted prefix order.
func (f Fragment) with(bindings map[string]string) []byte {
	if len(bindings) == 0 {
		return f.Bytes
	}
	i := 1
	for i < len(f.Bytes) && !bytes.ContainsRune([]byte(" \t\r\n/>"), rune(f.Bytes[i])) {
		i++
	}
	var b bytes.Buffer
	b.Write(f.Bytes[:i])
	for _, p := range slices.Sorted(maps.Keys(bindings)) {
		a := etree.Attr{Space: "xmlns", Key: p, Value: bindings[p]}
		if p == "" {
			a = etree.Attr{Key: "xmlns", Value: bindings[p]}
		}
		b.WriteByte(' ')
		a.WriteTo(&b, &writeSettings)
	}
	b.Write(f.Bytes[i:])
	return b.Bytes()
}

// SerializeWith writes el like Serialize, except that each element found in
// frags is replaced by that fragment's bytes. A fragment borrows only the
// bindings that are not already in scope at its new position, so a token
// placed under ancestors that declare the same prefixes comes out exactly
// as it was received.
func SerializeWith(el *etree.Element, frags map[*etree.Element]Fragment) []byte {
	if len(frags) == 0 {
		return Serialize(el)
	}
	var buf bytes.Buffer
	writeWith(&buf, el, frags, nil)
	return buf.Bytes()
}

// Insert is content that is not in the tree (the unread content of a
// Body, a header block given as bytes), written as the last content of
// element El.
type Insert struct {
	El    *etree.Element
	Bytes []byte
}

// AppendWith appends el to dst, written like SerializeWith, with each
// insert's bytes after the children of its element, which is then written
// with an end tag even when it has no content. The bytes are placed by the
// insert's position in the tree, not found again in the output, so nothing
// the document holds (a comment, a CDATA section) can move them.
func AppendWith(dst []byte, el *etree.Element, frags map[*etree.Element]Fragment, inserts ...Insert) []byte {
	w := bytes.NewBuffer(dst)
	writeWith(w, el, frags, inserts)
	return w.Bytes()
}

func writeWith(w *bytes.Buffer, el *etree.Element, frags map[*etree.Element]Fragment, inserts []Insert) {
	if f, ok := frags[el]; ok {
		scope := map[string]string{}
		if p := el.Parent(); p != nil {
			scope = InScope(p)
		}
		missing := map[string]string{}
		for p, uri := range f.Bindings {
			if scope[p] != uri {
				missing[p] = uri
			}
		}
		w.Write(f.with(missing))
		return
	}
	if !containsAny(el, frags) && !holdsInsert(el, inserts) {
		Write(w, el, false)
		return
	}
	w.WriteByte('<')
	w.WriteString(el.FullTag())
	for _, a := range el.Attr {
		w.WriteByte(' ')
		a.WriteTo(w, &writeSettings)
	}
	w.WriteByte('>')
	for _, c := range el.Child {
		if ce, ok := c.(*etree.Element); ok {
			writeWith(w, ce, frags, inserts)
			continue
		}
		c.WriteTo(w, &writeSettings)
	}
	for _, in := range inserts {
		if in.El == el {
			w.Write(in.Bytes)
		}
	}
	w.WriteString("</")
	w.WriteString(el.FullTag())
	w.WriteByte('>')
}

// containsAny reports whether a fragment placeholder sits at or below el.
func containsAny(el *etree.Element, frags map[*etree.Element]Fragment) bool {
	for f := range frags {
		if within(f, el) {
			return true
		}
	}
	return false
}

// holdsInsert reports whether an insert goes into el or below it.
func holdsInsert(el *etree.Element, inserts []Insert) bool {
	for _, in := range inserts {
		if within(in.El, el) {
			return true
		}
	}
	return false
}

// within reports whether e is el or lies below it.
func within(e, el *etree.Element) bool {
	for ; e != nil; e = e.Parent() {
		if e == el {
			return true
		}
	}
	return false
}

// AppendFragment adds f's element as the last child of parent and records
// it in frags, for SerializeWith to write f's bytes exactly as received.
// The bindings f borrowed from where it was received are declared on
// parent when that shadows nothing parent's scope binds, so that f's own
// bytes need no change (SerializeWith declares the others on f itself).
func AppendFragment(parent *etree.Element, f Fragment, frags map[*etree.Element]Fragment) error {
	el, err := f.Element()
	if err != nil {
		return err
	}
	scope := InScope(parent)
	for _, p := range slices.Sorted(maps.Keys(f.Bindings)) {
		if _, bound := scope[p]; p != "" && !bound {
			parent.CreateAttr("xmlns:"+p, f.Bindings[p])
		}
	}
	parent.AddChild(el)
	frags[el] = f
	return nil
}
