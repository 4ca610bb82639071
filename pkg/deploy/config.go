package deploy

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Config is the `deploy:` section of the facectl config file. Each field declares its setting in
// tags: mapstructure (the key), flag (the flag, if any; ",persistent" for those deploy status and
// deploy rollback share) and help (one line, also the comment `facectl deploy init` writes).
// Environment variables
// override the file as FACECTL_DEPLOY_<KEY> with nested keys joined by `_`
// (FACECTL_DEPLOY_TASK_CPU), and flags override both.
//
// Environment variables and secrets are lists of name/value pairs rather than maps because the
// config loader lower-cases map keys, and variable names are case-sensitive.
type Config struct {
	// Region is the AWS region; empty means the SDK's default chain (AWS_REGION, profile).
	Region string `mapstructure:"region" flag:"region,persistent" help:"AWS region (default: AWS_REGION or the profile's)"`
	// Profile is the shared-config profile; empty means the SDK's default chain.
	Profile string `mapstructure:"profile" flag:"profile,persistent" help:"AWS shared-config profile"`
	// EndpointURL overrides the AWS API endpoint for every service (LocalStack, moto, a VPC
	// endpoint proxy). AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> are honoured as well.
	EndpointURL string `mapstructure:"endpoint_url" flag:"endpoint-url,persistent" help:"send AWS API calls to this URL (LocalStack, moto; AWS_ENDPOINT_URL works too)"`
	// MaxAttempts bounds the SDK retryer (throttling and transient errors); 0 keeps its default.
	MaxAttempts int `mapstructure:"max_attempts" help:"attempts of the SDK's retryer for throttled and transient errors; 0 keeps the SDK's default"`

	// Mode is what facectl deploys: "service" (an ECS service behind facectl's load balancer or
	// your target group) or "express" (an ECS Express Mode service: AWS provisions a shared ALB
	// with HTTPS on an AWS-provided domain, see express.go).
	Mode string `mapstructure:"mode" flag:"mode,persistent" help:"service (an ECS service behind facectl's load balancer or your target group) or express (ECS Express Mode: HTTPS on an AWS-provided domain)"`
	// Express holds the settings of deploy.mode express.
	Express ExpressConfig `mapstructure:"express" help:"ECS Express Mode (deploy.mode express)"`

	// Cluster is the ECS cluster name or ARN; the managed environment creates it when missing.
	Cluster string `mapstructure:"cluster" flag:"cluster,persistent" help:"ECS cluster (created by the managed environment's cluster stack when missing)"`
	// Service is the ECS service name; it is created when missing.
	Service string `mapstructure:"service" flag:"service,persistent" help:"ECS service (created when missing)"`
	// DesiredCount is the task count when auto scaling is off, and the initial count when it is on.
	DesiredCount int `mapstructure:"desired_count" flag:"desired-count" help:"task count (the starting count when auto scaling is on)"`

	// Image says what to run and how to build it.
	Image ImageConfig `mapstructure:"image" help:"what to deploy, and how to build and push it"`
	// Task is the task definition.
	Task TaskConfig `mapstructure:"task" help:"the Fargate task definition"`
	// Logs is the awslogs configuration of the container.
	Logs LogsConfig `mapstructure:"logs" help:"the container's CloudWatch Logs (awslogs)"`
	// Network is the awsvpc configuration of the service. Naming security groups (with or
	// without a target group) deploys into your own network; naming neither makes facectl
	// manage the environment as CloudFormation stacks (see Managed).
	Network NetworkConfig `mapstructure:"network" help:"the awsvpc network of the tasks; with no security groups and no target group, facectl manages the environment as CloudFormation stacks"`
	// LoadBalancer is the managed environment's load balancer, or an existing target group.
	LoadBalancer LoadBalancerConfig `mapstructure:"load_balancer" help:"the load balancer: the managed environment's, or an existing target group"`
	// Deployment holds the rolling-update settings.
	Deployment DeploymentConfig `mapstructure:"deployment" help:"rolling-update settings of the service"`
	// AutoScaling holds Service Auto Scaling settings.
	AutoScaling AutoScalingConfig `mapstructure:"autoscaling" help:"Service Auto Scaling; when enabled, deploys never reset the desired count it manages"`
	// Wait bounds the wait for a stable service.
	Wait WaitConfig `mapstructure:"wait" help:"the wait for the new deployment to be the only one, completed and fully running"`
}

