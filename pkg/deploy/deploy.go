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
	"log/slog"
	"time"
)

// Options are per-invocation switches that are not configuration.
type Options struct {
	// DryRun plans (the result's actions, environment changes and diffs) and makes no changing
	// call (no build, push or AWS write).
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

// Result is what a deploy (or rollback) did, collected by its stages as they go: the CLI
// prints it as text or with --output json.
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
	// DryRun, Account and Region say what the actions were and where, for the text output.
	DryRun  bool   `json:"-"`
	Account string `json:"-"`
	Region  string `json:"-"`
}

// Deployer runs deploy, status, rollback, logs and destroy for one configuration. It holds
// only the configuration, the clients and the logger, and never changes after New or Open:
// what one call learns lives in a run, made per call.
type Deployer struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	// managedEnv is true when facectl manages the environment as stacks (Config.Managed). It
	// is not the "scaled" of the service stage: whether auto scaling owns the desired count.
	managedEnv bool
}

// run is one call of a verb: its switches, what its stages have learnt, and the result they
// collect. Stages that run side by side (the stacks beside the image) return what they
// establish instead of writing it here.
type run struct {
	*Deployer
	dryRun    bool
	confirm   func(plan []string) (bool, error)
	startedAt time.Time
	res       *Result
	// account is the caller's account (preflight's first call).
	account string
	// clusterExists is whether preflight found the cluster ACTIVE.
	clusterExists bool
}

// newRun starts a call of a verb.
func (d *Deployer) newRun(dryRun bool, confirm func([]string) (bool, error)) *run {
	return &run{Deployer: d, dryRun: dryRun, confirm: confirm, startedAt: time.Now(),
		res: &Result{Cluster: d.cfg.Cluster, Service: d.cfg.Service, Outcome: OutcomeFailed, DryRun: dryRun, Region: d.deps.Region}}
}

// serviceEnv is where the service runs and what reaches it, as preflight (your own network:
// the configuration, and the load balancer behind its target group) or the environment
// stacks' outputs establish it. The task definition, service and scaling stages take it as
// a value; the configuration itself is never rewritten.
type serviceEnv struct {
	Subnets        []string
	SecurityGroups []string
	AssignPublicIP bool
	TargetGroupARN string
	// LoadBalancerType is "application" or "network" ("" without a target group).
	LoadBalancerType string
	// ALBLabel is the requests-per-target metric's resource label (an ALB's only).
	ALBLabel         string
	ExecutionRoleARN string
	// URL is where the service answers (the managed environment's only).
	URL string
	// network is the managed environment's VPC and subnets (the service stack's template).
	network envNetwork
}

// envFromConfig is what the configuration says of the environment (your own network).
func envFromConfig(c Config) serviceEnv {
	return serviceEnv{
		Subnets: c.Network.Subnets, SecurityGroups: c.Network.SecurityGroups, AssignPublicIP: c.Network.AssignPublicIP,
		TargetGroupARN: c.LoadBalancer.TargetGroupARN, ExecutionRoleARN: c.Task.ExecutionRoleARN,
	}
}

