package render

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"gocv.io/x/gocv"

	"github.com/facectl/facectl/pkg/face"
	"github.com/facectl/facectl/pkg/imageio"
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

// Write writes the requested outputs for one image. rel names the outputs (its extension is
// replaced to match the output format), input is the input's path ("" for stdin), format is the
// input's format: JPEG stays JPEG, everything else is written as PNG. img is modified.
func (o FileOutputs) Write(img gocv.Mat, faces []face.Face, rel, input string, format imageio.Format) error {
	outFmt, ext := imageio.PNG, ".png"
	if format == imageio.JPEG {
		outFmt, ext = imageio.JPEG, ".jpg"
	}
	stem := strings.TrimSuffix(rel, filepath.Ext(rel))
	if o.CropDir != "" {
		for i, f := range faces {
			c := Crop(img, f, o.CropMargin)
			data, err := Encode(c, outFmt, o.Quality)
			c.Close()
			if err != nil {
				return err
			}
			if err := o.save(filepath.Join(o.CropDir, fmt.Sprintf("%s_face%d%s", stem, i+1, ext)), input, data); err != nil {
				return err
			}
		}
	}
	if o.BlurDir != "" {
		c := img.Clone()
		Obscure(&c, faces, o.Obscure)
		data, err := Encode(c, outFmt, o.Quality)
		c.Close()
		if err != nil {
			return err
		}
		if err := o.save(filepath.Join(o.BlurDir, stem+ext), input, data); err != nil {
			return err
		}
	}
	if o.AnnotateDir != "" {
		Draw(&img, faces)
		data, err := Encode(img, outFmt, o.Quality)
		if err != nil {
			return err
		}
		if err := o.save(filepath.Join(o.AnnotateDir, stem+ext), input, data); err != nil {
			return err
		}
	}
	return nil
}

// save writes data to path, refusing to replace the input and, without Force, any existing file.
// The data goes to a temporary file first so a failed write never leaves half a file.
func (o FileOutputs) save(path, input string, data []byte) error {
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
