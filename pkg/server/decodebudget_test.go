package server

import (
	"bytes"
	"image"
	"image/png"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/facectl/facectl/pkg/imagecheck"
)

// pngSized encodes a w×h grey PNG.
func pngSized(t testing.TB, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// costEngine is a gateEngine whose images cost what their width says, in MiB.
type costEngine struct {
	*gateEngine
	mu  sync.Mutex
	got []imagecheck.Format
}

func (c *costEngine) DecodeCost(info imagecheck.Info, format imagecheck.Format) int64 {
	c.mu.Lock()
	c.got = append(c.got, format)
	c.mu.Unlock()
	return int64(info.Width) * MiB
}

func TestDecodeBudget(t *testing.T) {
	g := &costEngine{gateEngine: newGateEngine(4)}
	cfg := testConfig()
	cfg.QueueWait = 2 * time.Second
	cfg.MaxDecodeBytes = 100 * MiB
	s, err := New(cfg, map[string]Engine{"gate": g}, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, s)
	send := func(path string, img []byte) <-chan result {
		ch := make(chan result, 1)
		go func() {
			resp, err := http.Post(r.url+path, "image/png", bytes.NewReader(img))
			if err != nil {
				ch <- result{err: err}
				return
			}
			defer resp.Body.Close()
			var b bytes.Buffer
			b.ReadFrom(resp.Body)
			ch <- result{status: resp.StatusCode, body: b.Bytes()}
		}()
		return ch
	}
	// 60 + 60 MiB do not fit in 100 MiB: the second waits, with workers free, until the
	// first is done. Waiters are served in order, so the 30 MiB one waits behind it (a
	// stream of small images cannot starve a large one).
	first := send("/api/v1/blur", pngSized(t, 60, 2))
	g.waitStarted(t, 1)
	if got := testutil.ToFloat64(s.m.decodeBytes); got != 60*MiB {
		t.Errorf("decode memory reserved = %v, want 60 MiB", got)
	}
	second := send("/api/v1/detect", pngSized(t, 60, 2))
	eventually(t, "the second request to wait for decode memory", func() bool { return testutil.ToFloat64(s.m.queueDepth) == 1 })
	third := send("/api/v1/detect", pngSized(t, 30, 2))
	eventually(t, "the third request to wait for decode memory", func() bool { return testutil.ToFloat64(s.m.queueDepth) == 2 })
	if n := g.callCount(); n != 1 {
		t.Errorf("%d detections running, want 1", n)
	}
	// Alone over the budget: refused, as it could never be admitted.
	resp, body := post(t, nil, r.url+"/api/v1/detect", "image/png", bytes.NewReader(pngSized(t, 101, 2)))
	if resp.StatusCode != 422 || errorCode(t, body) != "too_many_pixels" || !strings.Contains(string(body), "memory") {
		t.Errorf("image over the whole budget: %d %s, want 422 too_many_pixels about memory", resp.StatusCode, body)
	}
	g.release <- struct{}{}
	g.waitStarted(t, 2) // 60 + 30 MiB fit together
	if got := testutil.ToFloat64(s.m.decodeBytes); got != 90*MiB {
		t.Errorf("decode memory reserved = %v, want 90 MiB", got)
	}
	g.release <- struct{}{}
	g.release <- struct{}{}
	for i, ch := range []<-chan result{first, second, third} {
		if res := <-ch; res.err != nil || res.status != 200 {
			t.Errorf("request %d: %d %v %s", i, res.status, res.err, res.body)
		}
	}
	if got := testutil.ToFloat64(s.m.decodeBytes); got != 0 {
		t.Errorf("decode memory reserved after the requests = %v, want 0", got)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.got) < 3 || g.got[0] != imagecheck.JPEG || g.got[1] != "" {
		t.Errorf("render formats asked for = %q, want jpeg for blur and none for detect", g.got)
	}
}

func TestDecodeBudgetTimeoutNamesDecodeMemory(t *testing.T) {
	g := &costEngine{gateEngine: newGateEngine(4)}
	cfg := testConfig()
	cfg.QueueWait = 300 * time.Millisecond
	cfg.MaxDecodeBytes = 100 * MiB
	s, err := New(cfg, map[string]Engine{"gate": g}, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, s)
	first := make(chan int, 1)
	go func() {
		resp, err := http.Post(r.url+"/api/v1/detect", "image/png", bytes.NewReader(pngSized(t, 80, 2)))
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	g.waitStarted(t, 1)
	resp, body := post(t, nil, r.url+"/api/v1/detect", "image/png", bytes.NewReader(pngSized(t, 80, 2)))
	if resp.StatusCode != 503 || errorCode(t, body) != "decode_memory_full" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("waiting for decode memory: %d %s, want 503 decode_memory_full with Retry-After", resp.StatusCode, body)
	}
	if got := testutil.ToFloat64(s.m.rejections.WithLabelValues("decode_memory_timeout")); got != 1 {
		t.Errorf("rejections{reason=decode_memory_timeout} = %v, want 1", got)
	}
	close(g.release)
	if st := <-first; st != 200 {
		t.Errorf("first request: %d", st)
	}
}
