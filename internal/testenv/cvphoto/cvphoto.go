// Package cvphoto makes the test photos that need OpenCV to make, for the tests and benchmarks
// of the packages that use OpenCV (pkg/vision, pkg/codec). It is apart from testenv, which
// stays free of cgo for the tests that run without it. Only tests import it.
package cvphoto

import (
	"bytes"
	"image"
	"image/jpeg"
	"sync"
	"testing"

	"gocv.io/x/gocv"

	"github.com/facectl/facectl/internal/testenv"
)

var (
	once sync.Once
	big  []byte
	err  error
)

// Photo12MP is group_10.jpg upscaled to 4512×2657 (12 MP, the same aspect ratio) with OpenCV's
// cubic interpolation and encoded by Go's JPEG encoder at quality 90. It is made once per test
// binary.
func Photo12MP(t testing.TB) []byte {
	t.Helper()
	src := testenv.ReadPhoto(t, "group_10.jpg")
	once.Do(func() { big, err = upscale(src) })
	if err != nil {
		t.Fatalf("making the 12 MP photo: %v", err)
	}
	return big
}

func upscale(data []byte) ([]byte, error) {
	src, err := gocv.IMDecode(data, gocv.IMReadColor)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	big := gocv.NewMat()
	defer big.Close()
	gocv.Resize(src, &big, image.Pt(4512, 2657), 0, 0, gocv.InterpolationCubic)
	im, err := big.ToImage()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, im, &jpeg.Options{Quality: 90}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
