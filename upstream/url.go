package upstream

import (
	"errors"
	"net/url"
)

// CheckURL accepts the address of an upstream endpoint or STS: an
// absolute http or https URL with a host, without credentials or
// fragment. Its messages do not repeat the URL, which may hold a password.
func CheckURL(u *url.URL) error {
	switch {
	case u == nil:
		return errors.New("no URL")
	case u.Scheme != "https" && u.Scheme != "http":
		return errors.New("want an absolute https:// or http:// URL")
	case u.Host == "":
		return errors.New("the URL has no host")
	case u.User != nil:
		return errors.New("credentials do not belong in the URL")
	case u.Fragment != "":
		return errors.New("remove the #fragment: it has no meaning here")
	}
	return nil
}
