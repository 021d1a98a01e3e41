package secure

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/scproxy/scproxy/wire/dsig"
	"github.com/scproxy/scproxy/wire/soap"
	"github.com/scproxy/scproxy/wire/wssc"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// benchContext is the CoreWCF context of the vectors (February 2005), read
// without the test helpers, which take a *testing.T.
func benchContext(b *testing.B) Context {
	b.Helper()
	src, err := os.ReadFile("../../testdata/vectors/corewcf/issue-response.pretty.xml")
	if err != nil {
		b.Fatal(err)
	}
	env, err := soap.ParseWith(src, xmldoc.Options{KeepSpans: true})
	if err != nil {
		b.Fatal(err)
	}
	payload, err := env.Payload()
	if err != nil {
		b.Fatal(err)
	}
	resp, err := wssc.ParseResponse(env.Doc, payload, wssc.Feb2005)
	if err != nil {
		b.Fatal(err)
	}
	entropy, _ := base64.StdEncoding.DecodeString("1TmBzNeSMhkxqHU+yWuwplJDS7NejEdnFlgRbGPyAOI=")
	key, err := resp.Key(entropy)
	if err != nil {
		b.Fatal(err)
	}
	return Context{Version: wssc.Feb2005, Token: resp.Token, Key: key}
}

// BenchmarkSignContext is the SC-over-TLS signing step per message: the
// precomputed header (impl=template, what the proxy does) against building
// and signing the header in the tree (impl=tree, AddContext and
// serialisation), for both HMAC methods, signing with the context key or
// with a key derived from it (derive=true: a DerivedKeyToken, a fresh
// nonce and P_SHA1 per message).
func BenchmarkSignContext(b *testing.B) {
	c := benchContext(b)
	now := time.Date(2026, 11, 21, 1, 2, 3, 0, time.UTC)
	for _, derive := range []bool{false, true} {
		for _, method := range []string{dsig.HMACSHA1, dsig.HMACSHA256} {
			name := map[string]string{dsig.HMACSHA1: "hmac-sha1", dsig.HMACSHA256: "hmac-sha256"}[method]
			name += "/derive=" + strconv.FormatBool(derive)
			o := ContextOptions{Options: Options{Now: func() time.Time { return now }, IDPrefix: "_scbench", Rand: rand.Reader},
				SignatureMethod: method, Derive: derive}
			b.Run("impl=template/method="+name, func(b *testing.B) {
				h, err := NewContextHeader(soap.V12, c, o)
				if err != nil {
					b.Fatal(err)
				}
				buf := make([]byte, 0, 4096)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := h.AppendTo(buf[:0], now); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("impl=tree/method="+name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := WithContext(benchEnvelope(), c, o); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkSignCertificate is the x509 profile's signing step per
// message: Timestamp, BinarySecurityToken and an RSA signature over the
// Timestamp and wsa:To, with 2048- and 3072-bit keys.
func BenchmarkSignCertificate(b *testing.B) {
	now := time.Date(2026, 11, 21, 1, 2, 3, 0, time.UTC)
	for _, bits := range []int{2048, 3072} {
		key, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			b.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "scproxy bench"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			b.Fatal(err)
		}
		cert, _ := x509.ParseCertificate(der)
		for _, method := range []string{dsig.RSASHA1, dsig.RSASHA256} {
			name := map[string]string{dsig.RSASHA1: "rsa-sha1", dsig.RSASHA256: "rsa-sha256"}[method]
			b.Run("bits="+strconv.Itoa(bits)+"/method="+name, func(b *testing.B) {
				cred := Certificate{Cert: cert, Key: key, Method: method}
				o := Options{Now: func() time.Time { return now }, IDPrefix: "_scbench"}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := WithCertificate(benchEnvelope(), cred, o); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// benchEnvelope is a SOAP 1.2 request header with WS-Addressing, as the
// proxy holds it after splice.Read (no Body content). Parsing it is part of
// each iteration of the tree and certificate benchmarks (a few
// microseconds), since signing changes it.
func benchEnvelope() *soap.Envelope {
	src := []byte(`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing"><s:Header>` +
		`<a:Action s:mustUnderstand="1">http://tempuri.org/IService/Process</a:Action>` +
		`<a:MessageID>urn:uuid:6a1e2c8e-0c35-4a4e-9d2f-7bb3f0b4f3a1</a:MessageID>` +
		`<a:To s:mustUnderstand="1">https://svc.example.com/Service.svc</a:To></s:Header><s:Body/></s:Envelope>`)
	env, err := soap.Parse(bytes.Clone(src), xmldoc.Limits{})
	if err != nil {
		panic(err)
	}
	return env
}
