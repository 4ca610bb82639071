package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"gocv.io/x/gocv"

	"github.com/facectl/facectl/internal/testenv"
	"github.com/facectl/facectl/pkg/imagecheck"
)

// sample is one encoded image and the scales to decode it at.
type sample struct {
	name   string
	data   []byte
	scales []int
}

var allScales = []int{1, 2, 4, 8}

// samples are the shared test photos, the fixtures in testdata (CMYK, grayscale and progressive
// JPEG; interlaced, 1-bit, palette, gray+alpha and 16-bit RGBA PNG) and images generated here
// in every other variant the decoders handle.
func samples(t *testing.T) []sample {
	t.Helper()
	var out []sample
	for _, dir := range []string{testenv.PhotoDir(t), "testdata"} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			ext := strings.ToLower(filepath.Ext(e.Name()))
			if ext != ".jpg" && ext != ".png" {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			s := sample{name: e.Name(), data: b, scales: []int{1}}
			if ext == ".jpg" {
				s.scales = allScales
			}
			out = append(out, s)
		}
	}
	if len(out) < 15 {
		t.Fatalf("found only %d sample files", len(out))
	}
	return append(append(out, generated(t)...), craftedBMPs()...)
}

// photo returns gocv_face.jpg resized to an odd size, as a BGR Mat the caller closes.
func photo(t testing.TB, w, h int) gocv.Mat {
	t.Helper()
	src, err := gocv.IMDecode(testenv.ReadPhoto(t, "gocv_face.jpg"), gocv.IMReadColor)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst := gocv.NewMat()
	gocv.Resize(src, &dst, image.Pt(w, h), 0, 0, gocv.InterpolationArea)
	return dst
}

