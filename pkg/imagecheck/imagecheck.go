// Package imagecheck is the safe-input gate that every image passes before any byte of it reaches
// OpenCV. It recognises the supported formats by their magic bytes, reads the dimensions and the
// EXIF orientation from the headers by hand, enforces size and pixel limits, and rejects files
// that are structurally truncated. It never decodes pixels, never allocates in proportion to
// the dimensions a file declares, and never panics, so it can run on untrusted uploads.
package imagecheck

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

// Format is an image format that facectl accepts.
type Format string

// The formats facectl accepts. The values are the lower-case names used in messages and flags.
const (
	JPEG Format = "jpeg"
	PNG  Format = "png"
	WebP Format = "webp"
	BMP  Format = "bmp"
)

// Sentinel errors. Every error returned by Inspect and Sniff wraps exactly one of them, with a
// message for humans that names the problem, so callers branch with errors.Is (for example to
// pick an HTTP status) and show err.Error() as is.
var (
	// ErrEmpty means the input has no bytes.
	ErrEmpty = errors.New("empty input")
	// ErrUnsupported means the input is not one of the accepted formats.
	ErrUnsupported = errors.New("unsupported image format")
	// ErrTooLarge means the input has more bytes than allowed.
	ErrTooLarge = errors.New("input too large")
	// ErrTooManyPixels means the image declares more pixels than allowed.
	ErrTooManyPixels = errors.New("image has too many pixels")
	// ErrCorrupt means the input claims an accepted format but its structure is broken or truncated.
	ErrCorrupt = errors.New("corrupt image")
)

const mib = 1 << 20

// Limits bounds what Inspect accepts. A zero field means no limit.
type Limits struct {
	// MaxBytes is the largest accepted input, in bytes.
	MaxBytes int64 `mapstructure:"max_bytes" flag:"max-bytes" help:"largest accepted image file, in bytes"`
	// MaxPixels is the largest accepted width*height, as stored in the file.
	MaxPixels int64 `mapstructure:"max_pixels" flag:"max-pixels" help:"largest accepted image, in pixels (width×height), checked before decoding"`
}

// DefaultLimits returns the limits facectl uses unless configured otherwise: 50 MiB and
// 50 megapixels. Fifty megapixels is about 150 MB as a BGR Mat, which bounds the memory one
// decode can take.
func DefaultLimits() Limits {
	return Limits{MaxBytes: 50 * mib, MaxPixels: 50_000_000}
}

// Validate reports every invalid field at once.
func (l Limits) Validate() error {
	var errs []error
	if l.MaxBytes < 0 {
		errs = append(errs, fmt.Errorf("imagecheck: MaxBytes must be >= 0 (0 = no limit), got %d", l.MaxBytes))
	}
	if l.MaxPixels < 0 {
		errs = append(errs, fmt.Errorf("imagecheck: MaxPixels must be >= 0 (0 = no limit), got %d", l.MaxPixels))
	}
	return errors.Join(errs...)
}

// Info describes an image as read from its headers.
type Info struct {
	Format Format
	// Width and Height are as stored in the file, before EXIF orientation is applied.
	Width, Height int
	// Orientation is the EXIF orientation 1..8 (read from JPEG APP1 Exif and the WebP EXIF
	// chunk); it is 1 when absent or invalid.
	Orientation int
	// Progressive is true for a progressive JPEG, which libjpeg decodes by buffering the DCT
	// coefficients of the whole image (2 bytes a sample) before producing any pixel.
	Progressive bool
	// Planes is, for a JPEG, the number of full-resolution sample planes it stores: 1 for
	// grey, 3 for 4:4:4 colour, 1.5 for 4:2:0 (chroma at half width and height). 0 otherwise.
	Planes float64
	// Lossless is true for a lossless WebP (a VP8L image, alone or in an extended file), which
	// libwebp decodes through a full-size ARGB buffer (4 bytes a pixel) besides the output.
	Lossless bool
}

// DisplaySize returns the size of the image as displayed: width and height are swapped for
// the orientations 5..8, which rotate by 90 or 270 degrees.
func (i Info) DisplaySize() (w, h int) {
	if i.Orientation >= 5 && i.Orientation <= 8 {
		return i.Height, i.Width
	}
	return i.Width, i.Height
}

