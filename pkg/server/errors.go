package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/facectl/facectl/pkg/imagecheck"
)

// Error is an error with the HTTP status, the stable code and the message a client sees.
// Handlers return it (or any error, which becomes a 500 "internal" without details); writeError
// logs it and writes it as `{"error": {"code", "message"}}`, or as a page on routes that want
// pages. Err, the cause, is logged but never sent.
type Error struct {
	Status  int
	Code    string
	Message string
	Err     error
	// RetryAfter, when positive, is sent as the Retry-After header (whole seconds, at least 1).
	RetryAfter time.Duration
	// Header holds further response headers (canonical keys), such as WWW-Authenticate.
	Header http.Header
}

// Error returns the public message and the cause, for logs.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// errorf returns an *Error with a formatted public message.
func errorf(status int, code, format string, a ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, a...)}
}

// statusClientClosed is what nginx calls a request whose client went away before the answer;
// it is never seen by the client, only in logs and metrics.
const statusClientClosed = 499

// Errors the admission control returns.
var (
	errQueueFull    = errors.New("all workers busy and the queue is full")
	errQueueTimeout = errors.New("waited too long for a worker")
	// errMemoryTimeout: the memory for request bodies stayed full for the whole wait.
	errMemoryTimeout = errors.New("waited too long for memory to receive the body in")
	// errDecodeTimeout: the memory for decoding images stayed full for the whole wait.
	errDecodeTimeout = errors.New("waited too long for memory to decode the image in")
	// errResponseTimeout: the memory for responses being sent stayed full for the whole wait.
	errResponseTimeout = errors.New("waited too long for memory to send the answer from")
	// errShuttingDown is the cause of the requests' context being cancelled when the grace
	// period runs out: the request gets a 503 rather than a reset connection.
	errShuttingDown = errors.New("the grace period for shutting down ran out")
)

// asHTTPError maps any error to the *Error that is written to the client. Image input errors
// keep the human message of the imagecheck sentinel error, which describes the upload and not
// the server.
func asHTTPError(err error) *Error {
	var he *Error
	if errors.As(err, &he) {
		return he
	}
	for _, m := range []struct {
		sentinel error
		status   int
		code     string
	}{
		{imagecheck.ErrEmpty, http.StatusBadRequest, "empty_image"},
		{imagecheck.ErrUnsupported, http.StatusUnsupportedMediaType, "unsupported_format"},
		{imagecheck.ErrTooLarge, http.StatusRequestEntityTooLarge, "too_large"},
		{imagecheck.ErrTooManyPixels, http.StatusUnprocessableEntity, "too_many_pixels"},
		{imagecheck.ErrCorrupt, http.StatusUnprocessableEntity, "corrupt_image"},
	} {
		if errors.Is(err, m.sentinel) {
			return &Error{Status: m.status, Code: m.code, Message: sentinelMessage(err, m.sentinel), Err: err}
		}
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large",
			Message: fmt.Sprintf("the request body is over the %s limit", humanBytes(mbe.Limit)), Err: err}
	}
	switch {
	case errors.Is(err, errQueueFull):
		return &Error{Status: http.StatusTooManyRequests, Code: "overloaded",
			Message: "the server is busy; retry later", Err: err}
	case errors.Is(err, errQueueTimeout):
		return &Error{Status: http.StatusServiceUnavailable, Code: "queue_timeout",
			Message: "no worker became free in time; retry later", Err: err}
	case errors.Is(err, errMemoryTimeout):
		return &Error{Status: http.StatusServiceUnavailable, Code: "upload_memory_full",
			Message: "the server's memory for uploads stayed full; retry later", Err: err}
	case errors.Is(err, errDecodeTimeout):
		return &Error{Status: http.StatusServiceUnavailable, Code: "decode_memory_full",
			Message: "the server's memory for decoding images stayed full; retry later", Err: err}
	case errors.Is(err, errResponseTimeout):
		return &Error{Status: http.StatusServiceUnavailable, Code: "response_memory_full",
			Message: "the server's memory for sending answers stayed full; retry later", Err: err}
	case errors.Is(err, errShuttingDown):
		return &Error{Status: http.StatusServiceUnavailable, Code: "shutting_down",
			Message: "the server is shutting down; retry", Err: err, RetryAfter: time.Second}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: http.StatusServiceUnavailable, Code: "timeout",
			Message: "the request took too long", Err: err}
	case errors.Is(err, context.Canceled):
		return &Error{Status: statusClientClosed, Code: "client_closed_request",
			Message: "the client closed the request", Err: err}
	case isTimeout(err):
		return &Error{Status: http.StatusRequestTimeout, Code: "request_timeout",
			Message: "the request body was not received in time", Err: err}
	}
	return &Error{Status: http.StatusInternalServerError, Code: "internal",
		Message: "internal server error", Err: err}
}

// sentinelMessage returns the message of the error in err's chain that directly wraps
// sentinel: imagecheck builds those as "<sentinel>: <what is wrong with the file>", without the
// actions the layers above add.
func sentinelMessage(err, sentinel error) string {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if errors.Unwrap(e) == sentinel {
			return e.Error()
		}
	}
	return sentinel.Error()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

func humanBytes(n int64) string {
	if n%MiB == 0 {
		return fmt.Sprintf("%d MiB", n/MiB)
	}
	if n >= MiB {
		return fmt.Sprintf("%.1f MiB", float64(n)/MiB)
	}
	return fmt.Sprintf("%d bytes", n)
}

// retryable adds Retry-After to overload answers.
func (s *Server) retryable(err error) error {
	he := asHTTPError(err)
	if he.Status == http.StatusTooManyRequests || he.Status == http.StatusServiceUnavailable {
		he.RetryAfter = s.adm.retryAfter()
	}
	return he
}

// errorStyle is how a route's errors are written.
type errorStyle int

const (
	jsonErrors errorStyle = iota // `{"error": {...}}` (the API, health, everything but the form)
	pageErrors                   // an HTML page, unless the client asks for JSON (the upload form)
)

// html reports whether an error to r is written as a page: on a route with pageErrors, when
// the client does not ask for JSON.
func (st errorStyle) html(r *http.Request) bool {
	if st != pageErrors {
		return false
	}
	accept := r.Header.Get("Accept")
	return !strings.Contains(accept, "application/json") || strings.Contains(accept, "text/html")
}

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id,omitempty"`
	} `json:"error"`
}

// writeError logs err (5xx at error, 4xx at warn, with the cause) and writes its public part
// in the route's style.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, style errorStyle, err error) {
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
	s.writeErrorResponse(w, r, style, he)
}

// writeErrorResponse writes he without logging it, for answers that are expected and logged
// elsewhere (readiness while draining).
func (s *Server) writeErrorResponse(w http.ResponseWriter, r *http.Request, style errorStyle, he *Error) {
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
	if style.html(r) {
		s.writeErrorPage(w, r, he)
		return
	}
	var body errorBody
	body.Error.Code = he.Code
	body.Error.Message = he.Message
	body.Error.RequestID = requestID(r.Context())
	writeJSON(w, he.Status, body)
}

// writeErrorPage writes he as a readable HTML page (error.html).
func (s *Server) writeErrorPage(w http.ResponseWriter, r *http.Request, he *Error) {
	id := requestID(r.Context())
	if err := s.renderPage(w, he.Status, "error.html", pageValues{
		Text: map[string]string{"title": http.StatusText(he.Status), "message": he.Message, "request_id": id},
		Show: map[string]bool{"request_id": id != ""},
	}); err != nil {
		s.logger(r.Context()).Error("rendering error page", "err", err)
	}
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
