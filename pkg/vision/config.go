// Package vision detects faces with OpenCV (through gocv): decoding checked image bytes, running a
// pool of detectors (YuNet or the classic cascades) and rendering results. Every gocv Mat it
// creates is closed before its function returns, except the workers' reusable buffers, which
// Engine.Close closes.
//
// Without cgo (a build with no OpenCV linked) the package holds only its configuration, so that
// the command line can declare and check the detector settings and hand them to the engine in
// facectl's container image.
package vision

import (
	"errors"
	"fmt"
	"slices"

	"github.com/facectl/facectl/pkg/imagecheck"
)

// yunetMinSide is the smallest padded input side the network accepts.
const yunetMinSide = 64

// Detectors lists the detector names Config.Detector accepts.
var Detectors = []string{"yunet", "lbp", "haar"}

// Config configures an Engine.
type Config struct {
	// Detector is "yunet" (default), "lbp" or "haar".
	Detector string `mapstructure:"name" flag:"detector" help:"face detector: yunet, lbp, haar"`
	// Model is the path of the YuNet ONNX file; the CLI resolves it (flag, config, search path).
	Model string `mapstructure:"model" flag:"model" help:"YuNet model file (default: search the model directories, see facectl model)"`
	// CascadeDir holds lbpcascades/ and haarcascades/ (Debian's opencv-data).
	CascadeDir string `mapstructure:"cascade_dir" flag:"cascade-dir" help:"directory holding OpenCV's lbpcascades/ and haarcascades/"`
	// ScoreThreshold is YuNet's minimum face score before NMS.
	ScoreThreshold float64 `mapstructure:"score_threshold" flag:"score-threshold" help:"YuNet: minimum face score kept before NMS"`
	// NMSThreshold is the IoU above which overlapping YuNet boxes are merged.
	NMSThreshold float64 `mapstructure:"nms_threshold" flag:"nms-threshold" help:"YuNet: overlap (IoU) above which boxes are merged"`
	// DetectionSize is the longest side, in pixels, of the image fed to YuNet: larger images are
	// downscaled, boxes are mapped back. Large JPEGs are decoded at 1/2, 1/4 or 1/8 scale when that
	// keeps at least 3/4 of this size.
	DetectionSize int `mapstructure:"detection_size" flag:"detection-size" help:"YuNet: longest side in pixels fed to the network; larger images are downscaled"`
	// Workers is the number of detectors kept loaded; 0 means the number of usable cores.
	Workers int `mapstructure:"pool_size" flag:"workers" help:"detectors kept loaded, each working on one image at a time (default: usable cores)"`
	// Limits guard decoding: bytes and pixels, checked from the header before decoding.
	Limits imagecheck.Limits `mapstructure:",squash"`
}

// DefaultConfig returns the defaults, measured on shared/testdata/faces (see BENCHMARKS.md, "Choosing the defaults").
func DefaultConfig() Config {
	return Config{
		Detector:       "yunet",
		CascadeDir:     "/usr/share/opencv4",
		ScoreThreshold: 0.7,
		NMSThreshold:   0.3,
		DetectionSize:  1280,
		Limits:         imagecheck.DefaultLimits(),
	}
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	if !slices.Contains(Detectors, c.Detector) {
		errs = append(errs, fmt.Errorf("detector %q is not one of %v", c.Detector, Detectors))
	}
	if c.Detector == "yunet" && c.Model == "" {
		errs = append(errs, errors.New("the yunet detector needs a model file"))
	}
	if c.ScoreThreshold < 0 || c.ScoreThreshold > 1 {
		errs = append(errs, fmt.Errorf("score threshold %v is not in [0,1]", c.ScoreThreshold))
	}
	if c.NMSThreshold <= 0 || c.NMSThreshold > 1 {
		errs = append(errs, fmt.Errorf("NMS threshold %v is not in (0,1]", c.NMSThreshold))
	}
	if c.DetectionSize < yunetMinSide || c.DetectionSize > 8192 {
		errs = append(errs, fmt.Errorf("detection size %d is not in [%d,8192]", c.DetectionSize, yunetMinSide))
	}
	if c.Workers < 0 {
		errs = append(errs, fmt.Errorf("workers %d is negative", c.Workers))
	}
	if err := c.Limits.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
