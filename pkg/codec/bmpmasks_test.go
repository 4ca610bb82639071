package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/facectl/facectl/pkg/imagecheck"
)

// v5BMP rewrites a 40-byte-header BMP (without colour table or masks) as one with a
// 124-byte V5 header carrying masks (red, green, blue) inside it, as image editors write
// RGB565 files.
func v5BMP(info []byte, masks []byte) []byte {
	le := binary.LittleEndian
	ext := make([]byte, 124-40)
	copy(ext, masks)
	out := append(append(append([]byte{}, info[:14+40]...), ext...), info[14+40:]...)
	le.PutUint32(out[14:], 124)
	le.PutUint32(out[2:], uint32(len(out)))
	le.PutUint32(out[10:], le.Uint32(info[10:])+uint32(len(ext)))
	return out
}

func masks(r, g, b uint32) []byte {
	m := binary.LittleEndian.AppendUint32(nil, r)
	m = binary.LittleEndian.AppendUint32(m, g)
	return binary.LittleEndian.AppendUint32(m, b)
}

// TestBMPBitfieldMasks: a V5 RGB565 BMP used to be 422 corrupt_image (its masks were looked
// for after the header, as imgcodecs does) and 32-bit BI_BITFIELDS files had their masks
// ignored (wrong colours). Masks inside V2+ headers are read now, and masks the decoder does
// not lay out like imgcodecs are refused as unsupported (415), never guessed.
func TestBMPBitfieldMasks(t *testing.T) {
	w, h := 13, 7
	pitch16 := (w*2 + 3) &^ 3
	pix16 := bytes.Repeat([]byte{0x1f, 0xf8, 0xe0, 0x07}, pitch16*h/4) // blue, red, green in 565
	pix32 := bytes.Repeat([]byte{10, 20, 30, 40}, w*h)
	plain565 := bmpFile(w, h, 16, bmpBitfields, false, masks(0xf800, 0x7e0, 0x1f), pix16)

	want, err := Decode(plain565, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	got, err := Decode(v5BMP(bmpFile(w, h, 16, bmpBitfields, false, nil, pix16), masks(0xf800, 0x7e0, 0x1f)), 1)
	if err != nil {
		t.Fatalf("V5 RGB565: %v", err)
	}
	defer got.Close()
	if !bytes.Equal(got.ToBytes(), want.ToBytes()) {
		t.Error("V5 RGB565 decodes to other pixels than the same image with a 40-byte header")
	}

	std, err := Decode(bmpFile(w, h, 32, bmpBitfields, false, masks(0xff0000, 0xff00, 0xff), pix32), 1)
	if err != nil {
		t.Fatalf("32-bit BI_BITFIELDS with the usual masks: %v", err)
	}
	std.Close()

	for name, file := range map[string][]byte{
		"32-bit RGBX masks":   bmpFile(w, h, 32, bmpBitfields, false, masks(0xff000000, 0xff0000, 0xff00), pix32),
		"32-bit V5 BGR masks": v5BMP(bmpFile(w, h, 32, bmpBitfields, false, nil, pix32), masks(0xff, 0xff00, 0xff0000)),
		"16-bit 444 masks":    bmpFile(w, h, 16, bmpBitfields, false, masks(0xf00, 0xf0, 0xf), pix16),
	} {
		m, err := Decode(file, 1)
		if err == nil {
			m.Close()
		}
		if !errors.Is(err, imagecheck.ErrUnsupported) {
			t.Errorf("%s: %v, want unsupported", name, err)
		}
	}
}
