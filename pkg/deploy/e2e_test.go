package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/facectl/facectl/internal/testenv"

	"github.com/aws/aws-sdk-go-v2/aws"
	aas "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// e2eEnv is one test's slice of moto: its own VPC, subnets, security group, cluster, load
// balancer and names, so tests sharing the moto_server do not see each other.
type e2eEnv struct {
	awsCfg aws.Config
	calls  *callRecorder
	// faults is the fault proxy between the deployer's clients and moto.
	faults *faultProxy
	// deployCfg is awsCfg with the call recorder and through the fault proxy, for the
	// deployer's clients; the test's own reads go to moto directly.
	deployCfg aws.Config
	cfg       Config
	registry  string
	ecs       *ecs.Client
}

// setupE2E starts the real parts (moto_server, docker-registry, docker) and creates the
// infrastructure a user would already have: VPC, subnets, security group, cluster, an NLB or
// ALB with an ip target group.
func setupE2E(t *testing.T, name, lbType string) *e2eEnv {
	t.Helper()
	requireTool(t, "docker", "install the Docker engine and CLI (apt-get install -y docker.io) and start dockerd")
	endpoint := motoEndpoint(t)
	registry := startRegistry(t)

	testenv.FakeAWS(t)

	cfg := DefaultConfig()
	cfg.EndpointURL = endpoint // the documented user option, not a test hook
	cfg.Cluster = name
	cfg.Service = name
	cfg.Image.Repository = "facectl-" + name
	cfg.Image.Registry = registry
	cfg.Logs.Group = "/ecs/" + name
	cfg.Wait.Timeout = time.Minute
	cfg.Wait.PollInterval = 20 * time.Millisecond

	ctx := ctxT(t, 2*time.Minute)
	awsCfg, err := LoadAWSConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ec2c := ec2.NewFromConfig(awsCfg)
	vpc, err := ec2c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.1.0.0/16")})
	if err != nil {
		t.Fatalf("creating VPC in moto: %v", err)
	}
	vpcID := vpc.Vpc.VpcId
	for i, az := range []string{"us-east-1a", "us-east-1b"} {
		sn, err := ec2c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpcID, CidrBlock: aws.String(fmt.Sprintf("10.1.%d.0/24", i)), AvailabilityZone: aws.String(az)})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Network.Subnets = append(cfg.Network.Subnets, aws.ToString(sn.Subnet.SubnetId))
	}
	// Public subnets: the VPC's main route table sends 0.0.0.0/0 to an internet gateway, and
	// the tasks get a public IP (preflight refuses public subnets without one).
	igw, err := ec2c.CreateInternetGateway(ctx, &ec2.CreateInternetGatewayInput{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ec2c.AttachInternetGateway(ctx, &ec2.AttachInternetGatewayInput{InternetGatewayId: igw.InternetGateway.InternetGatewayId, VpcId: vpcID}); err != nil {
		t.Fatal(err)
	}
	rts, err := ec2c.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{aws.ToString(vpcID)}}, {Name: aws.String("association.main"), Values: []string{"true"}}}})
	if err != nil || len(rts.RouteTables) != 1 {
		t.Fatalf("main route table: %v %+v", err, rts)
	}
	if _, err := ec2c.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: rts.RouteTables[0].RouteTableId,
		DestinationCidrBlock: aws.String("0.0.0.0/0"), GatewayId: igw.InternetGateway.InternetGatewayId}); err != nil {
		t.Fatal(err)
	}
	cfg.Network.AssignPublicIP = true

	sg, err := ec2c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(name), Description: aws.String("facectl tasks"), VpcId: vpcID})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Network.SecurityGroups = []string{aws.ToString(sg.GroupId)}
	// The load balancer reaches the tasks on the container port: from its own security group
	// (the ALB shares the tasks' here), or from the VPC (an NLB has none).
	ingress := ec2types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(8080), ToPort: aws.Int32(8080)}
	if lbType == "application" {
		ingress.UserIdGroupPairs = []ec2types.UserIdGroupPair{{GroupId: sg.GroupId}}
	} else {
		ingress.IpRanges = []ec2types.IpRange{{CidrIp: aws.String("10.1.0.0/16")}}
	}
	if _, err := ec2c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: sg.GroupId, IpPermissions: []ec2types.IpPermission{ingress}}); err != nil {
		t.Fatal(err)
	}

	role, err := iam.NewFromConfig(awsCfg).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("exec-" + name),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)})
	if err != nil {
		t.Fatalf("creating the execution role in moto: %v", err)
	}
	cfg.Task.ExecutionRoleARN = aws.ToString(role.Role.Arn)

	ecsc := ecs.NewFromConfig(awsCfg)
	if _, err := ecsc.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(name)}); err != nil {
		t.Fatal(err)
	}

	elbc := elb.NewFromConfig(awsCfg)
	lbIn := &elb.CreateLoadBalancerInput{Name: aws.String(name), Subnets: cfg.Network.Subnets, Type: elbtypes.LoadBalancerTypeEnum(lbType)}
	protocol := elbtypes.ProtocolEnumTcp
	if lbType == "application" {
		lbIn.SecurityGroups = cfg.Network.SecurityGroups
		protocol = elbtypes.ProtocolEnumHttp
	}
	lb, err := elbc.CreateLoadBalancer(ctx, lbIn)
	if err != nil {
		t.Fatalf("creating %s load balancer in moto: %v", lbType, err)
	}
	tg, err := elbc.CreateTargetGroup(ctx, &elb.CreateTargetGroupInput{
		Name: aws.String(name), Protocol: protocol, Port: aws.Int32(8080), VpcId: vpcID, TargetType: elbtypes.TargetTypeEnumIp,
		HealthCheckProtocol: elbtypes.ProtocolEnumHttp, HealthCheckPath: aws.String("/readyz"),
	})
	if err != nil {
		t.Fatal(err)
	}
	tgARN := tg.TargetGroups[0].TargetGroupArn
	if _, err := elbc.CreateListener(ctx, &elb.CreateListenerInput{
		LoadBalancerArn: lb.LoadBalancers[0].LoadBalancerArn, Protocol: protocol, Port: aws.Int32(80),
		DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: tgARN}},
	}); err != nil {
		t.Fatal(err)
	}
	cfg.LoadBalancer.TargetGroupARN = aws.ToString(tgARN)

	faults := startFaultProxy(t, endpoint)
	rec, deployCfg := throughFaults(awsCfg, faults)
	return &e2eEnv{awsCfg: awsCfg, deployCfg: deployCfg, calls: rec, faults: faults, cfg: cfg, registry: registry, ecs: ecsc}
}

