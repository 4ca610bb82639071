package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/facectl/facectl/pkg/deploy"
)

func init() {
	commands = append(commands, newDeployCmd)
	registerSection("deploy", "The deployment to Amazon ECS on Fargate, `facectl deploy` (`facectl deploy init` writes this section).", func() any { d := deploy.DefaultConfig(); return &d })
}

// deployOptions are the deploy flags that are not configuration.
type deployOptions struct {
	output string
	dryRun bool
	yes    bool
}

func newDeployCmd(a *app) *cobra.Command {
	o := &deployOptions{}
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
			return a.runDeploy(cmd, o)
		},
	}
	// The persistent settings (region, cluster, service, timeout, ...) are shared by deploy
	// status, deploy rollback and deploy init.
	addSettingFlags(cmd.PersistentFlags(), "deploy", true)
	cmd.PersistentFlags().StringVarP(&o.output, "output", "o", "text", "output: text or json")
	f := cmd.Flags()
	f.BoolVar(&o.dryRun, "dry-run", false, "print the plan and the task definition and service diffs; change nothing")
	f.BoolVarP(&o.yes, "yes", "y", false, "create or update the environment stacks without asking (asked only on a terminal)")
	addSettingFlags(f, "deploy", false)
	cmd.AddCommand(newDeployInitCmd(a), newDeployStatusCmd(a, o), newDeployRollbackCmd(a, o),
		newDeployPolicyCmd(a), newDeployDestroyCmd(a, o), newDeployLogsCmd(a, o))
	return cmd
}

// loadDeploy loads the deploy section and builds the deployer's collaborators. full is true for
// deploy itself, which builds and creates and so needs every setting valid; status and rollback
// only read and roll back, and need no network or role settings.
func (a *app) loadDeploy(cmd *cobra.Command, o *deployOptions, full bool) (deploy.Config, deploy.Deps, error) {
	cfg := deploy.DefaultConfig()
	log, err := a.setup(cmd, map[string]any{"deploy": &cfg}, "text")
	if err != nil {
		return cfg, deploy.Deps{}, err
	}
	if o.output != "text" && o.output != "json" {
		return cfg, deploy.Deps{}, &usageError{err: fmt.Errorf("--output %q: want text or json", o.output)}
	}
	if full {
		if err := cfg.Validate(); err != nil {
			return cfg, deploy.Deps{}, &usageError{err: err}
		}
	}
	awsCfg, err := deploy.LoadAWSConfig(cmd.Context(), cfg)
	if err != nil {
		return cfg, deploy.Deps{}, &usageError{err: err}
	}
	deps := deploy.NewDeps(awsCfg)
	deps.Log, deps.Events = log, printEvent(a.streams.Err)
	if full {
		deps.Docker = &deploy.DockerCLI{Progress: a.streams.Err}
	}
	return cfg, deps, nil
}

func (a *app) runDeploy(cmd *cobra.Command, o *deployOptions) error {
	cfg, deps, err := a.loadDeploy(cmd, o, true)
	if err != nil {
		return err
	}
	if c, ok := deps.Docker.(io.Closer); ok {
		// The temporary docker config holds the registry token.
		defer c.Close()
	}
	opts := deploy.Options{DryRun: o.dryRun}
	if !o.yes && a.streams.InTTY {
		opts.Confirm = a.confirm
	}
	res, err := deploy.Run(cmd.Context(), cfg, deps, opts)
	if o.output == "text" && err == nil && (res.Outcome == deploy.OutcomePlanned || res.Outcome == deploy.OutcomeDeployed) {
		renderPlan(a.streams.Out, res)
	}
	return a.printResult(o, res, err)
}

