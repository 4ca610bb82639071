package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// pythonUpload is a client that writes the whole body before it reads anything: Python's
// http.client, as used by urllib and requests.
const pythonUpload = `
import http.client, json, sys
host, port, path, size, headers = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), json.loads(sys.argv[5])
body = b"\xff\xd8\xff\xe0" + b"\0" * (size - 4)
try:
    c = http.client.HTTPConnection(host, port, timeout=30)
    c.request("POST", path, body=body, headers=headers)
    r = c.getresponse()
    print(json.dumps({"status": r.status, "body": r.read().decode("utf-8", "replace")}))
except Exception as e:
    print(json.dumps({"error": type(e).__name__ + ": " + str(e)}))
`

type pyResult struct {
	Status int    `json:"status"`
	Body   string `json:"body"`
	Error  string `json:"error"`
}

// pythonPost posts size bytes (JPEG magic, then zeros) with Python's http.client.
func pythonPost(t *testing.T, base, path string, size int, headers map[string]string) pyResult {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is needed for this test: %v", err)
	}
	u, _ := url.Parse(base)
	if headers == nil {
		headers = map[string]string{}
	}
	if _, ok := headers["Content-Type"]; !ok {
		headers["Content-Type"] = "image/jpeg"
	}
	hj, _ := json.Marshal(headers)
	out, err := exec.CommandContext(t.Context(), py, "-c", pythonUpload, u.Hostname(), u.Port(), path, fmt.Sprint(size), string(hj)).Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	var res pyResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("python3 printed %q: %v", out, err)
	}
	return res
}

