package codec

/*
#include "codec.h"
*/
import "C"

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"

	"gocv.io/x/gocv"

	"github.com/facectl/facectl/pkg/imagecheck"
)

// The BMP decoder is a port of OpenCV 4.6's BmpDecoder (modules/imgcodecs/src/grfmt_bmp.cpp)
// for a colour destination, quirks included, so that it accepts, rejects and fills the same
// pixels as imgcodecs: 1/4/8-bit palettes (missing entries black), RLE4 and RLE8, 16-bit 555
// and 565, 24-bit, and 32-bit with the fourth byte dropped.

const (
	bmpRGB       = 0
	bmpRLE8      = 1
	bmpRLE4      = 2
	bmpBitfields = 3
)

// errBMPEnd is OpenCV's end-of-stream exception: a read past the end of the data.
var errBMPEnd = errors.New("BMP data is truncated")

// bmpStream reads little-endian values like OpenCV's RLByteStream; a read past the end fails.
type bmpStream struct {
	data []byte
	pos  int
}

func (s *bmpStream) bytes(n int) ([]byte, error) {
	if n < 0 || s.pos < 0 || n > len(s.data)-s.pos {
		return nil, errBMPEnd
	}
	b := s.data[s.pos : s.pos+n]
	s.pos += n
	return b, nil
}

func (s *bmpStream) byte() (int, error) {
	b, err := s.bytes(1)
	if err != nil {
		return 0, err
	}
	return int(b[0]), nil
}

func (s *bmpStream) word() (int, error) {
	b, err := s.bytes(2)
	if err != nil {
		return 0, err
	}
	return int(binary.LittleEndian.Uint16(b)), nil
}

func (s *bmpStream) dword() (int, error) {
	b, err := s.bytes(4)
	if err != nil {
		return 0, err
	}
	return int(int32(binary.LittleEndian.Uint32(b))), nil
}

// skip moves on without checking, as OpenCV does; the next read reports a position past the end.
func (s *bmpStream) skip(n int) { s.pos += n }

type bmpHeader struct {
	width, height int // height is positive; bottomUp says how rows are stored
	bottomUp      bool
	bpp           int // 15 for 16-bit 555
	rle           int
	offset        int
	palette       [256][3]byte // b, g, r
}

var errBMPHeader = errors.New("BMP header is not one imgcodecs decodes")

// readHeader is BmpDecoder::readHeader.
func (h *bmpHeader) read(s *bmpStream) error {
	s.skip(10)
	var err error
	if h.offset, err = s.dword(); err != nil {
		return err
	}
	size, err := s.dword()
	if err != nil {
		return err
	}
	if size <= 0 {
		return errBMPHeader
	}
	switch {
	case size >= 36:
		var vals [4]int
		for i := range vals {
			if vals[i], err = s.dword(); err != nil {
				return err
			}
		}
		h.width, h.height, h.bpp, h.rle = vals[0], vals[1], vals[2]>>16, vals[3]
		s.skip(12)
		clrused, err := s.dword()
		if err != nil {
			return err
		}
		s.skip(size - 36)
		ok := h.width > 0 && h.height != 0 &&
			((oneOf(h.bpp, 1, 4, 8, 24, 32) && h.rle == bmpRGB) ||
				((h.bpp == 16 || h.bpp == 32) && (h.rle == bmpRGB || h.rle == bmpBitfields)) ||
				(h.bpp == 4 && h.rle == bmpRLE4) || (h.bpp == 8 && h.rle == bmpRLE8))
		if !ok {
			return errBMPHeader
		}
		switch {
		case h.bpp <= 8:
			if clrused < 0 || clrused > 256 {
				return errBMPHeader
			}
			n := clrused
			if n == 0 {
				n = 1 << h.bpp
			}
			b, err := s.bytes(n * 4)
			if err != nil {
				return err
			}
			for i := 0; i < n; i++ {
				h.palette[i] = [3]byte{b[4*i], b[4*i+1], b[4*i+2]}
			}
		case h.rle == bmpBitfields:
			mask, err := bitfieldMasks(s, size)
			if err != nil {
				return err
			}
			// imgcodecs takes 16-bit 555 and 565 and ignores the masks of 32-bit files (wrong
			// colours for any but the usual layout): other masks are refused, not guessed.
			switch {
			case h.bpp == 16 && mask == [3]int{0x7c00, 0x3e0, 0x1f}:
				h.bpp = 15
			case h.bpp == 16 && mask == [3]int{0xf800, 0x7e0, 0x1f}:
			case h.bpp == 32 && mask == [3]int{0xff0000, 0xff00, 0xff}:
			default:
				return fmt.Errorf("%w: %d-bit BMP with colour masks red %#x, green %#x, blue %#x (only 555 and 565 16-bit and 8-8-8 32-bit masks are)",
					imagecheck.ErrUnsupported, h.bpp, mask[0], mask[1], mask[2])
			}
		case h.bpp == 16 && h.rle == bmpRGB:
			h.bpp = 15
		}
	case size == 12:
		if h.width, err = s.word(); err != nil {
			return err
		}
		if h.height, err = s.word(); err != nil {
			return err
		}
		v, err := s.dword()
		if err != nil {
			return err
		}
		h.bpp, h.rle = v>>16, bmpRGB
		if !(h.width > 0 && h.height != 0 && oneOf(h.bpp, 1, 4, 8, 24, 32)) {
			return errBMPHeader
		}
		if h.bpp <= 8 {
			n := 1 << h.bpp
			b, err := s.bytes(n * 3)
			if err != nil {
				return err
			}
			for i := 0; i < n; i++ {
				h.palette[i] = [3]byte{b[3*i], b[3*i+1], b[3*i+2]}
			}
		}
	default:
		return errBMPHeader
	}
	h.bottomUp = h.height > 0
	if h.height < 0 {
		h.height = -h.height
	}
	return nil
}