// ImageConfig says which image to deploy and how to build and publish it.
type ImageConfig struct {
	// URI deploys a prebuilt image and skips build and push (flag --image).
	URI string `mapstructure:"uri" flag:"image" help:"deploy this prebuilt image instead of building (HOST/REPO:TAG or HOST/REPO@sha256:...)"`
	// Repository is the ECR repository name; it is created when missing.
	Repository string `mapstructure:"repository" flag:"repository" help:"ECR repository (created when missing)"`
	// Registry pushes to this host[:port] instead of the ECR registry host returned by
	// GetAuthorizationToken, still logging in with the ECR token (pull-through caches, mirrors,
	// a local registry). The task definition references the image on this host.
	Registry string `mapstructure:"registry" flag:"registry" help:"push to this registry HOST[:PORT] instead of the ECR host, logging in with the ECR token"`
	// Tag is the image tag; empty means the git short SHA of the build context, plus -dirty.
	Tag string `mapstructure:"tag" flag:"tag" help:"image tag (default: git short SHA, -dirty for a modified tree)"`
	// Platform is linux/amd64 or linux/arm64; it is also the task's runtime platform.
	Platform string `mapstructure:"platform" flag:"platform" help:"image and task platform: linux/amd64 or linux/arm64"`
	// Dockerfile is the Dockerfile path (relative paths are relative to the working directory).
	Dockerfile string `mapstructure:"dockerfile" flag:"dockerfile" help:"Dockerfile to build"`
	// Context is the docker build context directory.
	Context string `mapstructure:"context" flag:"context" help:"docker build context directory"`
	// BuildArgs are passed as --build-arg KEY=VALUE.
	BuildArgs []string `mapstructure:"build_args" flag:"build-arg,array" help:"docker build argument KEY=VALUE (repeatable)"`
	// KeepImages is the number of images the ECR lifecycle policy keeps.
	KeepImages int `mapstructure:"keep_images" help:"images the ECR lifecycle policy keeps"`
	// KeepDeployed is the number of deployed images (tagged facectl-deployed-*) the ECR
	// lifecycle policy keeps; older ones expire. It bounds how far back a rollback can go.
	KeepDeployed int `mapstructure:"keep_deployed" help:"deployed images (tagged facectl-deployed-*) the ECR lifecycle policy keeps, newest first; older ones expire"`
	// ScanOnPush enables ECR image scanning on push for a repository facectl creates.
	ScanOnPush bool `mapstructure:"scan_on_push" help:"scan images on push in a repository facectl creates"`
}

// TaskConfig is the Fargate task definition.
type TaskConfig struct {
	// Family is the task definition family; empty means the service name, so that two
	// services never share one (rollback goes by the service's own revisions).
	Family string `mapstructure:"family" flag:"family" help:"task definition family (empty: the service name)"`
	// CPU is in CPU units (256, 512, 1024, 2048, 4096, 8192, 16384).
	CPU int `mapstructure:"cpu" flag:"cpu" help:"task CPU units (256, 512, 1024, 2048, 4096, 8192, 16384)"`
	// Memory is in MiB and must be valid for CPU on Fargate.
	Memory int `mapstructure:"memory" flag:"memory" help:"task memory in MiB (valid for --cpu on Fargate)"`
	// ContainerName is the name of the one container.
	ContainerName string `mapstructure:"container_name" help:"name of the task's one container"`
	// ContainerPort is the port facectl serve listens on: the task gets FACECTL_SERVER_ADDR=:PORT,
	// so serve, its health check and the load balancer's target all use it.
	ContainerPort int `mapstructure:"container_port" flag:"container-port" help:"port facectl serve listens on (the task gets FACECTL_SERVER_ADDR=:PORT)"`
	// Command overrides the image's CMD (default: the image's, i.e. serve).
	Command []string `mapstructure:"command" help:"overrides the image's command (empty: the image's, facectl serve)"`
	// Environment are plain environment variables.
	Environment []EnvVar `mapstructure:"environment" flag:"env" help:"container environment variable NAME=VALUE (repeatable; replaces the config file's list)"`
	// Secrets are environment variables read from SSM parameters or Secrets Manager.
	Secrets []Secret `mapstructure:"secrets" flag:"secret" help:"container secret NAME=ARN of an SSM parameter or Secrets Manager secret (repeatable)"`
	// SecretsKMSKeys are the customer-managed KMS keys the secrets are encrypted with: the
	// managed execution role may decrypt with them, only through SSM and Secrets Manager.
	SecretsKMSKeys []string `mapstructure:"secrets_kms_keys" help:"ARNs of the customer-managed KMS keys the secrets are encrypted with (the managed execution role gets kms:Decrypt on them via SSM and Secrets Manager)"`
	// ExecutionRoleARN lets ECS pull from ECR, write logs and read secrets.
	ExecutionRoleARN string `mapstructure:"execution_role_arn" flag:"execution-role-arn" help:"task execution role (ECR pull, logs, secrets; empty with the managed environment: the stack makes one)"`
	// TaskRoleARN is the role the application runs as (optional).
	TaskRoleARN string `mapstructure:"task_role_arn" flag:"task-role-arn" help:"task role the application runs as"`
	// StopTimeout is how long ECS waits after SIGTERM before SIGKILL (max 120s on Fargate).
	StopTimeout time.Duration `mapstructure:"stop_timeout" help:"time ECS waits after SIGTERM before SIGKILL (at most 120s on Fargate)"`
	// HealthCheck is the container health check.
	HealthCheck HealthCheckConfig `mapstructure:"health_check" help:"the container health check; ECS replaces unhealthy tasks"`
}

// EnvVar is one plain environment variable of the container.
type EnvVar struct {
	// Name is the variable name.
	Name string `mapstructure:"name" json:"name"`
	// Value is the variable value.
	Value string `mapstructure:"value" json:"value"`
}

