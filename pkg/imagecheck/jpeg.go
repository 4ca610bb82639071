package imagecheck

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// maxJPEGMarkers bounds the marker walk. Every step advances at least two bytes, so the walk
// ends anyway; the cap keeps a hostile file of empty segments from costing more than it must.
const maxJPEGMarkers = 100_000

// parseJPEG walks the markers from SOI to the first SOS, taking the size from the SOFn
// segment (baseline, extended, progressive, lossless, arithmetic) and the orientation from the
// first Exif APP1 segment.
func parseJPEG(data []byte) (header, error) {
	h := header{orientation: 1}
	var sawSOF, sawExif bool
	i := 2 // after SOI
	for n := 0; n < maxJPEGMarkers; n++ {
		// Skip anything up to the next 0xFF: libjpeg (and so OpenCV) tolerates extraneous
		// bytes between segments with a warning.
		for i < len(data) && data[i] != 0xFF {
			i++
		}
		// Any number of 0xFF fill bytes may precede a marker.
		for i < len(data) && data[i] == 0xFF {
			i++
		}
		if i >= len(data) {
			return h, fmt.Errorf("%w: JPEG is truncated (ends before the image data)", ErrCorrupt)
		}
		marker := data[i]
		i++
		switch {
		case marker == 0x00:
			continue // a stuffed 0xFF00 outside entropy-coded data; skip it like libjpeg
		case marker == 0x01 || marker >= 0xD0 && marker <= 0xD8:
			continue // TEM, RSTn and a repeated SOI stand alone without a length
		case marker == 0xD9:
			return h, fmt.Errorf("%w: JPEG ends (EOI) before any image data", ErrCorrupt)
		}
		if i+2 > len(data) {
			return h, fmt.Errorf("%w: JPEG is truncated in a segment header", ErrCorrupt)
		}
		length := int(binary.BigEndian.Uint16(data[i:]))
		if length < 2 {
			return h, fmt.Errorf("%w: JPEG segment 0x%02X has invalid length %d", ErrCorrupt, marker, length)
		}
		if i+length > len(data) {
			return h, fmt.Errorf("%w: JPEG is truncated (segment 0x%02X runs past the end of the file)", ErrCorrupt, marker)
		}
		seg := data[i+2 : i+length]
		switch {
		case isSOF(marker):
			if sawSOF {
				return h, fmt.Errorf("%w: JPEG has more than one frame header (SOF)", ErrCorrupt)
			}
			sawSOF = true
			if len(seg) < 6 {
				return h, fmt.Errorf("%w: JPEG frame header (SOF) is too short", ErrCorrupt)
			}
			h.height = int(binary.BigEndian.Uint16(seg[1:]))
			h.width = int(binary.BigEndian.Uint16(seg[3:]))
			comps := int(seg[5])
			if comps == 0 || len(seg) < 6+3*comps {
				return h, fmt.Errorf("%w: JPEG frame header (SOF) declares %d components in %d bytes", ErrCorrupt, comps, len(seg))
			}
			// Progressive frames: SOF2, SOF6 (differential), SOF10 and SOF14 (arithmetic).
			h.progressive = marker == 0xC2 || marker == 0xC6 || marker == 0xCA || marker == 0xCE
			h.planes = samplePlanes(seg[6 : 6+3*comps])
			if h.width == 0 || h.height == 0 {
				// Height 0 is legal only with a DNL marker, which neither libjpeg nor Go supports.
				return h, fmt.Errorf("%w: JPEG declares a %dx%d image", ErrCorrupt, h.width, h.height)
			}
		case marker == 0xE1 && !sawExif && bytes.HasPrefix(seg, []byte("Exif\x00\x00")):
			sawExif = true
			h.orientation = exifOrientation(seg[6:])
		case marker == 0xDA: // SOS: the entropy-coded data follows
			if !sawSOF {
				return h, fmt.Errorf("%w: JPEG has image data (SOS) before a frame header (SOF)", ErrCorrupt)
			}
			scan := i + length
			h.structure = func() error {
				// Searching backward skips trailing junk (some cameras append data after EOI).
				if bytes.LastIndex(data[scan:], []byte{0xFF, 0xD9}) < 0 {
					return fmt.Errorf("%w: JPEG is truncated (no end-of-image marker after the image data)", ErrCorrupt)
				}
				return nil
			}
			return h, nil
		}
		i += length
	}
	return h, fmt.Errorf("%w: JPEG has more than %d segments before the image data", ErrCorrupt, maxJPEGMarkers)
}

// isSOF reports whether marker is a start-of-frame marker; C4 (DHT), C8 (JPG) and CC (DAC)
// share the range but are not frames.
func isSOF(marker byte) bool {
	return marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC
}

// samplePlanes reads the components of a SOF segment (id, sampling factors, table; 3 bytes
// each) and returns how many full-resolution planes they add up to: each component has
// (h*v)/(hmax*vmax) of the image's samples. Invalid factors (0) count as full planes.
func samplePlanes(comps []byte) float64 {
	hmax, vmax := 1, 1
	for i := 0; i+2 < len(comps); i += 3 {
		hmax = max(hmax, int(comps[i+1]>>4))
		vmax = max(vmax, int(comps[i+1]&0x0F))
	}
	planes := 0.0
	for i := 0; i+2 < len(comps); i += 3 {
		h, v := int(comps[i+1]>>4), int(comps[i+1]&0x0F)
		if h == 0 || v == 0 {
			planes++
			continue
		}
		planes += float64(h*v) / float64(hmax*vmax)
	}
	return planes
}