// buildContext writes testdata/app's Dockerfile and a static stand-in facectl binary to a
// fresh build context.
func buildContext(t *testing.T) string { return buildContextFor(t, "amd64") }

// buildContextFor is buildContext with the stand-in binary built for goarch.
func buildContextFor(t *testing.T, goarch string) string {
	t.Helper()
	dir := t.TempDir()
	df, err := os.ReadFile(filepath.Join("testdata", "app", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), df, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, "facectl"), "./testdata/app")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the stand-in binary: %v\n%s", err, out)
	}
	return dir
}

func (e *e2eEnv) deps(t *testing.T, out *lockedBuffer) Deps { return realDeps(t, e.deployCfg, out) }

// realDeps are the clients of awsCfg and the real docker CLI (with its own config directory),
// logging to the test and writing the deploy's output and progress to out.
func realDeps(t *testing.T, awsCfg aws.Config, out *lockedBuffer) Deps {
	deps := NewDeps(awsCfg)
	deps.Docker = &DockerCLI{ConfigDir: t.TempDir(), Progress: testWriter{t}}
	deps.Log = testLogger(t)
	deps.Events = printEvents(out)
	return deps
}

// registryDigest asks the registry itself which manifest digest repo:tag has.
func registryDigest(t *testing.T, registry, repo, tag string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodHead, fmt.Sprintf("http://%s/v2/%s/manifests/%s", registry, repo, tag), nil)
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("registry has no %s:%s (HTTP %d)", repo, tag, resp.StatusCode)
	}
	return resp.Header.Get("Docker-Content-Digest")
}

