package cli

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/facectl/facectl/pkg/server"
)

func init() { commands = append(commands, newHealthCmd) }

func newHealthCmd(a *app) *cobra.Command {
	var url string
	var timeout time.Duration
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
			if _, err := a.setup(cmd, map[string]any{"server": &cfg}, "text"); err != nil {
				return err
			}
			target := url
			if target == "" {
				target = localURL(cfg.Addr)
			}
			if err := server.CheckHealth(cmd.Context(), target, timeout); err != nil {
				return err
			}
			fmt.Fprintln(a.streams.Out, "ready")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&url, "url", "", "server URL (default: http://127.0.0.1:<port of server.addr>)")
	f.DurationVar(&timeout, "timeout", 3*time.Second, "give up after this long")
	addSettingFlag(f, "server.addr").Usage = "the server's listen address, used to build the default URL"
	return cmd
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
