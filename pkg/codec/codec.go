// Package codec decodes images into and encodes them from gocv Mats with libjpeg-turbo, libpng
// and libwebp directly (BMP in Go), instead of through OpenCV's imgcodecs module, whose Debian
// build links GDAL and about a hundred more libraries that facectl never uses.
//
// The decoders set the libraries up as OpenCV 4.6's imgcodecs does for IMREAD_COLOR |
// IMREAD_IGNORE_ORIENTATION, so the pixels are the same as gocv.IMDecode's: 8-bit BGR whatever
// the file holds (grayscale, palette, 16-bit, alpha, CMYK), EXIF orientation not applied.
// JPEGs can be decoded at 1/2, 1/4 or 1/8 scale in the DCT domain (IMREAD_REDUCED_COLOR_N).
// Libraries' fatal errors come back as Go errors wrapping imagecheck.ErrCorrupt; nothing prints,
// exits or panics on bad input.
package codec

/*
#cgo pkg-config: libjpeg libpng libwebp opencv4
#cgo CXXFLAGS: --std=c++11
#include "codec.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	"gocv.io/x/gocv"

	"github.com/facectl/facectl/pkg/imagecheck"
)

// ErrScale means a decode asked for a scale other than 1, 2, 4 or 8, or for a reduced decode
// of a format other than JPEG (only JPEG can be decoded at a reduced size cheaply).
var ErrScale = errors.New("unsupported decode scale")

// Decode decodes data (JPEG, PNG, WebP or BMP, recognised by its magic bytes) into a new BGR
// Mat that the caller closes. scale 2, 4 or 8 decodes a JPEG at that fraction of its size,
// rounded up as libjpeg does; use 1 for full size.
func Decode(data []byte, scale int) (gocv.Mat, error) {
	m := gocv.NewMat()
	if err := DecodeInto(&m, data, scale); err != nil {
		m.Close()
		return gocv.Mat{}, err
	}
	return m, nil
}

// DecodeInto decodes data like Decode into dst, a Mat the caller made (gocv.NewMat() or one
// kept from an earlier decode) and still owns. dst becomes a continuous rows x cols CV_8UC3
// Mat; its memory is reused when it is large enough and shared with no other Mat, so a worker
// that keeps one Mat decodes without allocating once it has seen its largest image. On error
// dst's contents are undefined, but it stays a valid Mat to close or reuse.
func DecodeInto(dst *gocv.Mat, data []byte, scale int) error {
	if dst == nil || dst.Ptr() == nil {
		return errors.New("codec: DecodeInto needs a Mat made by gocv (gocv.NewMat())")
	}
	f, err := imagecheck.Sniff(data)
	if err != nil {
		return fmt.Errorf("decoding: %w", err)
	}
	switch {
	case scale != 1 && scale != 2 && scale != 4 && scale != 8:
		return fmt.Errorf("%w: 1/%d (want 1, 2, 4 or 8)", ErrScale, scale)
	case scale != 1 && f != imagecheck.JPEG:
		return fmt.Errorf("%w: %s images decode only at full size, not 1/%d", ErrScale, f, scale)
	}
	if f == imagecheck.BMP {
		return decodeBMP(dst, data)
	}
	src, n, mat := (*C.uchar)(unsafe.Pointer(&data[0])), C.size_t(len(data)), unsafe.Pointer(dst.Ptr())
	var msg *C.char
	switch f {
	case imagecheck.JPEG:
		msg = C.fc_jpeg_decode(src, n, C.int(scale), mat)
	case imagecheck.PNG:
		msg = C.fc_png_decode(src, n, mat)
	case imagecheck.WebP:
		msg = C.fc_webp_decode(src, n, mat)
	}
	if err := errFrom(msg); err != nil {
		return fmt.Errorf("%w: decoding %s: %v", imagecheck.ErrCorrupt, f, err)
	}
	return nil
}

// EncodeJPEG encodes a BGR or grayscale 8-bit Mat as a baseline JPEG of quality 1..100, as
// gocv.IMEncodeWithParams(".jpg", img, IMWriteJpegQuality, quality) does.
func EncodeJPEG(img gocv.Mat, quality int) ([]byte, error) {
	if quality < 1 || quality > 100 {
		return nil, fmt.Errorf("encoding JPEG: quality %d is not in [1,100]", quality)
	}
	p, err := pixelsOf(img)
	if err != nil {
		return nil, fmt.Errorf("encoding JPEG: %w", err)
	}
	return bytesFrom(C.fc_jpeg_encode(p.data, p.step, p.cols, p.rows, p.channels, C.int(quality)), "JPEG")
}

// EncodePNG encodes a BGR or grayscale 8-bit Mat as PNG with zlib compression level 0..9, as
// gocv.IMEncodeWithParams(".png", img, IMWritePngCompression, level) does.
func EncodePNG(img gocv.Mat, level int) ([]byte, error) {
	if level < 0 || level > 9 {
		return nil, fmt.Errorf("encoding PNG: compression level %d is not in [0,9]", level)
	}
	p, err := pixelsOf(img)
	if err != nil {
		return nil, fmt.Errorf("encoding PNG: %w", err)
	}
	return bytesFrom(C.fc_png_encode(p.data, p.step, p.cols, p.rows, p.channels, C.int(level)), "PNG")
}

// pixels is where an 8-bit Mat keeps its pixels, in C's types.
type pixels struct {
	data                 *C.uchar
	step                 C.size_t
	rows, cols, channels C.int
}

func pixelsOf(img gocv.Mat) (pixels, error) {
	var p pixels
	if img.Ptr() == nil || img.Empty() {
		return p, errors.New("the image is empty")
	}
	if C.fc_mat_pixels(unsafe.Pointer(img.Ptr()), &p.data, &p.step, &p.rows, &p.cols, &p.channels) != 0 {
		return p, fmt.Errorf("the image is %v, not 8-bit", img.Type())
	}
	if p.channels != 1 && p.channels != 3 {
		return p, fmt.Errorf("the image has %d channels (want 1 or 3)", p.channels)
	}
	return p, nil
}

// bytesFrom copies an encoder's C buffer into Go memory and frees it.
func bytesFrom(b C.fc_buf, format string) ([]byte, error) {
	if err := errFrom(b.err); err != nil {
		return nil, fmt.Errorf("encoding %s: %w", format, err)
	}
	defer C.free(unsafe.Pointer(b.buf))
	return C.GoBytes(unsafe.Pointer(b.buf), C.int(b.len)), nil
}

// errFrom turns a C message (NULL for success) into an error and frees it.
func errFrom(msg *C.char) error {
	if msg == nil {
		return nil
	}
	defer C.fc_errfree(msg)
	return errors.New(C.GoString(msg))
}
