package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// newGateServer starts a server over a gateEngine with the given admission settings.
func newGateServer(t *testing.T, workers, queue int, wait time.Duration, modify ...func(*Config)) (*running, *gateEngine) {
	t.Helper()
	g := newGateEngine(workers)
	cfg := testConfig()
	cfg.QueueSize = queue
	cfg.QueueWait = wait
	for _, m := range modify {
		m(&cfg)
	}
	s, err := New(cfg, map[string]Engine{"gate": g}, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	return start(t, s), g
}

// eventually polls cond (without sleeping: it yields) until it holds or 10s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}

type result struct {
	status int
	body   []byte
	hdr    http.Header
	err    error
}

// detectAsync posts tinyJPEG to /api/v1/detect in the background.
func detectAsync(ctx context.Context, url string) <-chan result {
	ch := make(chan result, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/api/v1/detect", bytes.NewReader(tinyJPEG))
		req.Header.Set("Content-Type", "image/jpeg")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		ch <- result{status: resp.StatusCode, body: b, hdr: resp.Header}
	}()
	return ch
}

func TestOverloadAnswers429AndKeepsHealth(t *testing.T) {
	r, g := newGateServer(t, 2, 2, 5*time.Second)
	var inflight []<-chan result
	for range 2 {
		inflight = append(inflight, detectAsync(t.Context(), r.url))
	}
	g.waitStarted(t, 2)
	for range 2 {
		inflight = append(inflight, detectAsync(t.Context(), r.url))
	}
	eventually(t, "two queued requests", func() bool { return testutil.ToFloat64(r.srv.m.queueDepth) == 2 })

	// Workers and queue are full: the next request is refused at once.
	res := <-detectAsync(t.Context(), r.url)
	if res.err != nil || res.status != http.StatusTooManyRequests {
		t.Fatalf("5th request: status %d err %v, want 429", res.status, res.err)
	}
	if ra := res.hdr.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("429 without a useful Retry-After: %q", ra)
	}
	if code := errorCode(t, res.body); code != "overloaded" {
		t.Errorf("429 code = %q, want overloaded", code)
	}
	// Health, readiness and metrics never wait behind detection work.
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/"} {
		if resp, _ := get(t, r.url+p); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s under overload = %d, want 200", p, resp.StatusCode)
		}
	}
	close(g.release)
	for i, ch := range inflight {
		if res := <-ch; res.err != nil || res.status != http.StatusOK {
			t.Errorf("admitted request %d: status %d err %v body %s", i, res.status, res.err, res.body)
		}
	}
	if got := testutil.ToFloat64(r.srv.m.rejections.WithLabelValues("queue_full")); got != 1 {
		t.Errorf("queue_full rejections = %v, want 1", got)
	}
}

func TestQueueWaitRunsOutWith503(t *testing.T) {
	r, g := newGateServer(t, 1, 1, 150*time.Millisecond)
	first := detectAsync(t.Context(), r.url)
	g.waitStarted(t, 1)
	start := time.Now()
	res := <-detectAsync(t.Context(), r.url)
	waited := time.Since(start)
	if res.err != nil || res.status != http.StatusServiceUnavailable {
		t.Fatalf("queued request: status %d err %v, want 503", res.status, res.err)
	}
	if code := errorCode(t, res.body); code != "queue_timeout" {
		t.Errorf("code = %q, want queue_timeout", code)
	}
	if res.hdr.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if waited < 150*time.Millisecond || waited > 5*time.Second {
		t.Errorf("503 after %s, want about the 150ms queue wait", waited)
	}
	close(g.release)
	if res := <-first; res.status != http.StatusOK {
		t.Errorf("first request: %d", res.status)
	}
}

