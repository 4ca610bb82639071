//go:build cgo && matprofile

package vision

import (
	"bytes"
	"context"
	"testing"

	"github.com/facectl/facectl/internal/testenv/cvphoto"

	"github.com/facectl/facectl/internal/testenv"

	"gocv.io/x/gocv"

	"github.com/facectl/facectl/pkg/face"
	"github.com/facectl/facectl/pkg/imagecheck"
	"github.com/facectl/facectl/pkg/render"
)

// TestNoMatLeaks runs every photo through every detector and every rendering path, plus bad input,
// and checks that no gocv Mat is left alive. Run with: go test -tags matprofile ./pkg/vision
func TestNoMatLeaks(t *testing.T) {
	before := gocv.MatProfile.Count()
	probe := gocv.NewMat()
	if gocv.MatProfile.Count() != before+1 {
		t.Fatal("the Mat profile does not count Mats: is the matprofile build tag set?")
	}
	probe.Close()
	for _, kind := range Detectors {
		func() {
			buffers := liveBuffers.Load()
			e := newEngine(t, kind, 2)
			// The workers' buffers are not gocv Mats: they live until the engine closes.
			defer func() {
				if err := e.Close(); err != nil {
					t.Error(err)
				}
				if n := liveBuffers.Load(); n != buffers {
					t.Errorf("%d worker buffers alive after Close, want %d", n, buffers)
				}
			}()
			ctx := context.Background()
			for _, p := range testenv.Photos(t) {
				data := testenv.ReadPhoto(t, p.Name)
				if _, err := e.Detect(ctx, data, face.Filter{}); err != nil {
					t.Fatal(err)
				}
				for _, mode := range face.RenderModes {
					if _, _, err := e.Render(ctx, data, face.Filter{}, face.RenderOptions{Mode: mode, Format: imagecheck.JPEG}); err != nil {
						t.Fatal(err)
					}
				}
				out := render.FileOutputs{AnnotateDir: t.TempDir(), CropDir: t.TempDir(), BlurDir: t.TempDir(), Obscure: face.Pixelate, CropMargin: 0.2}
				err := e.Process(ctx, data, face.Filter{}, func(img gocv.Mat, det face.Detection) error {
					return out.Write(img, det.Faces, p.Name, "", imagecheck.JPEG)
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			good := testenv.ReadPhoto(t, "gocv_face.jpg")
			for _, bad := range [][]byte{good[:len(good)/2], []byte("text"), encodePNG(t, 3, 3)} {
				_, _ = e.Detect(ctx, bad, face.Filter{})
			}
			_, _ = e.Detect(ctx, withOrientation(good, 6), face.Filter{})
			_, _ = e.Detect(ctx, cvphoto.Photo12MP(t), face.Filter{})
		}()
	}
	if n := gocv.MatProfile.Count() - before; n != 0 {
		var b bytes.Buffer
		_ = gocv.MatProfile.WriteTo(&b, 1)
		t.Fatalf("%d Mats left alive:\n%s", n, b.String())
	}
}
