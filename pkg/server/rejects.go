package server

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
)

// rejectListener wraps a listener so that the answers net/http writes by itself, without ever
// calling a handler, are logged and counted: 431 for headers over MaxHeaderBytes, 400 for
// malformed request lines or header bytes, 505, 501 for unknown transfer encodings. The
// middleware never sees those requests, and net/http does not report them to ErrorLog.
type rejectListener struct {
	net.Listener
	s *Server
}

func (l rejectListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return c, err
	}
	return &rejectConn{Conn: c, s: l.s}, nil
}

type rejectConn struct {
	net.Conn
	s *Server
	// handling is set when a request on the connection reaches the handler and cleared when
	// the connection goes idle, after the response is flushed: every write in between is the
	// handler's answer, however net/http splits it into writes.
	handling atomic.Bool
}

// Write spots net/http's own error answers: a status line that is not 1xx, written while no
// request of the connection is with the handler. net/http writes them in one piece, always
// as HTTP/1.1 (whatever the request's version); both versions are matched all the same.
func (c *rejectConn) Write(p []byte) (int, error) {
	if !c.handling.Load() && len(p) > 12 && (bytes.HasPrefix(p, []byte("HTTP/1.1 ")) || bytes.HasPrefix(p, []byte("HTTP/1.0 "))) && p[9] != '1' {
		c.s.rejected(c.RemoteAddr(), p)
	}
	return c.Conn.Write(p)
}

type rejectConnKey struct{}

// trackConn is the http.Server's ConnContext: it lets markHandling find the connection.
func trackConn(ctx context.Context, c net.Conn) context.Context {
	if rc, ok := c.(*rejectConn); ok {
		return context.WithValue(ctx, rejectConnKey{}, rc)
	}
	return ctx
}

// markHandling wraps the server's whole handler: from here on the connection's writes are
// the handler's answer, not net/http's own.
func markHandling(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rc, ok := r.Context().Value(rejectConnKey{}).(*rejectConn); ok {
			rc.handling.Store(true)
		}
		h.ServeHTTP(w, r)
	})
}

// rejected logs and counts an answer net/http wrote by itself.
func (s *Server) rejected(remote net.Addr, resp []byte) {
	status, err := strconv.Atoi(string(resp[9:12]))
	if err != nil {
		return
	}
	reason := ""
	if i := bytes.Index(resp, []byte("\r\n\r\n")); i >= 0 {
		reason = string(resp[i+4 : min(len(resp), i+4+200)])
	}
	s.m.requests.WithLabelValues("rejected", "OTHER", strconv.Itoa(status)).Inc()
	s.log.Warn("request rejected before routing", "status", status, "reason", reason, "remote", remote.String())
}

// CloseWrite keeps the TCP half-close that net/http does before closing a connection (so the
// client reads the last answer rather than a reset), which the wrapper would otherwise hide.
func (c *rejectConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
