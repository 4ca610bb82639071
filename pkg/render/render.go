//go:build cgo

package render

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"strconv"

	"gocv.io/x/gocv"

	"github.com/facectl/facectl/pkg/codec"
	"github.com/facectl/facectl/pkg/face"
	"github.com/facectl/facectl/pkg/imagecheck"
)

// Apply modifies img as o.Mode says and returns it encoded as o.Format.
func Apply(img gocv.Mat, faces []face.Face, o face.RenderOptions) ([]byte, error) {
	switch o.Mode {
	case face.Annotate:
		Draw(&img, faces)
	case face.Blur, face.Pixelate:
		Obscure(&img, faces, o.Mode)
	default:
		return nil, fmt.Errorf("unknown render mode %q (want one of %v)", o.Mode, face.RenderModes)
	}
	return Encode(img, o.Format, o.Quality)
}

var (
	boxColor      = color.RGBA{R: 0, G: 220, B: 90, A: 0}
	landmarkColor = color.RGBA{R: 255, G: 80, B: 40, A: 0}
)

// Draw draws each face's box, landmarks and confidence on img, with line widths that scale with the
// image so they stay visible on large photos.
func Draw(img *gocv.Mat, faces []face.Face) {
	long := max(img.Cols(), img.Rows())
	thick := max(2, long/400)
	for _, f := range faces {
		gocv.Rectangle(img, image.Rect(f.X, f.Y, f.X+f.W, f.Y+f.H), boxColor, thick)
		for _, p := range f.Landmarks {
			gocv.Circle(img, image.Pt(int(p[0]), int(p[1])), max(2, thick), landmarkColor, -1)
		}
		if f.Confidence < 1 {
			label := strconv.FormatFloat(f.Confidence, 'f', 2, 64)
			scale := math.Max(0.4, float64(long)/1600)
			y := f.Y - thick - 2
			if y < 12 {
				y = f.Y + f.H + int(14*scale) + thick
			}
			gocv.PutText(img, label, image.Pt(f.X, y), gocv.FontHersheySimplex, scale, boxColor, max(1, thick/2))
		}
	}
}

// Obscure blurs or pixelates each face region (enlarged by 10 % to cover hair line and chin) so
// that the face cannot be recognised, in place.
func Obscure(img *gocv.Mat, faces []face.Face, mode face.RenderMode) {
	bounds := image.Rect(0, 0, img.Cols(), img.Rows())
	for _, f := range faces {
		r := expand(f, 0.1).Intersect(bounds)
		if r.Dx() < 2 || r.Dy() < 2 {
			continue
		}
		roi := img.Region(r)
		if mode == face.Pixelate {
			pixelate(&roi)
		} else {
			blur(&roi)
		}
		roi.Close()
	}
}

// blur smooths roi so strongly that no face detector finds a face in it: it shrinks the region to
// about 12 pixels across, blurs that, and scales it back up (a Gaussian with a sigma of a third of the
// face, at a fraction of the cost of running it at full size).
func blur(roi *gocv.Mat) {
	w, h := roi.Cols(), roi.Rows()
	small := gocv.NewMat()
	defer small.Close()
	gocv.Resize(*roi, &small, image.Pt(12, max(1, 12*h/max(1, w))), 0, 0, gocv.InterpolationArea)
	gocv.GaussianBlur(small, &small, image.Pt(5, 5), 0, 0, gocv.BorderReflect101)
	// roi already has the size and type: OpenCV writes straight into the image, with no
	// face-sized temporary.
	gocv.Resize(small, roi, image.Pt(w, h), 0, 0, gocv.InterpolationCubic)
}

// pixelate replaces roi with about 6 blocks across.
func pixelate(roi *gocv.Mat) {
	w, h := roi.Cols(), roi.Rows()
	blocks := 6
	small := gocv.NewMat()
	defer small.Close()
	gocv.Resize(*roi, &small, image.Pt(max(1, blocks), max(1, blocks*h/max(1, w))), 0, 0, gocv.InterpolationArea)
	gocv.Resize(small, roi, image.Pt(w, h), 0, 0, gocv.InterpolationNearestNeighbor)
}

func expand(f face.Face, frac float64) image.Rectangle {
	dx, dy := int(float64(f.W)*frac), int(float64(f.H)*frac)
	return image.Rect(f.X-dx, f.Y-dy, f.X+f.W+dx, f.Y+f.H+dy)
}

// Crop returns a copy of the face's region enlarged by margin (a fraction of the box size on each
// side), clipped to img. The caller closes it.
func Crop(img gocv.Mat, f face.Face, margin float64) gocv.Mat {
	r := expand(f, margin).Intersect(image.Rect(0, 0, img.Cols(), img.Rows()))
	roi := img.Region(r)
	defer roi.Close()
	return roi.Clone()
}

// Encode encodes img as JPEG (quality 0 means 90) or PNG (zlib level 3).
func Encode(img gocv.Mat, format imagecheck.Format, quality int) ([]byte, error) {
	if quality == 0 {
		quality = 90
	}
	switch format {
	case imagecheck.JPEG:
		return codec.EncodeJPEG(img, quality)
	case imagecheck.PNG:
		return codec.EncodePNG(img, 3)
	}
	return nil, fmt.Errorf("cannot encode %q images (want jpeg or png)", format)
}
