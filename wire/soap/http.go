package soap

import (
	"errors"
	"fmt"
	"mime"
	"strings"
)

// Media types of the two versions.
const (
	MediaType11 = "text/xml"             // SOAP 1.1 HTTP binding (§6)
	MediaType12 = "application/soap+xml" // RFC 3902
)

// ErrMediaType reports a Content-Type that is not a SOAP media type scproxy
// handles (MTOM's multipart/related included): an HTTP front end answers it
// with 415.
var ErrMediaType = errors.New("soap: unsupported media type")

// ContentType returns the HTTP header values that carry action for a message
// of this version. SOAP 1.1 puts the action, quoted, in the SOAPAction header
// (§6.1.1); SOAP 1.2 puts it in the action parameter of the Content-Type
// (RFC 3902 §3) and has no SOAPAction header, so soapAction is empty and must
// not be sent. The parameter order and quoting are WCF's.
func (v Version) ContentType(action string) (contentType, soapAction string, err error) {
	if err := checkAction(action); err != nil {
		return "", "", err
	}
	switch v {
	case V11:
		return MediaType11 + "; charset=utf-8", `"` + action + `"`, nil
	case V12:
		ct := MediaType12 + "; charset=utf-8"
		if action != "" {
			ct += `; action="` + action + `"`
		}
		return ct, "", nil
	}
	return "", "", fmt.Errorf("soap: no HTTP binding for %s", v)
}

// checkAction refuses characters that would need escaping in a header: an
// action is a URI, and anything else in it is either a mistake or an attempt
// to inject a header.
func checkAction(action string) error {
	for i := 0; i < len(action); i++ {
		c := action[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return fmt.Errorf("soap: action contains byte 0x%02x not allowed in a URI", c)
		}
	}
	return nil
}

// ActionFromHTTP returns the SOAP version a request's Content-Type announces
// and the action it carries: the SOAPAction header for SOAP 1.1 (quoted as
// §6.1.1 requires, or bare as some legacy clients send it), the action
// parameter for SOAP 1.2 (a SOAPAction header is ignored there). A charset
// other than UTF-8 is refused, since the XML parser reads only UTF-8. An
// absent action is returned as "".
func ActionFromHTTP(contentType, soapAction string) (Version, string, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return 0, "", fmt.Errorf("%w: %q: %v", ErrMediaType, contentType, err)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return 0, "", fmt.Errorf("%w: charset %q (only utf-8 is accepted)", ErrMediaType, cs)
	}
	switch mt {
	case MediaType11:
		a, err := unquoteSOAPAction(soapAction)
		return V11, a, err
	case MediaType12:
		return V12, params["action"], nil
	}
	return 0, "", fmt.Errorf("%w: %q", ErrMediaType, mt)
}

func unquoteSOAPAction(h string) (string, error) {
	h = strings.TrimSpace(h)
	if !strings.HasPrefix(h, `"`) {
		if strings.Contains(h, `"`) {
			return "", fmt.Errorf("soap: malformed SOAPAction header %q", h)
		}
		return h, nil
	}
	if len(h) < 2 || !strings.HasSuffix(h, `"`) || strings.Contains(h[1:len(h)-1], `"`) {
		return "", fmt.Errorf("soap: malformed SOAPAction header %q", h)
	}
	return h[1 : len(h)-1], nil
}
