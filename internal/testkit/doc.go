// Package testkit holds what scproxy's tests share and nothing else: a
// fixed test PKI (a CA, a server certificate for 127.0.0.1, ::1 and
// localhost, a client certificate, and an untrusted CA with its own
// client, all valid until 2099, kept as PEM files under testdata so that
// no test waits for an RSA key to be made); an in-memory upstream that
// serves an http.Handler through an http.RoundTripper without sockets;
// one synchronised log buffer; golden-file comparison with an -update
// flag; and the budget mode, in which wall-clock and allocation figures
// are checked against their goals (SCPROXY_BUDGETS=1) instead of only
// logged.
//
// Tests that need real network behaviour (TLS handshakes, slow clients,
// connection reuse) keep using real listeners; the in-memory upstream is
// for tests that only need an answer.
package testkit
