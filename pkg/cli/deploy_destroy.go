package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/facectl/facectl/pkg/deploy"
)

// DeployDestroyOptions are facectl deploy destroy's inputs.
type DeployDestroyOptions struct {
	deployTarget
	Yes         bool
	PurgeImages bool
}

// NewCmdDeployDestroy is facectl deploy destroy; runF, when not nil, runs instead of
// deployDestroyRun.
func NewCmdDeployDestroy(f *Factory, runF func(*DeployDestroyOptions) error) *cobra.Command {
	opts := &DeployDestroyOptions{}
	cmd := &cobra.Command{
		Use:   "destroy [flags]",
		Short: "Remove the service and the environment facectl deploy created for it",
		Long: `Remove what facectl deploy created for the service, in order: the auto scaling policies and
scalable target, the service (scaled to 0, deleted, waited for), its environment stack, and the
cluster stack when no other service uses the cluster. ECR images are deleted only with
--purge-images (those of the service's task definition that no other service runs).

It asks for confirmation on a terminal; --yes is required otherwise (scripts, CI). Running it
again, or after a deploy that failed half way, removes what is left and says so. Resources
facectl did not create (your cluster, network, target group, or a stack without facectl's tag)
are never touched.`,
		Example: `  facectl deploy destroy --service stage
  facectl deploy destroy --service web --yes --output json
  facectl deploy destroy --yes --purge-images`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !opts.Yes && !f.IOStreams.InTTY {
				return &usageError{err: errors.New("destroy removes the service and its environment: pass --yes when not on a terminal")}
			}
			if err := opts.load(f, cmd, false); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return deployDestroyRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation (required when not on a terminal)")
	cmd.Flags().BoolVar(&opts.PurgeImages, "purge-images", false, "also delete the service's images from ECR")
	return cmd
}

func deployDestroyRun(ctx context.Context, opts *DeployDestroyOptions) error {
	d, err := opts.open(ctx)
	if err != nil {
		return err
	}
	run := deploy.DestroyOptions{PurgeImages: opts.PurgeImages}
	if !opts.Yes {
		run.Confirm = func(plan []string) (bool, error) {
			fmt.Fprintln(opts.IO.Err, "facectl deploy destroy will remove:")
			return confirm(opts.IO, plan)
		}
	}
	res, err := d.Destroy(ctx, run)
	if opts.Output == "json" {
		return errors.Join(err, opts.writeJSON(res))
	}
	if err == nil {
		renderDestroy(opts.IO.Out, res)
	}
	return err
}
