//go:build cgo

package render

import (
	"gocv.io/x/gocv"

	"github.com/facectl/facectl/pkg/face"
	"github.com/facectl/facectl/pkg/imagecheck"
)

// Write writes the requested outputs for one image. rel names the outputs (its extension is
// replaced to match the output format), input is the input's path ("" for stdin), format is the
// input's format: JPEG stays JPEG, everything else is written as PNG. img is modified.
func (o FileOutputs) Write(img gocv.Mat, faces []face.Face, rel, input string, format imagecheck.Format) error {
	return o.Each(img, faces, format, func(r Rendered) error { return o.Save(o.Path(rel, r), input, r.Data) })
}

// Each renders the outputs o asks for, in the order crops (face 1 first), obscured copy,
// annotated image, and hands each to fn, which stores it (Write names files; other callers
// write objects). JPEG input stays JPEG, everything else becomes PNG. img is modified.
func (o FileOutputs) Each(img gocv.Mat, faces []face.Face, format imagecheck.Format, fn func(Rendered) error) error {
	outFmt := imagecheck.PNG
	if format == imagecheck.JPEG {
		outFmt = imagecheck.JPEG
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
