// Package render draws detection results onto images with OpenCV: boxes and landmarks, blurred or
// pixelated faces, and face crops; and encodes the results.
package render

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/facectl/facectl/pkg/face"
	"github.com/facectl/facectl/pkg/imagecheck"
)

// FileOutputs writes annotated images, face crops and obscured copies into directories, named
// after the input's relative name. It never overwrites an input, and overwrites an existing
// output only when Force is set.
type FileOutputs struct {
	AnnotateDir string
	CropDir     string
	BlurDir     string
	// Obscure is Blur or Pixelate, for BlurDir.
	Obscure face.RenderMode
	// CropMargin enlarges crops by this fraction of the box on each side.
	CropMargin float64
	Force      bool
	Quality    int
}

// Any reports whether any output is requested.
func (o FileOutputs) Any() bool { return o.AnnotateDir != "" || o.CropDir != "" || o.BlurDir != "" }

// ErrExists means an output file exists and Force is not set.
var ErrExists = errors.New("output exists (use --force to overwrite)")

// Path is the file Write writes r to: rel under the output's directory, with the extension of
// r's format (and _faceN for crops).
func (o FileOutputs) Path(rel string, r Rendered) string {
	stem := strings.TrimSuffix(rel, filepath.Ext(rel))
	ext := ".png"
	if r.Format == imagecheck.JPEG {
		ext = ".jpg"
	}
	switch r.Kind {
	case CropOutput:
		return filepath.Join(o.CropDir, fmt.Sprintf("%s_face%d%s", stem, r.Face, ext))
	case BlurOutput:
		return filepath.Join(o.BlurDir, stem+ext)
	}
	return filepath.Join(o.AnnotateDir, stem+ext)
}

// OutputKind says which of FileOutputs' images one is.
type OutputKind string

// The outputs, in the order Each renders them.
const (
	CropOutput     OutputKind = "crop"
	BlurOutput     OutputKind = "blur"
	AnnotateOutput OutputKind = "annotate"
)

// Rendered is one encoded output image.
type Rendered struct {
	Kind OutputKind
	// Face is the 1-based face number of a crop.
	Face   int
	Data   []byte
	Format imagecheck.Format
}

// Save writes data to path, refusing to replace the input and, without Force, any existing file.
// The data goes to a temporary file first so a failed write never leaves half a file.
func (o FileOutputs) Save(path, input string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if st, err := os.Stat(path); err == nil {
		if in, ierr := os.Stat(input); input != "" && ierr == nil && os.SameFile(st, in) {
			return fmt.Errorf("writing %s: refusing to overwrite the input file", path)
		}
		if !o.Force {
			return fmt.Errorf("writing %s: %w", path, ErrExists)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".facectl-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if !o.Force {
		// Link fails if path appeared meanwhile (another worker, another process): no overwrite race.
		if err := os.Link(tmp.Name(), path); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("writing %s: %w", path, ErrExists)
			}
			return fmt.Errorf("writing %s: %w", path, err)
		}
		return nil
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
