package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/facectl/facectl/pkg/server"
)

func validConfig() Config { return stubConfig() }

func TestValidConfigPasses(t *testing.T) {
	if err := validConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	if err := goldenConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestDefaultConfigIsTheManagedEnvironment(t *testing.T) {
	d := DefaultConfig()
	if err := d.Validate(); err != nil {
		t.Fatalf("the default config (managed environment) does not validate: %v", err)
	}
	if !d.Managed() || d.LogGroup() != "/ecs/facectl" {
		t.Errorf("default: managed %v, log group %s", d.Managed(), d.LogGroup())
	}
	d.Service = "stage"
	if d.LogGroup() != "/ecs/stage" || d.ServiceStackName() != "facectl-facectl-stage" || d.ClusterStackName() != "facectl-facectl-cluster" {
		t.Errorf("stage: log group %s, stacks %s %s", d.LogGroup(), d.ServiceStackName(), d.ClusterStackName())
	}
}

func TestOwnNetworkNamesWhatIsMissing(t *testing.T) {
	c := DefaultConfig()
	c.Network.SecurityGroups = []string{"sg-1"}
	c.LoadBalancer.CertificateARN = "arn:aws:acm:us-east-1:123456789012:certificate/x"
	err := c.Validate()
	if err == nil || c.Managed() {
		t.Fatal("security groups without subnets and role should not validate")
	}
	for _, want := range []string{"deploy.network.subnets", "deploy.task.execution_role_arn", "deploy.load_balancer.certificate_arn: applies only to the managed environment"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s:\n%v", want, err)
		}
	}
	c = DefaultConfig()
	c.LoadBalancer.TargetGroupARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/x/1"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "deploy.network.security_groups: is required with load_balancer.target_group_arn") {
		t.Errorf("target group without security groups: %v", err)
	}
}

