package server

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"time"
)

// bodyWatch is the request body as the handlers see it. It remembers whether the body was
// read to its end and whether reading it failed, so that after the response the server knows
// whether unread bytes are still on their way (see linger).
type bodyWatch struct {
	rc     io.ReadCloser
	length int64 // the declared Content-Length, -1 when chunked

	mu   sync.Mutex
	eof  bool
	err  error
	read int64
}

func (b *bodyWatch) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.mu.Lock()
	b.read += int64(n)
	switch {
	case err == io.EOF:
		b.eof = true
	case err != nil && b.err == nil:
		b.err = err
	}
	b.mu.Unlock()
	return n, err
}

func (b *bodyWatch) bytesRead() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.read
}

// failed reports whether a read of the body failed with something other than its end.
func (b *bodyWatch) failed() bool {
	_, err := b.state()
	return err != nil
}

// clean reports whether nothing of the body is left on the connection: it was read to its
// end, or (with a declared length) all of it was read.
func (b *bodyWatch) clean() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err == nil && (b.eof || b.length >= 0 && b.read >= b.length)
}

// Close closes the underlying body.
func (b *bodyWatch) Close() error { return b.rc.Close() }

// state returns whether the body was read to its end and the first read error.
func (b *bodyWatch) state() (eof bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.eof, b.err
}

// withLinger watches the request body, and after the response reads what is left of it (see
// linger), or closes the connection when that cannot be done (see closeUnclean). The handlers
// may answer before reading the body, and clients that send everything first must hear the
// answer. Full duplex keeps net/http from reading (and, past 256 KiB, giving up on) the unread
// body itself when the response starts.
func (s *Server) withLinger(next layer) layer {
	return func(rec *recorder, r *http.Request) {
		var body *bodyWatch
		if r.Body != nil && r.Body != http.NoBody {
			body = &bodyWatch{rc: r.Body, length: r.ContentLength}
			r.Body = body
			rec.body = body
			_ = http.NewResponseController(rec).EnableFullDuplex() // fails only for HTTP/2, which needs none
		}
		next(rec, r)
		s.linger(rec, r, body)
		s.closeUnclean(rec, body)
	}
}

// linger runs after a response was written without reading the whole request body (413 from
// Content-Length or while reading, 429, 401, 415 from the first bytes, ...). Many clients
// (Python's http.client, urllib and requests, many SDKs) write the whole body before they
// read anything; closing the connection on them while they are still sending makes the
// kernel answer their data with a reset, and they report "connection reset" instead of the
// answer waiting in their receive buffer. So the server keeps reading and discarding the body,
// in a small buffer, for at most LingerTimeout and LingerBytes (nginx's lingering close), and
// only then lets net/http close the connection. A body read to its end even lets the
// connection be reused. Bodies that failed (timeout, client gone) are not waited for.
func (s *Server) linger(w http.ResponseWriter, r *http.Request, body *bodyWatch) {
	if body == nil || s.cfg.LingerTimeout <= 0 || r.ContentLength == 0 {
		return
	}
	eof, err := body.state()
	if eof || err != nil || r.ContentLength > 0 && body.bytesRead() >= r.ContentLength {
		return
	}
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		return // the client is gone
	}
	start := time.Now()
	if err := rc.SetReadDeadline(start.Add(s.cfg.LingerTimeout)); err != nil {
		return
	}
	n, err := io.CopyN(io.Discard, body, s.cfg.LingerBytes+1)
	outcome := "complete"
	switch {
	case err == nil:
		outcome = "limit" // there is more: net/http closes the connection
	case errors.Is(err, io.EOF):
	case isTimeout(err):
		outcome = "timeout"
	default:
		outcome = "error"
	}
	s.m.lingered.WithLabelValues(outcome).Inc()
	s.logger(r.Context()).Debug("discarded the unread request body after the response",
		"bytes", n, "outcome", outcome, "duration_ms", float64(time.Since(start).Microseconds())/1000)
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
