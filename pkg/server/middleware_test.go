package server

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// layerServer is a server whose layers the tests call one at a time, with its logs kept.
func layerServer(t *testing.T, modify func(*Config)) (*Server, *logRecords) {
	t.Helper()
	cfg := testConfig()
	if modify != nil {
		modify(&cfg)
	}
	logs := &logRecords{}
	s, err := New(cfg, map[string]Engine{"gate": newGateEngine(1)}, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, logs
}

// serveLayer runs one request through l on a fresh recorder.
func serveLayer(l layer, r *http.Request) (*httptest.ResponseRecorder, *recorder) {
	w := httptest.NewRecorder()
	rec := &recorder{ResponseWriter: w, start: time.Now()}
	l(rec, r)
	return w, rec
}

func TestWithRequestID(t *testing.T) {
	s, _ := layerServer(t, nil)
	for _, tt := range []struct {
		name, sent string
		kept       bool
	}{
		{"well formed", "abc-123.x:y_z", true},
		{"none", "", false},
		{"a space", "abc 123", false},
		{"a line break", "abc\nrequest_id=forged", false},
		{"too long", strings.Repeat("a", 129), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var inner string
			l := s.withRequestID(func(rec *recorder, r *http.Request) { inner = requestID(r.Context()) })
			r := httptest.NewRequest(http.MethodGet, "/healthz", nil)
			r.Header.Set("X-Request-ID", tt.sent)
			w, _ := serveLayer(l, r)
			got := w.Header().Get("X-Request-ID")
			if tt.kept && got != tt.sent || !tt.kept && (got == tt.sent || len(got) != 24) {
				t.Errorf("X-Request-ID %q sent, %q answered (kept: %v)", tt.sent, got, tt.kept)
			}
			if inner != got {
				t.Errorf("the next layer sees request ID %q, the client %q", inner, got)
			}
		})
	}
}

func TestWithDrain(t *testing.T) {
	s, _ := layerServer(t, nil)
	l := s.withDrain(func(rec *recorder, r *http.Request) { rec.WriteHeader(http.StatusOK) })
	if w, _ := serveLayer(l, httptest.NewRequest(http.MethodGet, "/", nil)); w.Header().Get("Connection") != "" {
		t.Errorf("Connection: %q before the drain, want none", w.Header().Get("Connection"))
	}
	s.setDraining()
	if w, _ := serveLayer(l, httptest.NewRequest(http.MethodGet, "/", nil)); w.Header().Get("Connection") != "close" {
		t.Errorf("Connection: %q while draining, want close", w.Header().Get("Connection"))
	}
}

func TestWithPanic(t *testing.T) {
	s, logs := layerServer(t, nil)
	boom := func(rec *recorder, r *http.Request) { panic("boom") }
	api := &route{pattern: "POST /api/v1/detect"}
	form := &route{pattern: "POST /upload", errors: pageErrors}

	w, _ := serveLayer(s.withPanic(api, boom), httptest.NewRequest(http.MethodPost, "/api/v1/detect", nil))
	if w.Code != 500 || errorCode(t, w.Body.Bytes()) != "internal" || strings.Contains(w.Body.String(), "boom") {
		t.Errorf("panic on the API: %d %s, want 500 internal without the panic's value", w.Code, w.Body)
	}
	if !strings.Contains(logs.String(), `"panic":"boom"`) {
		t.Errorf("the panic is not logged: %s", logs)
	}
	w, _ = serveLayer(s.withPanic(form, boom), httptest.NewRequest(http.MethodPost, "/upload", nil))
	if w.Code != 500 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Errorf("panic on the form route: %d %q, want a 500 page", w.Code, w.Header().Get("Content-Type"))
	}
	// Once the answer has started, nothing more is written.
	late := func(rec *recorder, r *http.Request) { rec.WriteHeader(http.StatusAccepted); panic("late") }
	if w, _ = serveLayer(s.withPanic(api, late), httptest.NewRequest(http.MethodPost, "/", nil)); w.Code != http.StatusAccepted || w.Body.Len() != 0 {
		t.Errorf("panic after the status: %d %q, want the 202 alone", w.Code, w.Body)
	}
	// http.ErrAbortHandler is net/http's to handle: it goes on up, past the metrics and the log.
	abort := s.withAccessLog(api, s.withMetrics(api, s.withPanic(api, func(rec *recorder, r *http.Request) { panic(http.ErrAbortHandler) })))
	logs.buf.Reset()
	func() {
		defer func() {
			if p := recover(); p != http.ErrAbortHandler {
				t.Errorf("recovered %v, want http.ErrAbortHandler", p)
			}
		}()
		serveLayer(abort, httptest.NewRequest(http.MethodPost, "/api/v1/detect", nil))
	}()
	if n := testutil.CollectAndCount(s.m.requests); n != 0 {
		t.Errorf("%d request series after an aborted request, want none", n)
	}
	if got := testutil.ToFloat64(s.m.inFlight); got != 0 {
		t.Errorf("requests in flight after an aborted request = %v, want 0", got)
	}
	if strings.Contains(logs.String(), `"msg":"request"`) {
		t.Errorf("an aborted request is logged: %s", logs)
	}
}

