//go:build cgo

package server

import (
	"github.com/facectl/facectl/internal/testenv"

	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// smallPNG encodes a w×h gradient as PNG.
func smallPNG(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{uint8(x * 4), uint8(y * 4), 128, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// smallJPEG decodes a JPEG with Go and re-encodes it scaled (nearest neighbour) to width w.
func smallJPEG(t testing.TB, src []byte, w int) []byte {
	t.Helper()
	img, _, err := image.Decode(bytes.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	h := b.Dy() * w / b.Dx()
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			dst.Set(x, y, img.At(b.Min.X+x*b.Dx()/w, b.Min.Y+y*b.Dy()/h))
		}
	}
	var out bytes.Buffer
	if err := jpeg.Encode(&out, dst, &jpeg.Options{Quality: 75}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// FuzzDetectInput drives the whole input path — body reading, multipart parsing, sniffing,
// header checks, OpenCV decoding and detection — with arbitrary bytes, as raw body or as a
// multipart body. Whatever comes in, the answer must be a documented 2xx/4xx with a JSON
// body, never a 5xx or a crash. The seed corpus runs in every `go test`; CI adds a short
// `go test -run '^$' -fuzz FuzzDetectInput -fuzztime 60s -fuzzminimizetime 10s ./pkg/server`
// (minimising runs real detections, so bound it).
func FuzzDetectInput(f *testing.F) {
	// Small seeds keep each execution (a real decode and detection) and minimisation fast.
	face := smallJPEG(f, testenv.ReadPhoto(f, "gocv_face.jpg"), 160)
	seeds := [][]byte{
		face,
		face[:len(face)/3],
		jpegWithSize(f, face, 60000, 60000),
		jpegWithSize(f, face, 1, 1),
		smallPNG(f, 48, 32),
		pngHeader(100000, 100000),
		pngHeader(16, 16),
		[]byte("BM\x46\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00\x01\x00\x18\x00\x00\x00\x00\x00\x10\x00\x00\x00\x13\x0b\x00\x00\x13\x0b\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\x00\x00\x00\xff\x00\x00\x00\x00\x00\x00\x00\xff\x00\x00\x00"),
		[]byte("RIFF\x1a\x00\x00\x00WEBPVP8 \x0e\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
		[]byte("II*\x00\x08\x00\x00\x00"),
		[]byte("<svg xmlns='http://www.w3.org/2000/svg'/>"),
		[]byte("plain text"),
		{},
		{0xFF, 0xD8, 0xFF},
	}
	for _, s := range seeds {
		f.Add(s, false)
	}
	mp, _ := multipartBody(f, "image", "a.jpg", face[:4096])
	f.Add(mp.Bytes(), true)
	f.Add([]byte("--fuzzboundary\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\n\xFF\xD8\xFF\r\n--fuzzboundary--\r\n"), true)

	cfg := testConfig()
	cfg.MaxBodyBytes = 1 << 20
	s, err := New(cfg, map[string]Engine{"yunet": realEngine(f, "yunet", 1)}, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	f.Fuzz(func(t *testing.T, data []byte, asMultipart bool) {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/detect", bytes.NewReader(data))
		req.Header.Set("Content-Type", "image/jpeg")
		if asMultipart {
			req.Header.Set("Content-Type", "multipart/form-data; boundary=fuzzboundary")
		}
		rec := httptest.NewRecorder()
		watchdog := time.AfterFunc(20*time.Second, func() {
			panic(fmt.Sprintf("input of %d bytes (multipart %v) still running after 20s: %q", len(data), asMultipart, data[:min(len(data), 300)]))
		})
		h.ServeHTTP(rec, req)
		watchdog.Stop()
		switch rec.Code {
		case 200, 400, 413, 415, 422:
		default:
			t.Fatalf("status %d for %d input bytes: %s", rec.Code, len(data), rec.Body.Bytes())
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("status %d with a body that is not JSON: %q", rec.Code, rec.Body.Bytes())
		}
	})
}
