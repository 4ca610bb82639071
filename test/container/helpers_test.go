// Package container_test tests the facectl container image and the local cluster with the real
// Docker engine: the image built from ./Dockerfile (through scripts/image.sh, which works without
// registry access), run as a user would run it, and three replicas behind HAProxy put through a
// fault drill. Docker is required: the tests fail when it is missing, unless
// FACECTL_TEST_SKIP_DOCKER=1 is set explicitly.
package container_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/facectl/facectl/internal/testenv"
)

// testImage is the tag the tests build and use.
const testImage = "facectl:container-test"

// detectResponse is the part of POST /api/v1/detect's JSON the tests read.
type detectResponse struct {
	Width    int               `json:"width"`
	Height   int               `json:"height"`
	Detector string            `json:"detector"`
	Faces    []json.RawMessage `json:"faces"`
}

// modelsDir is where scripts/image.sh finds the model: next to FACECTL_TEST_MODEL when set,
// else ../shared/models.
func modelsDir(t testing.TB) string {
	if m := os.Getenv("FACECTL_TEST_MODEL"); m != "" {
		return filepath.Dir(m)
	}
	return filepath.Join(testenv.SharedDir(t), "models")
}

// artifactsDir is where logs for a person go: FACECTL_TEST_ARTIFACTS or the test's temp dir.
func artifactsDir(t testing.TB) string {
	if d := os.Getenv("FACECTL_TEST_ARTIFACTS"); d != "" {
		d = filepath.Join(d, "container")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// requireDocker fails the test when no Docker engine answers, unless FACECTL_TEST_SKIP_DOCKER=1.
func requireDocker(t testing.TB) {
	t.Helper()
	if os.Getenv("FACECTL_TEST_SKIP_DOCKER") == "1" {
		t.Skip("FACECTL_TEST_SKIP_DOCKER=1: skipping the container tests")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		t.Fatal("docker not found: install Docker (apt-get install -y docker.io) and start dockerd, or set FACECTL_TEST_SKIP_DOCKER=1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		t.Fatalf("the Docker engine does not answer (%v: %s): start dockerd, or set FACECTL_TEST_SKIP_DOCKER=1", err, out)
	}
}

// docker runs a docker command and returns its trimmed stdout, failing the test on error.
func docker(t testing.TB, args ...string) string {
	t.Helper()
	out, err := dockerErr(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// dockerErr runs a docker command (bounded to 5 minutes) and returns its trimmed stdout.
func dockerErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// hostPlatform is the platform of this machine's images, linux/amd64 on this project's machines.
var hostPlatform = "linux/" + runtime.GOARCH

// imageBuild is one platform's image, built once per test binary.
type imageBuild struct {
	once sync.Once
	err  error
	took time.Duration
}

var (
	buildsMu sync.Mutex
	builds   = map[string]*imageBuild{}
)

// imageTag is the tag the tests build for platform: testImage for this machine's, a suffixed
// one for another (facectl:container-test-arm64).
func imageTag(platform string) string {
	if platform == hostPlatform {
		return testImage
	}
	return testImage + "-" + strings.TrimPrefix(platform, "linux/")
}

// imageEnv is the variable that names a prebuilt image for platform: FACECTL_TEST_IMAGE for
// this machine's, FACECTL_TEST_IMAGE_ARM64 for linux/arm64.
func imageEnv(platform string) string {
	if platform == hostPlatform {
		return "FACECTL_TEST_IMAGE"
	}
	return "FACECTL_TEST_IMAGE_" + strings.ToUpper(strings.TrimPrefix(platform, "linux/"))
}

// buildImage builds the image for this machine's platform; see buildImageFor.
func buildImage(t testing.TB) string { return buildImageFor(t, hostPlatform) }

// buildImageFor builds the image for platform once per test binary (or returns the image named
// by imageEnv(platform) when set) with scripts/image.sh (base images, the local module cache and
// model served on 127.0.0.1; another architecture cross-compiled and checked under QEMU). Fixed
// version arguments keep Docker's layer cache valid between runs on the same machine.
func buildImageFor(t testing.TB, platform string) string {
	t.Helper()
	requireDocker(t)
	if img := os.Getenv(imageEnv(platform)); img != "" {
		// For iterating on the tests: an image built before, e.g. by scripts/image.sh.
		return img
	}
	buildsMu.Lock()
	b := builds[platform]
	if b == nil {
		b = &imageBuild{}
		builds[platform] = b
	}
	buildsMu.Unlock()
	tag := imageTag(platform)
	b.once.Do(func() {
		root := testenv.RepoRoot(t)
		logPath := filepath.Join(artifactsDir(t), "image-build-"+strings.ReplaceAll(platform, "/", "-")+".log")
		logFile, err := os.Create(logPath)
		if err != nil {
			b.err = err
			return
		}
		defer logFile.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "image.sh"), tag)
		cmd.Dir = root
		cmd.Stdin = nil
		cmd.Stdout, cmd.Stderr = logFile, logFile
		cmd.Env = append(os.Environ(),
			"FACECTL_SHARED_MODELS="+modelsDir(t), "PLATFORM="+platform,
			"VERSION=container-test", "COMMIT=test", "DATE=2000-01-01T00:00:00Z")
		start := time.Now()
		if err := cmd.Run(); err != nil {
			tail, _ := os.ReadFile(logPath)
			if len(tail) > 4000 {
				tail = tail[len(tail)-4000:]
			}
			b.err = fmt.Errorf("scripts/image.sh %s for %s: %w (log %s):\n%s", tag, platform, err, logPath, tail)
			return
		}
		b.took = time.Since(start)
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return tag
}

// buildTime is how long this test binary's build of platform's image took (0 when reused).
func buildTime(platform string) time.Duration {
	buildsMu.Lock()
	defer buildsMu.Unlock()
	if b := builds[platform]; b != nil {
		return b.took
	}
	return 0
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// multipartBody wraps photo as the multipart field "image".
func multipartBody(t testing.TB, name string, photo []byte) (body []byte, contentType string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	part, err := w.CreateFormFile("image", name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := part.Write(photo); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), w.FormDataContentType()
}

// detect posts body to base+/api/v1/detect and decodes the answer; any non-200 is an error.
func detect(ctx context.Context, client *http.Client, base string, body []byte, contentType string) (detectResponse, error) {
	var out detectResponse
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/detect", bytes.NewReader(body))
	if err != nil {
		return out, err
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := client.Do(req)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return out, fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return out, fmt.Errorf("status %s: %s", resp.Status, bytes.TrimSpace(data))
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return out, fmt.Errorf("decoding %q: %w", data, err)
	}
	return out, nil
}

// waitReady polls url until it answers 200, and returns how long that took.
func waitReady(t testing.TB, url string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	client := &http.Client{Timeout: time.Second}
	for time.Since(start) < limit {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(start)
			}
		}
		<-time.After(50 * time.Millisecond)
	}
	t.Fatalf("%s not ready after %s", url, limit)
	return 0
}

// procFile reads /proc/PID/file of container's process 1 from this machine's /proc (the image
// has no shell to read it from inside). The tests run on the Docker engine's machine.
func procFile(t testing.TB, container, file string) string {
	t.Helper()
	pid := docker(t, "inspect", "-f", "{{.State.Pid}}", container)
	data, err := os.ReadFile(filepath.Join("/proc", pid, file))
	if err != nil {
		t.Fatalf("reading /proc/%s/%s of container %s (the tests must run on the Docker engine's machine, as root): %v", pid, file, container, err)
	}
	return string(data)
}

// requireQEMU fails the test unless this machine runs arm64 binaries, through QEMU registered
// with binfmt_misc (scripts/test.sh sets it up), or FACECTL_TEST_SKIP_ARM64=1 is set explicitly.
func requireQEMU(t testing.TB) {
	t.Helper()
	if os.Getenv("FACECTL_TEST_SKIP_ARM64") == "1" {
		t.Skip("FACECTL_TEST_SKIP_ARM64=1: skipping the arm64 image")
	}
	if runtime.GOARCH == "arm64" {
		return
	}
	status, err := os.ReadFile("/proc/sys/fs/binfmt_misc/qemu-aarch64")
	if err != nil || !strings.HasPrefix(string(status), "enabled") {
		t.Fatalf("arm64 binaries do not run here (binfmt_misc qemu-aarch64: %v %q): apt-get install -y qemu-user-static binfmt-support; "+
			"mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc; update-binfmts --enable qemu-aarch64 (scripts/test.sh does this), or set FACECTL_TEST_SKIP_ARM64=1", err, status)
	}
}
