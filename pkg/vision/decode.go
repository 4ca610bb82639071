//go:build cgo

package vision

import (
	"gocv.io/x/gocv"

	"github.com/facectl/facectl/pkg/codec"
	"github.com/facectl/facectl/pkg/imagecheck"
)

// decoded is an image ready for a detector: 3-channel BGR, EXIF orientation applied. scale is
// displayed pixels per decoded pixel (1, or 2/4/8 after a reduced JPEG decode).
type decoded struct {
	img   gocv.Mat
	scale float64
}

// decodeBuffers are a worker's memory for decoded images: the decoded image, and the other half
// of a ping-pong for EXIF rotations and flips.
type decodeBuffers struct {
	image, turned *buffer
}

// newDecodeBuffers keeps images of up to keep bytes.
func newDecodeBuffers(keep int) decodeBuffers {
	return decodeBuffers{image: newBuffer(keep), turned: newBuffer(keep)}
}

func (b decodeBuffers) close() error {
	b.image.close()
	return b.turned.close()
}

// reducedFactor is the scale, 1/1..1/8, at which the detect path decodes an image. When
// minSide > 0 and the image is a JPEG whose longest side is at least factor*minSide*3/4, it is
// decoded at 1/factor scale (libjpeg's DCT scaling, much cheaper than decoding fully and
// resizing): the network then sees the image at between 3/4 of and the full detection size,
// which finds the same faces at a fraction of the cost.
func reducedFactor(info imagecheck.Info, minSide int) int {
	if minSide > 0 && info.Format == imagecheck.JPEG {
		long := max(info.Width, info.Height)
		for _, f := range []int{8, 4, 2} {
			if long/f >= minSide*3/4 {
				return f
			}
		}
	}
	return 1
}

// decode turns checked image bytes into a BGR Mat as displayed, at 1/factor scale (factor 1, or
// 2, 4 or 8 for JPEGs), in the worker's buffers. The caller closes img, before the next decode
// with the same buffers.
func decode(data []byte, info imagecheck.Info, factor int, bufs decodeBuffers) (decoded, error) {
	// libjpeg's scaled size rounds up, which is the size codec decodes to, so the pixels land in
	// the worker's buffer. Should a decode come out another size, codec allocates for img instead:
	// slower, never wrong.
	rows, cols := (info.Height+factor-1)/factor, (info.Width+factor-1)/factor
	img, err := bufs.image.view(gocv.MatTypeCV8UC3, rows, cols)
	if err != nil {
		return decoded{}, err
	}
	if err := codec.DecodeInto(&img, data, factor); err != nil {
		img.Close()
		return decoded{}, err
	}
	img, err = orient(img, info.Orientation, bufs)
	if err != nil {
		return decoded{}, err
	}
	dw, _ := info.DisplaySize()
	return decoded{img: img, scale: float64(dw) / float64(img.Cols())}, nil
}

// orientStep is one step from a stored image towards the displayed one.
type orientStep struct {
	apply func(src gocv.Mat, dst *gocv.Mat)
	// turns is set for quarter turns, which swap width and height.
	turns bool
}

// orientSteps turns a stored image into the displayed one, per EXIF orientation (1: none).
var orientSteps = map[int][]orientStep{
	2: {{flipH, false}},
	3: {{rotate(gocv.Rotate180Clockwise), false}},
	4: {{flipV, false}},
	5: {{rotate(gocv.Rotate90Clockwise), true}, {flipH, false}},
	6: {{rotate(gocv.Rotate90Clockwise), true}},
	7: {{rotate(gocv.Rotate90Clockwise), true}, {flipV, false}},
	8: {{rotate(gocv.Rotate90CounterClockwise), true}},
}

// orient applies an EXIF orientation (1..8) to img, which is in bufs.image, each step writing
// into the other buffer. It closes img and returns the result, or closes both on error.
func orient(img gocv.Mat, orientation int, bufs decodeBuffers) (gocv.Mat, error) {
	// img is in bufs.image (or in memory of its own): each step writes into the other buffer.
	to, next := bufs.turned, bufs.image
	for _, step := range orientSteps[orientation] {
		rows, cols := img.Rows(), img.Cols()
		if step.turns {
			rows, cols = cols, rows
		}
		out, err := to.view(img.Type(), rows, cols)
		if err != nil {
			img.Close()
			return gocv.Mat{}, err
		}
		step.apply(img, &out)
		img.Close()
		img = out
		to, next = next, to
	}
	return img, nil
}

func flipH(src gocv.Mat, dst *gocv.Mat) { gocv.Flip(src, dst, 1) }
func flipV(src gocv.Mat, dst *gocv.Mat) { gocv.Flip(src, dst, 0) }

func rotate(code gocv.RotateFlag) func(gocv.Mat, *gocv.Mat) {
	return func(src gocv.Mat, dst *gocv.Mat) { gocv.Rotate(src, dst, code) }
}
