package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// logRecords collects a server's log records as JSON objects (from a Server or a process).
type logRecords struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logRecords) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String is the log as written, for failure messages.
func (l *logRecords) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logRecords) all(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(l.buf.Bytes(), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// capturedServer starts a gate server whose logs are kept for the test to inspect.
func capturedServer(t *testing.T, modify func(*Config)) (*running, *gateEngine, *logRecords) {
	t.Helper()
	g := newGateEngine(1)
	cfg := testConfig()
	if modify != nil {
		modify(&cfg)
	}
	logs := &logRecords{}
	s, err := New(cfg, map[string]Engine{"gate": g}, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), nil)
	if err != nil {
		t.Fatal(err)
	}
	return start(t, s), g, logs
}

// formUpload builds the no-JavaScript form's body: fields in the given order.
func formUpload(t *testing.T, fields ...string) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for i := 0; i+1 < len(fields); i += 2 {
		if fields[i] == "image" {
			fw, _ := mw.CreateFormFile("image", "photo.jpg")
			fw.Write([]byte(fields[i+1]))
		} else {
			mw.WriteField(fields[i], fields[i+1])
		}
	}
	mw.Close()
	return &buf, mw.FormDataContentType()
}

// Finding 4: with API keys set, the upload form works without JavaScript.
func TestUploadFormCarriesTheKey(t *testing.T) {
	const key = "form-key-0123456789abc"
	r, g := newGateServer(t, 1, 4, time.Second, func(c *Config) { c.APIKeys = []string{key} })
	close(g.release)
	_, page := get(t, r.url+"/")
	keyAt := bytes.Index(page, []byte(`name="api_key" type="password"`))
	imageAt := bytes.Index(page, []byte(`name="image"`))
	if keyAt < 0 || imageAt < 0 || keyAt > imageAt {
		t.Fatalf("the form needs a password field api_key before the image field (key at %d, image at %d)", keyAt, imageAt)
	}
	tests := []struct {
		name   string
		fields []string
		status int
		words  string
	}{
		{"key field first", []string{"api_key", key, "image", string(tinyJPEG)}, 200, "face"},
		{"wrong key", []string{"api_key", "wrong-key-0123456789", "image", string(tinyJPEG)}, 401, "not valid"},
		{"no key", []string{"image", string(tinyJPEG)}, 401, "API key field"},
		{"key after the photo", []string{"image", string(tinyJPEG), "api_key", key}, 401, "API key field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, ct := formUpload(t, tt.fields...)
			resp, b := post(t, nil, r.url+"/upload", ct, body, "Accept", "text/html")
			if resp.StatusCode != tt.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
				!strings.Contains(strings.ToLower(string(b)), strings.ToLower(tt.words)) {
				t.Errorf("status %d %s, want %d with an HTML page saying %q:\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), tt.status, tt.words, b)
			}
		})
	}
	// The form field is only for /upload: the API still wants a header.
	body, ct := formUpload(t, "api_key", key, "image", string(tinyJPEG))
	if resp, b := post(t, nil, r.url+"/api/v1/detect", ct, body); resp.StatusCode != 401 {
		t.Errorf("/api/v1/detect with the key only in the form: %d %s, want 401", resp.StatusCode, b)
	}
}