func TestClientGoneIsDropped(t *testing.T) {
	r, g := newGateServer(t, 1, 4, 5*time.Second)
	// One request holds the worker; the client of a second, queued one goes away.
	first := detectAsync(t.Context(), r.url)
	g.waitStarted(t, 1)
	ctx, cancel := context.WithCancel(t.Context())
	queued := detectAsync(ctx, r.url)
	eventually(t, "a queued request", func() bool { return testutil.ToFloat64(r.srv.m.queueDepth) == 1 })
	cancel()
	if res := <-queued; res.err == nil {
		t.Fatalf("cancelled client got a response: %d", res.status)
	}
	eventually(t, "the queue to empty", func() bool { return testutil.ToFloat64(r.srv.m.queueDepth) == 0 })
	eventually(t, "the drop to be counted", func() bool {
		return testutil.ToFloat64(r.srv.m.rejections.WithLabelValues("client_gone")) == 1
	})
	close(g.release)
	if res := <-first; res.status != http.StatusOK {
		t.Fatalf("first request: %d", res.status)
	}
	if n := g.callCount(); n != 1 {
		t.Errorf("engine ran %d detections, want 1: the gone client's work must be dropped", n)
	}

	// A client that leaves while its detection runs cancels the engine's context.
	g2 := newGateEngine(1)
	s2, err := New(testConfig(), map[string]Engine{"gate": g2}, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	r2 := start(t, s2)
	ctx2, cancel2 := context.WithCancel(t.Context())
	running := detectAsync(ctx2, r2.url)
	g2.waitStarted(t, 1)
	cancel2()
	<-running
	eventually(t, "the 499 to be recorded", func() bool {
		return testutil.ToFloat64(s2.m.requests.WithLabelValues("POST /api/v1/detect", "POST", "499")) == 1
	})
	if resp, _ := get(t, r2.url+"/healthz"); resp.StatusCode != http.StatusOK {
		t.Errorf("healthz after a client left: %d", resp.StatusCode)
	}
}

func TestShutdownDrainsThenStops(t *testing.T) {
	const drain = 1500 * time.Millisecond
	r, g := newGateServer(t, 2, 4, 5*time.Second, func(c *Config) {
		c.DrainPeriod = drain
		c.GracePeriod = 3 * time.Second
	})
	inflight := detectAsync(t.Context(), r.url)
	g.waitStarted(t, 1)

	stopped := time.Now()
	done := make(chan error, 1)
	go func() { done <- r.stop(t, 20*time.Second) }()
	eventually(t, "draining", r.srv.Draining)

	// Readiness fails at once; everything else is still served during the drain period.
	resp, body := get(t, r.url+"/readyz")
	if resp.StatusCode != http.StatusServiceUnavailable || errorCode(t, body) != "draining" {
		t.Fatalf("readyz while draining = %d %s, want 503 draining", resp.StatusCode, body)
	}
	if resp, _ := get(t, r.url+"/healthz"); resp.StatusCode != http.StatusOK {
		t.Errorf("healthz while draining = %d", resp.StatusCode)
	}
	if resp.Header.Get("Connection") != "close" && !resp.Close {
		t.Errorf("responses while draining should close the connection so clients move to other replicas")
	}
	late := detectAsync(t.Context(), r.url)
	g.waitStarted(t, 1)
	if time.Since(stopped) >= drain {
		t.Fatalf("checks took longer than the drain period; raise it")
	}
	close(g.release)
	for i, ch := range []<-chan result{inflight, late} {
		if res := <-ch; res.err != nil || res.status != http.StatusOK {
			t.Errorf("request %d during shutdown: %d %v", i, res.status, res.err)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil after a clean drain", err)
	}
	if took := time.Since(stopped); took < drain || took > drain+3*time.Second {
		t.Errorf("stopped after %s, want between the drain period %s and drain + grace", took, drain)
	}
	if _, err := http.Get(r.url + "/healthz"); err == nil {
		t.Error("server still answers after Run returned")
	}
}

func TestShutdownGivesUpAfterGracePeriod(t *testing.T) {
	r, g := newGateServer(t, 1, 1, 5*time.Second, func(c *Config) { c.GracePeriod = 300 * time.Millisecond })
	stuck := detectAsync(t.Context(), r.url)
	g.waitStarted(t, 1)
	begin := time.Now()
	err := r.stop(t, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "grace period") {
		t.Fatalf("Run = %v, want a grace period error", err)
	}
	if took := time.Since(begin); took > 3*time.Second {
		t.Errorf("Run returned %s after the stop, want about the 300ms grace period", took)
	}
	<-stuck
}

func TestErrorsAreJSON(t *testing.T) {
	r, _ := newGateServer(t, 1, 1, time.Second)
	text := []byte("hello, I am a text file named photo.jpg\n")
	mp, mpCT := multipartBody(t, "image", "photo.jpg", text)
	wrongField, wrongCT := multipartBody(t, "file", "photo.jpg", tinyJPEG)
	tests := []struct {
		name         string
		method, path string
		ct           string
		body         []byte
		status       int
		code         string
	}{
		{"unknown path", "GET", "/nope", "", nil, 404, "not_found"},
		{"wrong method", "GET", "/api/v1/detect", "", nil, 405, "method_not_allowed"},
		{"unknown parameter", "POST", "/api/v1/detect?min_confidance=0.5", "image/jpeg", tinyJPEG, 400, "invalid_parameter"},
		{"bad confidence", "POST", "/api/v1/detect?min_confidence=2", "image/jpeg", tinyJPEG, 400, "invalid_parameter"},
		{"detector not allowed", "POST", "/api/v1/detect?detector=haar", "image/jpeg", tinyJPEG, 400, "invalid_parameter"},
		{"no content type", "POST", "/api/v1/detect", "", tinyJPEG, 415, "unsupported_media_type"},
		{"json body", "POST", "/api/v1/detect", "application/json", []byte(`{}`), 415, "unsupported_media_type"},
		{"text as jpeg", "POST", "/api/v1/detect", "image/jpeg", text, 415, "unsupported_format"},
		{"text in multipart", "POST", "/api/v1/detect", mpCT, mp.Bytes(), 415, "unsupported_format"},
		{"wrong field", "POST", "/api/v1/detect", wrongCT, wrongField.Bytes(), 400, "missing_image"},
		{"empty", "POST", "/api/v1/detect", "image/jpeg", nil, 400, "empty_image"},
		{"broken multipart", "POST", "/api/v1/detect", "multipart/form-data; boundary=xyz", []byte("garbage"), 400, "bad_multipart"},
		{"mode on detect", "POST", "/api/v1/detect?mode=blur", "image/jpeg", tinyJPEG, 400, "invalid_parameter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, r.url+tt.path, bytes.NewReader(tt.body))
			if tt.ct != "" {
				req.Header.Set("Content-Type", tt.ct)
			}
			req.Header.Set("Accept", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q, want JSON", ct)
			}
			if code := errorCode(t, body); code != tt.code {
				t.Errorf("code = %q, want %q (%s)", code, tt.code, body)
			}
			if tt.status == 405 && resp.Header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
			if bytes.Contains(body, []byte(".go:")) || bytes.Contains(body, []byte("goroutine")) {
				t.Errorf("error body leaks internals: %s", body)
			}
		})
	}
}

func TestUploadErrorsAreReadablePages(t *testing.T) {
	r, _ := newGateServer(t, 1, 1, time.Second)
	body, ct := multipartBody(t, "image", "notes.jpg", []byte("just some text"))
	resp, b := post(t, nil, r.url+"/upload", ct, body, "Accept", "text/html")
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("status %d, want 415", resp.StatusCode)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !bytes.Contains(b, []byte("not an image")) {
		t.Errorf("want an HTML page that says what is wrong, got %s %s", resp.Header.Get("Content-Type"), b)
	}
}

func TestSecurityHeadersAndRequestID(t *testing.T) {
	r, _ := newGateServer(t, 1, 1, time.Second)
	for _, p := range []string{"/", "/healthz", "/nope", "/static/app.js", "/api/v1/openapi.json"} {
		resp, _ := get(t, r.url+p)
		for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "X-Request-ID"} {
			if resp.Header.Get(h) == "" {
				t.Errorf("GET %s: no %s header", p, h)
			}
		}
	}
	req, _ := http.NewRequest("GET", r.url+"/healthz", nil)
	req.Header.Set("X-Request-ID", "abc-123")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Request-ID"); got != "abc-123" {
		t.Errorf("well-formed X-Request-ID not echoed: %q", got)
	}
	req.Header.Set("X-Request-ID", "bad id\twith spaces")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Request-ID"); got == "" || strings.Contains(got, " ") {
		t.Errorf("malformed X-Request-ID should be replaced, got %q", got)
	}
}

