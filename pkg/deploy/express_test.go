package deploy

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/facectl/facectl/internal/testenv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logstypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// expressEnv is a fresh moto account behind the Express stub, the fault proxy and the call
// recorder, and a registry.
type expressEnv struct {
	awsCfg, deployCfg aws.Config
	stub              *expressStub
	faults            *faultProxy
	calls             *callRecorder
	registry          string
}

func setupExpress(t *testing.T) *expressEnv {
	t.Helper()
	endpoint := startOwnMoto(t)
	registry := startRegistry(t)
	testenv.FakeAWS(t)
	awsCfg, err := LoadAWSConfig(ctxT(t, time.Minute), Config{EndpointURL: endpoint})
	if err != nil {
		t.Fatal(err)
	}
	stub := newExpressStub(t, endpoint)
	faults := startFaultProxy(t, stub.URL())
	// Faults only where a test scripts them: the call counts below are those of a quiet account.
	faults.Configure(func(p *faultProxy) { p.Rate, p.StaleReads = 0, 0 })
	rec, deployCfg := throughFaults(awsCfg, faults)
	return &expressEnv{awsCfg: awsCfg, deployCfg: deployCfg, stub: stub, faults: faults, calls: rec, registry: registry}
}

// config is what a new user of Express Mode writes: the mode, a service name and a prebuilt
// image.
func (e *expressEnv) config(service, digest string) Config {
	cfg := DefaultConfig()
	cfg.Mode = ModeExpress
	cfg.Region = "us-east-1"
	cfg.EndpointURL = *e.awsCfg.BaseEndpoint
	cfg.Service = service
	cfg.Image.URI = e.registry + "/prebuilt@sha256:" + strings.Repeat(digest, 64/len(digest))
	cfg.Wait.Timeout = time.Minute
	cfg.Wait.PollInterval = 20 * time.Millisecond
	return cfg
}

func (e *expressEnv) deps(t *testing.T) Deps {
	d := realDeps(t, e.deployCfg, &lockedBuffer{})
	d.Docker = nil // a prebuilt image needs no docker
	return d
}

