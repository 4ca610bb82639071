package server

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/facectl/facectl/pkg/face"
)

// instantEngine answers at once, so that a benchmark measures the server alone.
type instantEngine struct{}

func (instantEngine) Name() string { return "instant" }
func (instantEngine) Workers() int { return 2 }
func (instantEngine) Detect(context.Context, []byte, face.Filter) (face.Detection, error) {
	return face.Detection{Width: 10, Height: 10, Faces: []face.Face{{X: 1, Y: 1, W: 5, H: 5, Confidence: 0.9}}}, nil
}
func (e instantEngine) Render(ctx context.Context, data []byte, f face.Filter, o face.RenderOptions) ([]byte, face.Detection, error) {
	d, err := e.Detect(ctx, data, f)
	return []byte("\xFF\xD8\xFFrendered"), d, err
}

// BenchmarkServerOverhead is what the server's own layers, intake and answer cost per request,
// in process and without an engine (read ns/op and allocs/op):
//
//	go test -run '^$' -bench ServerOverhead -count 5 ./pkg/server
func BenchmarkServerOverhead(b *testing.B) {
	s, err := New(testConfig(), map[string]Engine{"instant": instantEngine{}}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	for _, tt := range []struct {
		name, method, path, ct string
		body                   []byte
		want                   int
	}{
		{"healthz", http.MethodGet, "/healthz", "", nil, 200},
		{"detect", http.MethodPost, "/api/v1/detect?max_faces=3", "image/jpeg", tinyJPEG, 200},
		{"not_found", http.MethodGet, "/nowhere", "", nil, 404},
	} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(tt.method, tt.path, bytes.NewReader(tt.body))
				if tt.ct != "" {
					r.Header.Set("Content-Type", tt.ct)
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != tt.want {
					b.Fatalf("%s %s: %d %s", tt.method, tt.path, w.Code, w.Body)
				}
			}
		})
	}
}
