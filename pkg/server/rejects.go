package server

import (
	"bytes"
	"net"
	"strconv"
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
}

// Write spots net/http's own error answers: a status line that is not 1xx, written without
// the X-Request-Id header every answer through the middleware carries.
func (c *rejectConn) Write(p []byte) (int, error) {
	if len(p) > 12 && bytes.HasPrefix(p, []byte("HTTP/1.1 ")) && p[9] != '1' {
		head := p
		if i := bytes.Index(p, []byte("\r\n\r\n")); i >= 0 {
			head = p[:i]
		}
		if !bytes.Contains(head, []byte("\r\nX-Request-Id: ")) {
			c.s.rejected(c.RemoteAddr(), p)
		}
	}
	return c.Conn.Write(p)
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
