// Package testenv finds what facectl's tests share: the repository root, the read-only shared/
// folder beside it, the YuNet model and the test photos with their true face counts. Only tests
// import it. A missing piece fails the test with what to provide; nothing here skips.
package testenv

import (
	"encoding/csv"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// RepoRoot is the directory holding go.mod, found by walking up from the working directory
// (a test's package directory).
func RepoRoot(t testing.TB) string {
	t.Helper()
	root, err := FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// FindRepoRoot is RepoRoot for TestMain, where there is no testing.TB yet.
func FindRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// SharedDir is the project's shared/ folder beside the repository.
func SharedDir(t testing.TB) string { return filepath.Join(RepoRoot(t), "..", "shared") }

// Model is the YuNet model file: $FACECTL_TEST_MODEL, else shared/models.
func Model(t testing.TB) string {
	t.Helper()
	p := os.Getenv("FACECTL_TEST_MODEL")
	if p == "" {
		p = filepath.Join(SharedDir(t), "models", "face_detection_yunet_2023mar.onnx")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("YuNet model missing (%v): set FACECTL_TEST_MODEL or provide ../shared/models", err)
	}
	return p
}

// PhotoDir is shared/testdata/faces.
func PhotoDir(t testing.TB) string { return filepath.Join(SharedDir(t), "testdata", "faces") }

// PhotoPath is the path of one test photo; the test fails if it is missing.
func PhotoPath(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(PhotoDir(t), name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("test photo missing (expected the shared/ folder beside the repository): %v", err)
	}
	return p
}

// ReadPhoto reads one test photo.
func ReadPhoto(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(PhotoPath(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Photo is one row of shared/testdata/faces/faces.csv.
type Photo struct {
	Name  string
	Path  string
	Faces int
}

// Photos lists faces.csv: every test photo with its true face count.
func Photos(t testing.TB) []Photo {
	t.Helper()
	dir := PhotoDir(t)
	f, err := os.Open(filepath.Join(dir, "faces.csv"))
	if err != nil {
		t.Fatalf("test photos: %v", err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []Photo
	for _, r := range rows[1:] {
		n, err := strconv.Atoi(r[1])
		if err != nil {
			t.Fatalf("faces.csv: %v", err)
		}
		out = append(out, Photo{Name: r[0], Path: filepath.Join(dir, r[0]), Faces: n})
	}
	if len(out) == 0 {
		t.Fatal("faces.csv lists no photos")
	}
	return out
}

// FakeAWS points the AWS SDK at made-up credentials in us-east-1 and away from the machine's
// own configuration (profiles, credential files, session token, endpoint variable), so that a
// test against moto can neither use nor touch a real account.
func FakeAWS(t testing.TB) {
	t.Helper()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":           "testing",
		"AWS_SECRET_ACCESS_KEY":       "testing",
		"AWS_SESSION_TOKEN":           "",
		"AWS_REGION":                  "us-east-1",
		"AWS_PROFILE":                 "",
		"AWS_CONFIG_FILE":             filepath.Join(t.TempDir(), "none"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(t.TempDir(), "none"),
		"AWS_ENDPOINT_URL":            "",
	} {
		t.Setenv(k, v)
	}
}
