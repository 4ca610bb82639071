package deploy

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/smithy-go"
)

// creatingStacks is a CloudFormation whose stacks stay CREATE_IN_PROGRESS, as a load
// balancer's does for minutes on AWS. Calls other than these panic (the embedded nil).
type creatingStacks struct {
	CFNAPI
	mu      sync.Mutex
	created []string
	deleted bool
}

func (c *creatingStacks) DescribeStacks(_ context.Context, in *cloudformation.DescribeStacksInput, _ ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range c.created {
		if id == aws.ToString(in.StackName) {
			return &cloudformation.DescribeStacksOutput{Stacks: []cfntypes.Stack{{StackId: aws.String(id), StackName: in.StackName, StackStatus: cfntypes.StackStatusCreateInProgress}}}, nil
		}
	}
	return nil, &smithy.GenericAPIError{Code: "ValidationError", Message: "Stack with id " + aws.ToString(in.StackName) + " does not exist"}
}

func (c *creatingStacks) CreateStack(_ context.Context, in *cloudformation.CreateStackInput, _ ...func(*cloudformation.Options)) (*cloudformation.CreateStackOutput, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := "arn:aws:cloudformation:us-east-1:123456789012:stack/" + aws.ToString(in.StackName) + "/1"
	c.created = append(c.created, id)
	return &cloudformation.CreateStackOutput{StackId: aws.String(id)}, nil
}

func (c *creatingStacks) DeleteStack(context.Context, *cloudformation.DeleteStackInput, ...func(*cloudformation.Options)) (*cloudformation.DeleteStackOutput, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deleted = true
	return &cloudformation.DeleteStackOutput{}, nil
}

// failingBuild is a docker whose build fails at once (a syntax error in the Dockerfile).
type failingBuild struct{ *pushingDocker }

func (failingBuild) Build(context.Context, BuildOptions) error {
	return errors.New("docker build: Dockerfile:3: unknown instruction: RUNN")
}

// TestBuildFailureDoesNotWaitForTheStacks: the image build fails while the first stack is
// still being created. The deploy reports the build error at once instead of waiting for the
// stack (up to half an hour), leaves the stack to CloudFormation (no delete: a stack cancelled
// mid-create would be left for the next deploy to clean up), and says so.
func TestBuildFailureDoesNotWaitForTheStacks(t *testing.T) {
	stub := newAWSStub(t)
	stub.expect(managedPreflightCalls()...)
	stub.expect(
		ok("logs.DescribeLogGroups", `{"logGroups":[]}`),
	)
	stub.expect(boundaryCreated()...)
	stub.expect(
		ok("ecr.DescribeRepositories", `{"repositories":[{"repositoryName":"facectl","repositoryUri":"123456789012.dkr.ecr.us-east-1.amazonaws.com/facectl"}]}`),
		ok("ecr.GetLifecyclePolicy", `{"repositoryName":"facectl","lifecyclePolicyText":"{}"}`),
	)
	cfg := DefaultConfig()
	cfg.Region = "us-east-1"
	cfg.Image.Tag = "abc123"
	cfg.Wait.PollInterval = 5 * time.Millisecond
	deps := stub.deps(t, &lockedBuffer{})
	var log lockedBuffer
	deps.Log = slog.New(slog.NewTextHandler(&log, nil))
	stacks := &creatingStacks{}
	deps.CFN = stacks
	deps.Docker = failingBuild{&pushingDocker{}}
	start := time.Now()
	res, err := Run(ctxT(t, 10*time.Second), cfg, deps, Options{})
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the deploy took %v after the build failed", took)
	}
	if err == nil || !strings.Contains(err.Error(), "unknown instruction: RUNN") || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want the build error alone", err)
	}
	if res.Outcome != OutcomeFailed {
		t.Errorf("outcome = %v", res.Outcome)
	}
	stacks.mu.Lock()
	defer stacks.mu.Unlock()
	if len(stacks.created) != 1 || stacks.deleted {
		t.Errorf("stacks created %v, deleted %v: want the cluster stack created and left to CloudFormation", stacks.created, stacks.deleted)
	}
	if !strings.Contains(log.String(), "CloudFormation carries on") {
		t.Errorf("the user is not told the stack carries on:\n%s", log.String())
	}
}
