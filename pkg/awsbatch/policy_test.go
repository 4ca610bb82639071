package awsbatch

import (
	"strings"
	"testing"

	"github.com/facectl/facectl/pkg/s3io"
)

// TestPolicyCannotCreateRoles: facectl batch policy never lets its holder create a role or
// write a role's policy (with both, a role could trust them and grant anything); passing the
// stack's roles is only to Batch and ECS tasks, and no IAM action is granted on every resource.
func TestPolicyCannotCreateRoles(t *testing.T) {
	in, _ := s3io.Parse("s3://photos/raw/")
	out, _ := s3io.Parse("s3://photos-blurred/")
	for _, p := range []string{Policy(DefaultConfig(), nil, nil).JSON(), Policy(DefaultConfig(), []s3io.URL{in}, []s3io.URL{out}).JSON()} {
		for _, a := range append(AdminActions, "iam:PutRolePermissionsBoundary", "iam:UpdateAssumeRolePolicy", "iam:CreatePolicy", "iam:CreatePolicyVersion", "iam:*") {
			if strings.Contains(p, `"`+a+`"`) {
				t.Errorf("the batch policy grants %s:\n%s", a, p)
			}
		}
	}
	pol := Policy(DefaultConfig(), nil, nil)
	for _, a := range AdminActions {
		if pol.Allows(a) {
			t.Errorf("allows %s", a)
		}
	}
	for _, s := range pol.Statement {
		for _, a := range s.Action {
			if strings.HasPrefix(a, "iam:") && len(s.Resource) == 1 && s.Resource[0] == "*" {
				t.Errorf("statement %s grants %s on every resource", s.Sid, a)
			}
			if a == "iam:PassRole" && s.Condition["StringEquals"]["iam:PassedToService"] == nil {
				t.Errorf("statement %s passes roles to any service", s.Sid)
			}
		}
	}
}
