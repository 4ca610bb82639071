package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/facectl/facectl/internal/testenv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	aas "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logstypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// startOwnMoto runs a moto_server for one test: a fresh account with nothing but the default
// VPC of each region, like a new AWS account.
func startOwnMoto(t *testing.T) string {
	t.Helper()
	requireTool(t, "moto_server", "install moto with its server extra (pip install 'moto[server]')")
	port := freePort(t)
	var logs bytes.Buffer
	cmd := exec.Command("moto_server", "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.Env = append(os.Environ(), "MOTO_ECS_SERVICE_RUNNING=2")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting moto_server: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := waitHTTP(url+"/moto-api/", 60*time.Second); err != nil {
		t.Fatalf("moto_server: %v\n%s", err, logs.String())
	}
	return url
}

// managedEnv is a fresh moto account, a registry and the deployer's recorded clients.
type managedEnv struct {
	awsCfg    aws.Config
	deployCfg aws.Config
	calls     *callRecorder
	faults    *faultProxy
	registry  string
	context   string
}

func setupManaged(t *testing.T) *managedEnv {
	t.Helper()
	requireTool(t, "docker", "install the Docker engine and CLI (apt-get install -y docker.io) and start dockerd")
	endpoint := startOwnMoto(t)
	registry := startRegistry(t)
	testenv.FakeAWS(t)
	awsCfg, err := LoadAWSConfig(ctxT(t, time.Minute), Config{EndpointURL: endpoint})
	if err != nil {
		t.Fatal(err)
	}
	faults := startFaultProxy(t, endpoint)
	rec, deployCfg := throughFaults(awsCfg, faults)
	return &managedEnv{awsCfg: awsCfg, deployCfg: deployCfg, calls: rec, faults: faults, registry: registry, context: buildContext(t)}
}

// config is what a new user writes: a service name and where to build; no network, load
// balancer or role settings.
func (e *managedEnv) config(service, tag string) Config {
	cfg := DefaultConfig()
	cfg.EndpointURL = *e.awsCfg.BaseEndpoint
	cfg.Service = service
	cfg.Image.Repository = "facectl-env-e2e"
	cfg.Image.Registry = e.registry
	cfg.Image.Context = e.context
	cfg.Image.Dockerfile = filepath.Join(e.context, "Dockerfile")
	cfg.Image.Tag = tag
	cfg.Wait.Timeout = time.Minute
	cfg.Wait.PollInterval = 20 * time.Millisecond
	return cfg
}

func (e *managedEnv) deps(t *testing.T, out *lockedBuffer) Deps { return realDeps(t, e.deployCfg, out) }

// writeCalls filters the AWS calls that change something.
func writeCalls(calls string) []string {
	var out []string
	for _, c := range strings.Split(calls, ", ") {
		op := c[strings.Index(c, ":")+1:]
		for _, p := range []string{"Create", "Update", "Delete", "Put", "Register", "Deregister", "Batch", "Execute", "Tag", "Set"} {
			if strings.HasPrefix(op, p) && !strings.HasPrefix(op, "BatchGet") && !strings.HasPrefix(op, "BatchCheck") {
				out = append(out, c)
			}
		}
	}
	return out
}

func stackOf(ctx context.Context, t *testing.T, cfn *cloudformation.Client, name string) map[string]string {
	t.Helper()
	out, err := cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
	if err != nil || len(out.Stacks) != 1 {
		t.Fatalf("stack %s: %v", name, err)
	}
	st := out.Stacks[0]
	if st.StackStatus != "CREATE_COMPLETE" && st.StackStatus != "UPDATE_COMPLETE" {
		t.Fatalf("stack %s is %s", name, st.StackStatus)
	}
	return stackOutputs(&st)
}

