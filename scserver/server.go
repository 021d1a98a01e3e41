package scserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// Server is a WS-SecureConversation service. It is an http.Handler; Start
// or Serve run it on its own listener with its generated certificate.
type Server struct {
	cfg     Config
	store   *store
	stats   *stats
	script  script
	cookies *cookieJar      // nil unless Config.Cookie
	tokens  *tokens         // nil unless issued tokens are issued or accepted
	msg     *messageService // nil unless Config.Message
	certs   *serverCerts
	caFile  string
	tmpDir  string // created by New, removed by Close
	http    *http.Server

	mu        sync.Mutex
	url       string
	stopCtx   func() bool
	closeOnce sync.Once
	closeErr  error
}

// New returns a server ready to serve, its CA certificate already written
// (see CAFile).
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, store: newStore(), stats: newStats()}
	s.script.set(cfg.Script)
	if cfg.Cookie {
		if s.cookies, err = newCookieJar(cfg.Rand); err != nil {
			return nil, err
		}
	}
	if s.tokens, err = newTokens(cfg); err != nil {
		return nil, err
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("scserver: listen address: %w", err)
	}
	if s.certs, err = generateCerts([]string{host}); err != nil {
		return nil, err
	}
	if s.caFile, s.tmpDir, err = writeCA(cfg.CertDir, s.certs.caPEM); err != nil {
		if s.tmpDir != "" {
			os.RemoveAll(s.tmpDir)
		}
		return nil, err
	}
	if cfg.Message != nil {
		if s.msg, err = newMessageService(cfg); err == nil {
			s.msg.certFile, err = writeServiceCert(s.caFile, s.msg.cfg.Certificate)
		}
		if err != nil {
			if s.tmpDir != "" {
				os.RemoveAll(s.tmpDir)
			}
			return nil, err
		}
	}
	s.http = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		// TLS handshake failures and the like go to the request log.
		ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// TLSConfig returns the TLS settings of the server's own listener, for
// embedding the handler in another server.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{s.certs.leaf}, MinVersion: tls.VersionTLS12}
}

// CertPool returns a pool holding the server's CA, for clients.
func (s *Server) CertPool() *x509.CertPool { return s.certs.pool.Clone() }

// CAFile is the path of the PEM CA certificate a client must trust.
func (s *Server) CAFile() string { return s.caFile }

// Client returns an HTTP client that trusts the server's CA (and nothing
// else).
func (s *Server) Client() *http.Client {
	return &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.CertPool(), MinVersion: tls.VersionTLS12}},
		Timeout:   time.Minute,
	}
}

// URL is the service address once the server listens, "" before.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// Serve accepts connections on l until Close, speaking TLS unless the
// configuration asks for plain HTTP. It returns nil after Close.
func (s *Server) Serve(l net.Listener) error {
	return serveErr(s.http.Serve(s.listener(l)))
}

// Start listens on the configured address and serves in the background
// until ctx ends or Close is called. When it returns, URL is set.
func (s *Server) Start(ctx context.Context) error {
	l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("scserver: %w", err)
	}
	tl := s.listener(l)
	go func() {
		if err := serveErr(s.http.Serve(tl)); err != nil {
			s.cfg.Logger.Error("serve", "err", err)
		}
	}()
	stop := context.AfterFunc(ctx, func() { s.Close() })
	s.mu.Lock()
	s.stopCtx = stop
	s.mu.Unlock()
	return nil
}

// listener wraps l in TLS unless plain HTTP is configured, and publishes
// the URL it serves.
func (s *Server) listener(l net.Listener) net.Listener {
	scheme := "https"
	if s.cfg.PlainHTTP {
		scheme = "http"
	} else {
		l = tls.NewListener(l, s.TLSConfig())
	}
	s.mu.Lock()
	s.url = fmt.Sprintf("%s://%s/", scheme, l.Addr())
	s.mu.Unlock()
	return l
}

func serveErr(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops the server and removes the temporary directory holding the
// CA certificate (a CertDir given in the configuration is left alone).
// It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		stop := s.stopCtx
		s.mu.Unlock()
		if stop != nil {
			stop()
		}
		s.closeErr = s.http.Close()
		if s.tmpDir != "" {
			if err := os.RemoveAll(s.tmpDir); err != nil && s.closeErr == nil {
				s.closeErr = err
			}
		}
	})
	return s.closeErr
}