func TestDeployEndToEnd(t *testing.T) {
	e := setupE2E(t, "e2e-nlb", "network")
	ctx := ctxT(t, 4*time.Minute)
	cfg := e.cfg
	cfg.Image.Context = buildContext(t)
	cfg.Image.Dockerfile = filepath.Join(cfg.Image.Context, "Dockerfile")
	cfg.Image.Tag = "e2e-1"
	cfg.Image.BuildArgs = []string{"VERSION=1.0.0"}
	cfg.Task.Environment = []EnvVar{{Name: "FACECTL_LOG_LEVEL", Value: "info"}}
	t.Cleanup(func() {
		_ = exec.Command("docker", "image", "rm", "-f", e.registry+"/"+cfg.Image.Repository+":e2e-1").Run()
	})

	// Requests per target is refused behind a Network Load Balancer, in preflight.
	bad := cfg
	bad.AutoScaling.RequestsPerTarget = 100
	if _, err := Run(ctx, bad, e.deps(t, &lockedBuffer{}), Options{DryRun: true}); !errors.Is(err, ErrInvalidConfig) ||
		!strings.Contains(err.Error(), "needs an Application Load Balancer") {
		t.Errorf("requests_per_target behind an NLB: %v", err)
	}
	e.calls.take()

	// 1: everything is created.
	var out lockedBuffer
	start := time.Now()
	res, err := Run(ctx, cfg, e.deps(t, &out), Options{})
	t.Logf("first deploy took %v; AWS calls: %s", time.Since(start), e.calls.take())
	if err != nil {
		t.Fatalf("first deploy: %v\n%s", err, out.String())
	}
	if len(res.Actions) == 0 || res.Account == "" || res.Region == "" {
		t.Errorf("the result does not say what was done where (the CLI prints it): %+v", res)
	}
	if res.Outcome != OutcomeDeployed || !res.Registered || res.ServiceAction != "create" {
		t.Fatalf("first deploy result = %+v", res)
	}

	// Read everything back through the SDK rather than trusting the result.
	repos, err := ecr.NewFromConfig(e.awsCfg).DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{cfg.Image.Repository}})
	if err != nil || len(repos.Repositories) != 1 {
		t.Fatalf("ECR repository not created: %v", err)
	}
	if r := repos.Repositories[0]; r.ImageScanningConfiguration == nil || !r.ImageScanningConfiguration.ScanOnPush {
		t.Errorf("repository scan on push not set: %+v", r.ImageScanningConfiguration)
	}
	lp, err := ecr.NewFromConfig(e.awsCfg).GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: aws.String(cfg.Image.Repository)})
	if err != nil || !strings.Contains(aws.ToString(lp.LifecyclePolicyText), `"countNumber":30`) {
		t.Errorf("lifecycle policy = %v, %v", lp, err)
	}
	digest := registryDigest(t, e.registry, cfg.Image.Repository, "e2e-1")
	if res.ImageDigest != digest {
		t.Errorf("result digest %s, registry has %s", res.ImageDigest, digest)
	}
	svc := describeE2EService(ctx, t, e, cfg)
	if aws.ToString(svc.TaskDefinition) != res.TaskDefinitionARN || !strings.HasSuffix(res.TaskDefinitionARN, ":1") {
		t.Errorf("service runs %s, result says %s", aws.ToString(svc.TaskDefinition), res.TaskDefinitionARN)
	}
	if svc.LaunchType != "FARGATE" || svc.DesiredCount != 2 || len(svc.LoadBalancers) != 1 ||
		aws.ToString(svc.LoadBalancers[0].TargetGroupArn) != cfg.LoadBalancer.TargetGroupARN || aws.ToInt32(svc.LoadBalancers[0].ContainerPort) != 8080 {
		t.Errorf("service = launch %s desired %d load balancers %+v", svc.LaunchType, svc.DesiredCount, svc.LoadBalancers)
	}
	td, err := e.ecs.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(res.TaskDefinitionARN),
		Include: []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags}})
	if err != nil {
		t.Fatal(err)
	}
	// The family is the service's, and the revision says whose it is (rollback goes by it).
	if f := aws.ToString(td.TaskDefinition.Family); f != cfg.Service {
		t.Errorf("family = %s, want the service name %s", f, cfg.Service)
	}
	if c, s := owner(td.Tags); c != cfg.Cluster || s != cfg.Service {
		t.Errorf("task definition tags = %+v, want cluster %s and service %s", td.Tags, cfg.Cluster, cfg.Service)
	}
	env := map[string]string{}
	for _, kv := range td.TaskDefinition.ContainerDefinitions[0].Environment {
		env[aws.ToString(kv.Name)] = aws.ToString(kv.Value)
	}
	if env["FACECTL_SERVER_ADDR"] != ":8080" {
		t.Errorf("environment = %v, want FACECTL_SERVER_ADDR=:8080", env)
	}
	c := td.TaskDefinition.ContainerDefinitions[0]
	if want := e.registry + "/" + cfg.Image.Repository + "@" + digest; aws.ToString(c.Image) != want {
		t.Errorf("task image = %s, want %s (pinned by digest)", aws.ToString(c.Image), want)
	}
	if c.HealthCheck == nil || strings.Join(c.HealthCheck.Command, " ") != "CMD facectl health" {
		t.Errorf("health check = %+v", c.HealthCheck)
	}
	if aws.ToString(td.TaskDefinition.Cpu) != "1024" || aws.ToString(td.TaskDefinition.Memory) != "2048" || td.TaskDefinition.NetworkMode != "awsvpc" {
		t.Errorf("task cpu/memory/network = %s/%s/%s", aws.ToString(td.TaskDefinition.Cpu), aws.ToString(td.TaskDefinition.Memory), td.TaskDefinition.NetworkMode)
	}
	scaling := aas.NewFromConfig(e.awsCfg)
	targets, err := scaling.DescribeScalableTargets(ctx, &aas.DescribeScalableTargetsInput{ServiceNamespace: aastypes.ServiceNamespaceEcs, ResourceIds: []string{"service/" + cfg.Cluster + "/" + cfg.Service}})
	if err != nil || len(targets.ScalableTargets) != 1 || aws.ToInt32(targets.ScalableTargets[0].MinCapacity) != 2 || aws.ToInt32(targets.ScalableTargets[0].MaxCapacity) != 10 {
		t.Errorf("scalable target = %+v, %v", targets, err)
	}
	policies, err := scaling.DescribeScalingPolicies(ctx, &aas.DescribeScalingPoliciesInput{ServiceNamespace: aastypes.ServiceNamespaceEcs, ResourceId: aws.String("service/" + cfg.Cluster + "/" + cfg.Service)})
	if err != nil || len(policies.ScalingPolicies) != 1 || aws.ToString(policies.ScalingPolicies[0].PolicyName) != cfg.Service+"-cpu" {
		t.Errorf("scaling policies = %+v, %v (an NLB gets only the CPU policy)", policies, err)
	}
	groups, err := cloudwatchlogs.NewFromConfig(e.awsCfg).DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String(cfg.Logs.Group)})
	if err != nil || len(groups.LogGroups) != 1 || aws.ToInt32(groups.LogGroups[0].RetentionInDays) != 30 {
		t.Errorf("log group = %+v, %v", groups, err)
	}

	// 2: nothing changed, nothing new is registered and the service is left alone.
	out = lockedBuffer{}
	start = time.Now()
	res2, err := Run(ctx, cfg, e.deps(t, &out), Options{})
	t.Logf("unchanged deploy took %v; AWS calls: %s", time.Since(start), e.calls.take())
	if err != nil {
		t.Fatalf("second deploy: %v", err)
	}
	if res2.Registered || res2.TaskDefinitionARN != res.TaskDefinitionARN || res2.ServiceAction != "none" || res2.Outcome != OutcomeDeployed {
		t.Errorf("unchanged deploy result = %+v", res2)
	}
	if n := countRevisions(ctx, t, e, cfg.TaskFamily()); n != 1 {
		t.Errorf("%d revisions after an unchanged deploy, want 1", n)
	}

	// Auto scaling moved the service to 5 tasks meanwhile: a deploy must not reset that.
	if _, err := e.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(cfg.Cluster), Service: aws.String(cfg.Service), DesiredCount: aws.Int32(5)}); err != nil {
		t.Fatal(err)
	}

	// 3: a changed setting registers revision 2 and updates the service.
	cfg.Task.Environment = append(cfg.Task.Environment, EnvVar{Name: "FACECTL_MAX_BYTES", Value: "20000000"})
	res3, err := Run(ctx, cfg, e.deps(t, &out), Options{})
	if err != nil {
		t.Fatalf("third deploy: %v", err)
	}
	if !res3.Registered || !strings.HasSuffix(res3.TaskDefinitionARN, ":2") || res3.ServiceAction != "update" {
		t.Errorf("changed deploy result = %+v", res3)
	}
	svc = describeE2EService(ctx, t, e, cfg)
	if aws.ToString(svc.TaskDefinition) != res3.TaskDefinitionARN {
		t.Errorf("service runs %s after the changed deploy, want %s", aws.ToString(svc.TaskDefinition), res3.TaskDefinitionARN)
	}
	if svc.DesiredCount != 5 {
		t.Errorf("desired count = %d after a deploy, want 5 (auto scaling's)", svc.DesiredCount)
	}
	if n := countRevisions(ctx, t, e, cfg.TaskFamily()); n != 2 {
		t.Errorf("%d revisions after a changed deploy, want 2", n)
	}

	// Status reads it back; rollback returns to revision 1.
	d, err := New(cfg, e.deps(t, &out))
	if err != nil {
		t.Fatal(err)
	}
	st, err := d.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.TaskDefinition != res3.TaskDefinitionARN || st.AutoScaling == nil || st.AutoScaling.Max != 10 || len(st.AutoScaling.Policies) != 1 {
		t.Errorf("status = %+v", st)
	}
	// The CLI prints it (pkg/cli's TestRenderStatus); here the data it prints.
	if p := st.AutoScaling.Policies[0]; st.RunningCount != 5 || st.DesiredCount != 5 || shortARN(st.TaskDefinition) != "e2e-nlb:2" ||
		st.AutoScaling.Min != 2 || p.Name != "e2e-nlb-cpu" || p.Metric != "ECSServiceAverageCPUUtilization" || p.Target != 60 {
		t.Errorf("status = %+v, policies %+v", st, st.AutoScaling.Policies)
	}
	rb, err := d.Rollback(ctx, RollbackOptions{})
	if err != nil {
		t.Fatalf("rollback: %v", err)
	}
	svc = describeE2EService(ctx, t, e, cfg)
	if aws.ToString(svc.TaskDefinition) != res.TaskDefinitionARN || rb.TaskDefinitionARN != res.TaskDefinitionARN || rb.Outcome != OutcomeDeployed {
		t.Errorf("after rollback the service runs %s (result %+v), want %s", aws.ToString(svc.TaskDefinition), rb, res.TaskDefinitionARN)
	}
	if rb.Image == "" || !strings.Contains(rb.Image, digest) {
		t.Errorf("rollback image = %q, want the first deploy's (%s)", rb.Image, digest)
	}

	// facectl deploy policy grants every action the run called.
	if missing := e.calls.uncovered(cfg); len(missing) > 0 {
		t.Errorf("facectl deploy policy lacks actions the deploy, status and rollback called: %v", missing)
	}
}

