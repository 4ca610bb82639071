package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/smithy-go"
)

// AWS's control planes are eventually consistent: right after a create or update, another
// service (or another read of the same one) may not see it yet. The SDK's retryer already
// repeats throttled calls and server faults (up to deploy.max_attempts); what it cannot know
// is when a client error only means "not yet". Those answers are retried here, with backoff,
// for at most consistencyWindow.
// ECS ("The Amazon ECS API follows an eventual consistency model"):
// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateService.html;
// Application Auto Scaling's "ECS service doesn't exist" right after CreateService is the case
// Terraform retries too (hashicorp/terraform-provider-aws#11693); IAM:
// https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency
const consistencyWindow = 2 * time.Minute

// consistencyBackoff is the first delay between tries and its cap: the poll interval (at most
// a second) doubling to 16 times that, so tests with a tiny poll interval never wait.
func (d *Deployer) consistencyBackoff() (time.Duration, time.Duration) {
	first := min(d.cfg.Wait.PollInterval, time.Second)
	if first <= 0 {
		first = time.Second
	}
	return first, 16 * first
}

// untilConsistent calls fn until it succeeds, fails with an error notYet does not recognise,
// or consistencyWindow has passed; it returns fn's last error.
func (d *Deployer) untilConsistent(ctx context.Context, what string, notYet func(error) bool, fn func(context.Context) error) error {
	delay, ceiling := d.consistencyBackoff()
	deadline := time.Now().Add(consistencyWindow)
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil || !notYet(err) || time.Now().Add(delay).After(deadline) {
			return err
		}
		d.log.Info("AWS does not show the change yet (eventual consistency): trying again", "call", what, "attempt", attempt, "in", delay, "err", explain(err))
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (while retrying after: %w)", ctx.Err(), err)
		case <-t.C:
		}
		delay = min(2*delay, ceiling)
	}
}

// apiError returns the AWS error code and message of err, if it is an AWS API error.
func apiError(err error) (code, msg string, ok bool) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode(), ae.ErrorMessage(), true
	}
	return "", "", false
}

// scalingServiceNotYet is Application Auto Scaling's answer for an ECS service it does not
// see yet: "ValidationException: ECS service doesn't exist: service/<cluster>/<service>".
func scalingServiceNotYet(err error) bool {
	code, msg, ok := apiError(err)
	return ok && code == "ValidationException" && strings.Contains(msg, "doesn't exist")
}

// createServiceNotYet is ECS's answer to CreateService while a resource created just before
// is not visible to it: the target group's listener ("does not have an associated load
// balancer") or the service-linked role / execution role ("Unable to assume role").
func createServiceNotYet(err error) bool {
	code, msg, ok := apiError(err)
	if !ok || code != "InvalidParameterException" {
		return false
	}
	msg = strings.ToLower(msg)
	return strings.Contains(msg, "does not have an associated load balancer") || strings.Contains(msg, "unable to assume")
}

// changeSetNotYet is CloudFormation's answer for a change set it has just accepted but does
// not show yet.
func changeSetNotYet(err error) bool {
	code, _, ok := apiError(err)
	return ok && code == "ChangeSetNotFound"
}

// pollFailure decides what a polling loop does with a failed look: keep polling (nil) when
// the failure is transient (throttling that outlasted the SDK's retries, a server fault, a
// network error) and the loop's own deadline has not passed, else give up with the error.
func pollFailure(ctx context.Context, err error) error {
	if ctx.Err() != nil || !transient(err) {
		return err
	}
	return nil
}