func imencode(t *testing.T, ext gocv.FileExt, img gocv.Mat, params ...int) []byte {
	t.Helper()
	var buf *gocv.NativeByteBuffer
	var err error
	if len(params) == 0 { // IMEncodeWithParams indexes params[0]
		buf, err = gocv.IMEncode(ext, img)
	} else {
		buf, err = gocv.IMEncodeWithParams(ext, img, params)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer buf.Close()
	return bytes.Clone(buf.GetBytes())
}

func goPNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func generated(t *testing.T) []sample {
	bgr := photo(t, 123, 77)
	defer bgr.Close()
	gray, bgra, bgr16, bgra16 := gocv.NewMat(), gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
	defer gray.Close()
	defer bgra.Close()
	defer bgr16.Close()
	defer bgra16.Close()
	gocv.CvtColor(bgr, &gray, gocv.ColorBGRToGray)
	gocv.CvtColor(bgr, &bgra, gocv.ColorBGRToBGRA)
	// A varying alpha, so that a decoder that blends or premultiplies would show it.
	ch := gocv.Split(bgra)
	gocv.CvtColor(bgr, &gray, gocv.ColorBGRToGray)
	gray.CopyTo(&ch[3])
	gocv.Merge(ch, &bgra)
	for _, c := range ch {
		c.Close()
	}
	bgr.ConvertToWithParams(&bgr16, gocv.MatTypeCV16UC3, 257, 3)
	bgra.ConvertToWithParams(&bgra16, gocv.MatTypeCV16UC4, 257, 5)

	full := []int{1}
	out := []sample{
		{"generated.png", imencode(t, gocv.PNGFileExt, bgr), full},
		{"generated-gray.png", imencode(t, gocv.PNGFileExt, gray), full},
		{"generated-bgra.png", imencode(t, gocv.PNGFileExt, bgra), full},
		{"generated-16.png", imencode(t, gocv.PNGFileExt, bgr16), full},
		{"generated-bgra16.png", imencode(t, gocv.PNGFileExt, bgra16), full},
		{"generated.webp", imencode(t, gocv.FileExt(".webp"), bgr, gocv.IMWriteWebpQuality, 80), full},
		{"generated-lossless.webp", imencode(t, gocv.FileExt(".webp"), bgr, gocv.IMWriteWebpQuality, 101), full},
		{"generated-alpha.webp", imencode(t, gocv.FileExt(".webp"), bgra, gocv.IMWriteWebpQuality, 90), full},
		{"generated-alpha-lossless.webp", imencode(t, gocv.FileExt(".webp"), bgra, gocv.IMWriteWebpQuality, 101), full},
		{"generated.jpg", imencode(t, gocv.JPEGFileExt, bgr, gocv.IMWriteJpegQuality, 93), allScales},
		{"generated-gray.jpg", imencode(t, gocv.JPEGFileExt, gray, gocv.IMWriteJpegQuality, 70), allScales},
		{"generated.bmp", imencode(t, gocv.FileExt(".bmp"), bgr), full},
		{"generated-gray.bmp", imencode(t, gocv.FileExt(".bmp"), gray), full},
	}

	// Variants only Go's encoder writes: palettes with transparency, small palettes, 16-bit gray.
	rng := rand.New(rand.NewSource(1))
	pal := color.Palette{}
	for i := 0; i < 200; i++ {
		pal = append(pal, color.NRGBA{uint8(rng.Intn(256)), uint8(rng.Intn(256)), uint8(rng.Intn(256)), uint8(rng.Intn(256))})
	}
	for _, n := range []int{2, 4, 16, 200} {
		p := image.NewPaletted(image.Rect(0, 0, 37, 21), pal[:n])
		for i := range p.Pix {
			p.Pix[i] = uint8(rng.Intn(n))
		}
		out = append(out, sample{fmt.Sprintf("go-palette%d-trns.png", n), goPNG(t, p), full})
	}
	g16 := image.NewGray16(image.Rect(0, 0, 29, 17))
	for i := range g16.Pix {
		g16.Pix[i] = uint8(rng.Intn(256))
	}
	out = append(out, sample{"go-gray16.png", goPNG(t, g16), full})
	return out
}

// bmpFile assembles a BMP: a 40-byte info header (or the 12-byte OS/2 core header), then the
// palette or masks, then the given pixel bytes.
func bmpFile(width, height, bpp, compression int, core bool, extra, pixels []byte) []byte {
	var hdr []byte
	le := binary.LittleEndian
	if core {
		hdr = make([]byte, 12)
		le.PutUint32(hdr[0:], 12)
		le.PutUint16(hdr[4:], uint16(width))
		le.PutUint16(hdr[6:], uint16(height))
		le.PutUint16(hdr[8:], 1)
		le.PutUint16(hdr[10:], uint16(bpp))
	} else {
		hdr = make([]byte, 40)
		le.PutUint32(hdr[0:], 40)
		le.PutUint32(hdr[4:], uint32(int32(width)))
		le.PutUint32(hdr[8:], uint32(int32(height)))
		le.PutUint16(hdr[12:], 1)
		le.PutUint16(hdr[14:], uint16(bpp))
		le.PutUint32(hdr[16:], uint32(compression))
		le.PutUint32(hdr[20:], uint32(len(pixels)))
		if bpp <= 8 {
			le.PutUint32(hdr[32:], uint32(len(extra)/4))
		}
	}
	off := 14 + len(hdr) + len(extra)
	f := []byte{'B', 'M', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	le.PutUint32(f[2:], uint32(off+len(pixels)))
	le.PutUint32(f[10:], uint32(off))
	return append(append(append(f, hdr...), extra...), pixels...)
}

// craftedBMPs covers the BMP variants OpenCV decodes but does not write.
func craftedBMPs() []sample {
	rng := rand.New(rand.NewSource(2))
	random := func(n int) []byte {
		b := make([]byte, n)
		rng.Read(b)
		return b
	}
	pitch := func(w, bpp int) int { return ((w*bpp+7)/8 + 3) &^ 3 }
	w, h := 13, 7
	full := []int{1}
	var out []sample
	for _, bpp := range []int{1, 4, 8} {
		n := 1 << bpp
		for _, entries := range []int{n, n/2 + 1} { // a short palette: missing entries are black
			out = append(out, sample{fmt.Sprintf("crafted-%dbpp-%dcolours.bmp", bpp, entries),
				bmpFile(w, h, bpp, bmpRGB, false, random(entries*4), random(pitch(w, bpp)*h)), full})
		}
		out = append(out, sample{fmt.Sprintf("crafted-%dbpp-core.bmp", bpp),
			bmpFile(w, h, bpp, bmpRGB, true, random(n*3), random(pitch(w, bpp)*h)), full})
	}
	mask := func(r, g, b uint32) []byte {
		m := make([]byte, 12)
		binary.LittleEndian.PutUint32(m[0:], r)
		binary.LittleEndian.PutUint32(m[4:], g)
		binary.LittleEndian.PutUint32(m[8:], b)
		return m
	}
	out = append(out,
		sample{"crafted-16bpp-555.bmp", bmpFile(w, h, 16, bmpRGB, false, nil, random(pitch(w, 16)*h)), full},
		sample{"crafted-16bpp-565.bmp", bmpFile(w, h, 16, bmpBitfields, false, mask(0xf800, 0x7e0, 0x1f), random(pitch(w, 16)*h)), full},
		sample{"crafted-24bpp-topdown.bmp", bmpFile(w, -h, 24, bmpRGB, false, nil, random(pitch(w, 24)*h)), full},
		sample{"crafted-24bpp-core.bmp", bmpFile(w, h, 24, bmpRGB, true, nil, random(pitch(w, 24)*h)), full},
		sample{"crafted-32bpp.bmp", bmpFile(w, h, 32, bmpRGB, false, nil, random(pitch(w, 32)*h)), full},
	)
	// RLE8: runs, an absolute run, end of line, a delta and end of bitmap.
	rle8 := []byte{
		4, 7, 0, 5, 1, 2, 3, 4, 5, 0, 2, 3, 0, 0, // run, absolute (padded), run, end of line
		13, 9, // a run that fills a row exactly, then an end of line that is ignored
		0, 0,
		2, 1, 0, 2, 3, 2, 5, 250, 0, 0, // delta right 3 and down 2
		0, 3, 9, 8, 7, 0, // absolute run of 3 (padded)
		0, 1, // end of bitmap: the rest is colour 0
	}
	out = append(out, sample{"crafted-rle8.bmp", bmpFile(w, h, 8, bmpRLE8, false, random(256*4), rle8), full})
	var rle4 []byte
	for y := 0; y < h; y++ {
		rle4 = append(rle4, 5, 0x1f, 0, 6, 0x23, 0x45, 0x67, 0, 2, 0xab, 0, 0) // run 5, absolute 6, run 2, end of line
	}
	out = append(out, sample{"crafted-rle4.bmp", bmpFile(w, h, 4, bmpRLE4, false, random(16*4), rle4), full})
	return out
}

// reference decodes with imgcodecs as facectl did before this package.
func reference(t *testing.T, data []byte, scale int) gocv.Mat {
	t.Helper()
	flags := map[int]gocv.IMReadFlag{1: gocv.IMReadColor, 2: gocv.IMReadReducedColor2, 4: gocv.IMReadReducedColor4, 8: gocv.IMReadReducedColor8}[scale]
	m, err := gocv.IMDecode(data, flags|gocv.IMReadIgnoreOrientation)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// compare returns how many bytes differ between two Mats of the same size and type and the
// largest difference, or an error when size or type differ.
func compare(got, want gocv.Mat) (differ, maxDiff int, err error) {
	if got.Rows() != want.Rows() || got.Cols() != want.Cols() || got.Type() != want.Type() {
		return 0, 0, fmt.Errorf("got %dx%d %v, want %dx%d %v", got.Cols(), got.Rows(), got.Type(), want.Cols(), want.Rows(), want.Type())
	}
	a, b := got.ToBytes(), want.ToBytes()
	for i := range a {
		if d := int(a[i]) - int(b[i]); d != 0 {
			differ++
			maxDiff = max(maxDiff, d, -d)
		}
	}
	return differ, maxDiff, nil
}

func TestDecodeMatchesIMDecode(t *testing.T) {
	for _, s := range samples(t) {
		for _, scale := range s.scales {
			t.Run(fmt.Sprintf("%s/1:%d", s.name, scale), func(t *testing.T) {
				want := reference(t, s.data, scale)
				defer want.Close()
				if want.Empty() {
					t.Fatal("imgcodecs cannot decode this sample; it tests nothing")
				}
				got, err := Decode(s.data, scale)
				if err != nil {
					t.Fatal(err)
				}
				defer got.Close()
				differ, maxDiff, err := compare(got, want)
				if err != nil {
					t.Fatal(err)
				}
				// Both sides run the same libjpeg-turbo, libpng and libwebp with the same
				// settings, so the pixels are expected to be identical; JPEG is allowed ±1.
				tol := 0
				if bytes.HasPrefix(s.data, []byte{0xFF, 0xD8}) {
					tol = 1
				}
				if maxDiff > tol {
					t.Fatalf("%d bytes differ from imgcodecs, by up to %d", differ, maxDiff)
				}
				if differ > 0 {
					t.Logf("%d bytes differ from imgcodecs by 1", differ)
				}
			})
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	good := testenv.ReadPhoto(t, "gocv_face.jpg")
	bgr := photo(t, 61, 43)
	defer bgr.Close()
	pngData := imencode(t, gocv.PNGFileExt, bgr)
	webpData := imencode(t, gocv.FileExt(".webp"), bgr, gocv.IMWriteWebpQuality, 80)
	bmpData := imencode(t, gocv.FileExt(".bmp"), bgr)
	corruptPNG := bytes.Clone(pngData)
	corruptPNG[len(corruptPNG)/2] ^= 0xFF // inside IDAT: zlib or filter data go wrong before the CRC is checked
	cases := []struct {
		name  string
		data  []byte
		scale int
		want  error // errors.Is target, or nil for "any error"
		text  string
	}{
		{"empty", nil, 1, imagecheck.ErrEmpty, ""},
		{"text", []byte("hello, world"), 1, imagecheck.ErrUnsupported, ""},
		{"jpeg header only", good[:300], 1, imagecheck.ErrCorrupt, "Premature end"},
		{"jpeg truncated", good[:len(good)/2], 1, imagecheck.ErrCorrupt, "Premature end"},
		{"jpeg truncated reduced", good[:len(good)/2], 4, imagecheck.ErrCorrupt, "Premature end"},
		{"jpeg magic only", []byte{0xFF, 0xD8, 0xFF}, 1, imagecheck.ErrCorrupt, ""},
		{"jpeg garbage", append([]byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0}, bytes.Repeat([]byte{0x55}, 500)...), 1, imagecheck.ErrCorrupt, ""},
		{"png truncated", pngData[:len(pngData)/2], 1, imagecheck.ErrCorrupt, "truncated"},
		{"png corrupt data", corruptPNG, 1, imagecheck.ErrCorrupt, ""},
		{"png signature only", pngData[:8], 1, imagecheck.ErrCorrupt, ""},
		{"webp truncated", webpData[:len(webpData)/2], 1, imagecheck.ErrCorrupt, ""},
		{"webp header only", webpData[:20], 1, imagecheck.ErrCorrupt, ""},
		{"bmp truncated", bmpData[:len(bmpData)-10], 1, imagecheck.ErrCorrupt, "truncated"},
		{"bmp header only", bmpData[:30], 1, imagecheck.ErrCorrupt, ""},
		{"bmp bad bit depth", bmpFile(3, 3, 7, bmpRGB, false, nil, make([]byte, 64)), 1, imagecheck.ErrCorrupt, ""},
		{"bmp rle overrun", bmpFile(3, 3, 8, bmpRLE8, false, make([]byte, 1024), []byte{9, 1, 0, 1}), 1, imagecheck.ErrCorrupt, "overruns"},
		{"scale 3", good, 3, ErrScale, ""},
		{"scale 0", good, 0, ErrScale, ""},
		{"reduced png", pngData, 2, ErrScale, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := gocv.NewMat()
			defer dst.Close()
			err := DecodeInto(&dst, c.data, c.scale)
			if err == nil {
				t.Fatalf("decoded a %dx%d image; want an error", dst.Cols(), dst.Rows())
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("error %q does not wrap %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.text) {
				t.Fatalf("error %q does not say %q", err, c.text)
			}
			// The Mat survives a failed decode and takes the next image.
			if err := DecodeInto(&dst, good, 8); err != nil || dst.Cols() != (bgrCols(t, good)+7)/8 {
				t.Fatalf("decode after a failure: %v, %dx%d", err, dst.Cols(), dst.Rows())
			}
		})
	}
}

func bgrCols(t *testing.T, data []byte) int {
	info, err := imagecheck.Inspect(data, imagecheck.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return info.Width
}

func dataAddr(t *testing.T, m gocv.Mat) uintptr {
	t.Helper()
	b, err := m.DataPtrUint8()
	if err != nil {
		t.Fatal(err)
	}
	return uintptr(unsafe.Pointer(&b[0]))
}

func TestDecodeIntoReusesMemory(t *testing.T) {
	big := testenv.ReadPhoto(t, "group_10.jpg")
	small := testenv.ReadPhoto(t, "gocv_face.jpg")
	dst := gocv.NewMat()
	defer dst.Close()
	if err := DecodeInto(&dst, big, 1); err != nil {
		t.Fatal(err)
	}
	addr := dataAddr(t, dst)
	for _, c := range []struct {
		data  []byte
		scale int
	}{{small, 1}, {big, 2}, {small, 8}, {big, 1}} {
		if err := DecodeInto(&dst, c.data, c.scale); err != nil {
			t.Fatal(err)
		}
		if got := dataAddr(t, dst); got != addr {
			t.Fatalf("decoding a smaller image moved the pixels from %#x to %#x", addr, got)
		}
		want := reference(t, c.data, c.scale)
		differ, maxDiff, err := compare(dst, want)
		want.Close()
		if err != nil || maxDiff > 1 {
			t.Fatalf("reused Mat holds a different image: %v (%d bytes differ by up to %d)", err, differ, maxDiff)
		}
		if dst.Total()*3 != len(dst.ToBytes()) || !dst.IsContinuous() {
			t.Fatal("the reused Mat is not a continuous image of its size")
		}
	}

	// A Mat whose memory another Mat shares is not written over: it gets new memory.
	shared := dst.Region(image.Rect(0, 0, 10, 10))
	defer shared.Close()
	before := bytes.Clone(shared.ToBytes())
	if err := DecodeInto(&dst, small, 2); err != nil {
		t.Fatal(err)
	}
	if dataAddr(t, dst) == addr {
		t.Fatal("decoded into memory another Mat still uses")
	}
	if !bytes.Equal(shared.ToBytes(), before) {
		t.Fatal("the sharing Mat's pixels changed")
	}

	// A larger image than the memory holds gets memory of its own. (Its address may be the old
	// one again, freed first, so only the result is checked.)
	dst2, err := Decode(small, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer dst2.Close()
	if err := DecodeInto(&dst2, big, 1); err != nil {
		t.Fatal(err)
	}
	want := reference(t, big, 1)
	defer want.Close()
	if differ, maxDiff, err := compare(dst2, want); err != nil || maxDiff > 1 {
		t.Fatalf("a larger image into a small Mat: %v (%d bytes differ by up to %d)", err, differ, maxDiff)
	}
}

func TestDecodeIntoRejectsZeroMat(t *testing.T) {
	var m gocv.Mat
	if err := DecodeInto(&m, testenv.ReadPhoto(t, "gocv_face.jpg"), 1); err == nil {
		t.Fatal("DecodeInto accepted a Mat gocv did not make")
	}
	if err := DecodeInto(nil, testenv.ReadPhoto(t, "gocv_face.jpg"), 1); err == nil {
		t.Fatal("DecodeInto accepted nil")
	}
}

func TestEncodeMatchesIMEncode(t *testing.T) {
	bgr := photo(t, 321, 203)
	defer bgr.Close()
	gray := gocv.NewMat()
	defer gray.Close()
	gocv.CvtColor(bgr, &gray, gocv.ColorBGRToGray)
	roi := bgr.Region(image.Rect(7, 5, 200, 150)) // not continuous
	defer roi.Close()
	for _, c := range []struct {
		name string
		img  gocv.Mat
	}{{"bgr", bgr}, {"gray", gray}, {"region", roi}} {
		for _, q := range []int{1, 50, 90, 100} {
			got, err := EncodeJPEG(c.img, q)
			if err != nil {
				t.Fatal(err)
			}
			if want := imencode(t, gocv.JPEGFileExt, c.img, gocv.IMWriteJpegQuality, q); !bytes.Equal(got, want) {
				t.Errorf("%s JPEG quality %d: %d bytes, imgcodecs wrote %d different ones", c.name, q, len(got), len(want))
			}
		}
		for _, level := range []int{0, 3, 9} {
			got, err := EncodePNG(c.img, level)
			if err != nil {
				t.Fatal(err)
			}
			if want := imencode(t, gocv.PNGFileExt, c.img, gocv.IMWritePngCompression, level); !bytes.Equal(got, want) {
				t.Errorf("%s PNG level %d: %d bytes, imgcodecs wrote %d different ones", c.name, level, len(got), len(want))
			}
		}
	}
}

func TestEncodeRejects(t *testing.T) {
	bgr := photo(t, 16, 16)
	defer bgr.Close()
	bgra, f32, empty := gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
	defer bgra.Close()
	defer f32.Close()
	defer empty.Close()
	gocv.CvtColor(bgr, &bgra, gocv.ColorBGRToBGRA)
	bgr.ConvertTo(&f32, gocv.MatTypeCV32FC3)
	for _, c := range []struct {
		name string
		run  func() ([]byte, error)
	}{
		{"quality 0", func() ([]byte, error) { return EncodeJPEG(bgr, 0) }},
		{"quality 101", func() ([]byte, error) { return EncodeJPEG(bgr, 101) }},
		{"level 10", func() ([]byte, error) { return EncodePNG(bgr, 10) }},
		{"4 channels", func() ([]byte, error) { return EncodePNG(bgra, 3) }},
		{"float", func() ([]byte, error) { return EncodeJPEG(f32, 90) }},
		{"empty", func() ([]byte, error) { return EncodePNG(empty, 3) }},
	} {
		if b, err := c.run(); err == nil {
			t.Errorf("%s: encoded %d bytes, want an error", c.name, len(b))
		}
	}
}

// TestJPEGScanLimit checks that a progressive JPEG of thousands of scans is refused after 500
// of them, as libjpeg-turbo's TurboJPEG scan limit does, instead of costing a pass over the
// whole coefficient buffer per scan: the file repeats the last scan of a real progressive
// JPEG (libjpeg only warns about such a progression, and decodes it).
func TestJPEGScanLimit(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "progressive.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	sos := bytes.LastIndex(data, []byte{0xFF, 0xDA}) // entropy data never holds FF DA
	eoi := bytes.LastIndex(data, []byte{0xFF, 0xD9})
	if sos < 0 || eoi < sos {
		t.Fatal("testdata/progressive.jpg: no last scan")
	}
	scans := func(extra int) []byte {
		b := bytes.Clone(data[:eoi])
		for range extra {
			b = append(b, data[sos:eoi]...)
		}
		return append(b, 0xFF, 0xD9)
	}
	img, err := Decode(scans(100), 1) // within the limit: decodes
	if err != nil {
		t.Fatalf("100 extra scans: %v", err)
	}
	img.Close()
	img, err = Decode(scans(2000), 1)
	if err == nil {
		img.Close()
		t.Fatal("2000 extra scans decoded, want the scan limit")
	}
	if !strings.Contains(err.Error(), "more than 500 scans") {
		t.Errorf("error %q, want it to name the scan limit", err)
	}
}
