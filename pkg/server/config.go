package server

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Config is the `server:` section of the facectl configuration. Each field declares its setting
// in tags: mapstructure (the key), flag (the flag, if any) and help (one line); the CLI derives
// from them the flags, FACECTL_SERVER_<KEY> variables, the example config and the docs. The
// defaults are those of DefaultConfig.
type Config struct {
	// Addr is the listen address of the page and the API. Default ":8080".
	Addr string `mapstructure:"addr" flag:"addr" help:"listen address of the page and the API"`
	// MetricsAddr, when set, serves /metrics (and /healthz, /readyz) on a second listener so
	// that metrics can stay private; empty serves /metrics on Addr. Default "".
	MetricsAddr string `mapstructure:"metrics_addr" flag:"metrics-addr" help:"serve /metrics (and health) on this address instead of --addr"`

	// Workers is the number of detections that run at once. 0 uses the default engine's
	// pool size (which defaults to the usable cores). Default 0.
	MaxConcurrentDetections int `mapstructure:"max_concurrent_detections" help:"detections admitted at once; 0 means detector.pool_size (can only lower it)"`
	// QueueSize is how many requests may wait for a worker; when it is full further requests
	// get 429 with Retry-After. 0 means no waiting at all. Default 64.
	QueueSize int `mapstructure:"queue_size" flag:"queue-size" help:"requests that may wait for a worker; more get 429"`
	// QueueWait is the longest a request waits for a worker before it gets 503. Default 10s.
	QueueWait time.Duration `mapstructure:"queue_wait" flag:"queue-wait" help:"longest wait for a worker before 503"`

	// MaxBodyBytes limits the request body (413 above it). Default 10 MiB. The pixel limit
	// is the engine's (imagecheck limits), checked from the image header before decoding.
	MaxBodyBytes int64 `mapstructure:"max_body_bytes" flag:"max-body-bytes" help:"largest request body in bytes (413 above)"`
	// MaxBufferedBytes bounds the request bodies held in memory at once, over all requests;
	// an upload that does not fit waits (its body still in the socket) within QueueWait.
	// It must be at least MaxBodyBytes. Default 24 MiB, which keeps a burst of 12 MP uploads
	// within the memory target (BENCHMARKS.md).
	MaxBufferedBytes int64 `mapstructure:"max_buffered_bytes" flag:"max-buffered-bytes" help:"request bodies held in memory at once, over all requests; more uploads wait"`
	// MaxParts limits the parts of a multipart body, files and fields together (400 above
	// it). Default 8.
	MaxParts int `mapstructure:"max_parts" flag:"max-parts" help:"most parts in a multipart upload (400 above)"`
	// MaxDecodeBytes bounds the native memory of the images being decoded and processed at
	// once, over all requests, as estimated from each image's header before it is decoded
	// (decoded pixels, JPEG coefficient buffers, the rotated copy, the network input and the
	// encoded result). A request that does not fit waits within QueueWait; one that alone needs
	// more than the budget is refused (422). Default 256 MiB (see the memory bound in
	// docs/operations.md).
	MaxDecodeBytes int64 `mapstructure:"max_decode_bytes" flag:"max-decode-bytes" help:"native memory for images being decoded at once, estimated from their headers; more wait"`

	// MinUploadRate is the slowest accepted upload, in bytes per second, on average: over the
	// first 16 KiB after a grace of UploadIdleTimeout, then over the rest (which holds upload
	// memory) after a grace of one second; slower uploads get 408. 0 disables it. Default
	// 16 KiB/s.
	MinUploadRate int64 `mapstructure:"min_upload_rate" flag:"min-upload-rate" help:"slowest accepted upload in bytes per second (408 below it; 0: no minimum)"`
	// MinDownloadRate is the slowest accepted download of an answer, in bytes per second: each
	// 32 KiB of a response must be taken within a second plus the time this rate allows for
	// it, or the connection is closed (logged and counted as 499). Responses being sent hold
	// memory of their own, up to MaxBufferedBytes over all requests, but no worker, upload or
	// decode memory. 0 disables it (WriteTimeout still bounds the response). Default 16 KiB/s.
	MinDownloadRate int64 `mapstructure:"min_download_rate" flag:"min-download-rate" help:"slowest accepted download of an answer in bytes per second (the connection is cut below it; 0: no minimum)"`
	// UploadIdleTimeout is the longest pause between two reads of a request body (like
	// nginx's client_body_timeout); longer gets 408. Default 5s.
	UploadIdleTimeout time.Duration `mapstructure:"upload_idle_timeout" flag:"upload-idle-timeout" help:"longest pause in sending a request body (408 after it)"`
	// LingerTimeout and LingerBytes bound the lingering close: after an answer sent before the
	// body was read (413, 429, 401, 415, ...), the server reads and discards the rest of the
	// body for at most this long and this many bytes before it closes the connection, so that
	// clients that send the whole body before reading hear the answer. LingerTimeout 0
	// disables it. Defaults 5s and 40 MiB.
	LingerTimeout time.Duration `mapstructure:"linger_timeout" flag:"linger-timeout" help:"time to read and discard an unread body after an early answer (0: close at once)"`
	LingerBytes   int64         `mapstructure:"linger_bytes" flag:"linger-bytes" help:"bytes to read and discard after an early answer before closing"`

	// MaxConnections caps the open client connections of the main listener; the server lowers
	// it to the open-file limit (ulimit -n) less 128 files kept for the metrics listener's
	// connections and its own files. At the cap an idle keep-alive connection is closed to make
	// room; without one, new clients wait in the listen backlog. The cap also bounds the memory
	// idle connections hold (BENCHMARKS.md). Default 4096.
	MaxConnections int `mapstructure:"max_connections" flag:"max-connections" help:"most open client connections (lowered to fit ulimit -n); idle ones are closed first at the cap"`

	// RequestTimeout is the deadline of one detection request from its admission: waiting
	// for memory, reading the body, waiting for a worker and detecting (503 when it runs out
	// while waiting). Default 30s.
	RequestTimeout time.Duration `mapstructure:"request_timeout" flag:"request-timeout" help:"deadline of a detection request from admission: memory wait, upload, queue wait, detection"`
	// ReadHeaderTimeout bounds reading the request headers (slowloris). Default 5s.
	ReadHeaderTimeout time.Duration `mapstructure:"read_header_timeout" flag:"read-header-timeout" help:"time allowed to send the request headers"`
	// ReadTimeout bounds reading a whole request, body included. Default 30s.
	ReadTimeout time.Duration `mapstructure:"read_timeout" flag:"read-timeout" help:"time allowed to send the whole request"`
	// WriteTimeout bounds the time from the end of the request headers to the end of the
	// response; it must exceed ReadTimeout plus RequestTimeout. Default 75s.
	WriteTimeout time.Duration `mapstructure:"write_timeout" flag:"write-timeout" help:"time allowed from the request headers to the end of the response"`
	// IdleTimeout closes idle keep-alive connections. It must be longer than the load
	// balancer's idle timeout (60 s on an AWS ALB) so that the balancer, not the server,
	// closes them. Default 75s.
	IdleTimeout time.Duration `mapstructure:"idle_timeout" flag:"idle-timeout" help:"keep-alive idle timeout (keep it above the load balancer's 60s)"`

	// DrainPeriod is how long the server keeps serving after a stop signal while readiness
	// already answers 503, so the load balancer can deregister it. Default 5s.
	DrainPeriod time.Duration `mapstructure:"drain_period" flag:"drain-period" help:"time to keep serving after SIGTERM while readiness fails"`
	// GracePeriod bounds waiting for in-flight requests after the drain period; keep
	// DrainPeriod + GracePeriod below the ECS stop timeout (30 s by default). Default 20s.
	GracePeriod time.Duration `mapstructure:"grace_period" flag:"grace-period" help:"time in-flight requests get to finish after the drain period"`

	// APIKeys, when not empty, are required on the API and /upload as `Authorization: Bearer
	// KEY` or `X-API-Key: KEY`. Several keys allow rotation. Health, readiness, metrics and
	// the page itself are exempt. Default none.
	APIKeys []string `mapstructure:"api_keys" flag:"api-keys" help:"API keys accepted on the API and /upload (comma-separated; prefer FACECTL_SERVER_API_KEYS)"`
	// TrustedProxies are the networks (CIDRs, or single addresses) of proxies and load
	// balancers whose X-Forwarded-For header is believed: the logs then show the client
	// address it names (the right-most address not itself trusted). Default none: logs show
	// the peer address.
	TrustedProxies []string `mapstructure:"trusted_proxies" flag:"trusted-proxies" help:"CIDRs of proxies whose X-Forwarded-For names the client in logs (comma-separated)"`
	// CORSOrigins lists the origins allowed to call the API from a browser ("*" = any).
	// Default none (same origin only).
	CORSOrigins []string `mapstructure:"cors_origins" flag:"cors-origins" help:"origins allowed to call the API from browsers (comma-separated, * for any)"`

	// Detector is the engine used when a request names none; empty means the only engine
	// given to New. It is not a config key: the CLI sets it to the detector section's name.
	Detector string `mapstructure:"-"`
	// AllowedDetectors are the engines a request may choose with ?detector=NAME, besides the
	// default one. Default none.
	AllowedDetectors []string `mapstructure:"allowed_detectors" flag:"allowed-detectors" help:"detectors a request may choose with ?detector= besides --detector (loaded at start)"`

	// JPEGQuality is the quality of JPEG images the API returns (1..100). Default 90.
	JPEGQuality int `mapstructure:"jpeg_quality" flag:"jpeg-quality" help:"quality of JPEG images the API returns (1..100)"`
}

