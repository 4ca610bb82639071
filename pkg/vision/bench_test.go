//go:build cgo

package vision

import (
	"context"
	"image"
	"image/color"
	"syscall"
	"testing"
	"time"

	"github.com/facectl/facectl/internal/testenv/cvphoto"

	"github.com/facectl/facectl/internal/testenv"

	"gocv.io/x/gocv"

	"github.com/facectl/facectl/pkg/face"
	"github.com/facectl/facectl/pkg/imagecheck"
)

var black = color.RGBA{}

func benchEngine(b *testing.B, detector string, workers int) *Engine {
	b.Helper()
	cfg := DefaultConfig()
	cfg.Detector = detector
	cfg.Model = testenv.Model(b)
	cfg.Workers = workers
	e, err := New(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	return e
}

// BenchmarkDetect is decode+detect of one photo with one worker, per detector.
func BenchmarkDetect(b *testing.B) {
	inputs := []struct {
		name string
		data func(testing.TB) []byte
	}{
		{"gocv_face", func(t testing.TB) []byte { return testenv.ReadPhoto(t, "gocv_face.jpg") }},
		{"group_10", func(t testing.TB) []byte { return testenv.ReadPhoto(t, "group_10.jpg") }},
		{"12MP", cvphoto.Photo12MP},
	}
	for _, det := range Detectors {
		for _, in := range inputs {
			b.Run(det+"/"+in.name, func(b *testing.B) {
				e := benchEngine(b, det, 1)
				data := in.data(b)
				ctx := context.Background()
				if _, err := e.Detect(ctx, data, face.Filter{}); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				u0 := usageNow(b)
				for b.Loop() {
					if _, err := e.Detect(ctx, data, face.Filter{}); err != nil {
						b.Fatal(err)
					}
				}
				reportUsage(b, u0)
			})
		}
	}
}

// BenchmarkRender is decode, detect, render and encode of one photo with one worker, as
// `serve` answers a request for an image: the full-size path.
func BenchmarkRender(b *testing.B) {
	for _, mode := range []face.RenderMode{face.Annotate, face.Blur} {
		for _, in := range []struct {
			name string
			data func(testing.TB) []byte
		}{
			{"gocv_face", func(t testing.TB) []byte { return testenv.ReadPhoto(t, "gocv_face.jpg") }},
			{"12MP", cvphoto.Photo12MP},
		} {
			b.Run(string(mode)+"/"+in.name, func(b *testing.B) {
				e := benchEngine(b, "yunet", 1)
				data := in.data(b)
				ctx := context.Background()
				o := face.RenderOptions{Mode: mode, Format: imagecheck.JPEG}
				if _, _, err := e.Render(ctx, data, face.Filter{}, o); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				u0 := usageNow(b)
				for b.Loop() {
					if _, _, err := e.Render(ctx, data, face.Filter{}, o); err != nil {
						b.Fatal(err)
					}
				}
				reportUsage(b, u0)
			})
		}
	}
}

// BenchmarkForward is YuNet's bare network forward pass on an already decoded, padded image: the
// floor that decode+detect is compared with.
func BenchmarkForward(b *testing.B) {
	for _, name := range []string{"gocv_face.jpg", "group_10.jpg"} {
		b.Run(name, func(b *testing.B) {
			// The same engine set-up as BenchmarkDetect/yunet (one worker, OpenCV's threads as New
			// sets them), so the two are comparable.
			y := benchEngine(b, "yunet", 1).all[0].det.(*yunet)
			img, err := gocv.IMDecode(testenv.ReadPhoto(b, name), gocv.IMReadColor)
			if err != nil {
				b.Fatal(err)
			}
			defer img.Close()
			pw, ph := padTo32(img.Cols()), padTo32(img.Rows())
			padded := gocv.NewMat()
			defer padded.Close()
			gocv.CopyMakeBorder(img, &padded, 0, ph-img.Rows(), 0, pw-img.Cols(), gocv.BorderConstant, black)
			blob := gocv.BlobFromImage(padded, 1, image.Pt(pw, ph), gocv.NewScalar(0, 0, 0, 0), false, false)
			defer blob.Close()
			forward := func() {
				y.net.SetInput(blob, "")
				outs := y.net.ForwardLayers(yunetOutputs)
				for i := range outs {
					outs[i].Close()
				}
			}
			forward()
			b.ResetTimer()
			u0 := usageNow(b)
			for b.Loop() {
				forward()
			}
			reportUsage(b, u0)
		})
	}
}

// usage is the process's minor page faults and CPU time so far. A fresh native buffer costs one
// fault per 4 KiB page it touches (the kernel zeroes and maps each), so faults per operation show
// the multi-megabyte allocations a request makes; a steady state that reuses its buffers makes
// few. CPU time per operation (user and system, all threads) is less disturbed than wall time
// when other processes share the machine.
type usage struct {
	faults int64
	cpu    time.Duration
}

func usageNow(b *testing.B) usage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return usage{ru.Minflt, time.Duration(ru.Utime.Nano() + ru.Stime.Nano())}
}

// reportUsage reports faults and CPU milliseconds per operation since u0.
func reportUsage(b *testing.B, u0 usage) {
	u := usageNow(b)
	b.ReportMetric(float64(u.faults-u0.faults)/float64(b.N), "faults/op")
	b.ReportMetric(float64(u.cpu-u0.cpu)/1e6/float64(b.N), "cpu-ms/op")
}
