package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/facectl/facectl/pkg/deploy"
)

// DeployPolicyOptions are facectl deploy policy's inputs.
type DeployPolicyOptions struct {
	IO           IOStreams
	Config       deploy.Config
	Boundary     bool
	BoundaryName bool
}

// NewCmdDeployPolicy is facectl deploy policy; runF, when not nil, runs instead of
// deployPolicyRun.
func NewCmdDeployPolicy(f *Factory, runF func(*DeployPolicyOptions) error) *cobra.Command {
	opts := &DeployPolicyOptions{IO: f.IOStreams}
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
this one may read and delete but not write (or it could widen the boundary). A deploy with an
administrator's credentials creates it; otherwise an administrator creates it once per service
from --boundary's output (the deploy says so, and says again when the role needs more):

  facectl deploy policy --boundary > boundary.json
  aws iam create-policy --policy-name "$(facectl deploy policy --boundary-name)" --policy-document file://boundary.json \
    --tags Key=facectl:boundary-for,Value=service/CLUSTER/SERVICE

The tests fail when the code calls an AWS action this policy lacks.`,
		Example: `  facectl deploy policy
  facectl deploy policy --config prod.yaml > policy.json
  facectl deploy policy --boundary --service web
  facectl deploy policy --target-group-arn arn:aws:elasticloadbalancing:...:targetgroup/web/0123 --autoscaling=false
  facectl deploy policy --domain faces.example.com`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Config = deploy.DefaultConfig()
			if _, err := f.load(cmd, map[string]any{"deploy": &opts.Config}, "text"); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return deployPolicyRun(opts)
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&opts.Boundary, "boundary", false, "print the permissions boundary of the managed execution role instead")
	fs.BoolVar(&opts.BoundaryName, "boundary-name", false, "print the name the permissions boundary policy must have")
	addSettingFlag(fs, "deploy.image.uri").Usage = "a prebuilt image is deployed (no ECR build and push permissions)"
	addSettingFlag(fs, "deploy.load_balancer.target_group_arn").Usage = "an existing target group is used (no environment stack permissions)"
	addSettingFlag(fs, "deploy.autoscaling.enabled").Usage = "Service Auto Scaling is managed"
	addSettingFlag(fs, "deploy.load_balancer.domain").Usage = "the service's domain (without --certificate-arn: its certificate and Route 53 records, made by the stack and removed by destroy)"
	addSettingFlag(fs, "deploy.load_balancer.certificate_arn").Usage = "the HTTPS listener's certificate (its check in preflight)"
	return cmd
}

func deployPolicyRun(opts *DeployPolicyOptions) error {
	var err error
	switch {
	case opts.BoundaryName:
		_, err = fmt.Fprintln(opts.IO.Out, opts.Config.BoundaryName())
	case opts.Boundary:
		_, err = fmt.Fprint(opts.IO.Out, deploy.BoundaryPolicy(opts.Config).JSON())
	default:
		_, err = fmt.Fprint(opts.IO.Out, deploy.Policy(opts.Config).JSON())
	}
	return err
}