// TestExpressDeployRedeployStatusDestroy goes from an account with only its default VPC to an
// Express service with an HTTPS URL, redeploys it unchanged (no write), reads its status and
// removes it with its stacks.
func TestExpressDeployRedeployStatusDestroy(t *testing.T) {
	e := setupExpress(t)
	ctx := ctxT(t, 3*time.Minute)
	cfg := e.config("web", "ab")

	started := time.Now()
	res, err := Run(ctx, cfg, e.deps(t), Options{})
	if err != nil {
		t.Fatalf("first deploy: %v", err)
	}
	firstCalls, firstTime := e.calls.take(), time.Since(started)
	t.Logf("first express deploy: %v, AWS calls %s", firstTime.Round(time.Millisecond), firstCalls)
	if res.Outcome != OutcomeDeployed || res.URL != "https://web.ecs.us-east-1.on.aws" || res.ServiceAction != "create" {
		t.Errorf("first deploy result = %+v", res)
	}
	if got := e.stub.Calls["CreateExpressGatewayService"]; got != 1 {
		t.Errorf("CreateExpressGatewayService called %d times", got)
	}
	ecsc := ecs.NewFromConfig(e.awsCfg)
	td, err := ecsc.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(res.TaskDefinitionARN)})
	if err != nil {
		t.Fatal(err)
	}
	c := td.TaskDefinition.ContainerDefinitions[0]
	if aws.ToString(c.Name) != "Main" || aws.ToString(c.PortMappings[0].Name) != expressPortName || aws.ToString(c.Image) != cfg.Image.URI {
		t.Errorf("task definition container = %s port %+v image %s", aws.ToString(c.Name), c.PortMappings, aws.ToString(c.Image))
	}
	if td.TaskDefinition.ExecutionRoleArn == nil || !strings.Contains(*td.TaskDefinition.ExecutionRoleArn, ":role/facectl/") {
		t.Errorf("execution role = %v, want the stack's", aws.ToString(td.TaskDefinition.ExecutionRoleArn))
	}
	roles := stackOf(ctx, t, cloudformation.NewFromConfig(e.awsCfg), cfg.ServiceStackName())
	if !strings.Contains(roles["InfrastructureRoleArn"], ":role/facectl-express/") {
		t.Errorf("service stack outputs = %v", roles)
	}
	if uncovered := e.calls.uncovered(cfg); len(uncovered) > 0 {
		t.Errorf("facectl deploy policy --mode express does not grant %v", uncovered)
	}

	// Unchanged: nothing is written, not even to the Express service.
	started = time.Now()
	res, err = Run(ctx, cfg, e.deps(t), Options{})
	if err != nil {
		t.Fatalf("unchanged redeploy: %v", err)
	}
	again, againTime := e.calls.take(), time.Since(started)
	t.Logf("unchanged express deploy: %v, AWS calls %s", againTime.Round(time.Millisecond), again)
	if w := writeCalls(again); len(w) > 0 || res.ServiceAction != "none" || res.Registered {
		t.Errorf("unchanged redeploy wrote %v (result %+v)", w, res)
	}
	if res.URL != "https://web.ecs.us-east-1.on.aws" {
		t.Errorf("unchanged redeploy URL = %q", res.URL)
	}

	d, err := Open(cfg, e.deps(t))
	if err != nil {
		t.Fatal(err)
	}
	st, err := d.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.URL != res.URL || st.TaskDefinition != res.TaskDefinitionARN || st.Status != "ACTIVE" {
		t.Errorf("status = %+v", st)
	}

	// A dry run of a new image plans the update and writes nothing.
	next := e.config("web", "cd")
	plan, err := Run(ctx, next, e.deps(t), Options{DryRun: true})
	if err != nil || plan.Outcome != OutcomePlanned || plan.ServiceAction != "update" || !strings.Contains(plan.ServiceDiff, "taskDefinitionArn") {
		t.Errorf("dry run = %v, %+v", err, plan)
	}
	if w := writeCalls(e.calls.take()); len(w) > 0 {
		t.Errorf("dry run wrote %v", w)
	}
	// A new image, then a rollback to the first: both go through UpdateExpressGatewayService.
	second, err := Run(ctx, next, e.deps(t), Options{})
	if err != nil || second.TaskDefinitionARN == res.TaskDefinitionARN {
		t.Fatalf("second deploy: %v, %+v", err, second)
	}
	back, err := d.Rollback(ctx, RollbackOptions{})
	if err != nil || back.TaskDefinitionARN != res.TaskDefinitionARN || back.Outcome != OutcomeDeployed || back.URL != res.URL {
		t.Fatalf("rollback = %v, %+v", err, back)
	}
	if got := e.stub.Calls["UpdateExpressGatewayService"]; got != 2 {
		t.Errorf("UpdateExpressGatewayService called %d times, want 2 (deploy, rollback)", got)
	}

	// Logs: the awslogs streams of the Main container.
	logsc := cloudwatchlogs.NewFromConfig(e.awsCfg)
	stream := cfg.Logs.StreamPrefix + "/Main/0123456789abcdef"
	if _, err := logsc.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(cfg.LogGroup()), LogStreamName: aws.String(stream)}); err != nil {
		t.Fatal(err)
	}
	if _, err := logsc.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(cfg.LogGroup()), LogStreamName: aws.String(stream),
		LogEvents: []logstypes.InputLogEvent{{Message: aws.String("serving on :8080"), Timestamp: aws.Int64(time.Now().UnixMilli())}}}); err != nil {
		t.Fatal(err)
	}
	var lines strings.Builder
	if err := d.Logs(ctx, LogsOptions{Task: "0123"}, &lines); err != nil || !strings.Contains(lines.String(), "serving on :8080") {
		t.Errorf("logs = %v, %q", err, lines.String())
	}

	dr, err := d.Destroy(ctx, DestroyOptions{})
	if err != nil {
		t.Fatalf("destroy: %v", err)
	}
	removed := strings.Join(dr.Removed, "\n")
	if got := e.stub.Calls["DeleteExpressGatewayService"]; got != 1 || !strings.Contains(removed, "ECS Express service web") ||
		!strings.Contains(removed, "service stack "+cfg.ServiceStackName()) || !strings.Contains(removed, "cluster stack "+cfg.ClusterStackName()) {
		t.Errorf("destroy removed %v (DeleteExpressGatewayService %d)", dr.Removed, got)
	}
	if svc := describeServiceMaybe(ctx, t, ecsc, cfg.Cluster, cfg.Service); svc != nil && aws.ToString(svc.Status) != "INACTIVE" {
		t.Errorf("the Express service's ECS service is %s after destroy", aws.ToString(svc.Status))
	}
	if uncovered := e.calls.uncovered(cfg); len(uncovered) > 0 {
		t.Errorf("facectl deploy policy --mode express does not grant %v", uncovered)
	}
}

