package imagecheck

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// parsePNG reads IHDR, which must be the first chunk, and checks its CRC. The truncation
// check walks the chunk list to IEND without reading chunk data.
func parsePNG(data []byte) (header, error) {
	const ihdrEnd = 8 + 8 + 13 + 4 // signature, length+type, IHDR data, CRC
	if len(data) < ihdrEnd {
		return header{}, fmt.Errorf("%w: PNG is truncated in the header (IHDR)", ErrCorrupt)
	}
	if binary.BigEndian.Uint32(data[8:]) != 13 || string(data[12:16]) != "IHDR" {
		return header{}, fmt.Errorf("%w: PNG does not start with a valid IHDR chunk", ErrCorrupt)
	}
	ihdr := data[16:29]
	if crc32.ChecksumIEEE(data[12:29]) != binary.BigEndian.Uint32(data[29:]) {
		return header{}, fmt.Errorf("%w: PNG header (IHDR) checksum mismatch", ErrCorrupt)
	}
	w, h := binary.BigEndian.Uint32(ihdr[0:]), binary.BigEndian.Uint32(ihdr[4:])
	if w == 0 || h == 0 || w > 1<<31-1 || h > 1<<31-1 {
		return header{}, fmt.Errorf("%w: PNG declares a %dx%d image", ErrCorrupt, w, h)
	}
	depth, colour := ihdr[8], ihdr[9]
	if !validPNGDepth(depth, colour) {
		return header{}, fmt.Errorf("%w: PNG has invalid bit depth %d for colour type %d", ErrCorrupt, depth, colour)
	}
	if ihdr[10] != 0 || ihdr[11] != 0 || ihdr[12] > 1 {
		return header{}, fmt.Errorf("%w: PNG has unknown compression, filter or interlace method", ErrCorrupt)
	}
	return header{
		width: int(w), height: int(h), orientation: 1,
		structure: func() error { return pngChunksEnd(data, ihdrEnd) },
	}, nil
}

// validPNGDepth applies the table of allowed bit depths per colour type (PNG spec 11.2.2).
func validPNGDepth(depth, colour byte) bool {
	switch colour {
	case 0:
		return depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16
	case 3:
		return depth == 1 || depth == 2 || depth == 4 || depth == 8
	case 2, 4, 6:
		return depth == 8 || depth == 16
	}
	return false
}

// pngChunksEnd walks the chunks from off and requires IDAT followed by IEND, each chunk fitting
// in data. Every chunk takes at least 12 bytes, so the walk is bounded by len(data)/12. Bytes
// after IEND are allowed, as decoders ignore them.
func pngChunksEnd(data []byte, off int) error {
	sawIDAT := false
	for {
		if len(data)-off < 12 {
			return fmt.Errorf("%w: PNG is truncated (no IEND chunk)", ErrCorrupt)
		}
		n := binary.BigEndian.Uint32(data[off:])
		typ := string(data[off+4 : off+8])
		if n > 1<<31-1 || int64(n) > int64(len(data)-off-12) {
			return fmt.Errorf("%w: PNG is truncated (chunk %q runs past the end of the file)", ErrCorrupt, printable([]byte(typ)))
		}
		switch typ {
		case "IDAT":
			sawIDAT = true
		case "IEND":
			if !sawIDAT {
				return fmt.Errorf("%w: PNG has no image data (IDAT)", ErrCorrupt)
			}
			return nil
		}
		off += 12 + int(n)
	}
}