// TestDeployEndToEndArm64 deploys with deploy.image.platform linux/arm64 (--platform): the image is
// built for arm64 and passes the architecture check, the registry holds an arm64 manifest, and
// the task definition asks Fargate for ARM64.
func TestDeployEndToEndArm64(t *testing.T) {
	e := setupE2E(t, "e2e-arm64", "network")
	ctx := ctxT(t, 4*time.Minute)
	cfg := e.cfg
	cfg.Image.Context = buildContextFor(t, "arm64")
	cfg.Image.Dockerfile = filepath.Join(cfg.Image.Context, "Dockerfile")
	cfg.Image.Tag = "e2e-arm64"
	cfg.Image.Platform = "linux/arm64"
	t.Cleanup(func() {
		_ = exec.Command("docker", "image", "rm", "-f", e.registry+"/"+cfg.Image.Repository+":"+cfg.Image.Tag).Run()
	})
	var out lockedBuffer
	res, err := Run(ctx, cfg, e.deps(t, &out), Options{})
	if err != nil {
		t.Fatalf("deploy for linux/arm64: %v\n%s", err, out.String())
	}
	if res.Outcome != OutcomeDeployed || !res.Registered {
		t.Fatalf("result = %+v", res)
	}

	// The registry's manifest and image config, read over the registry API.
	digest := registryDigest(t, e.registry, cfg.Image.Repository, cfg.Image.Tag)
	if res.ImageDigest != digest {
		t.Errorf("result digest %s, registry has %s", res.ImageDigest, digest)
	}
	var manifest struct {
		Config struct{ Digest string } `json:"config"`
	}
	registryJSON(t, fmt.Sprintf("http://%s/v2/%s/manifests/%s", e.registry, cfg.Image.Repository, digest), &manifest)
	var imageCfg struct{ Architecture, OS string }
	registryJSON(t, fmt.Sprintf("http://%s/v2/%s/blobs/%s", e.registry, cfg.Image.Repository, manifest.Config.Digest), &imageCfg)
	if imageCfg.OS != "linux" || imageCfg.Architecture != "arm64" {
		t.Errorf("pushed image is %s/%s, want linux/arm64", imageCfg.OS, imageCfg.Architecture)
	}

	td, err := e.ecs.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(res.TaskDefinitionARN)})
	if err != nil {
		t.Fatal(err)
	}
	if rp := td.TaskDefinition.RuntimePlatform; rp == nil || rp.CpuArchitecture != ecstypes.CPUArchitectureArm64 || rp.OperatingSystemFamily != ecstypes.OSFamilyLinux {
		t.Errorf("task definition runtime platform = %+v, want ARM64 LINUX", rp)
	}
	if img := aws.ToString(td.TaskDefinition.ContainerDefinitions[0].Image); img != e.registry+"/"+cfg.Image.Repository+"@"+digest {
		t.Errorf("task image = %s, want the pushed arm64 image by digest", img)
	}
}