// printResult writes the result (also on failure, so CI gets the JSON) and passes err on.
func (a *app) printResult(o *deployOptions, res deploy.Result, err error) error {
	if errors.Is(err, deploy.ErrInvalidConfig) {
		return &usageError{err: err}
	}
	if o.output == "json" {
		enc := json.NewEncoder(a.streams.Out)
		enc.SetIndent("", "  ")
		if encErr := enc.Encode(res); encErr != nil {
			return errors.Join(err, encErr)
		}
		return err
	}
	if res.Outcome != deploy.OutcomePlanned && res.Outcome != "" && (err == nil || res.TaskDefinitionARN != "") {
		fmt.Fprintf(a.streams.Out, "%s: service %s in cluster %s, task definition %s, image %s (%.1fs)\n",
			res.Outcome, res.Service, res.Cluster, res.TaskDefinitionARN, res.Image, res.Seconds)
		if res.URL != "" {
			fmt.Fprintf(a.streams.Out, "URL: %s\n", res.URL)
		}
	}
	return err
}

func newDeployInitCmd(a *app) *cobra.Command {
	var path string
	var force bool
	cmd := &cobra.Command{
		Use:   "init [flags]",
		Short: "Write a commented starting config file for facectl deploy",
		Long: `Write a config file with the deploy: section filled with the defaults (and any values given
by flags or FACECTL_DEPLOY_* variables), each key explained. As written it deploys into the
managed environment (CloudFormation stacks in the default VPC); name subnets, security groups
and an execution role to use your own network instead. Then run facectl deploy --dry-run.`,
		Example: `  facectl deploy init
  facectl deploy init --file deploy.yaml --cluster prod --region eu-west-1
  facectl deploy init --file - > facectl.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := deploy.DefaultConfig()
			log, err := a.setup(cmd, map[string]any{"deploy": &cfg}, "text")
			if err != nil {
				return err
			}
			var b bytes.Buffer
			writeInitConfig(&b, cfg)
			if path == "-" {
				_, err := a.streams.Out.Write(b.Bytes())
				return err
			}
			flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
			if force {
				flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
			}
			f, err := os.OpenFile(path, flags, 0o644)
			if errors.Is(err, os.ErrExist) {
				return &usageError{err: fmt.Errorf("%s exists: use --force to overwrite it or --file to write elsewhere", path)}
			}
			if err != nil {
				return fmt.Errorf("writing %s: %w", path, err)
			}
			if _, err := f.Write(b.Bytes()); err != nil {
				f.Close()
				return fmt.Errorf("writing %s: %w", path, err)
			}
			if err := f.Close(); err != nil {
				return fmt.Errorf("writing %s: %w", path, err)
			}
			log.Info("wrote the starting config: facectl deploy --dry-run shows what it would create", "file", path)
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "file", "facectl.yaml", "file to write (- for stdout)")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing file")
	return cmd
}

// openDeployer loads the deploy section for status and rollback, which only read and roll back.
func (a *app) openDeployer(cmd *cobra.Command, o *deployOptions) (*deploy.Deployer, error) {
	cfg, deps, err := a.loadDeploy(cmd, o, false)
	if err != nil {
		return nil, err
	}
	d, err := deploy.Open(cfg, deps)
	if err != nil {
		return nil, &usageError{err: err}
	}
	return d, nil
}

func newDeployStatusCmd(a *app, o *deployOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "status [flags]",
		Short: "Show the service's deployments, task counts, recent events and scaling settings",
		Example: `  facectl deploy status
  facectl deploy status --cluster prod --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := a.openDeployer(cmd, o)
			if err != nil {
				return err
			}
			st, err := d.Status(cmd.Context())
			if err != nil {
				return err
			}
			if o.output == "json" {
				enc := json.NewEncoder(a.streams.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			renderStatus(a.streams.Out, st)
			return nil
		},
	}
}

func newDeployRollbackCmd(a *app, o *deployOptions) *cobra.Command {
	var revision int
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
			d, err := a.openDeployer(cmd, o)
			if err != nil {
				return err
			}
			res, err := d.Rollback(cmd.Context(), deploy.RollbackOptions{Revision: revision})
			return a.printResult(o, res, err)
		},
	}
	cmd.Flags().IntVar(&revision, "revision", 0, "revision to return to (default: the one before the current)")
	return cmd
}
