//go:build cgo

package vision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"time"

	"gocv.io/x/gocv"

	"github.com/facectl/facectl/pkg/face"
	"github.com/facectl/facectl/pkg/imagecheck"
	"github.com/facectl/facectl/pkg/render"
)

// detector is one loaded model with its working memory. Implementations are not safe for
// concurrent use; the Engine's pool hands each to one goroutine at a time. Candidates are in the
// given image's coordinates.
type detector interface {
	name() string
	// detect finds faces in img; a detector that scales images for its network scales their
	// longest side to at most maxSide too, when maxSide > 0.
	detect(img gocv.Mat, maxSide int) ([]candidate, error)
	close() error
}

// worker is one slot of the pool: a detector and the buffers images are decoded into. Its native
// buffers grow to the largest image it has seen (up to a bound derived from the detection size)
// and are reused, so that a steady stream of requests allocates no large native memory: fresh
// multi-megabyte buffers cost a page fault per 4 KiB, which the kernel must zero and map.
type worker struct {
	det  detector
	bufs decodeBuffers
}

func (w *worker) close() error { return errors.Join(w.det.close(), w.bufs.close()) }

// Engine detects faces with a fixed pool of loaded detectors. It is safe for concurrent use; at
// most Workers images are decoded and detected at once, others wait for a free detector.
type Engine struct {
	cfg  Config
	log  *slog.Logger
	pool chan *worker
	all  []*worker
}

// New loads cfg.Workers detectors. Each worker is one core: OpenCV's own thread pool is set to a
// single thread, so images run in parallel across workers rather than one image across threads.
// That scales throughput with the workers (per-image threading gains little on a small network
// and costs synchronisation), keeps --workers an honest limit on the cores used, and keeps many
// workers from oversubscribing the machine.
func New(cfg Config, log *slog.Logger) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cores := runtime.GOMAXPROCS(0)
	if cfg.Workers == 0 {
		cfg.Workers = cores
	}
	setOpenCVThreads(1)
	e := &Engine{cfg: cfg, log: log, pool: make(chan *worker, cfg.Workers)}
	for range cfg.Workers {
		d, err := e.load()
		if err != nil {
			_ = e.Close()
			return nil, err
		}
		w := &worker{det: d, bufs: newDecodeBuffers(keepImageBytes(cfg.DetectionSize))}
		e.all = append(e.all, w)
		e.pool <- w
	}
	log.Debug("detectors loaded", "detector", cfg.Detector, "workers", cfg.Workers, "opencv_threads", openCVThreads())
	return e, nil
}

func (e *Engine) load() (detector, error) {
	if e.cfg.Detector == "yunet" {
		return newYuNet(e.cfg.Model, e.cfg.ScoreThreshold, e.cfg.NMSThreshold, e.cfg.DetectionSize)
	}
	return newCascade(e.cfg.Detector, filepath.Join(e.cfg.CascadeDir, cascadeFiles[e.cfg.Detector]), keepImageBytes(e.cfg.DetectionSize)/3)
}

// maxKeepImageBytes caps what each of a worker's image buffers keeps, whatever the detection
// size: what the default 1280 gives (about 20 MB). Kept buffers are outside every memory
// budget, so a detection size of 8192 must not make them 805 MB each.
const maxKeepImageBytes = 3 * 2560 * 2560

// keepImageBytes bounds each of a worker's image buffers: a BGR image of twice the detection
// size on each side, which holds every JPEG the detect path decodes (reduced decoding keeps the
// long side under 1.5× the detection size) and photos up to about 6 MP at the default, but
// never more than maxKeepImageBytes. Larger images (full-size renders of big photos, huge PNGs,
// anything beyond the cap at large detection sizes) get memory of their own, freed after the
// request (and counted by DecodeCost), so that RSS after a burst of them returns to idle.
func keepImageBytes(detectionSize int) int {
	return min(3*(2*detectionSize)*(2*detectionSize), maxKeepImageBytes)
}

// Close releases the detectors. It must not be called while detections are running.
func (e *Engine) Close() error {
	var errs []error
	for _, w := range e.all {
		errs = append(errs, w.close())
	}
	e.all = nil
	return errors.Join(errs...)
}

// Name is the detector's name.
func (e *Engine) Name() string { return e.cfg.Detector }

// Workers is the number of detectors in the pool.
func (e *Engine) Workers() int { return e.cfg.Workers }

