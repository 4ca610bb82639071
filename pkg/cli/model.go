package cli

import (
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/facectl/facectl/pkg/modelfile"
)

func init() { commands = append(commands, newModelCmd) }

func newModelCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "model",
		Short: "Manage the YuNet face-detection model",
		Example: `  facectl model pull
  facectl model path`,
	}
	var from, dir, sha string
	pull := &cobra.Command{
		Use:   "pull",
		Short: "Download the YuNet model and verify its checksum",
		Long: `Download YuNet 2023mar (MIT licence) from its official URL, or copy it from --from (a URL, a
file:// URL or a local path), verify its sha256 and install it where facectl looks for it.`,
		Example: `  facectl model pull
  facectl model pull --from ../shared/models/face_detection_yunet_2023mar.onnx
  facectl model pull --dir /usr/share/facectl/models`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(a.streams.Err, "fetching %s\n", from)
			client := &http.Client{Timeout: 5 * time.Minute}
			p, err := modelfile.Pull(cmd.Context(), client, from, dir, sha)
			if err != nil {
				return err
			}
			if sha == "" {
				fmt.Fprintln(a.streams.Err, "warning: --sha256 is empty, the file was not verified")
			} else {
				fmt.Fprintf(a.streams.Err, "verified sha256 %s\n", sha)
			}
			fmt.Fprintln(a.streams.Out, p)
			return nil
		},
	}
	pull.Flags().StringVar(&from, "from", modelfile.URL, "where to get the model: https URL, file:// URL or path")
	pull.Flags().StringVar(&dir, "dir", modelfile.DefaultPullDir(), "directory to install the model in")
	pull.Flags().StringVar(&sha, "sha256", modelfile.SHA256, "expected sha256 of the file")
	cmd.AddCommand(pull)

	where := &cobra.Command{
		Use:     "path",
		Short:   "Print the model file facectl would use, or where it looked",
		Example: "  facectl model path",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d := defaultDetectorSection()
			if _, err := a.setup(cmd, map[string]any{"detector": d}, "text"); err != nil {
				return err
			}
			d.Detector = "yunet"
			if err := d.resolveModel(); err != nil {
				return err
			}
			fmt.Fprintln(a.streams.Out, d.Model)
			return nil
		},
	}
	cmd.AddCommand(where)
	return cmd
}
