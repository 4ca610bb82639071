package imagecheck

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/facectl/facectl/internal/testenv"
)

var sentinels = []error{ErrEmpty, ErrUnsupported, ErrTooLarge, ErrTooManyPixels, ErrCorrupt}

// matchedSentinels lists the sentinels err wraps; the contract is exactly one.
func matchedSentinels(err error) []error {
	var out []error
	for _, s := range sentinels {
		if errors.Is(err, s) {
			out = append(out, s)
		}
	}
	return out
}

func testImage(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.NRGBA{uint8(x * 7), uint8(y * 5), uint8(x ^ y), 255})
		}
	}
	return img
}

func encodeJPEG(t testing.TB, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, testImage(w, h), &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// exifTIFF builds a TIFF block with IFD0 holding a dummy tag and the orientation tag.
func exifTIFF(bo binary.ByteOrder, orientation uint32, typ uint16) []byte {
	b := make([]byte, 8+2+2*12+4)
	if bo == binary.LittleEndian {
		copy(b, "II")
	} else {
		copy(b, "MM")
	}
	bo.PutUint16(b[2:], 42)
	bo.PutUint32(b[4:], 8)
	bo.PutUint16(b[8:], 2)
	e := b[10:]
	bo.PutUint16(e[0:], 0x010F) // Make, ASCII, pointing nowhere in particular
	bo.PutUint16(e[2:], 2)
	bo.PutUint32(e[4:], 4)
	copy(e[8:], "Go\x00\x00")
	e = b[22:]
	bo.PutUint16(e[0:], 0x0112)
	bo.PutUint16(e[2:], typ)
	bo.PutUint32(e[4:], 1)
	if typ == 4 {
		bo.PutUint32(e[8:], orientation)
	} else {
		bo.PutUint16(e[8:], uint16(orientation))
	}
	return b
}

// withAPP1 inserts an APP1 Exif segment holding tiff right after SOI.
func withAPP1(jpg, tiff []byte) []byte {
	payload := append([]byte("Exif\x00\x00"), tiff...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	out := append([]byte{}, jpg[:2]...)
	out = append(out, seg...)
	out = append(out, payload...)
	return append(out, jpg[2:]...)
}

func riffChunk(fourcc string, payload []byte) []byte {
	b := append([]byte(fourcc), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(payload)))
	b = append(b, payload...)
	if len(payload)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

func riff(chunks ...[]byte) []byte {
	body := []byte("WEBP")
	for _, c := range chunks {
		body = append(body, c...)
	}
	b := append([]byte("RIFF"), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(body)))
	return append(b, body...)
}

func vp8x(flags byte, w, h int) []byte {
	p := make([]byte, 10)
	p[0] = flags
	w--
	h--
	p[4], p[5], p[6] = byte(w), byte(w>>8), byte(w>>16)
	p[7], p[8], p[9] = byte(h), byte(h>>8), byte(h>>16)
	return riffChunk("VP8X", p)
}

// vp8lChunk is a VP8L header only; Inspect does not read the bitstream after it.
func vp8lChunk(w, h int) []byte {
	p := make([]byte, 5, 16)
	p[0] = 0x2F
	binary.LittleEndian.PutUint32(p[1:], uint32(w-1)|uint32(h-1)<<14)
	return riffChunk("VP8L", append(p, make([]byte, 11)...))
}

// makeBMP writes a BITMAPINFOHEADER bitmap; pixelBytes overrides the pixel data length when >= 0.
func makeBMP(w, h int32, bits uint16, pixelBytes int) []byte {
	absH := h
	if absH < 0 {
		absH = -absH
	}
	stride := (int(w)*int(bits) + 31) / 32 * 4
	if pixelBytes < 0 {
		pixelBytes = stride * int(absH)
	}
	palette := 0
	if bits <= 8 {
		palette = 4 << bits
	}
	off := 14 + 40 + palette
	b := make([]byte, off+pixelBytes)
	copy(b, "BM")
	binary.LittleEndian.PutUint32(b[2:], uint32(len(b)))
	binary.LittleEndian.PutUint32(b[10:], uint32(off))
	binary.LittleEndian.PutUint32(b[14:], 40)
	binary.LittleEndian.PutUint32(b[18:], uint32(w))
	binary.LittleEndian.PutUint32(b[22:], uint32(h))
	binary.LittleEndian.PutUint16(b[26:], 1)
	binary.LittleEndian.PutUint16(b[28:], bits)
	return b
}

// pngWithIHDR builds a PNG with the given IHDR fields, a tiny IDAT and IEND, all with valid CRCs.
func pngWithIHDR(w, h uint32, depth, colour byte) []byte {
	chunk := func(typ string, data []byte) []byte {
		b := make([]byte, 4, 12+len(data))
		binary.BigEndian.PutUint32(b, uint32(len(data)))
		b = append(b, typ...)
		b = append(b, data...)
		return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[4:]))
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = depth, colour
	b := append([]byte{}, magicPNG...)
	b = append(b, chunk("IHDR", ihdr)...)
	b = append(b, chunk("IDAT", []byte{0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})...)
	return append(b, chunk("IEND", nil)...)
}

