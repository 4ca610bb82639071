package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// moto is the one moto_server of this test run, started on first use and killed in TestMain.
var moto struct {
	once sync.Once
	url  string
	err  error
	cmd  *exec.Cmd
	log  bytes.Buffer
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if moto.cmd != nil && moto.cmd.Process != nil {
		_ = moto.cmd.Process.Kill()
		_ = moto.cmd.Wait()
	}
	os.Exit(code)
}

const skipE2EEnv = "FACECTL_TEST_SKIP_DEPLOY_E2E"

// requireTool fails (or, with FACECTL_TEST_SKIP_DEPLOY_E2E=1, skips) when a tool is missing.
func requireTool(t *testing.T, name, install string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv(skipE2EEnv) == "1" {
		t.Skipf("%s not found and %s=1: skipping", name, skipE2EEnv)
	}
	t.Fatalf("%s not found in PATH: %s (or set %s=1 to skip the deploy end-to-end tests)", name, install, skipE2EEnv)
	return ""
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitHTTP polls url until it answers or the deadline passes.
func waitHTTP(url string, within time.Duration) error {
	deadline := time.After(within)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-deadline:
			return fmt.Errorf("%s did not answer within %v: %w", url, within, err)
		case <-tick.C:
		}
	}
}

// motoEndpoint returns the URL of this run's moto_server, starting it on first use with
// MOTO_ECS_SERVICE_RUNNING=2 so services reach their running count.
func motoEndpoint(t *testing.T) string {
	t.Helper()
	requireTool(t, "moto_server", "install moto with its server extra (pip install 'moto[server]')")
	moto.once.Do(func() {
		port := freePort(t)
		cmd := exec.Command("moto_server", "-H", "127.0.0.1", "-p", fmt.Sprint(port))
		cmd.Env = append(os.Environ(), "MOTO_ECS_SERVICE_RUNNING=2", "MOTO_ACM_VALIDATION_WAIT=0") // requested certificates are ISSUED at once
		cmd.Stdout, cmd.Stderr = &moto.log, &moto.log
		if err := cmd.Start(); err != nil {
			moto.err = fmt.Errorf("starting moto_server: %w", err)
			return
		}
		moto.cmd = cmd
		moto.url = fmt.Sprintf("http://127.0.0.1:%d", port)
		moto.err = waitHTTP(moto.url+"/moto-api/", 60*time.Second)
	})
	if moto.err != nil {
		t.Fatalf("moto_server: %v\n%s", moto.err, moto.log.String())
	}
	return moto.url
}

// startRegistry runs Debian's docker-registry (distribution) on 127.0.0.1 with storage in a
// temp dir and returns its host:port.
func startRegistry(t *testing.T) string {
	t.Helper()
	bin := requireTool(t, "docker-registry", "apt-get install -y docker-registry")
	dir := t.TempDir()
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	conf := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), addr)
	confPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(bin, "serve", confPath)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting docker-registry: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if err := waitHTTP("http://"+addr+"/v2/", 20*time.Second); err != nil {
		t.Fatalf("docker-registry: %v\n%s", err, logs.String())
	}
	return addr
}

// golden compares got with testdata/<name>, rewriting it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run go test -update to create it): %v", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the output (go test ./pkg/deploy -update rewrites it):\n%s", path, lineDiff(string(want), got))
	}
}

// compactJSON marshals v indented, dropping nulls, empty strings, empty lists and false/zero
// SDK defaults so SDK inputs read like the API's JSON.
func compactJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatal(err)
	}
	x = prune(x)
	out, _ := json.MarshalIndent(x, "", "  ")
	return string(out) + "\n"
}

func prune(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			e = prune(e)
			if e == nil || e == "" {
				delete(x, k)
				continue
			}
			if l, ok := e.([]any); ok && len(l) == 0 {
				delete(x, k)
				continue
			}
			if m, ok := e.(map[string]any); ok && len(m) == 0 {
				delete(x, k)
				continue
			}
			x[k] = e
		}
		return x
	case []any:
		for i := range x {
			x[i] = prune(x[i])
		}
		return x
	}
	return v
}

// testLogger writes the deployer's progress to the test log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// lockedBuffer is a bytes.Buffer safe for the deployer's writer and the test's reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var _ io.Writer = (*lockedBuffer)(nil)

var digestRE = regexp.MustCompile(`sha256:[0-9a-f]{64}`)

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// printEvents writes the service events a deploy hands out as the CLI does.
func printEvents(w io.Writer) func(Event) {
	return func(e Event) { fmt.Fprintf(w, "%s  %s\n", e.Time.UTC().Format(time.RFC3339), e.Message) }
}
