//go:build cgo

package cli

// The commands' face engine when OpenCV is linked (cgo): detect and serve run it in-process.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/facectl/facectl/pkg/server"
	"github.com/facectl/facectl/pkg/vision"
)

// linkedEngine runs detect and serve in this process, with the OpenCV linked into this binary.
type linkedEngine struct{}

func newEngine(*Factory) Engine { return linkedEngine{} }

// Serve serves with the detection engines linked into this binary.
func (linkedEngine) Serve(ctx context.Context, opts *ServeOptions) error {
	log := opts.Log
	vision.TuneAllocator()
	engines, closeAll, err := loadEngines(opts.Detector, opts.Server.AllowedDetectors, log)
	if err != nil {
		return err
	}
	srv, err := server.New(opts.Server, engines, log, nil)
	if err != nil {
		closeAll()
		return &usageError{err: err}
	}
	err = srv.Run(ctx)
	if err != nil {
		// Requests may still be inside the engines after a missed grace period; the process
		// is about to exit, which frees them.
		return fmt.Errorf("serving: %w", err)
	}
	closeAll()
	return nil
}

// loadEngines loads the configured detector and every other allowed one, with the same
// settings apart from the detector name.
func loadEngines(det *detectorSection, allowed []string, log *slog.Logger) (map[string]server.Engine, func(), error) {
	engines := map[string]server.Engine{}
	var loaded []*vision.Engine
	closeAll := func() {
		for _, e := range loaded {
			if err := e.Close(); err != nil {
				log.Warn("closing detection engine", "err", err)
			}
		}
	}
	for _, name := range append([]string{det.Detector}, allowed...) {
		if _, ok := engines[name]; ok {
			continue
		}
		d := *det
		d.Detector = name
		if err := d.resolveModel(); err != nil {
			closeAll()
			return nil, nil, err
		}
		e, err := vision.New(d.Config, log)
		if err != nil {
			closeAll()
			var ve interface{ Unwrap() []error }
			if errors.As(err, &ve) {
				return nil, nil, &usageError{err: fmt.Errorf("detector %s: %w", name, err)}
			}
			return nil, nil, fmt.Errorf("loading detector %s: %w", name, err)
		}
		loaded = append(loaded, e)
		engines[name] = e
	}
	return engines, closeAll, nil
}

// Versions are the linked OpenCV's and gocv's versions.
func (linkedEngine) Versions() (opencv, gocvVersion string) { return vision.Versions() }
