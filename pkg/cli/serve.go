package cli

import (
	"github.com/spf13/cobra"

	"github.com/facectl/facectl/pkg/server"
)

func init() {
	commands = append(commands, newServeCmd)
	registerSection("server", "The HTTP service, `facectl serve`.", func() any { d := server.DefaultConfig(); return &d })
}

func newServeCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve [flags]",
		Short: "Serve the upload page and the face-detection API over HTTP",
		Long: `Serve the upload page (GET /), the JSON API (POST /api/v1/detect, POST /api/v1/blur), the
original form route (POST /upload), liveness (/healthz), readiness (/readyz) and Prometheus metrics
(/metrics, or on --metrics-addr).

Detection runs on a fixed number of workers (--workers, default: usable cores) with a bounded
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
			return a.runServe(cmd)
		},
	}
	addSettingFlags(cmd.Flags(), "server", false)
	// --workers is the detector pool size (detector.workers); server.workers can only lower
	// the number of detections admitted at once and is left to the config file.
	addDetectorFlags(cmd)
	return cmd
}

func (a *app) runServe(cmd *cobra.Command) error {
	cfg := server.DefaultConfig()
	det := defaultDetectorSection()
	log, err := a.setup(cmd, map[string]any{"server": &cfg, "detector": det}, "json")
	if err != nil {
		return err
	}
	cfg.Detector = det.Detector
	if err := cfg.Validate(); err != nil {
		return &usageError{err: err}
	}
	return a.serveWith(cmd, cfg, det, log)
}
