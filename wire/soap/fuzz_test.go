package soap

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/scproxy/scproxy/wire/xmldoc"
)

// fuzzLimits keep each iteration cheap while leaving room for real messages.
var fuzzLimits = xmldoc.Limits{MaxBytes: 64 << 10, MaxDepth: 64, MaxElements: 4096}

// FuzzParseEnvelope: parsing never panics, and an accepted envelope is
// self-consistent and serialises to bytes that parse back to the same
// serialisation.
func FuzzParseEnvelope(f *testing.F) {
	f.Fuzz(func(t *testing.T, src []byte) {
		env, err := Parse(src, fuzzLimits)
		if err != nil {
			return
		}
		if _, ok := VersionOf(env.Version.Namespace()); !ok {
			t.Fatalf("accepted version %v", env.Version)
		}
		if env.Body == nil || env.Body.Parent() != env.Root {
			t.Fatal("body not a child of the envelope")
		}
		if env.Header != nil && env.Root.ChildElements()[0] != env.Header {
			t.Fatal("header is not the first child")
		}
		out := env.Bytes()
		back, err := Parse(out, fuzzLimits)
		if err != nil {
			t.Fatalf("own output rejected: %v\n%s", err, out)
		}
		if again := back.Bytes(); !bytes.Equal(again, out) {
			t.Fatalf("serialisation not stable:\n%s\n%s", out, again)
		}
		_, _ = env.Payload()
		checkFault(t, env)
	})
}

// FuzzParseFault: reading a fault never panics, and a fault that was read
// renders in both versions to envelopes whose fault reads back with the same
// class, codes, reason and role.
func FuzzParseFault(f *testing.F) {
	f.Fuzz(func(t *testing.T, src []byte) {
		env, err := Parse(src, fuzzLimits)
		if err != nil {
			return
		}
		checkFault(t, env)
	})
}

func checkFault(t *testing.T, env *Envelope) {
	t.Helper()
	f, err := env.Fault()
	if err != nil {
		if !errors.Is(err, ErrBadFault) {
			t.Fatalf("fault error without ErrBadFault: %v", err)
		}
		return
	}
	if f == nil {
		return
	}
	_ = f.Error()
	for _, v := range Versions {
		out, err := f.Envelope(v)
		if err != nil {
			t.Fatalf("received fault does not render in %s: %v", v, err)
		}
		b := out.Bytes()
		back, err := Parse(b, xmldoc.Limits{})
		var le *xmldoc.LimitError
		if errors.As(err, &le) {
			continue // many inherited bindings on one Detail element
		}
		if err != nil {
			t.Fatalf("rendered %s fault rejected: %v\n%s", v, err, b)
		}
		g, err := back.Fault()
		if err != nil || g == nil {
			t.Fatalf("rendered %s fault not read back: %v\n%s", v, err, b)
		}
		compareFault(t, f, g, v, b)
		again, err := g.Envelope(v)
		if err != nil || !bytes.Equal(again.Bytes(), b) {
			t.Fatalf("re-rendering not stable (%v):\n%s\n%s", err, b, again.Bytes())
		}
	}
}

func compareFault(t *testing.T, f, g *Fault, v Version, b []byte) {
	t.Helper()
	var wantCode xmldoc.Name
	var wantSubs []xmldoc.Name
	switch v {
	case V12:
		wantCode, wantSubs = V12.Code(f.Class()), f.chain()
	case V11:
		wantCode = f.code11()
	}
	if g.Code != wantCode || !slices.Equal(g.Subcodes, wantSubs) {
		t.Fatalf("%s: codes %v %v, want %v %v\n%s", v, g.Code, g.Subcodes, wantCode, wantSubs, b)
	}
	if g.Reason != f.Reason || g.Role != f.Role {
		t.Fatalf("%s: reason/role %q %q, want %q %q\n%s", v, g.Reason, g.Role, f.Reason, f.Role, b)
	}
	if v == V12 && g.Node != f.Node {
		t.Fatalf("node %q, want %q", g.Node, f.Node)
	}
	if (g.Detail == nil) != (f.Detail == nil) {
		t.Fatalf("detail presence changed\n%s", b)
	}
}
