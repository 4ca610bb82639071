package cli

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/facectl/facectl/pkg/server"
)

// HealthOptions are facectl health's inputs.
type HealthOptions struct {
	IO IOStreams
	// URL is --url, or the local URL of server.addr.
	URL     string
	Timeout time.Duration
}

// NewCmdHealth is facectl health; runF, when not nil, runs instead of healthRun.
func NewCmdHealth(f *Factory, runF func(*HealthOptions) error) *cobra.Command {
	opts := &HealthOptions{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "health [flags]",
		Short: "Check that a running facectl server is ready",
		Long: `Ask a running server's /readyz whether it is ready to take requests, and exit 0 if it is,
1 if not (draining, not listening, or any non-2xx answer). It is meant for the Docker HEALTHCHECK
and the ECS container health check, so the image needs no curl.

Without --url the server is assumed on this host at the port of server.addr (--addr,
FACECTL_SERVER_ADDR or the config file; default :8080).`,
		Example: `  facectl health
  facectl health --url http://127.0.0.1:9000 --timeout 2s
  # Dockerfile: HEALTHCHECK CMD ["facectl", "health"]`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := server.DefaultConfig()
			if _, err := f.load(cmd, map[string]any{"server": &cfg}, "text"); err != nil {
				return err
			}
			if opts.URL == "" {
				opts.URL = localURL(cfg.Addr)
			}
			if runF != nil {
				return runF(opts)
			}
			return healthRun(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&opts.URL, "url", "", "server URL (default: http://127.0.0.1:<port of server.addr>)")
	fs.DurationVar(&opts.Timeout, "timeout", 3*time.Second, "give up after this long")
	addSettingFlag(fs, "server.addr").Usage = "the server's listen address, used to build the default URL"
	return cmd
}

func healthRun(ctx context.Context, opts *HealthOptions) error {
	if err := server.CheckHealth(ctx, opts.URL, opts.Timeout); err != nil {
		return err
	}
	fmt.Fprintln(opts.IO.Out, "ready")
	return nil
}

// localURL turns a listen address (":8080", "0.0.0.0:8080", "[::]:8080") into a URL on
// this host's loopback.
func localURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	switch strings.Trim(host, "[]") {
	case "", "0.0.0.0", "::":
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}