func TestInspectFormats(t *testing.T) {
	gray16 := image.NewGray16(image.Rect(0, 0, 5, 300))
	paletted := image.NewPaletted(image.Rect(0, 0, 640, 1), color.Palette{color.Black, color.White})
	tests := []struct {
		name string
		data []byte
		want Info
	}{
		{"jpeg baseline", encodeJPEG(t, 64, 48), Info{Format: JPEG, Width: 64, Height: 48, Orientation: 1}},
		{"jpeg 1x1", encodeJPEG(t, 1, 1), Info{Format: JPEG, Width: 1, Height: 1, Orientation: 1}},
		{"jpeg odd size", encodeJPEG(t, 333, 17), Info{Format: JPEG, Width: 333, Height: 17, Orientation: 1}},
		{"jpeg progressive (imagemagick)", readTestdata(t, "progressive.jpg"), Info{Format: JPEG, Width: 37, Height: 23, Orientation: 1}},
		{"jpeg trailing junk after EOI", append(encodeJPEG(t, 20, 10), "junk after the end"...), Info{Format: JPEG, Width: 20, Height: 10, Orientation: 1}},
		{"png rgba", encodePNG(t, testImage(70, 30)), Info{Format: PNG, Width: 70, Height: 30, Orientation: 1}},
		{"png gray16", encodePNG(t, gray16), Info{Format: PNG, Width: 5, Height: 300, Orientation: 1}},
		{"png paletted 1-bit", encodePNG(t, paletted), Info{Format: PNG, Width: 640, Height: 1, Orientation: 1}},
		{"png trailing junk after IEND", append(encodePNG(t, testImage(3, 4)), 0, 1, 2), Info{Format: PNG, Width: 3, Height: 4, Orientation: 1}},
		{"webp lossy VP8 (imagemagick)", readTestdata(t, "lossy.webp"), Info{Format: WebP, Width: 37, Height: 23, Orientation: 1}},
		{"webp lossless VP8L (imagemagick)", readTestdata(t, "lossless.webp"), Info{Format: WebP, Width: 37, Height: 23, Orientation: 1, Lossless: true}},
		{"webp alpha VP8X (imagemagick)", readTestdata(t, "alpha.webp"), Info{Format: WebP, Width: 37, Height: 23, Orientation: 1}},
		{"webp VP8X with lossy VP8 then VP8L", riff(vp8x(0, 37, 23), riffChunk("VP8 ", readTestdata(t, "lossy.webp")[20:]), vp8lChunk(37, 23)), Info{Format: WebP, Width: 37, Height: 23, Orientation: 1}},
		{"webp VP8L max width", riff(vp8lChunk(16384, 3000)), Info{Format: WebP, Width: 16384, Height: 3000, Orientation: 1, Lossless: true}},
		{"webp VP8X canvas", riff(vp8x(0, 300, 200), vp8lChunk(300, 200)), Info{Format: WebP, Width: 300, Height: 200, Orientation: 1, Lossless: true}},
		{"bmp v3 bottom-up (imagemagick)", readTestdata(t, "v3.bmp"), Info{Format: BMP, Width: 37, Height: 23, Orientation: 1}},
		{"bmp v5 (imagemagick)", readTestdata(t, "v5.bmp"), Info{Format: BMP, Width: 37, Height: 23, Orientation: 1}},
		{"bmp os2 core header (imagemagick)", readTestdata(t, "os2.bmp"), Info{Format: BMP, Width: 37, Height: 23, Orientation: 1}},
		{"bmp 4-bit palette (imagemagick)", readTestdata(t, "palette.bmp"), Info{Format: BMP, Width: 37, Height: 23, Orientation: 1}},
		{"bmp rle8 (imagemagick)", readTestdata(t, "rle8.bmp"), Info{Format: BMP, Width: 37, Height: 23, Orientation: 1}},
		{"bmp top-down", makeBMP(13, -7, 24, -1), Info{Format: BMP, Width: 13, Height: 7, Orientation: 1}},
		{"bmp 1-bit", makeBMP(33, 2, 1, -1), Info{Format: BMP, Width: 33, Height: 2, Orientation: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Inspect(tt.data, DefaultLimits())
			if err != nil {
				t.Fatalf("Inspect: %v", err)
			}
			got.Progressive, got.Planes = false, 0 // TestInspectJPEGLayout checks them
			if got != tt.want {
				t.Fatalf("Inspect = %+v, want %+v", got, tt.want)
			}
			f, err := Sniff(tt.data)
			if err != nil || f != tt.want.Format {
				t.Fatalf("Sniff = %q, %v; want %q", f, err, tt.want.Format)
			}
			// Cross-check with the standard library wherever it has a decoder.
			if f == JPEG || f == PNG {
				cfg, _, err := image.DecodeConfig(bytes.NewReader(tt.data))
				if err != nil {
					t.Fatalf("image.DecodeConfig: %v", err)
				}
				if cfg.Width != got.Width || cfg.Height != got.Height {
					t.Fatalf("image.DecodeConfig says %dx%d, Inspect %dx%d", cfg.Width, cfg.Height, got.Width, got.Height)
				}
			}
		})
	}
}

