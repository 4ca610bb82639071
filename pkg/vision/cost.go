//go:build cgo

package vision

import (
	"math"

	"github.com/facectl/facectl/pkg/imagecheck"
)

// Bytes per decoded pixel the cascade detectors add on top of the BGR image: the grey copy,
// and DetectMultiScale's pyramid of scaled images with their integral images (scale factor
// 1.2, so about 3.3 times the image's pixels). Measured at 7000x7000: LBP 19.7 and Haar 34.4
// bytes per pixel in all.
const (
	lbpBytesPerPixel  = 18
	haarBytesPerPixel = 32
)

// DecodeCost estimates, from an image's header alone, the peak native memory in bytes that
// one request allocates on top of what the process already holds: Detect when format is ""
// (the reduced JPEG decode applies), Render (full size) encoding to format otherwise. It
// follows what the engine does, phase by phase, and takes the largest:
//
//   - decoding: the BGR image (width x height x 3 at the decode scale), plus, for a
//     progressive JPEG, libjpeg's coefficient buffer of the whole image at full resolution
//     (2 bytes a sample, whatever the decode scale), for a lossless WebP libwebp's ARGB image
//     (4 bytes a pixel), or the rotated copy for EXIF orientations;
//   - detecting: the image, plus YuNet's input (resized, padded, the float blob and the
//     network's copy of it: 30 bytes a pixel at the detection size) or the cascades'
//     pyramids (see above);
//   - rendering: the image, plus the encoded result twice (OpenCV's buffer and the Go copy),
//     estimated as a sixth of the image for JPEG and 60 % for PNG, each.
//
// plus 3 % and 8 MB for the codecs' working buffers and the copy of the input. The network's
// own working memory (about 70 MB at a 1280-pixel detection size) stays with its worker
// between requests and is not part of it. Images over the engine's limits cost 0: they are
// refused before decoding. TestDecodeCostCoversThePeak holds the estimate to measured peaks.
func (e *Engine) DecodeCost(info imagecheck.Info, format imagecheck.Format) int64 {
	lim := e.cfg.Limits
	if info.Width <= 0 || info.Height <= 0 ||
		lim.MaxPixels > 0 && int64(info.Width)*int64(info.Height) > lim.MaxPixels {
		return 0
	}
	minSide := 0
	if format == "" && e.cfg.Detector == "yunet" {
		minSide = e.cfg.DetectionSize
	}
	f := reducedFactor(info, minSide) // the factor the engine decodes at
	w, h := ceilDiv(info.Width, f), ceilDiv(info.Height, f)
	px := float64(w) * float64(h)
	img := 3 * px

	decoding := img
	if info.Format == imagecheck.JPEG && info.Progressive {
		planes := info.Planes
		if planes <= 0 {
			planes = 3
		}
		// Whole 8x8 blocks (MCUs round up a little more; 2 % covers it).
		blocks := math.Ceil(float64(info.Width)/8) * math.Ceil(float64(info.Height)/8) * 64
		decoding += blocks * planes * 2 * 1.02
	}
	if info.Format == imagecheck.WebP && info.Lossless {
		// libwebp's VP8L decoder works in a full-image ARGB buffer (4 bytes a pixel, plus a
		// few cache rows) and converts to BGR after.
		decoding += 4 * float64(info.Width) * (float64(info.Height) + 32)
	}
	if info.Orientation > 1 {
		decoding = max(decoding, 2*img)
	}

	detecting := img
	switch e.cfg.Detector {
	case "yunet":
		scale := 1.0
		if long := max(w, h); e.cfg.DetectionSize > 0 && long > e.cfg.DetectionSize {
			scale = float64(e.cfg.DetectionSize) / float64(long)
		}
		iw, ih := padTo32(int(math.Round(float64(w)*scale))), padTo32(int(math.Round(float64(h)*scale)))
		detecting += 30 * float64(iw) * float64(ih)
	case "lbp":
		detecting += lbpBytesPerPixel * px
	default:
		detecting += haarBytesPerPixel * px
	}

	rendering := 0.0
	switch format {
	case imagecheck.PNG:
		rendering = img + 2*0.6*img
	case "":
	default:
		rendering = img + 2*img/6
	}
	return int64(max(decoding, detecting, rendering)*1.03) + 8<<20
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
