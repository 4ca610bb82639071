package deploy

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/smithy-go"
)

// Sentinel errors for the outcomes a caller branches on (exit codes, retries in CI).
var (
	// ErrInvalidConfig wraps configuration and preflight problems.
	ErrInvalidConfig = errors.New("invalid deploy configuration")
	// ErrRolledBack means ECS's circuit breaker rolled the deployment back, or the service ended
	// on another task definition than the one deployed.
	ErrRolledBack = errors.New("deployment rolled back")
	// ErrDeploymentFailed means the deployment's rollout state became FAILED.
	ErrDeploymentFailed = errors.New("deployment failed")
	// ErrTimeout means the service did not become stable within the wait timeout.
	ErrTimeout = errors.New("timed out waiting for the service to become stable")
	// ErrArchitectureMismatch means the built image cannot run on the task's platform.
	ErrArchitectureMismatch = errors.New("image architecture does not match the task platform")
	// ErrAccessDenied means an AWS call was refused for missing permissions or bad credentials.
	ErrAccessDenied = errors.New("access denied")
	// ErrServiceNotFound means status or rollback found no such service.
	ErrServiceNotFound = errors.New("service not found")
	// ErrNoPreviousRevision means rollback found nothing to roll back to.
	ErrNoPreviousRevision = errors.New("no previous task definition revision")
	// ErrStackFailed means a CloudFormation stack of the environment failed to create, update
	// or delete; the error names the failing resource and CloudFormation's reason.
	ErrStackFailed = errors.New("environment stack failed")
)

// AWSError is an AWS API error with the IAM action that was called and advice on what to do.
type AWSError struct {
	// Action is the IAM action of the failed call, e.g. ecs:UpdateService.
	Action string
	// Code is the AWS error code.
	Code string
	// Hint says what to do about it.
	Hint string
	// Err is the SDK error.
	Err error
}

// Error implements error.
func (e *AWSError) Error() string {
	if e.Hint == "" {
		return e.Err.Error()
	}
	return e.Hint + ": " + e.Err.Error()
}

// Unwrap returns the SDK error.
func (e *AWSError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrAccessDenied) true for permission and credential errors.
func (e *AWSError) Is(target error) bool {
	return target == ErrAccessDenied && (isAccessDenied(e.Code) || isBadCredentials(e.Code) || e.Code == "NoCredentials")
}

// iamPrefix maps SDK service IDs to IAM action prefixes.
var iamPrefix = map[string]string{
	"ECS":                       "ecs",
	"ECR":                       "ecr",
	"STS":                       "sts",
	"EC2":                       "ec2",
	"Elastic Load Balancing v2": "elasticloadbalancing",
	"Application Auto Scaling":  "application-autoscaling",
	"CloudWatch Logs":           "logs",
	"IAM":                       "iam",
	"CloudFormation":            "cloudformation",
}

func isAccessDenied(code string) bool {
	switch code {
	case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedException", "AuthorizationError":
		return true
	}
	return false
}

func isBadCredentials(code string) bool {
	switch code {
	case "ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException",
		"SignatureDoesNotMatch", "InvalidSignatureException", "MissingAuthenticationToken", "AuthFailure":
		return true
	}
	return false
}

func isThrottle(code string) bool {
	switch code {
	case "Throttling", "ThrottlingException", "ThrottledException", "RequestLimitExceeded",
		"TooManyRequestsException", "RequestThrottled", "RequestThrottledException", "SlowDown":
		return true
	}
	return false
}

// deniedActionRE finds the action in "User: arn:... is not authorized to perform: iam:PassRole on
// resource: ..." (and "... to perform: ecr:InitiateLayerUpload because ...").
var deniedActionRE = regexp.MustCompile(`not authorized to perform:? ([a-zA-Z0-9-]+:[A-Za-z0-9]+)`)

// DeniedAction returns the IAM action an "access denied" message names, e.g. from docker push
// output; "" when it names none.
func DeniedAction(msg string) string {
	if m := deniedActionRE.FindStringSubmatch(msg); m != nil {
		return m[1]
	}
	return ""
}

// explain turns an AWS SDK error into an *AWSError saying what to do; other errors pass through.
func explain(err error) error {
	if err == nil {
		return nil
	}
	var ae *AWSError
	if errors.As(err, &ae) {
		return err
	}
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		if msg := err.Error(); strings.Contains(msg, "get credentials") || strings.Contains(msg, "get identity") {
			return &AWSError{Code: "NoCredentials", Err: err,
				Hint: "no usable AWS credentials: set AWS_PROFILE or deploy.profile, run aws sso login, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"}
		}
		return err
	}
	action := ""
	var opErr *smithy.OperationError
	if errors.As(err, &opErr) {
		prefix := iamPrefix[opErr.ServiceID]
		if prefix == "" {
			prefix = strings.ToLower(opErr.ServiceID)
		}
		action = prefix + ":" + opErr.OperationName
	}
	code := apiErr.ErrorCode()
	msg := apiErr.ErrorMessage()
	// The action refused is not always the one called: RegisterTaskDefinition is refused for
	// iam:PassRole, a tagged create for ecs:TagResource. AWS names it in the message.
	if m := deniedActionRE.FindStringSubmatch(msg); m != nil && isAccessDenied(code) {
		action = m[1]
	}
	out := &AWSError{Action: action, Code: code, Err: err}
	switch {
	case isAccessDenied(code):
		out.Hint = fmt.Sprintf("missing IAM permission %s for the caller: grant it (facectl deploy policy prints the policy this configuration needs)", action)
	case isBadCredentials(code):
		out.Hint = "AWS credentials are missing, invalid or expired: refresh them (aws sso login, AWS_PROFILE, or new keys)"
	case isThrottle(code):
		out.Hint = fmt.Sprintf("AWS kept throttling %s after the SDK's retries: try again later or raise deploy.max_attempts", action)
	case code == "ClusterNotFoundException":
		out.Hint = "the ECS cluster does not exist: create it or fix deploy.cluster"
	case code == "InvalidSubnetID.NotFound":
		out.Hint = "a subnet in deploy.network.subnets does not exist in this region/account"
	case code == "InvalidGroup.NotFound":
		out.Hint = "a security group in deploy.network.security_groups does not exist in this region/account"
	case code == "TargetGroupNotFound":
		out.Hint = "deploy.load_balancer.target_group_arn does not exist in this region/account"
	case strings.Contains(msg, "assume role") || strings.Contains(msg, "PassRole"):
		out.Hint = "check deploy.task.execution_role_arn and task_role_arn: the roles must exist and trust ecs-tasks.amazonaws.com, and the caller needs iam:PassRole on them"
	}
	return out
}
