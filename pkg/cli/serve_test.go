//go:build cgo

package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeConfigErrors: every invalid server setting, from flags, environment or file, is
// reported at once as a usage error before anything is loaded.
func TestServeConfigErrors(t *testing.T) {
	isolate(t)
	t.Chdir(t.TempDir())
	file := filepath.Join(t.TempDir(), "facectl.yaml")
	writeFile(t, file, []byte("server:\n  max_parts: 0\n"))
	t.Setenv("FACECTL_SERVER_QUEUE_SIZE", "-1")
	r := run(t, nil, "serve", "--config", file, "--model", testModel(t), "--addr", "127.0.0.1:0",
		"--idle-timeout", "30s", "--queue-wait", "40s", "--api-keys", "short")
	wantCode(t, r, ExitUsage)
	for _, want := range []string{"server.idle_timeout", "server.queue_wait", "server.queue_size", "server.max_parts", "server.api_keys[0]"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q\n%s", want, r)
		}
	}
}

// TestServeRunsAndStops runs `facectl serve` in-process with settings from a config file and
// the environment, checks they reached the server, then stops it through the context.
func TestServeRunsAndStops(t *testing.T) {
	isolate(t)
	t.Chdir(t.TempDir())
	writeFile(t, "facectl.yaml", []byte("server:\n  addr: 127.0.0.1:0\n  drain_period: 0s\n  queue_size: 3\ndetector:\n  pool_size: 1\n"))
	const key = "env-key-0123456789abcdef"
	t.Setenv("FACECTL_SERVER_API_KEYS", "other-key-0123456789,"+key)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"serve", "--model", testModel(t)}, IOStreams{In: strings.NewReader(""), Out: io.Discard, Err: pw})
		pw.Close()
	}()
	addr := make(chan string, 1)
	var logs strings.Builder
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			logs.WriteString(sc.Text() + "\n")
			var l struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "server listening" {
				addr <- l.Addr
			}
		}
		close(addr)
	}()
	var url string
	select {
	case a, ok := <-addr:
		if !ok {
			t.Fatalf("serve exited with %d before listening", <-done)
		}
		url = "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not listen within 30s")
	}

	img, err := os.ReadFile(photo(t, "gocv_face.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	post := func(key string) int {
		req, _ := http.NewRequest("POST", url+"/api/v1/detect", strings.NewReader(string(img)))
		req.Header.Set("Content-Type", "image/jpeg")
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := post(""); s != 401 {
		t.Errorf("without a key: %d, want 401 (FACECTL_SERVER_API_KEYS not applied?)", s)
	}
	if s := post(key); s != 200 {
		t.Errorf("with the second env key: %d, want 200", s)
	}
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "facectl_workers 1") {
		t.Errorf("detector.pool_size from the file did not reach the server")
	}
	cancel()
	select {
	case code := <-done:
		for range addr { // the log reader has finished
		}
		if code != ExitOK {
			t.Errorf("serve exited %d after the stop, want 0\n%s", code, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30s of the cancel")
	}
}

func TestHealthLocalURL(t *testing.T) {
	for addr, want := range map[string]string{
		":8080":          "http://127.0.0.1:8080",
		"0.0.0.0:9000":   "http://127.0.0.1:9000",
		"[::]:8080":      "http://127.0.0.1:8080",
		"10.1.2.3:8080":  "http://10.1.2.3:8080",
		"localhost:8080": "http://localhost:8080",
	} {
		if got := localURL(addr); got != want {
			t.Errorf("localURL(%q) = %q, want %q", addr, got, want)
		}
	}
}