// TestManagedEnvironmentEndToEnd goes from an account with nothing but its default VPC to two
// services behind their own load balancers and back, with the real registry and docker.
func TestManagedEnvironmentEndToEnd(t *testing.T) {
	e := setupManaged(t)
	ctx := ctxT(t, 5*time.Minute)
	t.Cleanup(func() {
		_ = exec.Command("docker", "image", "rm", "-f", e.registry+"/facectl-env-e2e:env-1", e.registry+"/facectl-env-e2e:env-2").Run()
	})
	cfn := cloudformation.NewFromConfig(e.awsCfg)
	ecsc := ecs.NewFromConfig(e.awsCfg)

	// 1: first deploy from the empty account.
	web := e.config("web", "env-1")
	var out lockedBuffer
	start := time.Now()
	res, err := Run(ctx, web, e.deps(t, &out), Options{})
	firstTook, firstCalls := time.Since(start), e.calls.take()
	t.Logf("first deploy (stacks, image build and push, service) took %v; AWS calls %s", firstTook, firstCalls)
	if err != nil {
		t.Fatalf("first deploy: %v\n%s", err, out.String())
	}
	if firstTook > 30*time.Second {
		t.Errorf("first deploy took %v, want < 30s", firstTook)
	}
	clusterOut := stackOf(ctx, t, cfn, "facectl-facectl-cluster")
	if clusterOut["ClusterName"] != "facectl" {
		t.Errorf("cluster stack outputs = %v", clusterOut)
	}
	webOut := stackOf(ctx, t, cfn, "facectl-facectl-web")
	if res.Outcome != OutcomeDeployed || res.URL == "" || res.URL != webOut["URL"] || res.URL != "http://"+webOut["LoadBalancerDNSName"] {
		t.Errorf("result = %+v, stack outputs %v", res, webOut)
	}
	svc := describeService(ctx, t, ecsc, "facectl", "web")
	if aws.ToString(svc.Status) != "ACTIVE" || len(svc.LoadBalancers) != 1 || aws.ToString(svc.LoadBalancers[0].TargetGroupArn) != webOut["TargetGroupArn"] {
		t.Errorf("service %s on %+v, want the stack's target group %s", aws.ToString(svc.Status), svc.LoadBalancers, webOut["TargetGroupArn"])
	}
	vpc := svc.NetworkConfiguration.AwsvpcConfiguration
	if vpc.AssignPublicIp != "ENABLED" || len(vpc.SecurityGroups) != 1 || vpc.SecurityGroups[0] != webOut["TaskSecurityGroup"] {
		t.Errorf("service network = %+v", vpc)
	}
	defaults := defaultSubnets(ctx, t, e)
	if got := sortedCopy(vpc.Subnets); strings.Join(got, ",") != strings.Join(defaults, ",") {
		t.Errorf("service subnets %v, want the default VPC's in two zones %v", got, defaults)
	}
	td, err := ecsc.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: svc.TaskDefinition})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(td.TaskDefinition.ExecutionRoleArn) != webOut["ExecutionRoleArn"] || webOut["ExecutionRoleArn"] == "" {
		t.Errorf("execution role %s, stack made %s", aws.ToString(td.TaskDefinition.ExecutionRoleArn), webOut["ExecutionRoleArn"])
	}
	// The execution role's permissions boundary was made first (IAM refuses a role whose
	// boundary is missing), tagged as facectl's, with the document deploy policy --boundary prints.
	if doc, tags := boundaryDoc(t, iam.NewFromConfig(e.awsCfg), "arn:aws:iam::"+motoAccount+":policy/facectl-facectl-web-boundary"); !sameJSON(doc, BoundaryPolicy(web).JSON()) || !hasTag(tags, boundaryTag, "service/facectl/web") {
		t.Errorf("boundary = %s, tags %+v", doc, tags)
	}
	if g := td.TaskDefinition.ContainerDefinitions[0].LogConfiguration.Options["awslogs-group"]; g != "/ecs/web" || webOut["LogGroup"] != "/ecs/web" {
		t.Errorf("log group %s, stack %s", g, webOut["LogGroup"])
	}
	groups, err := cloudwatchlogs.NewFromConfig(e.awsCfg).DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String("/ecs/web")})
	if err != nil || len(groups.LogGroups) != 1 || aws.ToInt32(groups.LogGroups[0].RetentionInDays) != 30 {
		t.Errorf("log group = %+v, %v", groups, err)
	}
	// The tasks' security group admits only the load balancer's, on the container port.
	sgs, err := ec2.NewFromConfig(e.awsCfg).DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{webOut["TaskSecurityGroup"]}})
	if err != nil || len(sgs.SecurityGroups) != 1 {
		t.Fatalf("task security group: %v", err)
	}
	perms := sgs.SecurityGroups[0].IpPermissions
	if len(perms) != 1 || aws.ToInt32(perms[0].FromPort) != 8080 || len(perms[0].IpRanges) != 0 || len(perms[0].UserIdGroupPairs) != 1 {
		t.Errorf("task security group ingress = %+v", perms)
	}

	// 2: unchanged redeploy: no stack update, no new revision, no write call.
	out = lockedBuffer{}
	start = time.Now()
	res2, err := Run(ctx, web, e.deps(t, &out), Options{})
	took, calls := time.Since(start), e.calls.take()
	t.Logf("unchanged redeploy took %v; AWS calls %s", took, calls)
	if err != nil {
		t.Fatalf("unchanged redeploy: %v", err)
	}
	if w := writeCalls(calls); len(w) > 0 {
		t.Errorf("unchanged redeploy made write calls: %v", w)
	}
	if res2.Registered || res2.ServiceAction != "none" || res2.TaskDefinitionARN != res.TaskDefinitionARN || res2.URL != res.URL {
		t.Errorf("unchanged redeploy result = %+v", res2)
	}
	if took > 2*time.Second {
		t.Errorf("unchanged redeploy took %v, want < 2s", took)
	}

	// 2b: a dry run of a changed retention describes the stack's change set and executes
	// nothing: its only writes create and delete the change set.
	changed := web
	changed.Logs.RetentionDays = 60
	out = lockedBuffer{}
	dry, err := Run(ctx, changed, e.deps(t, &out), Options{DryRun: true})
	calls = e.calls.take()
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if strings.Join(dry.Environment, "\n") != "facectl-facectl-web modify LogGroup (AWS::Logs::LogGroup)" || !dry.DryRun {
		t.Errorf("dry run environment changes = %q\n%s", dry.Environment, out.String())
	}
	if w := writeCalls(calls); strings.Join(w, ",") != "cloudformation:CreateChangeSet,cloudformation:DeleteChangeSet" {
		t.Errorf("dry run writes: %v", w)
	}
	if g, err := cloudwatchlogs.NewFromConfig(e.awsCfg).DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String("/ecs/web")}); err != nil || aws.ToInt32(g.LogGroups[0].RetentionInDays) != 30 {
		t.Errorf("the dry run changed the log group: %+v %v", g, err)
	}

	// 3: a second service beside it: its own stack, target group, log group and family.
	stage := e.config("stage", "env-1")
	stage.AutoScaling.RequestsPerTarget = 500 // the stack's ALB labels the policy
	if _, err := Run(ctx, stage, e.deps(t, &lockedBuffer{}), Options{}); err != nil {
		t.Fatalf("deploying stage: %v", err)
	}
	e.calls.take()
	stageOut := stackOf(ctx, t, cfn, "facectl-facectl-stage")
	for _, k := range []string{"TargetGroupArn", "LoadBalancerArn", "TaskSecurityGroup", "ExecutionRoleArn", "LogGroup", "URL"} {
		if stageOut[k] == webOut[k] || stageOut[k] == "" {
			t.Errorf("%s: stage has %q, web %q", k, stageOut[k], webOut[k])
		}
	}
	pols, err := aas.NewFromConfig(e.awsCfg).DescribeScalingPolicies(ctx, &aas.DescribeScalingPoliciesInput{
		ServiceNamespace: aastypes.ServiceNamespaceEcs, ResourceId: aws.String("service/facectl/stage")})
	if err != nil {
		t.Fatal(err)
	}
	var label string
	for _, p := range pols.ScalingPolicies {
		if aws.ToString(p.PolicyName) == "stage-requests" {
			label = aws.ToString(p.TargetTrackingScalingPolicyConfiguration.PredefinedMetricSpecification.ResourceLabel)
		}
	}
	if lb, tg := stageOut["LoadBalancerArn"], stageOut["TargetGroupArn"]; label == "" || !strings.HasPrefix(label, "app/") ||
		!strings.HasSuffix(lb, strings.SplitN(label, "/targetgroup/", 2)[0]) || !strings.HasSuffix(tg, "targetgroup/"+strings.SplitN(label, "/targetgroup/", 2)[1]) {
		t.Errorf("requests policy label %q does not name the stack's ALB %s and target group %s", label, lb, tg)
	}
	stageSvc := describeService(ctx, t, ecsc, "facectl", "stage")
	if aws.ToString(stageSvc.LoadBalancers[0].TargetGroupArn) != stageOut["TargetGroupArn"] || !strings.Contains(aws.ToString(stageSvc.TaskDefinition), "/stage:") {
		t.Errorf("stage service on %s running %s", aws.ToString(stageSvc.LoadBalancers[0].TargetGroupArn), aws.ToString(stageSvc.TaskDefinition))
	}

	// 4: web changes once, then rolls back to its own previous revision.
	web2 := web
	web2.Task.Environment = []EnvVar{{Name: "FACECTL_LOG_LEVEL", Value: "debug"}}
	res3, err := Run(ctx, web2, e.deps(t, &lockedBuffer{}), Options{})
	if err != nil || !res3.Registered {
		t.Fatalf("changed deploy of web: %+v, %v", res3, err)
	}
	d, err := Open(web2, e.deps(t, &lockedBuffer{}))
	if err != nil {
		t.Fatal(err)
	}
	rb, err := d.Rollback(ctx, RollbackOptions{})
	if err != nil || rb.TaskDefinitionARN != res.TaskDefinitionARN {
		t.Errorf("rollback of web landed on %s (%v), want web's previous %s", rb.TaskDefinitionARN, err, res.TaskDefinitionARN)
	}
	st, err := d.Status(ctx)
	if err != nil || st.URL != res.URL {
		t.Errorf("status URL = %q (%v), want %q", st.URL, err, res.URL)
	}
	e.calls.take()

	// Logs: the lines of web's tasks, one task's by ID prefix.
	logsc := cloudwatchlogs.NewFromConfig(e.awsCfg)
	now := time.Now()
	for i, task := range []string{"aaaa1111bbbb", "cccc2222dddd"} {
		stream := "facectl/facectl/" + task
		if _, err := logsc.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String("/ecs/web"), LogStreamName: aws.String(stream)}); err != nil {
			t.Fatal(err)
		}
		if _, err := logsc.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String("/ecs/web"), LogStreamName: aws.String(stream),
			LogEvents: []logstypes.InputLogEvent{{Timestamp: aws.Int64(now.Add(time.Duration(i) * time.Second).UnixMilli()),
				Message: aws.String(fmt.Sprintf(`{"time":"2026-11-28T19:00:0%dZ","level":"INFO","msg":"listening","task":%d}`, i, i))}}}); err != nil {
			t.Fatal(err)
		}
	}
	var logs bytes.Buffer
	if err := d.Logs(ctx, LogsOptions{Since: time.Hour}, &logs); err != nil {
		t.Fatalf("logs: %v", err)
	}
	if want := "aaaa1111bbbb\t{\"time\":\"2026-11-28T19:00:00Z\",\"level\":\"INFO\",\"msg\":\"listening\",\"task\":0}\n" +
		"cccc2222dddd\t{\"time\":\"2026-11-28T19:00:01Z\",\"level\":\"INFO\",\"msg\":\"listening\",\"task\":1}\n"; logs.String() != want {
		t.Errorf("logs:\n%s\nwant:\n%s", logs.String(), want)
	}
	logs.Reset()
	if err := d.Logs(ctx, LogsOptions{Since: time.Hour, Task: "cccc", Readable: true}, &logs); err != nil {
		t.Fatalf("logs --task: %v", err)
	}
	if want := "cccc2222  19:00:01.000  INFO   listening task=1\n"; logs.String() != want {
		t.Errorf("logs of one task, readable:\n%q\nwant %q", logs.String(), want)
	}
	e.calls.take()

	// 5: destroy web: stage and the shared cluster stay.
	var asked []string
	d, err = Open(web, e.deps(t, &lockedBuffer{}))
	if err != nil {
		t.Fatal(err)
	}
	dr, err := d.Destroy(ctx, DestroyOptions{PurgeImages: true, Confirm: func(plan []string) (bool, error) { asked = plan; return true, nil }})
	t.Logf("destroy of web: %+v; AWS calls %s", dr, e.calls.take())
	if err != nil {
		t.Fatalf("destroy web: %v", err)
	}
	removed := strings.Join(dr.Removed, "\n")
	for _, want := range []string{"scaling policy web-cpu", "scalable target service/facectl/web", "ECS service web", "service stack facectl-facectl-web",
		"IAM policy facectl-facectl-web-boundary"} {
		if !strings.Contains(removed, want) {
			t.Errorf("destroy did not say it removed %q:\n%s", want, removed)
		}
	}
	if strings.Join(asked, "\n") != removed {
		t.Errorf("confirmation asked about %v, removed %v", asked, dr.Removed)
	}
	kept := strings.Join(dr.Kept, "\n")
	if !strings.Contains(kept, "cluster stack facectl-facectl-cluster (cluster facectl): still used by stage") ||
		!strings.Contains(kept, "1 image(s) in ECR repository facectl-env-e2e: still run by stage") || strings.Contains(removed, "image") {
		t.Errorf("web and stage run the same image: kept = %v, removed %v", dr.Kept, dr.Removed)
	}
	if _, err := cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String("facectl-facectl-web")}); !isStackMissing(err) {
		t.Errorf("web's stack still exists: %v", err)
	}
	if _, err := iam.NewFromConfig(e.awsCfg).GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String("arn:aws:iam::" + motoAccount + ":policy/facectl-facectl-web-boundary")}); err == nil {
		t.Error("web's permissions boundary still exists")
	}
	if s := describeServiceMaybe(ctx, t, ecsc, "facectl", "web"); s != nil && aws.ToString(s.Status) != "INACTIVE" {
		t.Errorf("web service is %s after destroy", aws.ToString(s.Status))
	}
	stackOf(ctx, t, cfn, "facectl-facectl-stage")
	stackOf(ctx, t, cfn, "facectl-facectl-cluster")
	if s := describeService(ctx, t, ecsc, "facectl", "stage"); aws.ToString(s.Status) != "ACTIVE" {
		t.Errorf("stage is %s after destroying web", aws.ToString(s.Status))
	}

	// 6: destroy again: nothing left, and it says so.
	dr, err = d.Destroy(ctx, DestroyOptions{Confirm: func([]string) (bool, error) { t.Error("asked to confirm nothing"); return false, nil }})
	if err != nil || len(dr.Removed) != 0 {
		t.Errorf("second destroy: %+v, %v", dr, err)
	}
	if missing := e.calls.uncovered(web); len(missing) > 0 {
		t.Errorf("facectl deploy policy lacks actions the run called: %v", missing)
	}

	// 7: destroy stage, the last service: its image and the cluster stack go too.
	d, err = Open(stage, e.deps(t, &lockedBuffer{}))
	if err != nil {
		t.Fatal(err)
	}
	dr, err = d.Destroy(ctx, DestroyOptions{PurgeImages: true})
	t.Logf("destroy of stage: %+v; AWS calls %s", dr, e.calls.take())
	removed = strings.Join(dr.Removed, "\n")
	if err != nil || !strings.Contains(removed, "1 image(s) in ECR repository facectl-env-e2e") || !strings.Contains(removed, "cluster stack facectl-facectl-cluster") {
		t.Errorf("destroy stage: %v\n%s", err, removed)
	}
	if _, err := cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String("facectl-facectl-cluster")}); !isStackMissing(err) {
		t.Errorf("the cluster stack still exists: %v", err)
	}

	if missing := e.calls.uncovered(stage); len(missing) > 0 {
		t.Errorf("facectl deploy policy lacks actions the run called: %v", missing)
	}

	// facectl deploy policy grants every action the managed environment's deploys, dry run,
	// status, rollback, logs and destroys called.
	if missing := e.calls.uncovered(e.config("web", "any")); len(missing) > 0 {
		t.Errorf("facectl deploy policy lacks actions the managed environment called: %v", missing)
	}
}