// TestExpressRollback is a deployment whose canary trips Express's alarm: the deploy says it
// was rolled back, and the service runs the previous revision again.
func TestExpressRollback(t *testing.T) {
	e := setupExpress(t)
	ctx := ctxT(t, 3*time.Minute)
	cfg := e.config("web", "ab")
	first, err := Run(ctx, cfg, e.deps(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.stub.mu.Lock()
	e.stub.RollBackNext = true
	e.stub.mu.Unlock()
	cfg = e.config("web", "cd")
	res, err := Run(ctx, cfg, e.deps(t), Options{})
	if !errors.Is(err, ErrRolledBack) || res.Outcome != OutcomeRolledBack {
		t.Fatalf("deploy = %v, outcome %s; want rolled back", err, res.Outcome)
	}
	if !strings.Contains(err.Error(), "rolled back") && !strings.Contains(err.Error(), shortARN(first.TaskDefinitionARN)) {
		t.Errorf("error does not name the rollback: %v", err)
	}
	svc := describeService(ctx, t, ecs.NewFromConfig(e.awsCfg), cfg.Cluster, cfg.Service)
	if aws.ToString(svc.TaskDefinition) != first.TaskDefinitionARN {
		t.Errorf("service runs %s after the rollback, want %s", aws.ToString(svc.TaskDefinition), first.TaskDefinitionARN)
	}
}

// TestExpressInfrastructureRoleTrust refuses, in preflight, an infrastructure role that does
// not trust ecs.amazonaws.com: nothing is created.
func TestExpressInfrastructureRoleTrust(t *testing.T) {
	e := setupExpress(t)
	ctx := ctxT(t, time.Minute)
	role, err := iam.NewFromConfig(e.awsCfg).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("tasks-not-ecs"),
		AssumeRolePolicyDocument: aws.String(ecsTasksTrust)})
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.config("web", "ab")
	cfg.Express.InfrastructureRoleARN = aws.ToString(role.Role.Arn)
	_, err = Run(ctx, cfg, e.deps(t), Options{})
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "does not trust ecs.amazonaws.com") || !strings.Contains(err.Error(), "deploy.express.infrastructure_role_arn") {
		t.Fatalf("deploy = %v, want the trust refused", err)
	}
	if w := writeCalls(e.calls.take()); len(w) > 0 || len(e.stub.Calls) > 0 {
		t.Errorf("a refused deploy wrote %v and made Express calls %v", w, e.stub.Calls)
	}
}

