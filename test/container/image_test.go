package container_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/facectl/facectl/internal/testenv"
	"github.com/facectl/facectl/pkg/modelfile"
)

// maxImageBytes is the size budget for the uncompressed image.
const maxImageBytes = 450 << 20

// imageConfig is the part of `docker image inspect` the tests check.
type imageConfig struct {
	Size   int64
	Config struct {
		User         string
		Env          []string
		Entrypoint   []string
		Cmd          []string
		ExposedPorts map[string]struct{}
		StopSignal   string
		Healthcheck  struct{ Test []string }
	}
}

func TestImageConfig(t *testing.T) {
	image := buildImage(t)
	var cfgs []imageConfig
	if err := json.Unmarshal([]byte(docker(t, "image", "inspect", image)), &cfgs); err != nil || len(cfgs) != 1 {
		t.Fatalf("docker image inspect %s: %v", image, err)
	}
	c := cfgs[0]
	t.Logf("image %s: %d bytes (%.0f MB) uncompressed; built in %s", image, c.Size, float64(c.Size)/1e6, buildTime.Round(time.Second))
	if c.Size > maxImageBytes {
		t.Errorf("image is %d bytes, over the %d budget", c.Size, maxImageBytes)
	}
	if u := c.Config.User; u == "" || u == "root" || u == "0" || strings.HasPrefix(u, "0:") {
		t.Errorf("USER = %q, want a non-root user", u)
	}
	checks := []struct {
		what      string
		got, want string
	}{
		{"ENTRYPOINT", strings.Join(c.Config.Entrypoint, " "), "facectl"},
		{"CMD", strings.Join(c.Config.Cmd, " "), "serve"},
		{"HEALTHCHECK", strings.Join(c.Config.Healthcheck.Test, " "), "CMD facectl health"},
		{"STOPSIGNAL", c.Config.StopSignal, "SIGTERM"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %q, want %q", ch.what, ch.got, ch.want)
		}
	}
	if _, ok := c.Config.ExposedPorts["8080/tcp"]; !ok {
		t.Errorf("EXPOSE: %v, want 8080/tcp", c.Config.ExposedPorts)
	}
	if !contains(c.Config.Env, "MALLOC_ARENA_MAX=2") {
		t.Errorf("ENV %v lacks MALLOC_ARENA_MAX=2", c.Config.Env)
	}
}

// toolchainPackage matches Debian's compiler and build-tool packages (gcc-12-base, the
// runtime's base package, is not one).
var toolchainPackage = regexp.MustCompile(`^(gcc|g\+\+|cpp|clang|llvm|binutils|golang|make|pkg-config|pkgconf)(-[0-9.]+)?$|^binutils-|^golang-|^libgcc-[0-9]+-dev$`)

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestImageContents looks inside the image: no compiler, no Go toolchain, no -dev package, no
// headers; the model and the cascades in place; `facectl version` runs.
func TestImageContents(t *testing.T) {
	image := buildImage(t)
	version := docker(t, "run", "--rm", image, "version")
	t.Logf("facectl version in the image:\n%s", version)
	for _, want := range []string{"facectl container-test", "commit:  test", "opencv:  4.6.0"} {
		if !strings.Contains(version, want) {
			t.Errorf("`facectl version` lacks %q", want)
		}
	}

	// Installed packages, from dpkg's database and from the status.d entries the image adds.
	pkgs := docker(t, "run", "--rm", "--entrypoint", "sh", image, "-c",
		`dpkg-query -W -f '${Package}\n'; cat /var/lib/dpkg/status.d/* | sed -n 's/^Package: //p'`)
	for _, p := range strings.Fields(pkgs) {
		if strings.HasSuffix(p, "-dev") || toolchainPackage.MatchString(p) {
			t.Errorf("package %s is in the runtime image", p)
		}
	}
	if !strings.Contains(pkgs, "libopencv-core406") {
		t.Errorf("libopencv-core406 is not recorded in the image's package database:\n%s", pkgs)
	}

	// Files: no compiler or toolchain on PATH, no OpenCV headers; model and cascades present;
	// every library facectl needs resolves.
	script := `set -e
for c in cc gcc g++ c++ ld as go make pkg-config; do if command -v $c >/dev/null; then echo "found: $c"; fi; done
test ! -e /usr/include/opencv4 || echo "found: /usr/include/opencv4"
test ! -e /usr/local/go || echo "found: /usr/local/go"
test -r /usr/share/facectl/models/face_detection_yunet_2023mar.onnx || echo "missing: model"
test -r /usr/share/opencv4/lbpcascades/lbpcascade_frontalface.xml || echo "missing: lbp cascade"
test -r /usr/share/opencv4/haarcascades/haarcascade_frontalface_alt2.xml || echo "missing: haar cascade"
if ldd /usr/local/bin/facectl | grep 'not found'; then echo "missing: libraries"; fi
sha256sum /usr/share/facectl/models/face_detection_yunet_2023mar.onnx`
	out := docker(t, "run", "--rm", "--entrypoint", "sh", image, "-c", script)
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "found:") || strings.HasPrefix(line, "missing:") || strings.Contains(line, "not found") {
			t.Error(line)
		}
	}
	if !strings.Contains(out, modelfile.SHA256) {
		t.Errorf("model checksum not as expected:\n%s", out)
	}
}