func describeServiceMaybe(ctx context.Context, t *testing.T, c *ecs.Client, cluster, name string) *ecstypes.Service {
	t.Helper()
	out, err := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{name}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Services) == 0 {
		return nil
	}
	return &out.Services[0]
}

func describeService(ctx context.Context, t *testing.T, c *ecs.Client, cluster, name string) *ecstypes.Service {
	t.Helper()
	s := describeServiceMaybe(ctx, t, c, cluster, name)
	if s == nil {
		t.Fatalf("service %s not found", name)
	}
	return s
}

func defaultSubnets(ctx context.Context, t *testing.T, e *managedEnv) []string {
	t.Helper()
	c := ec2.NewFromConfig(e.awsCfg)
	vpcs, err := c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []ec2types.Filter{{Name: aws.String("is-default"), Values: []string{"true"}}}})
	if err != nil || len(vpcs.Vpcs) != 1 {
		t.Fatalf("default VPC: %v", err)
	}
	sn, err := c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{aws.ToString(vpcs.Vpcs[0].VpcId)}}}})
	if err != nil {
		t.Fatal(err)
	}
	// The subnets of the first two zones by name (us-east-1a, us-east-1b).
	var ids []string
	for _, s := range sn.Subnets {
		if z := aws.ToString(s.AvailabilityZone); z == "us-east-1a" || z == "us-east-1b" {
			ids = append(ids, aws.ToString(s.SubnetId))
		}
	}
	sort.Strings(ids)
	if len(ids) != 2 {
		t.Fatalf("moto's default VPC has %d subnets in us-east-1a/b", len(ids))
	}
	return ids
}

