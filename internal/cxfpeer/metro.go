package cxfpeer

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Metro is a running Metro service (testdata/peers/metro): one
// message-security endpoint, AnonymousForCertificate with derived keys,
// the Signature encrypted, Basic256, WS-SC February 2005, SOAP 1.2.
type Metro struct {
	*process
	// URL is the endpoint's address (plain HTTP on loopback).
	URL string
}

// MetroScenario is the Metro endpoint's scenario in the terms of the CXF
// service's message-security scenarios (Path is empty: the endpoint is
// Metro.URL).
var MetroScenario = MsgScenario{Bootstrap: "anonymous", Version: "2005", Order: "sign-encrypt-signature",
	Derived: true, Cancel: true, Suite: "Basic256", SOAP12: true}

// StartMetro runs the Metro service with the PKI's server key (and its
// client key for Metro's own client) and waits until Metro's own client
// has established a context with it and echoed two messages through it,
// which it does before announcing the endpoint.
func StartMetro(java string, b Build, pki *PKI, dir string) (*Metro, error) {
	p, err := startJVM(java, b, dir, "metro", nil, "io.scproxy.metro.Main",
		"--cert", pki.ServerCert, "--key", pki.ServerKey, "--ca", pki.CAFile,
		"--client-cert", pki.ClientCert, "--client-key", pki.ClientKey)
	if err != nil {
		return nil, err
	}
	line, err := p.await("READY ", 2*time.Minute)
	if err != nil {
		p.Stop()
		return nil, fmt.Errorf("Metro peer: %w", err)
	}
	var ready struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "READY ")), &ready); err != nil || ready.URL == "" {
		p.Stop()
		return nil, fmt.Errorf("Metro peer: bad ready line %q", line)
	}
	return &Metro{process: p, URL: ready.URL}, nil
}
