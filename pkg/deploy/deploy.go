// Package deploy ships facectl to AWS: it builds the image, pushes it to ECR, registers the
// Fargate task definition, creates or updates the ECS service behind a load balancer, sets up
// Service Auto Scaling and waits until the new deployment is really the one running.
//
// It is the library behind `facectl deploy`; the CLI layer only decodes Config and wires Deps.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// Options are per-invocation switches that are not configuration.
type Options struct {
	// DryRun prints the plan and diffs and makes no changing call (no build, push or AWS write).
	DryRun bool
	// Confirm is asked before an environment stack is created or updated, with what will
	// happen; nil means yes. Returning false cancels the deploy with ErrCanceled.
	Confirm func(plan []string) (bool, error)
}

// Outcome is the final state of a deploy or rollback.
type Outcome string

// Outcomes reported in Result.Outcome.
const (
	OutcomeDeployed   Outcome = "deployed"
	OutcomePlanned    Outcome = "planned"
	OutcomeRolledBack Outcome = "rolled_back"
	OutcomeFailed     Outcome = "failed"
	OutcomeTimeout    Outcome = "timeout"
	OutcomeNotWaited  Outcome = "not_waited"
)

// Result is what a deploy did; the CLI prints it with --output json.
type Result struct {
	Cluster           string `json:"cluster"`
	Service           string `json:"service"`
	Image             string `json:"image,omitempty"`
	ImageDigest       string `json:"image_digest,omitempty"`
	TaskDefinitionARN string `json:"task_definition_arn,omitempty"`
	Registered        bool   `json:"registered_task_definition"`
	ServiceAction     string `json:"service_action,omitempty"`
	// URL is where the service answers: the load balancer's DNS name or the custom domain.
	URL string `json:"url,omitempty"`
	// Environment lists the environment stacks' resource changes of a dry run.
	Environment  []string      `json:"environment_changes,omitempty"`
	Outcome      Outcome       `json:"result"`
	Actions      []Action      `json:"actions"`
	StoppedTasks []StoppedTask `json:"stopped_tasks,omitempty"`
	// TaskDefinitionDiff and ServiceDiff are the diffs shown by a dry run.
	TaskDefinitionDiff string  `json:"task_definition_diff,omitempty"`
	ServiceDiff        string  `json:"service_diff,omitempty"`
	Seconds            float64 `json:"seconds"`
}

// Deployer runs deploy, status and rollback for one configuration.
type Deployer struct {
	cfg      Config
	deps     Deps
	log      *slog.Logger
	out      io.Writer
	progress io.Writer

	account string
	lbType  string // "network" or "application" when a target group is configured
	lbLabel string // ALB resource label for the requests-per-target metric
	// managedEnv is true when facectl manages the environment as stacks (Config.Managed before
	// the stack outputs filled in the network and load balancer settings). It is not the
	// "scaled" of the service stage: whether auto scaling owns the desired count.
	managedEnv    bool
	net           envNetwork
	clusterExists bool
	url           string
	plan          *Plan
	dryRun        bool
	confirm       func(plan []string) (bool, error)
	startedAt     time.Time
}

// New validates cfg and returns a Deployer using deps.
func New(cfg Config, deps Deps) (*Deployer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w:\n%w", ErrInvalidConfig, err)
	}
	return newDeployer(cfg, deps)
}

// Open returns a Deployer for Status and Rollback, which need only the cluster, service and
// wait settings (not the image, task, or network settings a deploy requires).
func Open(cfg Config, deps Deps) (*Deployer, error) {
	var errs []error
	if cfg.Cluster == "" {
		errs = append(errs, errors.New("deploy.cluster: is required"))
	}
	if cfg.Service == "" {
		errs = append(errs, errors.New("deploy.service: is required"))
	}
	if cfg.Wait.Timeout < 0 || cfg.Wait.PollInterval <= 0 {
		errs = append(errs, errors.New("deploy.wait: timeout must not be negative and poll_interval must be positive"))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w:\n%w", ErrInvalidConfig, errors.Join(errs...))
	}
	return newDeployer(cfg, deps)
}

func newDeployer(cfg Config, deps Deps) (*Deployer, error) {
	var missing []error
	for name, ok := range map[string]bool{
		"STS": deps.STS != nil, "ECS": deps.ECS != nil, "ECR": deps.ECR != nil, "ELB": deps.ELB != nil,
		"Scaling": deps.Scaling != nil, "Logs": deps.Logs != nil, "EC2": deps.EC2 != nil, "IAM": deps.IAM != nil, "CFN": deps.CFN != nil,
	} {
		if !ok {
			missing = append(missing, fmt.Errorf("deploy.Deps.%s is nil", name))
		}
	}
	if len(missing) > 0 {
		return nil, errors.Join(missing...)
	}
	if deps.Region == "" {
		return nil, errors.New("deploy.Deps.Region is empty")
	}
	d := &Deployer{cfg: cfg, deps: deps, log: deps.Log, out: deps.Out, progress: deps.Progress, managedEnv: cfg.Managed()}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.out == nil {
		d.out = io.Discard
	}
	if d.progress == nil {
		d.progress = io.Discard
	}
	if d.deps.GitTag == nil {
		d.deps.GitTag = GitShortSHA
	}
	return d, nil
}