func TestInspectOrientation(t *testing.T) {
	jpg := encodeJPEG(t, 40, 30)
	orders := []struct {
		name string
		bo   binary.ByteOrder
	}{{"little-endian", binary.LittleEndian}, {"big-endian", binary.BigEndian}}
	for _, o := range orders {
		for orient := 1; orient <= 8; orient++ {
			tiff := exifTIFF(o.bo, uint32(orient), 3)
			wantW, wantH := 40, 30
			if orient >= 5 {
				wantW, wantH = 30, 40
			}
			inputs := map[string][]byte{
				"jpeg":                     withAPP1(jpg, tiff),
				"webp EXIF chunk":          riff(vp8x(0x08, 40, 30), vp8lChunk(40, 30), riffChunk("EXIF", tiff)),
				"webp EXIF chunk + Exif00": riff(vp8x(0x08, 40, 30), vp8lChunk(40, 30), riffChunk("EXIF", append([]byte("Exif\x00\x00"), tiff...))),
			}
			for kind, data := range inputs {
				t.Run(kind+"/"+o.name+"/"+string(rune('0'+orient)), func(t *testing.T) {
					info, err := Inspect(data, DefaultLimits())
					if err != nil {
						t.Fatalf("Inspect: %v", err)
					}
					if info.Orientation != orient || info.Width != 40 || info.Height != 30 {
						t.Fatalf("Inspect = %+v, want 40x30 orientation %d", info, orient)
					}
					if w, h := info.DisplaySize(); w != wantW || h != wantH {
						t.Fatalf("DisplaySize = %dx%d, want %dx%d", w, h, wantW, wantH)
					}
				})
			}
		}
	}

	// The JPEG produced with APP1 must still be decodable, proving the test input is realistic.
	if _, err := jpeg.Decode(bytes.NewReader(withAPP1(jpg, exifTIFF(binary.BigEndian, 6, 3)))); err != nil {
		t.Fatalf("jpeg.Decode of the EXIF test file: %v", err)
	}

	invalid := map[string][]byte{
		"orientation 0":          exifTIFF(binary.LittleEndian, 0, 3),
		"orientation 9":          exifTIFF(binary.BigEndian, 9, 3),
		"orientation as LONG 6":  exifTIFF(binary.BigEndian, 6, 4), // tolerated: gives 6
		"wrong type (ASCII)":     exifTIFF(binary.LittleEndian, 6, 2),
		"bad byte order":         append([]byte("XX"), exifTIFF(binary.LittleEndian, 6, 3)[2:]...),
		"bad magic":              append([]byte("II\x2B\x00"), exifTIFF(binary.LittleEndian, 6, 3)[4:]...),
		"truncated IFD":          exifTIFF(binary.LittleEndian, 6, 3)[:20],
		"IFD offset out of file": append([]byte("II\x2A\x00\xFF\xFF\xFF\x7F"), make([]byte, 20)...),
	}
	for name, tiff := range invalid {
		t.Run("invalid/"+name, func(t *testing.T) {
			want := 1
			if name == "orientation as LONG 6" {
				want = 6
			}
			info, err := Inspect(withAPP1(jpg, tiff), DefaultLimits())
			if err != nil {
				t.Fatalf("Inspect: %v", err)
			}
			if info.Orientation != want {
				t.Fatalf("Orientation = %d, want %d", info.Orientation, want)
			}
		})
	}
}

