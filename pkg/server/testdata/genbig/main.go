// Command genbig writes the 49 MP test images of TestPeakMemoryIsBounded, gzipped, to
// pkg/server/testdata: a baseline and a progressive JPEG and a PNG, 7000x7000 (under the 50 MP
// default pixel limit) but small on the wire. It uses OpenCV, which pkg/server's tests may not
// import (only pkg/vision and pkg/render do); the test reads the files instead. Run it from the
// repository root:
//
//	go run ./pkg/server/testdata/genbig
package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"image"
	"image/color"
	"os"
	"path/filepath"

	"gocv.io/x/gocv"
)

func main() {
	img := gocv.NewMatWithSize(7000, 7000, gocv.MatTypeCV8UC3)
	defer img.Close()
	gocv.Rectangle(&img, image.Rect(1000, 1000, 6000, 6000), color.RGBA{R: 30, G: 120, B: 200}, -1)
	gocv.Circle(&img, image.Pt(3500, 3500), 1500, color.RGBA{R: 220, G: 60, B: 40}, -1)
	for name, enc := range map[string]struct {
		ext    gocv.FileExt
		params []int
	}{
		"big49mp.jpg.gz":             {gocv.JPEGFileExt, []int{gocv.IMWriteJpegQuality, 80}},
		"big49mp_progressive.jpg.gz": {gocv.JPEGFileExt, []int{gocv.IMWriteJpegQuality, 80, gocv.IMWriteJpegProgressive, 1}},
		"big49mp.png.gz":             {gocv.PNGFileExt, []int{gocv.IMWritePngCompression, 9}},
	} {
		buf, err := gocv.IMEncodeWithParams(enc.ext, img, enc.params)
		if err != nil {
			fail(err)
		}
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		zw.Write(buf.GetBytes())
		buf.Close()
		if err := zw.Close(); err != nil {
			fail(err)
		}
		if err := os.WriteFile(filepath.Join("pkg", "server", "testdata", name), gz.Bytes(), 0o644); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "genbig:", err)
	os.Exit(1)
}