func TestStackNames(t *testing.T) {
	long := strings.Repeat("s", 200)
	for _, tc := range []struct{ cluster, service, want string }{
		{"facectl", "web", "facectl-facectl-web"},
		{"arn:aws:ecs:us-east-1:123456789012:cluster/prod", "api-v2", "facectl-prod-api-v2"},
		// '_' becomes '-': the hash of the exact names keeps it apart from api-v2.
		{"arn:aws:ecs:us-east-1:123456789012:cluster/prod", "api_v2", "facectl-prod-api-v2-8b0ee09c"},
	} {
		c := Config{Cluster: tc.cluster, Service: tc.service}
		if got := c.ServiceStackName(); got != tc.want {
			t.Errorf("%s/%s: %s, want %s", tc.cluster, tc.service, got, tc.want)
		}
	}
	a, b := Config{Cluster: "c", Service: long + "a"}.ServiceStackName(), Config{Cluster: "c", Service: long + "b"}.ServiceStackName()
	if len(a) > 128 || a == b {
		t.Errorf("long names: %s, %s", a, b)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string
	}{
		{"fargate memory for cpu", func(c *Config) { c.Task.CPU, c.Task.Memory = 256, 4096 }, []string{"deploy.task.memory: 4096 MiB is not valid with 256 CPU units on Fargate (valid: 512, 1024, 2048)"}},
		{"fargate cpu", func(c *Config) { c.Task.CPU = 3000 }, []string{"deploy.task.cpu: 3000 is not a Fargate CPU value"}},
		{"large memory step", func(c *Config) { c.Task.CPU, c.Task.Memory = 8192, 17408 }, []string{"16384 to 61440 in steps of 4096"}},
		{"valid large", func(c *Config) { c.Task.CPU, c.Task.Memory = 16384, 122880 }, nil},
		{"platform", func(c *Config) { c.Image.Platform = "linux/386" }, []string{"deploy.image.platform"}},
		{"ports and names", func(c *Config) { c.Task.ContainerPort = 0; c.Service = "a b" }, []string{"deploy.task.container_port", "deploy.service"}},
		{"env", func(c *Config) {
			c.Task.Environment = []EnvVar{{Name: "A", Value: "1"}, {Name: "A", Value: "2"}, {Name: "1X"}}
		}, []string{"\"A\" is set twice", "\"1X\" is not a variable name"}},
		{"secret arn", func(c *Config) { c.Task.Secrets = []Secret{{Name: "T", ValueFrom: "plain"}} }, []string{"must be the ARN of an SSM parameter"}},
		{"rollback needs breaker", func(c *Config) { c.Deployment.CircuitBreaker = false }, []string{"deploy.deployment.rollback: needs deploy.deployment.circuit_breaker"}},
		{"percent", func(c *Config) { c.Deployment.MaximumPercent = 300 }, []string{"deploy.deployment.maximum_percent"}},
		{"scaling bounds", func(c *Config) { c.AutoScaling.Enabled = true; c.AutoScaling.Min = 5; c.AutoScaling.Max = 2 }, []string{"min 5 and max 2"}},
		{"requests need alb", func(c *Config) { c.AutoScaling.Enabled = true; c.AutoScaling.RequestsPerTarget = 100 }, []string{"needs load_balancer.target_group_arn"}},
		{"requests need an alb in the managed environment", func(c *Config) {
			*c = DefaultConfig()
			c.LoadBalancer.Type = "network"
			c.AutoScaling.RequestsPerTarget = 100
		}, []string{"deploy.autoscaling.requests_per_target: needs load_balancer.type application"}},
		{"load balancer settings", func(c *Config) {
			*c = DefaultConfig()
			c.LoadBalancer.Type = "gateway"
			c.LoadBalancer.CertificateARN = "cert"
			c.LoadBalancer.Domain = "https://x"
			c.LoadBalancer.DeregistrationDelay = -time.Second
			c.LoadBalancer.Subnets = []string{"net-1"}
		}, []string{"deploy.load_balancer.type", "deploy.load_balancer.certificate_arn", "deploy.load_balancer.domain", "deploy.load_balancer.deregistration_delay", "\"net-1\" is not a subnet ID"}},
		{"wait", func(c *Config) { c.Wait.PollInterval = 0; c.Wait.Timeout = -time.Second }, []string{"deploy.wait.poll_interval", "deploy.wait.timeout"}},
		{"health check", func(c *Config) { c.Task.HealthCheck.Interval = time.Second; c.Task.HealthCheck.Retries = 0 }, []string{"health_check.interval", "health_check.retries"}},
		{"registry", func(c *Config) { c.Image.Registry = "http://localhost:5000/x" }, []string{"deploy.image.registry"}},
		{"endpoint", func(c *Config) { c.EndpointURL = "localhost" }, []string{"deploy.endpoint_url"}},
		{"image uri", func(c *Config) { c.Image.URI = "facectl" }, []string{"deploy.image.uri"}},
		{"build needs repository", func(c *Config) { c.Image.URI = ""; c.Image.Repository = "Upper" }, []string{"deploy.image.repository"}},
		{"retention", func(c *Config) { c.Logs.RetentionDays = 10 }, []string{"deploy.logs.retention_days"}},
		{"stop timeout", func(c *Config) { c.Task.StopTimeout = 5 * time.Minute }, []string{"deploy.task.stop_timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			tt.mutate(&cfg)
			err := cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestEveryFargateCombinationFromTheTable(t *testing.T) {
	valid := 0
	for cpu, mems := range fargateMemory {
		for _, m := range mems {
			cfg := validConfig()
			cfg.Task.CPU, cfg.Task.Memory = cpu, m
			if err := cfg.Validate(); err != nil {
				t.Errorf("%d/%d: %v", cpu, m, err)
			}
			valid++
		}
	}
	// AWS documents 3+4+7+13+23+12+12 combinations.
	if valid != 74 {
		t.Errorf("%d valid combinations, want 74", valid)
	}
}

func TestEveryConfigFieldHasASnakeCaseTag(t *testing.T) {
	// The CLI decodes the deploy: section by these tags; a field without one ignores its key.
	snake := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	var walk func(rt reflect.Type, path string)
	walk = func(rt reflect.Type, path string) {
		for i := 0; i < rt.NumField(); i++ {
			f := rt.Field(i)
			tag := f.Tag.Get("mapstructure")
			if !snake.MatchString(tag) {
				t.Errorf("%s.%s has mapstructure tag %q, want snake_case", path, f.Name, tag)
			}
			ft := f.Type
			if ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && ft.PkgPath() == rt.PkgPath() {
				walk(ft, path+"."+tag)
			}
		}
	}
	walk(reflect.TypeOf(Config{}), "deploy")
}

func TestJudgeDoesNotCallARollbackStable(t *testing.T) {
	// What the SDK's ServicesStable waiter accepts after a circuit-breaker rollback: one
	// deployment, all running, but on the previous task definition.
	svc := &ecstypes.Service{
		TaskDefinition: ptr(tdARN1), DesiredCount: 2, RunningCount: 2,
		Deployments: []ecstypes.Deployment{{Id: ptr("ecs-svc/3"), Status: ptr("PRIMARY"), RolloutState: ecstypes.DeploymentRolloutStateCompleted, TaskDefinition: ptr(tdARN1), DesiredCount: 2, RunningCount: 2}},
	}
	if v, why := judge(svc, tdARN2, "ecs-svc/2"); v != waitRolledBack {
		t.Errorf("verdict = %v (%s), want rolled back", v, why)
	}
	svc.TaskDefinition = ptr(tdARN2)
	svc.Deployments[0].TaskDefinition = ptr(tdARN2)
	svc.Deployments[0].Id = ptr("ecs-svc/2")
	if v, why := judge(svc, tdARN2, "ecs-svc/2"); v != waitDone {
		t.Errorf("verdict = %v (%s), want done", v, why)
	}
	svc.RunningCount = 1
	if v, _ := judge(svc, tdARN2, "ecs-svc/2"); v != waitPending {
		t.Errorf("verdict with 1/2 running = %v, want pending", v)
	}
}

func TestGitShortSHA(t *testing.T) {
	requireTool(t, "git", "apt-get install -y git")
	dir := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	run("init", "-q")
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	run("add", "f")
	run("commit", "-q", "-m", "x")
	ctx := t.Context()
	tag, err := GitShortSHA(ctx, dir)
	if err != nil || !regexp.MustCompile(`^[0-9a-f]{12}$`).MatchString(tag) {
		t.Fatalf("tag = %q, %v", tag, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("2"), 0o644); err != nil {
		t.Fatal(err)
	}
	dirty, err := GitShortSHA(ctx, dir)
	if err != nil || dirty != tag+"-dirty" {
		t.Fatalf("dirty tag = %q, %v (clean %q)", dirty, err, tag)
	}
	if _, err := GitShortSHA(ctx, t.TempDir()); err == nil || !strings.Contains(err.Error(), "deploy.image.tag") {
		t.Errorf("outside git: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

// TestContainerPortReachesServe: serve listens on the container port (FACECTL_SERVER_ADDR),
// which the port mapping and the load balancer use as well; a conflicting address is refused.
func TestContainerPortReachesServe(t *testing.T) {
	cfg := goldenConfig()
	cfg.Task.ContainerPort = 9000
	td := RenderTaskDefinition(cfg, newImage, "us-east-1")
	c := td.ContainerDefinitions[0]
	if !reflect.DeepEqual(c.PortMappings, []PortMapping{{ContainerPort: 9000, Protocol: "tcp"}}) {
		t.Errorf("port mappings = %+v", c.PortMappings)
	}
	found := false
	for _, e := range c.Environment {
		found = found || e == EnvVar{Name: "FACECTL_SERVER_ADDR", Value: ":9000"}
	}
	if !found {
		t.Errorf("the task does not tell serve to listen on :9000: %+v", c.Environment)
	}
	lb := goldenDeployer(t, cfg).CreateServiceInput(tdARN2).LoadBalancers
	if len(lb) != 1 || *lb[0].ContainerPort != 9000 {
		t.Errorf("load balancer container port = %+v", lb)
	}

	cfg.Task.Environment = append(cfg.Task.Environment, EnvVar{Name: "FACECTL_SERVER_ADDR", Value: ":8080"})
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "must listen on task.container_port 9000") {
		t.Errorf("FACECTL_SERVER_ADDR on another port: %v", err)
	}
	cfg.Task.Environment[len(cfg.Task.Environment)-1].Value = "0.0.0.0:9000"
	if err := cfg.Validate(); err != nil {
		t.Errorf("FACECTL_SERVER_ADDR on the container port: %v", err)
	}
}

func TestTaskFamilyDefaultsToTheService(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Service = "web"
	if got := RenderTaskDefinition(cfg, newImage, "us-east-1").Family; got != "web" {
		t.Errorf("family = %q, want the service name", got)
	}
	cfg.Task.Family = "shared"
	if got := cfg.TaskFamily(); got != "shared" {
		t.Errorf("family = %q, want the configured one", got)
	}
}

// The target group's deregistration delay lets a stopping task finish what serve still does:
// its drain period (readiness failing, still serving) plus its grace period for in-flight
// requests. The defaults must move together.
func TestDeregistrationDelayMatchesServe(t *testing.T) {
	s := server.DefaultConfig()
	if got, want := DefaultConfig().LoadBalancer.DeregistrationDelay, s.DrainPeriod+s.GracePeriod; got != want {
		t.Errorf("deploy.load_balancer.deregistration_delay default %v, serve's drain + grace periods %v", got, want)
	}
}
