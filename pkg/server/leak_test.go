//go:build cgo

package server

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/facectl/facectl/internal/testenv"
)

// rssMiB is this process's resident set size in MiB (Go heap and OpenCV's native memory).
func rssMiB(t testing.TB) float64 {
	t.Helper()
	return procStatusMB(t, os.Getpid(), "VmRSS") * 1e6 / (1 << 20)
}

// TestNoLeaksOver1000Requests sends 1,000 requests through every path that touches OpenCV
// (detect, annotate, blur, pixelate, bad input) and checks that no Mat stays alive (with
// -tags matprofile), that resident memory stays roughly flat, and that no goroutine is left.
func TestNoLeaksOver1000Requests(t *testing.T) {
	if os.Getenv("FACECTL_TEST_SKIP_LEAK") == "1" {
		t.Skip("FACECTL_TEST_SKIP_LEAK=1")
	}
	matsBefore, counting := liveMats()
	r := realServer(t, func(c *Config) { c.QueueSize = 16 })
	small := smallJPEG(t, testenv.ReadPhoto(t, "gocv_face.jpg"), 320)
	bad := jpegWithSize(t, small, 300, 200) // passes the header checks, fails inside OpenCV's decoder
	type call struct {
		path, ct, accept string
		body             []byte
		status           int
	}
	calls := []call{
		{"/api/v1/detect", "image/jpeg", "application/json", small, 200},
		{"/api/v1/detect", "image/jpeg", "image/jpeg", small, 200},
		{"/api/v1/blur", "image/jpeg", "image/png", small, 200},
		{"/api/v1/blur?mode=pixelate", "image/jpeg", "", small, 200},
		{"/api/v1/detect", "image/jpeg", "", small[:len(small)/2], 422},
		{"/api/v1/detect", "image/jpeg", "", bad, 0}, // 200 or 422: the decoder decides
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	run := func(n int) {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for {
					i := int(next.Add(1)) - 1
					if i >= n || t.Failed() {
						return
					}
					c := calls[i%len(calls)]
					req, _ := http.NewRequest("POST", r.url+c.path, bytes.NewReader(c.body))
					req.Header.Set("Content-Type", c.ct)
					req.Header.Set("Accept", c.accept)
					resp, err := client.Do(req)
					if err != nil {
						t.Errorf("request %d: %v", i, err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if c.status != 0 && resp.StatusCode != c.status || resp.StatusCode >= 500 {
						t.Errorf("request %d %s: status %d, want %d", i, c.path, resp.StatusCode, c.status)
					}
				}
			})
		}
		wg.Wait()
	}
	begin := time.Now()
	run(120) // warm up: allocator arenas, OpenCV buffers, connection pool
	debug.FreeOSMemory()
	warm := rssMiB(t)
	goroutines := runtime.NumGoroutine()
	run(500)
	debug.FreeOSMemory()
	mid := rssMiB(t)
	run(500)
	debug.FreeOSMemory()
	after := rssMiB(t)
	t.Logf("1,120 requests in %s; RSS %.1f MiB after warm-up, %.1f after 500 more, %.1f after 1,000 more",
		time.Since(begin).Round(time.Millisecond), warm, mid, after)
	// A leak grows with every request; allocator arenas settle. So the second 500 requests
	// must add less than a leak of 50 KiB per request would (a 320×240 Mat is 225 KiB); the
	// exact check is the Mat count under -tags matprofile.
	if after-mid > 25 || after-warm > 60 {
		t.Errorf("RSS keeps growing (%.1f → %.1f → %.1f MiB): something leaks", warm, mid, after)
	}
	client.CloseIdleConnections()
	eventually(t, fmt.Sprintf("goroutines back to %d", goroutines), func() bool { return runtime.NumGoroutine() <= goroutines })
	if counting {
		if n, _ := liveMats(); n != matsBefore {
			t.Errorf("%d gocv Mats alive after the requests, want %d", n, matsBefore)
		}
	} else {
		t.Log("Mat count not checked: run with -tags matprofile")
	}
}