// TestLogsFollow follows a log group in moto: lines already there are printed once, lines
// written later appear, and cancelling the context ends the follow without an error.
func TestLogsFollow(t *testing.T) {
	endpoint := motoEndpoint(t)
	testenv.FakeAWS(t)
	ctx := ctxT(t, time.Minute)
	cfg := DefaultConfig()
	cfg.EndpointURL = endpoint
	cfg.Service = fmt.Sprintf("follow-%d", time.Now().UnixNano()) // moto is shared by the run
	awsCfg, err := LoadAWSConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	logsc := cloudwatchlogs.NewFromConfig(awsCfg)
	group, stream := "/ecs/"+cfg.Service, "facectl/facectl/feed0000"
	if _, err := logsc.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(group)}); err != nil {
		t.Fatal(err)
	}
	if _, err := logsc.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream)}); err != nil {
		t.Fatal(err)
	}
	put := func(msg string) {
		t.Helper()
		if _, err := logsc.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream),
			LogEvents: []logstypes.InputLogEvent{{Timestamp: aws.Int64(time.Now().UnixMilli()), Message: aws.String(msg)}}}); err != nil {
			t.Fatal(err)
		}
	}
	put("first")
	d, err := Open(cfg, NewDeps(awsCfg))
	if err != nil {
		t.Fatal(err)
	}
	out := &notifyBuffer{wrote: make(chan struct{}, 1)}
	followCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- d.Logs(followCtx, LogsOptions{Follow: true, PollInterval: 20 * time.Millisecond}, out)
	}()
	waitFor := func(want string) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for !strings.Contains(out.String(), want) {
			select {
			case <-out.wrote:
			case <-deadline:
				t.Fatalf("%q did not appear; got:\n%s", want, out.String())
			}
		}
	}
	waitFor("feed0000\tfirst\n")
	put("second")
	waitFor("feed0000\tsecond\n")
	stop()
	if err := <-done; err != nil {
		t.Errorf("follow ended with %v", err)
	}
	if got := out.String(); got != "feed0000\tfirst\nfeed0000\tsecond\n" {
		t.Errorf("followed lines:\n%s", got)
	}

	// A group that does not exist says so.
	missing := cfg
	missing.Service = "never-deployed"
	d, err = Open(missing, NewDeps(awsCfg))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Logs(ctx, LogsOptions{}, io.Discard); err == nil || !strings.Contains(err.Error(), "log group /ecs/never-deployed does not exist yet") {
		t.Errorf("logs of a missing group: %v", err)
	}
}