// rawPost is the same kind of client written in Go: it writes the request and the whole
// body, and only then reads the response.
func rawPost(t *testing.T, base, path string, size int, hdr string) (int, string, error) {
	t.Helper()
	conn := openConn(t, base)
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n%s\r\n", path, size, hdr)
	if _, err := io.WriteString(conn, head); err != nil {
		return 0, "", err
	}
	chunk := make([]byte, 64<<10)
	copy(chunk, "\xFF\xD8\xFF\xE0")
	for left := size; left > 0; left -= len(chunk) {
		if _, err := conn.Write(chunk[:min(left, len(chunk))]); err != nil {
			return 0, "", fmt.Errorf("writing the body: %w", err)
		}
		chunk[0], chunk[1], chunk[2], chunk[3] = 0, 0, 0, 0
	}
	resp, err := http.ReadResponse(bufioReader(conn), nil)
	if err != nil {
		return 0, "", fmt.Errorf("reading the response: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func wantJSONError(t *testing.T, who string, status int, body string, wantStatus int, wantCode string) {
	t.Helper()
	if status != wantStatus {
		t.Errorf("%s: status %d, want %d (%s)", who, status, wantStatus, body)
		return
	}
	if code := errorCode(t, []byte(body)); code != wantCode {
		t.Errorf("%s: code %q, want %q", who, code, wantCode)
	}
}

func TestEarlyAnswersReachClientsThatSendEverythingFirst(t *testing.T) {
	const key = "the-key-0123456789abc"
	r, g := newGateServer(t, 1, 0, time.Second, func(c *Config) {
		c.MaxBodyBytes = 10 * MiB
		c.MaxBufferedBytes = 24 * MiB
	})
	rk, gk := newGateServer(t, 1, 1, time.Second, func(c *Config) { c.APIKeys = []string{key} })
	close(gk.release)

	t.Run("413 from Content-Length", func(t *testing.T) {
		res := pythonPost(t, r.url, "/api/v1/detect", 24*MiB, nil)
		if res.Error != "" {
			t.Fatalf("python http.client got %s instead of the 413", res.Error)
		}
		wantJSONError(t, "python", res.Status, res.Body, 413, "too_large")
		status, body, err := rawPost(t, r.url, "/api/v1/detect", 24*MiB, "")
		if err != nil {
			t.Fatalf("Go client writing first: %v", err)
		}
		wantJSONError(t, "raw Go", status, body, 413, "too_large")
	})
	t.Run("413 while reading a chunked body", func(t *testing.T) {
		// Chunked: no Content-Length, so the limit is found while reading.
		status, body, err := chunkedPost(t, r.url, 24*MiB)
		if err != nil {
			t.Fatal(err)
		}
		wantJSONError(t, "chunked", status, body, 413, "too_large")
	})
	t.Run("415 from the content type", func(t *testing.T) {
		res := pythonPost(t, r.url, "/api/v1/detect", 5*MiB, map[string]string{"Content-Type": "application/json"})
		if res.Error != "" {
			t.Fatalf("python http.client got %s instead of the 415", res.Error)
		}
		wantJSONError(t, "python", res.Status, res.Body, 415, "unsupported_media_type")
	})
	t.Run("401 without a key", func(t *testing.T) {
		res := pythonPost(t, rk.url, "/api/v1/detect", 5*MiB, nil)
		if res.Error != "" {
			t.Fatalf("python http.client got %s instead of the 401", res.Error)
		}
		wantJSONError(t, "python", res.Status, res.Body, 401, "unauthorized")
		res = pythonPost(t, rk.url, "/api/v1/detect", 5*MiB, map[string]string{"X-API-Key": key})
		if res.Error != "" || res.Status != 200 {
			t.Errorf("with the key: %+v", res)
		}
	})
	t.Run("429 when the queue is full", func(t *testing.T) {
		busy := detectAsync(t.Context(), r.url)
		g.waitStarted(t, 1)
		res := pythonPost(t, r.url, "/api/v1/detect", 5*MiB, nil)
		if res.Error != "" {
			t.Fatalf("python http.client got %s instead of the 429", res.Error)
		}
		wantJSONError(t, "python", res.Status, res.Body, 429, "overloaded")
		g.release <- struct{}{}
		if res := <-busy; res.err != nil || res.status != 200 {
			t.Errorf("the running request: %d %v", res.status, res.err)
		}
	})
	t.Run("curl and Go's client", func(t *testing.T) {
		resp, body := post(t, nil, r.url+"/api/v1/detect", "image/jpeg", bytes.NewReader(make([]byte, 24*MiB)))
		wantJSONError(t, "Go client", resp.StatusCode, string(body), 413, "too_large")
		curl, err := exec.LookPath("curl")
		if err != nil {
			t.Fatalf("curl is needed for this test: %v", err)
		}
		cmd := exec.CommandContext(t.Context(), curl, "-sS", "-H", "Content-Type: image/jpeg",
			"--data-binary", "@-", "-w", "\n%{http_code}", r.url+"/api/v1/detect")
		cmd.Stdin = bytes.NewReader(make([]byte, 24*MiB))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("curl: %v %s", err, out)
		}
		i := bytes.LastIndexByte(out, '\n')
		if i < 0 {
			t.Fatalf("curl printed %q", out)
		}
		body2, code := string(out[:i]), string(out[i+1:])
		wantJSONError(t, "curl", atoi(code), body2, 413, "too_large")
	})
	if n := testutil.ToFloat64(r.srv.m.lingered.WithLabelValues("complete")); n < 3 {
		t.Errorf("lingering closes counted complete = %v, want at least 3", n)
	}
}

func TestLingeringIsBounded(t *testing.T) {
	r, _ := newGateServer(t, 1, 1, time.Second, func(c *Config) {
		c.MaxBodyBytes = 1 * MiB
		c.MaxBufferedBytes = 1 * MiB
		c.LingerBytes = 2 * MiB
		c.LingerTimeout = 500 * time.Millisecond
	})
	t.Run("bytes", func(t *testing.T) {
		// A client that keeps sending past the linger limit is cut off: the server reads at
		// most LingerBytes after its answer.
		conn := openConn(t, r.url)
		fmt.Fprintf(conn, "POST /api/v1/detect HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n", 1<<40)
		sent, err := io.Copy(conn, io.LimitReader(zeros{}, 1<<30))
		if err == nil {
			t.Fatalf("the server read %d bytes of a 1 TiB body and did not close", sent)
		}
		if sent > 8*MiB {
			t.Errorf("the server accepted %d bytes after its 413, want about LingerBytes (2 MiB) plus socket buffers", sent)
		}
	})
	t.Run("time", func(t *testing.T) {
		conn := openConn(t, r.url)
		fmt.Fprintf(conn, "POST /api/v1/detect HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n", 2*MiB)
		if status := statusOf(t, conn); status != 413 {
			t.Fatalf("status %d, want 413", status)
		}
		begin := time.Now()
		_, err := io.Copy(io.Discard, conn) // never send the body: the server gives up
		// 10× the linger timeout for a loaded runner; without the bound the connection would
		// stay open until the 30 s read timeout.
		if took := time.Since(begin); err != nil || took > 5*time.Second {
			t.Errorf("connection closed after %s (%v), want about the 500ms linger timeout", took, err)
		}
	})
	eventually(t, "the cut-off lingers to be counted", func() bool {
		return testutil.ToFloat64(r.srv.m.lingered.WithLabelValues("limit")) >= 1 &&
			testutil.ToFloat64(r.srv.m.lingered.WithLabelValues("timeout")) >= 1
	})
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// chunkedPost sends size bytes with chunked transfer encoding, all before reading.
func chunkedPost(t *testing.T, base string, size int) (int, string, error) {
	t.Helper()
	conn := openConn(t, base)
	fmt.Fprintf(conn, "POST /api/v1/detect HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nTransfer-Encoding: chunked\r\n\r\n")
	chunk := make([]byte, 64<<10)
	copy(chunk, "\xFF\xD8\xFF\xE0")
	for left := size; left > 0; left -= len(chunk) {
		n := min(left, len(chunk))
		if _, err := fmt.Fprintf(conn, "%x\r\n%s\r\n", n, chunk[:n]); err != nil {
			return 0, "", fmt.Errorf("writing the body: %w", err)
		}
	}
	if _, err := io.WriteString(conn, "0\r\n\r\n"); err != nil {
		return 0, "", err
	}
	resp, err := http.ReadResponse(bufioReader(conn), nil)
	if err != nil {
		return 0, "", fmt.Errorf("reading the response: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func atoi(s string) int {
	var n int
	fmt.Sscan(strings.TrimSpace(s), &n)
	return n
}

func bufioReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }

// openConn opens a raw TCP connection to the server of base URL, closed with the test.
func openConn(t testing.TB, base string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { conn.Close() })
	return conn
}

// statusOf reads an HTTP/1.1 status line from conn (0 if the server closed it instead).
func statusOf(t testing.TB, conn net.Conn) int {
	t.Helper()
	buf := make([]byte, 64)
	n, _ := io.ReadAtLeast(conn, buf, 12)
	var status int
	if _, err := fmt.Sscanf(string(buf[:n]), "HTTP/1.1 %d", &status); err != nil {
		return 0
	}
	return status
}