func TestInspectErrors(t *testing.T) {
	jpg := encodeJPEG(t, 64, 48)
	pngData := encodePNG(t, testImage(64, 48))
	iend := bytes.LastIndex(pngData, []byte("IEND")) - 4
	sos := bytes.Index(jpg, []byte{0xFF, 0xDA})
	badCRC := append([]byte{}, pngData...)
	badCRC[20] ^= 1 // inside the IHDR width
	lossy := readTestdata(t, "lossy.webp")

	tests := []struct {
		name    string
		data    []byte
		lim     Limits
		want    error
		message string // substring of err.Error()
	}{
		{"empty", nil, DefaultLimits(), ErrEmpty, "no bytes"},
		{"empty slice", []byte{}, DefaultLimits(), ErrEmpty, "no bytes"},
		{"over MaxBytes", jpg, Limits{MaxBytes: 100}, ErrTooLarge, "limit"},
		{"text", []byte("hello, this is just a note\nwith two lines\n"), DefaultLimits(), ErrUnsupported, "not an image (this looks like a text file)"},
		{"text starting with BM", []byte("BMW is a car brand, not a bitmap\n"), DefaultLimits(), ErrUnsupported, "not an image"},
		{"utf-8 text", []byte("Grüße aus Köln — ✓"), DefaultLimits(), ErrUnsupported, "text file"},
		{"svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>`), DefaultLimits(), ErrUnsupported, "SVG images are not supported"},
		{"svg with xml prolog and BOM", []byte("\xEF\xBB\xBF<?xml version=\"1.0\"?>\n<!-- x -->\n<svg></svg>"), DefaultLimits(), ErrUnsupported, "SVG images are not supported"},
		{"xml", []byte(`<?xml version="1.0"?><feed></feed>`), DefaultLimits(), ErrUnsupported, "XML document"},
		{"html", []byte("  <!DOCTYPE html><html><body>hi</body></html>"), DefaultLimits(), ErrUnsupported, "HTML document"},
		{"tiff little-endian (imagemagick)", readTestdata(t, "tiff-le.tif"), DefaultLimits(), ErrUnsupported, "TIFF images are not supported"},
		{"tiff big-endian (imagemagick)", readTestdata(t, "tiff-be.tif"), DefaultLimits(), ErrUnsupported, "TIFF images are not supported"},
		{"gif (imagemagick)", readTestdata(t, "gif.gif"), DefaultLimits(), ErrUnsupported, "GIF images are not supported"},
		{"heic (imagemagick)", readTestdata(t, "heic.heic"), DefaultLimits(), ErrUnsupported, "HEIC/HEIF images are not supported"},
		{"avif (imagemagick)", readTestdata(t, "avif.avif"), DefaultLimits(), ErrUnsupported, "AVIF images are not supported"},
		{"mp4", []byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"), DefaultLimits(), ErrUnsupported, `ftyp brand "mp42"`},
		{"pdf", []byte("%PDF-1.7\n%\xE2\xE3\xCF\xD3\n1 0 obj\n"), DefaultLimits(), ErrUnsupported, "PDF documents are not supported"},
		{"zip", []byte("PK\x03\x04\x14\x00\x00\x00\x08\x00"), DefaultLimits(), ErrUnsupported, "ZIP archives are not supported"},
		{"ico", []byte("\x00\x00\x01\x00\x01\x00\x10\x10\x00\x00"), DefaultLimits(), ErrUnsupported, "ICO icons are not supported"},
		{"wav", []byte("RIFF\x24\x00\x00\x00WAVEfmt "), DefaultLimits(), ErrUnsupported, `RIFF "WAVE"`},
		{"binary garbage", []byte{0x00, 0x13, 0x37, 0xFE, 0x80, 0x01}, DefaultLimits(), ErrUnsupported, "unrecognised file format"},
		{"animated webp", riff(vp8x(0x02, 10, 10), riffChunk("ANIM", make([]byte, 6))), DefaultLimits(), ErrUnsupported, "animated WebP"},

		{"jpeg truncated in scan data", jpg[:len(jpg)/2+sos/2], DefaultLimits(), ErrCorrupt, "truncated"},
		{"jpeg truncated before EOI", jpg[:len(jpg)-2], DefaultLimits(), ErrCorrupt, "no end-of-image marker"},
		{"jpeg truncated in headers", jpg[:40], DefaultLimits(), ErrCorrupt, "truncated"},
		{"jpeg SOI only", []byte{0xFF, 0xD8, 0xFF}, DefaultLimits(), ErrCorrupt, "truncated"},
		{"jpeg EOI before frame", []byte{0xFF, 0xD8, 0xFF, 0xD9}, DefaultLimits(), ErrCorrupt, "before any image data"},
		{"jpeg SOS before SOF", []byte{0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02, 0xFF, 0xD9}, DefaultLimits(), ErrCorrupt, "before a frame header"},
		{"jpeg zero height", jpegWithSize(t, jpg, 64, 0), DefaultLimits(), ErrCorrupt, "64x0"},
		{"jpeg segment length 0", []byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x00}, DefaultLimits(), ErrCorrupt, "invalid length"},

		{"png truncated mid-IDAT", pngData[:len(pngData)/2], DefaultLimits(), ErrCorrupt, "truncated"},
		{"png missing IEND", pngData[:iend], DefaultLimits(), ErrCorrupt, "no IEND"},
		{"png truncated in IHDR", pngData[:20], DefaultLimits(), ErrCorrupt, "truncated"},
		{"png IHDR CRC mismatch", badCRC, DefaultLimits(), ErrCorrupt, "checksum"},
		{"png zero width", pngWithIHDR(0, 10, 8, 2), DefaultLimits(), ErrCorrupt, "0x10"},
		{"png bad depth", pngWithIHDR(10, 10, 3, 2), DefaultLimits(), ErrCorrupt, "bit depth"},
		{"png width over 2^31-1", pngWithIHDR(1<<31, 1, 8, 0), Limits{}, ErrCorrupt, "2147483648x1"},

		{"webp RIFF size past end", lossy[:len(lossy)-10], DefaultLimits(), ErrCorrupt, "truncated"},
		{"webp RIFF header only", []byte("RIFF\x04\x00\x00\x00WEBP"), DefaultLimits(), ErrCorrupt, "no image chunk"},
		{"webp RIFF size too small", []byte("RIFF\x00\x00\x00\x00WEBPVP8 "), DefaultLimits(), ErrCorrupt, "invalid size"},
		{"webp VP8X without image", riff(vp8x(0, 10, 10)), DefaultLimits(), ErrCorrupt, "no image data"},
		{"webp unknown first chunk", riff(riffChunk("JUNK", []byte{1, 2})), DefaultLimits(), ErrCorrupt, "unknown chunk"},
		// An odd-sized last chunk without its pad byte once risked slicing past the end.
		{"webp odd VP8X without pad", []byte("RIFF\x17\x00\x00\x00WEBPVP8X\x0B\x00\x00\x00\x00\x00\x00\x00\x09\x00\x00\x09\x00\x00\x00"), DefaultLimits(), ErrCorrupt, "no image data"},
		{"webp VP8 bad start code", riff(riffChunk("VP8 ", make([]byte, 10))), DefaultLimits(), ErrCorrupt, "VP8 frame header"},

		{"bmp truncated pixels", makeBMP(100, 100, 24, 100*300-1), DefaultLimits(), ErrCorrupt, "truncated"},
		{"bmp offset past end", makeBMP(10, 10, 24, 0), DefaultLimits(), ErrCorrupt, "truncated"},
		{"bmp zero width", makeBMP(0, 10, 24, -1), DefaultLimits(), ErrCorrupt, "0x10"},
		{"bmp bad depth", makeBMP(10, 10, 7, 40), DefaultLimits(), ErrCorrupt, "bit depth"},
		{"bmp header cut", readTestdata(t, "v3.bmp")[:30], DefaultLimits(), ErrCorrupt, "truncated"},

		{"png bomb 100000x100000", pngWithIHDR(100000, 100000, 8, 6), DefaultLimits(), ErrTooManyPixels, "100000x100000 = 10000.0 MP exceeds the 50.0 MP limit"},
		{"jpeg 65535x65535", jpegWithSize(t, jpg, 65535, 65535), DefaultLimits(), ErrTooManyPixels, "65535x65535 = 4294.8 MP exceeds the 50.0 MP limit"},
		{"webp VP8X 16Mx16M", riff(vp8x(0, 1<<24, 1<<24), vp8lChunk(1, 1)), DefaultLimits(), ErrTooManyPixels, "16777216x16777216"},
		{"bmp 2^31-1 square, tiny file", makeBMP(1<<31-1, -(1<<31 - 1), 32, 0), DefaultLimits(), ErrTooManyPixels, "2147483647x2147483647"},
		{"just over a custom limit", encodePNG(t, testImage(101, 100)), Limits{MaxPixels: 10_000}, ErrTooManyPixels, "101x100 = 0.0 MP exceeds the 0.0 MP limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := Inspect(tt.data, tt.lim)
			if err == nil {
				t.Fatalf("Inspect = %+v, want error %v", info, tt.want)
			}
			if got := matchedSentinels(err); len(got) != 1 || got[0] != tt.want {
				t.Fatalf("Inspect error %q wraps %v, want exactly %v", err, got, tt.want)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("Inspect error %q does not mention %q", err, tt.message)
			}
			if info != (Info{}) {
				t.Fatalf("Inspect returned %+v with an error", info)
			}
		})
	}
}

