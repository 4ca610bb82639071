// Package awsbatch runs `facectl detect` over a whole S3 prefix as one AWS Batch array job on
// Fargate (Spot): it lists the input once, cuts it into shards whose manifests it writes to S3,
// keeps the Batch environment (compute environment, job queue, job definition, roles, log group)
// as a CloudFormation stack through pkg/deploy's stack code, submits one child per shard, follows
// the job and merges the shards' results. A child reads its shard from the array index AWS Batch
// gives it.
package awsbatch

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Config is the `batch:` section of the config file. Each field declares its setting in tags as
// deploy.Config does (mapstructure key, flag, help). The AWS account settings (region, profile,
// endpoint) and the image are deploy's: one declaration each.
type Config struct {
	// Name names the environment (its stack, queue and job definition); two environments let two
	// jobs on different prefixes run at once, since a job role reads and writes only its own.
	Name string `mapstructure:"name" flag:"name,persistent" help:"name of the batch environment (its stack is facectl-batch-NAME)"`
	// VCPU and MemoryMiB are each child's Fargate size.
	VCPU      float64 `mapstructure:"vcpu" flag:"vcpu" help:"vCPUs per child task (Fargate: 0.25, 0.5, 1, 2, 4, 8, 16)"`
	MemoryMiB int     `mapstructure:"memory" flag:"memory-mib" help:"memory per child task in MiB (valid for --vcpu on Fargate)"`
	// MaxVCPUs caps the compute environment, so at most MaxVCPUs/VCPU children run at once.
	MaxVCPUs int `mapstructure:"max_vcpus" flag:"max-vcpus" help:"most vCPUs the compute environment runs at once"`
	// ShardSize is the number of images per child.
	ShardSize int `mapstructure:"shard_size" flag:"shard-size" help:"images per child (the default keeps a 1-vCPU child busy about 12 minutes on 12 MP photos)"`
	// Spot runs children on Fargate Spot; OnDemandFallback adds on-demand Fargate behind it in the
	// job queue for when Spot has no capacity.
	Spot             bool `mapstructure:"spot" flag:"spot" help:"run children on Fargate Spot (false: on-demand Fargate)"`
	OnDemandFallback bool `mapstructure:"on_demand_fallback" flag:"on-demand-fallback" help:"with spot: fall back to on-demand Fargate when Spot has no capacity"`
	// Attempts is Batch's retry strategy: a child interrupted (Spot reclaimed, crashed) runs again
	// up to this many times in all, doing only what its earlier attempts left.
	Attempts int `mapstructure:"attempts" flag:"attempts" help:"attempts per child (Batch retry strategy, 1 to 10)"`
	// AttemptTimeout ends a child attempt that runs longer (0: no limit).
	AttemptTimeout time.Duration `mapstructure:"attempt_timeout" help:"longest run of one child attempt (0: no limit)"`
	// Subnets are where the children run; empty means the default VPC's default subnets (with a
	// public IP, to reach ECR and S3 without a NAT gateway).
	Subnets []string `mapstructure:"subnets" flag:"subnet,array" help:"subnets of the children (default: the default VPC's default subnets)"`
	// ServiceRole is the compute environments' service role; empty means Batch's service-linked
	// role AWSServiceRoleForBatch, which Batch creates when it is missing.
	ServiceRole string `mapstructure:"service_role" help:"service role ARN of the compute environments (empty: AWS Batch's service-linked role)"`
	// PublicIP gives children in your own subnets a public IP.
	PublicIP bool `mapstructure:"assign_public_ip" help:"give children in your own subnets a public IP (always on in the default VPC)"`
	// Environment are NAME=VALUE pairs set in every child.
	Environment []string `mapstructure:"environment" flag:"child-env,array" help:"environment variable NAME=VALUE of every child (repeatable)"`
	// Work is where manifests and shard results go; empty means WORK_DEFAULT under the first
	// output prefix (see WorkPrefix).
	Work string `mapstructure:"work" flag:"work" help:"s3:// prefix for shard manifests and shard results (default: .facectl-batch/ beside the first output)"`
	// LogRetentionDays is the log group's retention.
	LogRetentionDays int `mapstructure:"log_retention_days" help:"days the children's CloudWatch logs are kept"`
	// PollInterval is the time between looks at the job and the stack.
	PollInterval time.Duration `mapstructure:"poll_interval" help:"time between looks at the job and the stack"`
	// Checkpoint is how often a child saves its shard's results so far, so that a retry redoes
	// at most that much.
	Checkpoint time.Duration `mapstructure:"checkpoint" help:"how often a child saves its shard's results so far"`
}

