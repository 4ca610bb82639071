package deploy

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestDeployRollbackByCircuitBreaker(t *testing.T) {
	stub := newAWSStub(t)
	stub.expect(updateDeployCalls()...)
	now := time.Now().Unix()
	stub.expect(
		// Still rolling out.
		ok("ecs.DescribeServices", describeServicesJSON(serviceJSON(tdARN2, 2, 2,
			deploymentJSON("ecs-svc/2", "PRIMARY", "IN_PROGRESS", tdARN2, 2, 0, 1, "")+","+deploymentJSON("ecs-svc/1", "ACTIVE", "COMPLETED", tdARN1, 2, 2, 0, ""), ""))),
		// The circuit breaker tripped: ecs-svc/2 FAILED, a new primary runs revision 1 again.
		ok("ecs.DescribeServices", describeServicesJSON(serviceJSON(tdARN1, 2, 2,
			deploymentJSON("ecs-svc/3", "PRIMARY", "IN_PROGRESS", tdARN1, 2, 2, 0, "")+","+
				deploymentJSON("ecs-svc/2", "ACTIVE", "FAILED", tdARN2, 2, 0, 3, "ECS deployment circuit breaker: tasks failed to start."),
			`{"id":"e2","createdAt":`+itoa(now)+`,"message":"(service facectl) (deployment ecs-svc/2) deployment failed: tasks failed to start."},`+
				`{"id":"e1","createdAt":`+itoa(now-1)+`,"message":"(service facectl) has started 2 tasks: (task aaa) (task bbb)."}`))),
		ok("ecs.ListTasks", `{"taskArns":["arn:aws:ecs:us-east-1:123456789012:task/facectl/aaa","arn:aws:ecs:us-east-1:123456789012:task/facectl/bbb"]}`),
		ok("ecs.DescribeTasks", `{"tasks":[
		 {"taskArn":"arn:aws:ecs:us-east-1:123456789012:task/facectl/aaa","taskDefinitionArn":"`+tdARN2+`","lastStatus":"STOPPED","stopCode":"EssentialContainerExited",
		  "stoppedReason":"Essential container in task exited","stoppedAt":`+itoa(now)+`,"containers":[{"name":"facectl","exitCode":1,"reason":""}]},
		 {"taskArn":"arn:aws:ecs:us-east-1:123456789012:task/facectl/bbb","taskDefinitionArn":"`+tdARN2+`","lastStatus":"STOPPED","stopCode":"TaskFailedToStart",
		  "stoppedReason":"CannotPullContainerError: pull image manifest has been retried 5 time(s)","stoppedAt":`+itoa(now-1)+`,"containers":[{"name":"facectl","reason":"CannotPullContainerError"}]}],"failures":[]}`),
	)
	var out lockedBuffer
	res, err := Run(ctxT(t, 10*time.Second), stubConfig(), stub.deps(t, &out), Options{})
	if !errors.Is(err, ErrRolledBack) {
		t.Fatalf("err = %v, want ErrRolledBack", err)
	}
	for _, want := range []string{"ecs-svc/2", "rolled back to facectl:1", "Essential container in task exited", "exit code 1", "CannotPullContainerError"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	if res.Outcome != OutcomeRolledBack || len(res.StoppedTasks) != 2 || res.TaskDefinitionARN != tdARN2 {
		t.Errorf("result = %+v", res)
	}
	if !strings.Contains(out.String(), "deployment failed: tasks failed to start") {
		t.Errorf("service events were not printed while waiting:\n%s", out.String())
	}
}

func TestDeployTimeout(t *testing.T) {
	stub := newAWSStub(t)
	stub.expect(updateDeployCalls()...)
	inProgress := describeServicesJSON(serviceJSON(tdARN2, 2, 1,
		deploymentJSON("ecs-svc/2", "PRIMARY", "IN_PROGRESS", tdARN2, 2, 1, 0, "")+","+deploymentJSON("ecs-svc/1", "ACTIVE", "COMPLETED", tdARN1, 2, 2, 0, ""), ""))
	stub.expect(
		&stubCall{op: "ecs.DescribeServices", status: 200, body: inProgress, repeat: true},
		ok("ecs.ListTasks", `{"taskArns":["arn:aws:ecs:us-east-1:123456789012:task/facectl/ccc"]}`),
		ok("ecs.DescribeTasks", `{"tasks":[{"taskArn":"arn:aws:ecs:us-east-1:123456789012:task/facectl/ccc","taskDefinitionArn":"`+tdARN2+`",
		 "stoppedReason":"Task failed container health checks","containers":[{"name":"facectl","exitCode":137}]}],"failures":[]}`),
	)
	cfg := stubConfig()
	cfg.Wait.Timeout = 150 * time.Millisecond
	cfg.Wait.PollInterval = 10 * time.Millisecond
	start := time.Now()
	res, err := Run(ctxT(t, 10*time.Second), cfg, stub.deps(t, &lockedBuffer{}), Options{})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("timeout of 150ms took %v", took)
	}
	for _, want := range []string{"new one IN_PROGRESS, 1/2 running", "Task failed container health checks", "exit code 137"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	if res.Outcome != OutcomeTimeout {
		t.Errorf("outcome = %s", res.Outcome)
	}
}

func TestDeployRetriesThrottlingWithTheSDKRetryer(t *testing.T) {
	stub := newAWSStub(t)
	calls := updateDeployCalls()
	// DescribeClusters is throttled twice before it answers; the SDK's retryer handles it.
	throttled := []*stubCall{
		fail("ecs.DescribeClusters", 400, "ThrottlingException", "Rate exceeded"),
		fail("ecs.DescribeClusters", 400, "ThrottlingException", "Rate exceeded"),
	}
	calls = append(calls[:1], append(throttled, calls[1:]...)...)
	stub.expect(calls...)
	stub.expect(ok("ecs.DescribeServices", describeServicesJSON(serviceJSON(tdARN2, 2, 2,
		deploymentJSON("ecs-svc/2", "PRIMARY", "COMPLETED", tdARN2, 2, 2, 0, ""), ""))))
	res, err := Run(ctxT(t, 10*time.Second), stubConfig(), stub.deps(t, &lockedBuffer{}), Options{})
	if err != nil {
		t.Fatalf("deploy with throttling: %v", err)
	}
	if res.Outcome != OutcomeDeployed || !res.Registered || res.TaskDefinitionARN != tdARN2 {
		t.Errorf("result = %+v", res)
	}
}

func TestDeployThrottlingBeyondRetriesSaysWhatToDo(t *testing.T) {
	stub := newAWSStub(t)
	stub.expect(preflightCalls()[0])
	for range 3 { // MaxAttempts in the stub's retryer
		stub.expect(fail("ecs.DescribeClusters", 400, "ThrottlingException", "Rate exceeded"))
	}
	stub.expect(preflightCalls()[2:]...)
	_, err := Run(ctxT(t, 10*time.Second), stubConfig(), stub.deps(t, &lockedBuffer{}), Options{})
	if err == nil || !strings.Contains(err.Error(), "kept throttling ecs:DescribeClusters") || !strings.Contains(err.Error(), "max_attempts") {
		t.Fatalf("err = %v", err)
	}
}

func TestDeployAccessDeniedNamesTheAction(t *testing.T) {
	stub := newAWSStub(t)
	calls := updateDeployCalls()
	// Replace RegisterTaskDefinition's answer and drop everything after it.
	for i, c := range calls {
		if c.op == "ecs.RegisterTaskDefinition" {
			calls = append(calls[:i], fail("ecs.RegisterTaskDefinition", 400, "AccessDeniedException",
				"User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ecs:RegisterTaskDefinition on resource: *"))
			break
		}
	}
	stub.expect(calls...)
	_, err := Run(ctxT(t, 10*time.Second), stubConfig(), stub.deps(t, &lockedBuffer{}), Options{})
	if !errors.Is(err, ErrAccessDenied) {
		t.Fatalf("err = %v, want ErrAccessDenied", err)
	}
	var ae *AWSError
	if !errors.As(err, &ae) || ae.Action != "ecs:RegisterTaskDefinition" {
		t.Fatalf("err = %#v, want an *AWSError for ecs:RegisterTaskDefinition", err)
	}
	if !strings.Contains(err.Error(), "missing IAM permission ecs:RegisterTaskDefinition") {
		t.Errorf("message does not say which permission: %v", err)
	}
}

func TestPreflightReportsAllProblemsAtOnce(t *testing.T) {
	stub := newAWSStub(t)
	stub.expect(
		preflightCalls()[0],
		ok("ecs.DescribeClusters", `{"clusters":[],"failures":[{"arn":"arn:aws:ecs:us-east-1:123456789012:cluster/facectl","reason":"MISSING"}]}`),
		ok("ec2.DescribeSubnets", `<DescribeSubnetsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r1</requestId><subnetSet><item><subnetId>subnet-0a</subnetId><vpcId>vpc-1</vpcId></item></subnetSet></DescribeSubnetsResponse>`),
		ok("ec2.DescribeSecurityGroups", `<DescribeSecurityGroupsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r1</requestId><securityGroupInfo></securityGroupInfo></DescribeSecurityGroupsResponse>`),
		ok("ec2.DescribeRouteTables", routeTablesXML(`<gatewayId>igw-1</gatewayId>`)),
		ok("ec2.DescribeVpcEndpoints", `<DescribeVpcEndpointsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r1</requestId><vpcEndpointSet/></DescribeVpcEndpointsResponse>`),
		fail("iam.GetRole", 404, "NoSuchEntity", "The role with name ecsTaskExecutionRole cannot be found."),
	)
	_, err := Run(ctxT(t, 10*time.Second), stubConfig(), stub.deps(t, &lockedBuffer{}), Options{})
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("err = %v, want ErrInvalidConfig", err)
	}
	for _, want := range []string{`cluster "facectl" is not an active cluster`, "subnet-0b not found", "sg-0a not found",
		"subnet-0a is a public subnet", "role arn:aws:iam::123456789012:role/ecsTaskExecutionRole does not exist"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("preflight error does not mention %q:\n%v", want, err)
		}
	}
}

