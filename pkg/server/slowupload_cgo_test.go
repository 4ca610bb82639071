//go:build cgo

package server

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/facectl/facectl/internal/testenv"
)

// trickle opens n connections that each declare an 8 MiB JPEG upload and then send one byte
// a second, as an attacker holding the server's resources would. They stop with the test.
func trickle(t *testing.T, base string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, n)
	for i := range conns {
		c := openConn(t, base)
		c.SetDeadline(time.Now().Add(60 * time.Second))
		fmt.Fprintf(c, "POST /api/v1/detect HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n\xFF", 8*MiB)
		conns[i] = c
	}
	for _, c := range conns {
		keepSending(t, c, time.Second, 1)
	}
	return conns
}

// TestSlowUploadsDoNotStarveOthers is the hostile-client probe: slow uploads used to take a
// place in the queue and reserve upload memory for their declared length before any of the
// body had arrived, so three of them (8 MiB each, 24 MiB budget) made every other upload
// wait for 10 s and get 503, and 66 of them (2 workers + 64 queue places) made every
// request a 429. Now they hold nothing until their first 16 KiB have arrived.
func TestSlowUploadsDoNotStarveOthers(t *testing.T) {
	for _, n := range []int{3, 66} {
		t.Run(fmt.Sprintf("%d slow uploads", n), func(t *testing.T) {
			r := realServer(t, func(c *Config) { c.MaxConcurrentDetections = 2 })
			before := testutil.ToFloat64(r.srv.m.inFlight)
			trickle(t, r.url, n)
			eventually(t, "the slow uploads to be in progress", func() bool {
				return testutil.ToFloat64(r.srv.m.inFlight) == before+float64(n)
			})
			photo := testenv.ReadPhoto(t, "gocv_face.jpg")
			for i := range 3 {
				begin := time.Now()
				resp, body := post(t, &http.Client{Timeout: 10 * time.Second}, r.url+"/api/v1/detect", "image/jpeg", bytes.NewReader(photo))
				took := time.Since(begin)
				if resp.StatusCode != 200 {
					t.Fatalf("upload %d beside %d slow ones: %d %s", i, n, resp.StatusCode, body)
				}
				det := decodeDetection(t, body)
				if len(det.Faces) != 1 {
					t.Fatalf("upload %d beside %d slow ones: %s", i, n, body)
				}
				// What the slow uploads could cost it is the time outside the engine (waits for
				// a place, memory, a worker: 10 s and a 503 before the fix). The detection itself
				// takes what the machine gives it, seconds on a loaded 2-core CI runner, so the
				// 1 s target is held to the rest.
				engine := time.Duration(det.ElapsedMS * float64(time.Millisecond))
				t.Logf("upload %d beside %d slow ones: 200 in %s (%s in the engine)", i, n, took.Round(time.Millisecond), engine.Round(time.Millisecond))
				if took-engine > time.Second {
					t.Errorf("upload %d beside %d slow ones took %s outside the engine, want under 1s", i, n, took-engine)
				}
			}
		})
	}
}
