package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

const ecsTasksPrincipal = "ecs-tasks.amazonaws.com"

// checkRoles checks that the execution role (and the task role, when set) exists and lets
// ECS tasks assume it, as ecspresso's verify does. Without it, tasks fail at start with an
// error about assuming the role, long after the deploy looked fine.
func (r *run) checkRoles(ctx context.Context) error {
	var errs []error
	for _, role := range []struct{ key, arn string }{
		{"deploy.task.execution_role_arn", r.cfg.Task.ExecutionRoleARN},
		{"deploy.task.task_role_arn", r.cfg.Task.TaskRoleARN},
	} {
		if role.arn == "" {
			continue
		}
		if err := r.checkRole(ctx, role.key, role.arn); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (r *run) checkRole(ctx context.Context, key, arn string) error {
	_, name, _ := roleARNParts(arn)
	return r.checkTrust(ctx, key, arn, ecsTasksPrincipal, fmt.Sprintf("create it with the trust policy for %s and AmazonECSTaskExecutionRolePolicy "+
		"(aws iam create-role --role-name %s --assume-role-policy-document '{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"Service\":\"%s\"},\"Action\":\"sts:AssumeRole\"}]}')",
		ecsTasksPrincipal, name, ecsTasksPrincipal))
}

// checkTrust checks that the role exists and trusts principal (ifMissing says what to do when
// it does not exist): a role that does not fails the tasks, the Express service's creation or
// its deployments, long after the deploy looked fine.
func (r *run) checkTrust(ctx context.Context, key, arn, principal, ifMissing string) error {
	account, name, ok := roleARNParts(arn)
	if !ok {
		return fmt.Errorf("%s: %q is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)", key, arn)
	}
	if account != r.account {
		r.log.Warn("cannot check a role of another account: make sure it trusts "+principal, "role", arn)
		return nil
	}
	out, err := r.deps.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
	var noSuch *iamtypes.NoSuchEntityException
	switch {
	case errors.As(err, &noSuch):
		return fmt.Errorf("%s: role %s does not exist: %s", key, arn, ifMissing)
	case err != nil:
		return fmt.Errorf("%s: reading role %s: %w", key, name, explain(err))
	}
	if !trustsService(aws.ToString(out.Role.AssumeRolePolicyDocument), principal) {
		return fmt.Errorf("%s: role %s does not trust %s, so ECS cannot use it: "+
			"add a statement {\"Effect\":\"Allow\",\"Principal\":{\"Service\":\"%s\"},\"Action\":\"sts:AssumeRole\"} to its trust policy (aws iam update-assume-role-policy --role-name %s)",
			key, arn, principal, principal, name)
	}
	return nil
}

// roleARNParts splits arn:aws:iam::123456789012:role/path/name into its account and name.
func roleARNParts(arn string) (account, name string, ok bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[2] != "iam" || !strings.HasPrefix(parts[5], "role/") {
		return "", "", false
	}
	res := parts[5]
	return parts[4], res[strings.LastIndex(res, "/")+1:], true
}

// trustsECSTasks reports whether a trust policy (URL-encoded, as IAM returns it, or plain JSON)
// allows ecs-tasks.amazonaws.com to call sts:AssumeRole.
func trustsECSTasks(doc string) bool { return trustsService(doc, ecsTasksPrincipal) }

// trustsService reports whether a trust policy allows the service principal to call
// sts:AssumeRole.
func trustsService(doc, service string) bool {
	if dec, err := url.QueryUnescape(doc); err == nil {
		doc = dec
	}
	var p struct {
		Statement json.RawMessage
	}
	if json.Unmarshal([]byte(doc), &p) != nil {
		return false
	}
	type statement struct {
		Effect    string
		Principal json.RawMessage
		Action    json.RawMessage
	}
	var stmts []statement
	if json.Unmarshal(p.Statement, &stmts) != nil {
		var one statement
		if json.Unmarshal(p.Statement, &one) != nil {
			return false
		}
		stmts = []statement{one}
	}
	for _, s := range stmts {
		if s.Effect != "Allow" {
			continue
		}
		var principal struct{ Service json.RawMessage }
		if json.Unmarshal(s.Principal, &principal) != nil || !containsJSON(principal.Service, service) {
			continue
		}
		if containsJSON(s.Action, "sts:AssumeRole") || containsJSON(s.Action, "sts:*") || containsJSON(s.Action, "*") {
			return true
		}
	}
	return false
}

// containsJSON reports whether raw, a JSON string or list of strings, holds want.
func containsJSON(raw json.RawMessage, want string) bool {
	var list []string
	if json.Unmarshal(raw, &list) != nil {
		var one string
		if json.Unmarshal(raw, &one) != nil {
			return false
		}
		list = []string{one}
	}
	for _, v := range list {
		if v == want {
			return true
		}
	}
	return false
}
