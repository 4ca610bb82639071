package server

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestFastHeadThenTrickle is the stronger form of the slow-upload attack: send the first
// 16 KiB at once, so that the request reserves upload memory for its declared 8 MiB, then
// trickle. Three of them hold the whole 24 MiB budget; the rate clock restarts after the
// head with a grace of one second, so they are cut after about a second (before, they held
// it for upload_idle_timeout + 1 s, about 6 s), and an ordinary upload gets through.
func TestFastHeadThenTrickle(t *testing.T) {
	r, g := newGateServer(t, 2, 64, 10*time.Second)
	close(g.release)
	for range 3 {
		trickleAfterHead(t, r.url, time.Second, 1)
	}
	eventually(t, "the three uploads to hold the upload memory", func() bool {
		if r.srv.adm.bytes.TryAcquire(1) {
			r.srv.adm.bytes.Release(1)
			return false
		}
		return true
	})
	begin := time.Now()
	resp, body := post(t, nil, r.url+"/api/v1/detect", "image/jpeg", bytes.NewReader(tinyJPEG))
	took := time.Since(begin)
	t.Logf("ordinary upload beside three that hold the memory: %d in %s", resp.StatusCode, took.Round(time.Millisecond))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d %s", resp.StatusCode, body)
	}
	if took > 2500*time.Millisecond {
		t.Errorf("answered after %s, want within about the one-second grace", took)
	}
}

// TestSlowUploadIsCut checks the two upload rate bounds: a body that stops for longer than
// upload_idle_timeout, and one that arrives slower than min_upload_rate, both get a 408 that
// says which, well before read_timeout.
func TestSlowUploadIsCut(t *testing.T) {
	r, _ := newGateServer(t, 1, 4, time.Second, func(c *Config) {
		c.UploadIdleTimeout = 400 * time.Millisecond
		c.MinUploadRate = 64 << 10
		c.ReadTimeout = 20 * time.Second
	})
	cases := []struct {
		name  string
		send  func(c net.Conn, stop <-chan struct{})
		words string
	}{
		{"pause", func(c net.Conn, stop <-chan struct{}) {
			c.Write(make([]byte, 20<<10)) // 20 KiB at once, then nothing
		}, "paused for more than 400ms"},
		{"trickle", func(c net.Conn, stop <-chan struct{}) {
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if _, err := c.Write(make([]byte, 100)); err != nil {
						return
					}
				}
			}
		}, "slower than the minimum of 64 KiB/s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn := openConn(t, r.url)
			begin := time.Now()
			fmt.Fprintf(conn, "POST /api/v1/detect HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n\xFF\xD8\xFF", 4*MiB)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() { tc.send(conn, stop) })
			resp, err := http.ReadResponse(bufioReader(conn), nil)
			close(stop)
			wg.Wait()
			if err != nil {
				t.Fatalf("no response: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			took := time.Since(begin)
			if resp.StatusCode != 408 || !strings.Contains(string(body), tc.words) {
				t.Errorf("status %d %s, want 408 saying %q", resp.StatusCode, body, tc.words)
			}
			if took > 5*time.Second {
				t.Errorf("cut after %s, want within a few times the 400ms idle timeout", took)
			}
		})
	}
}

