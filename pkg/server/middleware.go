package server

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"
)

// handlerFunc is an HTTP handler that returns its error instead of writing it, so that one
// place (writeError) decides what the client sees and what is logged.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

type ctxKey int

const (
	keyLogger ctxKey = iota
	keyRequestID
	keyRecorder
	keyFormAuth // the API key is to be read from the upload form
)

// requestIDPattern is what an incoming X-Request-ID must look like to be kept: short and
// free of anything that could forge log lines or headers.
var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

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

// recorder remembers the status and size of a response for logs and metrics, and whether the
// client took all of it.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	code   string // public error code, if an error was written
	start  time.Time
	body   *bodyWatch // the request body, nil without one
	length int64      // the declared Content-Length of the response, -1 when none
	werr   error      // the first failed write: the client went away or stopped reading
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

// Unwrap lets http.ResponseController reach the connection (deadlines, flushing).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// wrap is the middleware chain around a mux: request ID, logging, metrics, panic
// recovery, security headers, CORS and JSON 404/405 answers.
func (s *Server) wrap(mux *http.ServeMux) http.Handler {
	h := s.cors(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.RequestURI == "*" {
			s.serverWide(w, r)
			return
		}
		if _, route := mux.Handler(r); route == "" {
			s.notFoundOrNotAllowed(mux, w, r)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-ID")
		if !requestIDPattern.MatchString(id) {
			id = newRequestID()
		}
		_, route := mux.Handler(r)
		if route == "" {
			route = "unmatched"
		}
		log := s.log.With("request_id", id)
		ctx := context.WithValue(r.Context(), keyLogger, log)
		ctx = context.WithValue(ctx, keyRequestID, id)
		rec := &recorder{ResponseWriter: w, start: start}
		ctx = context.WithValue(ctx, keyRecorder, rec)
		r = r.WithContext(ctx)
		if r.RequestURI == "*" {
			route = r.Method + " *"
		}

		hdr := w.Header()
		hdr.Set("X-Request-ID", id)
		securityHeaders(hdr)
		if s.draining.Load() {
			// The server closes the connection after this response, so the client's next
			// request goes through the load balancer to another replica.
			hdr.Set("Connection", "close")
		}

		// The handlers may answer before reading the body; linger then reads the rest (after
		// the request is logged) so that clients that send everything first hear the answer.
		// Full duplex keeps net/http from reading (and, past 256 KiB, giving up on) the unread
		// body itself when the response starts.
		var body *bodyWatch
		if r.Body != nil && r.Body != http.NoBody {
			body = &bodyWatch{rc: r.Body, length: r.ContentLength}
			r.Body = body
			rec.body = body
			_ = http.NewResponseController(w).EnableFullDuplex() // fails only for HTTP/2, which needs none
		}
		aborted := false
		defer func() {
			if !aborted {
				s.linger(rec, r, body)
				s.closeUnclean(rec, body)
			}
		}()

		s.m.inFlight.Inc()
		defer func() {
			s.m.inFlight.Dec()
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					aborted = true
					panic(p)
				}
				log.Error("panic serving request", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if rec.status == 0 {
					s.writeError(rec, r, fmt.Errorf("panic: %v", p))
				}
			}
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			if rec.truncated() {
				// The status line went out but the client did not take the whole answer.
				status = statusClientClosed
			}
			elapsed := time.Since(start)
			s.m.requests.WithLabelValues(route, methodLabel(r.Method), strconv.Itoa(status)).Inc()
			s.m.duration.WithLabelValues(route).Observe(elapsed.Seconds())
			level := slog.LevelInfo
			if route == "GET /healthz" || route == "GET /readyz" || route == "GET /metrics" || strings.HasPrefix(route, "GET /static/") {
				level = slog.LevelDebug // load balancer probes and scrapes would drown the log
			}
			log.Log(r.Context(), level, "request", "method", r.Method, "route", route, "path", r.URL.Path,
				"status", status, "bytes", rec.bytes, "duration_ms", float64(elapsed.Microseconds())/1000,
				"remote", s.clientAddr(r), "user_agent", r.UserAgent())
		}()

		h.ServeHTTP(rec, r)
	})
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

// notFoundOrNotAllowed asks the mux whether the path exists for another method and
// answers 404 or 405 (with Allow) as JSON instead of the mux's plain text.
func (s *Server) notFoundOrNotAllowed(mux *http.ServeMux, w http.ResponseWriter, r *http.Request) {
	probe := &statusProbe{header: http.Header{}}
	mux.ServeHTTP(probe, r)
	if probe.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", probe.header.Get("Allow"))
		s.writeError(w, r, errorf(http.StatusMethodNotAllowed, "method_not_allowed",
			"%s is not allowed here (allowed: %s)", r.Method, probe.header.Get("Allow")))
		return
	}
	s.writeError(w, r, errorf(http.StatusNotFound, "not_found", "no such endpoint"))
}

