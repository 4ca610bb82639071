package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/facectl/facectl/pkg/imagecheck"
)

// Error is an error with the HTTP status, the stable code and the message a client sees.
// Handlers return it (or any error, which becomes a 500 "internal" without details); one
// middleware logs it and writes it as `{"error": {"code", "message"}}`. Err, the cause, is
// logged but never sent.
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
