//go:build cgo

package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/facectl/facectl/internal/testenv"
)

// buildFacectl builds the real binary once per test run.
var buildFacectl = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "facectl-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "facectl")
	root, err := testenv.FindRepoRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/facectl")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", errors.New("go build ./cmd/facectl: " + err.Error() + "\n" + string(out))
	}
	return bin, nil
})

// serveProcess runs `facectl serve` on an ephemeral port and returns the process and its URL,
// read from the "server listening" log line (no sleeping until it is up).
func serveProcess(t *testing.T, args ...string) (*exec.Cmd, string, *logRecords) {
	t.Helper()
	return serveProcessWith(t, nil, args...)
}

// serveProcessWith is serveProcess run through the command wrapper (such as prlimit).
func serveProcessWith(t *testing.T, wrapper []string, args ...string) (*exec.Cmd, string, *logRecords) {
	t.Helper()
	bin, err := buildFacectl()
	if err != nil {
		t.Fatal(err)
	}
	args = append([]string{bin, "serve", "--addr", "127.0.0.1:0", "--model", testenv.Model(t)}, args...)
	args = append(wrapper, args...)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "FACECTL_LOG_FORMAT=json")
	cmd.Dir = t.TempDir() // no facectl.yaml here
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	logs := &logRecords{}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			logs.Write(append(sc.Bytes(), '\n'))
			var l struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "server listening" {
				addr <- l.Addr
			}
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			t.Fatalf("facectl serve exited before listening:\n%s", logs)
		}
		return cmd, "http://" + a, logs
	case <-time.After(30 * time.Second):
		t.Fatalf("facectl serve did not listen within 30s:\n%s", logs)
	}
	return nil, "", nil
}

// TestServeBinaryShutdownUnderLoad sends SIGTERM to a real `facectl serve` while clients keep
// sending photos: readiness must fail first, requests keep being served during the drain
// period, no request may fail, and the process must exit 0 within the drain and grace
// periods. Like a load balancer that has deregistered the target, the clients stop sending
// new requests half-way through the drain period; the ones in flight then must complete.
func TestServeBinaryShutdownUnderLoad(t *testing.T) {
	const drain, grace = 1500 * time.Millisecond, 5 * time.Second
	cmd, url, logs := serveProcess(t, "--workers", "2", "--queue-size", "64", "--drain-period", drain.String(), "--grace-period", grace.String())
	face := testenv.ReadPhoto(t, "gocv_face.jpg")

	var ok, failed, refused atomic.Int64
	warm := make(chan struct{})
	var warmOnce sync.Once
	var firstErr atomic.Value
	stopLoad := make(chan struct{})
	deregistered := make(chan struct{})
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			client := &http.Client{Timeout: 20 * time.Second}
			for i := 0; i < 2000; i++ {
				select {
				case <-stopLoad:
					return
				case <-deregistered:
					return
				default:
				}
				resp, err := client.Post(url+"/api/v1/detect", "image/jpeg", bytes.NewReader(face))
				if err != nil {
					if errors.Is(err, syscall.ECONNREFUSED) {
						refused.Add(1) // the listener is closed: the server has stopped taking work
						return
					}
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, errors.New(resp.Status))
					continue
				}
				if ok.Add(1) == 20 {
					warmOnce.Do(func() { close(warm) })
				}
			}
		})
	}
	// Let load build up, then stop the server as ECS would.
	select {
	case <-warm:
	case <-time.After(60 * time.Second):
		t.Fatalf("load did not reach 20 requests (failures: %d, %v)", failed.Load(), firstErr.Load())
	}
	if failed.Load() > 0 {
		t.Fatalf("failures before the stop: %v", firstErr.Load())
	}
	stopped := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	lb := time.AfterFunc(drain/2, func() { close(deregistered) })
	defer lb.Stop()
	// Readiness turns 503 quickly while the service keeps answering.
	var notReady time.Duration
	for time.Since(stopped) < drain {
		resp, err := http.Get(url + "/readyz")
		if err != nil {
			t.Fatalf("readyz during the drain period: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode == 503 {
			notReady = time.Since(stopped)
			break
		}
	}
	if notReady == 0 || notReady > 500*time.Millisecond {
		t.Errorf("readiness turned 503 after %s, want at once", notReady)
	}
	servedBefore := ok.Load()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var waitErr error
	select {
	case waitErr = <-exited:
	case <-time.After(drain + grace + 5*time.Second):
		t.Fatalf("facectl serve still running %s after SIGTERM", drain+grace+5*time.Second)
	}
	took := time.Since(stopped)
	close(stopLoad)
	wg.Wait()
	t.Logf("exit after %s: %d ok (%d after SIGTERM), %d failed, %d clients saw the closed listener", took, ok.Load(), ok.Load()-servedBefore, failed.Load(), refused.Load())
	if waitErr != nil {
		t.Errorf("facectl serve exited with %v, want 0:\n%s", waitErr, logs)
	}
	if failed.Load() != 0 {
		t.Errorf("%d requests failed during shutdown (first: %v)", failed.Load(), firstErr.Load())
	}
	if ok.Load() == servedBefore {
		t.Error("no request was served during the drain period")
	}
	if took < drain {
		t.Errorf("exited after %s, before the %s drain period ended", took, drain)
	}
}

func TestHealthCommand(t *testing.T) {
	bin, err := buildFacectl()
	if err != nil {
		t.Fatal(err)
	}
	_, url, _ := serveProcess(t, "--workers", "1")
	out, err := exec.Command(bin, "health", "--url", url).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("ready")) {
		t.Errorf("facectl health against a ready server: %v %s", err, out)
	}
	cmd := exec.Command(bin, "health", "--addr", "127.0.0.1:1", "--timeout", "1s")
	out, err = cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("facectl health against nothing: %v %s, want exit 1", err, out)
	}
}