// DefaultConfig: 1 vCPU and 2 GiB per child (Fargate bills per vCPU and GiB, so small children
// cost the same per image and keep a reclaimed Spot task's lost work small), Spot with 3 attempts.
func DefaultConfig() Config {
	return Config{
		Name: "default", VCPU: 1, MemoryMiB: 2048, MaxVCPUs: 64, ShardSize: DefaultShardSize,
		Spot: true, Attempts: 3, LogRetentionDays: 30, PollInterval: 10 * time.Second, Checkpoint: time.Minute,
	}
}

// DefaultShardSize is about 12 minutes of a 1-vCPU child blurring 12 MP JPEGs (about 5.4 images a
// second, BENCHMARKS.md): long enough that starting a task (30-60 s) is a small part of it; a
// reclaimed Spot task loses only what it did since its last checkpoint.
const DefaultShardSize = 4000

// MaxArraySize is AWS Batch's largest array job
// (https://docs.aws.amazon.com/batch/latest/userguide/array_jobs.html).
const MaxArraySize = 10000

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// fargateMemory lists the memory sizes Fargate accepts per vCPU count
// (https://docs.aws.amazon.com/batch/latest/APIReference/API_ResourceRequirement.html).
var fargateMemory = map[float64][]int{
	0.25: {512, 1024, 2048},
	0.5:  stepRange(1024, 4096, 1024),
	1:    stepRange(2048, 8192, 1024),
	2:    stepRange(4096, 16384, 1024),
	4:    stepRange(8192, 30720, 1024),
	8:    stepRange(16384, 61440, 4096),
	16:   stepRange(32768, 122880, 8192),
}

func stepRange(from, to, step int) []int {
	var out []int
	for v := from; v <= to; v += step {
		out = append(out, v)
	}
	return out
}

// Validate reports every invalid setting at once.
func (c Config) Validate() error {
	var errs []error
	if !nameRE.MatchString(c.Name) {
		errs = append(errs, fmt.Errorf("batch.name %q: letters, digits, - and _, at most 64", c.Name))
	}
	mems, ok := fargateMemory[c.VCPU]
	switch {
	case !ok:
		errs = append(errs, fmt.Errorf("batch.vcpu %v: Fargate takes 0.25, 0.5, 1, 2, 4, 8 or 16", c.VCPU))
	case !slices.Contains(mems, c.MemoryMiB):
		errs = append(errs, fmt.Errorf("batch.memory %d: with %v vCPU Fargate takes %d to %d MiB in steps of %d", c.MemoryMiB, c.VCPU, mems[0], mems[len(mems)-1], step(mems)))
	}
	if float64(c.MaxVCPUs) < c.VCPU {
		errs = append(errs, fmt.Errorf("batch.max_vcpus %d: at least one child's %v vCPU", c.MaxVCPUs, c.VCPU))
	}
	if c.ShardSize < 1 {
		errs = append(errs, fmt.Errorf("batch.shard_size %d: at least 1", c.ShardSize))
	}
	if c.Attempts < 1 || c.Attempts > 10 {
		errs = append(errs, fmt.Errorf("batch.attempts %d: AWS Batch takes 1 to 10", c.Attempts))
	}
	if c.OnDemandFallback && !c.Spot {
		errs = append(errs, errors.New("batch.on_demand_fallback: needs batch.spot (on-demand is then the only capacity)"))
	}
	if c.AttemptTimeout != 0 && c.AttemptTimeout < time.Minute {
		errs = append(errs, fmt.Errorf("batch.attempt_timeout %v: AWS Batch takes at least 60s", c.AttemptTimeout))
	}
	if c.PollInterval <= 0 || c.Checkpoint <= 0 {
		errs = append(errs, errors.New("batch.poll_interval and batch.checkpoint: must be positive"))
	}
	for _, e := range c.Environment {
		if n, _, ok := strings.Cut(e, "="); !ok || n == "" {
			errs = append(errs, fmt.Errorf("batch.environment %q: want NAME=VALUE", e))
		}
	}
	return errors.Join(errs...)
}

func step(l []int) int {
	if len(l) < 2 {
		return 0
	}
	return l[1] - l[0]
}

// StackName is the environment's CloudFormation stack.
func (c Config) StackName() string { return "facectl-batch-" + c.Name }

// stackFor is the facectl:stack tag value of the environment's stack.
func (c Config) stackFor() string { return "batch/" + c.Name }

// LogGroup is where the children's output goes.
func (c Config) LogGroup() string { return "/facectl/batch/" + c.Name }