// bitfieldMasks reads the red, green and blue masks of a BI_BITFIELDS file: inside the
// header from version 2 on (52 bytes and more: V2, V3, V4, V5), after the 40-byte header
// otherwise. (imgcodecs reads them after any header, so it refuses a V5 RGB565 file.)
func bitfieldMasks(s *bmpStream, size int) ([3]int, error) {
	var mask [3]int
	const header = 14 // the file header before the DIB header
	r := s
	if size >= 52 {
		r = &bmpStream{data: s.data, pos: header + 40}
	}
	for i := range mask {
		v, err := r.dword()
		if err != nil {
			return mask, err
		}
		mask[i] = int(uint32(v))
	}
	return mask, nil
}

func oneOf(v int, set ...int) bool {
	for _, s := range set {
		if v == s {
			return true
		}
	}
	return false
}

// bmpImage is the destination: rows of width*3 bytes, step apart, in file order.
type bmpImage struct {
	pix          []byte
	step, width3 int
	height       int
	bottomUp     bool
	palette      *[256][3]byte
}

func (im *bmpImage) row(y int) []byte {
	if im.bottomUp {
		y = im.height - 1 - y
	}
	return im.pix[y*im.step : y*im.step+im.width3]
}

// fillUni is OpenCV's FillUniColor in row coordinates: count3 bytes of clr from x on, wrapping to
// the next row; it advances x and y and stops when y reaches the height.
func (im *bmpImage) fillUni(x, y *int, count3 int, clr [3]byte) {
	for {
		end := min(*x+count3, im.width3)
		count3 -= end - *x
		if *x < end {
			r := im.row(*y)
			for ; *x < end; *x += 3 {
				copy(r[*x:*x+3], clr[:])
			}
		}
		if *x >= im.width3 {
			*x = 0
			if *y++; *y >= im.height {
				break
			}
		}
		if count3 <= 0 {
			break
		}
	}
}

// indexRow writes n pixels at x from palette indices packed bpp (1, 4 or 8) bits each.
func (im *bmpImage) indexRow(r []byte, x int, src []byte, n, bpp int) {
	for i := 0; i < n; i++ {
		var idx int
		switch bpp {
		case 1:
			idx = int(src[i>>3]>>(7-uint(i&7))) & 1
		case 4:
			idx = int(src[i>>1]>>(4*(1-uint(i&1)))) & 15
		default:
			idx = int(src[i])
		}
		copy(r[x+3*i:x+3*i+3], im.palette[idx][:])
	}
}

func decodeBMP(dst *gocv.Mat, data []byte) error {
	if err := decodeBMPInto(dst, data); err != nil {
		if errors.Is(err, imagecheck.ErrUnsupported) {
			return fmt.Errorf("decoding %s: %w", imagecheck.BMP, err)
		}
		return fmt.Errorf("%w: decoding %s: %v", imagecheck.ErrCorrupt, imagecheck.BMP, err)
	}
	return nil
}

