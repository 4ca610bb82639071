//go:build cgo

package vision

import (
	"bytes"
	"context"
	"errors"
	"image"
	"slices"
	"syscall"
	"testing"

	"github.com/facectl/facectl/internal/testenv/cvphoto"

	"github.com/facectl/facectl/internal/testenv"

	"gocv.io/x/gocv"

	"github.com/facectl/facectl/pkg/codec"
	"github.com/facectl/facectl/pkg/face"
	"github.com/facectl/facectl/pkg/imagecheck"
)

// TestDecodeReusesBuffers decodes each kind of input twice with the same buffers: the second time
// no buffer may grow and the image must be in the buffers, unless it is larger than they keep, in
// which case it must have memory of its own and the buffers must stay within their bound.
func TestDecodeReusesBuffers(t *testing.T) {
	face := testenv.ReadPhoto(t, "gocv_face.jpg")
	inputs := []struct {
		name    string
		data    []byte
		minSide int
	}{
		{"jpeg", face, 0},
		{"jpeg for the network", face, 1280},
		{"png", testenv.ReadPhoto(t, "astronaut.png"), 0},
		{"orientation 6 (a quarter turn)", withOrientation(face, 6), 0},
		{"orientation 5 (a turn and a flip)", withOrientation(face, 5), 0},
		{"12 MP at 1/4 scale", cvphoto.Photo12MP(t), 1280},
		{"12 MP full size", cvphoto.Photo12MP(t), 0},
	}
	const keep = 3 * 2560 * 2560
	for _, in := range inputs {
		t.Run(in.name, func(t *testing.T) {
			bufs := newDecodeBuffers(keep)
			defer bufs.close()
			info, err := imagecheck.Inspect(in.data, imagecheck.DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			var grown [2]int
			for i := range 2 {
				dec, err := decode(in.data, info, reducedFactor(info, in.minSide), bufs)
				if err != nil {
					t.Fatal(err)
				}
				held := bufs.image.holds(dec.img) || bufs.turned.holds(dec.img)
				size := dec.img.Total() * dec.img.ElemSize()
				dec.img.Close()
				if i == 1 && (bufs.image.grown != grown[0] || bufs.turned.grown != grown[1]) {
					t.Errorf("the buffers grew again for the same image: %d, %d times, then %d, %d", grown[0], grown[1], bufs.image.grown, bufs.turned.grown)
				}
				grown = [2]int{bufs.image.grown, bufs.turned.grown}
				if size <= keep && !held {
					t.Errorf("decode %d: a %d-byte image is not in the buffers", i+1, size)
				}
				if size > keep && held {
					t.Errorf("decode %d: a %d-byte image, larger than the buffers keep, is in them", i+1, size)
				}
				if bufs.image.bytes() > keep || bufs.turned.bytes() > keep {
					t.Errorf("buffers hold %d and %d bytes, more than %d", bufs.image.bytes(), bufs.turned.bytes(), keep)
				}
			}
		})
	}
}

// TestSteadyStateFaults checks that a worker detecting the same photo again allocates no large
// native memory: a fresh buffer costs the process one minor page fault per 4 KiB page it touches,
// so a request that allocated even one MiB afresh would cost 256. Before the workers kept their
// buffers, a YuNet request on gocv_face.jpg cost about 1,900.
func TestSteadyStateFaults(t *testing.T) {
	for _, c := range []struct{ detector, photo string }{
		{"yunet", "gocv_face.jpg"},
		{"yunet", "group_10.jpg"},
		{"yunet", "12MP"},
		{"lbp", "gocv_face.jpg"},
	} {
		t.Run(c.detector+"/"+c.photo, func(t *testing.T) {
			e := newEngine(t, c.detector, 1)
			data := cvphoto.Photo12MP(t)
			if c.photo != "12MP" {
				data = testenv.ReadPhoto(t, c.photo)
			}
			ctx := context.Background()
			for range 2 {
				if _, err := e.Detect(ctx, data, face.Filter{}); err != nil {
					t.Fatal(err)
				}
			}
			const n = 10
			before := minflt(t)
			for range n {
				if _, err := e.Detect(ctx, data, face.Filter{}); err != nil {
					t.Fatal(err)
				}
			}
			if per := (minflt(t) - before) / n; per >= 256 {
				t.Errorf("%d minor page faults per request in steady state, want fewer than 256", per)
			}
		})
	}
}

func minflt(t *testing.T) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return ru.Minflt
}

