package c14n

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/beevik/etree"
	"github.com/russellhaering/goxmldsig/etreeutils"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

// Algorithm is the URI of Exclusive XML Canonicalization 1.0 without
// comments, the only canonicalization WS-Security profiles use.
const Algorithm = "http://www.w3.org/2001/10/xml-exc-c14n#"

// defaultToken names the default namespace in an InclusiveNamespaces
// PrefixList (Exclusive C14N §3).
const defaultToken = "#default"

// canonicalWrite is how etree writes canonical XML; Exclusive writes the
// same bytes faster with xmldoc.Write.
var canonicalWrite = etree.WriteSettings{CanonicalEndTags: true, CanonicalText: true, CanonicalAttrVal: true}

// Exclusive returns the exclusive canonical form, without comments, of el as
// it sits in its document: namespaces declared on its ancestors are taken
// into account, and el's tree is not modified. inclusive is the
// InclusiveNamespaces PrefixList ("#default" for the default namespace).
//
// The namespace and attribute processing is goxmldsig's
// etreeutils.TransformExcC14n. Three of its results differ from libxml2
// (xmlsec1, WSS4J's Santuario and .NET agree with libxml2), so this function
// corrects them after the transform rather than carrying a modified copy of
// the library:
//
//   - attributes in different namespaces are ordered by local name instead of
//     namespace URI (C14N 1.0 §2.2 orders by URI first): re-sorted here;
//   - an apex or descendant without a default namespace can get xmlns=""
//     although no output ancestor rendered a default namespace; and
//   - "#default" in the PrefixList is ignored, so the default namespace is
//     not rendered on prefixed elements that list it.
//
// The last two are both about when to render the default namespace, so the
// default declaration is recomputed for every element from the bindings in
// scope before the transform. The transform is also given a detached copy
// made here, because goxmldsig's own detach (NSDetatch) refuses subtrees of
// more than 1000 elements and a 100 KB SOAP body easily has more.
func Exclusive(el *etree.Element, inclusive []string) ([]byte, error) {
	apex, walked := detach(el, inclusive)
	return exclusive(apex, walked, inclusive)
}

// ExclusiveInPlace is Exclusive for a caller that discards el's content
// next (the Body whose content is about to be encrypted): el's
// descendants are transformed where they are instead of on a copy, which
// for a large body saves copying every element. They are left rewritten
// (namespace declarations moved, attributes reordered, comments removed)
// and must not be read again, only removed; el itself and its ancestors
// are not modified.
func ExclusiveInPlace(el *etree.Element, inclusive []string) ([]byte, error) {
	apex := &etree.Element{Space: el.Space, Tag: el.Tag, Attr: slices.Clone(el.Attr), Child: slices.Clone(el.Child)}
	return exclusive(apex, detachCopy(apex, el, inclusive), inclusive)
}

// exclusive canonicalizes apex, the detached copy of an element (whose
// descendants may be the element's own, see ExclusiveInPlace).
func exclusive(apex *etree.Element, walked walkResult, inclusive []string) ([]byte, error) {
	if walked.overBudget {
		return nil, &BudgetError{Limit: MaxBindingCopies}
	}
	includeDefault := false
	prefixes := make([]string, 0, len(inclusive))
	for _, p := range inclusive {
		if p == defaultToken {
			includeDefault = true
			continue
		}
		prefixes = append(prefixes, p)
	}
	if err := transform(apex, walked, strings.Join(prefixes, " "), len(inclusive) == 0); err != nil {
		return nil, err
	}
	fix(apex, walked.defaults, includeDefault)
	buf := bufPool.Get().(*bytes.Buffer)
	defer putBuffer(buf)
	buf.Reset()
	xmldoc.Write(buf, apex, true)
	return bytes.Clone(buf.Bytes()), nil
}

// bufPool holds the buffers canonical forms are written into before being
// copied out at their exact size, so that a large form does not regrow
// its buffer on every call.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuffer is the largest buffer kept for reuse: a form of a few
// megabytes is rare enough to be written into a fresh buffer.
const maxPooledBuffer = 4 << 20

func putBuffer(buf *bytes.Buffer) {
	if buf.Cap() <= maxPooledBuffer {
		bufPool.Put(buf)
	}
}

