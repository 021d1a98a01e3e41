package xmldoc

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/beevik/etree"
)

// Namespaces reserved by "Namespaces in XML".
const (
	NSXML   = "http://www.w3.org/XML/1998/namespace"
	NSXMLNS = "http://www.w3.org/2000/xmlns/"
)

// Name is an expanded XML name: a namespace URI and a local name. Elements
// are always matched by Name, never by prefix.
type Name struct {
	Space, Local string
}

func (n Name) String() string {
	if n.Space == "" {
		return n.Local
	}
	return "{" + n.Space + "}" + n.Local
}

// NameOf returns the expanded name of el.
func NameOf(el *etree.Element) Name {
	return Name{Space: el.NamespaceURI(), Local: el.Tag}
}

// Is reports whether el has the expanded name n.
func Is(el *etree.Element, n Name) bool {
	return el != nil && el.Tag == n.Local && el.NamespaceURI() == n.Space
}

// Children returns the child elements of el named n, in document order.
func Children(el *etree.Element, n Name) []*etree.Element {
	var out []*etree.Element
	for c := range el.ChildElementsSeq() {
		if Is(c, n) {
			out = append(out, c)
		}
	}
	return out
}

// NotFoundError reports a required element that is missing. When an element
// with the right local name but another namespace is present, WrongSpace
// names that namespace: the commonest interop mistake is a version mismatch
// (WS-Trust 2005/02 against 1.3, SOAP 1.1 against 1.2).
type NotFoundError struct {
	Parent     Name
	Want       Name
	WrongSpace string
}

func (e *NotFoundError) Error() string {
	if e.WrongSpace != "" {
		return fmt.Sprintf("xml: %s under %s is in namespace %q, expected %q", e.Want.Local, e.Parent.Local, e.WrongSpace, e.Want.Space)
	}
	return fmt.Sprintf("xml: missing %s under %s", e.Want, e.Parent.Local)
}

// DuplicateError reports an element that must occur at most once but occurs
// more often: a classic shape of signature-wrapping attacks.
type DuplicateError struct {
	Parent Name
	Want   Name
	Count  int
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("xml: %s occurs %d times under %s, expected at most once", e.Want, e.Count, e.Parent.Local)
}

// Optional returns the single child of el named n, nil when there is none,
// and an error when there are several.
func Optional(el *etree.Element, n Name) (*etree.Element, error) {
	// Counted rather than collected: this runs for every header of every
	// message, and needs no slice.
	var first *etree.Element
	count := 0
	for c := range el.ChildElementsSeq() {
		if Is(c, n) {
			if count == 0 {
				first = c
			}
			count++
		}
	}
	if count > 1 {
		return nil, &DuplicateError{Parent: NameOf(el), Want: n, Count: count}
	}
	return first, nil
}

// One returns the single child of el named n; none or several is an error.
func One(el *etree.Element, n Name) (*etree.Element, error) {
	c, err := Optional(el, n)
	if err != nil || c != nil {
		return c, err
	}
	nf := &NotFoundError{Parent: NameOf(el), Want: n}
	for _, c := range el.ChildElements() {
		if c.Tag == n.Local {
			nf.WrongSpace = c.NamespaceURI()
			break
		}
	}
	return nil, nf
}

// Attr returns the value of el's attribute with expanded name n. Unqualified
// attributes have an empty Space.
func Attr(el *etree.Element, n Name) (string, bool) {
	for i := range el.Attr {
		a := &el.Attr[i]
		if a.Key != n.Local || a.Space == "xmlns" || (a.Space == "" && a.Key == "xmlns") {
			continue
		}
		if attrSpace(a) == n.Space {
			return a.Value, true
		}
	}
	return "", false
}

func attrSpace(a *etree.Attr) string {
	switch a.Space {
	case "":
		return ""
	case "xml":
		return NSXML
	}
	return a.NamespaceURI()
}

// Text returns el's character data with surrounding XML whitespace removed.
func Text(el *etree.Element) string {
	return strings.Trim(el.Text(), " \t\r\n")
}

// InScope returns the namespace bindings in scope at el (its own
// declarations included), as prefix to URI; "" is the default namespace and
// is omitted when empty.
func InScope(el *etree.Element) map[string]string {
	var chain []*etree.Element
	for e := el; e != nil; e = e.Parent() {
		chain = append(chain, e)
	}
	m := make(map[string]string)
	for i := len(chain) - 1; i >= 0; i-- {
		for _, a := range chain[i].Attr {
			switch {
			case a.Space == "xmlns":
				m[a.Key] = a.Value
			case a.Space == "" && a.Key == "xmlns":
				m[""] = a.Value
			}
		}
	}
	if m[""] == "" {
		delete(m, "")
	}
	return m
}

// Walk calls fn for el and each of its descendant elements in document
// order, without recursion so that depth cannot exhaust the stack.
func Walk(el *etree.Element, fn func(*etree.Element)) {
	stack := []*etree.Element{el}
	for len(stack) > 0 {
		e := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		fn(e)
		stack = slices.Grow(stack, len(e.Child)) // one growth for a wide element
		for i := len(e.Child) - 1; i >= 0; i-- {
			if c, ok := e.Child[i].(*etree.Element); ok {
				stack = append(stack, c)
			}
		}
	}
}

// WithAttr returns every element in the subtree rooted at root (root
// included) whose attribute n equals value.
func WithAttr(root *etree.Element, n Name, value string) []*etree.Element {
	var out []*etree.Element
	Walk(root, func(e *etree.Element) {
		if v, ok := Attr(e, n); ok && v == value {
			out = append(out, e)
		}
	})
	return out
}

// writeSettings escape text and attribute values the way canonical XML does,
// so that whatever parser the peer uses reads back exactly the characters
// that were signed (a literal tab or newline in an attribute would otherwise
// be normalised to a space by the receiving parser).
var writeSettings = etree.WriteSettings{CanonicalText: true, CanonicalAttrVal: true}

// Serialize writes el and its subtree with canonical escaping.
func Serialize(el *etree.Element) []byte {
	var buf bytes.Buffer
	Write(&buf, el, false)
	return buf.Bytes()
}

// SerializeDoc writes the document's root element with canonical escaping.
func SerializeDoc(d *etree.Document) []byte {
	return Serialize(d.Root())
}

// DeclaredPrefix reports whether a is a namespace declaration and, if so,
// the prefix it binds ("" for the default namespace).
func DeclaredPrefix(a etree.Attr) (string, bool) {
	switch {
	case a.Space == "xmlns":
		return a.Key, true
	case a.Space == "" && a.Key == "xmlns":
		return "", true
	}
	return "", false
}