// registryJSON GETs url from the registry with the manifest types docker pushes and decodes it.
func registryJSON(t *testing.T, url string, v any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, body)
	}
}

func describeE2EService(ctx context.Context, t *testing.T, e *e2eEnv, cfg Config) *ecstypes.Service {
	t.Helper()
	out, err := e.ecs.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cfg.Cluster), Services: []string{cfg.Service}})
	if err != nil || len(out.Services) != 1 {
		t.Fatalf("describing service: %v %+v", err, out)
	}
	return &out.Services[0]
}

func countRevisions(ctx context.Context, t *testing.T, e *e2eEnv, family string) int {
	t.Helper()
	out, err := e.ecs.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String(family)})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.TaskDefinitionArns)
}

// callRecorder records the AWS operations the deployer calls, for the test log.
type callRecorder struct {
	base  aws.HTTPClient
	mu    sync.Mutex
	calls []string
	// all are the IAM actions of every call, kept across take.
	all map[string]bool
}

// uncovered lists the actions called that the policy for cfg does not grant.
func (r *callRecorder) uncovered(cfg Config) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := Policy(cfg)
	var out []string
	for a := range r.all {
		if !p.Allows(a) && !slices.Contains(boundaryAdminActions, a) {
			out = append(out, a)
		}
	}
	return out
}

