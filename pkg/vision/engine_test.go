//go:build cgo

package vision

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/facectl/facectl/internal/testenv/cvphoto"

	"github.com/facectl/facectl/internal/testenv"

	"gocv.io/x/gocv"

	"github.com/facectl/facectl/pkg/face"
	"github.com/facectl/facectl/pkg/imagecheck"
)

var update = flag.Bool("update", false, "rewrite golden files")

func newEngine(t testing.TB, detector string, workers int) *Engine {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Detector = detector
	cfg.Model = testenv.Model(t)
	cfg.Workers = workers
	e, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Error(err)
		}
	})
	return e
}

// TestKeptBuffersAreCapped checks that what a worker keeps between requests (outside every
// memory budget) does not grow with the detection size: at 8192 it used to be two buffers of
// 805 MB each per worker.
func TestKeptBuffersAreCapped(t *testing.T) {
	for _, size := range []int{yunetMinSide, 1280, 4096, 8192} {
		cfg := DefaultConfig()
		cfg.Model = testenv.Model(t)
		cfg.Workers = 1
		cfg.DetectionSize = size
		e, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		w := e.all[0]
		kept := w.bufs.image.keep + w.bufs.turned.keep
		t.Logf("detection size %d: the worker keeps up to %d MB", size, kept/1e6)
		if kept > 2*3*2560*2560 {
			t.Errorf("detection size %d: the worker keeps up to %d MB, more than at the default 1280 (%d MB)", size, kept/1e6, 2*3*2560*2560/1000000)
		}
		if size <= 1280 && w.bufs.image.keep != 3*(2*size)*(2*size) {
			t.Errorf("detection size %d: keeps %d bytes an image, want a BGR image of twice the size", size, w.bufs.image.keep)
		}
		if err := e.Close(); err != nil {
			t.Error(err)
		}
	}
}