// jpegWithSize rewrites the SOF0 dimensions of a JPEG made by image/jpeg.
func jpegWithSize(t *testing.T, jpg []byte, w, h uint16) []byte {
	t.Helper()
	out := append([]byte{}, jpg...)
	i := bytes.Index(out, []byte{0xFF, 0xC0})
	if i < 0 {
		t.Fatal("no SOF0 in test JPEG")
	}
	binary.BigEndian.PutUint16(out[i+5:], h)
	binary.BigEndian.PutUint16(out[i+7:], w)
	return out
}

// TestPixelBombDoesNotAllocate runs sequentially so the global allocation counter sees only Inspect.
func TestPixelBombDoesNotAllocate(t *testing.T) {
	bomb := pngWithIHDR(100000, 100000, 16, 6) // 80 GB once decoded
	const runs = 100
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range runs {
		if _, err := Inspect(bomb, DefaultLimits()); !errors.Is(err, ErrTooManyPixels) {
			t.Fatalf("Inspect(bomb) = %v, want ErrTooManyPixels", err)
		}
	}
	runtime.ReadMemStats(&after)
	// The error message is the only allocation; a few hundred bytes a call.
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 4096 {
		t.Fatalf("Inspect allocated %d bytes per call on a pixel bomb, want <= 4096", per)
	}
	// With no pixel limit the bomb is accepted, still without decoding.
	info, err := Inspect(bomb, Limits{})
	if err != nil || info.Width != 100000 || info.Height != 100000 {
		t.Fatalf("Inspect(bomb, no limits) = %+v, %v", info, err)
	}
}