// withStackOutputs is env completed by the service stack's outputs (placeholders in a dry run
// that would create the stack).
func (env serviceEnv) withStackOutputs(c Config, out map[string]string) serviceEnv {
	get := func(k string) string {
		if v, ok := out[k]; ok {
			return v
		}
		return "(" + k + " of the new stack)"
	}
	env.Subnets, env.AssignPublicIP = env.network.Subnets, env.network.PublicIP
	env.SecurityGroups = []string{get("TaskSecurityGroup")}
	env.TargetGroupARN = get("TargetGroupArn")
	env.ExecutionRoleARN = c.Task.ExecutionRoleARN
	if env.ExecutionRoleARN == "" {
		env.ExecutionRoleARN = get("ExecutionRoleArn")
	}
	env.LoadBalancerType = c.LoadBalancer.Type
	env.ALBLabel = albResourceLabel(out["LoadBalancerArn"], out["TargetGroupArn"])
	env.URL = out["URL"]
	return env
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
	if cfg.IsExpress() {
		// Express Mode takes a task definition only with its container named Main.
		cfg.Task.ContainerName = expressContainerName
	}
	d := &Deployer{cfg: cfg, deps: deps, log: deps.Log, managedEnv: cfg.Managed()}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
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
// build, log group, task definition, service, auto scaling, wait. With opts.DryRun it returns
// the plan instead of changing anything.
func (d *Deployer) Deploy(ctx context.Context, opts Options) (Result, error) {
	r := d.newRun(opts.DryRun, opts.Confirm)
	deploy := r.deploy
	if d.cfg.IsExpress() {
		deploy = r.deployExpress
	}
	err := deploy(ctx)
	res := r.res
	if !r.dryRun {
		// The environment changes and the diffs are a dry run's preview.
		res.Environment, res.TaskDefinitionDiff, res.ServiceDiff = nil, "", ""
	}
	res.Seconds = time.Since(r.startedAt).Round(time.Millisecond).Seconds()
	return *res, explain(err)
}

// deploy runs the stages; each records what it does in r.res.
func (r *run) deploy(ctx context.Context) error {
	res := r.res
	env, err := r.preflight(ctx)
	if err != nil {
		return err
	}
	res.Account = r.account

	steps, err := r.planEnvironment(ctx, env.network)
	if err != nil {
		return err
	}
	outputs, img, err := r.stacksBesideImage(ctx, steps)
	if err != nil {
		return err
	}
	if r.managedEnv {
		env = env.withStackOutputs(r.cfg, outputs) // the service stack's, the last step
	}
	res.URL = env.URL
	if err := r.keepImageAndLogs(ctx, img); err != nil {
		return err
	}

	svc, err := r.describeService(ctx)
	if err != nil {
		return err
	}

	tdARN, registered, err := r.registerTaskDefinition(ctx, svc, img.Ref, env)
	if err != nil {
		return err
	}
	res.TaskDefinitionARN, res.Registered = tdARN, registered

	scaled, err := r.scalingOwnsCount(ctx)
	if err != nil {
		return err
	}
	deploymentID, action, err := r.applyService(ctx, svc, tdARN, scaled, env)
	if err != nil {
		return err
	}
	res.ServiceAction = action

	if err := r.applyAutoScaling(ctx, env); err != nil {
		return err
	}

	if r.dryRun {
		res.Outcome = OutcomePlanned
		return nil
	}
	if r.cfg.Wait.Timeout == 0 {
		r.log.Info("not waiting for the deployment (deploy.wait.timeout is 0)")
		res.Outcome = OutcomeNotWaited
		return nil
	}
	outcome, stopped, err := r.waitForDeployment(ctx, tdARN, deploymentID)
	res.Outcome, res.StoppedTasks = outcome, stopped
	if err != nil {
		return err
	}
	r.log.Info("deployment complete", "service", r.cfg.Service, "task_definition", tdARN,
		"seconds", time.Since(r.startedAt).Round(time.Millisecond).Seconds())
	return nil
}

// stacksBesideImage applies the environment's stack steps and builds and pushes the image side
// by side, and returns the last stack's outputs and the image.
func (r *run) stacksBesideImage(ctx context.Context, steps []stackStep) (map[string]string, imageRef, error) {
	// The stacks (minutes on AWS: a load balancer alone takes two or three) and the image
	// build and push (minutes too) do not depend on each other: they run side by side, and
	// both finish before the task definition, which needs them both. Each returns what it
	// made; neither writes anything the other reads.
	// When the image fails, the deploy stops waiting for the stacks at once (they would hold
	// the error back for minutes) but never stops a stack operation: CloudFormation finishes
	// or rolls it back by itself, and the next deploy finds the stack settled.
	waitCtx, stopWaiting := context.WithCancelCause(ctx)
	defer stopWaiting(nil)
	type stacksDone struct {
		outputs map[string]string
		err     error
	}
	envDone := make(chan stacksDone, 1)
	go func() {
		out, err := r.applyEnvironment(ctx, waitCtx, steps)
		envDone <- stacksDone{out, err}
	}()
	img, imgErr := r.ensureImage(ctx)
	if imgErr != nil {
		r.log.Error("the image failed: not waiting for the environment's stacks", "err", imgErr)
		stopWaiting(errStoppedWaiting)
	}
	stacks := <-envDone
	envErr := stacks.err
	if imgErr != nil && errors.Is(envErr, errStoppedWaiting) {
		r.log.Warn("stopped waiting for the environment's stacks: CloudFormation carries on with them, and the next deploy picks them up once they have settled", "detail", envErr)
		envErr = nil
	}
	if err := errors.Join(envErr, imgErr); err != nil {
		return nil, imageRef{}, err
	}
	return stacks.outputs, img, nil
}

// keepImageAndLogs records the image, protects it from the lifecycle policy and, with your own
// network, makes the log group (the managed environment's service stack holds it).
func (r *run) keepImageAndLogs(ctx context.Context, img imageRef) error {
	r.res.Image, r.res.ImageDigest = img.Ref, img.Digest
	if err := r.protectImage(ctx, img); err != nil {
		return err
	}
	if !r.managedEnv {
		return r.ensureLogGroup(ctx)
	}
	return nil
}
