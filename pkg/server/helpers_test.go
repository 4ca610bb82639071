package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/facectl/facectl/pkg/face"
)

// testLogger sends the server's logs to the test log, so a failing test shows them.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// testConfig is DefaultConfig on an ephemeral loopback port with no drain period.
func testConfig() Config {
	c := DefaultConfig()
	c.Addr = "127.0.0.1:0"
	c.DrainPeriod = 0
	c.GracePeriod = 5 * time.Second
	return c
}

// running is a server started with Run on a loopback port.
type running struct {
	srv    *Server
	url    string
	cancel context.CancelFunc
	done   chan error
}

// start runs s until the test ends (or stop is called) and waits until it listens.
func start(t testing.TB, s *Server) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	r := &running{srv: s, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx) }()
	select {
	case <-s.Listening():
	case err := <-r.done:
		t.Fatalf("server did not start: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("server did not start within 10s")
	}
	r.url = "http://" + s.Addr().String()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
			t.Error("server did not stop within 30s")
		}
	})
	return r
}

// stop cancels the server's context and returns Run's result.
func (r *running) stop(t testing.TB, within time.Duration) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(within):
		t.Fatalf("server did not stop within %s", within)
		return nil
	}
}

// multipartBody builds a form with the given file under field.
func multipartBody(t testing.TB, field, filename string, data []byte) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile(field, filename)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf, mw.FormDataContentType()
}

// post sends body with content type ct and returns the response with its body read.
func post(t testing.TB, c *http.Client, url, ct string, body io.Reader, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading response of POST %s: %v", url, err)
	}
	return resp, b
}

// get fetches url and returns the response with its body read.
func get(t testing.TB, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// errorCode decodes an error body, failing the test if it is not the documented shape.
func errorCode(t testing.TB, body []byte) string {
	t.Helper()
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("error body is not {\"error\":{\"code\",\"message\"}}: %q (%v)", body, err)
	}
	return e.Error.Code
}

// gateEngine is a boundary fake for the timing paths a real detector cannot produce on
// demand: each Detect/Render blocks until the test releases it or the context ends.
type gateEngine struct {
	name    string
	workers int
	started chan struct{}
	release chan struct{}
	mu      sync.Mutex
	calls   int
}

func newGateEngine(workers int) *gateEngine {
	return &gateEngine{name: "gate", workers: workers, started: make(chan struct{}, 1000), release: make(chan struct{})}
}

func (g *gateEngine) Name() string { return g.name }
func (g *gateEngine) Workers() int { return g.workers }

func (g *gateEngine) Detect(ctx context.Context, data []byte, f face.Filter) (face.Detection, error) {
	g.mu.Lock()
	g.calls++
	g.mu.Unlock()
	g.started <- struct{}{}
	select {
	case <-g.release:
		return face.Detection{Width: 10, Height: 10, Detector: g.name, Faces: []face.Face{{X: 1, Y: 1, W: 5, H: 5, Confidence: 0.9}}}, nil
	case <-ctx.Done():
		return face.Detection{}, ctx.Err()
	}
}

func (g *gateEngine) Render(ctx context.Context, data []byte, f face.Filter, o face.RenderOptions) ([]byte, face.Detection, error) {
	d, err := g.Detect(ctx, data, f)
	if err != nil {
		return nil, d, err
	}
	return []byte("\xFF\xD8\xFFrendered"), d, nil
}

func (g *gateEngine) callCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls
}

// waitStarted waits until n detections have entered the engine.
func (g *gateEngine) waitStarted(t testing.TB, n int) {
	t.Helper()
	for i := range n {
		select {
		case <-g.started:
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d detections started", i, n)
		}
	}
}

// tinyJPEG is enough JPEG magic to pass the server's sniffing; gateEngine never decodes it.
var tinyJPEG = []byte("\xFF\xD8\xFF\xE0 not really a jpeg")
