//go:build cgo

package cli

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// BenchmarkDetectBatch is `facectl detect` over all the shared photos through the real command
// path (flags, config, engine start-up with the model load, ordered output as jsonl to a discarded
// stdout), with one worker and with the default (one per usable core). images/s is the batch rate.
func BenchmarkDetectBatch(b *testing.B) {
	files, err := filepath.Glob(filepath.Join(photoDir, "*.[jp][pn]g"))
	if err != nil || len(files) < 10 {
		b.Fatalf("shared photos: %d found (%v)", len(files), err)
	}
	model := testModel(b)
	for _, workers := range []int{1, 0} {
		name := "workers=" + strconv.Itoa(workers)
		if workers == 0 {
			name = "workers=default"
		}
		b.Run(name, func(b *testing.B) {
			args := append([]string{"detect", "--model", model, "--workers", strconv.Itoa(workers)}, files...)
			var stderr bytes.Buffer
			detect := func() {
				stderr.Reset()
				if code := Main(b.Context(), args, IOStreams{In: os.Stdin, Out: io.Discard, Err: &stderr}); code != ExitOK {
					b.Fatalf("exit %d: %s", code, stderr.String())
				}
			}
			detect() // warm the page cache and OpenCV's lazy initialisation
			b.ResetTimer()
			for b.Loop() {
				detect()
			}
			b.ReportMetric(float64(b.N*len(files))/b.Elapsed().Seconds(), "images/s")
		})
	}
}
