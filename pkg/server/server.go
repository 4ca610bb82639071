// Package server is facectl's HTTP service: the upload page, the JSON API, health,
// readiness and metrics, built to run as many replicas behind a load balancer. It bounds
// everything a client controls (body size, multipart parts, timeouts, the queue of detection
// work), answers overload with 429/503 instead of falling over, and drains gracefully on
// shutdown. The detection engine comes in through the small Engine interface.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/facectl/facectl/pkg/face"
)

// Engine is what the server needs from a detection engine (*vision.Engine implements it).
// Detect and Render must be safe for concurrent use and return errors wrapping the imagecheck
// sentinels for bad input.
type Engine interface {
	Name() string
	Workers() int
	Detect(ctx context.Context, data []byte, f face.Filter) (face.Detection, error)
	Render(ctx context.Context, data []byte, f face.Filter, o face.RenderOptions) ([]byte, face.Detection, error)
}

// Server serves the page and the API. Create it with New, then call Run (or mount Handler).
type Server struct {
	cfg      Config
	log      *slog.Logger
	engines  map[string]Engine
	detector string // default engine
	allowed  map[string]bool
	adm      *admission
	m        *metrics
	gatherer prometheus.Gatherer
	keys     [][]byte
	proxies  []netip.Prefix
	handler  http.Handler

	draining  atomic.Bool
	listening chan struct{}
	mu        sync.Mutex
	addr      net.Addr
	mAddr     net.Addr
}

// New checks cfg and the engines and builds the server. engines maps a detector name to
// its engine; cfg.Detector picks the default (it may be empty when there is one engine).
// reg receives the metrics and is served on /metrics; nil makes a new registry with the Go
// and process collectors.
func New(cfg Config, engines map[string]Engine, log *slog.Logger, reg *prometheus.Registry) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid server configuration: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if len(engines) == 0 {
		return nil, errors.New("creating server: no detection engine")
	}
	def := cfg.Detector
	if def == "" {
		if len(engines) > 1 {
			return nil, fmt.Errorf("creating server: %d engines given (%s) but server.detector names no default", len(engines), engineNames(engines))
		}
		for name := range engines {
			def = name
		}
	}
	var errs []error
	for name, e := range engines {
		if e == nil {
			errs = append(errs, fmt.Errorf("engine %q is nil", name))
		}
	}
	if _, ok := engines[def]; !ok {
		errs = append(errs, fmt.Errorf("server.detector %q is not among the loaded engines (%s)", def, engineNames(engines)))
	}
	allowed := map[string]bool{def: true}
	for _, d := range cfg.AllowedDetectors {
		if _, ok := engines[d]; !ok {
			errs = append(errs, fmt.Errorf("server.allowed_detectors: %q is not among the loaded engines (%s)", d, engineNames(engines)))
		}
		allowed[d] = true
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("creating server: %w", err)
	}

	workers := cfg.MaxConcurrentDetections
	if workers == 0 {
		workers = engines[def].Workers()
	}
	if workers < 1 {
		workers = 1
	}
	if reg == nil {
		reg = newRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("registering metrics: %w", err)
	}
	m.workers.Set(float64(workers))

	s := &Server{
		cfg:       cfg,
		log:       log,
		engines:   engines,
		detector:  def,
		allowed:   allowed,
		adm:       newAdmission(workers, cfg.QueueSize, cfg.MaxBufferedBytes, cfg.MaxDecodeBytes, cfg.MaxBufferedBytes, cfg.QueueWait, m),
		m:         m,
		gatherer:  reg,
		listening: make(chan struct{}),
	}
	for _, k := range cfg.APIKeys {
		s.keys = append(s.keys, []byte(k))
	}
	for _, p := range cfg.TrustedProxies {
		pfx, _ := parseProxy(p) // checked by Validate
		s.proxies = append(s.proxies, pfx)
	}
	s.handler = s.newRouter(s.routes())
	m.ready.Set(1)
	log.Info("server configured", "detector", def, "allowed_detectors", sortedKeys(allowed),
		"workers", workers, "queue_size", cfg.QueueSize, "queue_wait", cfg.QueueWait.String(),
		"max_body_bytes", cfg.MaxBodyBytes, "max_buffered_bytes", cfg.MaxBufferedBytes, "max_decode_bytes", cfg.MaxDecodeBytes, "api_keys", len(cfg.APIKeys))
	return s, nil
}

// Handler returns the whole HTTP handler (page, API, health, metrics), for httptest or for
// mounting in another server.
func (s *Server) Handler() http.Handler { return s.handler }

// Workers returns the number of detections that run at once.
func (s *Server) Workers() int { return cap(s.adm.slots) }

// Listening is closed once Run has bound its listeners; Addr and MetricsAddr are valid then.
func (s *Server) Listening() <-chan struct{} { return s.listening }

// Addr returns the bound address of the main listener (nil before Listening is closed).
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// MetricsAddr returns the bound address of the metrics listener, or nil when metrics are
// served on the main listener.
func (s *Server) MetricsAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mAddr
}

// Draining reports whether the server has been asked to stop and readiness fails.
func (s *Server) Draining() bool { return s.draining.Load() }

