//go:build cgo

package server

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/facectl/facectl/internal/testenv"
	"github.com/facectl/facectl/pkg/vision"
)

var _ DecodeCoster = (*vision.Engine)(nil)

// memoryBoundMB is the documented peak RSS of `facectl serve` with the default settings,
// whatever the mix of requests (README, "Memory").
const memoryBoundMB = 600

// bigImages reads 7000x7000 (49 MP, under the 50 MP default) images that are small on the
// wire: a baseline and a progressive JPEG (libjpeg buffers a progressive JPEG's coefficients
// for the whole image) and a PNG. They are made with OpenCV by testdata/genbig (pkg/server's
// tests do not import gocv) and stored gzipped.
func bigImages(t testing.TB) (baseline, progressive, png []byte) {
	t.Helper()
	read := func(name string) []byte {
		f, err := os.Open(filepath.Join("testdata", name+".gz"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return read("big49mp.jpg"), read("big49mp_progressive.jpg"), read("big49mp.png")
}

// procStatusMB reads a field (VmRSS, VmHWM) of /proc/PID/status in MB.
func procStatusMB(t testing.TB, pid int, field string) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			return float64(kb) * 1024 / 1e6
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// TestPeakMemoryIsBounded is the hostile-client probe of decoded-image memory: 49 MP images
// that are a few hundred KB on the wire used to take 270-310 MB each once decoded, and four
// concurrent blur requests of a progressive JPEG took the server to 1.1 GB. With the
// defaults, the real server process must now stay under the documented bound: 4 concurrent
// 49 MP blur requests, then a mix of them with PNG detections and ordinary photos.
func TestPeakMemoryIsBounded(t *testing.T) {
	base, prog, png := bigImages(t)
	t.Logf("49 MP JPEG %d KB, progressive JPEG %d KB, PNG %d KB", len(base)/1000, len(prog)/1000, len(png)/1000)
	cmd, url, logs := serveProcess(t, "--workers", "2")
	pid := cmd.Process.Pid
	photo := testenv.ReadPhoto(t, "group_10.jpg")
	client := &http.Client{Timeout: 120 * time.Second}
	postOne := func(path, ct string, body []byte) (int, string) {
		req, _ := http.NewRequest("POST", url+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Accept", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return resp.StatusCode, string(b)
		}
		return 200, ""
	}
	if st, msg := postOne("/api/v1/detect", "image/jpeg", photo); st != 200 {
		t.Fatalf("warm-up: %d %s", st, msg)
	}
	idle := procStatusMB(t, pid, "VmRSS")

	type req struct {
		path, ct string
		body     []byte
		// tooCostly: a 49 MP progressive JPEG rendered at full size needs more decode memory
		// (about 300 MB) than the default budget grants: 422 saying so.
		tooCostly bool
	}
	blur := func(b []byte) req { return req{"/api/v1/blur", "image/jpeg", b, false} }
	rounds := []struct {
		name string
		reqs []req
	}{
		{"4 concurrent 49 MP JPEG blurs", []req{blur(base), blur(base), blur(base), blur(base)}},
		{"4 concurrent 49 MP progressive JPEG blurs", []req{
			{"/api/v1/blur", "image/jpeg", prog, true}, {"/api/v1/blur", "image/jpeg", prog, true},
			{"/api/v1/blur", "image/jpeg", prog, true}, {"/api/v1/blur", "image/jpeg", prog, true},
		}},
		{"a mix", []req{
			{"/api/v1/blur", "image/png", png, false}, {"/api/v1/detect", "image/png", png, false},
			{"/api/v1/detect", "image/jpeg", prog, false}, {"/api/v1/detect?annotate=true", "image/jpeg", base, false},
			{"/api/v1/blur", "image/jpeg", photo, false}, {"/api/v1/detect", "image/jpeg", photo, false},
			{"/upload", "image/jpeg", base, false}, {"/api/v1/detect", "image/jpeg", prog, false},
		}},
	}
	for _, round := range rounds {
		var wg sync.WaitGroup
		var mu sync.Mutex
		count := map[int]int{}
		for _, rq := range round.reqs {
			wg.Go(func() {
				st, msg := postOne(rq.path, rq.ct, rq.body)
				mu.Lock()
				defer mu.Unlock()
				count[st]++
				switch {
				case rq.tooCostly:
					if st != 422 || !strings.Contains(msg, "too_many_pixels") {
						t.Errorf("%s: POST %s: %d %s, want 422 too_many_pixels", round.name, rq.path, st, msg)
					}
				case st == 200:
				case st == 503 && strings.Contains(msg, "decode_memory_full"):
					// waited longer than queue_wait for decode memory: allowed, and says so
				default:
					t.Errorf("%s: POST %s: %d %s", round.name, rq.path, st, msg)
				}
			})
		}
		wg.Wait()
		// A round answered only with 503s would stay under any bound: each round that can be
		// served must have served something.
		if servable := slices.ContainsFunc(round.reqs, func(r req) bool { return !r.tooCostly }); servable && count[200] == 0 {
			t.Errorf("%s: no request was served (statuses %v), so the peak below measures nothing", round.name, count)
		}
		peak := procStatusMB(t, pid, "VmHWM")
		t.Logf("%s: statuses %v; idle RSS %.0f MB, peak RSS so far %.0f MB", round.name, count, idle, peak)
		if peak > memoryBoundMB {
			t.Errorf("%s: peak RSS %.0f MB, over the documented %d MB", round.name, peak, memoryBoundMB)
		}
	}
	if t.Failed() {
		t.Logf("server logs:\n%s", logs)
	}
}
