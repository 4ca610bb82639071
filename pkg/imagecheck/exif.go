package imagecheck

import "encoding/binary"

// maxIFDEntries bounds the IFD0 scan; real files have a few dozen entries.
const maxIFDEntries = 1000

// exifOrientation reads tag 0x0112 (Orientation) from IFD0 of a TIFF-structured EXIF block
// (starting at the "II" or "MM" byte-order mark). Anything malformed yields 1, as viewers treat
// a broken orientation as absent rather than rejecting the image.
func exifOrientation(tiff []byte) int {
	if len(tiff) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(tiff[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 1
	}
	if bo.Uint16(tiff[2:]) != 42 {
		return 1
	}
	ifd := int64(bo.Uint32(tiff[4:]))
	if ifd < 8 || ifd+2 > int64(len(tiff)) {
		return 1
	}
	count := int(bo.Uint16(tiff[ifd:]))
	if count > maxIFDEntries {
		count = maxIFDEntries
	}
	for k := 0; k < count; k++ {
		e := ifd + 2 + int64(k)*12
		if e+12 > int64(len(tiff)) {
			return 1
		}
		entry := tiff[e : e+12]
		if bo.Uint16(entry) != 0x0112 {
			continue
		}
		var v uint32
		switch bo.Uint16(entry[2:]) {
		case 3: // SHORT, the type the standard prescribes
			v = uint32(bo.Uint16(entry[8:]))
		case 4: // LONG, written by a few tools
			v = bo.Uint32(entry[8:])
		default:
			return 1
		}
		if bo.Uint32(entry[4:]) < 1 || v < 1 || v > 8 {
			return 1
		}
		return int(v)
	}
	return 1
}
