package imagecheck

import (
	"encoding/binary"
	"fmt"
	"math"
)

// bmpHeaderSizes are the DIB header sizes in use: OS/2 1.x core, Windows INFO, the Adobe
// BITFIELDS variants, OS/2 2.x, and Windows V4 and V5.
var bmpHeaderSizes = map[uint32]struct{}{12: {}, 40: {}, 52: {}, 56: {}, 64: {}, 108: {}, 124: {}}

func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }

// parseBMP reads the file header and the DIB header. A negative height in a
// BITMAPINFOHEADER means rows are stored top-down; the size is its absolute value.
func parseBMP(data []byte) (header, error) {
	h := header{orientation: 1}
	if len(data) < 18 {
		return h, fmt.Errorf("%w: BMP is truncated in the file header", ErrCorrupt)
	}
	offset := int64(le32(data[10:]))
	hdrSize := le32(data[14:])
	if _, ok := bmpHeaderSizes[hdrSize]; !ok {
		return h, fmt.Errorf("%w: BMP has unknown header size %d", ErrCorrupt, hdrSize)
	}
	if int64(len(data)) < 14+int64(hdrSize) {
		return h, fmt.Errorf("%w: BMP is truncated in the header", ErrCorrupt)
	}
	dib := data[14 : 14+hdrSize]
	var (
		width, height int64
		bitCount      uint16
		compression   uint32
		imageSize     int64
	)
	if hdrSize == 12 {
		width = int64(binary.LittleEndian.Uint16(dib[4:]))
		height = int64(binary.LittleEndian.Uint16(dib[6:]))
		bitCount = binary.LittleEndian.Uint16(dib[10:])
	} else {
		width = int64(int32(le32(dib[4:])))
		height = int64(int32(le32(dib[8:])))
		bitCount = binary.LittleEndian.Uint16(dib[14:])
		compression = le32(dib[16:])
		imageSize = int64(le32(dib[20:]))
	}
	if height < 0 {
		height = -height // top-down rows
	}
	if width <= 0 || height == 0 || height > math.MaxInt32 {
		return h, fmt.Errorf("%w: BMP declares a %dx%d image", ErrCorrupt, width, height)
	}
	switch compression {
	case 0, 1, 2, 3, 6: // RGB, RLE8, RLE4, BITFIELDS, ALPHABITFIELDS
	case 4, 5:
		return h, fmt.Errorf("%w: BMP files with embedded JPEG or PNG data are not supported", ErrUnsupported)
	default:
		return h, fmt.Errorf("%w: BMP has unknown compression %d", ErrCorrupt, compression)
	}
	switch bitCount {
	case 1, 4, 8, 16, 24, 32:
	default:
		return h, fmt.Errorf("%w: BMP has invalid bit depth %d", ErrCorrupt, bitCount)
	}
	h.width, h.height = int(width), int(height)
	h.structure = func() error {
		if offset >= int64(len(data)) {
			return fmt.Errorf("%w: BMP is truncated (pixel data offset %d is past the end of the %d-byte file)", ErrCorrupt, offset, len(data))
		}
		avail := int64(len(data)) - offset
		if compression == 1 || compression == 2 {
			// RLE data has no fixed size; trust the declared size when there is one.
			if imageSize > avail {
				return fmt.Errorf("%w: BMP is truncated (%d bytes of pixel data declared, %d present)", ErrCorrupt, imageSize, avail)
			}
			return nil
		}
		stride := (width*int64(bitCount) + 31) / 32 * 4 // rows are padded to 4 bytes
		// Divide instead of multiplying: stride*height can exceed int64 for hostile headers.
		if height > avail/stride {
			return fmt.Errorf("%w: BMP is truncated (%dx%d at %d bits needs %d rows of %d bytes, %d bytes present)",
				ErrCorrupt, width, height, bitCount, height, stride, avail)
		}
		return nil
	}
	return h, nil
}
