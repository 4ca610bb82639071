package imagecheck

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// maxWebPChunks bounds the chunk walk of an extended WebP file.
const maxWebPChunks = 10_000

// parseWebP reads the size from the first chunk: VP8 (lossy), VP8L (lossless) or VP8X
// (extended, whose canvas size counts and whose EXIF chunk holds the orientation).
func parseWebP(data []byte) (header, error) {
	h := header{orientation: 1}
	riffSize := int64(binary.LittleEndian.Uint32(data[4:]))
	if riffSize < 4 {
		return h, fmt.Errorf("%w: WebP RIFF header declares an invalid size %d", ErrCorrupt, riffSize)
	}
	if riffSize+8 > int64(len(data)) {
		return h, fmt.Errorf("%w: WebP is truncated (RIFF header declares %d bytes, the file has %d)", ErrCorrupt, riffSize+8, len(data))
	}
	body := data[12 : 8+riffSize] // chunks, excluding anything after the RIFF container
	if len(body) < 8 {
		return h, fmt.Errorf("%w: WebP has no image chunk", ErrCorrupt)
	}
	fourcc := string(body[:4])
	size := int64(binary.LittleEndian.Uint32(body[4:]))
	if size > int64(len(body)-8) {
		return h, fmt.Errorf("%w: WebP is truncated (chunk %q runs past the end of the file)", ErrCorrupt, printable(body[:4]))
	}
	payload := body[8 : 8+size]
	switch fourcc {
	case "VP8 ":
		// Frame tag (3 bytes), start code 9D 01 2A, then 14-bit width and height with 2-bit scale.
		if len(payload) < 10 || payload[3] != 0x9D || payload[4] != 0x01 || payload[5] != 0x2A {
			return h, fmt.Errorf("%w: WebP VP8 frame header is invalid", ErrCorrupt)
		}
		if payload[0]&1 != 0 {
			return h, fmt.Errorf("%w: WebP VP8 data does not start with a key frame", ErrCorrupt)
		}
		h.width = int(binary.LittleEndian.Uint16(payload[6:]) & 0x3FFF)
		h.height = int(binary.LittleEndian.Uint16(payload[8:]) & 0x3FFF)
	case "VP8L":
		// Signature 0x2F, then 14 bits width-1, 14 bits height-1, 1 bit alpha, 3 bits version.
		if len(payload) < 5 || payload[0] != 0x2F {
			return h, fmt.Errorf("%w: WebP VP8L header is invalid", ErrCorrupt)
		}
		bits := binary.LittleEndian.Uint32(payload[1:])
		if bits>>29 != 0 {
			return h, fmt.Errorf("%w: WebP VP8L has unknown version %d", ErrCorrupt, bits>>29)
		}
		h.width = int(bits&0x3FFF) + 1
		h.height = int(bits>>14&0x3FFF) + 1
		h.lossless = true
	case "VP8X":
		// Flags (1 byte), reserved (3), canvas width-1 (24 bits), canvas height-1 (24 bits).
		if len(payload) < 10 {
			return h, fmt.Errorf("%w: WebP VP8X header is too short", ErrCorrupt)
		}
		flags := payload[0]
		if flags&0x02 != 0 {
			// OpenCV's WebP decoder refuses animations; saying so here is clearer than a decode failure.
			return h, fmt.Errorf("%w: animated WebP images are not supported", ErrUnsupported)
		}
		h.width = int(le24(payload[4:])) + 1
		h.height = int(le24(payload[7:])) + 1
		var err error
		rest := body[8+size:]
		if size%2 == 1 && len(rest) > 0 {
			rest = rest[1:] // pad byte
		}
		if h.orientation, h.lossless, err = webpExtended(rest); err != nil {
			return h, err
		}
	default:
		return h, fmt.Errorf("%w: WebP starts with unknown chunk %q", ErrCorrupt, printable(body[:4]))
	}
	if h.width == 0 || h.height == 0 {
		return h, fmt.Errorf("%w: WebP declares a %dx%d image", ErrCorrupt, h.width, h.height)
	}
	return h, nil
}

// webpExtended walks the chunks after VP8X, requiring an image chunk (lossless tells whether
// the first is VP8L) and taking the orientation from the first EXIF chunk. Chunks are padded
// to an even size.
func webpExtended(chunks []byte) (orientation int, lossless bool, err error) {
	orientation = 1
	sawImage, sawExif := false, false
	for n := 0; len(chunks) >= 8 && n < maxWebPChunks; n++ {
		size := int64(binary.LittleEndian.Uint32(chunks[4:]))
		if size > int64(len(chunks)-8) {
			return 1, false, fmt.Errorf("%w: WebP is truncated (chunk %q runs past the end of the file)", ErrCorrupt, printable(chunks[:4]))
		}
		payload := chunks[8 : 8+size]
		switch string(chunks[:4]) {
		case "VP8 ", "VP8L":
			if !sawImage {
				lossless = string(chunks[:4]) == "VP8L"
			}
			sawImage = true
		case "EXIF":
			if !sawExif {
				sawExif = true
				// Some writers keep the JPEG-style "Exif\0\0" prefix in the chunk.
				orientation = exifOrientation(bytes.TrimPrefix(payload, []byte("Exif\x00\x00")))
			}
		}
		next := 8 + size + size%2
		if next > int64(len(chunks)) {
			break // a missing pad byte on the last chunk is tolerated by libwebp
		}
		chunks = chunks[next:]
	}
	if !sawImage {
		return 1, false, fmt.Errorf("%w: WebP has no image data (VP8/VP8L chunk)", ErrCorrupt)
	}
	return orientation, lossless, nil
}

func le24(b []byte) uint32 { return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 }