// notifyBuffer is a lockedBuffer that signals every write, so a test waits for output
// without sleeping.
type notifyBuffer struct {
	lockedBuffer
	wrote chan struct{}
}

func (b *notifyBuffer) Write(p []byte) (int, error) {
	n, err := b.lockedBuffer.Write(p)
	select {
	case b.wrote <- struct{}{}:
	default:
	}
	return n, err
}

// TestManagedEnvironmentInGivenSubnets puts the managed environment in subnets the config
// names (public ones, with an internet gateway route and public IPs), and refuses subnets in a
// single zone before creating anything.
func TestManagedEnvironmentInGivenSubnets(t *testing.T) {
	endpoint := motoEndpoint(t)
	testenv.FakeAWS(t)
	ctx := ctxT(t, 2*time.Minute)
	name := fmt.Sprintf("given-%d", time.Now().UnixNano()%1e9) // moto is shared by the run
	cfg := DefaultConfig()
	cfg.EndpointURL = endpoint
	cfg.Cluster, cfg.Service = name, "api"
	cfg.Image.URI = "127.0.0.1:5000/prebuilt@sha256:" + strings.Repeat("ef", 32)
	cfg.Network.AssignPublicIP = true
	cfg.Wait.Timeout = time.Minute
	cfg.Wait.PollInterval = 20 * time.Millisecond
	awsCfg, err := LoadAWSConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ec2c := ec2.NewFromConfig(awsCfg)
	vpc, err := ec2c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.7.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	vpcID := vpc.Vpc.VpcId
	igw, err := ec2c.CreateInternetGateway(ctx, &ec2.CreateInternetGatewayInput{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ec2c.AttachInternetGateway(ctx, &ec2.AttachInternetGatewayInput{InternetGatewayId: igw.InternetGateway.InternetGatewayId, VpcId: vpcID}); err != nil {
		t.Fatal(err)
	}
	rt, err := ec2c.CreateRouteTable(ctx, &ec2.CreateRouteTableInput{VpcId: vpcID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ec2c.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: rt.RouteTable.RouteTableId, DestinationCidrBlock: aws.String("0.0.0.0/0"), GatewayId: igw.InternetGateway.InternetGatewayId}); err != nil {
		t.Fatal(err)
	}
	var subnets []string
	for i, az := range []string{"us-east-1a", "us-east-1b"} {
		sn, err := ec2c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpcID, CidrBlock: aws.String(fmt.Sprintf("10.7.%d.0/24", i)), AvailabilityZone: aws.String(az)})
		if err != nil {
			t.Fatal(err)
		}
		id := aws.ToString(sn.Subnet.SubnetId)
		if _, err := ec2c.AssociateRouteTable(ctx, &ec2.AssociateRouteTableInput{RouteTableId: rt.RouteTable.RouteTableId, SubnetId: aws.String(id)}); err != nil {
			t.Fatal(err)
		}
		subnets = append(subnets, id)
	}
	sort.Strings(subnets)

	// One zone: refused in preflight, no stack.
	one := cfg
	one.Network.Subnets = subnets[:1]
	_, err = Run(ctx, one, NewDeps(awsCfg), Options{})
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "deploy.network.subnets: the load balancer needs subnets in at least two availability zones (got 1)") {
		t.Errorf("one zone: %v", err)
	}
	cfn := cloudformation.NewFromConfig(awsCfg)
	if _, err := cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(cfg.ClusterStackName())}); !isStackMissing(err) {
		t.Errorf("a stack was created for a refused config: %v", err)
	}

	// A log group of the stack's name that already exists is refused before any stack.
	logsc := cloudwatchlogs.NewFromConfig(awsCfg)
	taken := cfg
	taken.Network.Subnets = subnets
	taken.Service = "taken"
	if _, err := logsc.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(taken.LogGroup())}); err != nil {
		t.Fatal(err)
	}
	_, err = Run(ctx, taken, NewDeps(awsCfg), Options{})
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "log group "+taken.LogGroup()+" already exists") {
		t.Errorf("existing log group: %v", err)
	}
	if _, err := cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(cfg.ClusterStackName())}); !isStackMissing(err) {
		t.Errorf("a stack was created for a refused config: %v", err)
	}

	cfg.Network.Subnets = subnets
	deps := NewDeps(awsCfg)
	deps.Docker = nil
	res, err := Run(ctx, cfg, deps, Options{})
	if err != nil {
		t.Fatalf("deploy into given subnets: %v", err)
	}
	out := stackOf(ctx, t, cfn, cfg.ServiceStackName())
	svc := describeService(ctx, t, ecs.NewFromConfig(awsCfg), name, "api")
	nc := svc.NetworkConfiguration.AwsvpcConfiguration
	if strings.Join(sortedCopy(nc.Subnets), ",") != strings.Join(subnets, ",") || nc.AssignPublicIp != "ENABLED" || nc.SecurityGroups[0] != out["TaskSecurityGroup"] || res.URL != out["URL"] {
		t.Errorf("service network %+v, result %+v, stack %v", nc, res, out)
	}
	sgs, err := ec2c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{out["TaskSecurityGroup"]}})
	if err != nil || len(sgs.SecurityGroups) != 1 || aws.ToString(sgs.SecurityGroups[0].VpcId) != aws.ToString(vpcID) {
		t.Errorf("task security group not in the given VPC: %+v %v", sgs, err)
	}
}

