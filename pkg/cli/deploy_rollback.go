package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/facectl/facectl/pkg/deploy"
)

// DeployRollbackOptions are facectl deploy rollback's inputs.
type DeployRollbackOptions struct {
	deployTarget
	Revision int
}

// NewCmdDeployRollback is facectl deploy rollback; runF, when not nil, runs instead of
// deployRollbackRun.
func NewCmdDeployRollback(f *Factory, runF func(*DeployRollbackOptions) error) *cobra.Command {
	opts := &DeployRollbackOptions{}
	cmd := &cobra.Command{
		Use:   "rollback [flags]",
		Short: "Point the service back at an earlier task definition revision and wait",
		Long: `Update the service to its own previous task definition revision (the newest revision below the
current one that facectl registered for this service; or --revision N), after checking that its
image is still in ECR, leaving the desired count alone, then wait exactly like facectl deploy.`,
		Example: `  facectl deploy rollback
  facectl deploy rollback --revision 7 --timeout 10m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.load(f, cmd, false); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return deployRollbackRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().IntVar(&opts.Revision, "revision", 0, "revision to return to (default: the one before the current)")
	return cmd
}

func deployRollbackRun(ctx context.Context, opts *DeployRollbackOptions) error {
	d, err := opts.open(ctx)
	if err != nil {
		return err
	}
	res, err := d.Rollback(ctx, deploy.RollbackOptions{Revision: opts.Revision})
	return opts.printResult(res, err)
}
