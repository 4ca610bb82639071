//go:build cgo

package cli

// The commands' face engine when OpenCV is linked (cgo): detect and serve run it in-process.

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/facectl/facectl/pkg/server"
	"github.com/facectl/facectl/pkg/vision"
)

// serveWith serves with the detection engines linked into this binary.
func (a *app) serveWith(cmd *cobra.Command, cfg server.Config, det *detectorSection, log *slog.Logger) error {
	vision.TuneAllocator()
	engines, closeAll, err := loadEngines(det, cfg.AllowedDetectors, log)
	if err != nil {
		return err
	}
	srv, err := server.New(cfg, engines, log, nil)
	if err != nil {
		closeAll()
		return &usageError{err: err}
	}
	err = srv.Run(cmd.Context())
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

// engineVersions are the linked OpenCV's and gocv's versions.
func engineVersions() (opencv, gocvVersion string) { return vision.Versions() }