// Secret is one environment variable whose value ECS reads at start from SSM or Secrets Manager.
type Secret struct {
	// Name is the variable name.
	Name string `mapstructure:"name" json:"name"`
	// ValueFrom is the ARN of the SSM parameter or Secrets Manager secret.
	ValueFrom string `mapstructure:"value_from" json:"valueFrom"`
}

// UnmarshalText reads NAME=VALUE, the form used by flags (--env) and environment variables.
func (e *EnvVar) UnmarshalText(b []byte) error {
	name, value, ok := strings.Cut(string(b), "=")
	if !ok || name == "" {
		return fmt.Errorf("environment variable %q: want NAME=VALUE", b)
	}
	*e = EnvVar{Name: name, Value: value}
	return nil
}

// UnmarshalText reads NAME=ARN, the form used by flags (--secret) and environment variables.
func (s *Secret) UnmarshalText(b []byte) error {
	name, from, ok := strings.Cut(string(b), "=")
	if !ok || name == "" {
		return fmt.Errorf("secret %q: want NAME=ARN", b)
	}
	*s = Secret{Name: name, ValueFrom: from}
	return nil
}

// HealthCheckConfig is the container health check; ECS replaces unhealthy tasks.
type HealthCheckConfig struct {
	// Command is the health check command in ECS form.
	Command []string `mapstructure:"command" help:"health check command in ECS form (CMD or CMD-SHELL first)"`
	// Interval is the time between checks (5s-300s).
	Interval time.Duration `mapstructure:"interval" help:"time between checks (5s-300s)"`
	// Timeout is the time one check may take (2s-60s).
	Timeout time.Duration `mapstructure:"timeout" help:"time one check may take (2s-60s)"`
	// Retries is the number of failures before the container is unhealthy (1-10).
	Retries int `mapstructure:"retries" help:"failures before the container is unhealthy (1-10)"`
	// StartPeriod is the grace time after start (0-300s).
	StartPeriod time.Duration `mapstructure:"start_period" help:"grace time after start (0-300s)"`
}

// LogsConfig is the awslogs log driver configuration.
type LogsConfig struct {
	// Group is the CloudWatch log group; empty means /ecs/<service>. The managed environment
	// creates it in the service's stack; otherwise deploy creates it when missing.
	Group string `mapstructure:"group" help:"CloudWatch Logs group (empty: /ecs/<service>); created by the service stack, or when missing with your own network"`
	// RetentionDays is the retention set on a group facectl creates (0 = never expire).
	RetentionDays int `mapstructure:"retention_days" help:"retention of a group facectl creates, in days (0: never expire)"`
	// StreamPrefix is the awslogs-stream-prefix.
	StreamPrefix string `mapstructure:"stream_prefix" help:"awslogs stream prefix"`
}

// NetworkConfig is the awsvpc network configuration.
type NetworkConfig struct {
	// Subnets are subnet IDs the tasks run in; the managed environment defaults to two of the
	// default VPC's default subnets.
	Subnets []string `mapstructure:"subnets" flag:"subnets" help:"subnet IDs of the tasks (comma-separated; empty with the managed environment: the default VPC's)"`
	// SecurityGroups are security group IDs of the tasks.
	SecurityGroups []string `mapstructure:"security_groups" flag:"security-groups" help:"security group IDs of the tasks (comma-separated): deploy into your own network"`
	// AssignPublicIP gives tasks a public IP (needed in public subnets without NAT to pull images).
	// The managed environment in the default VPC always gives them one.
	AssignPublicIP bool `mapstructure:"assign_public_ip" flag:"assign-public-ip" help:"give tasks a public IP (needed in public subnets without NAT; always on in the default VPC)"`
}

// LoadBalancerConfig attaches the service to a target group: an existing one (target_group_arn,
// with network.security_groups) or the one of the managed environment (see Config.Managed).
type LoadBalancerConfig struct {
	// TargetGroupARN is an existing target group (target type ip) of an NLB or ALB.
	TargetGroupARN string `mapstructure:"target_group_arn" flag:"target-group-arn" help:"an existing target group (type ip) of an NLB or ALB (with network.security_groups)"`
	// Type is the managed environment's load balancer: application (ALB) or network (NLB).
	Type string `mapstructure:"type" flag:"load-balancer-type" help:"load balancer the managed environment creates: application or network"`
	// CertificateARN adds an HTTPS (ALB) or TLS (NLB) listener on 443 with this ACM
	// certificate; an ALB then redirects HTTP to HTTPS.
	CertificateARN string `mapstructure:"certificate_arn" flag:"certificate-arn" help:"ACM certificate for an HTTPS listener (HTTP redirects to it)"`
	// Domain is the service's custom domain; the printed URL uses it. With a Route 53 hosted
	// zone for it in the account (and no certificate_arn) the service stack makes its
	// certificate and alias record (domain.go); with certificate_arn you point it at the load
	// balancer yourself.
	Domain string `mapstructure:"domain" flag:"domain" help:"custom domain of the service: with a Route 53 hosted zone for it in the account, the stack makes its certificate and record (HTTPS, HTTP redirected); with --certificate-arn, point it at the load balancer yourself"`
	// Subnets are the load balancer's subnets (public ones, in at least two zones); empty means
	// the tasks' subnets.
	Subnets []string `mapstructure:"subnets" help:"subnets of the managed load balancer (empty: the tasks' subnets)"`
	// DeregistrationDelay is how long the load balancer lets in-flight requests finish on a
	// task being stopped; it matches serve's drain plus grace periods (5 s + 20 s).
	DeregistrationDelay time.Duration `mapstructure:"deregistration_delay" help:"target deregistration delay (serve's drain + grace periods)"`
	// HealthCheckGracePeriod is how long ECS ignores load balancer health checks after start.
	HealthCheckGracePeriod time.Duration `mapstructure:"health_check_grace_period" help:"time ECS ignores load balancer health checks after a task starts"`
}

