package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"time"
)

// layer is one concern of serving a request, wrapped around the next layer of its route's
// chain (see chain). It is an http.HandlerFunc whose writer is the response's recorder, so
// that every layer reads the status, the size and the request's start from it.
type layer func(rec *recorder, r *http.Request)

// recorder remembers the status and size of a response for logs and metrics, and whether the
// client took all of it.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	start  time.Time  // when the request reached its route
	body   *bodyWatch // the request body, nil without one
	length int64      // the declared Content-Length of the response, -1 when none
	werr   error      // the first failed write: the client went away or stopped reading
}

// record is the outermost layer: it starts the request's clock and its recorder.
func record(next layer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next(&recorder{ResponseWriter: w, start: time.Now()}, r)
	})
}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
		r.length = -1
		h := r.ResponseWriter.Header()
		if n, err := strconv.ParseInt(h.Get("Content-Length"), 10, 64); err == nil {
			r.length = n
		}
		// A body that failed to read leaves unknown bytes on the connection (a corrupt chunk,
		// a timeout), and a response of unknown length cannot be cut cleanly after it when the
		// body stays unread (see closeUnclean): either way the connection ends with this answer.
		if r.body != nil && (r.body.failed() || r.length < 0 && !r.body.clean()) {
			h.Set("Connection", "close")
		}
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	if err != nil && r.werr == nil {
		r.werr = err
	}
	return n, err
}

// truncated reports whether the client did not get the whole response.
func (r *recorder) truncated() bool {
	return r.werr != nil || r.length >= 0 && r.bytes < r.length
}

// outcome is the status logged and counted: 499 when the status line went out but the client
// did not take the whole answer.
func (r *recorder) outcome() int {
	switch {
	case r.truncated():
		return statusClientClosed
	case r.status == 0:
		return http.StatusOK
	}
	return r.status
}

// Unwrap lets http.ResponseController reach the connection (deadlines, flushing).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

type ctxKey int

const (
	keyLogger ctxKey = iota
	keyRequestID
)

// requestIDPattern is what an incoming X-Request-ID must look like to be kept: short and
// free of anything that could forge log lines or headers.
var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// withRequestID gives the request its ID (the client's X-Request-ID when it is well formed),
// sends it back, and puts it and a logger that carries it in the request's context.
func (s *Server) withRequestID(next layer) layer {
	return func(rec *recorder, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if !requestIDPattern.MatchString(id) {
			id = newRequestID()
		}
		rec.Header().Set("X-Request-ID", id)
		ctx := context.WithValue(r.Context(), keyLogger, s.log.With("request_id", id))
		ctx = context.WithValue(ctx, keyRequestID, id)
		next(rec, r.WithContext(ctx))
	}
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// logger returns the request's logger (with its request ID), or the server's.
func (s *Server) logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(keyLogger).(*slog.Logger); ok {
		return l
	}
	return s.log
}

// requestID returns the request's ID ("" outside a request).
func requestID(ctx context.Context) string {
	id, _ := ctx.Value(keyRequestID).(string)
	return id
}

// withSecurityHeaders sends the security headers on every response. The CSP allows only the
// server's own script and styles, and data:/blob: images for the previews the page draws.
func withSecurityHeaders(next layer) layer {
	return func(rec *recorder, r *http.Request) {
		h := rec.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-site")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		next(rec, r)
	}
}

// withDrain closes the connection after each response while the server drains, so the
// client's next request goes through the load balancer to another replica.
func (s *Server) withDrain(next layer) layer {
	return func(rec *recorder, r *http.Request) {
		if s.draining.Load() {
			rec.Header().Set("Connection", "close")
		}
		next(rec, r)
	}
}

// withAccessLog logs every request once it is answered. A request whose handler aborted
// (http.ErrAbortHandler) is not logged.
func (s *Server) withAccessLog(rt *route, next layer) layer {
	level := slog.LevelInfo
	if rt.quiet {
		level = slog.LevelDebug
	}
	return func(rec *recorder, r *http.Request) {
		next(rec, r)
		s.logger(r.Context()).Log(r.Context(), level, "request", "method", r.Method, "route", rt.pattern, "path", r.URL.Path,
			"status", rec.outcome(), "bytes", rec.bytes, "duration_ms", float64(time.Since(rec.start).Microseconds())/1000,
			"remote", s.clientAddr(r), "user_agent", r.UserAgent())
	}
}

// withMetrics counts requests in flight, and every answered one by route, method and status.
func (s *Server) withMetrics(rt *route, next layer) layer {
	return func(rec *recorder, r *http.Request) {
		s.m.inFlight.Inc()
		defer s.m.inFlight.Dec()
		next(rec, r)
		s.m.requests.WithLabelValues(rt.pattern, methodLabel(r.Method), strconv.Itoa(rec.outcome())).Inc()
		s.m.duration.WithLabelValues(rt.pattern).Observe(time.Since(rec.start).Seconds())
	}
}

// methodLabel bounds the method label of the metrics: clients can send any token.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

// withPanic turns a panic in the layers below into a logged 500, unless the answer has
// started. http.ErrAbortHandler goes on up to net/http, which drops the connection: the
// layers above then neither log, count nor linger.
func (s *Server) withPanic(rt *route, next layer) layer {
	return func(rec *recorder, r *http.Request) {
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.logger(r.Context()).Error("panic serving request", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if rec.status == 0 {
				s.writeError(rec, r, rt.errors, fmt.Errorf("panic: %v", p))
			}
		}()
		next(rec, r)
	}
}

// withCORS answers preflight requests and adds the CORS headers for allowed origins.
// Without configured origins it does nothing, so browsers enforce same-origin.
func (s *Server) withCORS(rt *route, next layer) layer {
	if len(s.cfg.CORSOrigins) == 0 {
		return next
	}
	any := slices.Contains(s.cfg.CORSOrigins, "*")
	return func(rec *recorder, r *http.Request) {
		origin := r.Header.Get("Origin")
		hdr := rec.Header()
		hdr.Add("Vary", "Origin")
		allowed := origin != "" && (any || slices.Contains(s.cfg.CORSOrigins, origin))
		if allowed {
			if any {
				hdr.Set("Access-Control-Allow-Origin", "*")
			} else {
				hdr.Set("Access-Control-Allow-Origin", origin)
			}
			hdr.Set("Access-Control-Expose-Headers", "X-Request-ID, Retry-After, X-Face-Count, X-Detector, X-Elapsed-Ms")
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			if !allowed {
				s.writeError(rec, r, rt.errors, errorf(http.StatusForbidden, "origin_not_allowed", "this origin may not call the API"))
				return
			}
			hdr.Set("Access-Control-Allow-Methods", "POST, GET, OPTIONS")
			hdr.Set("Access-Control-Allow-Headers", "Authorization, X-API-Key, Content-Type, Accept, X-Request-ID")
			hdr.Set("Access-Control-Max-Age", "600")
			rec.WriteHeader(http.StatusNoContent)
			return
		}
		next(rec, r)
	}
}
