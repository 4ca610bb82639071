package deploy

import (
	"strings"
	"testing"
	"time"
)

// goldenConfig exercises every rendered field: secrets, environment, roles, ALB, scaling.
func goldenConfig() Config {
	cfg := stubConfig()
	cfg.Task.TaskRoleARN = "arn:aws:iam::123456789012:role/facectl-task"
	cfg.Task.Environment = []EnvVar{{Name: "FACECTL_SERVER_WORKERS", Value: "4"}, {Name: "FACECTL_LOG_LEVEL", Value: "info"}}
	cfg.Task.Secrets = []Secret{{Name: "FACECTL_API_TOKEN", ValueFrom: "arn:aws:ssm:us-east-1:123456789012:parameter/facectl/api-token"}}
	cfg.LoadBalancer.TargetGroupARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/facectl/0123456789abcdef"
	cfg.AutoScaling.Enabled = true
	cfg.AutoScaling.RequestsPerTarget = 500
	return cfg
}

func goldenDeployer(t *testing.T, cfg Config) *Deployer {
	t.Helper()
	d, err := New(cfg, newAWSStub(t).deps(t, &lockedBuffer{}))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestRenderTaskDefinitionGolden(t *testing.T) {
	td := RenderTaskDefinition(goldenConfig(), newImage, "us-east-1")
	golden(t, "taskdef.golden.json", td.JSON())
	golden(t, "register_task_definition_input.golden.json", compactJSON(t, td.Input()))

	// Read back as ECS describes it, the rendering is equal: nothing new would be registered.
	arm := goldenConfig()
	arm.Image.Platform = "linux/arm64"
	if got := RenderTaskDefinition(arm, newImage, "us-east-1"); got.RuntimePlatform.CPUArchitecture != "ARM64" || got.Equal(td) {
		t.Errorf("arm64 rendering = %+v", got.RuntimePlatform)
	}
}

func TestServiceInputsGolden(t *testing.T) {
	d := goldenDeployer(t, goldenConfig())
	golden(t, "create_service_input.golden.json", compactJSON(t, d.CreateServiceInput(tdARN2)))
	golden(t, "update_service_input.golden.json", compactJSON(t, d.UpdateServiceInput(tdARN2, true, false)))

	// Without auto scaling, the update carries the configured desired count.
	cfg := goldenConfig()
	cfg.AutoScaling.Enabled = false
	cfg.AutoScaling.RequestsPerTarget = 0
	in := goldenDeployer(t, cfg).UpdateServiceInput(tdARN2, false, false)
	if in.DesiredCount == nil || *in.DesiredCount != 2 {
		t.Errorf("desired count without auto scaling = %v", in.DesiredCount)
	}
}

func TestScalingPoliciesGolden(t *testing.T) {
	d := goldenDeployer(t, goldenConfig())
	label := albResourceLabel("arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/facectl/50dc6c495c0c9188",
		"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/facectl/0123456789abcdef")
	if label != "app/facectl/50dc6c495c0c9188/targetgroup/facectl/0123456789abcdef" {
		t.Errorf("ALB resource label = %q", label)
	}
	var sb strings.Builder
	sb.WriteString(compactJSON(t, d.RegisterScalableTargetInput()))
	for _, p := range d.ScalingPolicyInputs(label) {
		sb.WriteString(compactJSON(t, p))
	}
	golden(t, "scaling.golden.json", sb.String())

	// Behind an NLB there is no request metric: only the CPU policy.
	if n := len(d.ScalingPolicyInputs("")); n != 1 {
		t.Errorf("%d policies without an ALB label, want 1", n)
	}
}

// TestDryRunGolden runs a dry run against the strict stub: any changing call fails the test.
func TestDryRunGolden(t *testing.T) {
	stub := newAWSStub(t)
	cfg := goldenConfig()
	cfg.LoadBalancer.TargetGroupARN = ""
	cfg.AutoScaling.RequestsPerTarget = 0
	cfg.Task.CPU, cfg.Task.Memory = 2048, 4096
	cfg.Task.Environment = []EnvVar{{Name: "FACECTL_LOG_LEVEL", Value: "debug"}}
	cfg.Task.Secrets = nil
	cfg.Task.TaskRoleARN = ""
	stub.expect(preflightCalls()...)
	stub.expect(
		protectedImageCall(),
		ok("logs.DescribeLogGroups", `{"logGroups":[]}`),
		ok("ecs.DescribeServices", describeServicesJSON(serviceJSON(tdARN1, 3, 3, deploymentJSON("ecs-svc/1", "PRIMARY", "COMPLETED", tdARN1, 3, 3, 0, ""), ""))),
		ok("ecs.DescribeTaskDefinition", taskDefJSON(tdARN1, oldImage, `{"name":"FACECTL_LOG_LEVEL","value":"info"}`)),
		ok("ecs.DescribeTaskDefinition", taskDefJSON(tdARN1, oldImage, `{"name":"FACECTL_LOG_LEVEL","value":"info"}`)),
		ok("application-autoscaling.DescribeScalableTargets", `{"scalableTargets":[]}`),
	)
	var out lockedBuffer
	res, err := Run(ctxT(t, 10*time.Second), cfg, stub.deps(t, &out), Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != OutcomePlanned || !res.Registered || res.ServiceAction != "update" {
		t.Errorf("dry-run result = %+v", res)
	}
	// The plan as data: the CLI renders it (pkg/cli's TestRenderPlan).
	res.Seconds = 0
	golden(t, "dry_run.golden.json", compactJSON(t, res))
}

// TestPolicyGolden keeps the policy of the default managed environment and of a configuration
// bringing its own network reviewable as JSON.
func TestPolicyGolden(t *testing.T) {
	managed := DefaultConfig()
	managed.Region = "us-east-1"
	managed.Service = "web"
	golden(t, "policy_managed.golden.json", Policy(managed).JSON())
	golden(t, "policy_own_network.golden.json", Policy(goldenConfig()).JSON())
}