// DeploymentConfig holds the rolling-update settings of the service.
type DeploymentConfig struct {
	// CircuitBreaker stops a deployment whose tasks keep failing.
	CircuitBreaker bool `mapstructure:"circuit_breaker" help:"stop a deployment whose tasks keep failing"`
	// Rollback returns to the last completed deployment when the circuit breaker trips.
	Rollback bool `mapstructure:"rollback" help:"roll back to the last completed deployment when the circuit breaker trips"`
	// MinimumHealthyPercent is the lower bound of running tasks during a deployment.
	MinimumHealthyPercent int `mapstructure:"minimum_healthy_percent" help:"lower bound of running tasks during a deployment, in percent of the desired count"`
	// MaximumPercent is the upper bound of running tasks during a deployment.
	MaximumPercent int `mapstructure:"maximum_percent" help:"upper bound of running tasks during a deployment, in percent of the desired count"`
}

// AutoScalingConfig holds Service Auto Scaling settings. When enabled, deploys never change
// the service's desired count after creation.
type AutoScalingConfig struct {
	// Enabled registers the scalable target and policies.
	Enabled bool `mapstructure:"enabled" flag:"autoscaling" help:"manage Service Auto Scaling (min/max and target tracking)"`
	// Min is the minimum task count.
	Min int `mapstructure:"min" flag:"min" help:"auto scaling minimum tasks"`
	// Max is the maximum task count.
	Max int `mapstructure:"max" flag:"max" help:"auto scaling maximum tasks"`
	// CPUTarget is the average CPU utilisation target in percent (0 = no CPU policy).
	CPUTarget float64 `mapstructure:"cpu_target" help:"average CPU utilisation target in percent (0: no CPU policy)"`
	// RequestsPerTarget is the ALB request count per target (0 = no policy; ALB only).
	RequestsPerTarget float64 `mapstructure:"requests_per_target" help:"requests per target per minute (Application Load Balancer only; 0: no policy)"`
	// ScaleInCooldown is the cooldown after a scale-in activity.
	ScaleInCooldown time.Duration `mapstructure:"scale_in_cooldown" help:"cooldown after a scale-in activity"`
	// ScaleOutCooldown is the cooldown after a scale-out activity.
	ScaleOutCooldown time.Duration `mapstructure:"scale_out_cooldown" help:"cooldown after a scale-out activity"`
}

// ExpressConfig holds the settings of an ECS Express Mode service.
type ExpressConfig struct {
	// InfrastructureRoleARN is the role ECS assumes to create the load balancer, security
	// groups and scaling of the Express service; empty with the managed environment: its
	// stack makes one with AmazonECSInfrastructureRoleforExpressGatewayServices.
	InfrastructureRoleARN string `mapstructure:"infrastructure_role_arn" flag:"infrastructure-role-arn,persistent" help:"infrastructure role ECS uses to manage the Express service's load balancer, security groups and scaling (trusting ecs.amazonaws.com; empty with the managed environment: the stack makes one)"`
	// HealthCheckPath is the path the Express service's load balancer checks.
	HealthCheckPath string `mapstructure:"health_check_path" help:"path the Express service's load balancer health check asks (serve answers /readyz)"`
}

// Modes of deploy.mode.
const (
	ModeService = "service"
	ModeExpress = "express"
)

// IsExpress reports whether the configuration deploys an ECS Express Mode service.
func (c Config) IsExpress() bool { return c.Mode == ModeExpress }

// WaitConfig bounds the wait for the service to become stable.
type WaitConfig struct {
	// Timeout is the longest wait for a stable service (flag --timeout); 0 means do not wait.
	Timeout time.Duration `mapstructure:"timeout" flag:"timeout,persistent" help:"longest wait for the deployment to complete (0: do not wait)"`
	// PollInterval is the time between DescribeServices calls.
	PollInterval time.Duration `mapstructure:"poll_interval" help:"time between DescribeServices calls"`
}

// Managed reports whether facectl manages the service's environment (cluster, execution role,
// log group, security groups, load balancer and target group) as CloudFormation stacks: when
// the config names neither security groups nor a target group.
func (c Config) Managed() bool {
	return len(c.Network.SecurityGroups) == 0 && c.LoadBalancer.TargetGroupARN == ""
}

