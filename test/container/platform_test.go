package container_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"path"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/facectl/facectl/internal/testenv"
)

// box is a face box as `facectl detect -f json` reports it.
type box struct{ X, Y, W, H int }

// detectInImage runs `facectl detect -f json -` in image with photo on stdin and returns the
// boxes it reports.
func detectInImage(t *testing.T, image string, photo []byte) []box {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "run", "--rm", "-i", image, "detect", "-f", "json", "-")
	cmd.Stdin = bytes.NewReader(photo)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("facectl detect in %s: %v: %s", image, err, stderr.String())
	}
	t.Logf("facectl detect in %s: %s (docker run included)", image, time.Since(start).Round(time.Millisecond))
	var results []struct {
		Faces []box `json:"faces"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &results); err != nil || len(results) != 1 {
		t.Fatalf("facectl detect in %s printed %q: %v", image, stdout.String(), err)
	}
	return results[0].Faces
}

// TestImageArm64Detects runs the arm64 image under QEMU: `facectl detect` finds the same 10 faces
// of group_10.jpg as the amd64 image, each box within 1 px, and the server answers.
func TestImageArm64Detects(t *testing.T) {
	requireQEMU(t)
	arm := buildImageFor(t, "linux/arm64")
	host := buildImage(t)
	if p := docker(t, "image", "inspect", "-f", "{{.Os}}/{{.Architecture}}", arm); p != "linux/arm64" {
		t.Fatalf("%s is %s, want linux/arm64", arm, p)
	}
	photo := testenv.ReadPhoto(t, "group_10.jpg")
	want := detectInImage(t, host, photo)
	got := detectInImage(t, arm, photo)
	if len(want) != 10 || len(got) != 10 {
		t.Fatalf("%d faces on %s, %d on linux/arm64; want 10 each", len(want), hostPlatform, len(got))
	}
	// Pair each box with the closest one of the other architecture, so that a 1 px difference
	// cannot reorder them.
	used := make([]bool, len(got))
	for _, w := range want {
		best, bestDiff := -1, 1<<30
		for i, g := range got {
			d := max(abs(w.X-g.X), abs(w.Y-g.Y), abs(w.W-g.W), abs(w.H-g.H))
			if !used[i] && d < bestDiff {
				best, bestDiff = i, d
			}
		}
		if bestDiff > 1 {
			t.Errorf("face %+v on %s: the closest on linux/arm64 is %+v (%d px off)", w, hostPlatform, got[best], bestDiff)
		}
		used[best] = true
	}

	// The server starts and detects under QEMU too.
	port := freePort(t)
	name := fmt.Sprintf("facectl-arm64-test-%d", port)
	start := time.Now()
	docker(t, "run", "-d", "--name", name, "-p", fmt.Sprintf("127.0.0.1:%d:8080", port), arm)
	t.Cleanup(func() { _, _ = dockerErr("rm", "-f", name) })
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitReady(t, base+"/readyz", 2*time.Minute)
	t.Logf("linux/arm64 under QEMU: docker run to ready in %s", time.Since(start).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := detect(ctx, &http.Client{Timeout: time.Minute}, base, photo, "image/jpeg")
	if err != nil || len(res.Faces) != 10 {
		t.Errorf("POST /api/v1/detect on linux/arm64: %d faces, %v; want 10", len(res.Faces), err)
	}
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// TestImageLibrariesAllLoaded keeps the image's library closure from growing back: every shared
// library in the image must be mapped by a running `facectl serve` after it has detected in a
// JPEG and a PNG and rendered a blurred JPEG. A library the binary does not load (left over from
// a package, or dlopen-only) fails the test.
func TestImageLibrariesAllLoaded(t *testing.T) {
	for _, platform := range []string{hostPlatform, "linux/arm64"} {
		t.Run(platform, func(t *testing.T) {
			if platform == "linux/arm64" {
				requireQEMU(t)
			}
			image := buildImageFor(t, platform)
			files := imageFiles(t, image)

			port := freePort(t)
			name := fmt.Sprintf("facectl-libs-test-%d", port)
			docker(t, "run", "-d", "--name", name, "-p", fmt.Sprintf("127.0.0.1:%d:8080", port), image)
			t.Cleanup(func() { _, _ = dockerErr("rm", "-f", name) })
			base := fmt.Sprintf("http://127.0.0.1:%d", port)
			waitReady(t, base+"/readyz", 2*time.Minute)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			client := &http.Client{Timeout: 2 * time.Minute}
			for photo, mime := range map[string]string{"group_10.jpg": "image/jpeg", "astronaut.png": "image/png"} {
				if _, err := detect(ctx, client, base, testenv.ReadPhoto(t, photo), mime); err != nil {
					t.Fatalf("detect %s: %v", photo, err)
				}
			}
			body, ct := multipartBody(t, "group_10.jpg", testenv.ReadPhoto(t, "group_10.jpg"))
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/blur", bytes.NewReader(body))
			req.Header.Set("Content-Type", ct)
			req.Header.Set("Accept", "image/jpeg")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("POST /api/v1/blur: %s", resp.Status)
			}

			mapped := map[string]bool{}
			for _, line := range strings.Split(procFile(t, name, "maps"), "\n") {
				if f := strings.Fields(line); len(f) >= 6 && strings.HasPrefix(f[5], "/") {
					mapped[f[5]] = true
				}
			}
			var libs []string
			for p, f := range files {
				if f.Type == tar.TypeReg && sharedLibrary.MatchString(path.Base(p)) {
					libs = append(libs, p)
				}
			}
			sort.Strings(libs)
			if len(libs) == 0 {
				t.Fatal("no shared library in the image: the listing is broken")
			}
			var unused []string
			for _, l := range libs {
				if !mapped[l] {
					unused = append(unused, l)
				}
			}
			t.Logf("%d shared libraries in the image, %d of them loaded by facectl serve", len(libs), len(libs)-len(unused))
			if len(unused) > 0 {
				t.Errorf("%d libraries in the image that facectl never loads:\n%s", len(unused), strings.Join(unused, "\n"))
			}
		})
	}
}

// TestImageScriptSaysWhenQEMUIsMissing: a cross-platform build on a machine without binfmt_misc
// for the target fails at once with what to run, not minutes into the build with "Exec format
// error" (an empty directory stands in for /proc/sys/fs/binfmt_misc).
func TestImageScriptSaysWhenQEMUIsMissing(t *testing.T) {
	other := "linux/arm64"
	if hostPlatform == "linux/arm64" {
		other = "linux/amd64"
	}
	cmd := exec.Command("scripts/image.sh", "facectl:never-built")
	cmd.Dir = testenv.RepoRoot(t)
	cmd.Env = append(cmd.Environ(), "PLATFORM="+other, "FACECTL_BINFMT_DIR="+t.TempDir())
	start := time.Now()
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("image.sh for %s without QEMU: %v, want exit 2; output:\n%s", other, err, out)
	}
	for _, want := range []string{"binfmt_misc", "apt-get install -y qemu-user-static binfmt-support", "update-binfmts --enable qemu-"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("image.sh output lacks %q:\n%s", want, out)
		}
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("image.sh took %s to refuse: it must check before building", d)
	}
}
