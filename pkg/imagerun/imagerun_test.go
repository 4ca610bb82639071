package imagerun

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMountsSamePathOnce: every directory a run reads or writes is mounted once, at its own
// path, read-only unless something writes there; inside a read-write mount nothing more is
// mounted; a missing input is not mounted (the command reports it), and output directories are
// created.
func TestMountsSamePathOnce(t *testing.T) {
	wd := t.TempDir()
	for _, d := range []string{"album/sub", "other"} {
		if err := os.MkdirAll(filepath.Join(wd, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(wd, "other", "a.jpg"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := &Runner{Image: "img", WorkDir: wd, Environ: []string{"FACECTL_LOG_LEVEL=debug", "HOME=/root", "FACECTL_IMAGE=x"}}
	args, err := r.dockerArgs(Run{
		Args:       []string{"detect", "--annotate", "out", "album", "other/a.jpg", "missing/b.jpg", "album/sub/*.png", "-"},
		Reads:      []string{"album", "other/a.jpg", "missing/b.jpg", "album/sub/*.png", "-"},
		Writes:     []string{"out"},
		WriteFiles: []string{"out/results.jsonl"},
		Stdin:      true,
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, a := range args {
		if a == "--mount" {
			got = append(got, args[i+1])
		}
	}
	want := []string{
		"type=bind,source=" + wd + "/out,target=" + wd + "/out",
		"type=bind,source=" + wd + "/other,target=" + wd + "/other,readonly",
		"type=bind,source=" + wd + "/album,target=" + wd + "/album,readonly",
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("mounts:\n got %q\nwant %q", got, want)
	}
	if fi, err := os.Stat(filepath.Join(wd, "out")); err != nil || !fi.IsDir() {
		t.Errorf("output directory not created: %v", err)
	}
	joined := strings.Join(args, " ")
	for _, want := range []string{"run --rm --name facectl-run-", " --pull never ", " -i ", " -w " + wd + " ", " -e FACECTL_LOG_LEVEL ", " img detect --annotate out album other/a.jpg missing/b.jpg album/sub/*.png -"} {
		if !strings.Contains(joined, want) {
			t.Errorf("docker %s: lacks %q", joined, want)
		}
	}
	for _, never := range []string{"HOME", "FACECTL_IMAGE"} {
		if strings.Contains(joined, "-e "+never) {
			t.Errorf("docker %s: passes %s", joined, never)
		}
	}
}

func TestDefaultImage(t *testing.T) {
	for version, want := range map[string]string{
		"v1.4.0": "ghcr.io/facectl/facectl:1.4.0", "1.4.0": "ghcr.io/facectl/facectl:1.4.0",
		"dev": "facectl:dev", "": "facectl:dev", "v1.4.0-3-gabc-dirty": "facectl:dev", "1.5.0-SNAPSHOT-abc": "facectl:dev", "0.1.1-next": "facectl:dev",
	} {
		if got := DefaultImage(version); got != want {
			t.Errorf("DefaultImage(%q) = %q, want %q", version, got, want)
		}
	}
}

var (
	standinOnce sync.Once
	standinTag  string
	standinErr  error
)

// standinImage is a FROM-scratch image whose entrypoint is testdata/standin, made with the real
// Docker engine (docker import: nothing is pulled).
func standinImage(t *testing.T) string {
	t.Helper()
	if os.Getenv("FACECTL_TEST_SKIP_DOCKER") == "1" {
		t.Skip("FACECTL_TEST_SKIP_DOCKER=1")
	}
	standinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "standin")
		if err != nil {
			standinErr = err
			return
		}
		defer os.RemoveAll(dir)
		build := exec.Command("go", "build", "-o", filepath.Join(dir, "facectl"), "./testdata/standin")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			standinErr = errors.New("building the stand-in: " + string(out))
			return
		}
		standinTag = "facectl/imagerun-standin:test"
		imp := exec.Command("sh", "-c", `tar -C "$1" -c facectl | docker import --change 'ENTRYPOINT ["/facectl"]' - "$2"`, "sh", dir, standinTag)
		if out, err := imp.CombinedOutput(); err != nil {
			standinErr = errors.New("docker import (is the Docker engine running?): " + string(out))
		}
	})
	if standinErr != nil {
		t.Fatal(standinErr)
	}
	return standinTag
}

type report struct {
	Args  []string          `json:"args"`
	Cwd   string            `json:"cwd"`
	UID   int               `json:"uid"`
	Env   map[string]string `json:"env"`
	Stdin string            `json:"stdin"`
	Read  string            `json:"read"`
}

// TestExecInTheRealEngine: the command runs in the image with the host's working directory,
// user, FACECTL_ variables and standard input; it reads an input and writes into an output
// directory through the mounts, and its exit status comes back.
func TestExecInTheRealEngine(t *testing.T) {
	image := standinImage(t)
	wd := t.TempDir()
	if err := os.WriteFile(filepath.Join(wd, "in.txt"), []byte("photo"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	r := &Runner{Image: image, WorkDir: wd, Environ: append(os.Environ(), "FACECTL_DETECTOR_NAME=lbp"),
		In: strings.NewReader("from stdin"), Out: &stdout, Err: &stderr}
	err := r.Exec(context.Background(), Run{
		Args:   []string{"detect", "--read", "in.txt", "--write", "out", "-", "--exit", "3"},
		Reads:  []string{"in.txt", "-"},
		Writes: []string{"out"},
		Stdin:  true,
	})
	var exit *ExitError
	if !errors.As(err, &exit) || exit.Code != 3 {
		t.Fatalf("Exec: %v, want exit status 3; stderr: %s", err, stderr.String())
	}
	var got report
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("stand-in printed %q: %v", stdout.String(), err)
	}
	if got.Cwd != wd || got.UID != os.Getuid() || got.Env["FACECTL_DETECTOR_NAME"] != "lbp" || got.Stdin != "from stdin" || got.Read != "photo" {
		t.Errorf("in the container: %+v", got)
	}
	if b, err := os.ReadFile(filepath.Join(wd, "out", "out.txt")); err != nil || string(b) != "written" {
		t.Errorf("output written in the container: %q, %v", b, err)
	}
}

// TestExecCancelStopsTheContainer: Ctrl-C (ctx cancelled) stops the container and removes it,
// instead of leaving it running behind a killed docker client.
func TestExecCancelStopsTheContainer(t *testing.T) {
	image := standinImage(t)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	r := &Runner{Image: image, WorkDir: t.TempDir(), Out: pw, Err: pw, StopTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() { done <- r.Exec(ctx, Run{Args: []string{"serve", "--wait"}}); pw.Close() }()
	buf := make([]byte, 7)
	if _, err := pr.Read(buf); err != nil || string(buf) != "waiting" {
		t.Fatalf("stand-in did not start: %q %v", buf, err)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Exec after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Exec did not return within 30 s of the cancel")
	}
	out, err := exec.Command("docker", "ps", "-a", "-q", "--filter", "ancestor="+image).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("containers of %s left after the cancel: %q %v", image, out, err)
	}
}

// TestMissingImageSaysWhatToDo: an image that is neither local nor pullable gives one sentence
// with the ways to get it, not docker's exit 125.
func TestMissingImageSaysWhatToDo(t *testing.T) {
	standinImage(t) // the engine is there
	r := &Runner{Image: "facectl/no-such-image:never", WorkDir: t.TempDir(), Environ: append(os.Environ(), "DOCKER_CONFIG="+t.TempDir())}
	err := r.Exec(context.Background(), Run{Args: []string{"version"}})
	if err == nil || !strings.Contains(err.Error(), "is not on this machine") || !strings.Contains(err.Error(), "FACECTL_IMAGE") {
		t.Errorf("Exec with a missing image: %v", err)
	}
}

// TestCheckWithoutDocker: no docker client, or a client whose engine does not answer, is
// ErrNoDocker with what to install or start.
func TestCheckWithoutDocker(t *testing.T) {
	r := &Runner{Docker: filepath.Join(t.TempDir(), "docker")}
	if err := r.Check(context.Background()); !errors.Is(err, ErrNoDocker) || !strings.Contains(err.Error(), "install Docker") {
		t.Errorf("Check without docker: %v", err)
	}
	if _, err := exec.LookPath("docker"); err != nil {
		t.Fatalf("the docker client is needed for the rest of this test: %v", err)
	}
	r = &Runner{Environ: append(os.Environ(), "DOCKER_HOST=unix://"+filepath.Join(t.TempDir(), "none.sock"))}
	if err := r.Check(context.Background()); !errors.Is(err, ErrNoDocker) || !strings.Contains(err.Error(), "engine does not answer") {
		t.Errorf("Check with no engine: %v", err)
	}
}