// LogGroup is the log group of the service: logs.group, or /ecs/<service> in the default
// cluster (as before) and /ecs/<cluster>/<service> in any other, so that no two (cluster,
// service) pairs share one (names have no '/', so the two forms never meet).
func (c Config) LogGroup() string {
	if c.Logs.Group != "" {
		return c.Logs.Group
	}
	if cl := clusterName(c.Cluster); cl != DefaultConfig().Cluster {
		return "/ecs/" + cl + "/" + c.Service
	}
	return "/ecs/" + c.Service
}

// DefaultConfig returns the configuration used for every key the config file leaves unset.
func DefaultConfig() Config {
	return Config{
		Mode:         ModeService,
		Express:      ExpressConfig{HealthCheckPath: "/readyz"},
		Cluster:      "facectl",
		Service:      "facectl",
		DesiredCount: 2,
		Image: ImageConfig{
			Repository:   "facectl",
			Platform:     "linux/amd64",
			Dockerfile:   "Dockerfile",
			Context:      ".",
			KeepImages:   30,
			KeepDeployed: 20,
			ScanOnPush:   true,
		},
		Task: TaskConfig{
			CPU:           1024,
			Memory:        2048,
			ContainerName: "facectl",
			ContainerPort: 8080,
			StopTimeout:   30 * time.Second,
			HealthCheck: HealthCheckConfig{
				Command:     []string{"CMD", "facectl", "health"},
				Interval:    15 * time.Second,
				Timeout:     5 * time.Second,
				Retries:     3,
				StartPeriod: 20 * time.Second,
			},
		},
		Logs: LogsConfig{
			RetentionDays: 30,
			StreamPrefix:  "facectl",
		},
		LoadBalancer: LoadBalancerConfig{
			Type:                   "application",
			HealthCheckGracePeriod: 60 * time.Second,
			DeregistrationDelay:    25 * time.Second,
		},
		Deployment: DeploymentConfig{
			CircuitBreaker:        true,
			Rollback:              true,
			MinimumHealthyPercent: 100,
			MaximumPercent:        200,
		},
		AutoScaling: AutoScalingConfig{
			Enabled:          true,
			Min:              2,
			Max:              10,
			CPUTarget:        60,
			ScaleInCooldown:  120 * time.Second,
			ScaleOutCooldown: 60 * time.Second,
		},
		Wait: WaitConfig{Timeout: 15 * time.Minute, PollInterval: 5 * time.Second},
	}
}

// TaskFamily is the task definition family: task.family, or the service name when it is empty.
func (c Config) TaskFamily() string {
	if c.Task.Family != "" {
		return c.Task.Family
	}
	return c.Service
}

// fargateMemory lists, per CPU value, the memory sizes (MiB) Fargate accepts.
var fargateMemory = map[int][]int{
	256:   {512, 1024, 2048},
	512:   stepRange(1024, 4096, 1024),
	1024:  stepRange(2048, 8192, 1024),
	2048:  stepRange(4096, 16384, 1024),
	4096:  stepRange(8192, 30720, 1024),
	8192:  stepRange(16384, 61440, 4096),
	16384: stepRange(32768, 122880, 8192),
}

func stepRange(from, to, step int) []int {
	var out []int
	for v := from; v <= to; v += step {
		out = append(out, v)
	}
	return out
}

