//go:build cgo

package render

import (
	"bytes"
	"testing"

	"gocv.io/x/gocv"

	"github.com/facectl/facectl/pkg/imagecheck"
)

// TestEncodeMatchesGocv checks Encode gives the bytes gocv.IMEncodeWithParams gives, for JPEG and
// PNG, and refuses what OpenCV cannot encode.
func TestEncodeMatchesGocv(t *testing.T) {
	img := gocv.NewMatWithSize(301, 403, gocv.MatTypeCV8UC3)
	defer img.Close()
	gocv.RandU(&img, gocv.NewScalar(0, 0, 0, 0), gocv.NewScalar(255, 255, 255, 0))
	for _, c := range []struct {
		format imagecheck.Format
		ext    gocv.FileExt
		params []int
	}{
		{imagecheck.JPEG, gocv.JPEGFileExt, []int{gocv.IMWriteJpegQuality, 90}},
		{imagecheck.PNG, gocv.PNGFileExt, []int{gocv.IMWritePngCompression, 3}},
	} {
		got, err := Encode(img, c.format, 0)
		if err != nil {
			t.Fatal(err)
		}
		want, err := gocv.IMEncodeWithParams(c.ext, img, c.params)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want.GetBytes()) {
			t.Errorf("%s: %d bytes, gocv gives %d different ones", c.format, len(got), want.Len())
		}
		want.Close()
	}
	empty := gocv.NewMat()
	defer empty.Close()
	if _, err := Encode(empty, imagecheck.JPEG, 0); err == nil {
		t.Error("an empty image was encoded")
	}
}
