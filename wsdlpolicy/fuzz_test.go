package wsdlpolicy

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// FuzzEndpoints: any document, imported by itself as often as the limits
// allow, is read into endpoints or refused with an error, never a panic
// or a hang.
func FuzzEndpoints(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.wsdl"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(wsdlWith(`<wsp:Policy wsu:Id="P"><wsp:ExactlyOne><wsp:All/></wsp:ExactlyOne></wsp:Policy>`)))
	f.Fuzz(func(t *testing.T, doc []byte) {
		l := &Loader{ReadFile: func(string) ([]byte, error) { return doc, nil }, Limits: Limits{MaxDocs: 4}}
		d, err := l.Load(context.Background(), "svc.wsdl")
		if err != nil {
			return
		}
		eps, err := d.Endpoints()
		if err == nil && len(eps) == 0 {
			t.Error("no error and no endpoint")
		}
	})
}