// TestDestroyOwnNetwork destroys a service deployed into a network the user made: the service
// and its scaling go, the cluster, load balancer and target group (not facectl's) stay.
func TestDestroyOwnNetwork(t *testing.T) {
	e := setupE2E(t, "e2e-byo-destroy", "application")
	ctx := ctxT(t, 2*time.Minute)
	cfg := e.cfg
	cfg.Image.URI = e.registry + "/prebuilt@sha256:" + strings.Repeat("ab", 32)
	deps := e.deps(t, &lockedBuffer{})
	deps.Docker = nil
	if _, err := Run(ctx, cfg, deps, Options{}); err != nil {
		t.Fatal(err)
	}
	d, err := Open(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.Destroy(ctx, DestroyOptions{PurgeImages: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(res.Removed, "\n"); !strings.Contains(got, "scalable target") || !strings.Contains(got, "ECS service e2e-byo-destroy") || strings.Contains(got, "stack") || strings.Contains(got, "image") {
		t.Errorf("removed:\n%s", got)
	}
	if s := describeServiceMaybe(ctx, t, e.ecs, cfg.Cluster, cfg.Service); s != nil && aws.ToString(s.Status) != "INACTIVE" {
		t.Errorf("service is %s after destroy", aws.ToString(s.Status))
	}
	clusters, err := e.ecs.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{cfg.Cluster}})
	if err != nil || len(clusters.Clusters) != 1 || aws.ToString(clusters.Clusters[0].Status) != "ACTIVE" {
		t.Errorf("the user's cluster: %+v %v", clusters, err)
	}
	if _, err := elb.NewFromConfig(e.awsCfg).DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{TargetGroupArns: []string{cfg.LoadBalancer.TargetGroupARN}}); err != nil {
		t.Errorf("the user's target group: %v", err)
	}
	if missing := e.calls.uncovered(cfg); len(missing) > 0 {
		t.Errorf("facectl deploy policy lacks actions the run called: %v", missing)
	}
}

