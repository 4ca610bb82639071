package cli

import (
	"context"
	"log/slog"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/facectl/facectl/pkg/server"
)

// ServeOptions are facectl serve's inputs: the server and detector sections, validated.
type ServeOptions struct {
	IO       IOStreams
	Engine   Engine
	Server   server.Config
	Detector *detectorSection
	Log      *slog.Logger
	// Flags are the parsed flags, which the portable build hands to serve in the image.
	Flags *pflag.FlagSet
}

// NewCmdServe is facectl serve; runF, when not nil, runs instead of serveRun.
func NewCmdServe(f *Factory, runF func(*ServeOptions) error) *cobra.Command {
	opts := &ServeOptions{IO: f.IOStreams, Engine: f.Engine}
	cmd := &cobra.Command{
		Use:   "serve [flags]",
		Short: "Serve the upload page and the face-detection API over HTTP",
		Long: `Serve the upload page (GET /), the JSON API (POST /api/v1/detect, POST /api/v1/blur), the
original form route (POST /upload), liveness (/healthz), readiness (/readyz) and Prometheus metrics
(/metrics, or on --metrics-addr).

Detection runs on a fixed pool of detectors (--workers, default: usable cores) with a bounded
queue: when it is full requests get 429 with Retry-After, when a request waited --queue-wait it
gets 503. On SIGTERM or SIGINT readiness fails at once, requests are still served for
--drain-period so the load balancer can deregister the task, then in-flight requests get up to
--grace-period to finish.

Every flag is also a key of the config file's server: (or detector:) section and an environment
variable FACECTL_SERVER_<KEY> (FACECTL_DETECTOR_<KEY>); lists in the environment are
comma-separated. Pass API keys through the environment or the config file rather than flags,
which other users of the machine can see.`,
		Example: `  facectl serve
  facectl serve --addr :8080 --metrics-addr 127.0.0.1:9090 --workers 2 --queue-size 32
  FACECTL_SERVER_API_KEYS=key-one-0123456789,key-two-0123456789 facectl serve
  facectl serve --detector lbp --allowed-detectors yunet --max-body-bytes 20971520`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Server, opts.Detector, opts.Flags = server.DefaultConfig(), defaultDetectorSection(), cmd.Flags()
			log, err := f.load(cmd, map[string]any{"server": &opts.Server, "detector": opts.Detector}, "json")
			if err != nil {
				return err
			}
			opts.Log = log
			opts.Server.Detector = opts.Detector.Detector
			if err := opts.Server.Validate(); err != nil {
				return &usageError{err: err}
			}
			if runF != nil {
				return runF(opts)
			}
			return serveRun(cmd.Context(), opts)
		},
	}
	addSettingFlags(cmd.Flags(), "server", false)
	// --workers is the detector pool size (detector.pool_size); server.max_concurrent_detections can only lower
	// the number of detections admitted at once and is left to the config file.
	addDetectorFlags(cmd)
	return cmd
}

func serveRun(ctx context.Context, opts *ServeOptions) error {
	return opts.Engine.Serve(ctx, opts)
}
