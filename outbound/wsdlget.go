package outbound

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/beevik/etree"
	"github.com/scproxy/scproxy/upstream"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// The WSDL pass-through: clients that read a service's description from
// its address (zeep, svcutil, SoapUI: GET ?wsdl, ?singleWsdl, ?wsdl=wsdl0,
// ?xsd=xsd0) get the upstream's, fetched without any credential, capped in
// size, kept for metadataTTL, with the service's addresses in it rewritten
// to the listener's so that the client then calls scproxy.
const (
	metadataTTL     = 5 * time.Minute
	metadataEntries = 64
	// metadataBytes bounds the bytes the cache holds: a caller asking for
	// many names cannot make it hold metadataEntries × MaxBody.
	metadataBytes = 16 << 20
	maxQueryValue = 64
)

// metadataKeys are the query keys of the documents WCF and CXF publish.
var metadataKeys = map[string]bool{"wsdl": true, "singlewsdl": true, "xsd": true}

// metadata caches fetched descriptions; the zero value is ready.
type metadata struct {
	mu      sync.Mutex
	client  *http.Client
	entries map[string]metadataEntry
	// size is the bytes of the entries' bodies.
	size int
}

type metadataEntry struct {
	body    []byte
	fetched time.Time
}

// isMetadataQuery reports whether a GET's query asks for a description:
// one key of metadataKeys (any case), with at most a short name as value.
func isMetadataQuery(q string) bool {
	k, v, _ := strings.Cut(q, "=")
	if !metadataKeys[strings.ToLower(k)] || len(v) > maxQueryValue || strings.ContainsAny(q, "&;") {
		return false
	}
	return strings.Trim(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == ""
}

// serveMetadata answers a description GET from the route's upstream.
func (p *Proxy) serveMetadata(w http.ResponseWriter, r *http.Request, target *url.URL) error {
	remote := *target
	remote.RawQuery, remote.Fragment = "", ""
	local := "http://" + r.Host + r.URL.Path
	if r.URL.IsAbs() { // the application uses scproxy as its HTTP proxy
		local = "http://" + r.URL.Host + r.URL.Path
	}
	fetch := remote
	fetch.RawQuery = r.URL.RawQuery
	now := p.now()
	body, cached, err := p.meta.get(r.Context(), p, &fetch, now)
	if err != nil {
		return err
	}
	out, err := rewriteAddresses(body, remote.String(), local, p.limits)
	if err != nil {
		return upstreamError(http.StatusBadGateway, CodeBadResponse, "%s?%s: %v", upstream.Redact(&remote), r.URL.RawQuery, err)
	}
	if !cached {
		p.meta.keep(&fetch, body, now)
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(out)
	return err
}

// get returns the upstream document at u, from the cache when fetched
// less than metadataTTL before now (cached true), else fetched;
// serveMetadata keeps a fetched one once it proves to be a description.
func (m *metadata) get(ctx context.Context, p *Proxy, u *url.URL, now time.Time) (body []byte, cached bool, err error) {
	key := u.String()
	m.mu.Lock()
	if e, ok := m.entries[key]; ok && now.Sub(e.fetched) < metadataTTL {
		m.mu.Unlock()
		return e.body, true, nil
	}
	if m.client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.Proxy = nil
		t.TLSClientConfig = &tls.Config{RootCAs: p.cfg.RootCAs, MinVersion: tls.VersionTLS12}
		m.client = &http.Client{Transport: t, Timeout: p.cfg.UpstreamTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	client := m.client
	m.mu.Unlock()

	body, err = fetchMetadata(ctx, client, u, p.cfg.MaxBody)
	return body, false, err
}

// keep caches body, fetched at now from u, once it proved to be a
// description (it parsed).
func (m *metadata) keep(u *url.URL, body []byte, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.put(u.String(), metadataEntry{body: body, fetched: now})
}

// put keeps e under key, dropping the oldest entries while the cache
// would hold more than metadataEntries entries or metadataBytes bytes; a
// body larger than the whole budget is not kept.
func (m *metadata) put(key string, e metadataEntry) {
	if len(e.body) > metadataBytes {
		return
	}
	if m.entries == nil {
		m.entries = map[string]metadataEntry{}
	}
	if old, ok := m.entries[key]; ok {
		m.size -= len(old.body)
		delete(m.entries, key)
	}
	for len(m.entries) >= metadataEntries || m.size+len(e.body) > metadataBytes {
		oldest := ""
		for k, v := range m.entries {
			if oldest == "" || v.fetched.Before(m.entries[oldest].fetched) {
				oldest = k
			}
		}
		m.size -= len(m.entries[oldest].body)
		delete(m.entries, oldest)
	}
	m.entries[key] = e
	m.size += len(e.body)
}

// fetchMetadata GETs u with no credential and no cookie, within ctx (the
// application's request's).
func fetchMetadata(ctx context.Context, client *http.Client, u *url.URL, maxBody int64) ([]byte, error) {
	where := upstream.Redact(u) + "?" + u.RawQuery
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, upstreamError(http.StatusBadGateway, CodeUnreachable, "%s: %v", where, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, upstreamError(http.StatusBadGateway, CodeUnreachable, "%s: %v", where, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	switch {
	case err != nil:
		return nil, upstreamError(http.StatusBadGateway, CodeUnreachable, "%s: %v", where, err)
	case int64(len(body)) > maxBody:
		return nil, upstreamError(http.StatusBadGateway, CodeBadResponse, "%s: the description is larger than %d bytes", where, maxBody)
	case resp.StatusCode != http.StatusOK:
		msg := fmt.Sprintf("%s answered HTTP %d", where, resp.StatusCode)
		if said := upstream.Excerpt(body); said != "" {
			msg += fmt.Sprintf(" (the service says %q)", said)
		}
		return nil, upstreamError(http.StatusBadGateway, CodeBadResponse, "%s", msg)
	}
	return body, nil
}

// addressNames are the elements and attributes that hold the service's
// addresses in a description: SOAP 1.1 and 1.2 endpoint addresses, endpoint
// references, and the locations of imported documents.
var addressNames = []struct {
	el   xmldoc.Name
	attr string // "" for the element's text
}{
	{xmldoc.Name{Space: "http://schemas.xmlsoap.org/wsdl/soap/", Local: "address"}, "location"},
	{xmldoc.Name{Space: "http://schemas.xmlsoap.org/wsdl/soap12/", Local: "address"}, "location"},
	{xmldoc.Name{Space: "http://www.w3.org/2005/08/addressing", Local: "Address"}, ""},
	{xmldoc.Name{Space: "http://schemas.xmlsoap.org/ws/2004/08/addressing", Local: "Address"}, ""},
	{xmldoc.Name{Space: "http://schemas.xmlsoap.org/wsdl/", Local: "import"}, "location"},
	{xmldoc.Name{Space: "http://www.w3.org/2001/XMLSchema", Local: "import"}, "schemaLocation"},
	{xmldoc.Name{Space: "http://www.w3.org/2001/XMLSchema", Local: "include"}, "schemaLocation"},
}

// rewriteAddresses parses a description and replaces each address at or
// below the upstream's path (whatever host the service published, as WCF
// behind a balancer publishes its own name) with the same address below
// local.
func rewriteAddresses(body []byte, remote, local string, lim xmldoc.Limits) ([]byte, error) {
	doc, err := xmldoc.Parse(body, xmldoc.Options{Limits: lim})
	if err != nil {
		return nil, fmt.Errorf("the description does not parse: %w", err)
	}
	ru, err := url.Parse(remote)
	if err != nil {
		return nil, err
	}
	rewrite := func(v string) string {
		u, err := url.Parse(strings.TrimSpace(v))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			return v
		}
		// Compared as escaped (an encoded '?' or '/' stays encoded) and
		// without changing case, so that the rest is cut at the same byte
		// (WCF publishes an address in any case).
		path, base := u.EscapedPath(), strings.TrimSuffix(ru.EscapedPath(), "/")
		if len(path) < len(base) || !strings.EqualFold(path[:len(base)], base) || (len(path) > len(base) && path[len(base)] != '/') {
			return v
		}
		out := strings.TrimSuffix(local, "/") + path[len(base):]
		if u.RawQuery != "" {
			out += "?" + u.RawQuery
		}
		return out
	}
	xmldoc.Walk(doc.Root(), func(e *etree.Element) {
		for _, n := range addressNames {
			if !xmldoc.Is(e, n.el) {
				continue
			}
			if n.attr == "" {
				e.SetText(rewrite(e.Text()))
			} else if a := e.SelectAttr(n.attr); a != nil {
				a.Value = rewrite(a.Value)
			}
		}
	})
	var buf bytes.Buffer
	buf.WriteString(`<?xml version="1.0" encoding="utf-8"?>`)
	doc.Root().WriteTo(&buf, &etree.WriteSettings{CanonicalText: true, CanonicalAttrVal: true})
	return buf.Bytes(), nil
}
