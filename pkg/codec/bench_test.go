package codec

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"sync"
	"testing"

	"gocv.io/x/gocv"

	"github.com/facectl/facectl/internal/testenv"
)

var (
	bigOnce sync.Once
	bigJPEG []byte
)

// photo12MP is group_10.jpg upscaled to 4512x2657 and encoded by Go at quality 90, as in
// pkg/vision's benchmarks.
func photo12MP(b testing.TB) []byte {
	bigOnce.Do(func() {
		src, err := gocv.IMDecode(testenv.ReadPhoto(b, "group_10.jpg"), gocv.IMReadColor)
		if err != nil {
			b.Fatal(err)
		}
		defer src.Close()
		big := gocv.NewMat()
		defer big.Close()
		gocv.Resize(src, &big, image.Pt(4512, 2657), 0, 0, gocv.InterpolationCubic)
		im, err := big.ToImage()
		if err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, im, &jpeg.Options{Quality: 90}); err != nil {
			b.Fatal(err)
		}
		bigJPEG = buf.Bytes()
	})
	return bigJPEG
}

// BenchmarkDecode compares this package with imgcodecs in the same run: Decode (a new Mat each
// time), DecodeInto with one kept Mat, and gocv.IMDecode, at full size and reduced.
// Run: go test -run '^$' -bench Decode -count 6 ./pkg/codec
func BenchmarkDecode(b *testing.B) {
	inputs := []struct {
		name   string
		data   []byte
		scales []int
	}{
		{"gocv_face", testenv.ReadPhoto(b, "gocv_face.jpg"), []int{1, 2}},
		{"group_10", testenv.ReadPhoto(b, "group_10.jpg"), []int{1, 2}},
		{"12MP", photo12MP(b), []int{1, 4, 8}},
	}
	flags := map[int]gocv.IMReadFlag{1: gocv.IMReadColor, 2: gocv.IMReadReducedColor2, 4: gocv.IMReadReducedColor4, 8: gocv.IMReadReducedColor8}
	for _, in := range inputs {
		for _, scale := range in.scales {
			prefix := fmt.Sprintf("%s/1:%d", in.name, scale)
			b.Run(prefix+"/imgcodecs", func(b *testing.B) {
				for b.Loop() {
					m, err := gocv.IMDecode(in.data, flags[scale]|gocv.IMReadIgnoreOrientation)
					if err != nil || m.Empty() {
						b.Fatal(err)
					}
					m.Close()
				}
			})
			b.Run(prefix+"/codec", func(b *testing.B) {
				for b.Loop() {
					m, err := Decode(in.data, scale)
					if err != nil {
						b.Fatal(err)
					}
					m.Close()
				}
			})
			b.Run(prefix+"/codec-reuse", func(b *testing.B) {
				m := gocv.NewMat()
				defer m.Close()
				for b.Loop() {
					if err := DecodeInto(&m, in.data, scale); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
