//go:build cgo

package vision

import (
	"errors"
	"fmt"
	"image"
	"os"

	"gocv.io/x/gocv"
)

// Cascade files under Config.CascadeDir, as installed by Debian's opencv-data.
var cascadeFiles = map[string]string{
	"lbp":  "lbpcascades/lbpcascade_frontalface.xml",
	"haar": "haarcascades/haarcascade_frontalface_alt2.xml",
}

// cascade runs an OpenCV cascade classifier exactly as the original app did: grayscale,
// scaleFactor 1.2, minNeighbors 5, no minimum or maximum size. Not safe for concurrent use.
type cascade struct {
	kind string
	cc   gocv.CascadeClassifier
	// gray holds the grayscale image, reused across images.
	gray *buffer
}

// newCascade loads the cascade at path; its grayscale buffer keeps images of up to keep pixels.
func newCascade(kind, path string, keep int) (*cascade, error) {
	// Load on a missing or malformed file makes OpenCV print to stderr and return false; check the
	// file first so the error says which file.
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("loading the %s cascade: %w (install Debian's opencv-data or set detector.cascade_dir)", kind, err)
	}
	cc := gocv.NewCascadeClassifier()
	if !cc.Load(path) {
		cc.Close()
		return nil, fmt.Errorf("loading the %s cascade: OpenCV could not read %s", kind, path)
	}
	return &cascade{kind: kind, cc: cc, gray: newBuffer(keep)}, nil
}

func (c *cascade) name() string { return c.kind }

func (c *cascade) close() error { return errors.Join(c.cc.Close(), c.gray.close()) }

// detect runs the cascade on the whole image, as the original app did; it ignores maxSide.
func (c *cascade) detect(img gocv.Mat, _ int) ([]candidate, error) {
	gray, err := c.gray.view(gocv.MatTypeCV8U, img.Rows(), img.Cols())
	if err != nil {
		return nil, err
	}
	defer gray.Close()
	gocv.CvtColor(img, &gray, gocv.ColorBGRToGray)
	rects := c.cc.DetectMultiScaleWithParams(gray, 1.2, 5, 0, image.Point{}, image.Point{})
	cands := make([]candidate, 0, len(rects))
	for _, r := range rects {
		// Cascades give no score; every accepted window counts as certain.
		cands = append(cands, candidate{
			x1: float64(r.Min.X), y1: float64(r.Min.Y),
			x2: float64(r.Max.X), y2: float64(r.Max.Y),
			score: 1,
		})
	}
	return cands, nil
}