func decodeBMPInto(dst *gocv.Mat, data []byte) error {
	s := &bmpStream{data: data}
	var h bmpHeader
	if err := h.read(s); err != nil {
		return err
	}
	if h.offset < 0 {
		return errBMPHeader
	}
	bits := h.bpp
	if bits == 15 {
		bits = 16
	}
	pitch := ((h.width*bits+7)/8 + 3) &^ 3
	if h.rle == bmpRGB || h.rle == bmpBitfields {
		// Every row is read in full: fail before allocating for a file far too short.
		if int64(pitch)*int64(h.height) > int64(len(data)-min(h.offset, len(data))) {
			return errBMPEnd
		}
	}
	var out *C.uchar
	var step C.size_t
	if C.fc_mat_ensure(unsafe.Pointer(dst.Ptr()), C.int(h.height), C.int(h.width), C.FC_8UC3, &out, &step) != 0 {
		return fmt.Errorf("cannot allocate a %dx%d image", h.width, h.height)
	}
	im := &bmpImage{
		pix:    unsafe.Slice((*byte)(unsafe.Pointer(out)), int(step)*h.height),
		step:   int(step),
		width3: h.width * 3,
		height: h.height, bottomUp: h.bottomUp, palette: &h.palette,
	}
	s.pos = h.offset
	switch {
	case h.rle == bmpRLE8:
		return im.rle8(s)
	case h.rle == bmpRLE4:
		return im.rle4(s)
	}
	for y := 0; y < h.height; y++ {
		src, err := s.bytes(pitch)
		if err != nil {
			return err
		}
		r := im.row(y)
		switch h.bpp {
		case 1, 4, 8:
			im.indexRow(r, 0, src, h.width, h.bpp)
		case 15:
			for x := 0; x < h.width; x++ {
				t := int(binary.LittleEndian.Uint16(src[2*x:]))
				r[3*x], r[3*x+1], r[3*x+2] = byte(t<<3&0xf8), byte(t>>2&0xf8), byte(t>>7&0xf8)
			}
		case 16:
			for x := 0; x < h.width; x++ {
				t := int(binary.LittleEndian.Uint16(src[2*x:]))
				r[3*x], r[3*x+1], r[3*x+2] = byte(t<<3&0xf8), byte(t>>3&0xfc), byte(t>>8&0xf8)
			}
		case 24:
			copy(r, src[:h.width*3])
		case 32:
			for x := 0; x < h.width; x++ {
				copy(r[3*x:3*x+3], src[4*x:4*x+3])
			}
		}
	}
	return nil
}

var errBMPRLE = errors.New("BMP run-length data overruns a row")

// rle8 is the RLE8 branch of BmpDecoder::readData.
func (im *bmpImage) rle8(s *bmpStream) error {
	x, y, lineEndFlag := 0, 0, 0
	for {
		code, err := s.word()
		if err != nil {
			return err
		}
		n, code := code&255, code>>8
		switch {
		case n != 0: // encoded run
			prevY := y
			if x+n*3 > im.width3 {
				return errBMPRLE
			}
			im.fillUni(&x, &y, n*3, im.palette[code])
			lineEndFlag = y - prevY
			if y >= im.height {
				return nil
			}
		case code > 2: // absolute run
			if x+code*3 > im.width3 {
				return errBMPRLE
			}
			src, err := s.bytes((code + 1) &^ 1)
			if err != nil {
				return err
			}
			im.indexRow(im.row(y), x, src, code, 8)
			x += code * 3
			lineEndFlag = 0
		default: // end of line (0), end of bitmap (1), delta (2)
			xShift3, yShift := im.width3-x, im.height-y
			if code != 0 || lineEndFlag == 0 || xShift3 < im.width3 {
				if code == 2 {
					dx, err := s.byte()
					if err != nil {
						return err
					}
					if yShift, err = s.byte(); err != nil {
						return err
					}
					xShift3 = dx * 3
				}
				if code != 0 {
					xShift3 += yShift * im.width3
				}
				if y >= im.height {
					return nil
				}
				im.fillUni(&x, &y, xShift3, im.palette[0])
				if y >= im.height {
					return nil
				}
			}
			lineEndFlag = 0
			if y >= im.height {
				return nil
			}
		}
	}
}

// rle4 is the RLE4 branch of BmpDecoder::readData. Unlike RLE8, end-of-bitmap and delta move
// only by their x shift there; ported as is.
func (im *bmpImage) rle4(s *bmpStream) error {
	x, y := 0, 0
	for {
		code, err := s.word()
		if err != nil {
			return err
		}
		n, code := code&255, code>>8
		switch {
		case n != 0: // encoded run of two alternating colours
			if x+n*3 > im.width3 {
				return errBMPRLE
			}
			clr := [2][3]byte{im.palette[code>>4], im.palette[code&15]}
			r := im.row(y)
			for i := 0; i < n; i++ {
				copy(r[x:x+3], clr[i&1][:])
				x += 3
			}
		case code > 2: // absolute run
			if x+code*3 > im.width3 {
				return errBMPRLE
			}
			src, err := s.bytes((((code + 1) >> 1) + 1) &^ 1)
			if err != nil {
				return err
			}
			im.indexRow(im.row(y), x, src, code, 4)
			x += code * 3
		default:
			xShift3 := im.width3 - x
			if code == 2 {
				dx, err := s.byte()
				if err != nil {
					return err
				}
				if _, err := s.byte(); err != nil {
					return err
				}
				xShift3 = dx * 3
			}
			im.fillUni(&x, &y, xShift3, im.palette[0])
			if y >= im.height {
				return nil
			}
		}
	}
}
