package deploy

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// replaceCall swaps the scripted call op for calls (nil calls drops it, and everything after
// it when cut is true).
func replaceCall(script []*stubCall, op string, cut bool, calls ...*stubCall) []*stubCall {
	for i, c := range script {
		if c.op == op {
			rest := append([]*stubCall(nil), script[i+1:]...)
			out := append(script[:i:i], calls...)
			if !cut {
				out = append(out, rest...)
			}
			return out
		}
	}
	panic("no scripted call " + op)
}

func completedWait() *stubCall {
	return ok("ecs.DescribeServices", describeServicesJSON(serviceJSON(tdARN2, 2, 2,
		deploymentJSON("ecs-svc/2", "PRIMARY", "COMPLETED", tdARN2, 2, 2, 0, ""), "")))
}

func TestRetentionZeroRemovesAnExistingRetention(t *testing.T) {
	stub := newAWSStub(t)
	stub.expect(replaceCall(updateDeployCalls(), "logs.DescribeLogGroups", false,
		ok("logs.DescribeLogGroups", `{"logGroups":[{"logGroupName":"/ecs/facectl","retentionInDays":30}]}`),
		&stubCall{op: "logs.DeleteRetentionPolicy", status: 200, body: `{}`, check: func(t *testing.T, body string) {
			if !strings.Contains(body, `"logGroupName":"/ecs/facectl"`) {
				t.Errorf("DeleteRetentionPolicy body = %s", body)
			}
		}})...)
	stub.expect(completedWait())
	cfg := stubConfig()
	cfg.Logs.RetentionDays = 0
	stub.coverWithPolicy(cfg)
	res, err := Run(ctxT(t, 10*time.Second), cfg, stub.deps(t, &lockedBuffer{}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a := res.Actions[1]; a.Resource != "log group" || a.Detail != "retention 30 days -> never expire" {
		t.Errorf("log group action = %+v", a)
	}
}

func TestGitErrorsKeepGitsMessage(t *testing.T) {
	_, err := GitShortSHA(t.Context(), t.TempDir())
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "not a git repository") {
		t.Fatalf("err = %v, want git's own message", err)
	}
}

func TestDryRunWithoutAGitRepositoryShowsTagDev(t *testing.T) {
	stub := newAWSStub(t)
	stub.expect(preflightCalls()...)
	stub.expect(
		ok("ecr.DescribeRepositories", `{"repositories":[{"repositoryName":"facectl","repositoryUri":"123456789012.dkr.ecr.us-east-1.amazonaws.com/facectl"}]}`),
		ok("ecr.GetLifecyclePolicy", `{"repositoryName":"facectl","lifecyclePolicyText":"{\"rules\":[]}"}`),
		fail("ecr.DescribeImages", 400, "ImageNotFoundException", "no such image"),
		ok("logs.DescribeLogGroups", `{"logGroups":[{"logGroupName":"/ecs/facectl","retentionInDays":30}]}`),
		ok("ecs.DescribeServices", `{"services":[],"failures":[{"arn":"x","reason":"MISSING"}]}`),
		fail("ecs.DescribeTaskDefinition", 400, "ClientException", "Unable to describe task definition."),
		ok("application-autoscaling.DescribeScalableTargets", `{"scalableTargets":[]}`),
	)
	cfg := stubConfig()
	cfg.Image.URI = ""
	deps := stub.deps(t, &lockedBuffer{})
	deps.GitTag = GitShortSHA
	cfg.Image.Context = t.TempDir() // not a git repository
	stub.coverWithPolicy(cfg)
	res, err := Run(ctxT(t, 10*time.Second), cfg, deps, Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != OutcomePlanned || !strings.HasSuffix(res.Image, "/facectl:dev") {
		t.Errorf("dry run = %+v", res)
	}
}

func TestStatusJSONHasEmptyLists(t *testing.T) {
	stub := newAWSStub(t)
	svc := serviceJSON(tdARN1, 0, 0, "", "")
	stub.expect(
		ok("ecs.DescribeServices", describeServicesJSON(svc)),
		cfnMissing("cloudformation.DescribeStacks"),
		ok("application-autoscaling.DescribeScalableTargets", `{"scalableTargets":[]}`),
	)
	d, err := Open(Config{Cluster: "facectl", Service: "facectl", Wait: WaitConfig{PollInterval: time.Second}}, stub.deps(t, &lockedBuffer{}))
	if err != nil {
		t.Fatal(err)
	}
	st, err := d.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(st)
	for _, want := range []string{`"events":[]`, `"deployments":[]`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("status JSON lacks %s: %s", want, b)
		}
	}
}

// An ECS ClientException that is not "not found" is an error, not a missing task definition.
func TestOtherClientExceptionsAreNotNotFound(t *testing.T) {
	stub := newAWSStub(t)
	stub.expect(replaceCall(updateDeployCalls(), "ecs.DescribeTaskDefinition", true,
		ok("ecs.DescribeTaskDefinition", taskDefJSON(tdARN1, oldImage, "")),
		fail("ecs.DescribeTaskDefinition", 400, "ClientException", "Family facectl belongs to another account"))...)
	_, err := Run(ctxT(t, 10*time.Second), stubConfig(), stub.deps(t, &lockedBuffer{}), Options{})
	if err == nil || !strings.Contains(err.Error(), "describing task definition family facectl") || !strings.Contains(err.Error(), "another account") {
		t.Fatalf("err = %v", err)
	}
	if !isNotFound(fmt.Errorf("wrapped: %w", &ecstypes.ClientException{Message: aws.String("Unable to describe task definition.")})) {
		t.Error("ECS's not-found answer is not recognised")
	}
}