// TestYuNetCountsAndGolden checks every shared photo yields its true face count with the default
// detector, and that boxes stay within 2 px of the golden file.
func TestYuNetCountsAndGolden(t *testing.T) {
	e := newEngine(t, "yunet", 2)
	golden := filepath.Join("testdata", "yunet_golden.json")
	got := map[string][]face.Face{}
	for _, p := range testenv.Photos(t) {
		det, err := e.Detect(context.Background(), testenv.ReadPhoto(t, p.Name), face.Filter{})
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		if len(det.Faces) != p.Faces {
			t.Errorf("%s: %d faces, want %d", p.Name, len(det.Faces), p.Faces)
		}
		for _, f := range det.Faces {
			if f.Confidence < 0 || f.Confidence > 1 || len(f.Landmarks) != 5 {
				t.Errorf("%s: bad face %+v", p.Name, f)
			}
			if f.X < 0 || f.Y < 0 || f.X+f.W > det.Width || f.Y+f.H > det.Height {
				t.Errorf("%s: box %+v outside %dx%d", p.Name, f, det.Width, det.Height)
			}
		}
		got[p.Name] = det.Faces
	}
	if *update {
		b, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(golden, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	var want map[string][]face.Face
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for name, wf := range want {
		gf := got[name]
		if len(gf) != len(wf) {
			t.Errorf("%s: %d faces, golden has %d", name, len(gf), len(wf))
			continue
		}
		for i := range wf {
			if !near(gf[i], wf[i], 2) {
				t.Errorf("%s face %d: got %+v, golden %+v", name, i, gf[i], wf[i])
			}
		}
	}
}

func near(a, b face.Face, tol int) bool {
	d := func(x, y int) bool { return x-y <= tol && y-x <= tol }
	return d(a.X, b.X) && d(a.Y, b.Y) && d(a.W, b.W) && d(a.H, b.H) && math.Abs(a.Confidence-b.Confidence) < 0.02
}

// TestCascadesMatchOpenCV checks lbp and haar return exactly what OpenCV's detectMultiScale returns
// with the original app's parameters on the grayscale image.
func TestCascadesMatchOpenCV(t *testing.T) {
	for _, kind := range []string{"lbp", "haar"} {
		e := newEngine(t, kind, 1)
		cc := gocv.NewCascadeClassifier()
		if !cc.Load(filepath.Join(DefaultConfig().CascadeDir, cascadeFiles[kind])) {
			t.Fatalf("cannot load the %s cascade: install opencv-data", kind)
		}
		defer cc.Close()
		for _, p := range testenv.Photos(t) {
			img := gocv.IMRead(p.Path, gocv.IMReadColor)
			gray := gocv.NewMat()
			gocv.CvtColor(img, &gray, gocv.ColorBGRToGray)
			rects := cc.DetectMultiScaleWithParams(gray, 1.2, 5, 0, image.Point{}, image.Point{})
			img.Close()
			gray.Close()
			det, err := e.Detect(context.Background(), testenv.ReadPhoto(t, p.Name), face.Filter{})
			if err != nil {
				t.Fatalf("%s %s: %v", kind, p.Name, err)
			}
			if len(det.Faces) != len(rects) {
				t.Errorf("%s %s: %d faces, OpenCV found %d", kind, p.Name, len(det.Faces), len(rects))
				continue
			}
			// OpenCV's parallel scan may list the same boxes in another order: compare sorted.
			got := make([]image.Rectangle, 0, len(det.Faces))
			for _, f := range det.Faces {
				if f.Confidence != 1 || len(f.Landmarks) != 0 {
					t.Errorf("%s %s: cascade face %+v has a score or landmarks", kind, p.Name, f)
				}
				got = append(got, image.Rect(f.X, f.Y, f.X+f.W, f.Y+f.H))
			}
			byPos := func(a, b image.Rectangle) int { return cmp.Or(a.Min.X-b.Min.X, a.Min.Y-b.Min.Y, a.Dx()-b.Dx()) }
			slices.SortFunc(got, byPos)
			slices.SortFunc(rects, byPos)
			if !slices.Equal(got, rects) {
				t.Errorf("%s %s: boxes %v, OpenCV %v", kind, p.Name, got, rects)
			}
		}
	}
}

// TestOrientation stores gocv_face.jpg's pixels transformed by the inverse of each EXIF orientation,
// tagged with that orientation: displayed, it is the upright original again, so the face must be
// found where it is in the original, in the original's size.
func TestOrientation(t *testing.T) {
	e := newEngine(t, "yunet", 1)
	data := testenv.ReadPhoto(t, "gocv_face.jpg")
	base, err := e.Detect(context.Background(), data, face.Filter{})
	if err != nil || len(base.Faces) != 1 {
		t.Fatalf("baseline: %v %+v", err, base)
	}
	b := base.Faces[0]
	// inverse[o] turns the upright image into what a camera with orientation o stores.
	inverse := map[int][]func(gocv.Mat, *gocv.Mat){
		2: {flipH},
		3: {rotate(gocv.Rotate180Clockwise)},
		4: {flipV},
		5: {flipH, rotate(gocv.Rotate90CounterClockwise)},
		6: {rotate(gocv.Rotate90CounterClockwise)},
		7: {flipV, rotate(gocv.Rotate90CounterClockwise)},
		8: {rotate(gocv.Rotate90Clockwise)},
	}
	for o := 2; o <= 8; o++ {
		img, err := gocv.IMDecode(data, gocv.IMReadColor)
		if err != nil {
			t.Fatal(err)
		}
		for _, step := range inverse[o] {
			out := gocv.NewMat()
			step(img, &out)
			img.Close()
			img = out
		}
		buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, img, []int{gocv.IMWriteJpegQuality, 95})
		img.Close()
		if err != nil {
			t.Fatal(err)
		}
		stored := withOrientation(bytes.Clone(buf.GetBytes()), o)
		buf.Close()
		det, err := e.Detect(context.Background(), stored, face.Filter{})
		if err != nil {
			t.Fatalf("orientation %d: %v", o, err)
		}
		if det.Width != base.Width || det.Height != base.Height || len(det.Faces) != 1 {
			t.Fatalf("orientation %d: %dx%d with %d faces, want %dx%d with 1", o, det.Width, det.Height, len(det.Faces), base.Width, base.Height)
		}
		f := det.Faces[0]
		if !rectNear(image.Rect(f.X, f.Y, f.X+f.W, f.Y+f.H), image.Rect(b.X, b.Y, b.X+b.W, b.Y+b.H), 4) {
			t.Errorf("orientation %d: box %+v, want about %+v", o, f, b)
		}
	}
}

func rectNear(a, b image.Rectangle, tol int) bool {
	abs := func(v int) int { return max(v, -v) }
	return abs(a.Min.X-b.Min.X) <= tol && abs(a.Min.Y-b.Min.Y) <= tol && abs(a.Max.X-b.Max.X) <= tol && abs(a.Max.Y-b.Max.Y) <= tol
}

// withOrientation inserts an APP1 Exif segment with the orientation tag after the SOI marker.
func withOrientation(jpg []byte, o int) []byte {
	var tiff bytes.Buffer
	tiff.WriteString("MM\x00\x2a")
	binary.Write(&tiff, binary.BigEndian, uint32(8))
	binary.Write(&tiff, binary.BigEndian, uint16(1))              // one entry
	binary.Write(&tiff, binary.BigEndian, []uint16{0x0112, 3})    // Orientation, SHORT
	binary.Write(&tiff, binary.BigEndian, uint32(1))              // count
	binary.Write(&tiff, binary.BigEndian, []uint16{uint16(o), 0}) // value
	binary.Write(&tiff, binary.BigEndian, uint32(0))              // next IFD
	payload := append([]byte("Exif\x00\x00"), tiff.Bytes()...)
	seg := []byte{0xFF, 0xE1, byte((len(payload) + 2) >> 8), byte(len(payload) + 2)}
	out := append([]byte{}, jpg[:2]...)
	out = append(out, seg...)
	out = append(out, payload...)
	return append(out, jpg[2:]...)
}

// TestReducedDecode checks a 12 MP JPEG (decoded at reduced scale for the network) gives the same
// faces as the original photo, scaled.
func TestReducedDecode(t *testing.T) {
	e := newEngine(t, "yunet", 1)
	small, err := e.Detect(context.Background(), testenv.ReadPhoto(t, "group_10.jpg"), face.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	big, err := e.Detect(context.Background(), cvphoto.Photo12MP(t), face.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if big.Width != 4512 || big.Height != 2657 || len(big.Faces) != 10 {
		t.Fatalf("12 MP: %dx%d with %d faces, want 4512x2657 with 10", big.Width, big.Height, len(big.Faces))
	}
	sx, sy := 4512.0/float64(small.Width), 2657.0/float64(small.Height)
	for _, bf := range big.Faces {
		found := false
		for _, sf := range small.Faces {
			want := image.Rect(int(float64(sf.X)*sx), int(float64(sf.Y)*sy), int(float64(sf.X+sf.W)*sx), int(float64(sf.Y+sf.H)*sy))
			if rectNear(image.Rect(bf.X, bf.Y, bf.X+bf.W, bf.Y+bf.H), want, int(0.1*float64(want.Dx()))) {
				found = true
			}
		}
		if !found {
			t.Errorf("12 MP face %+v matches no face of the original", bf)
		}
	}
}

func encodePNG(t testing.TB, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestBadInput checks hostile or broken input is refused with the right sentinel, never crashes,
// and leaves the engine usable.
func TestBadInput(t *testing.T) {
	good := testenv.ReadPhoto(t, "gocv_face.jpg")
	bomb := encodePNG(t, 1, 1)
	binary.BigEndian.PutUint32(bomb[16:], 100000)
	binary.BigEndian.PutUint32(bomb[20:], 100000)
	binary.BigEndian.PutUint32(bomb[29:], crc32.ChecksumIEEE(bomb[12:29]))
	for _, kind := range Detectors {
		e := newEngine(t, kind, 1)
		for _, tc := range []struct {
			name string
			data []byte
			want error
		}{
			{"empty", nil, imagecheck.ErrEmpty},
			{"text", []byte("hello, this is not an image\n"), imagecheck.ErrUnsupported},
			{"truncated jpeg", good[:len(good)/2], imagecheck.ErrCorrupt},
			{"pixel bomb", bomb, imagecheck.ErrTooManyPixels},
			{"garbage after header", append(append([]byte{}, good[:600]...), append(bytes.Repeat([]byte{0x55}, 2000), 0xFF, 0xD9)...), imagecheck.ErrCorrupt},
		} {
			_, err := e.Detect(context.Background(), tc.data, face.Filter{})
			if !errors.Is(err, tc.want) {
				t.Errorf("%s %s: error %v, want %v", kind, tc.name, err, tc.want)
			}
		}
		for _, size := range [][2]int{{1, 1}, {7, 300}, {63, 63}, {65, 33}} {
			det, err := e.Detect(context.Background(), encodePNG(t, size[0], size[1]), face.Filter{})
			if err != nil || det.Width != size[0] || det.Height != size[1] {
				t.Errorf("%s %dx%d: %+v %v", kind, size[0], size[1], det, err)
			}
		}
		if det, err := e.Detect(context.Background(), good, face.Filter{}); err != nil || det.Width != 640 {
			t.Errorf("%s: engine broken after bad input: %v", kind, err)
		}
	}
}

// TestConcurrentAndCancel runs more goroutines than detectors (all get the same answer) and checks a
// caller whose context ends while waiting for a detector gets the context's error.
func TestConcurrentAndCancel(t *testing.T) {
	e := newEngine(t, "yunet", 2)
	data := testenv.ReadPhoto(t, "group_4.jpg")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			det, err := e.Detect(context.Background(), data, face.Filter{})
			if err == nil && len(det.Faces) != 4 {
				err = errors.New("wrong count")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	// Hold both detectors, then ask with a short deadline.
	a, b := <-e.pool, <-e.pool
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := e.Detect(ctx, data, face.Filter{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting past the deadline: %v", err)
	}
	e.pool <- a
	e.pool <- b
}

// TestRender checks each render mode returns an image of the input's size and that obscuring
// changes the face region.
func TestRender(t *testing.T) {
	e := newEngine(t, "yunet", 1)
	data := testenv.ReadPhoto(t, "group_10.jpg")
	for _, mode := range face.RenderModes {
		for _, format := range []imagecheck.Format{imagecheck.JPEG, imagecheck.PNG} {
			out, det, err := e.Render(context.Background(), data, face.Filter{}, face.RenderOptions{Mode: mode, Format: format})
			if err != nil {
				t.Fatalf("%s %s: %v", mode, format, err)
			}
			info, err := imagecheck.Inspect(out, imagecheck.Limits{})
			if err != nil || info.Format != format || info.Width != 1024 || info.Height != 603 || len(det.Faces) != 10 {
				t.Errorf("%s %s: %+v %v, %d faces", mode, format, info, err, len(det.Faces))
			}
			if mode == face.Annotate {
				continue
			}
			// Blurred faces lose their detail: the edge energy inside every box drops by far.
			// Pixelated ones are a handful of flat blocks (checked on the lossless PNG).
			for _, f := range det.Faces {
				if mode == face.Pixelate {
					if format == imagecheck.PNG {
						if n := distinctGray(t, out, f); n > 64 {
							t.Errorf("pixelate: face %+v has %d distinct values, want at most 64 blocks", f, n)
						}
					}
					continue
				}
				before, after := sharpness(t, data, f), sharpness(t, out, f)
				if after > before/4 {
					t.Errorf("%s %s: face %+v keeps its detail (edge energy %.1f → %.1f)", mode, format, f, before, after)
				}
			}
		}
	}
	if _, _, err := e.Render(context.Background(), data, face.Filter{}, face.RenderOptions{Mode: "paint", Format: imagecheck.JPEG}); err == nil {
		t.Error("unknown mode accepted")
	}
}

// distinctGray counts the distinct gray values inside the face's box.
func distinctGray(t *testing.T, data []byte, f face.Face) int {
	img, err := gocv.IMDecode(data, gocv.IMReadGrayScale)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	seen := map[uint8]bool{}
	for y := f.Y; y < f.Y+f.H; y++ {
		for x := f.X; x < f.X+f.W; x++ {
			seen[img.GetUCharAt(y, x)] = true
		}
	}
	return len(seen)
}

// sharpness is the standard deviation of the Laplacian inside the face's box.
func sharpness(t *testing.T, data []byte, f face.Face) float64 {
	img, err := gocv.IMDecode(data, gocv.IMReadGrayScale)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	roi := img.Region(image.Rect(f.X, f.Y, f.X+f.W, f.Y+f.H))
	defer roi.Close()
	lap := gocv.NewMat()
	defer lap.Close()
	gocv.Laplacian(roi, &lap, gocv.MatTypeCV64F, 3, 1, 0, gocv.BorderDefault)
	mean, std := gocv.NewMat(), gocv.NewMat()
	defer mean.Close()
	defer std.Close()
	gocv.MeanStdDev(lap, &mean, &std)
	return std.GetDoubleAt(0, 0)
}

func TestFilterThroughEngine(t *testing.T) {
	e := newEngine(t, "yunet", 1)
	data := testenv.ReadPhoto(t, "group_10.jpg")
	for _, tc := range []struct {
		f    face.Filter
		want int
	}{{face.Filter{}, 10}, {face.Filter{MaxFaces: 3}, 3}, {face.Filter{Best: true}, 1}, {face.Filter{Biggest: true}, 1}, {face.Filter{MinConfidence: 0.99}, 0}} {
		det, err := e.Detect(context.Background(), data, tc.f)
		if err != nil || len(det.Faces) != tc.want {
			t.Errorf("%+v: %d faces (%v), want %d", tc.f, len(det.Faces), err, tc.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	c := DefaultConfig()
	c.Detector, c.ScoreThreshold, c.NMSThreshold, c.DetectionSize, c.Workers = "dlib", 2, 0, 10, -1
	err := c.Validate()
	for _, want := range []string{"dlib", "score threshold", "NMS", "detection size", "workers"} {
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("Validate() = %v, want it to mention %q", err, want)
		}
	}
}

var _ = color.RGBA{}
var _ = jpeg.Encode