// TestFillBlobMatchesBlobFromImage checks the blob written in place equals gocv.BlobFromImage of
// the zero-padded image, bit for bit, also when the buffers held a larger, brighter image before.
func TestFillBlobMatchesBlobFromImage(t *testing.T) {
	img, err := gocv.IMDecode(testenv.ReadPhoto(t, "group_10.jpg"), gocv.IMReadColor)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	w, h := img.Cols(), img.Rows()
	pw, ph := padTo32(w), padTo32(h)
	if ph == h {
		t.Fatalf("group_10.jpg is %dx%d: the test needs an image that is padded", w, h)
	}
	padded := gocv.NewMat()
	defer padded.Close()
	gocv.CopyMakeBorder(img, &padded, 0, ph-h, 0, pw-w, gocv.BorderConstant, black)
	want := gocv.BlobFromImage(padded, 1, image.Pt(pw, ph), gocv.NewScalar(0, 0, 0, 0), false, false)
	defer want.Close()

	planes, blob := newBuffer(1<<30), newBuffer(1<<30)
	defer planes.close()
	defer blob.close()
	fill := func(src gocv.Mat, pw, ph int) []float32 {
		p, err := planes.view(gocv.MatTypeCV8U, 3*src.Rows(), src.Cols())
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		b, err := blob.view(gocv.MatTypeCV32F, 1, 3, ph, pw)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if err := fillBlob(src, p, b); err != nil {
			t.Fatal(err)
		}
		d, err := b.DataPtrFloat32()
		if err != nil {
			t.Fatal(err)
		}
		return slices.Clone(d)
	}
	white := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(255, 255, 255, 0), ph+64, pw+64, gocv.MatTypeCV8UC3)
	defer white.Close()
	fill(white, pw+64, ph+64)
	got := fill(img, pw, ph)
	wantData, err := want.DataPtrFloat32()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, wantData) {
		t.Fatalf("the blob differs from BlobFromImage's (%d and %d values)", len(got), len(wantData))
	}
	// An image that does not fit is refused, not written past the blob.
	if err := fillBlob(white, mustView(t, planes, gocv.MatTypeCV8U, 3*white.Rows(), white.Cols()), mustView(t, blob, gocv.MatTypeCV32F, 1, 3, ph, pw)); err == nil {
		t.Error("fillBlob accepted an image larger than the blob")
	}
}

