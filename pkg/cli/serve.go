package cli

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/facectl/facectl/pkg/server"
	"github.com/facectl/facectl/pkg/vision"
)

func init() {
	commands = append(commands, newServeCmd)
	registerSection("server", func() any { d := server.DefaultConfig(); return &d })
}

func newServeCmd(a *app) *cobra.Command {
	var binds []binding
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
			return a.runServe(cmd, binds)
		},
	}
	d := server.DefaultConfig()
	f := cmd.Flags()
	f.String("addr", d.Addr, "listen address of the page and the API")
	f.String("metrics-addr", d.MetricsAddr, "serve /metrics (and health) on this address instead of --addr")
	f.Int("queue-size", d.QueueSize, "requests that may wait for a worker; more get 429")
	f.Duration("queue-wait", d.QueueWait, "longest wait for a worker before 503")
	f.Int64("max-body-bytes", d.MaxBodyBytes, "largest request body in bytes (413 above)")
	f.Int64("max-buffered-bytes", d.MaxBufferedBytes, "request bodies held in memory at once, over all requests; more uploads wait")
	f.Int("max-parts", d.MaxParts, "most parts in a multipart upload (400 above)")
	f.Int64("max-decode-bytes", d.MaxDecodeBytes, "native memory for images being decoded at once, estimated from their headers; more wait")
	f.Int64("min-upload-rate", d.MinUploadRate, "slowest accepted upload in bytes per second (408 below it; 0: no minimum)")
	f.Duration("upload-idle-timeout", d.UploadIdleTimeout, "longest pause in sending a request body (408 after it)")
	f.Duration("linger-timeout", d.LingerTimeout, "time to read and discard an unread body after an early answer (0: close at once)")
	f.Int64("linger-bytes", d.LingerBytes, "bytes to read and discard after an early answer before closing")
	f.StringSlice("trusted-proxies", nil, "CIDRs of proxies whose X-Forwarded-For names the client in logs (comma-separated)")
	f.Duration("request-timeout", d.RequestTimeout, "deadline of a detection request from admission: memory wait, upload, queue wait, detection")
	f.Duration("read-header-timeout", d.ReadHeaderTimeout, "time allowed to send the request headers")
	f.Duration("read-timeout", d.ReadTimeout, "time allowed to send the whole request")
	f.Duration("write-timeout", d.WriteTimeout, "time allowed from the request headers to the end of the response")
	f.Duration("idle-timeout", d.IdleTimeout, "keep-alive idle timeout (keep it above the load balancer's 60s)")
	f.Duration("drain-period", d.DrainPeriod, "time to keep serving after SIGTERM while readiness fails")
	f.Duration("grace-period", d.GracePeriod, "time in-flight requests get to finish after the drain period")
	f.StringSlice("api-keys", nil, "API keys accepted on the API and /upload (comma-separated; prefer FACECTL_SERVER_API_KEYS)")
	f.StringSlice("cors-origins", nil, "origins allowed to call the API from browsers (comma-separated, * for any)")
	f.StringSlice("allowed-detectors", nil, "detectors a request may choose with ?detector= besides --detector (loaded at start)")
	f.Int("jpeg-quality", d.JPEGQuality, "quality of JPEG images the API returns (1..100)")
	binds = []binding{
		{"addr", "server.addr"}, {"metrics-addr", "server.metrics_addr"},
		{"queue-size", "server.queue_size"}, {"queue-wait", "server.queue_wait"},
		{"max-body-bytes", "server.max_body_bytes"}, {"max-parts", "server.max_parts"},
		{"max-buffered-bytes", "server.max_buffered_bytes"},
		{"request-timeout", "server.request_timeout"}, {"read-header-timeout", "server.read_header_timeout"},
		{"read-timeout", "server.read_timeout"}, {"write-timeout", "server.write_timeout"},
		{"idle-timeout", "server.idle_timeout"}, {"drain-period", "server.drain_period"},
		{"grace-period", "server.grace_period"}, {"api-keys", "server.api_keys"},
		{"cors-origins", "server.cors_origins"}, {"allowed-detectors", "server.allowed_detectors"},
		{"jpeg-quality", "server.jpeg_quality"},
		{"max-decode-bytes", "server.max_decode_bytes"}, {"min-upload-rate", "server.min_upload_rate"},
		{"upload-idle-timeout", "server.upload_idle_timeout"}, {"linger-timeout", "server.linger_timeout"},
		{"linger-bytes", "server.linger_bytes"}, {"trusted-proxies", "server.trusted_proxies"},
	}
	// --workers is the detector pool size (detector.workers); server.workers can only lower
	// the number of detections admitted at once and is left to the config file.
	binds = append(binds, addDetectorFlags(cmd)...)
	return cmd
}

func (a *app) runServe(cmd *cobra.Command, binds []binding) error {
	cfg := server.DefaultConfig()
	det := defaultDetectorSection()
	log, err := a.setup(cmd, binds, map[string]any{"server": &cfg, "detector": det}, "json")
	if err != nil {
		return err
	}
	cfg.Detector = det.Detector
	if err := cfg.Validate(); err != nil {
		return &usageError{err: err}
	}
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
