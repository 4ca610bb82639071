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
	ModelSHA256 string `mapstructure:"model_sha256" help:"the model's expected sha256; a file that does not match is refused (change only for another YuNet build)"`
}

func defaultDetectorSection() *detectorSection {
	return &detectorSection{Config: vision.DefaultConfig(), ModelSHA256: modelfile.SHA256}
}

// logSection is the config file's `log:` block; its flags are global (persistent on the root).
type logSection struct {
	Level  string `mapstructure:"level" flag:"log-level,persistent" help:"log level: debug, info, warn, error (config log.level, env FACECTL_LOG_LEVEL)"`
	Format string `mapstructure:"format" flag:"log-format,persistent" help:"log format: text or json (default: json for serve, text otherwise; config log.format, env FACECTL_LOG_FORMAT)"`
	Source bool   `mapstructure:"source" flag:"log-source,persistent" help:"add the source file and line of the logging call to every record"`
}

func defaultLogSection() *logSection { return &logSection{Level: "info"} }

// addDetectorFlags adds the detector flags shared by detect and serve.
func addDetectorFlags(cmd *cobra.Command) {
	addSettingFlags(cmd.Flags(), "detector", false)
	// The search path depends on the user's cache directory and the binary's location.
	cmd.Flags().Lookup("model").Usage = "YuNet model file (default: search " + strings.Join(modelfile.SearchPath(), ", ") + ")"
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
