package vision

import (
	"gocv.io/x/gocv"

	"github.com/facectl/facectl/pkg/codec"
	"github.com/facectl/facectl/pkg/imageio"
)

// decoded is an image ready for a detector: 3-channel BGR, EXIF orientation applied. scale is
// displayed pixels per decoded pixel (1, or 2/4/8 after a reduced JPEG decode).
type decoded struct {
	img   gocv.Mat
	scale float64
}

// decode turns checked image bytes into a BGR Mat as displayed. When minSide > 0 and the image is
// a JPEG whose longest side is at least factor*minSide*3/4, it decodes at 1/factor scale (libjpeg's
// DCT scaling, much cheaper than decoding fully and resizing): the network then sees the image at
// between 3/4 of and the full detection size, which finds the same faces at a fraction of the cost.
// The caller closes img.
func decode(data []byte, info imageio.Info, minSide int) (decoded, error) {
	factor := 1
	if minSide > 0 && info.Format == imageio.JPEG {
		long := max(info.Width, info.Height)
		for _, f := range []int{8, 4, 2} {
			if long/f >= minSide*3/4 {
				factor = f
				break
			}
		}
	}
	img, err := codec.Decode(data, factor)
	if err != nil {
		return decoded{}, err
	}
	orient(&img, info.Orientation)
	dw, _ := info.DisplaySize()
	return decoded{img: img, scale: float64(dw) / float64(img.Cols())}, nil
}

// orientSteps turns a stored image into the displayed one, per EXIF orientation (1: none).
var orientSteps = map[int][]func(src gocv.Mat, dst *gocv.Mat){
	2: {flipH},
	3: {rotate(gocv.Rotate180Clockwise)},
	4: {flipV},
	5: {rotate(gocv.Rotate90Clockwise), flipH},
	6: {rotate(gocv.Rotate90Clockwise)},
	7: {rotate(gocv.Rotate90Clockwise), flipV},
	8: {rotate(gocv.Rotate90CounterClockwise)},
}

// orient applies an EXIF orientation (1..8) in place.
func orient(img *gocv.Mat, orientation int) {
	for _, step := range orientSteps[orientation] {
		out := gocv.NewMat()
		step(*img, &out)
		img.Close()
		*img = out
	}
}

func flipH(src gocv.Mat, dst *gocv.Mat) { gocv.Flip(src, dst, 1) }
func flipV(src gocv.Mat, dst *gocv.Mat) { gocv.Flip(src, dst, 0) }

func rotate(code gocv.RotateFlag) func(gocv.Mat, *gocv.Mat) {
	return func(src gocv.Mat, dst *gocv.Mat) { gocv.Rotate(src, dst, code) }
}
