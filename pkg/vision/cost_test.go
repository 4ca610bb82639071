//go:build cgo

package vision

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"os"
	"strconv"
	"strings"
	"testing"

	"gocv.io/x/gocv"

	"github.com/facectl/facectl/pkg/face"
	"github.com/facectl/facectl/pkg/imagecheck"
)

// vmKB reads a field of /proc/self/status (VmRSS, VmHWM) in kB.
func vmKB(t *testing.T, field string) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// TestDecodeCostCoversThePeak checks the server's admission estimate against what one
// request really adds to the peak RSS (VmHWM, reset through /proc/self/clear_refs), for
// the large-image cases that matter: it must never be below, nor wildly above.
func TestDecodeCostCoversThePeak(t *testing.T) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Fatalf("resetting the peak RSS needs Linux's /proc/self/clear_refs: %v", err)
	}
	TuneAllocator() // as serve runs
	e := newEngine(t, "yunet", 1)
	img := gocv.NewMatWithSize(6000, 5000, gocv.MatTypeCV8UC3) // 30 MP
	defer img.Close()
	gocv.Rectangle(&img, image.Rect(500, 500, 4500, 5500), color.RGBA{R: 30, G: 120, B: 200}, -1)
	gocv.Circle(&img, image.Pt(2500, 3000), 1500, color.RGBA{R: 220, G: 60, B: 40}, -1)
	enc := func(ext gocv.FileExt, params ...int) []byte {
		buf, err := gocv.IMEncodeWithParams(ext, img, params)
		if err != nil {
			t.Fatal(err)
		}
		defer buf.Close()
		return bytes.Clone(buf.GetBytes())
	}
	baseline := enc(gocv.JPEGFileExt, gocv.IMWriteJpegQuality, 80)
	progressive := enc(gocv.JPEGFileExt, gocv.IMWriteJpegQuality, 80, gocv.IMWriteJpegProgressive, 1)
	png := enc(gocv.PNGFileExt, gocv.IMWritePngCompression, 9)
	lossless := enc(".webp", gocv.IMWriteWebpQuality, 101) // above 100: lossless (VP8L)
	// The network's working memory at the full detection size stays with the worker; have it
	// before measuring, as a server does after its first large image.
	if _, err := e.Detect(context.Background(), baseline, face.Filter{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		data   []byte
		format imagecheck.Format
	}{
		{"baseline JPEG detect", baseline, ""},
		{"baseline JPEG blur", baseline, imagecheck.JPEG},
		{"progressive JPEG detect", progressive, ""},
		{"progressive JPEG blur", progressive, imagecheck.JPEG},
		{"PNG detect", png, ""},
		{"PNG blur to PNG", png, imagecheck.PNG},
		{"lossless WebP detect", lossless, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info, err := imagecheck.Inspect(tc.data, imagecheck.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			est := e.DecodeCost(info, tc.format)
			if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
				t.Fatal(err)
			}
			before := vmKB(t, "VmRSS")
			if tc.format == "" {
				_, err = e.Detect(context.Background(), tc.data, face.Filter{})
			} else {
				_, _, err = e.Render(context.Background(), tc.data, face.Filter{}, face.RenderOptions{Mode: face.Blur, Format: tc.format, Quality: 90})
			}
			if err != nil {
				t.Fatal(err)
			}
			used := (vmKB(t, "VmHWM") - before) * 1024
			t.Logf("estimate %d MB, peak added %d MB", est/1e6, used/1e6)
			if est < used {
				t.Errorf("estimate %d MB is below the %d MB the request added to the peak", est/1e6, used/1e6)
			}
			if est > 3*used+64<<20 {
				t.Errorf("estimate %d MB is far above the %d MB the request added to the peak", est/1e6, used/1e6)
			}
		})
	}
}