// Finding 7: a wrong X-API-Key beside a valid Bearer token. The documented rule: the request
// is accepted when either header holds a valid key.
func TestAPIKeyInEitherHeader(t *testing.T) {
	const key = "good-key-0123456789abc"
	r, g := newGateServer(t, 1, 4, time.Second, func(c *Config) { c.APIKeys = []string{key} })
	close(g.release)
	for _, tt := range []struct {
		name   string
		hdr    []string
		status int
	}{
		{"wrong X-API-Key, valid Bearer", []string{"X-API-Key", "wrong-key-0123456789", "Authorization", "Bearer " + key}, 200},
		{"valid X-API-Key, wrong Bearer", []string{"X-API-Key", key, "Authorization", "Bearer wrong-key-0123456789"}, 200},
		{"both wrong", []string{"X-API-Key", "wrong-key-0123456789", "Authorization", "Bearer wrong-key-0123456789"}, 401},
		{"valid key in another scheme", []string{"Authorization", "Token " + key}, 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := post(t, nil, r.url+"/api/v1/detect", "image/jpeg", bytes.NewReader(tinyJPEG), tt.hdr...)
			if resp.StatusCode != tt.status {
				t.Errorf("status %d %s, want %d", resp.StatusCode, b, tt.status)
			}
			if tt.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

// Finding 5: readiness probes during a drain are expected; they must not log errors.
func TestDrainLogsOnceAtInfo(t *testing.T) {
	r, _, logs := capturedServer(t, func(c *Config) { c.DrainPeriod = 2 * time.Second })
	r.cancel()
	eventually(t, "the drain to start", r.srv.Draining)
	for range 5 {
		resp, body := get(t, r.url+"/readyz")
		if resp.StatusCode != 503 || errorCode(t, body) != "draining" {
			t.Fatalf("readyz while draining: %d %s", resp.StatusCode, body)
		}
	}
	draining := 0
	for _, rec := range logs.all(t) {
		if rec["level"] == "ERROR" || rec["level"] == "WARN" {
			t.Errorf("logged while draining: %v", rec)
		}
		if msg, _ := rec["msg"].(string); strings.HasPrefix(msg, "draining") {
			draining++
			if rec["level"] != "INFO" {
				t.Errorf("the drain logged at %v, want INFO", rec["level"])
			}
		}
	}
	if draining != 1 {
		t.Errorf("the drain was logged %d times, want once", draining)
	}
}

// Finding 6: a ";" in the query used to drop parameters silently.
func TestMalformedQueryIs400(t *testing.T) {
	r, g := newGateServer(t, 1, 4, time.Second)
	close(g.release)
	for _, q := range []string{"max_faces=1;x=1", "max_faces=1%zz", "min_confidence=0.5;max_faces=1"} {
		resp, b := post(t, nil, r.url+"/api/v1/detect?"+q, "image/jpeg", bytes.NewReader(tinyJPEG))
		if resp.StatusCode != 400 || errorCode(t, b) != "invalid_parameter" {
			t.Errorf("?%s: %d %s, want 400 invalid_parameter", q, resp.StatusCode, b)
		}
	}
	if resp, b := post(t, nil, r.url+"/api/v1/detect?max_faces=1&min_confidence=0.5", "image/jpeg", bytes.NewReader(tinyJPEG)); resp.StatusCode != 200 {
		t.Errorf("a well-formed query: %d %s", resp.StatusCode, b)
	}
}

// Finding 7: requests net/http refuses by itself are logged and counted.
func TestNetHTTPRejectionsAreLoggedAndCounted(t *testing.T) {
	r, _, logs := capturedServer(t, nil)
	for _, tc := range []struct {
		name   string
		req    string
		status int
	}{
		{"huge URL", "GET /" + strings.Repeat("a", 80<<10) + " HTTP/1.1\r\nHost: x\r\n\r\n", 431},
		{"bad header bytes", "GET / HTTP/1.1\r\nHost: x\r\nX-Bad\x01: y\r\n\r\n", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := openConn(t, r.url)
			io.WriteString(conn, tc.req)
			if st := statusOf(t, conn); st != tc.status {
				t.Fatalf("status %d, want %d", st, tc.status)
			}
			if n := testutil.ToFloat64(r.srv.m.requests.WithLabelValues("rejected", "OTHER", fmt.Sprint(tc.status))); n != 1 {
				t.Errorf("facectl_http_requests_total{route=rejected,code=%d} = %v, want 1", tc.status, n)
			}
		})
	}
	found := map[float64]bool{}
	for _, rec := range logs.all(t) {
		if rec["msg"] == "request rejected before routing" && rec["level"] == "WARN" && rec["remote"] != "" {
			found[rec["status"].(float64)] = true
		}
	}
	if !found[431] || !found[400] {
		t.Errorf("rejections logged for %v, want 431 and 400", found)
	}
	// Ordinary requests and errors from handlers are not counted as rejected.
	get(t, r.url+"/nope")
	if n := testutil.ToFloat64(r.srv.m.requests.WithLabelValues("rejected", "OTHER", "404")); n != 0 {
		t.Errorf("a handler's 404 counted as rejected")
	}
}

// TestRejectionsAreOnlyNetHTTPs checks what counts as a request net/http rejected by itself:
// not a handler's answer whose header net/http flushes in two writes (the first without
// X-Request-Id), and yes a rejection after an answered request on the same connection, or
// of an HTTP/1.0 request.
func TestRejectionsAreOnlyNetHTTPs(t *testing.T) {
	g := newGateEngine(1)
	s, err := New(testConfig(), map[string]Engine{"gate": g}, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	// A header over net/http's 4 KiB write buffer, sorted before X-Request-Id.
	s.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("A-Big", strings.Repeat("b", 6<<10))
		w.Header().Set("X-Request-Id", "r1")
		w.WriteHeader(http.StatusNotFound)
	})
	r := start(t, s)
	rejected := func(code int) float64 {
		return testutil.ToFloat64(s.m.requests.WithLabelValues("rejected", "OTHER", strconv.Itoa(code)))
	}
	for _, proto := range []string{"HTTP/1.1", "HTTP/1.0"} {
		conn := openConn(t, r.url)
		fmt.Fprintf(conn, "GET /x %s\r\nHost: x\r\n\r\n", proto)
		resp, err := http.ReadResponse(bufioReader(conn), nil)
		if err != nil || resp.StatusCode != 404 || resp.Header.Get("X-Request-Id") != "r1" {
			t.Fatalf("%s: %v %v, want the handler's 404", proto, resp, err)
		}
	}
	if n := rejected(404); n != 0 {
		t.Errorf("a handler's 404 with a split header counted as rejected %v times", n)
	}
	// On a kept-alive connection, after an answered request.
	conn := openConn(t, r.url)
	br := bufioReader(conn)
	io.WriteString(conn, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 404 {
		t.Fatalf("first request: %v %v", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nX-Bad\x01: y\r\n\r\n")
	if resp, err = http.ReadResponse(br, nil); err != nil || resp.StatusCode != 400 {
		t.Fatalf("second request: %v %v", resp, err)
	}
	eventually(t, "the 400 after an answered request to be counted", func() bool { return rejected(400) == 1 })
	conn = openConn(t, r.url)
	io.WriteString(conn, "GET / HTTP/1.0\r\nX-Bad\x01: y\r\n\r\n")
	if st := statusOf(t, conn); st != 400 {
		t.Fatalf("HTTP/1.0 with bad header bytes: status %d, want 400", st)
	}
	eventually(t, "the HTTP/1.0 rejection to be counted", func() bool { return rejected(400) == 2 })
}

// Finding 7: when the grace period runs out, queued requests get a 503, not a reset.
func TestGraceEndAnswers503(t *testing.T) {
	r, g := newGateServer(t, 1, 4, 10*time.Second, func(c *Config) {
		c.GracePeriod = 300 * time.Millisecond
	})
	running := detectAsync(t.Context(), r.url)
	g.waitStarted(t, 1)
	queued := detectAsync(t.Context(), r.url)
	eventually(t, "the second request to queue", func() bool { return testutil.ToFloat64(r.srv.m.queueDepth) == 1 })
	if err := r.stop(t, 10*time.Second); err == nil {
		t.Error("Run = nil after the grace period ran out, want an error")
	}
	for name, ch := range map[string]<-chan result{"queued": queued, "running": running} {
		res := <-ch
		if res.err != nil {
			t.Errorf("%s request: %v, want a 503", name, res.err)
			continue
		}
		if res.status != 503 || errorCode(t, res.body) != "shutting_down" || res.hdr.Get("Retry-After") == "" {
			t.Errorf("%s request: %d %s, want 503 shutting_down with Retry-After", name, res.status, res.body)
		}
	}
}

// Finding 7: logs show the client's address from X-Forwarded-For only behind trusted proxies.
func TestClientAddressBehindTrustedProxies(t *testing.T) {
	cfg := testConfig()
	cfg.TrustedProxies = []string{"10.0.0.0/8", "192.168.1.7"}
	s, err := New(cfg, map[string]Engine{"gate": newGateEngine(1)}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		remote, xff, want string
	}{
		{"10.1.2.3:5000", "203.0.113.9", "203.0.113.9"},
		{"10.1.2.3:5000", "198.51.100.1, 203.0.113.9, 10.9.9.9", "203.0.113.9"},
		{"192.168.1.7:5000", "203.0.113.9", "203.0.113.9"},
		{"203.0.113.50:5000", "198.51.100.1", "203.0.113.50:5000"}, // not a proxy: its header proves nothing
		{"10.1.2.3:5000", "", "10.1.2.3"},
		{"10.1.2.3:5000", "garbage, 203.0.113.9", "203.0.113.9"},
	} {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = tt.remote
		if tt.xff != "" {
			req.Header.Set("X-Forwarded-For", tt.xff)
		}
		if got := s.clientAddr(req); got != tt.want {
			t.Errorf("peer %s, X-Forwarded-For %q: client %q, want %q", tt.remote, tt.xff, got, tt.want)
		}
	}
	cfg.TrustedProxies = []string{"10.0.0.0/33"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "trusted_proxies[0]") {
		t.Errorf("Validate with a bad CIDR = %v", err)
	}
	// Without trusted proxies the header is ignored.
	s2, _ := New(testConfig(), map[string]Engine{"gate": newGateEngine(1)}, nil, nil)
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "10.1.2.3:5000"
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	if got := s2.clientAddr(req); got != "10.1.2.3:5000" {
		t.Errorf("without trusted proxies: %q", got)
	}
}

// TestRepeatedAndManyQueryParameters: a repeated parameter used to be checked only in its
// last occurrence (?max_faces=abc&max_faces=1 got 200), and a 400 for unknown parameters
// listed every one (a 44 KB query gave a 187 KB body and WARN line). Repeats are refused now,
// and the 400 names a few parameters and counts the rest.
func TestRepeatedAndManyQueryParameters(t *testing.T) {
	r, g, logs := capturedServer(t, nil)
	close(g.release)
	for _, q := range []string{"max_faces=abc&max_faces=1", "max_faces=1&max_faces=1", "best=true&best=false"} {
		resp, b := post(t, nil, r.url+"/api/v1/detect?"+q, "image/jpeg", bytes.NewReader(tinyJPEG))
		if resp.StatusCode != 400 || errorCode(t, b) != "invalid_parameter" || !bytes.Contains(b, []byte("2 times")) {
			t.Errorf("?%s: %d %s, want 400 invalid_parameter naming the repeat", q, resp.StatusCode, b)
		}
	}
	var q strings.Builder
	for i := range 2500 { // 36 KB, within the 64 KiB of headers
		fmt.Fprintf(&q, "unknown_%d=1&", i)
	}
	resp, b := post(t, nil, r.url+"/api/v1/detect?"+q.String()+"max_faces=x", "image/jpeg", bytes.NewReader(tinyJPEG))
	if resp.StatusCode != 400 || errorCode(t, b) != "invalid_parameter" {
		t.Fatalf("%d KB query: %d %.200s", q.Len()/1000, resp.StatusCode, b)
	}
	if len(b) > 1000 || !bytes.Contains(b, []byte("more")) {
		t.Errorf("the 400 for a %d KB query is %d bytes, want a few names and a count: %s", q.Len()/1000, len(b), b)
	}
	for _, rec := range logs.all(t) {
		if line, _ := json.Marshal(rec); rec["level"] == "WARN" && len(line) > 2000 {
			t.Errorf("a %d-byte WARN line: %.300s", len(line), line)
		}
	}
}

// TestOptionsStarIsARequest: `OPTIONS *` used to be answered by net/http itself and so logged
// as "rejected before routing" and counted under route="rejected"; it is an ordinary request.
func TestOptionsStarIsARequest(t *testing.T) {
	r, _, logs := capturedServer(t, nil)
	conn := openConn(t, r.url)
	io.WriteString(conn, "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")
	if st := statusOf(t, conn); st != 200 {
		t.Fatalf("OPTIONS *: %d, want 200", st)
	}
	if n := testutil.ToFloat64(r.srv.m.requests.WithLabelValues("rejected", "OTHER", "200")); n != 0 {
		t.Errorf("OPTIONS * counted as rejected")
	}
	if n := testutil.ToFloat64(r.srv.m.requests.WithLabelValues("OPTIONS *", "OPTIONS", "200")); n != 1 {
		t.Errorf(`facectl_http_requests_total{route="OPTIONS *"} = %v, want 1`, n)
	}
	for _, rec := range logs.all(t) {
		if rec["msg"] == "request rejected before routing" {
			t.Errorf("OPTIONS * logged as a rejection: %v", rec)
		}
	}
}
