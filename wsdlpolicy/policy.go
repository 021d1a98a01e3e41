package wsdlpolicy

import (
	"fmt"
	"strings"

	"github.com/beevik/etree"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// Bounds of normalisation: a policy is small; these stop a hostile one
// from multiplying into millions of alternatives or referring to itself.
const (
	maxAlternatives = 64
	maxRefDepth     = 16
)

// alternative is one policy alternative: the assertions that must all hold
// (WS-Policy §4.3.1 normal form).
type alternative []*etree.Element

// policies indexes the wsp:Policy elements of a description by the
// references that name them: "#" + wsu:Id, and the Name of WS-Policy 1.5.
type policies struct {
	byRef map[string]*etree.Element
	dup   map[string]bool
}

func indexPolicies(d *Description) *policies {
	p := &policies{byRef: map[string]*etree.Element{}, dup: map[string]bool{}}
	add := func(ref string, el *etree.Element) {
		if _, ok := p.byRef[ref]; ok {
			p.dup[ref] = true
		}
		p.byRef[ref] = el
	}
	for _, doc := range d.docs {
		xmldoc.Walk(doc.root, func(e *etree.Element) {
			if !isWSP(e, "Policy") {
				return
			}
			if id, ok := xmldoc.Attr(e, xmldoc.Name{Space: nsWSU, Local: "Id"}); ok {
				add("#"+id, e)
			}
			if name, ok := xmldoc.Attr(e, xmldoc.Name{Local: "Name"}); ok {
				add(name, e)
			}
		})
	}
	return p
}

// lookup resolves a PolicyReference URI to exactly one policy.
func (p *policies) lookup(uri string) (*etree.Element, error) {
	if p.dup[uri] {
		return nil, fmt.Errorf("policy reference %q names more than one policy", uri)
	}
	if el, ok := p.byRef[uri]; ok {
		return el, nil
	}
	if i := strings.IndexByte(uri, '#'); i > 0 {
		return nil, fmt.Errorf("policy reference %q points outside the description, which is not read", uri)
	}
	return nil, fmt.Errorf("policy reference %q names no policy of the description", uri)
}

// attached returns the alternatives of the policy attached to a WSDL
// element (binding or port): its wsp:Policy and wsp:PolicyReference
// children and its wsp:PolicyURIs attribute, all of which apply.
func (p *policies) attached(el *etree.Element) ([]alternative, error) {
	alts := []alternative{{}}
	var err error
	for c := range el.ChildElementsSeq() {
		if isWSP(c, "Policy") || isWSP(c, "PolicyReference") {
			if alts, err = p.cross(alts, c, 0); err != nil {
				return nil, err
			}
		}
	}
	for _, space := range wspSpaces {
		uris, _ := xmldoc.Attr(el, xmldoc.Name{Space: space, Local: "PolicyURIs"})
		for _, uri := range strings.Fields(uris) {
			pol, err := p.lookup(uri)
			if err != nil {
				return nil, err
			}
			if alts, err = p.cross(alts, pol, 0); err != nil {
				return nil, err
			}
		}
	}
	return alts, nil
}

// cross combines alts with the alternatives of el: every pairing, as
// wsp:All does.
func (p *policies) cross(alts []alternative, el *etree.Element, depth int) ([]alternative, error) {
	more, err := p.normalize(el, depth)
	if err != nil {
		return nil, err
	}
	var out []alternative
	for _, a := range alts {
		for _, m := range more {
			if len(out) == maxAlternatives {
				return nil, fmt.Errorf("the policy has more than %d alternatives", maxAlternatives)
			}
			out = append(out, append(append(alternative{}, a...), m...))
		}
	}
	return out, nil
}

// normalize returns the alternatives of a policy expression (WS-Policy
// §4.3): wsp:Policy and wsp:All combine their children, wsp:ExactlyOne
// offers each child's alternatives, wsp:PolicyReference stands for the
// policy it names, an assertion marked wsp:Optional may be left out. The
// nested policy of an assertion stays inside it (see nested).
func (p *policies) normalize(el *etree.Element, depth int) ([]alternative, error) {
	if depth > maxRefDepth {
		return nil, fmt.Errorf("policy references nest deeper than %d (a cycle?)", maxRefDepth)
	}
	switch {
	case isWSP(el, "Policy"), isWSP(el, "All"):
		alts := []alternative{{}}
		var err error
		for c := range el.ChildElementsSeq() {
			if alts, err = p.cross(alts, c, depth); err != nil {
				return nil, err
			}
		}
		return alts, nil
	case isWSP(el, "ExactlyOne"):
		var alts []alternative
		for c := range el.ChildElementsSeq() {
			more, err := p.normalize(c, depth)
			if err != nil {
				return nil, err
			}
			if len(alts)+len(more) > maxAlternatives {
				return nil, fmt.Errorf("the policy has more than %d alternatives", maxAlternatives)
			}
			alts = append(alts, more...)
		}
		return alts, nil
	case isWSP(el, "PolicyReference"):
		pol, err := p.lookup(el.SelectAttrValue("URI", ""))
		if err != nil {
			return nil, err
		}
		return p.normalize(pol, depth+1)
	}
	for _, space := range wspSpaces {
		if v, _ := xmldoc.Attr(el, xmldoc.Name{Space: space, Local: "Optional"}); v == "true" || v == "1" {
			return []alternative{{el}, {}}, nil
		}
	}
	return []alternative{{el}}, nil
}

// nested returns the first alternative of an assertion's nested policy
// (a wsp:Policy or wsp:PolicyReference child), or nil when it has none.
// WCF and CXF publish one alternative inside an assertion.
func (p *policies) nested(assertion *etree.Element) (alternative, error) {
	if assertion == nil {
		return nil, nil
	}
	for c := range assertion.ChildElementsSeq() {
		if !isWSP(c, "Policy") && !isWSP(c, "PolicyReference") {
			continue
		}
		alts, err := p.normalize(c, 0)
		if err != nil || len(alts) == 0 {
			return nil, err
		}
		return alts[0], nil
	}
	return nil, nil
}

// find returns the first assertion of alt named local in a
// WS-SecurityPolicy namespace (or in spaces, when given).
func (a alternative) find(local string, spaces ...string) *etree.Element {
	if len(spaces) == 0 {
		spaces = spSpaces
	}
	for _, el := range a {
		if isIn(el, local, spaces) {
			return el
		}
	}
	return nil
}

// has reports whether alt holds the assertion local.
func (a alternative) has(local string, spaces ...string) bool { return a.find(local, spaces...) != nil }
