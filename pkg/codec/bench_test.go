package codec

import (
	"fmt"
	"testing"

	"github.com/facectl/facectl/internal/testenv/cvphoto"

	"gocv.io/x/gocv"

	"github.com/facectl/facectl/internal/testenv"
)

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
		{"12MP", cvphoto.Photo12MP(b), []int{1, 4, 8}},
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
