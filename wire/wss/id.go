package wss

import (
	"fmt"
	"slices"

	"github.com/beevik/etree"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

// SetID gives el the wsu:Id id, replacing any it had. When the utility
// namespace is not in scope at el, it is declared on el itself, so el can
// be moved anywhere without losing the binding; a prefix already bound in
// scope to another URI is never reused.
func SetID(el *etree.Element, id string) {
	removeID(el)
	prefix := utilityPrefix(el)
	el.CreateAttr(prefix+":Id", id)
}

// ID returns el's wsu:Id, matched by namespace URI whatever its prefix.
func ID(el *etree.Element) (string, bool) {
	return xmldoc.Attr(el, NameID)
}

func removeID(el *etree.Element) {
	for i := range el.Attr {
		a := &el.Attr[i]
		if a.Key == "Id" && a.Space != "" && a.Space != "xmlns" && a.NamespaceURI() == NSWSU {
			el.Attr = append(el.Attr[:i], el.Attr[i+1:]...)
			return
		}
	}
}

// utilityPrefix returns a prefix bound to NSWSU at el, declaring one on el
// when none is. Among several bound prefixes the smallest is chosen so that
// repeated builds are identical.
func utilityPrefix(el *etree.Element) string {
	scope := xmldoc.InScope(el)
	var bound []string
	for p, uri := range scope {
		if uri == NSWSU && p != "" {
			bound = append(bound, p)
		}
	}
	if len(bound) > 0 {
		slices.Sort(bound)
		return bound[0]
	}
	p := freePrefix(scope, PrefixWSU)
	el.CreateAttr("xmlns:"+p, NSWSU)
	return p
}

// freePrefix returns want, or want followed by a number, whichever is the
// first not bound in scope.
func freePrefix(scope map[string]string, want string) string {
	if _, taken := scope[want]; !taken {
		return want
	}
	for i := 1; ; i++ {
		p := fmt.Sprintf("%s%d", want, i)
		if _, taken := scope[p]; !taken {
			return p
		}
	}
}