// transform applies goxmldsig's exclusive transform to the detached
// apex. The transform copies, for every element, every binding in scope
// and every binding rendered so far; when the apex's own prefixes are used
// nowhere below it (a SOAP Body: soap and wsu on the Body, the application's
// namespaces inside), its children are transformed each as an apex of
// its own, so that the bindings only the apex uses are not copied
// thousands of times. The output is the same: below the apex the
// transform consults the bindings rendered by the apex only for prefixes
// the descendants use, and the default namespace is recomputed by fix.
// The children inherit the apex's other declarations, which the apex
// itself does not render.
func transform(apex *etree.Element, walked walkResult, prefixList string, splittable bool) error {
	if !splittable || walked.apexPrefixUsedBelow || len(apex.Child) == 0 {
		return etreeutils.TransformExcC14n(apex, prefixList, false)
	}
	used := utilized(apex)
	var pass []etree.Attr
	for _, a := range apex.Attr {
		if a.Space == "xmlns" && !slices.Contains(used, a.Key) {
			pass = append(pass, a)
		}
	}
	kids := apex.Child
	apex.Child = nil
	err := etreeutils.TransformExcC14n(apex, "", false)
	apex.Child = kids
	if err != nil {
		return err
	}
	apex.Child = slices.DeleteFunc(apex.Child, func(t etree.Token) bool {
		_, comment := t.(*etree.Comment)
		return comment
	})
	for _, t := range apex.Child {
		c, ok := t.(*etree.Element)
		if !ok {
			continue
		}
		for _, a := range pass {
			if !declares(c, a.Key) {
				c.Attr = append(c.Attr, a)
			}
		}
		if err := etreeutils.TransformExcC14n(c, "", false); err != nil {
			return err
		}
	}
	return nil
}

// utilized returns the prefixes el itself visibly uses (its own and its
// attributes', the xml prefix aside: it is never rendered).
func utilized(el *etree.Element) []string {
	used := []string{el.Space}
	for _, a := range el.Attr {
		if _, isDecl := xmldoc.DeclaredPrefix(a); !isDecl && a.Space != "" && a.Space != "xml" {
			used = append(used, a.Space)
		}
	}
	return used
}

// declares reports whether el declares prefix.
func declares(el *etree.Element, prefix string) bool {
	for _, a := range el.Attr {
		if a.Space == "xmlns" && a.Key == prefix {
			return true
		}
	}
	return false
}

// MaxBindingCopies bounds the work goxmldsig's transform may do on one
// subtree: it copies every namespace binding in scope for every element, so
// its cost is the sum, over the elements, of the bindings in scope at each
// (after unused declarations are pruned). Real SOAP messages have a handful
// of bindings in scope (a 4,000-element body with 5 costs 20,000); a
// hostile document within the parse limits can declare 4,064 prefixes,
// use them all, and put 100,000 elements under them (about 400 million
// copies, tens of gigabytes). The limit allows 64 bindings in scope over a
// 4,000-element body and keeps the worst case near 20 MB.
const MaxBindingCopies = 1 << 18

// BudgetError reports a subtree whose canonicalization would exceed
// MaxBindingCopies.
type BudgetError struct{ Limit int }

func (e *BudgetError) Error() string {
	return fmt.Sprintf("c14n: too many namespace bindings in scope across the signed part (limit %d binding copies)", e.Limit)
}

// walkResult is what detach learns in its walk over the detached copy.
type walkResult struct {
	// defaults is the in-scope default namespace of every element of
	// the copy, in document order.
	defaults []string
	// apexPrefixUsedBelow reports whether a descendant of the apex uses a
	// prefix the apex itself uses.
	apexPrefixUsedBelow bool
	// overBudget reports a copy whose transform would cost more than
	// MaxBindingCopies; the walk stopped there.
	overBudget bool
}

// detach copies el, declares on the copy the bindings in scope at el that
// canonicalization can render (prefixes the subtree uses and those in the
// PrefixList; the others would only make the transform's per-element
// namespace maps larger), and walks the copy once: it stops at a copy
// whose transform would cost more than MaxBindingCopies (a binding count
// is an upper bound: a redeclared prefix counts twice) and records what
// transform and fix need.
func detach(el *etree.Element, inclusive []string) (*etree.Element, walkResult) {
	apex := el.Copy()
	return apex, detachCopy(apex, el, inclusive)
}

// detachCopy is detach on apex, a copy of el already made.
func detachCopy(apex, el *etree.Element, inclusive []string) walkResult {
	own := map[string]bool{}
	for _, a := range apex.Attr {
		if p, ok := xmldoc.DeclaredPrefix(a); ok {
			own[p] = true
		}
	}
	keep := map[string]bool{}
	for _, p := range inclusive {
		keep[p] = true
	}
	wanted := prune(apex, keep)
	for p := range keep {
		wanted[p] = true
	}
	if parent := el.Parent(); parent != nil {
		inherited := xmldoc.InScope(parent)
		for _, p := range slices.Sorted(maps.Keys(inherited)) {
			if own[p] || (p != "" && !wanted[p]) {
				continue
			}
			if p == "" {
				apex.CreateAttr("xmlns", inherited[p])
			} else {
				apex.CreateAttr("xmlns:"+p, inherited[p])
			}
		}
	}
	var r walkResult
	apexUses := utilized(apex)
	usesApexPrefix := func(p string) bool { return p != "" && slices.Contains(apexUses, p) }
	total := 0
	var walk func(e *etree.Element, def string, inScope int) bool
	walk = func(e *etree.Element, def string, inScope int) bool {
		below := e != apex
		for _, a := range e.Attr {
			if p, ok := xmldoc.DeclaredPrefix(a); ok {
				inScope++
				if p == "" {
					def = a.Value
				}
			} else if below && usesApexPrefix(a.Space) {
				r.apexPrefixUsedBelow = true
			}
		}
		if below && usesApexPrefix(e.Space) {
			r.apexPrefixUsedBelow = true
		}
		if total += inScope; total > MaxBindingCopies {
			return false
		}
		r.defaults = append(r.defaults, def)
		for _, t := range e.Child {
			if c, ok := t.(*etree.Element); ok && !walk(c, def, inScope) {
				return false
			}
		}
		return true
	}
	r.overBudget = !walk(apex, "", 0)
	return r
}

