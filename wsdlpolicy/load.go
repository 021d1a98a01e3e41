package wsdlpolicy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/scproxy/scproxy/wire/xmldoc"
)

// Defaults of Limits.
const (
	DefaultMaxBytes  = 4 << 20
	DefaultMaxDocs   = 16
	DefaultMaxDepth  = 4
	DefaultTimeout   = 30 * time.Second
	maxRedirects     = 3
	maxErrorBodyText = 200
)

// Limits bound what Load reads. A zero field means its default.
type Limits struct {
	// MaxBytes caps one document (DefaultMaxBytes: 4 MiB, more than a
	// large WCF ?singleWsdl).
	MaxBytes int
	// MaxDocs caps the documents read for one description, the first
	// included (DefaultMaxDocs).
	MaxDocs int
	// MaxDepth caps how deep wsdl:import goes (DefaultMaxDepth; the
	// first document is at depth 0).
	MaxDepth int
}

func (l Limits) withDefaults() Limits {
	pick := func(v, d int) int {
		if v > 0 {
			return v
		}
		return d
	}
	return Limits{
		MaxBytes: pick(l.MaxBytes, DefaultMaxBytes),
		MaxDocs:  pick(l.MaxDocs, DefaultMaxDocs),
		MaxDepth: pick(l.MaxDepth, DefaultMaxDepth),
	}
}

// Loader reads a WSDL description and the documents it imports.
type Loader struct {
	// Client fetches http and https documents. Nil means NewClient(nil).
	// Its redirect policy is replaced by Load's own.
	Client *http.Client
	// Limits bound what is read.
	Limits Limits
	// ReadFile reads a local document; nil means os.ReadFile. Only a
	// description given as a file may import files.
	ReadFile func(name string) ([]byte, error)
}

// NewClient returns the client Load uses: no cookie jar, no credentials,
// TLS verified against roots (nil: the system roots), every phase under a
// timeout.
func NewClient(roots *x509.CertPool) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	t.ResponseHeaderTimeout = DefaultTimeout
	t.TLSHandshakeTimeout = 10 * time.Second
	return &http.Client{Transport: t, Timeout: DefaultTimeout}
}

// Description is a WSDL description as read: the first document and every
// document it imports, each parsed.
type Description struct {
	// Location is where the first document was read (with the query that
	// answered, e.g. ?wsdl).
	Location string
	docs     []*document
}

// document is one parsed WSDL document and where it came from.
type document struct {
	location string
	root     *etree.Element
}

// Locations returns where each document was read, the first first.
func (d *Description) Locations() []string {
	out := make([]string, len(d.docs))
	for i, doc := range d.docs {
		out[i] = doc.location
	}
	return out
}

// Load reads the description at location: an http or https URL, or a file
// name. A URL without a query is tried with ?wsdl first, as WCF and CXF
// publish there, then as given. wsdl:import is followed, relative to the
// importing document.
func (l *Loader) Load(ctx context.Context, location string) (*Description, error) {
	lim := l.Limits.withDefaults()
	r := &reader{l: l, lim: lim, seen: map[string]bool{}}
	first, err := r.first(ctx, location)
	if err != nil {
		return nil, err
	}
	d := &Description{Location: first.location}
	queue := []struct {
		doc   *document
		depth int
	}{{first, 0}}
	for len(queue) > 0 {
		q := queue[0]
		queue = queue[1:]
		d.docs = append(d.docs, q.doc)
		for _, imp := range xmldoc.Children(q.doc.root, wsdlName("import")) {
			loc := imp.SelectAttrValue("location", "")
			if loc == "" {
				continue
			}
			next, err := resolve(q.doc.location, loc)
			if err != nil {
				return nil, fmt.Errorf("%s: wsdl:import %q: %w", q.doc.location, loc, err)
			}
			if r.seen[next] {
				continue
			}
			if q.depth+1 > lim.MaxDepth {
				return nil, fmt.Errorf("%s: wsdl:import goes deeper than %d documents", q.doc.location, lim.MaxDepth)
			}
			if len(d.docs)+len(queue)+1 > lim.MaxDocs {
				return nil, fmt.Errorf("the description imports more than %d documents", lim.MaxDocs)
			}
			doc, err := r.read(ctx, next, isURL(location))
			if err != nil {
				return nil, fmt.Errorf("wsdl:import from %s: %w (a WCF service also publishes everything in one document: ?singleWsdl)", q.doc.location, err)
			}
			queue = append(queue, struct {
				doc   *document
				depth int
			}{doc, q.depth + 1})
		}
	}
	return d, nil
}

// reader reads the documents of one Load.
type reader struct {
	l    *Loader
	lim  Limits
	seen map[string]bool
}