// TestOverloadNamesTheResource checks that a 503 says what ran out: a worker, or the memory
// for request bodies (and the metrics say the same).
func TestOverloadNamesTheResource(t *testing.T) {
	const body = 256 << 10
	r, g := newGateServer(t, 1, 8, 300*time.Millisecond, func(c *Config) {
		c.MaxBodyBytes = body
		c.MaxBufferedBytes = body + body/2
	})
	big := append(bytes.Clone(tinyJPEG), make([]byte, body-len(tinyJPEG))...)
	running := make(chan result, 1)
	go func() {
		resp, err := http.Post(r.url+"/api/v1/detect", "image/jpeg", bytes.NewReader(big))
		if err != nil {
			running <- result{err: err}
			return
		}
		defer resp.Body.Close()
		running <- result{status: resp.StatusCode}
	}()
	g.waitStarted(t, 1)
	// Memory left: half a body; both of these wait, the small one for the worker and the
	// big one for memory.
	var wg sync.WaitGroup
	var small, large result
	wg.Go(func() {
		resp, b := post(t, nil, r.url+"/api/v1/detect", "image/jpeg", bytes.NewReader(tinyJPEG))
		small = result{status: resp.StatusCode, body: b}
	})
	eventually(t, "the small request to queue", func() bool { return testutil.ToFloat64(r.srv.m.queueDepth) == 1 })
	wg.Go(func() {
		resp, b := post(t, nil, r.url+"/api/v1/detect", "image/jpeg", bytes.NewReader(big))
		large = result{status: resp.StatusCode, body: b}
	})
	wg.Wait()
	if small.status != 503 || errorCode(t, small.body) != "queue_timeout" {
		t.Errorf("waiting for the worker: %d %s, want 503 queue_timeout", small.status, small.body)
	}
	if large.status != 503 || errorCode(t, large.body) != "upload_memory_full" || !strings.Contains(string(large.body), "memory for uploads") {
		t.Errorf("waiting for upload memory: %d %s, want 503 upload_memory_full", large.status, large.body)
	}
	for reason, want := range map[string]float64{"queue_timeout": 1, "upload_memory_timeout": 1} {
		if got := testutil.ToFloat64(r.srv.m.rejections.WithLabelValues(reason)); got != want {
			t.Errorf("rejections{reason=%q} = %v, want %v", reason, got, want)
		}
	}
	close(g.release)
	if res := <-running; res.err != nil || res.status != 200 {
		t.Errorf("the running request: %d %v", res.status, res.err)
	}
}

// TestUploadsJustAboveMinRateAreCut is the stronger form of the slow-upload attack: send the
// first 16 KiB at once, then keep just above min_upload_rate. The whole declared 8 MiB is
// reserved after the head, so three of them used to hold the 24 MiB budget until read_timeout
// while every other upload waited and got 503. At that rate 8 MiB cannot arrive within the
// read timeout, so they are now cut within about a second, and an ordinary upload beside them
// is answered.
func TestUploadsJustAboveMinRateAreCut(t *testing.T) {
	r, g := newGateServer(t, 2, 64, 10*time.Second)
	close(g.release)
	rate := r.srv.cfg.MinUploadRate * 5 / 4
	answers := make(chan string, 3)
	for range 3 {
		c := trickleAfterHead(t, r.url, 100*time.Millisecond, rate/10)
		go func() {
			resp, err := http.ReadResponse(bufioReader(c), nil)
			if err != nil {
				answers <- "no response: " + err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			answers <- fmt.Sprintf("%d %s", resp.StatusCode, b)
		}()
	}
	begin := time.Now()
	resp, body := post(t, &http.Client{Timeout: 15 * time.Second}, r.url+"/api/v1/detect", "image/jpeg", bytes.NewReader(tinyJPEG))
	took := time.Since(begin)
	t.Logf("ordinary upload beside three just above the minimum rate: %d in %s", resp.StatusCode, took.Round(time.Millisecond))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d %s", resp.StatusCode, body)
	}
	// Generous for a loaded CI machine, far below the 10 s queue wait it used to spend
	// before its 503.
	if took > 5*time.Second {
		t.Errorf("answered after %s", took)
	}
	for range 3 {
		select {
		case a := <-answers:
			if !strings.HasPrefix(a, "408 ") || !strings.Contains(a, "too slow to finish within the read timeout") {
				t.Errorf("slow upload answered %q, want 408 saying it cannot finish in time", a)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a slow upload just above the minimum rate was not cut")
		}
	}
}

// trickleAfterHead starts an upload declaring 8 MiB on a raw connection: the first 20 KiB at once, then
// chunk bytes every interval until the test ends or the server closes the connection.
func trickleAfterHead(t *testing.T, base string, every time.Duration, chunk int64) net.Conn {
	t.Helper()
	c := openConn(t, base)
	fmt.Fprintf(c, "POST /api/v1/detect HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n\xFF\xD8\xFF", 8*MiB)
	c.Write(make([]byte, 20<<10))
	keepSending(t, c, every, chunk)
	return c
}

// keepSending writes chunk bytes to c every interval until the test ends (then closes c) or
// the server closes the connection.
func keepSending(t *testing.T, c net.Conn, every time.Duration, chunk int64) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := c.Write(make([]byte, chunk)); err != nil {
					return
				}
			}
		}
	})
	t.Cleanup(func() { close(stop); wg.Wait(); c.Close() })
}