// TestManagedEnvironmentHTTPS: with a certificate the stack's ALB listens on 443 with it, and
// port 80 redirects there; the URL is https:// on the configured domain.
func TestManagedEnvironmentHTTPS(t *testing.T) {
	endpoint := motoEndpoint(t)
	testenv.FakeAWS(t)
	ctx := ctxT(t, 2*time.Minute)
	cfg := DefaultConfig()
	cfg.EndpointURL = endpoint
	cfg.Cluster = fmt.Sprintf("https-%d", time.Now().UnixNano()%1e9) // moto is shared by the run
	cfg.Service = cfg.Cluster + "-api"
	cfg.Image.URI = "127.0.0.1:5000/prebuilt@sha256:" + strings.Repeat("12", 32)
	cfg.LoadBalancer.Domain = "faces.example.com"
	cfg.Wait.Timeout = time.Minute
	cfg.Wait.PollInterval = 20 * time.Millisecond
	awsCfg, err := LoadAWSConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// moto's load balancers check that the certificate exists in ACM.
	cert, err := acm.NewFromConfig(awsCfg).RequestCertificate(ctx, &acm.RequestCertificateInput{DomainName: aws.String(cfg.LoadBalancer.Domain)})
	if err != nil {
		t.Fatal(err)
	}
	cfg.LoadBalancer.CertificateARN = aws.ToString(cert.CertificateArn)
	deps := NewDeps(awsCfg)
	deps.Docker = nil
	res, err := Run(ctx, cfg, deps, Options{})
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	if res.URL != "https://faces.example.com" {
		t.Errorf("URL = %q", res.URL)
	}
	out := stackOf(ctx, t, cloudformation.NewFromConfig(awsCfg), cfg.ServiceStackName())
	got := listenerSummary(ctx, t, awsCfg, out["LoadBalancerArn"])
	if got[80] != "HTTP redirect HTTPS:443" || got[443] != "HTTPS forward "+cfg.LoadBalancer.CertificateARN {
		t.Errorf("listeners = %v", got)
	}
}

// listenerSummary describes a load balancer's listeners by port: "HTTPS forward <certificate>",
// "HTTP redirect HTTPS:443".
func listenerSummary(ctx context.Context, t *testing.T, awsCfg aws.Config, lbARN string) map[int32]string {
	t.Helper()
	ls, err := elb.NewFromConfig(awsCfg).DescribeListeners(ctx, &elb.DescribeListenersInput{LoadBalancerArn: aws.String(lbARN)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[int32]string{}
	for _, l := range ls.Listeners {
		a := l.DefaultActions[0]
		desc := string(l.Protocol) + " " + string(a.Type)
		if a.RedirectConfig != nil {
			desc += " " + aws.ToString(a.RedirectConfig.Protocol) + ":" + aws.ToString(a.RedirectConfig.Port)
		}
		if len(l.Certificates) > 0 {
			desc += " " + aws.ToString(l.Certificates[0].CertificateArn)
		}
		got[aws.ToInt32(l.Port)] = desc
	}
	return got
}