// Run listens on cfg.Addr (and cfg.MetricsAddr) and serves until ctx is cancelled. Then it
// drains: readiness answers 503 at once, every response closes its connection so clients
// reconnect through the load balancer, requests are still served for cfg.DrainPeriod, and finally the
// server shuts down, waiting at most cfg.GracePeriod for in-flight requests. It returns nil
// after a clean shutdown.
func (s *Server) Run(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", s.cfg.Addr, err)
	}
	var mln net.Listener
	if s.cfg.MetricsAddr != "" {
		mln, err = lc.Listen(ctx, "tcp", s.cfg.MetricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listening on metrics address %s: %w", s.cfg.MetricsAddr, err)
		}
	}
	return s.Serve(ctx, ln, mln)
}

// Serve is Run on listeners the caller has bound; mln may be nil. It closes both.
func (s *Server) Serve(ctx context.Context, ln, mln net.Listener) error {
	// Requests run on a context that outlives ctx during the drain and grace periods and is
	// cancelled only when the grace period is over, so queued work then gives up at once.
	base, cancelBase := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancelBase(nil)
	nofile := openFileLimit()
	mainCap, metricsCap := connCaps(nofile, s.cfg.MaxConnections, mln != nil)
	ln = rejectListener{Listener: newConnLimit(ln, mainCap, "main", s.m, s.adm.returnMemory), s: s}
	if mln != nil {
		mln = rejectListener{Listener: newConnLimit(mln, metricsCap, "metrics", s.m, s.adm.returnMemory), s: s}
	}
	srv := s.httpServer(s.handler, base)
	servers := []*http.Server{srv}
	listeners := []net.Listener{ln}
	if mln != nil {
		servers = append(servers, s.httpServer(s.newRouter(s.metricsRoutes()), base))
		listeners = append(listeners, mln)
	}

	s.mu.Lock()
	s.addr = ln.Addr()
	if mln != nil {
		s.mAddr = mln.Addr()
	}
	s.mu.Unlock()
	attrs := []any{"addr", ln.Addr().String(), "max_connections", mainCap, "open_file_limit", nofile}
	if mln != nil {
		attrs = append(attrs, "metrics_addr", mln.Addr().String())
	}
	s.log.Info("server listening", attrs...)

	errc := make(chan error, len(servers))
	for i, hs := range servers {
		go func() {
			if err := hs.Serve(listeners[i]); !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serving on %s: %w", listeners[i].Addr(), err)
				return
			}
			errc <- nil
		}()
	}
	close(s.listening)

	select {
	case err := <-errc:
		// A listener failed on its own: stop the rest and report it.
		s.setDraining()
		for _, hs := range servers {
			hs.Close()
		}
		return err
	case <-ctx.Done():
	}

	s.setDraining()
	s.log.Info("draining: readiness now fails, still serving", "drain_period", s.cfg.DrainPeriod.String())
	// Keep-alive connections are not closed here (Server.SetKeepAlivesEnabled(false) would
	// close idle ones under clients that are just sending a request on them, which fails a
	// POST); instead every response from now on says Connection: close (see withDrain).
	if s.cfg.DrainPeriod > 0 {
		t := time.NewTimer(s.cfg.DrainPeriod)
		select {
		case <-t.C:
		case err := <-errc:
			t.Stop()
			if err != nil {
				return err
			}
		}
	}

	s.log.Info("shutting down: waiting for in-flight requests", "grace_period", s.cfg.GracePeriod.String())
	sctx, cancel := context.WithTimeout(base, s.cfg.GracePeriod)
	defer cancel()
	var errs []error
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, hs := range servers {
		wg.Go(func() {
			if err := hs.Shutdown(sctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		// Requests still waiting for a worker or memory now get a 503 (shutting_down) instead
		// of a reset connection: cancel them, give them a moment to write it, then close.
		cancelBase(errShuttingDown)
		fctx, cancelFinal := context.WithTimeout(context.WithoutCancel(ctx), finalWrite)
		for _, hs := range servers {
			wg.Go(func() { _ = hs.Shutdown(fctx) })
		}
		wg.Wait()
		cancelFinal()
		for _, hs := range servers {
			hs.Close()
		}
		s.log.Error("grace period over: closed remaining connections", "grace_period", s.cfg.GracePeriod.String())
		return fmt.Errorf("shutting down within the %s grace period: %w", s.cfg.GracePeriod, errors.Join(errs...))
	}
	s.log.Info("server stopped")
	return nil
}

// finalWrite is how long requests cancelled at the end of the grace period get to write
// their 503 before the remaining connections are closed.
const finalWrite = time.Second

func (s *Server) setDraining() {
	s.draining.Store(true)
	s.m.ready.Set(0)
}

func (s *Server) httpServer(h http.Handler, base context.Context) *http.Server {
	return &http.Server{
		Handler:           markHandling(h),
		ConnContext:       trackConn,
		ConnState:         connState,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		// OPTIONS * reaches the router, to be logged and counted as itself (see serverWide).
		DisableGeneralOptionsHandler: true,
		BaseContext:                  func(net.Listener) context.Context { return base },
		ErrorLog:                     slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

func engineNames(m map[string]Engine) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return fmt.Sprint(names)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