// TestImageServes runs the image as a user would (`docker run -p 127.0.0.1:PORT:8080 IMAGE`),
// measures the time from `docker run` to ready, checks that the server runs as a non-root
// user, that group_10.jpg gets 10 faces (multipart and raw body), that Docker's health check
// reaches healthy, and that `docker stop` ends it gracefully.
func TestImageServes(t *testing.T) {
	image := buildImage(t)
	port := freePort(t)
	name := fmt.Sprintf("facectl-image-test-%d", port)
	start := time.Now()
	docker(t, "run", "-d", "--name", name, "-p", fmt.Sprintf("127.0.0.1:%d:8080", port), image)
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := dockerErr("logs", "--tail", "50", name)
			t.Logf("container logs:\n%s", logs)
		}
		_, _ = dockerErr("rm", "-f", name)
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitReady(t, base+"/readyz", 60*time.Second)
	t.Logf("docker run to ready: %s", time.Since(start).Round(time.Millisecond))

	status := docker(t, "exec", name, "sh", "-c", "grep -E '^(Uid|Gid):' /proc/1/status; cat /proc/1/cmdline | tr '\\0' ' '")
	t.Logf("process 1:\n%s", status)
	uid := strings.Fields(strings.SplitN(status, "\n", 2)[0])
	if len(uid) < 2 || uid[1] == "0" {
		t.Errorf("the server runs as uid %v, want non-root", uid)
	} else if n, _ := strconv.Atoi(uid[1]); n < 1000 {
		t.Errorf("the server runs as uid %d, want a dedicated user (>= 1000)", n)
	}

	photo := testenv.ReadPhoto(t, "group_10.jpg")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := &http.Client{Timeout: 30 * time.Second}
	body, ct := multipartBody(t, "group_10.jpg", photo)
	for _, tc := range []struct {
		name, contentType string
		body              []byte
	}{
		{"multipart", ct, body},
		{"raw body", "image/jpeg", photo},
	} {
		res, err := detect(ctx, client, base, tc.body, tc.contentType)
		if err != nil {
			t.Errorf("%s upload: %v", tc.name, err)
			continue
		}
		if len(res.Faces) != 10 || res.Width != 1024 || res.Height != 603 {
			t.Errorf("%s upload: %d faces in %dx%d, want 10 in 1024x603", tc.name, len(res.Faces), res.Width, res.Height)
		}
	}

	// Docker's own HEALTHCHECK (`facectl health`) must report healthy.
	deadline := time.Now().Add(60 * time.Second)
	health := ""
	for time.Now().Before(deadline) {
		health = docker(t, "inspect", "-f", "{{.State.Health.Status}}", name)
		if health == "healthy" || health == "unhealthy" {
			break
		}
		<-time.After(500 * time.Millisecond)
	}
	t.Logf("health status %q %s after docker run", health, time.Since(start).Round(time.Second))
	if health != "healthy" {
		t.Errorf("health status %q, want healthy", health)
	}

	stopStart := time.Now()
	docker(t, "stop", "-t", "30", name)
	code := docker(t, "inspect", "-f", "{{.State.ExitCode}}", name)
	t.Logf("docker stop took %s, exit code %s", time.Since(stopStart).Round(time.Millisecond), code)
	if code != "0" {
		t.Errorf("exit code after SIGTERM %s, want 0 (graceful shutdown)", code)
	}
}