// Inspect checks data against lim and reads its format, dimensions and orientation. The checks
// run cheapest first: empty input (ErrEmpty), byte size (ErrTooLarge), magic bytes
// (ErrUnsupported), header (ErrCorrupt), pixel count (ErrTooManyPixels) and finally structural
// truncation (ErrCorrupt). Invalid limits are a programming error and are returned as the
// Validate error, which wraps none of the sentinels.
func Inspect(data []byte, lim Limits) (Info, error) {
	if err := lim.Validate(); err != nil {
		return Info{}, err
	}
	if len(data) == 0 {
		return Info{}, fmt.Errorf("%w: the file has no bytes", ErrEmpty)
	}
	if lim.MaxBytes > 0 && int64(len(data)) > lim.MaxBytes {
		return Info{}, fmt.Errorf("%w: the file is %s, over the %s limit", ErrTooLarge, formatMiB(int64(len(data))), formatMiB(lim.MaxBytes))
	}
	f, err := Sniff(data)
	if err != nil {
		return Info{}, err
	}
	var h header
	switch f {
	case JPEG:
		h, err = parseJPEG(data)
	case PNG:
		h, err = parsePNG(data)
	case WebP:
		h, err = parseWebP(data)
	case BMP:
		h, err = parseBMP(data)
	}
	if err != nil {
		return Info{}, err
	}
	if h.width <= 0 || h.height <= 0 {
		// Parsers reject zero sizes themselves; this guards the contract if one forgets.
		return Info{}, fmt.Errorf("%w: %s header declares a %dx%d image", ErrCorrupt, f.name(), h.width, h.height)
	}
	if px := int64(h.width) * int64(h.height); lim.MaxPixels > 0 && px > lim.MaxPixels {
		return Info{}, fmt.Errorf("%w: %dx%d = %.1f MP exceeds the %.1f MP limit",
			ErrTooManyPixels, h.width, h.height, float64(px)/1e6, float64(lim.MaxPixels)/1e6)
	}
	if h.structure != nil {
		if err := h.structure(); err != nil {
			return Info{}, err
		}
	}
	o := h.orientation
	if o < 1 || o > 8 {
		o = 1
	}
	return Info{Format: f, Width: h.width, Height: h.height, Orientation: o, Progressive: h.progressive, Planes: h.planes, Lossless: h.lossless}, nil
}

// header is what a format parser reads. structure runs the (possibly more expensive)
// truncation checks after the pixel limit has been applied.
type header struct {
	width, height int
	orientation   int
	progressive   bool
	planes        float64
	lossless      bool
	structure     func() error
}

// ReadLimited reads r to the end, but at most max bytes: if r has more, it returns an error
// wrapping ErrTooLarge whose message states the limit in MiB. A max of 0 means no limit.
// Read errors from r are returned wrapped, without a sentinel. The buffer grows with what is
// actually read, never with max.
func ReadLimited(r io.Reader, max int64) ([]byte, error) {
	if max < 0 {
		return nil, fmt.Errorf("imagecheck: read limit must be >= 0 (0 = no limit), got %d", max)
	}
	if max == 0 {
		b, err := io.ReadAll(r)
		if err != nil {
			return nil, fmt.Errorf("reading input: %w", err)
		}
		return b, nil
	}
	n := max
	if n < math.MaxInt64 {
		n++ // one byte more tells "exactly max" from "more than max"
	}
	b, err := io.ReadAll(io.LimitReader(r, n))
	if err != nil {
		return nil, fmt.Errorf("reading input: %w", err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: input exceeds the %s limit", ErrTooLarge, formatMiB(max))
	}
	return b, nil
}

// MIME returns the media type of f, or application/octet-stream for an unknown format.
func (f Format) MIME() string {
	switch f {
	case JPEG:
		return "image/jpeg"
	case PNG:
		return "image/png"
	case WebP:
		return "image/webp"
	case BMP:
		return "image/bmp"
	}
	return "application/octet-stream"
}

// name is the format as written in messages.
func (f Format) name() string {
	switch f {
	case JPEG:
		return "JPEG"
	case PNG:
		return "PNG"
	case WebP:
		return "WebP"
	case BMP:
		return "BMP"
	}
	return string(f)
}

// FormatFromMIME maps an HTTP Content-Type (parameters and case ignored) to a Format. It also
// knows the legacy aliases browsers and tools still send (image/jpg, image/pjpeg, image/x-png,
// image/x-ms-bmp).
func FormatFromMIME(s string) (Format, bool) {
	s, _, _ = strings.Cut(s, ";")
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "image/jpeg", "image/jpg", "image/pjpeg":
		return JPEG, true
	case "image/png", "image/x-png":
		return PNG, true
	case "image/webp":
		return WebP, true
	case "image/bmp", "image/x-bmp", "image/x-ms-bmp":
		return BMP, true
	}
	return "", false
}

// formatMiB writes a byte count in MiB, adding the exact bytes when it is not a whole number.
func formatMiB(n int64) string {
	if n%mib == 0 {
		return fmt.Sprintf("%d MiB", n/mib)
	}
	return fmt.Sprintf("%.2f MiB (%d bytes)", float64(n)/mib, n)
}