// fakeDocker builds "images" of a fixed architecture and fails the test on login or push.
type fakeDocker struct {
	t      *testing.T
	arch   string
	builds []BuildOptions
}

func (f *fakeDocker) Build(_ context.Context, o BuildOptions) error {
	f.builds = append(f.builds, o)
	return nil
}

func (f *fakeDocker) Inspect(context.Context, string) (ImageInfo, error) {
	return ImageInfo{ID: "sha256:abc", OS: "linux", Architecture: f.arch}, nil
}

func (f *fakeDocker) Login(context.Context, string, string, string) error {
	f.t.Error("Login called for an image of the wrong architecture")
	return nil
}

func (f *fakeDocker) Push(context.Context, string) (string, error) {
	f.t.Error("Push called for an image of the wrong architecture")
	return "", nil
}

func TestDeployStopsOnArchitectureMismatch(t *testing.T) {
	stub := newAWSStub(t)
	stub.expect(preflightCalls()...)
	stub.expect(
		ok("ecr.DescribeRepositories", `{"repositories":[{"repositoryName":"facectl","repositoryUri":"123456789012.dkr.ecr.us-east-1.amazonaws.com/facectl"}]}`),
		ok("ecr.GetLifecyclePolicy", `{"repositoryName":"facectl","lifecyclePolicyText":"{}"}`),
	)
	cfg := stubConfig()
	cfg.Image.URI = ""
	cfg.Image.Tag = "abc123"
	cfg.Image.Platform = "linux/amd64"
	deps := stub.deps(t, &lockedBuffer{})
	docker := &fakeDocker{t: t, arch: "arm64"}
	deps.Docker = docker
	_, err := Run(ctxT(t, 10*time.Second), cfg, deps, Options{})
	if !errors.Is(err, ErrArchitectureMismatch) {
		t.Fatalf("err = %v, want ErrArchitectureMismatch", err)
	}
	if !strings.Contains(err.Error(), "is linux/arm64 but the task runs on linux/amd64") {
		t.Errorf("message = %v", err)
	}
	if len(docker.builds) != 1 || docker.builds[0].Platform != "linux/amd64" {
		t.Errorf("builds = %+v", docker.builds)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestMissingCredentialsSayWhatToDo(t *testing.T) {
	stub := newAWSStub(t) // expects no call: nothing is sent without credentials
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true") // never ask the instance metadata service here
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "")
	t.Setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "")
	t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "")
	cfg := stubConfig()
	cfg.EndpointURL = stub.srv.URL
	awsCfg, err := LoadAWSConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	deps := NewDeps(awsCfg)
	_, err = Run(ctxT(t, 10*time.Second), cfg, deps, Options{})
	if !errors.Is(err, ErrAccessDenied) || !strings.Contains(err.Error(), "no usable AWS credentials") {
		t.Fatalf("err = %v", err)
	}
}

