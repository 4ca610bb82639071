//go:build cgo

package server

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"html"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/facectl/facectl/internal/testenv"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/facectl/facectl/pkg/vision"
)

// realEngine loads the real detection engine (OpenCV) with the given detector and workers.
func realEngine(t testing.TB, detector string, workers int) *vision.Engine {
	t.Helper()
	cfg := vision.DefaultConfig()
	cfg.Detector = detector
	cfg.Workers = workers
	if detector == "yunet" {
		cfg.Model = testenv.Model(t)
	}
	e, err := vision.New(cfg, nil)
	if err != nil {
		t.Fatalf("loading the %s engine: %v", detector, err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// realServer starts a server on the real YuNet engine.
func realServer(t testing.TB, modify ...func(*Config)) *running {
	t.Helper()
	cfg := testConfig()
	for _, m := range modify {
		m(&cfg)
	}
	s, err := New(cfg, map[string]Engine{"yunet": realEngine(t, "yunet", 2)}, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	return start(t, s)
}

func decodeDetection(t testing.TB, body []byte) DetectResponse {
	t.Helper()
	var d DetectResponse
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("response is not a detection: %v: %s", err, body)
	}
	return d
}

func TestDetectGroupPhoto(t *testing.T) {
	r := realServer(t)
	group := testenv.ReadPhoto(t, "group_10.jpg")
	mp, mpCT := multipartBody(t, "image", "group_10.jpg", group)
	for _, tc := range []struct {
		name string
		ct   string
		body []byte
	}{
		{"multipart", mpCT, mp.Bytes()},
		{"raw body", "image/jpeg", group},
		{"octet-stream", "application/octet-stream", group},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := post(t, nil, r.url+"/api/v1/detect", tc.ct, bytes.NewReader(tc.body))
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			d := decodeDetection(t, body)
			if len(d.Faces) != 10 || d.Width != 1024 || d.Height != 603 || d.Detector != "yunet" || d.ElapsedMS <= 0 {
				t.Fatalf("got %d faces, %dx%d, detector %q, %v ms; want 10 faces in 1024x603 by yunet", len(d.Faces), d.Width, d.Height, d.Detector, d.ElapsedMS)
			}
			for i, f := range d.Faces {
				if f.W <= 0 || f.H <= 0 || f.X < 0 || f.Y < 0 || f.X+f.W > d.Width || f.Y+f.H > d.Height || f.Confidence <= 0 || f.Confidence > 1 || len(f.Landmarks) != 5 {
					t.Errorf("face %d is not a valid face: %+v", i, f)
				}
			}
		})
	}
	t.Run("png", func(t *testing.T) {
		body, ct := multipartBody(t, "image", "astronaut.png", testenv.ReadPhoto(t, "astronaut.png"))
		resp, b := post(t, nil, r.url+"/api/v1/detect", ct, body)
		if d := decodeDetection(t, b); resp.StatusCode != 200 || len(d.Faces) != 1 || d.Width != 512 {
			t.Errorf("astronaut.png: %d, %d faces, width %d; want 1 face in 512 px", resp.StatusCode, len(d.Faces), d.Width)
		}
	})
	t.Run("filters", func(t *testing.T) {
		resp, body := post(t, nil, r.url+"/api/v1/detect?max_faces=3", "image/jpeg", bytes.NewReader(group))
		if d := decodeDetection(t, body); resp.StatusCode != 200 || len(d.Faces) != 3 {
			t.Errorf("max_faces=3: %d, %d faces", resp.StatusCode, len(d.Faces))
		}
		resp, body = post(t, nil, r.url+"/api/v1/detect", "image/jpeg", bytes.NewReader(testenv.ReadPhoto(t, "home.jpg")))
		if d := decodeDetection(t, body); resp.StatusCode != 200 || len(d.Faces) != 0 || !bytes.Contains(body, []byte(`"faces":[]`)) {
			t.Errorf("negative photo: %d %s", resp.StatusCode, body)
		}
	})
}

// decodeImage decodes an encoded image with Go's decoders, independent of OpenCV.
func decodeImage(t testing.TB, b []byte, wantFormat string) image.Rectangle {
	t.Helper()
	img, format, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("response is not a decodable image: %v", err)
	}
	if format != wantFormat {
		t.Errorf("format %s, want %s", format, wantFormat)
	}
	return img.Bounds()
}

