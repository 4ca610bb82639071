package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/facectl/facectl/pkg/deploy"
)

// deployTarget is what the deploy commands acting on a service share: the deploy section, the
// logger, --output and how to build the deployer's collaborators.
type deployTarget struct {
	IO     IOStreams
	Config deploy.Config
	Log    *slog.Logger
	Output string
	Deps   func(ctx context.Context, cfg deploy.Config, log *slog.Logger, full bool) (deploy.Deps, error)
}

// outputFormat is the --output flag of the deploy and batch commands: text or json.
func outputFormat(cmd *cobra.Command) (string, error) {
	out, _ := cmd.Flags().GetString("output")
	if out != "text" && out != "json" {
		return "", &usageError{err: fmt.Errorf("--output %q: want text or json", out)}
	}
	return out, nil
}

// load loads the deploy section and checks --output (persistent on deploy). full is true for
// deploy itself, which builds and creates and so needs every setting valid; the others only
// read, roll back or remove, and need no network or role settings.
func (t *deployTarget) load(f *Factory, cmd *cobra.Command, full bool) error {
	t.IO, t.Deps, t.Config = f.IOStreams, f.DeployDeps, deploy.DefaultConfig()
	log, err := f.load(cmd, map[string]any{"deploy": &t.Config}, "text")
	if err != nil {
		return err
	}
	t.Log = log
	if t.Output, err = outputFormat(cmd); err != nil {
		return err
	}
	if full {
		if err := t.Config.Validate(); err != nil {
			return &usageError{err: err}
		}
	}
	return nil
}

// open is the deployer of status, rollback, logs and destroy.
func (t *deployTarget) open(ctx context.Context) (*deploy.Deployer, error) {
	deps, err := t.Deps(ctx, t.Config, t.Log, false)
	if err != nil {
		return nil, err
	}
	d, err := deploy.Open(t.Config, deps)
	if err != nil {
		return nil, &usageError{err: err}
	}
	return d, nil
}

// writeJSON writes v indented on stdout, for --output json.
func (t *deployTarget) writeJSON(v any) error {
	enc := json.NewEncoder(t.IO.Out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printResult writes a deploy's or rollback's result (also on failure, so CI gets the JSON) and
// passes err on.
func (t *deployTarget) printResult(res deploy.Result, err error) error {
	if errors.Is(err, deploy.ErrInvalidConfig) {
		return &usageError{err: err}
	}
	if t.Output == "json" {
		return errors.Join(err, t.writeJSON(res))
	}
	if res.Outcome != deploy.OutcomePlanned && res.Outcome != "" && (err == nil || res.TaskDefinitionARN != "") {
		fmt.Fprintf(t.IO.Out, "%s: service %s in cluster %s, task definition %s, image %s (%.1fs)\n",
			res.Outcome, res.Service, res.Cluster, res.TaskDefinitionARN, res.Image, res.Seconds)
		if res.URL != "" {
			fmt.Fprintf(t.IO.Out, "URL: %s\n", res.URL)
		}
	}
	return err
}

// DeployOptions are facectl deploy's inputs: the deploy section, validated, and the flags that
// are not configuration.
type DeployOptions struct {
	deployTarget
	DryRun bool
	Yes    bool
}

// NewCmdDeploy is facectl deploy (root.go adds its subcommands); runF, when not nil, runs
// instead of deployRun.
func NewCmdDeploy(f *Factory, runF func(*DeployOptions) error) *cobra.Command {
	opts := &DeployOptions{}
	cmd := &cobra.Command{
		Use:   "deploy [flags]",
		Short: "Build the image, push it to ECR and roll it out on ECS Fargate",
		Long: `Deploy facectl to Amazon ECS on Fargate, in one idempotent run:

  1. preflight: credentials, cluster, subnets and their routes (public IP, NAT gateway or VPC
     endpoints), security groups, task roles (exist, trust ecs-tasks), target group (VPC, health
     check port and path, reachable from the load balancer): all problems at once
  2. managed environment (no security groups or target group configured): create or update
     (only when the template changed) the CloudFormation stacks facectl-<cluster>-cluster and
     facectl-<cluster>-<service> (cluster, execution role, log group, security groups, ALB or
     NLB, target group, listeners) in the default VPC or --subnets; asks first on a terminal
     (--yes skips that); runs beside step 3
  3. build the image with docker for --platform (or use --image), create the ECR repository if
     missing, log in with an ECR token, push, and check the image's architecture
     (with your own network: create the CloudWatch log group if missing)
  4. render the task definition (image pinned by digest) and register a revision only if it changed
  5. create the service, or update it (never resetting a desired count auto scaling manages)
  6. register the scalable target and target-tracking policies
  7. wait until the new deployment is the only one, COMPLETED, with every task running; exit
     non-zero when ECS rolled it back, it failed, or --timeout passed, with the stopped tasks' reasons;
     print the URL (also in facectl deploy status)

Settings come from the deploy: section of the config file (facectl deploy init writes one),
FACECTL_DEPLOY_<KEY> environment variables (nested keys joined by "_") and these flags.
--registry pushes to another registry host (mirror, pull-through cache, local registry) while
still logging in with the ECR token; --endpoint-url (or AWS_ENDPOINT_URL) sends the AWS API calls
elsewhere (LocalStack, moto).`,
		Example: `  facectl deploy --dry-run
  facectl deploy --yes --service stage
  facectl deploy --certificate-arn arn:aws:acm:eu-west-1:123456789012:certificate/... --domain faces.example.com
  facectl deploy --cluster prod --service facectl --platform linux/arm64 --timeout 20m
  facectl deploy --image 123456789012.dkr.ecr.eu-west-1.amazonaws.com/facectl@sha256:... --output json
  FACECTL_DEPLOY_TASK_CPU=2048 FACECTL_DEPLOY_TASK_MEMORY=4096 facectl deploy`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.load(f, cmd, true); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return deployRun(cmd.Context(), opts)
		},
	}
	// The persistent settings (region, cluster, service, timeout, ...) are shared by deploy
	// status, deploy rollback and deploy init.
	addSettingFlags(cmd.PersistentFlags(), "deploy", true)
	cmd.PersistentFlags().StringP("output", "o", "text", "output: text or json")
	fs := cmd.Flags()
	fs.BoolVar(&opts.DryRun, "dry-run", false, "print the plan and the task definition and service diffs; change nothing")
	fs.BoolVarP(&opts.Yes, "yes", "y", false, "create or update the environment stacks without asking (asked only on a terminal)")
	addSettingFlags(fs, "deploy", false)
	return cmd
}

func deployRun(ctx context.Context, opts *DeployOptions) error {
	deps, err := opts.Deps(ctx, opts.Config, opts.Log, true)
	if err != nil {
		return err
	}
	if c, ok := deps.Docker.(io.Closer); ok {
		// The temporary docker config holds the registry token.
		defer c.Close()
	}
	run := deploy.Options{DryRun: opts.DryRun}
	if !opts.Yes && opts.IO.InTTY {
		run.Confirm = func(plan []string) (bool, error) { return confirm(opts.IO, plan) }
	}
	res, err := deploy.Run(ctx, opts.Config, deps, run)
	if opts.Output == "text" && err == nil && (res.Outcome == deploy.OutcomePlanned || res.Outcome == deploy.OutcomeDeployed) {
		renderPlan(opts.IO.Out, res)
	}
	return opts.printResult(res, err)
}
