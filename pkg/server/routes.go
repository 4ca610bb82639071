package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// route is one endpoint: its pattern, its handler, and whatever the layers around the handler
// do differently for it. Everything that differs between endpoints is declared here, in the
// route table, rather than inferred from the path where it is needed.
type route struct {
	pattern string // the ServeMux pattern, also the route's name in logs and metrics
	// serve handles a route without an image; serveImage one whose body is an image, taken in
	// through the request's intake. A route has exactly one of them.
	serve      handlerFunc
	serveImage imageHandlerFunc
	key        keyRule    // whether an API key is needed (when keys are set) and where it may come from
	errors     errorStyle // how errors are written: JSON, or pages for a form's browser
	quiet      bool       // logged at DEBUG: probes, scrapes and static files would drown the log
}

// handlerFunc is an HTTP handler that returns its error instead of writing it, so that one
// place (writeError) decides what the client sees and what is logged.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// imageHandlerFunc is a handlerFunc for a route that takes an image: in admits the request
// and reads its body (see intake.admit).
type imageHandlerFunc func(w http.ResponseWriter, r *http.Request, in intake) error

// routes is the route table of the main listener. Detection routes need an API key when keys
// are set; health, readiness, metrics, the page and its assets never do. The upload form
// cannot send headers without JavaScript, so its route takes the key from the form too, and
// answers browsers with pages.
func (s *Server) routes() []route {
	rs := []route{
		{pattern: "POST /api/v1/detect", serveImage: s.detect, key: keyHeader},
		{pattern: "POST /api/v1/blur", serveImage: s.blur, key: keyHeader},
		{pattern: "POST /upload", serveImage: s.upload, key: keyHeaderOrForm, errors: pageErrors},
		{pattern: "GET /api/v1/openapi.json", serve: s.openapi},
		{pattern: "GET /{$}", serve: s.index},
		{pattern: "GET /static/{file}", serve: s.static, quiet: true},
		{pattern: "GET /favicon.ico", serve: s.favicon},
	}
	rs = append(rs, s.probeRoutes()...)
	if s.cfg.MetricsAddr == "" {
		rs = append(rs, s.metricsRoute())
	}
	return rs
}

// metricsRoutes are the route table of the metrics listener, when there is one.
func (s *Server) metricsRoutes() []route {
	return append(s.probeRoutes(), s.metricsRoute())
}

// probeRoutes are liveness and readiness, served on both listeners.
func (s *Server) probeRoutes() []route {
	return []route{
		{pattern: "GET /healthz", serve: s.healthz, quiet: true},
		{pattern: "GET /readyz", serve: s.readyz, quiet: true},
	}
}

func (s *Server) metricsRoute() route {
	prom := promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelError)})
	return route{pattern: "GET /metrics", serve: plain(prom), quiet: true}
}

// plain adapts an http.Handler that writes its own answers.
func plain(h http.Handler) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		h.ServeHTTP(w, r)
		return nil
	}
}

// router sends each request through the chain of layers of its route. Requests that match no
// route, requests for the server as a whole ("*") and the mux's redirects to cleaned paths go
// through the same layers, so that every request is logged, counted and answered in JSON.
type router struct {
	s         *Server
	mux       *http.ServeMux
	byPattern map[string]*route
	unmatched http.Handler
}

// routeHandler is a route's chain as registered in the mux, told apart from the mux's own
// redirects.
type routeHandler struct{ http.Handler }

func (s *Server) newRouter(routes []route) *router {
	rt := &router{s: s, mux: http.NewServeMux(), byPattern: make(map[string]*route, len(routes))}
	for i := range routes {
		r := &routes[i]
		rt.byPattern[r.pattern] = r
		rt.mux.Handle(r.pattern, routeHandler{s.chain(r)})
	}
	rt.unmatched = s.chain(&route{pattern: "unmatched", serve: rt.notFoundOrNotAllowed})
	return rt
}

func (rt *router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.RequestURI == "*" {
		rt.s.chain(&route{pattern: r.Method + " *", serve: serverWide}).ServeHTTP(w, r)
		return
	}
	h, pattern := rt.mux.Handler(r)
	if pattern == "" {
		rt.unmatched.ServeHTTP(w, r)
		return
	}
	if _, ok := h.(routeHandler); ok {
		rt.mux.ServeHTTP(w, r) // which sets the path values
		return
	}
	// The mux redirects to the cleaned path (no key needed: nothing is served).
	redirect := &route{pattern: pattern, serve: plain(h)}
	if base := rt.byPattern[pattern]; base != nil {
		redirect.quiet = base.quiet
	}
	rt.s.chain(redirect).ServeHTTP(w, r)
}

// chain wraps the route's handler in one layer per concern. A request meets them in this
// order: its recorder and ID, the security headers, the drain, the lingering close, the access
// log, the metrics, panic recovery, CORS, the API key and finally the handler.
func (s *Server) chain(rt *route) http.Handler {
	h := s.handle(rt)
	h = s.withKey(rt, h)
	h = s.withCORS(rt, h)
	h = s.withPanic(rt, h)
	h = s.withMetrics(rt, h)
	h = s.withAccessLog(rt, h)
	h = s.withLinger(h)
	h = s.withDrain(h)
	h = withSecurityHeaders(h)
	h = s.withRequestID(h)
	return record(h)
}

// handle calls the route's handler and writes the error it returns as the route wants errors.
func (s *Server) handle(rt *route) layer {
	formKey := rt.key == keyHeaderOrForm
	return func(rec *recorder, r *http.Request) {
		var err error
		if rt.serveImage != nil {
			err = rt.serveImage(rec, r, intake{s: s, formKey: formKey, start: rec.start})
		} else {
			err = rt.serve(rec, r)
		}
		if err != nil {
			if errors.Is(err, context.Canceled) && errors.Is(context.Cause(r.Context()), errShuttingDown) {
				err = errShuttingDown // the server gave up on the request, not the client
			}
			s.writeError(rec, r, rt.errors, err)
		}
	}
}

// notFoundOrNotAllowed asks the mux whether the path exists for another method and
// answers 404 or 405 (with Allow) as JSON instead of the mux's plain text.
func (rt *router) notFoundOrNotAllowed(w http.ResponseWriter, r *http.Request) error {
	probe := &statusProbe{header: http.Header{}}
	rt.mux.ServeHTTP(probe, r)
	if probe.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", probe.header.Get("Allow"))
		return errorf(http.StatusMethodNotAllowed, "method_not_allowed",
			"%s is not allowed here (allowed: %s)", r.Method, probe.header.Get("Allow"))
	}
	return errorf(http.StatusNotFound, "not_found", "no such endpoint")
}

// statusProbe is a ResponseWriter that only keeps the status and headers.
type statusProbe struct {
	header http.Header
	status int
}

func (p *statusProbe) Header() http.Header { return p.header }
func (p *statusProbe) WriteHeader(status int) {
	if p.status == 0 {
		p.status = status
	}
}
func (p *statusProbe) Write(b []byte) (int, error) { return len(b), nil }

// serverWide answers requests for "*" (the server as a whole), which the http.Server passes
// on instead of answering itself, so that they are logged and counted like any other request.
func serverWide(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodOptions {
		return errorf(http.StatusNotFound, "not_found", "no such endpoint")
	}
	w.Header().Set("Allow", "GET, HEAD, POST, OPTIONS")
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return nil
}