func TestRenderedImagesDecodeAtTheRightSize(t *testing.T) {
	r := realServer(t)
	group := testenv.ReadPhoto(t, "group_10.jpg")
	want := image.Rect(0, 0, 1024, 603)
	for _, tc := range []struct {
		name, path, accept, format string
	}{
		{"annotated jpeg", "/api/v1/detect", "image/jpeg", "jpeg"},
		{"annotated png", "/api/v1/detect", "image/png", "png"},
		{"blur", "/api/v1/blur", "", "jpeg"},
		{"blur png", "/api/v1/blur", "image/png", "png"},
		{"pixelate", "/api/v1/blur?mode=pixelate", "image/jpeg", "jpeg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := post(t, nil, r.url+tc.path, "image/jpeg", bytes.NewReader(group), "Accept", tc.accept)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if got := resp.Header.Get("Content-Type"); got != "image/"+tc.format {
				t.Errorf("Content-Type %q", got)
			}
			if resp.Header.Get("X-Face-Count") != "10" {
				t.Errorf("X-Face-Count %q, want 10", resp.Header.Get("X-Face-Count"))
			}
			if b := decodeImage(t, body, tc.format); b != want {
				t.Errorf("image is %v, want %v", b, want)
			}
			if bytes.Equal(body, group) {
				t.Error("image came back unchanged")
			}
		})
	}
	t.Run("annotate=true in JSON", func(t *testing.T) {
		resp, body := post(t, nil, r.url+"/api/v1/detect?annotate=true", "image/jpeg", bytes.NewReader(group))
		d := decodeDetection(t, body)
		if resp.StatusCode != 200 || d.Image == nil || d.Image.ContentType != "image/jpeg" || len(d.Faces) != 10 {
			t.Fatalf("status %d, image %v, %d faces", resp.StatusCode, d.Image != nil, len(d.Faces))
		}
		if b := decodeImage(t, d.Image.Data, "jpeg"); b != want {
			t.Errorf("annotated image is %v, want %v", b, want)
		}
	})
}

func TestUploadRendersResultPage(t *testing.T) {
	r := realServer(t)
	body, ct := multipartBody(t, "image", "group_10.jpg", testenv.ReadPhoto(t, "group_10.jpg"))
	resp, page := post(t, nil, r.url+"/upload", ct, body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("status %d, type %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !bytes.Contains(page, []byte("10 faces</strong> found")) {
		t.Errorf("page does not say 10 faces:\n%s", page)
	}
	m := regexp.MustCompile(`src="data:image/jpeg;base64,([^"]+)"`).FindSubmatch(page)
	if m == nil {
		t.Fatal("page has no inline annotated image")
	}
	img, err := base64.StdEncoding.DecodeString(html.UnescapeString(string(m[1])))
	if err != nil {
		t.Fatal(err)
	}
	if b := decodeImage(t, img, "jpeg"); b.Dx() != 1024 || b.Dy() != 603 {
		t.Errorf("inline image %v", b)
	}
	if n := bytes.Count(page, []byte("<li>")); n != 10 {
		t.Errorf("page lists %d faces, want 10", n)
	}
}

// pngHeader is a PNG with just a valid IHDR declaring w×h pixels: a "pixel bomb" header.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	chunk("IHDR", ihdr)
	chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})
	chunk("IEND", nil)
	return b.Bytes()
}

// jpegWithSize patches the dimensions in the first SOF marker of a JPEG.
func jpegWithSize(t testing.TB, j []byte, w, h uint16) []byte {
	t.Helper()
	out := bytes.Clone(j)
	for i := 2; i+9 < len(out); {
		if out[i] != 0xFF {
			t.Fatal("lost JPEG marker sync")
		}
		m := out[i+1]
		if m >= 0xC0 && m <= 0xC3 {
			binary.BigEndian.PutUint16(out[i+5:], h)
			binary.BigEndian.PutUint16(out[i+7:], w)
			return out
		}
		i += 2 + int(binary.BigEndian.Uint16(out[i+2:]))
	}
	t.Fatal("no SOF marker")
	return nil
}

