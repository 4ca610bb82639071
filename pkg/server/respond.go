package server

import (
	"net/http"
	"strconv"
	"time"
)

// respond sends a 200 with body, holding len(body) of response memory (waiting for it within
// QueueWait, 503 after) until the client has it; headers sets the headers once it fits. start
// is when the request began, from which WriteTimeout counts.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, start time.Time, body []byte, headers func(http.Header)) error {
	release, err := s.adm.reserveResponse(r.Context(), int64(len(body)))
	if err != nil {
		return s.retryable(err)
	}
	defer release()
	h := w.Header()
	headers(h)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	s.download(w, r, start, body)
	return nil
}

// downloadPiece is how much of a response is written under one write deadline.
const downloadPiece = 32 << 10

// download writes body a piece at a time, each of which the client must take within a second
// plus the time MinDownloadRate allows for it, and all of it by the request's WriteTimeout: a
// client that stops reading is cut within seconds, not waited for (the kernel's socket
// buffers take the first megabytes at once, so only a rate per piece tells). A write error
// means the client went away or stopped reading; the status is already sent, so there is
// nothing left to tell it, and the request is logged as 499 (see recorder.truncated).
func (s *Server) download(w http.ResponseWriter, r *http.Request, start time.Time, body []byte) {
	rc := http.NewResponseController(w)
	limit := start.Add(s.cfg.WriteTimeout)
	sent := 0
	for sent < len(body) {
		n := min(len(body)-sent, downloadPiece)
		if rate := s.cfg.MinDownloadRate; rate > 0 {
			d := time.Now().Add(restGrace + time.Duration(float64(n)/float64(rate)*float64(time.Second)))
			if d.After(limit) {
				d = limit
			}
			_ = rc.SetWriteDeadline(d) // without a deadline (HTTP/2, tests) WriteTimeout still applies
		}
		_, err := w.Write(body[sent : sent+n])
		if err == nil {
			err = rc.Flush() // the piece must reach the socket under its own deadline
		}
		if err != nil {
			s.logger(r.Context()).Info("the client did not take the response", "sent_bytes", sent, "bytes", len(body), "err", err.Error())
			return
		}
		sent += n
	}
}
