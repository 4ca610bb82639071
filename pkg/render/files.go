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
	return o.Each(img, faces, format, func(r Rendered) error { return o.Save(o.Path(rel, r), input, r.Data) })
}

// Path is the file Write writes r to: rel under the output's directory, with the extension of
// r's format (and _faceN for crops).
func (o FileOutputs) Path(rel string, r Rendered) string {
	stem := strings.TrimSuffix(rel, filepath.Ext(rel))
	ext := ".png"
	if r.Format == imageio.JPEG {
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
	Format imageio.Format
}

// Each renders the outputs o asks for, in the order crops (face 1 first), obscured copy,
// annotated image, and hands each to fn, which stores it (Write names files; other callers
// write objects). JPEG input stays JPEG, everything else becomes PNG. img is modified.
func (o FileOutputs) Each(img gocv.Mat, faces []face.Face, format imageio.Format, fn func(Rendered) error) error {
	outFmt := imageio.PNG
	if format == imageio.JPEG {
		outFmt = imageio.JPEG
	}
	if o.CropDir != "" {
		for i, f := range faces {
			c := Crop(img, f, o.CropMargin)
			data, err := Encode(c, outFmt, o.Quality)
			c.Close()
			if err != nil {
				return err
			}
			if err := fn(Rendered{Kind: CropOutput, Face: i + 1, Data: data, Format: outFmt}); err != nil {
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
		if err := fn(Rendered{Kind: BlurOutput, Data: data, Format: outFmt}); err != nil {
			return err
		}
	}
	if o.AnnotateDir != "" {
		Draw(&img, faces)
		data, err := Encode(img, outFmt, o.Quality)
		if err != nil {
			return err
		}
		if err := fn(Rendered{Kind: AnnotateOutput, Data: data, Format: outFmt}); err != nil {
			return err
		}
	}
	return nil
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