func (r *callRecorder) Do(req *http.Request) (*http.Response, error) {
	op := req.Header.Get("X-Amz-Target")
	if i := strings.LastIndex(op, "."); i >= 0 {
		op = op[i+1:]
	}
	if op == "" && req.Body != nil {
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		op = form.Get("Action")
	}
	rrset := strings.HasSuffix(strings.TrimSuffix(req.URL.Path, "/"), "/rrset")
	switch {
	case op != "": // Route 53 speaks REST: the calls facectl makes
	case strings.Contains(req.URL.Path, "/hostedzonesbyname"):
		op = "ListHostedZonesByName"
	case rrset && req.Method == http.MethodGet:
		op = "ListResourceRecordSets"
	case rrset && req.Method == http.MethodPost:
		op = "ChangeResourceRecordSets"
	}
	if m := credentialScopeRE.FindStringSubmatch(req.Header.Get("Authorization")); m != nil {
		op = m[1] + ":" + op
	}
	resp, err := r.base.Do(req)
	if err == nil && resp.Header.Get(faultHeader) != "" {
		return resp, err // the fault proxy's throttle or 500: the call never reached AWS
	}
	r.mu.Lock()
	r.calls = append(r.calls, op)
	if r.all == nil {
		r.all = map[string]bool{}
	}
	r.all[op] = true
	r.mu.Unlock()
	return resp, err
}

