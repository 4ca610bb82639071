package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/facectl/facectl/pkg/deploy"
)

// confirm shows plan on stderr and reads y/yes from stdin (a terminal).
func (a *app) confirm(plan []string) (bool, error) {
	for _, l := range plan {
		fmt.Fprintf(a.streams.Err, "  %s\n", l)
	}
	fmt.Fprint(a.streams.Err, "Proceed? [y/N] ")
	line, err := bufio.NewReader(a.streams.In).ReadString('\n')
	if err != nil && line == "" {
		return false, fmt.Errorf("reading the answer: %w", err)
	}
	answer := strings.ToLower(strings.TrimSpace(line))
	return answer == "y" || answer == "yes", nil
}

func newDeployDestroyCmd(a *app, o *deployOptions) *cobra.Command {
	var yes, purge bool
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
			if !yes && !a.streams.InTTY {
				return &usageError{err: errors.New("destroy removes the service and its environment: pass --yes when not on a terminal")}
			}
			d, err := a.openDeployer(cmd, o)
			if err != nil {
				return err
			}
			opts := deploy.DestroyOptions{PurgeImages: purge}
			if !yes {
				opts.Confirm = func(plan []string) (bool, error) {
					fmt.Fprintln(a.streams.Err, "facectl deploy destroy will remove:")
					return a.confirm(plan)
				}
			}
			res, err := d.Destroy(cmd.Context(), opts)
			if o.output == "json" {
				enc := json.NewEncoder(a.streams.Out)
				enc.SetIndent("", "  ")
				if encErr := enc.Encode(res); encErr != nil {
					return errors.Join(err, encErr)
				}
				return err
			}
			if err == nil {
				renderDestroy(a.streams.Out, res)
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation (required when not on a terminal)")
	cmd.Flags().BoolVar(&purge, "purge-images", false, "also delete the service's images from ECR")
	return cmd
}

func newDeployLogsCmd(a *app, o *deployOptions) *cobra.Command {
	var opts deploy.LogsOptions
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
			d, err := a.openDeployer(cmd, o)
			if err != nil {
				return err
			}
			opts.Readable = a.streams.OutTTY
			return d.Logs(cmd.Context(), opts, a.streams.Out)
		},
	}
	cmd.Flags().DurationVar(&opts.Since, "since", 10*time.Minute, "show lines newer than this")
	cmd.Flags().BoolVarP(&opts.Follow, "follow", "f", false, "keep printing new lines")
	cmd.Flags().StringVar(&opts.Task, "task", "", "only this task's lines (task ID or prefix)")
	return cmd
}
