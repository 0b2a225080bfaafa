package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// Defaults of Config.
const (
	DefaultMaxBodyBytes       = 1 << 20 // 1 MiB of JSON
	DefaultMaxAttachmentBytes = 1 << 30 // 1 GiB
	DefaultTokenCacheTTL      = 2 * time.Second
	DefaultMaintenanceTTL     = time.Second
	DefaultStallTimeout       = time.Minute
	DefaultRetryAfter         = 30 * time.Second
)

// Config configures a Server. Only Keyward is required.
type Config struct {
	// Keyward is the deployment served, unlocked or sealed. The Server does
	// not close it.
	Keyward *keyward.Keyward
	// Logger receives one line per request and the server's events; never
	// a key, a token secret or a field value. Default: discard.
	Logger *slog.Logger
	// Version is reported by GET /v1/sys/status.
	Version string
	// MaxBodyBytes caps JSON request bodies (413 above). Default 1 MiB.
	MaxBodyBytes int64
	// MaxAttachmentBytes caps one attachment upload (413 above). Default 1 GiB.
	MaxAttachmentBytes int64
	// TokenCacheTTL is how long a verified token is trusted without asking
	// the store again. Default 2 s; negative disables the cache.
	TokenCacheTTL time.Duration
	// MaintenanceTTL is how long the maintenance switch read from the store
	// is trusted. Default 1 s; negative reads it on every request.
	MaintenanceTTL time.Duration
	// StallTimeout cuts an attachment upload or download that moves no byte
	// for this long. Default 1 min.
	StallTimeout time.Duration
	// RetryAfter is the Retry-After sent with 503 maintenance. Default 30 s.
	RetryAfter time.Duration
	// MetricsPublic serves /metrics without a token. By default any valid
	// token may read it.
	MetricsPublic bool
	// Registry receives the server's metrics. Default: a new registry with
	// the Go and process collectors.
	Registry *prometheus.Registry
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	setDefault(&c.MaxBodyBytes, DefaultMaxBodyBytes)
	setDefault(&c.MaxAttachmentBytes, DefaultMaxAttachmentBytes)
	setDefault(&c.TokenCacheTTL, DefaultTokenCacheTTL)
	setDefault(&c.MaintenanceTTL, DefaultMaintenanceTTL)
	setDefault(&c.StallTimeout, DefaultStallTimeout)
	setDefault(&c.RetryAfter, DefaultRetryAfter)
}

func setDefault[T int64 | time.Duration](v *T, d T) {
	if *v == 0 {
		*v = d
	}
}

// Server serves one deployment over HTTP. Create it with New.
type Server struct {
	cfg     Config
	kw      *keyward.Keyward
	log     *slog.Logger
	mux     *http.ServeMux
	routes  []route
	tokens  *tokenCache
	maint   *maintenanceCache
	integ   *integrityLog
	metrics *metrics
	// unlockMu lets one unlock attempt run at a time: each costs a KDF.
	unlockMu sync.Mutex
	jobs     jobRunner // key jobs run in this process (jobs.go)
}

// New returns a Server for cfg.Keyward.
func New(cfg Config) (*Server, error) {
	if cfg.Keyward == nil {
		return nil, errors.New("server: Config.Keyward is nil")
	}
	cfg.setDefaults()
	s := &Server{
		cfg:    cfg,
		kw:     cfg.Keyward,
		log:    cfg.Logger,
		mux:    http.NewServeMux(),
		tokens: newTokenCache(cfg.TokenCacheTTL),
		maint:  newMaintenanceCache(cfg.Keyward, cfg.MaintenanceTTL),
		integ:  newIntegrityLog(maxIntegrityRecords),
	}
	m, err := newMetrics(s, cfg.Registry)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	s.routes = s.routeTable()
	s.register()
	return s, nil
}

// Handler returns the HTTP handler of every route.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// serveHTTP answers requests that match no route (404) or no method of a
// route (405) with a JSON error, and hands the others to the mux.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern == "" {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, route: "unmatched"}
		// The mux answers 404, 405 (with Allow) or a redirect to the clean
		// path; errors are turned into JSON.
		s.mux.ServeHTTP(&jsonErrors{statusWriter: sw}, r)
		s.metrics.observe(sw, r.Method, start)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// Timeouts of the http.Server made by HTTPServer. Attachment transfers move
// their own deadlines (Config.StallTimeout), so WriteTimeout bounds only
// ordinary responses.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = time.Minute
	WriteTimeout      = time.Minute
	IdleTimeout       = 2 * time.Minute
	MaxHeaderBytes    = 64 << 10
)

// HTTPServer returns an http.Server for the handler with keyward's timeouts
// and limits, logging its own errors to the server's logger.
func (s *Server) HTTPServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           s.Handler(),
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// ShutdownTimeout is how long Serve waits for requests in flight once ctx
// ends.
const ShutdownTimeout = 30 * time.Second

// Serve answers requests on ln until ctx ends, then stops accepting, lets
// the requests in flight finish (up to ShutdownTimeout; an upload cut after
// that stores nothing) and returns. With certFile and keyFile it serves TLS.
func (s *Server) Serve(ctx context.Context, ln net.Listener, certFile, keyFile string) error {
	hs := s.HTTPServer(ln.Addr().String())
	hs.BaseContext = func(net.Listener) context.Context { return context.WithoutCancel(ctx) }
	done := make(chan error, 1)
	go func() {
		if certFile != "" || keyFile != "" {
			done <- hs.ServeTLS(ln, certFile, keyFile)
		} else {
			done <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-done:
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down: waiting for requests in flight", "timeout", ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		s.log.Warn("shutdown timeout: closing the remaining connections; their uploads are discarded")
		err = hs.Close()
	}
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// status is the answer of GET /v1/sys/status for tok (nil: no token).
func (s *Server) status(ctx context.Context, tok *keyward.Token) (api.Status, error) {
	st := api.Status{Version: s.cfg.Version, Sealed: s.kw.Sealed()}
	m, err := s.maint.get(ctx)
	if err != nil {
		return st, err
	}
	st.Maintenance = toAPIMaintenance(m)
	if tok == nil || tok.Role != keyward.RoleAdmin {
		return st, nil
	}
	if st.Deployment, err = s.kw.Status(ctx); err != nil {
		return st, err
	}
	st.Integrity = s.integ.list()
	return st, nil
}
