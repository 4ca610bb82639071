// Package modelfile finds, verifies and downloads the YuNet face-detection model.
package modelfile

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// The model facectl is built and tested with, read from yunet.env (which scripts and the
// Dockerfile read too).
var (
	// FileName is YuNet 2023mar's file name.
	FileName = modelEnv("MODEL_NAME")
	// SHA256 is its checksum (the same blob as opencv_zoo's Git LFS object).
	SHA256 = modelEnv("MODEL_SHA256")
	// URL is its official download location.
	URL = modelEnv("MODEL_URL")
)

// maxSize bounds a download; the model is 232,589 bytes.
const maxSize = 64 << 20

//go:embed yunet.env
var yunetEnv string

// modelEnv is the value of key in yunet.env; a missing key is a build mistake.
func modelEnv(key string) string {
	for _, line := range strings.Split(yunetEnv, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && k == key {
			return v
		}
	}
	panic("modelfile: yunet.env has no " + key)
}

// ErrNotFound means no model file was found on the search path.
var ErrNotFound = errors.New("model not found")

// ErrChecksum means a model file's sha256 is not the expected one.
var ErrChecksum = errors.New("model checksum mismatch")

// SearchPath lists, in order, the directories searched for FileName when no path is configured:
// the user cache directory, /usr/share/facectl/models, and the binary's own directory.
func SearchPath() []string {
	var dirs []string
	if d, err := os.UserCacheDir(); err == nil {
		dirs = append(dirs, filepath.Join(d, "facectl", "models"))
	}
	dirs = append(dirs, "/usr/share/facectl/models")
	if exe, err := os.Executable(); err == nil {
		dirs = append(dirs, filepath.Dir(exe))
	}
	return dirs
}

// DefaultPullDir is where `facectl model pull` puts the model: the first SearchPath entry.
func DefaultPullDir() string { return SearchPath()[0] }

// Locate returns the verified model path: explicit when set, else the first FileName on dirs.
// want is the expected sha256 (empty skips the check, for a user's own model).
func Locate(explicit string, dirs []string, want string) (string, error) {
	if explicit != "" {
		if err := Verify(explicit, want); err != nil {
			return "", err
		}
		return explicit, nil
	}
	for _, d := range dirs {
		p := filepath.Join(d, FileName)
		if _, err := os.Stat(p); err == nil {
			if err := Verify(p, want); err != nil {
				return "", err
			}
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: looked for %s in %s; run `facectl model pull` to download it, or set --model / FACECTL_DETECTOR_MODEL",
		ErrNotFound, FileName, strings.Join(dirs, ", "))
}

// Verify checks that the file at path has sha256 want (empty want only checks it is readable).
func Verify(path, want string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening model: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("reading model %s: %w", path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); want != "" && got != want {
		return fmt.Errorf("%w: %s has sha256 %s, want %s", ErrChecksum, path, got, want)
	}
	return nil
}

// Pull copies the model from src (an http(s) URL, a file:// URL or a local path) to dir/FileName,
// verifying sha256 want before the file appears under its final name. It returns the path.
func Pull(ctx context.Context, client *http.Client, src, dir, want string) (dest string, err error) {
	if _, serr := os.Stat(dir); errors.Is(serr, os.ErrNotExist) {
		// A refused pull leaves nothing behind, not even the directory it created.
		defer func() {
			if err != nil {
				_ = os.Remove(dir)
			}
		}()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", dir, err)
	}
	body, err := open(ctx, client, src)
	if err != nil {
		return "", err
	}
	defer body.Close()
	tmp, err := os.CreateTemp(dir, ".pull-*")
	if err != nil {
		return "", fmt.Errorf("creating a temporary file in %s: %w", dir, err)
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(body, maxSize+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("downloading %s: %w", src, err)
	}
	if n > maxSize {
		return "", fmt.Errorf("downloading %s: larger than %d MiB, not a YuNet model", src, maxSize>>20)
	}
	if got := hex.EncodeToString(h.Sum(nil)); want != "" && got != want {
		return "", fmt.Errorf("%w: %s has sha256 %s, want %s; nothing was written", ErrChecksum, src, got, want)
	}
	dest = filepath.Join(dir, FileName)
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		return "", fmt.Errorf("installing model: %w", err)
	}
	return dest, nil
}

func open(ctx context.Context, client *http.Client, src string) (io.ReadCloser, error) {
	switch {
	case strings.HasPrefix(src, "http://"), strings.HasPrefix(src, "https://"):
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
		if err != nil {
			return nil, fmt.Errorf("downloading %s: %w", src, err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("downloading %s: %w", src, err)
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return nil, fmt.Errorf("downloading %s: %s", src, resp.Status)
		}
		return resp.Body, nil
	default:
		f, err := os.Open(strings.TrimPrefix(src, "file://"))
		if err != nil {
			return nil, fmt.Errorf("copying model: %w", err)
		}
		return f, nil
	}
}
