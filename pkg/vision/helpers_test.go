package vision

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// sharedDir is ../shared beside the repository root.
func sharedDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}

// testModel is the YuNet model: $FACECTL_TEST_MODEL or ../shared/models.
func testModel(t testing.TB) string {
	t.Helper()
	p := os.Getenv("FACECTL_TEST_MODEL")
	if p == "" {
		p = filepath.Join(sharedDir(t), "models", "face_detection_yunet_2023mar.onnx")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("YuNet model missing (%v): set FACECTL_TEST_MODEL or provide ../shared/models", err)
	}
	return p
}

type photo struct {
	name  string
	path  string
	faces int
}

// photos lists shared/testdata/faces/faces.csv.
func photos(t testing.TB) []photo {
	t.Helper()
	dir := filepath.Join(sharedDir(t), "testdata", "faces")
	f, err := os.Open(filepath.Join(dir, "faces.csv"))
	if err != nil {
		t.Fatalf("test photos: %v", err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []photo
	for _, r := range rows[1:] {
		n, err := strconv.Atoi(r[1])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, photo{name: r[0], path: filepath.Join(dir, r[0]), faces: n})
	}
	if len(out) == 0 {
		t.Fatal("faces.csv lists no photos")
	}
	return out
}
