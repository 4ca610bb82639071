package server

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigIsValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
	c := DefaultConfig()
	if c.IdleTimeout <= 60*time.Second {
		t.Errorf("default idle_timeout %s must exceed the ALB's 60s", c.IdleTimeout)
	}
	if c.DrainPeriod+c.GracePeriod >= 30*time.Second {
		t.Errorf("drain+grace %s must stay below the ECS stop timeout of 30s", c.DrainPeriod+c.GracePeriod)
	}
	if c.MaxBodyBytes != 10<<20 {
		t.Errorf("default max_body_bytes = %d, want 10 MiB", c.MaxBodyBytes)
	}
}

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   []string
	}{
		{"addr", func(c *Config) { c.Addr = "8080" }, []string{"server.addr"}},
		{"metrics same as addr", func(c *Config) { c.MetricsAddr = c.Addr }, []string{"server.metrics_addr"}},
		{"negatives", func(c *Config) { c.MaxConcurrentDetections, c.QueueSize, c.QueueWait = -1, -1, -1 },
			[]string{"server.max_concurrent_detections", "server.queue_size", "server.queue_wait"}},
		{"limits", func(c *Config) { c.MaxBodyBytes, c.MaxParts = 0, 0 }, []string{"server.max_body_bytes", "server.max_parts"}},
		{"buffer below body", func(c *Config) { c.MaxBufferedBytes = c.MaxBodyBytes - 1 }, []string{"max_buffered_bytes"}},
		{"zero timeouts", func(c *Config) {
			c.RequestTimeout, c.ReadHeaderTimeout, c.ReadTimeout, c.WriteTimeout, c.IdleTimeout, c.GracePeriod = 0, 0, 0, 0, 0, 0
		}, []string{"request_timeout", "read_header_timeout", "read_timeout", "write_timeout", "idle_timeout", "grace_period"}},
		{"idle below ALB", func(c *Config) { c.IdleTimeout = 60 * time.Second }, []string{"idle_timeout (1m0s) must be longer"}},
		{"queue wait vs deadline", func(c *Config) { c.QueueWait = c.RequestTimeout }, []string{"queue_wait"}},
		{"write vs request", func(c *Config) { c.WriteTimeout = c.RequestTimeout }, []string{"write_timeout"}},
		{"short key", func(c *Config) { c.APIKeys = []string{"short"} }, []string{"api_keys[0]"}},
		{"cors", func(c *Config) { c.CORSOrigins = []string{"example.com", "https://a.example/path"} },
			[]string{"cors_origins[0]", "cors_origins[1]"}},
		{"detectors", func(c *Config) { c.Detector = "Bad Name"; c.AllowedDetectors = []string{"lbp", "lbp"} },
			[]string{"server.detector", "allowed_detectors[1]"}},
		{"quality", func(c *Config) { c.JPEGQuality = 101 }, []string{"jpeg_quality"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.modify(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to mention %q", err, w)
				}
			}
		})
	}
}

func TestConfigValidateJoinsAllErrors(t *testing.T) {
	c := Config{}
	err := c.Validate()
	if err == nil {
		t.Fatal("zero Config validated")
	}
	if n := strings.Count(err.Error(), "\n") + 1; n < 8 {
		t.Errorf("zero Config gave %d problems, want every one (>= 8):\n%v", n, err)
	}
}