func TestAPIKeys(t *testing.T) {
	const k1, k2 = "first-key-0123456789", "second-key-0123456789"
	r, g := newGateServer(t, 2, 2, time.Second, func(c *Config) { c.APIKeys = []string{k1, k2} })
	close(g.release)
	tests := []struct {
		name   string
		hdr    []string
		status int
	}{
		{"none", nil, 401},
		{"wrong", []string{"X-API-Key", "wrong-key-0123456789"}, 401},
		{"prefix of a key", []string{"X-API-Key", k1[:10]}, 401},
		{"x-api-key", []string{"X-API-Key", k1}, 200},
		{"bearer second key", []string{"Authorization", "Bearer " + k2}, 200},
		{"basic scheme", []string{"Authorization", "Basic " + k1}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(t, nil, r.url+"/api/v1/detect", "image/jpeg", bytes.NewReader(tinyJPEG), tt.hdr...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.status == 401 && errorCode(t, body) != "unauthorized" {
				t.Errorf("401 body %s", body)
			}
		})
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/", "/static/app.css"} {
		if resp, _ := get(t, r.url+p); resp.StatusCode != 200 {
			t.Errorf("GET %s with keys configured = %d, want 200 (exempt)", p, resp.StatusCode)
		}
	}
}

func TestCORS(t *testing.T) {
	r, _ := newGateServer(t, 1, 1, time.Second, func(c *Config) { c.CORSOrigins = []string{"https://app.example"} })
	preflight := func(origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, r.url+"/api/v1/detect", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := preflight("https://app.example"); resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Errorf("allowed preflight: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := preflight("https://evil.example"); resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("refused preflight: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestMetricsOnTheirOwnListener(t *testing.T) {
	g := newGateEngine(1)
	cfg := testConfig()
	cfg.MetricsAddr = "127.0.0.1:0"
	reg := prometheus.NewRegistry()
	s, err := New(cfg, map[string]Engine{"gate": g}, testLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, s)
	if resp, _ := get(t, r.url+"/metrics"); resp.StatusCode != 404 {
		t.Errorf("/metrics on the main listener = %d, want 404 when metrics_addr is set", resp.StatusCode)
	}
	resp, body := get(t, "http://"+s.MetricsAddr().String()+"/metrics")
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics on metrics_addr = %d", resp.StatusCode)
	}
	for _, name := range []string{"facectl_http_requests_total", "facectl_queue_rejections_total", "facectl_workers 1", "facectl_ready 1"} {
		if !bytes.Contains(body, []byte(name)) {
			t.Errorf("metrics lack %q", name)
		}
	}
}

func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	r, _ := newGateServer(t, 1, 1, time.Second)
	resp, body := get(t, r.url+"/api/v1/openapi.json")
	if resp.StatusCode != 200 {
		t.Fatalf("openapi: %d", resp.StatusCode)
	}
	var spec struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(body, &spec); err != nil || !strings.HasPrefix(spec.OpenAPI, "3.") {
		t.Fatalf("not an OpenAPI 3 document: %v", err)
	}
	for _, route := range []string{"POST /api/v1/detect", "POST /api/v1/blur", "POST /upload", "GET /healthz", "GET /readyz", "GET /metrics", "GET /", "GET /api/v1/openapi.json"} {
		method, path, _ := strings.Cut(route, " ")
		if _, ok := spec.Paths[path][strings.ToLower(method)]; !ok {
			t.Errorf("OpenAPI lacks %s", route)
		}
		// And the server really serves it (405/4xx for the wrong body is fine, 404 is not).
		req, _ := http.NewRequest(method, r.url+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 404 || resp.StatusCode == 405 {
			t.Errorf("%s documented but answers %d", route, resp.StatusCode)
		}
	}
	var codes struct {
		Components struct {
			Schemas struct {
				Error struct {
					Properties struct {
						Error struct {
							Properties struct {
								Code struct {
									Enum []string `json:"enum"`
								} `json:"code"`
							} `json:"properties"`
						} `json:"error"`
					} `json:"properties"`
				} `json:"Error"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(body, &codes); err != nil {
		t.Fatal(err)
	}
	enum := codes.Components.Schemas.Error.Properties.Error.Properties.Code.Enum
	for _, c := range []string{"overloaded", "queue_timeout", "too_large", "too_many_pixels", "corrupt_image", "unsupported_format", "draining"} {
		if !slices.Contains(enum, c) {
			t.Errorf("OpenAPI error codes lack %q", c)
		}
	}
}

func TestCheckHealth(t *testing.T) {
	r, _ := newGateServer(t, 1, 1, time.Second, func(c *Config) { c.DrainPeriod = time.Second })
	if err := CheckHealth(t.Context(), r.url, time.Second); err != nil {
		t.Fatalf("CheckHealth(ready server) = %v", err)
	}
	if err := CheckHealth(t.Context(), r.url+"/nope", time.Second); err == nil {
		t.Error("CheckHealth on a 404 path = nil")
	}
	if err := CheckHealth(t.Context(), "not a url", time.Second); err == nil {
		t.Error("CheckHealth(bad URL) = nil")
	}
	var wg sync.WaitGroup
	wg.Go(func() { r.stop(t, 20*time.Second) })
	eventually(t, "draining", r.srv.Draining)
	if err := CheckHealth(t.Context(), r.url, time.Second); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("CheckHealth(draining) = %v, want a 503 error", err)
	}
	r.cancel()
	wg.Wait()
	if err := CheckHealth(t.Context(), r.url, time.Second); err == nil {
		t.Error("CheckHealth(stopped server) = nil")
	}
}

func TestNewRejectsBadEngines(t *testing.T) {
	g := newGateEngine(1)
	if _, err := New(testConfig(), nil, nil, nil); err == nil {
		t.Error("New without engines = nil error")
	}
	cfg := testConfig()
	cfg.AllowedDetectors = []string{"lbp"}
	if _, err := New(cfg, map[string]Engine{"gate": g}, nil, nil); err == nil || !strings.Contains(err.Error(), "lbp") {
		t.Errorf("New with an allowed detector that is not loaded = %v", err)
	}
	if _, err := New(testConfig(), map[string]Engine{"a": g, "b": g}, nil, nil); err == nil {
		t.Error("New with two engines and no default = nil error")
	}
}

func TestMemoryBudgetHoldsBodiesBack(t *testing.T) {
	const body = 256 << 10
	r, g := newGateServer(t, 1, 8, 2*time.Second, func(c *Config) {
		c.MaxBodyBytes = body
		c.MaxBufferedBytes = 2 * body
	})
	img := append(bytes.Clone(tinyJPEG), make([]byte, body-len(tinyJPEG))...)
	send := func() <-chan result {
		ch := make(chan result, 1)
		go func() {
			resp, err := http.Post(r.url+"/api/v1/detect", "image/jpeg", bytes.NewReader(img))
			if err != nil {
				ch <- result{err: err}
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			ch <- result{status: resp.StatusCode, body: b}
		}()
		return ch
	}
	running := send()
	g.waitStarted(t, 1)
	// The second body fits the budget and waits for the worker; the third does not fit and
	// waits unread.
	second := send()
	eventually(t, "the second request queued", func() bool { return testutil.ToFloat64(r.srv.m.queueDepth) == 1 })
	third := send()
	eventually(t, "the third request queued", func() bool { return testutil.ToFloat64(r.srv.m.queueDepth) == 2 })
	if r.srv.adm.bytes.TryAcquire(1) {
		t.Fatal("the memory budget is not exhausted by two bodies")
	}
	close(g.release)
	for i, ch := range []<-chan result{running, second, third} {
		if res := <-ch; res.err != nil || res.status != 200 {
			t.Errorf("request %d: %d %v %s", i, res.status, res.err, res.body)
		}
	}
	if !r.srv.adm.bytes.TryAcquire(2 * body) {
		t.Error("the memory budget was not given back")
	}
}
