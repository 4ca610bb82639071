package container_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/facectl/facectl/internal/testenv"
)

// buildFacectl builds ./cmd/facectl into dir with cgo on or off and returns its path.
func buildFacectl(t *testing.T, dir string, cgo bool) string {
	t.Helper()
	name, env := "facectl-opencv", "CGO_ENABLED=1"
	if !cgo {
		name, env = "facectl-portable", "CGO_ENABLED=0"
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, "./cmd/facectl")
	cmd.Dir = testenv.RepoRoot(t)
	cmd.Env = append(os.Environ(), env)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build (%s): %v\n%s", env, err, b)
	}
	return out
}

// runFacectl runs bin in dir with stdin and the environment extra, and returns stdout,
// stderr and the exit code.
func runFacectl(t *testing.T, bin, dir string, stdin []byte, extra []string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), extra...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %v: %v", bin, args, err)
	}
	return stdout.String(), stderr.String(), code
}

// TestPortableBuildDetectsThroughTheImage: the facectl built without cgo (the macOS and Windows
// build) runs detect in the container image and prints what the OpenCV build prints: the same
// JSON for a directory of the shared photos, for standard input and with --annotate into a local
// folder, and the same error and exit code for a missing file.
func TestPortableBuildDetectsThroughTheImage(t *testing.T) {
	image := buildImage(t)
	bins := t.TempDir()
	native := buildFacectl(t, bins, true)
	portable := buildFacectl(t, bins, false)
	work := t.TempDir()
	photos := filepath.Join(work, "photos")
	if err := os.MkdirAll(photos, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"group_4.jpg", "gocv_face.jpg", "camera.png", "home.jpg"} {
		if err := os.WriteFile(filepath.Join(photos, name), testenv.ReadPhoto(t, name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The native build is given the model; the image has its own copy of the same file.
	portableEnv := []string{"FACECTL_IMAGE=" + image}
	nativeEnv := []string{"FACECTL_DETECTOR_MODEL=" + testenv.Model(t)}

	v, _, code := runFacectl(t, portable, work, nil, portableEnv, "version")
	if code != 0 || !strings.Contains(v, "opencv:  none linked") || !strings.Contains(v, image) {
		t.Errorf("portable facectl version (exit %d) does not say which build it is:\n%s", code, v)
	}

	cases := []struct {
		name  string
		stdin []byte
		args  []string
	}{
		{"directory", nil, []string{"detect", "-f", "json", "photos"}},
		{"stdin", testenv.ReadPhoto(t, "group_10.jpg"), []string{"detect", "-f", "jsonl", "-"}},
		{"annotate", nil, []string{"detect", "-f", "json", "--annotate", "out-%s", "photos/group_4.jpg"}},
		{"missing", nil, []string{"detect", "-f", "json", "photos/gocv_face.jpg", "nothere.jpg"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			argsFor := func(build string) []string {
				out := make([]string, len(tc.args))
				for i, a := range tc.args {
					out[i] = strings.ReplaceAll(a, "%s", build)
				}
				return out
			}
			start := time.Now()
			wantOut, wantErr, wantCode := runFacectl(t, native, work, tc.stdin, nativeEnv, argsFor("native")...)
			nativeTook := time.Since(start)
			start = time.Now()
			gotOut, gotErr, gotCode := runFacectl(t, portable, work, tc.stdin, portableEnv, argsFor("portable")...)
			t.Logf("native %s, through the image %s", nativeTook.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
			if gotCode != wantCode {
				t.Errorf("exit %d through the image, %d native; stderr:\n%s", gotCode, wantCode, gotErr)
			}
			if normalize(t, gotOut) != normalize(t, wantOut) {
				t.Errorf("through the image:\n%s\nnative:\n%s", gotOut, wantOut)
			}
			if tc.name == "missing" && (!strings.Contains(gotErr, "nothere.jpg") || lastLine(gotErr) != lastLine(wantErr)) {
				t.Errorf("error through the image:\n%s\nnative:\n%s", gotErr, wantErr)
			}
			if tc.name == "annotate" {
				a := readImageFile(t, filepath.Join(work, "out-native", "group_4.jpg"))
				b := readImageFile(t, filepath.Join(work, "out-portable", "group_4.jpg"))
				if !bytes.Equal(a, b) {
					t.Errorf("annotated images differ: %d bytes native, %d through the image", len(a), len(b))
				}
				if st, err := os.Stat(filepath.Join(work, "out-portable", "group_4.jpg")); err == nil {
					if uid := fileUID(st); uid != os.Getuid() {
						t.Errorf("the image wrote the output as uid %d, want the caller's %d", uid, os.Getuid())
					}
				}
			}
		})
	}
}

// normalize drops what may differ between two runs of the same detection (the time taken) from
// detect's JSON or JSON Lines output.
func normalize(t *testing.T, out string) string {
	t.Helper()
	var docs []any
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, out)
		}
		docs = append(docs, v)
	}
	var drop func(v any)
	drop = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			delete(x, "elapsed_ms")
			for _, e := range x {
				drop(e)
			}
		case []any:
			for _, e := range x {
				drop(e)
			}
		}
	}
	drop(docs)
	b, _ := json.Marshal(docs)
	return string(b)
}

func fileUID(st os.FileInfo) int {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return int(s.Uid)
	}
	return -1
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func readImageFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