func TestRollbackGoesToThePreviousRevisionWithoutTouchingTheCount(t *testing.T) {
	stub := newAWSStub(t)
	tdARN3 := strings.TrimSuffix(tdARN1, ":1") + ":3"
	stub.expect(
		ok("ecs.DescribeServices", describeServicesJSON(serviceJSON(tdARN3, 7, 7, deploymentJSON("ecs-svc/3", "PRIMARY", "COMPLETED", tdARN3, 7, 7, 0, ""), ""))),
		// Listed oldest first, as moto does whatever the sort asked: the code sorts.
		ok("ecs.ListTaskDefinitions", `{"taskDefinitionArns":["`+tdARN1+`","`+tdARN2+`","arn:aws:ecs:us-east-1:123456789012:task-definition/facectl-other:9","`+tdARN3+`"]}`),
		// Untagged (registered before facectl tagged revisions) in the service's own family.
		ok("ecs.DescribeTaskDefinition", taskDefJSON(tdARN2, oldImage, "")),
		ok("ecr.DescribeImages", imageDetailsJSON(oldImage)),
		&stubCall{op: "ecs.UpdateService", status: 200,
			body: `{"service":` + serviceJSON(tdARN2, 7, 7, deploymentJSON("ecs-svc/4", "PRIMARY", "IN_PROGRESS", tdARN2, 7, 0, 0, "")+","+deploymentJSON("ecs-svc/3", "ACTIVE", "COMPLETED", tdARN3, 7, 7, 0, ""), "") + `}`,
			check: func(t *testing.T, body string) {
				if strings.Contains(body, "desiredCount") || !strings.Contains(body, tdARN2) {
					t.Errorf("rollback UpdateService body = %s", body)
				}
			}},
		ok("ecs.DescribeServices", describeServicesJSON(serviceJSON(tdARN2, 7, 7, deploymentJSON("ecs-svc/4", "PRIMARY", "COMPLETED", tdARN2, 7, 7, 0, ""), ""))),
	)
	cfg := Config{Cluster: "facectl", Service: "facectl", Wait: WaitConfig{Timeout: 5 * time.Second, PollInterval: time.Millisecond}}
	stub.coverWithPolicy(cfg)
	d, err := Open(cfg, stub.deps(t, &lockedBuffer{}))
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.Rollback(ctxT(t, 10*time.Second), RollbackOptions{})
	if err != nil || res.TaskDefinitionARN != tdARN2 || res.Outcome != OutcomeDeployed || res.Image != oldImage {
		t.Fatalf("rollback = %+v, %v", res, err)
	}
}

