package codec

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"

	"github.com/facectl/facectl/internal/testenv"
	"github.com/facectl/facectl/pkg/imagecheck"
)

// FuzzDecode feeds the decoders mutations of real files of every format and of their
// truncations. A decode must either fail with an error wrapping imagecheck.ErrCorrupt or give an
// image; when imgcodecs decodes the same bytes too, the pixels must agree.
// Run: go test -run '^$' -fuzz FuzzDecode -fuzztime 60s ./pkg/codec
func FuzzDecode(f *testing.F) {
	var seeds [][]byte
	for _, name := range []string{"gocv_face.jpg", "camera.png"} {
		seeds = append(seeds, testenv.ReadPhoto(f, name))
	}
	files, _ := filepath.Glob("testdata/*")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	bgr := photo(f, 40, 30)
	defer bgr.Close()
	for _, ext := range []gocv.FileExt{".webp", ".bmp", ".png", ".jpg"} {
		buf, err := gocv.IMEncode(ext, bgr)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, bytes.Clone(buf.GetBytes()))
		buf.Close()
	}
	for _, s := range craftedBMPs() {
		seeds = append(seeds, s.data)
	}
	for _, s := range seeds {
		for _, n := range []int{len(s), len(s) * 3 / 4, len(s) / 2, 40} {
			f.Add(s[:min(n, len(s))], uint8(0))
		}
		f.Add(s, uint8(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, scaleBits uint8) {
		scale := 1 << (scaleBits & 3)
		// Bound what a header may ask to allocate, as imagecheck.Inspect does in facectl.
		if _, err := imagecheck.Inspect(data, imagecheck.Limits{MaxPixels: 4_000_000}); errors.Is(err, imagecheck.ErrTooManyPixels) {
			return
		}
		got, err := Decode(data, scale)
		if err != nil {
			if !errors.Is(err, imagecheck.ErrCorrupt) && !errors.Is(err, imagecheck.ErrEmpty) &&
				!errors.Is(err, imagecheck.ErrUnsupported) && !errors.Is(err, ErrScale) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		defer got.Close()
		if got.Empty() || got.Type() != gocv.MatTypeCV8UC3 {
			t.Fatalf("decode succeeded with a %v Mat of %dx%d", got.Type(), got.Cols(), got.Rows())
		}
		if f, _ := imagecheck.Sniff(data); scale != 1 && f != imagecheck.JPEG {
			t.Fatal("a reduced decode of a non-JPEG succeeded")
		}
		want := reference(t, data, scale)
		defer want.Close()
		if want.Empty() {
			return // imgcodecs is stricter here (e.g. a PNG trailer it cannot read)
		}
		if differ, maxDiff, err := compare(got, want); err != nil || maxDiff > 1 {
			t.Fatalf("differs from imgcodecs: %v (%d bytes, by up to %d)", err, differ, maxDiff)
		}
	})
}
