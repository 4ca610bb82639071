package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/facectl/facectl/pkg/modelfile"
	"github.com/facectl/facectl/pkg/vision"
)

// detectorSection is the config file's `detector:` block: the engine's config plus the model
// checksum the CLI verifies before handing the file to OpenCV.
type detectorSection struct {
	vision.Config `mapstructure:",squash"`
	// ModelSHA256 is the expected sha256 of the model; set it only to use another YuNet build.
	ModelSHA256 string `mapstructure:"model_sha256"`
}

func defaultDetectorSection() *detectorSection {
	return &detectorSection{Config: vision.DefaultConfig(), ModelSHA256: modelfile.SHA256}
}

// logSection is the config file's `log:` block; the global --log-level/--log-format flags set it.
type logSection struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
}

func init() {
	registerSection("detector", func() any { return defaultDetectorSection() })
	registerSection("log", func() any { return &logSection{Level: "info"} })
}

// addDetectorFlags adds the detector flags shared by detect and serve and returns their bindings.
func addDetectorFlags(cmd *cobra.Command) []binding {
	d := defaultDetectorSection()
	f := cmd.Flags()
	f.String("detector", d.Detector, "face detector: "+strings.Join(vision.Detectors, ", "))
	f.String("model", "", "YuNet model file (default: search "+strings.Join(modelfile.SearchPath(), ", ")+")")
	f.Float64("score-threshold", d.ScoreThreshold, "YuNet: minimum face score kept before NMS")
	f.Float64("nms-threshold", d.NMSThreshold, "YuNet: overlap (IoU) above which boxes are merged")
	f.Int("detection-size", d.DetectionSize, "YuNet: longest side in pixels fed to the network; larger images are downscaled")
	f.Int("workers", 0, "images processed in parallel (default: usable cores)")
	f.Int64("max-bytes", d.Limits.MaxBytes, "largest accepted image file, in bytes")
	f.Int64("max-pixels", d.Limits.MaxPixels, "largest accepted image, in pixels (width×height), checked before decoding")
	f.String("cascade-dir", d.CascadeDir, "directory holding OpenCV's lbpcascades/ and haarcascades/")
	return []binding{
		{"detector", "detector.name"}, {"model", "detector.model"},
		{"score-threshold", "detector.score_threshold"}, {"nms-threshold", "detector.nms_threshold"},
		{"detection-size", "detector.detection_size"}, {"workers", "detector.workers"},
		{"max-bytes", "detector.max_bytes"}, {"max-pixels", "detector.max_pixels"},
		{"cascade-dir", "detector.cascade_dir"},
	}
}

// modelSearchPath is modelfile.SearchPath; tests replace it to point at an empty directory.
var modelSearchPath = modelfile.SearchPath

// resolveModel finds and verifies the model when the detector needs one.
func (d *detectorSection) resolveModel() error {
	if d.Detector != "yunet" {
		return nil
	}
	p, err := modelfile.Locate(d.Model, modelSearchPath(), d.ModelSHA256)
	if err != nil {
		return fmt.Errorf("detector model: %w", err)
	}
	d.Model = p
	return nil
}