// TestRollbackStaysInTheServicesOwnHistory: web and stage share a family; web's rollback
// skips stage's newer revision and lands on web's own.
func TestRollbackStaysInTheServicesOwnHistory(t *testing.T) {
	stub := newAWSStub(t)
	rev := func(n int) string { return strings.TrimSuffix(tdARN1, ":1") + ":" + strconv.Itoa(n) }
	stub.expect(
		ok("ecs.DescribeServices", describeServicesJSON(serviceJSON(rev(4), 2, 2, deploymentJSON("ecs-svc/4", "PRIMARY", "COMPLETED", rev(4), 2, 2, 0, ""), ""))),
		ok("ecs.ListTaskDefinitions", `{"taskDefinitionArns":["`+rev(2)+`","`+rev(3)+`"],"nextToken":"p2"}`),
		ok("ecs.ListTaskDefinitions", `{"taskDefinitionArns":["`+rev(1)+`","`+rev(4)+`"]}`),
		ok("ecs.DescribeTaskDefinition", taggedTaskDefJSON(rev(3), newImage, "facectl", "stage")),
		ok("ecs.DescribeTaskDefinition", taggedTaskDefJSON(rev(2), oldImage, "facectl", "web")),
		ok("ecr.DescribeImages", imageDetailsJSON(oldImage)),
		&stubCall{op: "ecs.UpdateService", status: 200, body: `{"service":` + serviceJSON(rev(2), 2, 2, deploymentJSON("ecs-svc/5", "PRIMARY", "IN_PROGRESS", rev(2), 2, 0, 0, ""), "") + `}`,
			check: func(t *testing.T, body string) {
				if !strings.Contains(body, rev(2)) || !strings.Contains(body, `"service":"web"`) {
					t.Errorf("rollback UpdateService body = %s", body)
				}
			}},
	)
	cfg := Config{Cluster: "facectl", Service: "web", Wait: WaitConfig{PollInterval: time.Millisecond}}
	stub.coverWithPolicy(cfg)
	var out lockedBuffer
	d, err := Open(cfg, stub.deps(t, &out))
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.Rollback(ctxT(t, 10*time.Second), RollbackOptions{})
	if err != nil || res.TaskDefinitionARN != rev(2) || res.Image != oldImage || res.Outcome != OutcomeNotWaited {
		t.Fatalf("rollback = %+v, %v", res, err)
	}

	// --revision of another service's revision is refused.
	stub.expect(
		ok("ecs.DescribeServices", describeServicesJSON(serviceJSON(rev(4), 2, 2, deploymentJSON("ecs-svc/4", "PRIMARY", "COMPLETED", rev(4), 2, 2, 0, ""), ""))),
		ok("ecs.DescribeTaskDefinition", taggedTaskDefJSON(rev(3), newImage, "facectl", "stage")),
	)
	if _, err := d.Rollback(ctxT(t, 10*time.Second), RollbackOptions{Revision: 3}); err == nil || !strings.Contains(err.Error(), "registered for service stage") {
		t.Fatalf("rollback to stage's revision: %v", err)
	}
}