// MiB is 1 << 20 bytes.
const MiB = 1 << 20

// DefaultConfig returns the configuration used for every key that is not set.
func DefaultConfig() Config {
	return Config{
		Addr:              ":8080",
		QueueSize:         64,
		QueueWait:         10 * time.Second,
		MaxBodyBytes:      10 * MiB,
		MaxBufferedBytes:  24 * MiB,
		MaxParts:          8,
		MaxDecodeBytes:    256 * MiB,
		MinUploadRate:     16 << 10,
		MinDownloadRate:   16 << 10,
		UploadIdleTimeout: 5 * time.Second,
		LingerTimeout:     5 * time.Second,
		LingerBytes:       40 * MiB,
		MaxConnections:    4096,
		RequestTimeout:    30 * time.Second,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      75 * time.Second,
		IdleTimeout:       75 * time.Second,
		DrainPeriod:       5 * time.Second,
		GracePeriod:       20 * time.Second,
		JPEGQuality:       90,
	}
}

// albIdleTimeout is the default idle timeout of an AWS Application Load Balancer. A server
// that closes idle connections sooner races the balancer and causes sporadic 502s.
const albIdleTimeout = 60 * time.Second

var detectorName = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

// Validate reports every invalid key at once, naming each by its config key.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("server."+format, a...)) }

	if err := checkAddr(c.Addr); err != nil {
		bad("addr: %v", err)
	}
	if c.MetricsAddr != "" {
		if err := checkAddr(c.MetricsAddr); err != nil {
			bad("metrics_addr: %v", err)
		} else if c.MetricsAddr == c.Addr && !strings.HasSuffix(c.Addr, ":0") {
			bad("metrics_addr: must differ from addr (leave it empty to serve metrics on addr)")
		}
	}
	if c.MaxConcurrentDetections < 0 {
		bad("max_concurrent_detections: must be >= 0 (0 = the engine's pool size), got %d", c.MaxConcurrentDetections)
	}
	if c.QueueSize < 0 {
		bad("queue_size: must be >= 0, got %d", c.QueueSize)
	}
	if c.QueueWait < 0 {
		bad("queue_wait: must be >= 0, got %s", c.QueueWait)
	}
	if c.MaxBodyBytes <= 0 {
		bad("max_body_bytes: must be > 0, got %d", c.MaxBodyBytes)
	}
	if c.MaxBufferedBytes < c.MaxBodyBytes {
		bad("max_buffered_bytes (%d) must be at least max_body_bytes (%d)", c.MaxBufferedBytes, c.MaxBodyBytes)
	}
	if c.MaxDecodeBytes < 64*MiB {
		bad("max_decode_bytes: must be at least 64 MiB (%d), got %d", 64*MiB, c.MaxDecodeBytes)
	}
	if c.MinUploadRate < 0 {
		bad("min_upload_rate: must be >= 0 (0 = no minimum), got %d", c.MinUploadRate)
	}
	if c.MinDownloadRate < 0 {
		bad("min_download_rate: must be >= 0 (0 = no minimum), got %d", c.MinDownloadRate)
	}
	if c.UploadIdleTimeout <= 0 {
		bad("upload_idle_timeout: must be > 0, got %s", c.UploadIdleTimeout)
	}
	if c.LingerTimeout < 0 {
		bad("linger_timeout: must be >= 0 (0 = close at once), got %s", c.LingerTimeout)
	}
	if c.MaxConnections < 1 {
		bad("max_connections: must be >= 1, got %d", c.MaxConnections)
	}
	if c.LingerBytes < 0 {
		bad("linger_bytes: must be >= 0, got %d", c.LingerBytes)
	}
	for i, p := range c.TrustedProxies {
		if _, err := parseProxy(p); err != nil {
			bad("trusted_proxies[%d]: %v", i, err)
		}
	}
	if c.MaxParts < 1 {
		bad("max_parts: must be >= 1, got %d", c.MaxParts)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"request_timeout", c.RequestTimeout},
		{"read_header_timeout", c.ReadHeaderTimeout},
		{"read_timeout", c.ReadTimeout},
		{"write_timeout", c.WriteTimeout},
		{"idle_timeout", c.IdleTimeout},
		{"grace_period", c.GracePeriod},
	} {
		if d.v <= 0 {
			bad("%s: must be > 0, got %s", d.key, d.v)
		}
	}
	if c.DrainPeriod < 0 {
		bad("drain_period: must be >= 0, got %s", c.DrainPeriod)
	}
	if c.RequestTimeout > 0 && c.QueueWait >= c.RequestTimeout {
		bad("queue_wait (%s) must be shorter than request_timeout (%s)", c.QueueWait, c.RequestTimeout)
	}
	if c.ReadTimeout > 0 && c.ReadHeaderTimeout > c.ReadTimeout {
		bad("read_header_timeout (%s) must not exceed read_timeout (%s)", c.ReadHeaderTimeout, c.ReadTimeout)
	}
	if c.WriteTimeout > 0 && c.RequestTimeout > 0 && c.WriteTimeout <= c.RequestTimeout {
		bad("write_timeout (%s) must be longer than request_timeout (%s), or responses are cut off", c.WriteTimeout, c.RequestTimeout)
	}
	if c.IdleTimeout > 0 && c.IdleTimeout <= albIdleTimeout {
		bad("idle_timeout (%s) must be longer than the load balancer's idle timeout (%s)", c.IdleTimeout, albIdleTimeout)
	}
	for i, k := range c.APIKeys {
		if len(k) < 16 {
			bad("api_keys[%d]: must be at least 16 characters", i)
		}
		if strings.TrimSpace(k) != k || strings.ContainsAny(k, " \t\r\n") {
			bad("api_keys[%d]: must not contain whitespace", i)
		}
	}
	for i, o := range c.CORSOrigins {
		if o != "*" && !(strings.HasPrefix(o, "http://") || strings.HasPrefix(o, "https://")) {
			bad("cors_origins[%d]: %q must be \"*\" or an origin like https://example.com", i, o)
		} else if o != "*" && strings.Count(o, "/") > 2 {
			bad("cors_origins[%d]: %q must be an origin without a path", i, o)
		}
	}
	if c.Detector != "" && !detectorName.MatchString(c.Detector) {
		bad("detector: %q is not a detector name", c.Detector)
	}
	for i, d := range c.AllowedDetectors {
		if !detectorName.MatchString(d) {
			bad("allowed_detectors[%d]: %q is not a detector name", i, d)
		}
		if slices.Contains(c.AllowedDetectors[:i], d) {
			bad("allowed_detectors[%d]: %q is listed twice", i, d)
		}
	}
	if c.JPEGQuality < 1 || c.JPEGQuality > 100 {
		bad("jpeg_quality: must be 1..100, got %d", c.JPEGQuality)
	}
	return errors.Join(errs...)
}

func checkAddr(a string) error {
	if a == "" {
		return errors.New("must not be empty")
	}
	if _, _, err := net.SplitHostPort(a); err != nil {
		return fmt.Errorf("%q is not host:port: %w", a, err)
	}
	return nil
}