// first reads the description's first document, trying ?wsdl before the
// bare address of a URL without a query.
func (r *reader) first(ctx context.Context, location string) (*document, error) {
	if !isURL(location) {
		if strings.Contains(location, "://") {
			return nil, fmt.Errorf("%q: only http://, https:// and file names are read", location)
		}
		return r.read(ctx, location, false)
	}
	u, err := url.Parse(location)
	if err != nil {
		return nil, fmt.Errorf("%q is not a URL: %w", location, err)
	}
	if u.User != nil {
		return nil, errors.New("the URL holds credentials: inspect sends none, remove them")
	}
	u.Fragment = ""
	candidates := []string{u.String()}
	if u.RawQuery == "" {
		w := *u
		w.RawQuery = "wsdl"
		candidates = []string{w.String(), u.String()}
	}
	var firstErr error
	for _, c := range candidates {
		doc, err := r.read(ctx, c, true)
		if err == nil {
			return doc, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, firstErr
}

// read reads and parses one document; remote is whether the description
// came from the network (then no file is read).
func (r *reader) read(ctx context.Context, location string, remote bool) (*document, error) {
	r.seen[location] = true
	var src []byte
	var err error
	switch {
	case isURL(location):
		src, err = r.fetch(ctx, location)
	case remote:
		return nil, fmt.Errorf("%s: a document fetched from the network may not import a file", location)
	default:
		src, err = r.readFile(location)
	}
	if err != nil {
		return nil, err
	}
	doc, err := xmldoc.Parse(src, xmldoc.Options{Limits: xmldoc.Limits{MaxBytes: r.lim.MaxBytes}})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", location, err)
	}
	root := doc.Root()
	if !xmldoc.Is(root, wsdlName("definitions")) {
		return nil, fmt.Errorf("%s: not a WSDL 1.1 description (root element %s)", location, xmldoc.NameOf(root))
	}
	return &document{location: location, root: root}, nil
}

func (r *reader) readFile(name string) ([]byte, error) {
	read := r.l.ReadFile
	if read == nil {
		read = os.ReadFile
	}
	fi, err := os.Stat(name)
	if err == nil && fi.Size() > int64(r.lim.MaxBytes) {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, r.lim.MaxBytes)
	}
	src, err := read(name)
	if err != nil {
		return nil, err
	}
	if len(src) > r.lim.MaxBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, r.lim.MaxBytes)
	}
	return src, nil
}

// fetch GETs one document: no credential, at most maxRedirects redirects,
// never from https to http, at most MaxBytes.
func (r *reader) fetch(ctx context.Context, location string) ([]byte, error) {
	c := r.l.Client
	if c == nil {
		c = NewClient(nil)
	}
	cc := *c
	cc.Jar = nil
	cc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		switch {
		case len(via) > maxRedirects:
			return fmt.Errorf("more than %d redirects", maxRedirects)
		case req.URL.Scheme != "https" && req.URL.Scheme != "http":
			return fmt.Errorf("redirected to a %s: URL", req.URL.Scheme)
		case via[0].URL.Scheme == "https" && req.URL.Scheme == "http":
			return errors.New("redirected from https to http")
		case req.URL.User != nil:
			return errors.New("redirected to a URL with credentials")
		}
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, location, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/xml, application/xml, application/wsdl+xml")
	resp, err := cc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(r.lim.MaxBytes)+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", location, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered HTTP %d%s", location, resp.StatusCode, quoteText(body))
	}
	if len(body) > r.lim.MaxBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", location, r.lim.MaxBytes)
	}
	return body, nil
}

// quoteText returns a short, printable excerpt of an error page, or "".
func quoteText(body []byte) string {
	var b strings.Builder
	for _, c := range string(body) {
		if b.Len() >= maxErrorBodyText {
			b.WriteString("…")
			break
		}
		if c < 0x20 || c == 0x7f {
			c = ' '
		}
		b.WriteRune(c)
	}
	s := strings.Join(strings.Fields(b.String()), " ")
	if s == "" {
		return ""
	}
	return fmt.Sprintf(": %q", s)
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// resolve resolves ref against the document at base: a URL against a URL,
// a file name against a file's directory.
func resolve(base, ref string) (string, error) {
	if isURL(base) {
		b, err := url.Parse(base)
		if err != nil {
			return "", err
		}
		u, err := b.Parse(ref)
		if err != nil {
			return "", err
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return "", fmt.Errorf("a %s: location is not read", u.Scheme)
		}
		if u.User != nil {
			return "", errors.New("the location holds credentials")
		}
		u.Fragment = ""
		return u.String(), nil
	}
	if isURL(ref) {
		return ref, nil
	}
	if strings.Contains(ref, "://") {
		return "", errors.New("only http://, https:// and file names are read")
	}
	if filepath.IsAbs(ref) {
		return ref, nil
	}
	return filepath.Join(filepath.Dir(base), ref), nil
}
