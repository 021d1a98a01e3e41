package upstream

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxExcerpt bounds what an error quotes of a service's answer.
const maxExcerpt = 300

// NotSOAP describes an answer that is not a SOAP envelope, for an error
// message: its status and content type, what the service said (bounded,
// printable, never quoting a credential back), and the setting that fixes
// the usual cause of the status. sent12 says whether the request was SOAP
// 1.2, which decides the advice on 415.
func NotSOAP(r *Response, sent12 bool) string {
	msg := fmt.Sprintf("HTTP %d with %q, not SOAP", r.Status, r.ContentType)
	if said := Excerpt(r.Body); said != "" {
		msg += fmt.Sprintf(" (the service says %q)", said)
	}
	if hint := Hint(r.Status, sent12); hint != "" {
		msg += ": " + hint
	}
	return msg
}

// Hint names the setting that fixes the usual cause of an HTTP status
// from a SOAP service, or "".
func Hint(status int, sent12 bool) string {
	switch status {
	case 415:
		if sent12 {
			return "the service wants SOAP 1.1 (text/xml): set --soap-version 1.1 (and --addressing as its policy says)"
		}
		return "the service wants another SOAP version; a WCF wsHttpBinding or ws2007HttpBinding service speaks SOAP 1.2 with WS-Addressing 1.0: set --soap-version 1.2 --addressing 1.0"
	case 404:
		return "no service at this address: check the upstream URL (the .svc path, and the endpoint's relative address)"
	case 401, 403:
		return "the service refused the HTTP request's credentials: check the credential (user name, password, certificate) and that the service expects message credentials, not HTTP authentication"
	case 405:
		return "the address does not take POST: check the upstream URL"
	case 400:
		return "the service could not read the request: check --soap-version and --addressing against its policy (scproxy inspect prints them)"
	}
	return ""
}

var (
	tags        = regexp.MustCompile(`(?is)<style.*?</style>|<script.*?</script>|<[^>]*>`)
	credentials = regexp.MustCompile(`(?i)password|passwd|binarysecret|nonce|usernametoken|secret|authorization`)
)

// Excerpt returns what a service's non-SOAP answer says, for an error
// message: markup removed, control characters and runs of space turned
// into single spaces, at most maxExcerpt bytes of valid UTF-8. An answer
// that mentions a credential (a service echoing the request it refused)
// is not quoted.
func Excerpt(body []byte) string {
	if len(body) > 16*maxExcerpt {
		body = body[:16*maxExcerpt]
	}
	s := strings.ToValidUTF8(string(body), "")
	if credentials.MatchString(s) {
		return "(the answer quotes what looks like a credential; not shown)"
	}
	if strings.Contains(s, "<") {
		s = tags.ReplaceAllString(s, " ")
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxExcerpt {
		cut := maxExcerpt
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