// TestExpressThrottled throttles CreateExpressGatewayService twice: the SDK's retryer gets it
// through, and the service is created once.
func TestExpressThrottled(t *testing.T) {
	e := setupExpress(t)
	ctx := ctxT(t, 3*time.Minute)
	e.faults.Configure(func(p *faultProxy) {
		p.Script = map[string][]string{"ecs.CreateExpressGatewayService": {"throttle", "throttle"}, "ecs.DescribeExpressGatewayService": {"throttle"}}
	})
	res, err := Run(ctx, e.config("web", "ab"), e.deps(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st := e.faults.Stats(); st.Throttled != 3 || e.stub.Calls["CreateExpressGatewayService"] != 1 || res.Outcome != OutcomeDeployed {
		t.Errorf("faults %s, creates %d, result %+v", st, e.stub.Calls["CreateExpressGatewayService"], res)
	}
}

// TestExpressStubRules holds the stub to the API reference: a task definition without the Main
// container, or with members that exclude taskDefinitionArn, is refused.
func TestExpressStubRules(t *testing.T) {
	e := setupExpress(t)
	ctx := ctxT(t, time.Minute)
	c := ecs.NewFromConfig(e.awsCfg, func(o *ecs.Options) { o.BaseEndpoint = aws.String(e.stub.URL()) })
	td, err := c.RegisterTaskDefinition(ctx, RenderTaskDefinition(DefaultConfig(), "registry.example/app:1", "us-east-1").Input())
	if err != nil {
		t.Fatal(err)
	}
	tdARN := td.TaskDefinition.TaskDefinitionArn
	for name, in := range map[string]*ecs.CreateExpressGatewayServiceInput{
		"no Main container": {ServiceName: aws.String("a"), InfrastructureRoleArn: aws.String("arn:aws:iam::123456789012:role/x"), TaskDefinitionArn: tdARN},
		"cpu beside the task definition": {ServiceName: aws.String("a"), InfrastructureRoleArn: aws.String("arn:aws:iam::123456789012:role/x"), TaskDefinitionArn: tdARN,
			Cpu: aws.String("256")},
		"no image": {ServiceName: aws.String("a"), InfrastructureRoleArn: aws.String("arn:aws:iam::123456789012:role/x"), PrimaryContainer: &ecstypes.ExpressGatewayContainer{Image: aws.String("")}},
	} {
		if _, err := c.CreateExpressGatewayService(ctx, in); err == nil || !strings.Contains(err.Error(), "InvalidParameterException") {
			t.Errorf("%s: %v, want InvalidParameterException", name, err)
		}
	}
	if _, err := c.DescribeExpressGatewayService(ctx, &ecs.DescribeExpressGatewayServiceInput{ServiceArn: aws.String("arn:aws:ecs:us-east-1:123456789012:service/facectl/none")}); !expressMissing(err) {
		t.Errorf("describing an unknown Express service: %v", err)
	}
}

// TestExpressBuildPushAndPurge builds the image with docker, pushes it to the registry through
// moto's ECR, deploys it as an Express service and destroys everything with --purge-images.
func TestExpressBuildPushAndPurge(t *testing.T) {
	requireTool(t, "docker", "install the Docker engine and CLI (apt-get install -y docker.io) and start dockerd")
	e := setupExpress(t)
	ctx := ctxT(t, 4*time.Minute)
	dir := buildContext(t)
	cfg := e.config("web", "ab")
	cfg.Image.URI = ""
	cfg.Image.Repository, cfg.Image.Registry, cfg.Image.Tag = "facectl-express-e2e", e.registry, "express-1"
	cfg.Image.Context, cfg.Image.Dockerfile = dir, filepath.Join(dir, "Dockerfile")
	t.Cleanup(func() {
		_ = exec.Command("docker", "image", "rm", "-f", e.registry+"/facectl-express-e2e:express-1").Run()
	})
	deps := realDeps(t, e.deployCfg, &lockedBuffer{})
	res, err := Run(ctx, cfg, deps, Options{})
	if err != nil || res.Outcome != OutcomeDeployed || !strings.HasPrefix(res.URL, "https://") || !strings.Contains(res.Image, "@sha256:") {
		t.Fatalf("deploy = %v, %+v", err, res)
	}
	d, err := Open(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	dr, err := d.Destroy(ctx, DestroyOptions{PurgeImages: true})
	removed := strings.Join(dr.Removed, "\n")
	if err != nil || !strings.Contains(removed, "image(s) in ECR repository facectl-express-e2e") || !strings.Contains(removed, "ECS Express service web") {
		t.Fatalf("destroy = %v, removed %v, kept %v", err, dr.Removed, dr.Kept)
	}
	imgs, err := ecr.NewFromConfig(e.awsCfg).DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("facectl-express-e2e")})
	if err != nil || len(imgs.ImageDetails) != 0 {
		t.Errorf("images left after --purge-images: %v %+v", err, imgs)
	}
	if uncovered := e.calls.uncovered(cfg); len(uncovered) > 0 {
		t.Errorf("facectl deploy policy --mode express does not grant %v", uncovered)
	}
}