func TestReadLimited(t *testing.T) {
	data := bytes.Repeat([]byte{0xAB}, 3*1024*1024)
	tests := []struct {
		name    string
		n       int
		max     int64
		wantErr error
		message string
	}{
		{"under the limit", 10, 100, nil, ""},
		{"exactly the limit", 2 * 1024 * 1024, 2 * 1024 * 1024, nil, ""},
		{"limit plus one", 2*1024*1024 + 1, 2 * 1024 * 1024, ErrTooLarge, "exceeds the 2 MiB limit"},
		{"far over the limit", 3 * 1024 * 1024, 1024 * 1024, ErrTooLarge, "1 MiB limit"},
		{"fractional limit", 1001, 1000, ErrTooLarge, "0.00 MiB (1000 bytes)"},
		{"unlimited", 3 * 1024 * 1024, 0, nil, ""},
		{"empty input", 0, 10, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// OneByteReader makes the reader return short reads, as network bodies do.
			got, err := ReadLimited(iotest.OneByteReader(bytes.NewReader(data[:tt.n])), tt.max)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("ReadLimited: %v", err)
				}
				if len(got) != tt.n {
					t.Fatalf("ReadLimited returned %d bytes, want %d", len(got), tt.n)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("ReadLimited error = %v, want %v mentioning %q", err, tt.wantErr, tt.message)
			}
		})
	}

	t.Run("stops reading after max+1", func(t *testing.T) {
		r := &countingReader{r: bytes.NewReader(data)}
		if _, err := ReadLimited(r, 1000); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("ReadLimited error = %v, want ErrTooLarge", err)
		}
		if r.n > 1001 {
			t.Fatalf("ReadLimited consumed %d bytes, want at most 1001", r.n)
		}
	})
	t.Run("reader error is wrapped", func(t *testing.T) {
		boom := errors.New("connection reset")
		_, err := ReadLimited(io.MultiReader(bytes.NewReader([]byte("abc")), iotest.ErrReader(boom)), 100)
		if !errors.Is(err, boom) || len(matchedSentinels(err)) != 0 {
			t.Fatalf("ReadLimited error = %v, want the reader's error", err)
		}
	})
	t.Run("negative max", func(t *testing.T) {
		if _, err := ReadLimited(bytes.NewReader(nil), -1); err == nil {
			t.Fatal("ReadLimited(-1) succeeded")
		}
	})
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestLimitsValidate(t *testing.T) {
	if err := DefaultLimits().Validate(); err != nil {
		t.Fatalf("DefaultLimits().Validate() = %v", err)
	}
	if d := DefaultLimits(); d.MaxBytes != 50<<20 || d.MaxPixels != 50_000_000 {
		t.Fatalf("DefaultLimits() = %+v", d)
	}
	if err := (Limits{}).Validate(); err != nil {
		t.Fatalf("zero Limits.Validate() = %v", err)
	}
	err := Limits{MaxBytes: -1, MaxPixels: -2}.Validate()
	if err == nil || !strings.Contains(err.Error(), "MaxBytes") || !strings.Contains(err.Error(), "MaxPixels") {
		t.Fatalf("Validate() = %v, want both fields reported", err)
	}
	if _, err := Inspect(encodeJPEG(t, 8, 8), Limits{MaxPixels: -1}); err == nil {
		t.Fatal("Inspect accepted negative limits")
	}
}