func mustView(t *testing.T, b *buffer, mt gocv.MatType, sizes ...int) gocv.Mat {
	t.Helper()
	v, err := b.view(mt, sizes...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// TestDecodeIntoBufferMatchesOpenCV checks that pkg/codec decodes every JPEG photo and a grayscale
// JPEG, at each reduced scale, into a worker's buffer with OpenCV's pixels exactly; that a view of
// another size gets memory of its own instead of being written past; and that garbage fails.
func TestDecodeIntoBufferMatchesOpenCV(t *testing.T) {
	var jpegs [][]byte
	for _, p := range testenv.Photos(t) {
		if data := testenv.ReadPhoto(t, p.Name); bytes.HasPrefix(data, []byte{0xFF, 0xD8}) {
			jpegs = append(jpegs, data)
		}
	}
	gray, err := gocv.IMDecode(jpegs[0], gocv.IMReadGrayScale)
	if err != nil {
		t.Fatal(err)
	}
	buf, err := gocv.IMEncode(gocv.JPEGFileExt, gray)
	gray.Close()
	if err != nil {
		t.Fatal(err)
	}
	jpegs = append(jpegs, bytes.Clone(buf.GetBytes()))
	buf.Close()
	mem := newBuffer(64 << 20)
	defer mem.close()
	flags := map[int]gocv.IMReadFlag{1: gocv.IMReadColor, 2: gocv.IMReadReducedColor2, 4: gocv.IMReadReducedColor4, 8: gocv.IMReadReducedColor8}
	for i, data := range jpegs {
		for denom, flag := range flags {
			want, err := gocv.IMDecode(data, flag|gocv.IMReadIgnoreOrientation)
			if err != nil {
				t.Fatal(err)
			}
			got, err := mem.view(gocv.MatTypeCV8UC3, want.Rows(), want.Cols())
			if err != nil {
				t.Fatal(err)
			}
			if err := codec.DecodeInto(&got, data, denom); err != nil {
				t.Errorf("jpeg %d at 1/%d: %v", i, denom, err)
			} else if !mem.holds(got) {
				t.Errorf("jpeg %d at 1/%d: decoded outside the buffer", i, denom)
			} else if !slices.Equal(got.ToBytes(), want.ToBytes()) {
				t.Errorf("jpeg %d at 1/%d: pixels differ from OpenCV's", i, denom)
			}
			got.Close()
			other, err := mem.view(gocv.MatTypeCV8UC3, want.Rows()+1, want.Cols())
			if err != nil {
				t.Fatal(err)
			}
			if err := codec.DecodeInto(&other, data, denom); err != nil {
				t.Errorf("jpeg %d at 1/%d into a view of another size: %v", i, denom, err)
			} else if mem.holds(other) || other.Rows() != want.Rows() || other.Cols() != want.Cols() {
				t.Errorf("jpeg %d at 1/%d: a view of another size was written to, not replaced", i, denom)
			}
			want.Close()
			other.Close()
		}
	}
	bad, err := mem.view(gocv.MatTypeCV8UC3, 480, 640)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if err := codec.DecodeInto(&bad, []byte("\xFF\xD8\xFFnot a jpeg"), 1); !errors.Is(err, imagecheck.ErrCorrupt) {
		t.Errorf("garbage: got %v, want an error wrapping imagecheck.ErrCorrupt", err)
	}
}

// TestRenderDetectsLikeDetect checks a full-size request (render) feeds the network the same
// input size as the detect path, which decodes large JPEGs at reduced scale, and finds the same
// faces: the network keeps its shape when detect and render requests alternate.
func TestRenderDetectsLikeDetect(t *testing.T) {
	e := newEngine(t, "yunet", 1)
	y := e.all[0].det.(*yunet)
	ctx := context.Background()
	data := cvphoto.Photo12MP(t)
	det, err := e.Detect(ctx, data, face.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	detInput := y.input
	var full face.Detection
	err = e.Process(ctx, data, face.Filter{}, func(img gocv.Mat, d face.Detection) error {
		if img.Cols() != 4512 || img.Rows() != 2657 {
			t.Errorf("render image is %dx%d, want the full 4512x2657", img.Cols(), img.Rows())
		}
		full = d
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if y.input != detInput {
		t.Errorf("network input %v for the full-size request, %v for detect", y.input, detInput)
	}
	if len(full.Faces) != len(det.Faces) {
		t.Fatalf("%d faces at full size, %d from detect", len(full.Faces), len(det.Faces))
	}
	// Faces come sorted by confidence, which may differ in the last digits: match them as sets.
	for _, a := range det.Faces {
		if !slices.ContainsFunc(full.Faces, func(b face.Face) bool {
			return rectNear(image.Rect(a.X, a.Y, a.X+a.W, a.Y+a.H), image.Rect(b.X, b.Y, b.X+b.W, b.Y+b.H), 4512/100)
		}) {
			t.Errorf("face %+v from detect has no match at full size: %+v", a, full.Faces)
		}
	}
}