// take returns the calls since the last take, with repeats counted.
func (r *callRecorder) take() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for i := 0; i < len(r.calls); {
		j := i
		for j < len(r.calls) && r.calls[j] == r.calls[i] {
			j++
		}
		if j-i > 1 {
			out = append(out, fmt.Sprintf("%s x%d", r.calls[i], j-i))
		} else {
			out = append(out, r.calls[i])
		}
		i = j
	}
	r.calls = nil
	return fmt.Sprintf("%d: %s", len(out), strings.Join(out, ", "))
}

// TestDeployPrebuiltImageBehindALB deploys --image (no build) behind an Application Load
// Balancer: the requests-per-target policy is added with the ALB's resource label.
func TestDeployPrebuiltImageBehindALB(t *testing.T) {
	e := setupE2E(t, "e2e-alb", "application")
	ctx := ctxT(t, 2*time.Minute)
	cfg := e.cfg
	cfg.Image.URI = e.registry + "/prebuilt@sha256:" + strings.Repeat("cd", 32)
	cfg.AutoScaling.RequestsPerTarget = 500
	deps := e.deps(t, &lockedBuffer{})
	deps.Docker = nil // a prebuilt image needs no docker
	res, err := Run(ctx, cfg, deps, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Image != cfg.Image.URI || res.Outcome != OutcomeDeployed {
		t.Errorf("result = %+v", res)
	}
	policies, err := aas.NewFromConfig(e.awsCfg).DescribeScalingPolicies(ctx, &aas.DescribeScalingPoliciesInput{
		ServiceNamespace: aastypes.ServiceNamespaceEcs, ResourceId: aws.String("service/" + cfg.Cluster + "/" + cfg.Service)})
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{}
	for _, p := range policies.ScalingPolicies {
		spec := p.TargetTrackingScalingPolicyConfiguration.PredefinedMetricSpecification
		labels[aws.ToString(p.PolicyName)] = string(spec.PredefinedMetricType) + " " + aws.ToString(spec.ResourceLabel)
	}
	req := labels[cfg.Service+"-requests"]
	if len(labels) != 2 || !strings.HasPrefix(req, "ALBRequestCountPerTarget app/e2e-alb/") || !strings.Contains(req, "/targetgroup/e2e-alb/") {
		t.Errorf("policies = %v", labels)
	}
}