// Run validates cfg and deploys it: the library's entry point for `facectl deploy`.
func Run(ctx context.Context, cfg Config, deps Deps, opts Options) (Result, error) {
	d, err := New(cfg, deps)
	if err != nil {
		return Result{Cluster: cfg.Cluster, Service: cfg.Service, Outcome: OutcomeFailed}, err
	}
	return d.Deploy(ctx, opts)
}

// Deploy runs the pipeline: preflight, environment stacks (when managed) beside the image
// build, log group, task definition, service, auto scaling, wait. With opts.DryRun it prints
// the plan instead of changing anything.
func (d *Deployer) Deploy(ctx context.Context, opts Options) (res Result, err error) {
	d.startedAt = time.Now()
	d.dryRun = opts.DryRun
	d.confirm = opts.Confirm
	d.plan = &Plan{DryRun: opts.DryRun, Cluster: d.cfg.Cluster, Service: d.cfg.Service, Region: d.deps.Region}
	res = Result{Cluster: d.cfg.Cluster, Service: d.cfg.Service, Outcome: OutcomeFailed}
	defer func() {
		res.Actions = d.plan.Actions
		res.URL = d.url
		if d.dryRun {
			res.Environment = d.plan.Environment
			res.TaskDefinitionDiff, res.ServiceDiff = d.plan.TaskDefinitionDiff, d.plan.ServiceDiff
		}
		res.Seconds = time.Since(d.startedAt).Round(time.Millisecond).Seconds()
		if err != nil {
			err = explain(err)
		}
	}()

	if err := d.preflight(ctx); err != nil {
		return res, err
	}
	d.plan.Account = d.account

	steps, err := d.planEnvironment(ctx)
	if err != nil {
		return res, err
	}
	// The stacks (minutes on AWS: a load balancer alone takes two or three) and the image
	// build and push (minutes too) do not depend on each other: they run side by side, and
	// both finish before the task definition, which needs them both.
	// When the image fails, the deploy stops waiting for the stacks at once (they would hold
	// the error back for minutes) but never stops a stack operation: CloudFormation finishes
	// or rolls it back by itself, and the next deploy finds the stack settled.
	waitCtx, stopWaiting := context.WithCancelCause(ctx)
	defer stopWaiting(nil)
	envDone := make(chan error, 1)
	go func() { envDone <- d.applyEnvironment(ctx, waitCtx, steps) }()
	img, imgErr := d.ensureImage(ctx)
	if imgErr != nil {
		d.log.Error("the image failed: not waiting for the environment's stacks", "err", imgErr)
		stopWaiting(errStoppedWaiting)
	}
	envErr := <-envDone
	if imgErr != nil && errors.Is(envErr, errStoppedWaiting) {
		d.log.Warn("stopped waiting for the environment's stacks: CloudFormation carries on with them, and the next deploy picks them up once they have settled", "detail", envErr)
		envErr = nil
	}
	if err := errors.Join(envErr, imgErr); err != nil {
		return res, err
	}
	d.plan.URL = d.url
	res.Image, res.ImageDigest = img.Ref, img.Digest
	if err := d.protectImage(ctx, img); err != nil {
		return res, err
	}

	if !d.managedEnv { // the service stack holds the log group
		if err := d.ensureLogGroup(ctx); err != nil {
			return res, err
		}
	}

	svc, err := d.describeService(ctx)
	if err != nil {
		return res, err
	}

	tdARN, registered, err := d.registerTaskDefinition(ctx, svc, img.Ref)
	if err != nil {
		return res, err
	}
	res.TaskDefinitionARN, res.Registered = tdARN, registered

	scaled, err := d.scalingOwnsCount(ctx)
	if err != nil {
		return res, err
	}
	deploymentID, action, err := d.applyService(ctx, svc, tdARN, scaled)
	if err != nil {
		return res, err
	}
	res.ServiceAction = action

	if err := d.applyAutoScaling(ctx); err != nil {
		return res, err
	}

	if d.dryRun {
		res.Outcome = OutcomePlanned
		d.plan.Render(d.out)
		return res, nil
	}
	if d.cfg.Wait.Timeout == 0 {
		d.log.Info("not waiting for the deployment (deploy.wait.timeout is 0)")
		res.Outcome = OutcomeNotWaited
		return res, nil
	}
	outcome, stopped, err := d.waitForDeployment(ctx, tdARN, deploymentID)
	res.Outcome, res.StoppedTasks = outcome, stopped
	if err != nil {
		return res, err
	}
	d.log.Info("deployment complete", "service", d.cfg.Service, "task_definition", tdARN,
		"seconds", time.Since(d.startedAt).Round(time.Millisecond).Seconds())
	d.plan.TaskDefinitionDiff, d.plan.ServiceDiff = "", ""
	d.plan.Render(d.out)
	return res, nil
}