// prune removes from the subtree rooted at el the prefixed namespace
// declarations that no element or attribute in their scope uses and the
// PrefixList does not name. Exclusive c14n never renders those, but
// goxmldsig's transform copies every binding in scope for every element,
// so unused declarations would only add cost (see MaxBindingCopies). It
// returns the prefixes used but not declared inside the subtree, which the
// apex must inherit. One pass: each prefix's innermost declaration is
// tracked with an undo log, so the cost is linear in the subtree.
func prune(el *etree.Element, keep map[string]bool) map[string]bool {
	type decl struct{ used bool }
	scope := map[string]*decl{}
	inherited := map[string]bool{}
	var walk func(e *etree.Element)
	walk = func(e *etree.Element) {
		type saved struct {
			prefix string
			prev   *decl
		}
		var undo []saved
		var mine map[string]*decl
		for _, a := range e.Attr {
			if a.Space == "xmlns" {
				if mine == nil {
					mine = map[string]*decl{}
				}
				undo = append(undo, saved{a.Key, scope[a.Key]})
				d := &decl{used: keep[a.Key]}
				scope[a.Key], mine[a.Key] = d, d
			}
		}
		use := func(p string) {
			if d := scope[p]; d != nil {
				d.used = true
			} else {
				inherited[p] = true
			}
		}
		use(e.Space)
		for _, a := range e.Attr {
			if _, isDecl := xmldoc.DeclaredPrefix(a); !isDecl && a.Space != "" {
				use(a.Space)
			}
		}
		for _, t := range e.Child {
			if c, ok := t.(*etree.Element); ok {
				walk(c)
			}
		}
		e.Attr = slices.DeleteFunc(e.Attr, func(a etree.Attr) bool {
			return a.Space == "xmlns" && !mine[a.Key].used
		})
		for i := len(undo) - 1; i >= 0; i-- {
			if undo[i].prev == nil {
				delete(scope, undo[i].prefix)
			} else {
				scope[undo[i].prefix] = undo[i].prev
			}
		}
	}
	walk(el)
	return inherited
}

// fix applies the corrections described on Exclusive to the transformed
// tree rooted at apex; defaults holds the in-scope default namespace of
// each element in document order.
func fix(apex *etree.Element, defaults []string, includeDefault bool) {
	next := 0
	var walk func(e *etree.Element, renderedDefault string, scope map[string]string)
	walk = func(e *etree.Element, renderedDefault string, scope map[string]string) {
		def := defaults[next]
		next++
		e.Attr = slices.DeleteFunc(e.Attr, func(a etree.Attr) bool { return a.Space == "" && a.Key == "xmlns" })
		if (e.Space == "" || includeDefault) && def != renderedDefault {
			e.Attr = append(e.Attr, etree.Attr{Key: "xmlns", Value: def})
			renderedDefault = def
		}
		local, cloned := scope, false
		for _, a := range e.Attr {
			if a.Space == "xmlns" {
				if !cloned {
					local, cloned = maps.Clone(scope), true
				}
				local[a.Key] = a.Value
			}
		}
		if len(e.Attr) > 1 {
			slices.SortStableFunc(e.Attr, func(a, b etree.Attr) int { return compareAttrs(a, b, local) })
		}
		for _, t := range e.Child {
			if c, ok := t.(*etree.Element); ok {
				walk(c, renderedDefault, local)
			}
		}
	}
	walk(apex, "", map[string]string{"xml": xmldoc.NSXML})
}

// compareAttrs orders attributes as C14N 1.0 §2.2 requires: the default
// namespace declaration, then prefixed declarations by prefix, then
// attributes by namespace URI (none first) and local name.
func compareAttrs(a, b etree.Attr, scope map[string]string) int {
	rank := func(x etree.Attr) int {
		switch {
		case x.Space == "" && x.Key == "xmlns":
			return 0
		case x.Space == "xmlns":
			return 1
		}
		return 2
	}
	if c := cmp.Compare(rank(a), rank(b)); c != 0 || rank(a) < 2 {
		if c == 0 {
			return cmp.Compare(a.Key, b.Key)
		}
		return c
	}
	uri := func(x etree.Attr) string {
		if x.Space == "" {
			return ""
		}
		return scope[x.Space]
	}
	if c := cmp.Compare(uri(a), uri(b)); c != 0 {
		return c
	}
	return cmp.Compare(a.Key, b.Key)
}