func TestMIME(t *testing.T) {
	for _, f := range []Format{JPEG, PNG, WebP, BMP} {
		got, ok := FormatFromMIME(f.MIME())
		if !ok || got != f {
			t.Errorf("FormatFromMIME(%q) = %q, %v; want %q", f.MIME(), got, ok, f)
		}
	}
	tests := []struct {
		in   string
		want Format
		ok   bool
	}{
		{"image/jpeg", JPEG, true},
		{"IMAGE/JPEG; charset=binary", JPEG, true},
		{" image/jpg ", JPEG, true},
		{"image/pjpeg", JPEG, true},
		{"image/png;q=1", PNG, true},
		{"image/x-png", PNG, true},
		{"image/webp", WebP, true},
		{"image/x-ms-bmp", BMP, true},
		{"image/gif", "", false},
		{"image/svg+xml", "", false},
		{"application/octet-stream", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := FormatFromMIME(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("FormatFromMIME(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	if got := Format("tiff").MIME(); got != "application/octet-stream" {
		t.Errorf("unknown MIME = %q", got)
	}
}

func TestDisplaySize(t *testing.T) {
	for o := -1; o <= 10; o++ {
		w, h := Info{Width: 4, Height: 3, Orientation: o}.DisplaySize()
		swapped := o >= 5 && o <= 8
		if swapped && (w != 3 || h != 4) || !swapped && (w != 4 || h != 3) {
			t.Errorf("orientation %d: DisplaySize = %dx%d", o, w, h)
		}
	}
}

// sharedPhotos returns the paths of the shared test photos.
func sharedPhotos(t testing.TB) []string {
	var paths []string
	for _, p := range testenv.Photos(t) {
		paths = append(paths, p.Path)
	}
	return paths
}

func TestSharedPhotos(t *testing.T) {
	for _, path := range sharedPhotos(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			info, err := Inspect(data, DefaultLimits())
			if err != nil {
				t.Fatalf("Inspect: %v", err)
			}
			cfg, name, err := image.DecodeConfig(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("image.DecodeConfig: %v", err)
			}
			if string(info.Format) != name || info.Width != cfg.Width || info.Height != cfg.Height {
				t.Fatalf("Inspect = %s %dx%d, image.DecodeConfig = %s %dx%d", info.Format, info.Width, info.Height, name, cfg.Width, cfg.Height)
			}
		})
	}
}

func FuzzInspect(f *testing.F) {
	seeds := [][]byte{
		encodeJPEG(f, 16, 9),
		withAPP1(encodeJPEG(f, 8, 8), exifTIFF(binary.BigEndian, 6, 3)),
		encodePNG(f, testImage(5, 7)),
		pngWithIHDR(100000, 100000, 8, 6),
		riff(vp8x(0x08, 40, 30), vp8lChunk(40, 30), riffChunk("EXIF", exifTIFF(binary.LittleEndian, 8, 3))),
		makeBMP(13, -7, 24, -1),
		[]byte("<svg></svg>"),
	}
	for _, name := range []string{"lossy.webp", "lossless.webp", "alpha.webp", "progressive.jpg", "v3.bmp", "v5.bmp", "os2.bmp", "rle8.bmp", "gif.gif", "tiff-le.tif", "heic.heic"} {
		seeds = append(seeds, readTestdata(f, name))
	}
	for _, p := range sharedPhotos(f) {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, data)
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, lim := range []Limits{DefaultLimits(), {}, {MaxBytes: 4096, MaxPixels: 10_000}} {
			info, err := Inspect(data, lim)
			if err != nil {
				if got := matchedSentinels(err); len(got) != 1 {
					t.Fatalf("error %q wraps %d sentinels, want 1", err, len(got))
				}
				if info != (Info{}) {
					t.Fatalf("Inspect returned %+v with error %v", info, err)
				}
				continue
			}
			if info.Width <= 0 || info.Height <= 0 {
				t.Fatalf("Inspect accepted a %dx%d image", info.Width, info.Height)
			}
			if lim.MaxPixels > 0 && int64(info.Width)*int64(info.Height) > lim.MaxPixels {
				t.Fatalf("Inspect accepted %dx%d over the %d pixel limit", info.Width, info.Height, lim.MaxPixels)
			}
			if lim.MaxBytes > 0 && int64(len(data)) > lim.MaxBytes {
				t.Fatalf("Inspect accepted %d bytes over the %d byte limit", len(data), lim.MaxBytes)
			}
			if info.Orientation < 1 || info.Orientation > 8 {
				t.Fatalf("Inspect returned orientation %d", info.Orientation)
			}
			if f, err := Sniff(data); err != nil || f != info.Format {
				t.Fatalf("Sniff = %q, %v but Inspect said %q", f, err, info.Format)
			}
		}
	})
}

