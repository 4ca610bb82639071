package modelfile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPullHTTPVerifiesAndInstalls(t *testing.T) {
	body := []byte("not really a network, but bytes with a known checksum")
	sum := sha256.Sum256(body)
	want := hex.EncodeToString(sum[:])
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/model.onnx" {
			http.NotFound(w, r)
			return
		}
		w.Write(body)
	}))
	defer srv.Close()
	ctx := context.Background()

	dir := t.TempDir()
	p, err := Pull(ctx, srv.Client(), srv.URL+"/model.onnx", dir, want)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); string(got) != string(body) || p != filepath.Join(dir, FileName) {
		t.Fatalf("installed %s with %q", p, got)
	}
	if got, err := Locate("", []string{t.TempDir(), dir}, want); err != nil || got != p {
		t.Fatalf("Locate = %q, %v", got, err)
	}

	// A wrong checksum installs nothing and leaves no temporary file.
	dir2 := t.TempDir()
	if _, err := Pull(ctx, srv.Client(), srv.URL+"/model.onnx", dir2, strings.Repeat("0", 64)); !errors.Is(err, ErrChecksum) {
		t.Fatalf("wrong checksum: %v", err)
	}
	if entries, _ := os.ReadDir(dir2); len(entries) != 0 {
		t.Fatalf("left behind: %v", entries)
	}
	// HTTP errors are reported with the status.
	if _, err := Pull(ctx, srv.Client(), srv.URL+"/missing", dir2, want); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("404: %v", err)
	}
	// A local path works as a source too.
	if _, err := Pull(ctx, srv.Client(), p, t.TempDir(), want); err != nil {
		t.Fatal(err)
	}
}

func TestLocateErrors(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir()}
	_, err := Locate("", dirs, SHA256)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), dirs[0]) || !strings.Contains(err.Error(), "facectl model pull") {
		t.Fatalf("missing model: %v", err)
	}
	bad := filepath.Join(dirs[1], FileName)
	os.WriteFile(bad, []byte("tampered"), 0o644)
	if _, err := Locate("", dirs, SHA256); !errors.Is(err, ErrChecksum) {
		t.Fatalf("tampered model on the search path: %v", err)
	}
	if _, err := Locate(bad, nil, SHA256); !errors.Is(err, ErrChecksum) {
		t.Fatalf("tampered explicit model: %v", err)
	}
	if _, err := Locate(filepath.Join(dirs[0], "nope.onnx"), nil, SHA256); err == nil {
		t.Fatal("missing explicit model accepted")
	}
}

// TestModelDeclaredOnce checks that yunet.env is read in full, and that the Dockerfile's default
// MODEL_URL (a build argument needs a literal default for ADD) is the URL declared there.
func TestModelDeclaredOnce(t *testing.T) {
	if FileName != "face_detection_yunet_2023mar.onnx" || len(SHA256) != 64 || !strings.HasSuffix(URL, "/"+FileName) {
		t.Fatalf("yunet.env read as name %q, sha256 %q, URL %q", FileName, SHA256, URL)
	}
	dockerfile, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(dockerfile), "\nARG MODEL_URL="+URL+"\n") {
		t.Errorf("the Dockerfile's ARG MODEL_URL default is not %s (pkg/modelfile/yunet.env)", URL)
	}
}