func TestWithAccessLogAndMetrics(t *testing.T) {
	s, logs := layerServer(t, nil)
	for _, tt := range []struct {
		name   string
		rt     *route
		method string
		serve  layer
		level  string
		status float64
		label  string
	}{
		{"an API answer", &route{pattern: "POST /api/v1/detect"}, http.MethodPost,
			func(rec *recorder, r *http.Request) { rec.WriteHeader(http.StatusTooManyRequests) }, "INFO", 429, "POST"},
		{"a probe", &route{pattern: "GET /healthz", quiet: true}, http.MethodGet,
			func(rec *recorder, r *http.Request) { rec.Write([]byte("ok")) }, "DEBUG", 200, "GET"},
		{"nothing written", &route{pattern: "GET /readyz", quiet: true}, http.MethodGet,
			func(rec *recorder, r *http.Request) {}, "DEBUG", 200, "GET"},
		{"an answer the client did not take", &route{pattern: "POST /api/v1/blur"}, "BREW",
			func(rec *recorder, r *http.Request) {
				rec.Header().Set("Content-Length", "100")
				rec.Write([]byte("part"))
			}, "INFO", 499, "OTHER"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			logs.buf.Reset()
			serveLayer(s.withAccessLog(tt.rt, s.withMetrics(tt.rt, tt.serve)), httptest.NewRequest(tt.method, "/x", nil))
			var line map[string]any
			for _, rec := range logs.all(t) {
				if rec["msg"] == "request" {
					line = rec
				}
			}
			if line == nil || line["level"] != tt.level || line["status"] != tt.status || line["route"] != tt.rt.pattern {
				t.Errorf("request log %v, want level %s, status %v, route %s", line, tt.level, tt.status, tt.rt.pattern)
			}
			code := strconv.Itoa(int(tt.status))
			if got := testutil.ToFloat64(s.m.requests.WithLabelValues(tt.rt.pattern, tt.label, code)); got != 1 {
				t.Errorf("requests{route=%q,method=%q,code=%q} = %v, want 1", tt.rt.pattern, tt.label, code, got)
			}
		})
	}
}

func TestWithKey(t *testing.T) {
	const key = "0123456789abcdef"
	s, _ := layerServer(t, func(c *Config) { c.APIKeys = []string{key} })
	form, ct := formUpload(t, "api_key", key, "image", "x")
	for _, tt := range []struct {
		name   string
		rule   keyRule
		header [2]string
		passed bool
	}{
		{"no key needed", keyNone, [2]string{}, true},
		{"the key as a bearer token", keyHeader, [2]string{"Authorization", "Bearer " + key}, true},
		{"the key as X-API-Key", keyHeader, [2]string{"X-API-Key", key}, true},
		{"a form on an API route", keyHeader, [2]string{}, false},
		{"a form on the form route: the intake checks it", keyHeaderOrForm, [2]string{}, true},
		{"a wrong header on the form route", keyHeaderOrForm, [2]string{"X-API-Key", "wrong-key-wrong-key"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			passed := false
			l := s.withKey(&route{pattern: "POST /x", key: tt.rule}, func(rec *recorder, r *http.Request) { passed = true })
			r := httptest.NewRequest(http.MethodPost, "/x", bytes.NewReader(form.Bytes()))
			r.Header.Set("Content-Type", ct)
			if tt.header[0] != "" {
				r.Header.Set(tt.header[0], tt.header[1])
			}
			w, _ := serveLayer(l, r)
			if passed != tt.passed || !passed && (w.Code != 401 || w.Header().Get("WWW-Authenticate") == "") {
				t.Errorf("passed %v (%d), want %v (or 401 with WWW-Authenticate)", passed, w.Code, tt.passed)
			}
		})
	}
}

// TestRouterNamesEveryRequest checks that requests no route serves are still logged and
// counted under a bounded name, and answered in JSON.
func TestRouterNamesEveryRequest(t *testing.T) {
	r, _, logs := capturedServer(t, nil)
	for _, tt := range []struct {
		method, path string
		status       int // or its class
		route        string
	}{
		{http.MethodGet, "/nowhere", 404, "unmatched"},
		{http.MethodDelete, "/api/v1/detect", 405, "unmatched"},
		{http.MethodGet, "/static//app.js", 3, "GET /static/{file}"}, // the mux's redirect to the clean path
		{http.MethodGet, "/healthz", 200, "GET /healthz"},
		{http.MethodGet, "/favicon.ico", 200, "GET /favicon.ico"},
	} {
		req, _ := http.NewRequest(tt.method, r.url+tt.path, nil)
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status && resp.StatusCode/100 != tt.status || resp.Header.Get("X-Request-ID") == "" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s: %d, X-Request-ID %q, want %d through every layer", tt.method, tt.path, resp.StatusCode, resp.Header.Get("X-Request-ID"), tt.status)
		}
		eventually(t, tt.method+" "+tt.path+" to be logged under "+tt.route, func() bool {
			return strings.Contains(logs.String(), `"route":"`+tt.route+`","path":"`+tt.path+`"`)
		})
	}
}
