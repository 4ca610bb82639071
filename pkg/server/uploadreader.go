package server

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"time"
)

// headBytes is how much of a body must have arrived before the request takes anything but
// this buffer: a place among the admitted requests, upload memory, decode memory, a worker.
// A client that trickles its body therefore holds none of them, and is cut off by the
// upload rate checks (see uploadReader).
const headBytes = 16 << 10

// uploadReader reads a request body under the upload timeouts: before every read it sets the
// connection's read deadline to the earliest of
//
//   - now + UploadIdleTimeout (no pause longer than that, like nginx's client_body_timeout),
//   - the time by which the client falls below MinUploadRate on average: for the first
//     headBytes, after a grace of UploadIdleTimeout; for the rest (when the request holds
//     upload memory), counted afresh from the end of the head with a grace of one second,
//     so that a client cannot send the head quickly and then hold the memory by trickling,
//   - the start of the request + ReadTimeout (the http.Server's own bound, which the deadline
//     set here would otherwise replace).
//
// Time the server makes the body wait (for memory) is not counted against the client.
type uploadReader struct {
	r     io.Reader
	rc    *http.ResponseController
	idle  time.Duration
	rate  int64
	start time.Time     // of the rate clock
	grace time.Duration // before the rate applies
	n0    int64         // bytes read when the rate clock started
	limit time.Time
	n     int64
	sized bool // rate raised so that the declared length can finish within ReadTimeout
}

// restGrace is the grace of the rate clock for the body after its head.
const restGrace = time.Second

// newUploadReader reads r's body under cfg's upload timeouts; start is when the request began,
// from which ReadTimeout counts.
func newUploadReader(w http.ResponseWriter, r *http.Request, cfg *Config, start time.Time) *uploadReader {
	return &uploadReader{r: r.Body, rc: http.NewResponseController(w), idle: cfg.UploadIdleTimeout,
		rate: cfg.MinUploadRate, start: time.Now(), grace: cfg.UploadIdleTimeout, limit: start.Add(cfg.ReadTimeout)}
}

func (u *uploadReader) Read(p []byte) (int, error) {
	now := time.Now()
	deadline, why := now.Add(u.idle), "idle"
	if u.rate > 0 {
		if d := u.start.Add(u.grace + time.Duration(float64(u.n-u.n0)/float64(u.rate)*float64(time.Second))); d.Before(deadline) {
			deadline, why = d, "rate"
		}
	}
	if u.limit.Before(deadline) {
		deadline, why = u.limit, "total"
	}
	// Without a deadline (HTTP/2, or a test's ResponseWriter) the server's timeouts still apply.
	_ = u.rc.SetReadDeadline(deadline)
	n, err := u.r.Read(p)
	u.n += int64(n)
	if err != nil && isTimeout(err) {
		return n, u.timeoutError(why, err)
	}
	return n, err
}

// pause moves the rate clock forward by the time the server kept the client waiting.
func (u *uploadReader) pause(d time.Duration) { u.start = u.start.Add(d) }

// restart starts the rate clock afresh for the rest of the body, after the head. With a declared
// length (which is then reserved in upload memory) the rest must also come at no less than half
// the rate that finishes it within ReadTimeout: an upload that cannot finish in time is cut
// within about a second instead of holding its memory until ReadTimeout, so a few clients
// just above MinUploadRate cannot keep the upload memory full. (0 keeps the rate check off.)
func (u *uploadReader) restart(declared int64) {
	u.start, u.grace, u.n0 = time.Now(), restGrace, u.n
	if left := u.limit.Sub(u.start); u.rate > 0 && declared > u.n && left > 0 {
		if need := int64(float64(declared-u.n) / left.Seconds() / 2); need > u.rate {
			u.rate, u.sized = need, true
		}
	}
}

func (u *uploadReader) timeoutError(why string, err error) error {
	msg := "the request body was not received in time"
	switch why {
	case "idle":
		msg = fmt.Sprintf("the upload paused for more than %s", u.idle)
	case "rate":
		msg = fmt.Sprintf("the upload was slower than the minimum of %s/s", rateString(u.rate))
		if u.sized {
			msg = fmt.Sprintf("the upload was too slow to finish within the read timeout (it needs at least %s/s)", rateString(u.rate))
		}
	}
	return &Error{Status: http.StatusRequestTimeout, Code: "request_timeout", Message: msg, Err: err}
}

// readHead reads the first headBytes of the body (or all of it, when it is shorter). done
// reports that the body ended within them.
func (u *uploadReader) readHead(declared int64) (head []byte, done bool, err error) {
	size := int64(headBytes)
	if declared >= 0 && declared < size {
		size = declared
	}
	head = make([]byte, size, size+1)
	n, err := io.ReadFull(u, head)
	head = head[:n]
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		if declared >= 0 && int64(n) < declared {
			return nil, false, readError(io.ErrUnexpectedEOF)
		}
		return head, true, nil
	case err != nil:
		return nil, false, readError(err)
	}
	if declared >= 0 && int64(n) == declared {
		return head, true, nil
	}
	u.restart(declared)
	return head, false, nil
}

// rest is the whole body again: the head that was read, then what is still to come.
func (u *uploadReader) rest(head []byte, done bool) io.ReadCloser {
	if done {
		return io.NopCloser(bytes.NewReader(head))
	}
	return io.NopCloser(io.MultiReader(bytes.NewReader(head), u))
}

func rateString(n int64) string {
	if n >= 1024 && n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d bytes", n)
}
