package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/facectl/facectl/internal/testenv"
)

// Resolved once, before any test changes the working directory.
var (
	modelPath string
	photoDir  string
	goldenDir string
)

func TestMain(m *testing.M) {
	modelPath = os.Getenv("FACECTL_TEST_MODEL")
	if wd, err := os.Getwd(); err == nil {
		goldenDir = filepath.Join(wd, "testdata", "golden")
	}
	if root, err := testenv.FindRepoRoot(); err == nil {
		shared := filepath.Join(root, "..", "shared")
		photoDir = filepath.Join(shared, "testdata", "faces")
		if modelPath == "" {
			modelPath = filepath.Join(shared, "models", "face_detection_yunet_2023mar.onnx")
		}
	}
	if abs, err := filepath.Abs(modelPath); err == nil {
		modelPath = abs
	}
	os.Exit(m.Run())
}

// testModel is the YuNet model: $FACECTL_TEST_MODEL or ../shared/models.
func testModel(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(modelPath); err != nil {
		t.Fatalf("YuNet model missing (%v): set FACECTL_TEST_MODEL or provide ../shared/models", err)
	}
	return modelPath
}

// photo is the absolute path of a shared test photo.
func photo(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(photoDir, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("test photo missing (%v): provide ../shared/testdata/faces", err)
	}
	return p
}

type runResult struct {
	code        int
	stdout      string
	stderr      string
	description string
}

func (r runResult) String() string {
	return r.description + "\nexit " + strconv.Itoa(r.code) + "\n--- stdout\n" + r.stdout + "\n--- stderr\n" + r.stderr
}

// isolate keeps a user's or the machine's config and environment out of a test: no FACECTL_*
// detector variables and an empty XDG config home. (/etc/facectl/config.yaml cannot be hidden.)
func isolate(t *testing.T) {
	t.Helper()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "FACECTL_") && k != "FACECTL_TEST_MODEL" && !strings.HasPrefix(k, "FACECTL_TEST_SKIP_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
}

// run runs facectl in-process with stdin, returning its exit code and output. Out is not a terminal.
func run(t *testing.T, stdin io.Reader, args ...string) runResult {
	t.Helper()
	return runStreams(t, IOStreams{In: stdin}, args...)
}

func runStreams(t *testing.T, s IOStreams, args ...string) runResult {
	t.Helper()
	var out, errb bytes.Buffer
	if s.In == nil {
		s.In = strings.NewReader("")
	}
	s.Out, s.Err = &out, &errb
	code := Main(t.Context(), args, s)
	return runResult{code: code, stdout: out.String(), stderr: errb.String(), description: "facectl " + strings.Join(args, " ")}
}

// detectArgs prefixes args with detect and the test model.
func detectArgs(t testing.TB, args ...string) []string {
	return append([]string{"detect", "--model", testModel(t)}, args...)
}

// jsonResult is one parsed jsonl/json result.
type jsonResult struct {
	File      string     `json:"file"`
	Width     int        `json:"width"`
	Height    int        `json:"height"`
	Detector  string     `json:"detector"`
	ElapsedMS *float64   `json:"elapsed_ms"`
	Faces     []jsonFace `json:"faces"`
	Error     string     `json:"error"`
	Skipped   bool       `json:"skipped"`
}

type jsonFace struct {
	X, Y, W, H int
	Confidence float64
	Landmarks  [][2]float64
}

// parseJSONL parses facectl's jsonl output, failing on anything else.
func parseJSONL(t *testing.T, r runResult) []jsonResult {
	t.Helper()
	var out []jsonResult
	for line := range strings.Lines(r.stdout) {
		var jr jsonResult
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&jr); err != nil {
			t.Fatalf("line %q is not a result: %v\n%s", line, err, r)
		}
		out = append(out, jr)
	}
	return out
}

func wantCode(t *testing.T, r runResult, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\n%s", r.code, code, r)
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
