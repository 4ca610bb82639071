package cli

import (
	"context"
	"fmt"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/facectl/facectl/pkg/modelfile"
)

// NewCmdModel is the facectl model group (root.go adds its subcommands).
func NewCmdModel(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "model",
		Short: "Manage the YuNet face-detection model",
		Example: `  facectl model pull
  facectl model path`,
	}
	return cmd
}

// ModelPullOptions are facectl model pull's inputs.
type ModelPullOptions struct {
	IO         IOStreams
	HTTPClient func() *http.Client
	From, Dir  string
	SHA256     string
}

// NewCmdModelPull is facectl model pull; runF, when not nil, runs instead of modelPullRun.
func NewCmdModelPull(f *Factory, runF func(*ModelPullOptions) error) *cobra.Command {
	opts := &ModelPullOptions{IO: f.IOStreams, HTTPClient: f.HTTPClient}
	cmd := &cobra.Command{
		Use:   "pull",
		Short: "Download the YuNet model and verify its checksum",
		Long: `Download YuNet 2023mar (MIT licence) from its official URL, or copy it from --from (a URL, a
file:// URL or a local path), verify its sha256 and install it where facectl looks for it.`,
		Example: `  facectl model pull
  facectl model pull --from ../shared/models/face_detection_yunet_2023mar.onnx
  facectl model pull --dir /usr/share/facectl/models`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return modelPullRun(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&opts.From, "from", modelfile.URL, "where to get the model: https URL, file:// URL or path")
	fs.StringVar(&opts.Dir, "dir", modelfile.DefaultPullDir(), "directory to install the model in")
	fs.StringVar(&opts.SHA256, "sha256", modelfile.SHA256, "expected sha256 of the file")
	return cmd
}

func modelPullRun(ctx context.Context, opts *ModelPullOptions) error {
	fmt.Fprintf(opts.IO.Err, "fetching %s\n", opts.From)
	p, err := modelfile.Pull(ctx, opts.HTTPClient(), opts.From, opts.Dir, opts.SHA256)
	if err != nil {
		return err
	}
	if opts.SHA256 == "" {
		fmt.Fprintln(opts.IO.Err, "warning: --sha256 is empty, the file was not verified")
	} else {
		fmt.Fprintf(opts.IO.Err, "verified sha256 %s\n", opts.SHA256)
	}
	fmt.Fprintln(opts.IO.Out, p)
	return nil
}

// ModelPathOptions are facectl model path's inputs.
type ModelPathOptions struct {
	IO       IOStreams
	Detector *detectorSection
}

// NewCmdModelPath is facectl model path; runF, when not nil, runs instead of modelPathRun.
func NewCmdModelPath(f *Factory, runF func(*ModelPathOptions) error) *cobra.Command {
	opts := &ModelPathOptions{IO: f.IOStreams}
	return &cobra.Command{
		Use:     "path",
		Short:   "Print the model file facectl would use, or where it looked",
		Example: "  facectl model path",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Detector = defaultDetectorSection()
			if _, err := f.load(cmd, map[string]any{"detector": opts.Detector}, "text"); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return modelPathRun(opts)
		},
	}
}

func modelPathRun(opts *ModelPathOptions) error {
	d := *opts.Detector
	d.Detector = "yunet"
	if err := d.resolveModel(); err != nil {
		return err
	}
	fmt.Fprintln(opts.IO.Out, d.Model)
	return nil
}
