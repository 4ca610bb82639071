package server

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// readResponse reads one whole response from br.
func readResponse(t *testing.T, br *bufio.Reader) *http.Response {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading a response: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestConnectionCapClosesIdleConnectionsFirst runs a server that keeps one connection open.
// A new client is served by closing the idle keep-alive connection of the previous one; when
// the only connection is busy, the new client waits and is served as soon as that one goes
// idle (before, it waited for idle_timeout).
func TestConnectionCapClosesIdleConnectionsFirst(t *testing.T) {
	r, g, _ := capturedServer(t, func(c *Config) { c.MaxConnections = 1 })

	a := openConn(t, r.url)
	io.WriteString(a, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp := readResponse(t, bufio.NewReader(a)); resp.StatusCode != 200 {
		t.Fatalf("first client: %d", resp.StatusCode)
	}
	b := openConn(t, r.url)
	io.WriteString(b, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	if st := statusOf(t, b); st != 200 {
		t.Fatalf("a new client with the previous one idle at the cap: %d, want 200", st)
	}
	if _, err := a.Read(make([]byte, 1)); err == nil {
		t.Error("the idle connection is still open past the cap")
	}
	if n := testutil.ToFloat64(r.srv.m.connsEvicted.WithLabelValues("main")); n != 1 {
		t.Errorf("facectl_http_idle_connections_closed_total = %v, want 1", n)
	}

	// b is now idle and takes the only place; c keeps it busy with a detection.
	c := openConn(t, r.url)
	fmt.Fprintf(c, "POST /api/v1/detect HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s", len(tinyJPEG), tinyJPEG)
	g.waitStarted(t, 1)
	d := openConn(t, r.url)
	io.WriteString(d, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	close(g.release) // c's answer is sent, c goes idle, and d is accepted in its place
	if resp := readResponse(t, bufio.NewReader(c)); resp.StatusCode != 200 {
		t.Fatalf("the busy client: %d", resp.StatusCode)
	}
	if st := statusOf(t, d); st != 200 {
		t.Fatalf("a client waiting at the cap once the busy connection went idle: %d, want 200", st)
	}
}