var (
	nameRE       = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
	repositoryRE = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$`)
	tagRE        = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	envNameRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	logGroupRE   = regexp.MustCompile(`^[A-Za-z0-9_./#-]{1,512}$`)
)

// Validate reports every problem of the configuration at once. It checks only what can be
// checked offline; Preflight checks the rest against AWS.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("deploy.%s: "+format, append([]any{key}, args...)...))
	}
	if c.EndpointURL != "" {
		if u, err := url.Parse(c.EndpointURL); err != nil || u.Scheme == "" || u.Host == "" {
			bad("endpoint_url", "%q is not an absolute URL", c.EndpointURL)
		}
	}
	if c.MaxAttempts < 0 {
		bad("max_attempts", "must not be negative")
	}
	if c.Cluster == "" {
		bad("cluster", "is required")
	}
	if !nameRE.MatchString(c.Service) {
		bad("service", "%q must be 1-255 letters, digits, '-' or '_'", c.Service)
	}
	if cl := clusterName(c.Cluster); c.Cluster != "" && !nameRE.MatchString(cl) {
		bad("cluster", "%q must be 1-255 letters, digits, '-' or '_' (or a cluster ARN)", cl)
	}
	// Limits of names derived from these (a stack tag value takes 256 characters,
	// https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_Tag.html; a
	// scaling policy name 256,
	// https://docs.aws.amazon.com/autoscaling/application/APIReference/API_PutScalingPolicy.html).
	if tag := c.serviceStackFor(); c.Managed() && len(tag) > 256 {
		bad("service", "cluster and service names together are too long for the managed environment: its stack tag %s=service/<cluster>/<service> would have %d characters, AWS takes 256", stackTag, len(tag))
	}
	if longest := len(c.Service + "-requests"); c.AutoScaling.Enabled && longest > 256 {
		bad("service", "%d characters is too long with auto scaling: its policy name <service>-requests would have %d, AWS takes 256", len(c.Service), longest)
	}
	if c.DesiredCount < 0 {
		bad("desired_count", "must not be negative")
	}

	// Image.
	if c.Image.URI == "" {
		if !repositoryRE.MatchString(c.Image.Repository) {
			bad("image.repository", "%q is not a valid ECR repository name (lower case, digits, . _ - /)", c.Image.Repository)
		}
		if c.Image.Dockerfile == "" {
			bad("image.dockerfile", "is required to build the image (or set deploy.image.uri)")
		}
		if c.Image.Context == "" {
			bad("image.context", "is required to build the image (or set deploy.image.uri)")
		}
		if c.Image.KeepImages < 1 {
			bad("image.keep_images", "must be at least 1")
		}
		if c.Image.KeepDeployed < 2 {
			bad("image.keep_deployed", "must be at least 2 (the running image and the one a rollback returns to)")
		}
	} else if strings.ContainsAny(c.Image.URI, " \t\n") || !strings.Contains(c.Image.URI, "/") {
		bad("image.uri", "%q is not an image reference like HOST/REPOSITORY:TAG or HOST/REPOSITORY@sha256:DIGEST", c.Image.URI)
	}
	if c.Image.Registry != "" && (strings.Contains(c.Image.Registry, "/") || strings.ContainsAny(c.Image.Registry, " \t")) {
		bad("image.registry", "%q must be HOST or HOST:PORT without scheme or path", c.Image.Registry)
	}
	if c.Image.Tag != "" && !tagRE.MatchString(c.Image.Tag) {
		bad("image.tag", "%q is not a valid image tag", c.Image.Tag)
	}
	if _, err := cpuArchitecture(c.Image.Platform); err != nil {
		bad("image.platform", "%v", err)
	}
	for _, a := range c.Image.BuildArgs {
		if k, _, ok := strings.Cut(a, "="); !ok || k == "" {
			bad("image.build_args", "%q must be KEY=VALUE", a)
		}
	}

	// Task.
	if c.Task.Family != "" && !nameRE.MatchString(c.Task.Family) {
		bad("task.family", "%q must be 1-255 letters, digits, '-' or '_'", c.Task.Family)
	}
	if mems, ok := fargateMemory[c.Task.CPU]; !ok {
		bad("task.cpu", "%d is not a Fargate CPU value (256, 512, 1024, 2048, 4096, 8192, 16384)", c.Task.CPU)
	} else if !containsInt(mems, c.Task.Memory) {
		bad("task.memory", "%d MiB is not valid with %d CPU units on Fargate (valid: %s)", c.Task.Memory, c.Task.CPU, memoryList(mems))
	}
	if !nameRE.MatchString(c.Task.ContainerName) {
		bad("task.container_name", "%q must be 1-255 letters, digits, '-' or '_'", c.Task.ContainerName)
	}
	if c.Task.ContainerPort < 1 || c.Task.ContainerPort > 65535 {
		bad("task.container_port", "%d is not a port", c.Task.ContainerPort)
	}
	seen := map[string]bool{}
	for i, e := range c.Task.Environment {
		if !envNameRE.MatchString(e.Name) {
			bad(fmt.Sprintf("task.environment[%d].name", i), "%q is not a variable name", e.Name)
		}
		if seen[e.Name] {
			bad(fmt.Sprintf("task.environment[%d].name", i), "%q is set twice", e.Name)
		}
		seen[e.Name] = true
		if e.Name == serverAddrEnv {
			if _, port, err := net.SplitHostPort(e.Value); err != nil || port != strconv.Itoa(c.Task.ContainerPort) {
				bad(fmt.Sprintf("task.environment[%d].value", i), "%s=%q must listen on task.container_port %d (or leave it out: facectl sets it)", e.Name, e.Value, c.Task.ContainerPort)
			}
		}
	}
	for i, s := range c.Task.Secrets {
		if !envNameRE.MatchString(s.Name) {
			bad(fmt.Sprintf("task.secrets[%d].name", i), "%q is not a variable name", s.Name)
		}
		if seen[s.Name] {
			bad(fmt.Sprintf("task.secrets[%d].name", i), "%q is set twice", s.Name)
		}
		seen[s.Name] = true
		if !strings.HasPrefix(s.ValueFrom, "arn:") || !(strings.Contains(s.ValueFrom, ":ssm:") || strings.Contains(s.ValueFrom, ":secretsmanager:")) {
			bad(fmt.Sprintf("task.secrets[%d].value_from", i), "%q must be the ARN of an SSM parameter or a Secrets Manager secret", s.ValueFrom)
		}
	}
	for i, k := range c.Task.SecretsKMSKeys {
		if !strings.HasPrefix(k, "arn:") || !strings.Contains(k, ":kms:") || !strings.Contains(k, ":key/") {
			bad(fmt.Sprintf("task.secrets_kms_keys[%d]", i), "%q must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)", k)
		}
	}
	if len(c.Task.Secrets) > 0 && c.Task.ExecutionRoleARN == "" && !c.Managed() {
		bad("task.execution_role_arn", "is required when secrets are set (ECS reads them with it)")
	}
	if c.Task.ExecutionRoleARN == "" && !c.Managed() {
		bad("task.execution_role_arn", "is required to pull from ECR and write to CloudWatch Logs (a role with AmazonECSTaskExecutionRolePolicy); the managed environment creates one")
	}
	for key, arn := range map[string]string{"task.execution_role_arn": c.Task.ExecutionRoleARN, "task.task_role_arn": c.Task.TaskRoleARN} {
		if arn != "" && !strings.HasPrefix(arn, "arn:") {
			bad(key, "%q is not an IAM role ARN", arn)
		}
	}
	if c.Task.StopTimeout < 0 || c.Task.StopTimeout > 120*time.Second {
		bad("task.stop_timeout", "%v must be between 0s and 120s on Fargate", c.Task.StopTimeout)
	}
	hc := c.Task.HealthCheck
	if len(hc.Command) > 0 {
		if hc.Command[0] != "CMD" && hc.Command[0] != "CMD-SHELL" {
			bad("task.health_check.command", "must start with CMD or CMD-SHELL")
		}
		if hc.Interval < 5*time.Second || hc.Interval > 300*time.Second {
			bad("task.health_check.interval", "%v must be between 5s and 300s", hc.Interval)
		}
		if hc.Timeout < 2*time.Second || hc.Timeout > 60*time.Second {
			bad("task.health_check.timeout", "%v must be between 2s and 60s", hc.Timeout)
		}
		if hc.Retries < 1 || hc.Retries > 10 {
			bad("task.health_check.retries", "%d must be between 1 and 10", hc.Retries)
		}
		if hc.StartPeriod < 0 || hc.StartPeriod > 300*time.Second {
			bad("task.health_check.start_period", "%v must be between 0s and 300s", hc.StartPeriod)
		}
	}

	// Logs.
	if !validRetention(c.Logs.RetentionDays) {
		bad("logs.retention_days", "%d is not a CloudWatch Logs retention (0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)", c.Logs.RetentionDays)
	}
	if c.Logs.StreamPrefix == "" {
		bad("logs.stream_prefix", "is required")
	}
	if g := c.Logs.Group; g != "" && !logGroupRE.MatchString(g) {
		bad("logs.group", "%q is not a log group name (1-512 of letters, digits, _ - / . #)", g)
	}

	// Network.
	if !c.Managed() && len(c.Network.Subnets) == 0 {
		bad("network.subnets", "at least one subnet ID is required with network.security_groups (or leave both empty for the managed environment)")
	}
	for _, s := range append(append([]string{}, c.Network.Subnets...), c.LoadBalancer.Subnets...) {
		if !strings.HasPrefix(s, "subnet-") {
			bad("network.subnets", "%q is not a subnet ID (subnet-...)", s)
		}
	}
	if len(c.Network.SecurityGroups) == 0 && c.LoadBalancer.TargetGroupARN != "" {
		bad("network.security_groups", "is required with load_balancer.target_group_arn (or leave both empty for the managed environment)")
	}
	for _, s := range c.Network.SecurityGroups {
		if !strings.HasPrefix(s, "sg-") {
			bad("network.security_groups", "%q is not a security group ID (sg-...)", s)
		}
	}

	// Load balancer.
	lb := c.LoadBalancer
	if t := lb.TargetGroupARN; t != "" && !strings.Contains(t, ":targetgroup/") {
		bad("load_balancer.target_group_arn", "%q is not a target group ARN", t)
	}
	if lb.HealthCheckGracePeriod < 0 {
		bad("load_balancer.health_check_grace_period", "must not be negative")
	}
	if lb.Type != "application" && lb.Type != "network" {
		bad("load_balancer.type", "%q must be application or network", lb.Type)
	}
	if a := lb.CertificateARN; a != "" && (!strings.HasPrefix(a, "arn:") || !strings.Contains(a, ":acm:")) {
		bad("load_balancer.certificate_arn", "%q is not an ACM certificate ARN", a)
	}
	if lb.Domain != "" && (strings.Contains(lb.Domain, "/") || strings.ContainsAny(lb.Domain, " :")) {
		bad("load_balancer.domain", "%q must be a host name like api.example.com", lb.Domain)
	}
	if lb.DeregistrationDelay < 0 || lb.DeregistrationDelay > time.Hour {
		bad("load_balancer.deregistration_delay", "%v must be between 0s and 1h", lb.DeregistrationDelay)
	}
	if !c.Managed() {
		for key, set := range map[string]bool{"certificate_arn": lb.CertificateARN != "", "domain": lb.Domain != "", "subnets": len(lb.Subnets) > 0} {
			if set {
				bad("load_balancer."+key, "applies only to the managed environment (leave network.security_groups and load_balancer.target_group_arn empty)")
			}
		}
	}

	// Deployment.
	d := c.Deployment
	if d.Rollback && !d.CircuitBreaker {
		bad("deployment.rollback", "needs deploy.deployment.circuit_breaker")
	}
	if d.MinimumHealthyPercent < 0 || d.MinimumHealthyPercent > 100 {
		bad("deployment.minimum_healthy_percent", "%d must be between 0 and 100", d.MinimumHealthyPercent)
	}
	if d.MaximumPercent < 100 || d.MaximumPercent > 200 {
		bad("deployment.maximum_percent", "%d must be between 100 and 200", d.MaximumPercent)
	}
	if d.MinimumHealthyPercent == 100 && d.MaximumPercent == 100 {
		bad("deployment.maximum_percent", "100 with minimum_healthy_percent 100 leaves no room to start new tasks")
	}

	// Auto scaling.
	a := c.AutoScaling
	if a.Enabled {
		if a.Min < 0 || a.Max < 1 || a.Min > a.Max {
			bad("autoscaling", "min %d and max %d must satisfy 0 <= min <= max, max >= 1", a.Min, a.Max)
		}
		if a.CPUTarget == 0 && a.RequestsPerTarget == 0 {
			bad("autoscaling", "enabled without a policy: set cpu_target and/or requests_per_target")
		}
		if a.CPUTarget < 0 || a.CPUTarget > 100 {
			bad("autoscaling.cpu_target", "%v must be between 0 and 100", a.CPUTarget)
		}
		if a.RequestsPerTarget < 0 {
			bad("autoscaling.requests_per_target", "must not be negative")
		}
		if a.RequestsPerTarget > 0 && !c.Managed() && c.LoadBalancer.TargetGroupARN == "" {
			bad("autoscaling.requests_per_target", "needs load_balancer.target_group_arn of an Application Load Balancer")
		}
		if a.RequestsPerTarget > 0 && c.Managed() && c.LoadBalancer.Type != "application" {
			bad("autoscaling.requests_per_target", "needs load_balancer.type application")
		}
		if a.ScaleInCooldown < 0 || a.ScaleOutCooldown < 0 {
			bad("autoscaling", "cooldowns must not be negative")
		}
	}

	// Express Mode: AWS makes the load balancer, listener and certificate, and always scales.
	switch c.Mode {
	case ModeService, "":
	case ModeExpress:
		for key, set := range map[string]bool{
			"load_balancer.target_group_arn": lb.TargetGroupARN != "", "load_balancer.certificate_arn": lb.CertificateARN != "",
			"load_balancer.domain": lb.Domain != "", "load_balancer.subnets": len(lb.Subnets) > 0,
		} {
			if set {
				bad(key, "does not apply to deploy.mode express: Express Mode makes its own load balancer and certificate (use deploy.mode service)")
			}
		}
		if lb.Type != "application" {
			bad("load_balancer.type", "%q: Express Mode always uses an Application Load Balancer", lb.Type)
		}
		if !a.Enabled {
			bad("autoscaling.enabled", "must be true with deploy.mode express: an Express service always scales between autoscaling.min and autoscaling.max")
		}
		if a.CPUTarget > 0 && a.RequestsPerTarget > 0 {
			bad("autoscaling", "an Express service scales on one metric: set cpu_target or requests_per_target, not both")
		}
		if a.Min < 1 {
			bad("autoscaling.min", "must be at least 1 with deploy.mode express")
		}
		if r := c.Express.InfrastructureRoleARN; r != "" && (!strings.HasPrefix(r, "arn:") || !strings.Contains(r, ":role/")) {
			bad("express.infrastructure_role_arn", "%q is not an IAM role ARN", r)
		}
		if c.Express.InfrastructureRoleARN == "" && !c.Managed() {
			bad("express.infrastructure_role_arn", "is required with network.security_groups (a role trusting ecs.amazonaws.com with AmazonECSInfrastructureRoleforExpressGatewayServices); the managed environment creates one")
		}
		if p := c.Express.HealthCheckPath; !strings.HasPrefix(p, "/") {
			bad("express.health_check_path", "%q must start with /", p)
		}
	default:
		bad("mode", "%q must be service or express", c.Mode)
	}

	// Placeholders written by `facectl deploy init`.
	placeholder := func(key string, values ...string) {
		for _, v := range values {
			if strings.Contains(v, "REPLACE_ME") || strings.Contains(v, ":ACCOUNT:") {
				bad(key, "%q is the placeholder written by facectl deploy init: replace it", v)
			}
		}
	}
	placeholder("network.subnets", c.Network.Subnets...)
	placeholder("network.security_groups", c.Network.SecurityGroups...)
	placeholder("task.execution_role_arn", c.Task.ExecutionRoleARN)

	// Wait.
	if c.Wait.Timeout < 0 {
		bad("wait.timeout", "must not be negative")
	}
	if c.Wait.PollInterval <= 0 {
		bad("wait.poll_interval", "must be positive")
	}
	return errors.Join(errs...)
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func memoryList(mems []int) string {
	if len(mems) <= 4 {
		parts := make([]string, len(mems))
		for i, m := range mems {
			parts[i] = fmt.Sprint(m)
		}
		return strings.Join(parts, ", ")
	}
	return fmt.Sprintf("%d to %d in steps of %d", mems[0], mems[len(mems)-1], mems[1]-mems[0])
}

var retentionDays = []int{0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

func validRetention(d int) bool { return containsInt(retentionDays, d) }

// cpuArchitecture maps a docker platform to the ECS runtime platform CPU architecture.
func cpuArchitecture(platform string) (string, error) {
	switch platform {
	case "linux/amd64":
		return "X86_64", nil
	case "linux/arm64", "linux/arm64/v8":
		return "ARM64", nil
	}
	return "", fmt.Errorf("%q is not supported: use linux/amd64 or linux/arm64", platform)
}
