package cli

import (
	"context"

	"github.com/spf13/cobra"
)

// DeployStatusOptions are facectl deploy status's inputs.
type DeployStatusOptions struct {
	deployTarget
}

// NewCmdDeployStatus is facectl deploy status; runF, when not nil, runs instead of
// deployStatusRun.
func NewCmdDeployStatus(f *Factory, runF func(*DeployStatusOptions) error) *cobra.Command {
	opts := &DeployStatusOptions{}
	return &cobra.Command{
		Use:   "status [flags]",
		Short: "Show the service's deployments, task counts, recent events and scaling settings",
		Example: `  facectl deploy status
  facectl deploy status --cluster prod --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.load(f, cmd, false); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return deployStatusRun(cmd.Context(), opts)
		},
	}
}

func deployStatusRun(ctx context.Context, opts *DeployStatusOptions) error {
	d, err := opts.open(ctx)
	if err != nil {
		return err
	}
	st, err := d.Status(ctx)
	if err != nil {
		return err
	}
	if opts.Output == "json" {
		return opts.writeJSON(st)
	}
	renderStatus(opts.IO.Out, st)
	return nil
}