func TestHostileInputs(t *testing.T) {
	const limit = 2 << 20
	r := realServer(t, func(c *Config) { c.MaxBodyBytes = limit })
	group := testenv.ReadPhoto(t, "group_10.jpg")
	big := bytes.Repeat(group, limit/len(group)+2)

	manyParts := func(n int) ([]byte, string) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for i := range n {
			mw.WriteField(fmt.Sprintf("f%d", i), "x")
		}
		fw, _ := mw.CreateFormFile("image", "a.jpg")
		fw.Write(group)
		mw.Close()
		return buf.Bytes(), mw.FormDataContentType()
	}
	partsBody, partsCT := manyParts(500)
	textBody, textCT := multipartBody(t, "image", "holiday.jpg", []byte("Dear diary, today I uploaded a text file.\n"))
	twoImages := func() ([]byte, string) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for range 2 {
			fw, _ := mw.CreateFormFile("image", "a.jpg")
			fw.Write(group)
		}
		mw.Close()
		return buf.Bytes(), mw.FormDataContentType()
	}
	twoBody, twoCT := twoImages()

	tests := []struct {
		name    string
		ct      string
		body    io.Reader
		chunked bool
		status  int
		code    string
	}{
		{"body over the limit", "image/jpeg", bytes.NewReader(big), false, 413, "too_large"},
		{"chunked body over the limit", "image/jpeg", bytes.NewReader(big), true, 413, "too_large"},
		{"multipart over the limit", "multipart/form-data; boundary=b", io.MultiReader(strings.NewReader("--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\n\r\n"), bytes.NewReader(big)), true, 413, "too_large"},
		{"text named .jpg", textCT, bytes.NewReader(textBody.Bytes()), false, 415, "unsupported_format"},
		{"truncated jpeg", "image/jpeg", bytes.NewReader(group[:len(group)/2]), false, 422, "corrupt_image"},
		{"jpeg header only", "image/jpeg", bytes.NewReader(group[:600]), false, 422, "corrupt_image"},
		{"png declaring 100000x100000", "image/png", bytes.NewReader(pngHeader(100000, 100000)), false, 422, "too_many_pixels"},
		{"jpeg declaring 60000x60000", "image/jpeg", bytes.NewReader(jpegWithSize(t, group, 60000, 60000)), false, 422, "too_many_pixels"},
		{"svg", "image/svg+xml", strings.NewReader(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>`), false, 415, "unsupported_format"},
		{"tiff", "image/tiff", bytes.NewReader(append([]byte("II*\x00\x08\x00\x00\x00"), make([]byte, 100)...)), false, 415, "unsupported_format"},
		{"gif", "image/gif", strings.NewReader("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), false, 415, "unsupported_format"},
		{"500 multipart parts", partsCT, bytes.NewReader(partsBody), false, 400, "too_many_parts"},
		{"two images", twoCT, bytes.NewReader(twoBody), false, 400, "bad_multipart"},
		{"garbage with jpeg magic", "image/jpeg", bytes.NewReader(append([]byte{0xFF, 0xD8, 0xFF}, bytes.Repeat([]byte{0x41}, 5000)...)), false, 422, "corrupt_image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.body
			if tt.chunked {
				body = io.MultiReader(body) // hides the length: sent chunked
			}
			resp, b := post(t, nil, r.url+"/api/v1/detect", tt.ct, body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, b)
			}
			if code := errorCode(t, b); code != tt.code {
				t.Errorf("code %q, want %q: %s", code, tt.code, b)
			}
			if hr, _ := get(t, r.url+"/healthz"); hr.StatusCode != 200 {
				t.Fatalf("healthz after %s = %d", tt.name, hr.StatusCode)
			}
		})
	}

	t.Run("lying Content-Length", func(t *testing.T) {
		// Declares 1000 bytes but sends the whole photo: the server reads exactly 1000 bytes
		// (a truncated JPEG, 422) and treats the rest as a malformed next request (400).
		conn := openConn(t, r.url)
		fmt.Fprintf(conn, "POST /api/v1/detect HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 1000\r\n\r\n")
		conn.Write(group)
		status := statusOf(t, conn)
		if status != 422 {
			t.Errorf("status %d, want 422 for the 1000 declared bytes", status)
		}
		// Declares more than the limit: refused before any body byte is read.
		conn2 := openConn(t, r.url)
		fmt.Fprintf(conn2, "POST /api/v1/detect HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n", 1<<40)
		if status := statusOf(t, conn2); status != 413 {
			t.Errorf("status %d, want 413 for a 1 TiB Content-Length", status)
		}
		if hr, _ := get(t, r.url+"/healthz"); hr.StatusCode != 200 {
			t.Fatalf("healthz = %d", hr.StatusCode)
		}
	})
}

func TestSlowClients(t *testing.T) {
	r := realServer(t, func(c *Config) {
		c.ReadHeaderTimeout = 300 * time.Millisecond
		c.ReadTimeout = 800 * time.Millisecond
	})
	t.Run("slow headers", func(t *testing.T) {
		conn := openConn(t, r.url)
		begin := time.Now()
		fmt.Fprintf(conn, "POST /api/v1/detect HTTP/1.1\r\nHost: x\r\n") // and never the rest
		_, err := io.ReadAll(conn)
		if took := time.Since(begin); err != nil || took > 5*time.Second {
			t.Errorf("connection with unfinished headers closed after %s (err %v), want about 300ms", took, err)
		}
	})
	t.Run("slow body", func(t *testing.T) {
		conn := openConn(t, r.url)
		begin := time.Now()
		fmt.Fprintf(conn, "POST /api/v1/detect HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n\xFF\xD8\xFF")
		done := make(chan int, 1)
		go func() { done <- statusOf(t, conn) }()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case status := <-done:
				if status != 408 && status != 0 {
					t.Errorf("trickled body: status %d, want 408 (or a closed connection)", status)
				}
				if took := time.Since(begin); took > 5*time.Second {
					t.Errorf("trickled body cut after %s, want about the 800ms read timeout", took)
				}
				return
			case <-tick.C:
				conn.Write([]byte{0}) // one byte per 100ms
			}
		}
	})
	t.Run("client disconnects mid-body", func(t *testing.T) {
		// The client left: 499 (as nginx logs it), not a 400 the client did nothing wrong for.
		before := testutil.ToFloat64(r.srv.m.requests.WithLabelValues("POST /api/v1/detect", "POST", "499"))
		conn := openConn(t, r.url)
		fmt.Fprintf(conn, "POST /api/v1/detect HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n")
		conn.Write(testenv.ReadPhoto(t, "group_10.jpg")[:5000])
		conn.Close()
		eventually(t, "the aborted upload to be counted as 499", func() bool {
			return testutil.ToFloat64(r.srv.m.requests.WithLabelValues("POST /api/v1/detect", "POST", "499")) == before+1
		})
	})
	// Many slow connections at once do not stop others from being served.
	var conns []net.Conn
	for range 50 {
		c := openConn(t, r.url)
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
		conns = append(conns, c)
	}
	resp, body := post(t, nil, r.url+"/api/v1/detect", "image/jpeg", bytes.NewReader(testenv.ReadPhoto(t, "gocv_face.jpg")))
	if resp.StatusCode != 200 || len(decodeDetection(t, body).Faces) != 1 {
		t.Errorf("detection next to 50 slowloris connections: %d %s", resp.StatusCode, body)
	}
	if hr, _ := get(t, r.url+"/healthz"); hr.StatusCode != 200 {
		t.Errorf("healthz = %d", hr.StatusCode)
	}
	for _, c := range conns {
		c.Close()
	}
}

func TestOverloadWithRealEngine(t *testing.T) {
	const clients = 24
	r := realServer(t, func(c *Config) {
		c.QueueSize = 4
		c.QueueWait = 2 * time.Second
	})
	group := testenv.ReadPhoto(t, "group_10.jpg")
	statuses := make(chan int, clients)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			req, _ := http.NewRequest("POST", r.url+"/api/v1/detect", bytes.NewReader(group))
			req.Header.Set("Content-Type", "image/jpeg")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Errorf("request failed: %v", err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
			statuses <- resp.StatusCode
		})
	}
	// Health is answered promptly throughout.
	stop := make(chan struct{})
	var slowest time.Duration
	healthDone := make(chan struct{})
	go func() {
		defer close(healthDone)
		for i := 0; i < 200; i++ {
			select {
			case <-stop:
				return
			default:
			}
			begin := time.Now()
			resp, err := http.Get(r.url + "/healthz")
			if err != nil || resp.StatusCode != 200 {
				t.Errorf("healthz under overload: %v %v", resp, err)
				return
			}
			resp.Body.Close()
			slowest = max(slowest, time.Since(begin))
		}
	}()
	wg.Wait()
	close(stop)
	<-healthDone
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	t.Logf("statuses: %v; slowest healthz %s", count, slowest)
	if count[429] == 0 {
		t.Errorf("no 429 with %d concurrent requests for 2 workers + 4 queue slots", clients)
	}
	if count[200] < 6 {
		t.Errorf("only %d requests served, want at least workers+queue", count[200])
	}
	for s, n := range count {
		if s != 200 && s != 429 && s != 503 {
			t.Errorf("%d responses with status %d", n, s)
		}
	}
	if slowest > time.Second {
		t.Errorf("healthz took %s under overload", slowest)
	}
}
