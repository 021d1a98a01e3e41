package outbound

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/beevik/etree"
	"golang.org/x/sync/singleflight"

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
	// fetches shares one fetch of a document among the callers asking
	// for it at once: however many they are, the service is asked once.
	fetches singleflight.Group
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
	body, err := p.meta.get(r.Context(), p, &fetch, p.now())
	if errors.Is(err, errOverBudget) {
		return p.overBudget(w)
	}
	if err != nil {
		return err
	}
	out, err := rewriteAddresses(body, remote.String(), local, p.limits)
	if err != nil {
		return upstreamError(http.StatusBadGateway, CodeBadResponse, "%s: %v", describeFetch(&fetch), err)
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(out)
	return err
}

// get returns the upstream document at u, from the cache when fetched
// less than metadataTTL before now, else fetched. Concurrent callers share
// one fetch, which runs apart from any caller's context, bounded by the
// upstream timeout: a caller whose ctx ends stops waiting, and the fetch
// goes on for the others and the cache. A fetch that fails is neither
// kept nor retried: the next caller fetches anew.
func (m *metadata) get(ctx context.Context, p *Proxy, u *url.URL, now time.Time) ([]byte, error) {
	key := u.String()
	if body, ok := m.cached(key, now); ok {
		return body, nil
	}
	fetching := m.fetches.DoChan(key, func() (any, error) {
		return m.fetch(context.WithoutCancel(ctx), p, u, now)
	})
	select {
	case res := <-fetching:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.([]byte), nil
	case <-ctx.Done():
		return nil, upstreamError(http.StatusServiceUnavailable, CodeTimeout, "%s was canceled by the caller: %v", describeFetch(u), context.Cause(ctx))
	}
}

// cached returns the body kept under key, when fetched less than
// metadataTTL before now.
func (m *metadata) cached(key string, now time.Time) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.entries[key]; ok && now.Sub(e.fetched) < metadataTTL {
		return e.body, true
	}
	return nil, false
}

// fetch GETs the document at u, its bytes charged to the bodies in flight
// while it is read and checked, and keeps it once it proves to be a
// description (it parses). A fetch that ended after the caller looked
// at the cache may have kept it: then it is not fetched again.
func (m *metadata) fetch(ctx context.Context, p *Proxy, u *url.URL, now time.Time) ([]byte, error) {
	key := u.String()
	if body, ok := m.cached(key, now); ok {
		return body, nil
	}
	held := charges{b: p.bodies}
	defer held.release()
	body, err := fetchMetadata(ctx, m.httpClient(p), u, p.cfg.MaxBody, held.charge)
	if err != nil {
		return nil, err
	}
	if _, err := xmldoc.Parse(body, xmldoc.Options{Limits: p.limits}); err != nil {
		return nil, upstreamError(http.StatusBadGateway, CodeBadResponse, "%s: the description does not parse: %v", describeFetch(u), err)
	}
	m.keep(u, body, now)
	return body, nil
}

// httpClient returns the client of the fetches, made on first use: no
// proxy, no redirect followed, the route's roots, the upstream timeout.
func (m *metadata) httpClient(p *Proxy) *http.Client {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.Proxy = nil
		t.TLSClientConfig = &tls.Config{RootCAs: p.cfg.RootCAs, MinVersion: tls.VersionTLS12}
		m.client = &http.Client{Transport: t, Timeout: p.cfg.UpstreamTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return m.client
}

// describeFetch names the document at u in messages, without a
// credential of its address.
func describeFetch(u *url.URL) string { return upstream.Redact(u) + "?" + u.RawQuery }

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

// fetchMetadata GETs u with no credential and no cookie, within ctx,
// calling charge with the size of each buffer before it is filled
// (upstream.ReadAllCharged): its error ends the read and is returned.
func fetchMetadata(ctx context.Context, client *http.Client, u *url.URL, maxBody int64, charge func(int) error) ([]byte, error) {
	where := describeFetch(u)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, upstreamError(http.StatusBadGateway, CodeUnreachable, "%s: %v", where, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, upstreamError(http.StatusBadGateway, CodeUnreachable, "%s: %v", where, err)
	}
	defer resp.Body.Close()
	body, err := upstream.ReadAllCharged(io.LimitReader(resp.Body, maxBody+1), min(resp.ContentLength, maxBody), charge)
	switch {
	case errors.Is(err, errOverBudget):
		return nil, err
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
