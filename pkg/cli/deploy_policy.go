package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/facectl/facectl/pkg/deploy"
)

func newDeployPolicyCmd(a *app) *cobra.Command {
	var boundary, boundaryName bool
	cmd := &cobra.Command{
		Use:   "policy [flags]",
		Short: "Print the least-privilege IAM policy facectl deploy needs for this configuration",
		Long: `Print, as JSON, the IAM policy the identity running facectl deploy (and status, rollback,
logs and destroy) needs for the configuration: building and pushing to the ECR repository, the
task definition and service, Service Auto Scaling with its CloudWatch alarms, the log group,
iam:PassRole on the configured task roles, and, when no target group is configured, the
CloudFormation stack of the managed environment with what CloudFormation creates on the
caller's behalf. Attach it to the user or CI role before the first deploy:

  facectl deploy policy > facectl-deploy-policy.json
  aws iam create-policy --policy-name facectl-deploy --policy-document file://facectl-deploy-policy.json

The managed environment's execution role is created within a permissions boundary, a policy
you create once per service (and again when its secrets change) from --boundary's output:

  facectl deploy policy --boundary > boundary.json
  aws iam create-policy --policy-name "$(facectl deploy policy --boundary-name)" --policy-document file://boundary.json

The tests fail when the code calls an AWS action this policy lacks.`,
		Example: `  facectl deploy policy
  facectl deploy policy --config prod.yaml > policy.json
  facectl deploy policy --boundary --service web
  facectl deploy policy --target-group-arn arn:aws:elasticloadbalancing:...:targetgroup/web/0123 --autoscaling=false`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := deploy.DefaultConfig()
			if _, err := a.setup(cmd, map[string]any{"deploy": &cfg}, "text"); err != nil {
				return err
			}
			var err error
			switch {
			case boundaryName:
				_, err = fmt.Fprintln(a.streams.Out, cfg.BoundaryName())
			case boundary:
				_, err = fmt.Fprint(a.streams.Out, deploy.BoundaryPolicy(cfg).JSON())
			default:
				_, err = fmt.Fprint(a.streams.Out, deploy.Policy(cfg).JSON())
			}
			return err
		},
	}
	f := cmd.Flags()
	f.BoolVar(&boundary, "boundary", false, "print the permissions boundary of the managed execution role instead")
	f.BoolVar(&boundaryName, "boundary-name", false, "print the name the permissions boundary policy must have")
	addSettingFlag(f, "deploy.image.uri").Usage = "a prebuilt image is deployed (no ECR build and push permissions)"
	addSettingFlag(f, "deploy.load_balancer.target_group_arn").Usage = "an existing target group is used (no environment stack permissions)"
	addSettingFlag(f, "deploy.autoscaling.enabled").Usage = "Service Auto Scaling is managed"
	return cmd
}
