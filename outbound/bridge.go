package outbound

import (
	"errors"
	"net/http"

	"github.com/scproxy/scproxy/wire/bridge"
	"github.com/scproxy/scproxy/wire/splice"
	"github.com/scproxy/scproxy/wire/wsa"
)

// bridgeRequest rewrites the application's envelope into the upstream's
// SOAP and WS-Addressing versions (the configured ones, else the
// application's own) and points it at the target (bridge.Hop.Request). A
// request the bridge refuses is the application's error.
func (x *exchange) bridgeRequest(m *splice.Message) error {
	cfg := &x.p.cfg
	up := x.hop.App
	if cfg.SOAP != 0 {
		up.SOAP = cfg.SOAP
	}
	if !cfg.Addressing.Auto {
		up.Addressing = cfg.Addressing.Version
	}
	if cfg.Profile == ProfileMessage && up.Addressing == wsa.None {
		// Message security ties an answer to its request by a signed
		// wsa:RelatesTo: the request is addressed, in WS-Addressing 1.0
		// as WCF's wsHttpBinding is, even for an application that sends
		// none.
		up.Addressing = wsa.V10
	}
	x.hop.Upstream, x.hop.To, x.hop.Rand = up, x.target.String(), x.p.rand
	err := x.hop.Request(m)
	if err == nil {
		return nil
	}
	var refused *bridge.RefusedError
	if errors.As(err, &refused) {
		return appError(http.StatusBadRequest, CodeBadRequest, "%v", err)
	}
	return err
}