func TestRollbackRefusesWhenTheImageIsGone(t *testing.T) {
	stub := newAWSStub(t)
	stub.expect(
		ok("ecs.DescribeServices", describeServicesJSON(serviceJSON(tdARN2, 2, 2, deploymentJSON("ecs-svc/2", "PRIMARY", "COMPLETED", tdARN2, 2, 2, 0, ""), ""))),
		ok("ecs.ListTaskDefinitions", `{"taskDefinitionArns":["`+tdARN1+`","`+tdARN2+`"]}`),
		ok("ecs.DescribeTaskDefinition", taggedTaskDefJSON(tdARN1, oldImage, "facectl", "facectl")),
		fail("ecr.DescribeImages", 400, "ImageNotFoundException", "The image with imageId {imageDigest:'sha256:1111'} does not exist within the repository with name 'facectl'"),
	)
	cfg := Config{Cluster: "facectl", Service: "facectl", Wait: WaitConfig{Timeout: time.Second, PollInterval: time.Millisecond}}
	d, err := Open(cfg, stub.deps(t, &lockedBuffer{}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Rollback(ctxT(t, 10*time.Second), RollbackOptions{})
	if err == nil || !strings.Contains(err.Error(), "is no longer in ECR") || !strings.Contains(err.Error(), oldImage) {
		t.Fatalf("err = %v", err)
	}
}

func TestRollbackWithoutAnEarlierRevision(t *testing.T) {
	stub := newAWSStub(t)
	stub.expect(
		ok("ecs.DescribeServices", describeServicesJSON(serviceJSON(tdARN1, 2, 2, deploymentJSON("ecs-svc/1", "PRIMARY", "COMPLETED", tdARN1, 2, 2, 0, ""), ""))),
		ok("ecs.ListTaskDefinitions", `{"taskDefinitionArns":["`+tdARN1+`"]}`),
	)
	d, err := Open(Config{Cluster: "facectl", Service: "facectl", Wait: WaitConfig{Timeout: time.Second, PollInterval: time.Millisecond}}, stub.deps(t, &lockedBuffer{}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Rollback(ctxT(t, 10*time.Second), RollbackOptions{}); !errors.Is(err, ErrNoPreviousRevision) {
		t.Fatalf("err = %v, want ErrNoPreviousRevision", err)
	}
}

// TestThrottlingDuringTheWaitIsRetried: DescribeServices throttled beyond the SDK's retries
// does not end the wait; the next look sees the deployment complete.
func TestThrottlingDuringTheWaitIsRetried(t *testing.T) {
	stub := newAWSStub(t)
	stub.expect(updateDeployCalls()...)
	for range 3 { // the SDK's attempts, then facectl's next poll
		stub.expect(fail("ecs.DescribeServices", 400, "ThrottlingException", "Rate exceeded"))
	}
	stub.expect(fail("ecs.DescribeServices", 500, "ServerException", "internal error"))
	stub.expect(ok("ecs.DescribeServices", describeServicesJSON(serviceJSON(tdARN2, 2, 2,
		deploymentJSON("ecs-svc/2", "PRIMARY", "COMPLETED", tdARN2, 2, 2, 0, ""), ""))))
	cfg := stubConfig()
	stub.coverWithPolicy(cfg)
	res, err := Run(ctxT(t, 10*time.Second), cfg, stub.deps(t, &lockedBuffer{}), Options{})
	if err != nil || res.Outcome != OutcomeDeployed {
		t.Fatalf("deploy = %+v, %v", res, err)
	}
}

// TestThrottlingUntilTheTimeoutSaysTheStateIsUnknown: when the service could not be read at
// the end, the timeout says so rather than reporting a stale state as the current one.
func TestThrottlingUntilTheTimeoutSaysTheStateIsUnknown(t *testing.T) {
	stub := newAWSStub(t)
	stub.expect(updateDeployCalls()...)
	stub.expect(
		ok("ecs.DescribeServices", describeServicesJSON(serviceJSON(tdARN2, 2, 1,
			deploymentJSON("ecs-svc/2", "PRIMARY", "IN_PROGRESS", tdARN2, 2, 1, 0, "")+","+deploymentJSON("ecs-svc/1", "ACTIVE", "COMPLETED", tdARN1, 2, 2, 0, ""), ""))),
		&stubCall{op: "ecs.DescribeServices", status: 400, body: "ERROR ThrottlingException Rate exceeded", repeat: true},
		ok("ecs.ListTasks", `{"taskArns":[]}`),
	)
	cfg := stubConfig()
	cfg.Wait.Timeout = 200 * time.Millisecond
	cfg.Wait.PollInterval = 10 * time.Millisecond
	_, err := Run(ctxT(t, 10*time.Second), cfg, stub.deps(t, &lockedBuffer{}), Options{})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	for _, want := range []string{"state is unknown", "ThrottlingException", "before that it was: 2 deployments; new one IN_PROGRESS, 1/2 running"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("timeout does not say %q:\n%v", want, err)
		}
	}
}

// TestAccessDeniedDuringTheWaitStopsAtOnce: a permission error will not go away by waiting.
func TestAccessDeniedDuringTheWaitStopsAtOnce(t *testing.T) {
	stub := newAWSStub(t)
	stub.expect(updateDeployCalls()...)
	stub.expect(fail("ecs.DescribeServices", 400, "AccessDeniedException", "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ecs:DescribeServices"))
	_, err := Run(ctxT(t, 10*time.Second), stubConfig(), stub.deps(t, &lockedBuffer{}), Options{})
	if !errors.Is(err, ErrAccessDenied) || !strings.Contains(err.Error(), "state is unknown") {
		t.Fatalf("err = %v", err)
	}
}

// pushingDocker builds and pushes nothing, answering like docker for an amd64 image.
type pushingDocker struct{ digest string }

func (p *pushingDocker) Build(context.Context, BuildOptions) error { return nil }
func (p *pushingDocker) Inspect(context.Context, string) (ImageInfo, error) {
	return ImageInfo{OS: "linux", Architecture: "amd64"}, nil
}
func (p *pushingDocker) Login(context.Context, string, string, string) error { return nil }
func (p *pushingDocker) Push(context.Context, string) (string, error)        { return p.digest, nil }