// Detect checks, decodes and detects faces in data, then applies f. It blocks until a detector is
// free or ctx is done. Bad input yields an error wrapping one of imagecheck's sentinel errors.
func (e *Engine) Detect(ctx context.Context, data []byte, f face.Filter) (face.Detection, error) {
	var det face.Detection
	err := e.run(ctx, data, false, func(_ gocv.Mat, d face.Detection) error {
		det = d
		return nil
	})
	if err != nil {
		return face.Detection{}, err
	}
	det.Faces = f.Apply(det.Faces)
	return det, nil
}

// Render detects faces in data, applies f, and returns the image encoded with the faces drawn,
// blurred or pixelated as o says.
func (e *Engine) Render(ctx context.Context, data []byte, f face.Filter, o face.RenderOptions) ([]byte, face.Detection, error) {
	var out []byte
	var det face.Detection
	err := e.Process(ctx, data, f, func(img gocv.Mat, d face.Detection) error {
		var err error
		out, err = render.Apply(img, d.Faces, o)
		det = d
		return err
	})
	return out, det, err
}

// WriteFiles detects faces in data at full resolution, applies f, and writes the outputs o asks
// for (annotated image, crops, obscured copy), named after rel; input is the input's path ("" for
// standard input) and format its image format.
func (e *Engine) WriteFiles(ctx context.Context, data []byte, f face.Filter, o render.FileOutputs, rel, input string, format imagecheck.Format) (face.Detection, error) {
	var det face.Detection
	err := e.Process(ctx, data, f, func(img gocv.Mat, d face.Detection) error {
		det = d
		return o.Write(img, d.Faces, rel, input, format)
	})
	return det, err
}

// Versions returns the OpenCV and gocv versions facectl runs on.
func Versions() (opencv, gocvVersion string) { return gocv.OpenCVVersion(), gocv.Version() }

// Process detects faces in data at full resolution, applies f, and calls fn with the decoded image
// (BGR, as displayed) while it is alive. fn must not keep img; it may modify it.
func (e *Engine) Process(ctx context.Context, data []byte, f face.Filter, fn func(img gocv.Mat, det face.Detection) error) error {
	return e.run(ctx, data, true, func(img gocv.Mat, d face.Detection) error {
		d.Faces = f.Apply(d.Faces)
		return fn(img, d)
	})
}

// RenderOutputs detects faces in data and hands each output o asks for (crops, obscured copy,
// annotated image) to fn with the detection, so that callers store them without touching a Mat.
func (e *Engine) RenderOutputs(ctx context.Context, data []byte, f face.Filter, o render.FileOutputs, format imagecheck.Format, fn func(face.Detection, render.Rendered) error) (face.Detection, error) {
	var det face.Detection
	err := e.Process(ctx, data, f, func(img gocv.Mat, d face.Detection) error {
		det = d
		return o.Each(img, d.Faces, format, func(r render.Rendered) error { return fn(d, r) })
	})
	return det, err
}

// run is the one path every detection takes: inspect, wait for a detector, decode, detect.
func (e *Engine) run(ctx context.Context, data []byte, fullSize bool, fn func(gocv.Mat, face.Detection) error) error {
	info, err := imagecheck.Inspect(data, e.cfg.Limits)
	if err != nil {
		return err
	}
	var wk *worker
	select {
	case wk = <-e.pool:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { e.pool <- wk }()
	if err := ctx.Err(); err != nil {
		return err
	}
	start := time.Now()
	factor := 1
	if e.cfg.Detector == "yunet" {
		factor = reducedFactor(info, e.cfg.DetectionSize)
	}
	// A full-size image is still detected at the size the detect path decodes it to: the same
	// network input, so the same faces, and no reshaping of the network when detect and render
	// requests for the same photos alternate.
	netSide := 0
	decodeFactor := factor
	if fullSize {
		netSide = (max(info.Width, info.Height) + factor - 1) / factor
		decodeFactor = 1
	}
	dec, err := decode(data, info, decodeFactor, wk.bufs)
	if err != nil {
		return err
	}
	defer dec.img.Close()
	cands, err := wk.det.detect(dec.img, netSide)
	if err != nil {
		return fmt.Errorf("detecting faces: %w", err)
	}
	w, h := info.DisplaySize()
	det := face.Detection{
		Width:    w,
		Height:   h,
		Detector: wk.det.name(),
		Faces:    toFaces(cands, dec.scale, w, h, e.cfg.Detector == "yunet"),
		Elapsed:  time.Since(start),
	}
	return fn(dec.img, det)
}