// serverWide answers requests for "*" (the server as a whole), which the http.Server passes
// on instead of answering itself, so that they are logged and counted like any other request.
func (s *Server) serverWide(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodOptions {
		s.writeError(w, r, errorf(http.StatusNotFound, "not_found", "no such endpoint"))
		return
	}
	w.Header().Set("Allow", "GET, HEAD, POST, OPTIONS")
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

// closeUnclean closes the connection after a response when the request body was neither read
// to its end nor drained by linger: whatever is left of it on the connection must never be
// read as the next request. (Responses of unknown length said Connection: close already.)
func (s *Server) closeUnclean(rec *recorder, body *bodyWatch) {
	if body == nil || body.clean() || rec.Header().Get("Connection") == "close" {
		return
	}
	rc := http.NewResponseController(rec)
	_ = rc.Flush()
	conn, _, err := rc.Hijack()
	if err != nil {
		return // HTTP/2, or a test's ResponseWriter: no connection to reuse
	}
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = conn.Close()
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

// securityHeaders are sent on every response. The CSP allows only the server's own script
// and styles, and data:/blob: images for the previews the page draws.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-site")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// handle turns a handlerFunc into an http.Handler whose errors go through writeError.
func (s *Server) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			if errors.Is(err, context.Canceled) && errors.Is(context.Cause(r.Context()), errShuttingDown) {
				err = errShuttingDown // the server gave up on the request, not the client
			}
			s.writeError(w, r, err)
		}
	})
}

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id,omitempty"`
	} `json:"error"`
}

// writeError logs err (5xx at error, 4xx at warn, with the cause) and writes its public part.
// Pages ask for HTML errors by setting htmlErrors in the context.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	he := asHTTPError(err)
	log := s.logger(r.Context())
	attrs := []any{"status", he.Status, "code", he.Code, "method", r.Method, "path", r.URL.Path}
	if he.Err != nil {
		attrs = append(attrs, "err", he.Err.Error())
	}
	switch {
	case he.Status >= 500:
		log.Error(he.Message, attrs...)
	case he.Status == statusClientClosed:
		log.Info(he.Message, attrs...)
	default:
		log.Warn(he.Message, attrs...)
	}
	s.writeErrorResponse(w, r, he)
}

// writeErrorResponse writes he without logging it, for answers that are expected and logged
// elsewhere (readiness while draining).
func (s *Server) writeErrorResponse(w http.ResponseWriter, r *http.Request, he *Error) {
	if rec, ok := r.Context().Value(keyRecorder).(*recorder); ok {
		rec.code = he.Code
	}
	// A 499 is written too: usually nobody is listening and the write fails harmlessly, but a
	// client that is still there must never see an empty 200.
	h := w.Header()
	for k, v := range he.Header {
		h[k] = v
	}
	if he.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((he.RetryAfter+time.Second-1)/time.Second)))
	}
	if he.Status == http.StatusRequestEntityTooLarge || he.Status == http.StatusRequestTimeout {
		// The rest of the body is not worth reading.
		h.Set("Connection", "close")
	}
	h.Del("Content-Disposition")
	h.Set("Cache-Control", "no-store")
	if wantsHTML(r) {
		s.writeErrorPage(w, r, he)
		return
	}
	var body errorBody
	body.Error.Code = he.Code
	body.Error.Message = he.Message
	body.Error.RequestID = requestID(r.Context())
	writeJSON(w, he.Status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only programming errors get here: every body is a plain struct.
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"internal server error"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// requireKey rejects requests without a valid API key when keys are configured. The key may
// come as `Authorization: Bearer KEY` or `X-API-Key: KEY`; the rule when both are sent is that
// the request is accepted if either holds a valid key (a proxy may add one of its own). Every
// key is compared in constant time, so timing reveals neither which key nor how much matched.
//
// The upload form cannot send headers without JavaScript, so a multipart POST /upload that
// carries no key header may carry it as the form field api_key instead, placed before the
// photo (the page does): it is checked from the first bytes of the body, before the request
// takes any place or memory (see begin and checkFormKey).
func (s *Server) requireKey(h http.Handler) http.Handler {
	if len(s.keys) == 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var sent []string
		if k := r.Header.Get("X-API-Key"); k != "" {
			sent = append(sent, k)
		}
		if auth := r.Header.Get("Authorization"); auth != "" {
			if scheme, tok, ok := strings.Cut(auth, " "); ok && strings.EqualFold(scheme, "Bearer") {
				sent = append(sent, strings.TrimSpace(tok))
			} else {
				sent = append(sent, auth) // another scheme: never a valid key, but a key was sent
			}
		}
		if len(sent) == 0 && r.URL.Path == "/upload" && isMultipart(r) {
			h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyFormAuth, true)))
			return
		}
		ok := false
		for _, k := range sent {
			ok = s.validKey(k) || ok
		}
		if !ok {
			msg := "an API key is required (Authorization: Bearer KEY or X-API-Key: KEY)"
			if len(sent) > 0 {
				msg = "the API key is not valid"
			}
			s.writeError(w, r, s.unauthorized(msg))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// validKey compares k with every configured key in constant time.
func (s *Server) validKey(k string) bool {
	match := 0
	for _, key := range s.keys {
		match |= subtle.ConstantTimeCompare([]byte(k), key)
	}
	return k != "" && match == 1
}

func (s *Server) unauthorized(msg string) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Message: msg,
		Header: http.Header{"Www-Authenticate": {`Bearer realm="facectl"`}}}
}

func isMultipart(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "multipart/form-data"
}

// cors answers preflight requests and adds the CORS headers for allowed origins.
// Without configured origins it does nothing, so browsers enforce same-origin.
func (s *Server) cors(h http.Handler) http.Handler {
	if len(s.cfg.CORSOrigins) == 0 {
		return h
	}
	any := slices.Contains(s.cfg.CORSOrigins, "*")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		hdr := w.Header()
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
				s.writeError(w, r, errorf(http.StatusForbidden, "origin_not_allowed", "this origin may not call the API"))
				return
			}
			hdr.Set("Access-Control-Allow-Methods", "POST, GET, OPTIONS")
			hdr.Set("Access-Control-Allow-Headers", "Authorization, X-API-Key, Content-Type, Accept, X-Request-ID")
			hdr.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.ServeHTTP(w, r)
	})
}
