package cli

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/facectl/facectl/pkg/deploy"
)

// DeployLogsOptions are facectl deploy logs's inputs.
type DeployLogsOptions struct {
	deployTarget
	Logs deploy.LogsOptions
}

// NewCmdDeployLogs is facectl deploy logs; runF, when not nil, runs instead of deployLogsRun.
func NewCmdDeployLogs(f *Factory, runF func(*DeployLogsOptions) error) *cobra.Command {
	opts := &DeployLogsOptions{}
	cmd := &cobra.Command{
		Use:   "logs [flags]",
		Short: "Show the service's CloudWatch logs",
		Long: `Print the service's log lines from CloudWatch Logs, oldest first: those of the last 10
minutes, or --since; --follow keeps printing new ones until interrupted; --task shows one task's
(its ID or a prefix of it, as in facectl deploy status). On a terminal serve's JSON lines are
shown as "time level message key=value"; otherwise every line is "<task ID><TAB><message>".`,
		Example: `  facectl deploy logs
  facectl deploy logs --since 1h --task 3f2a9c
  facectl deploy logs --follow --service stage`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.load(f, cmd, false); err != nil {
				return err
			}
			opts.Logs.Readable = opts.IO.OutTTY
			if runF != nil {
				return runF(opts)
			}
			return deployLogsRun(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.DurationVar(&opts.Logs.Since, "since", 10*time.Minute, "show lines newer than this")
	fs.BoolVarP(&opts.Logs.Follow, "follow", "f", false, "keep printing new lines")
	fs.StringVar(&opts.Logs.Task, "task", "", "only this task's lines (task ID or prefix)")
	return cmd
}

func deployLogsRun(ctx context.Context, opts *DeployLogsOptions) error {
	d, err := opts.open(ctx)
	if err != nil {
		return err
	}
	return d.Logs(ctx, opts.Logs, opts.IO.Out)
}