func BenchmarkInspect(b *testing.B) {
	for _, path := range sharedPhotos(b) {
		data, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(filepath.Base(path), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Inspect(data, DefaultLimits()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestInspectJPEGLayout checks what decoding a JPEG costs as read from its frame header:
// progressive or not, and the sample planes (chroma subsampling).
func TestInspectJPEGLayout(t *testing.T) {
	sof := func(marker byte, comps ...byte) []byte {
		seg := []byte{8, 0, 16, 0, 16, byte(len(comps) / 3)}
		seg = append(seg, comps...)
		b := []byte{0xFF, 0xD8, 0xFF, marker, 0, byte(len(seg) + 2)}
		b = append(b, seg...)
		return append(b, 0xFF, 0xDA, 0, 2, 0xFF, 0xD9)
	}
	tests := []struct {
		name        string
		data        []byte
		progressive bool
		planes      float64
	}{
		{"baseline 4:2:0 (Go)", encodeJPEG(t, 64, 48), false, 1.5},
		{"progressive (imagemagick)", readTestdata(t, "progressive.jpg"), true, 0},
		{"progressive 4:4:4", sof(0xC2, 1, 0x11, 0, 2, 0x11, 1, 3, 0x11, 1), true, 3},
		{"baseline 4:2:2", sof(0xC0, 1, 0x21, 0, 2, 0x11, 1, 3, 0x11, 1), false, 2},
		{"grey", sof(0xC1, 1, 0x11, 0), false, 1},
		{"arithmetic progressive 4:2:0", sof(0xCA, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1), true, 1.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Inspect(tt.data, DefaultLimits())
			if err != nil {
				t.Fatalf("Inspect: %v", err)
			}
			if got.Progressive != tt.progressive || (tt.planes != 0 && got.Planes != tt.planes) || got.Planes == 0 {
				t.Errorf("Inspect = progressive %v, planes %v; want %v, %v", got.Progressive, got.Planes, tt.progressive, tt.planes)
			}
		})
	}
}
