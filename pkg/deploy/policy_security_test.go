package deploy

import (
	"encoding/json"
	"strings"
	"testing"
)

// policyVariants are the configurations whose policies differ: managed (ALB, HTTPS, NLB, TLS,
// secrets with a KMS key, own execution role), bring-your-own network, prebuilt image, no
// auto scaling, and the two other partitions.
func policyVariants() map[string]Config {
	base := func(edit func(*Config)) Config {
		c := DefaultConfig()
		c.Region = "us-east-1"
		c.Service = "web"
		edit(&c)
		return c
	}
	cert := "arn:aws:acm:us-east-1:123456789012:certificate/abc"
	return map[string]Config{
		"managed":       base(func(*Config) {}),
		"managed https": base(func(c *Config) { c.LoadBalancer.CertificateARN = cert }),
		"managed nlb tls": base(func(c *Config) {
			c.LoadBalancer.Type, c.LoadBalancer.CertificateARN = "network", cert
		}),
		"managed secrets": base(func(c *Config) {
			c.Task.Secrets = []Secret{{Name: "A", ValueFrom: "arn:aws:secretsmanager:us-east-1:123456789012:secret:a"}}
			c.Task.SecretsKMSKeys = []string{"arn:aws:kms:us-east-1:123456789012:key/k"}
		}),
		"managed own execution role": base(func(c *Config) { c.Task.ExecutionRoleARN = "arn:aws:iam::123456789012:role/exec" }),
		"bring your own": base(func(c *Config) {
			c.Network.Subnets, c.Network.SecurityGroups = []string{"subnet-1"}, []string{"sg-1"}
			c.LoadBalancer.TargetGroupARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/1"
			c.Task.ExecutionRoleARN = "arn:aws:iam::123456789012:role/exec"
			c.Task.TaskRoleARN = "arn:aws:iam::123456789012:role/app"
		}),
		"prebuilt image, no scaling": base(func(c *Config) {
			c.Image.URI = "123456789012.dkr.ecr.us-east-1.amazonaws.com/facectl@sha256:" + strings.Repeat("a", 64)
			c.AutoScaling.Enabled = false
		}),
		"aws-cn":     base(func(c *Config) { c.Region = "cn-north-1" }),
		"aws-us-gov": base(func(c *Config) { c.Region = "us-gov-west-1" }),
		"no region":  base(func(c *Config) { c.Region = "" }),
	}
}

// TestPolicyCannotEscalate evaluates the printed JSON of every policy variant (issue 15 items
// 1 and 3): no statement lets the holder attach a policy other than the one the template
// attaches, create or extend a role outside the permissions boundary, change a role facectl
// did not create, pass any role to a service other than ECS tasks, or delete the
// environment's kinds of resources except through CloudFormation.
func TestPolicyCannotEscalate(t *testing.T) {
	roles := []string{"*", "arn:aws:iam::123456789012:role/admin", "arn:aws:iam::123456789012:role/facectl-admin",
		"arn:aws:iam::123456789012:role/facectl/facectl-facectl-web-ExecutionRole-1", "arn:aws:iam::123456789012:role/exec"}
	for name, cfg := range policyVariants() {
		t.Run(name, func(t *testing.T) {
			var p PolicyDocument
			if err := json.Unmarshal([]byte(Policy(cfg).JSON()), &p); err != nil {
				t.Fatal(err)
			}
			part := partitionOf(cfg.Region)
			if part == "*" {
				part = "aws"
			}
			fix := func(arn string) string { return strings.Replace(arn, "arn:aws:", "arn:"+part+":", 1) }
			ours := fix("arn:aws:iam::123456789012:policy/" + cfg.BoundaryName())
			withBoundary := []map[string]string{nil, {"iam:PermissionsBoundary": fix("arn:aws:iam::123456789012:policy/other")}, {"iam:PermissionsBoundary": ours}}
			for _, r := range roles {
				r = fix(r)
				for _, b := range withBoundary {
					for _, pol := range []string{"arn:aws:iam::aws:policy/AdministratorAccess", "arn:aws:iam::123456789012:policy/mine", "*"} {
						ctx := map[string]string{"iam:PolicyARN": fix(pol)}
						for k, v := range b {
							ctx[k] = v
						}
						if p.evaluate(policyRequest{Action: "iam:AttachRolePolicy", Resource: r, Context: ctx}) {
							t.Errorf("allows attaching %s to %s (%v)", pol, r, b)
						}
					}
					for _, a := range []string{"iam:CreateRole", "iam:PutRolePolicy", "iam:PutRolePermissionsBoundary", "iam:DeleteRolePermissionsBoundary", "iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion"} {
						if b["iam:PermissionsBoundary"] != ours && p.evaluate(policyRequest{Action: a, Resource: r, Context: b}) {
							t.Errorf("allows %s on %s without facectl's boundary (%v)", a, r, b)
						}
					}
				}
				for _, svc := range []string{"ec2.amazonaws.com", "lambda.amazonaws.com", "cloudformation.amazonaws.com", "ecs.amazonaws.com", "batch.amazonaws.com", "iam.amazonaws.com"} {
					if p.evaluate(policyRequest{Action: "iam:PassRole", Resource: r, Context: map[string]string{"iam:PassedToService": svc}}) {
						t.Errorf("allows passing %s to %s", r, svc)
					}
				}
				if p.evaluate(policyRequest{Action: "iam:PassRole", Resource: r}) {
					t.Errorf("allows passing %s without iam:PassedToService", r)
				}
				if !strings.Contains(r, "role/facectl/") {
					for _, a := range []string{"iam:UpdateAssumeRolePolicy", "iam:TagRole", "iam:UntagRole", "iam:UpdateRole", "iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy"} {
						if p.evaluate(policyRequest{Action: a, Resource: r, Context: map[string]string{"iam:PermissionsBoundary": ours, "iam:PolicyARN": fix("arn:aws:" + executionRolePolicy)}}) {
							t.Errorf("allows %s on %s, a role facectl did not create", a, r)
						}
					}
				}
			}
			// The boundary itself: whoever can write it can widen every role created within it.
			for _, a := range append([]string{"iam:SetDefaultPolicyVersion"}, boundaryAdminActions...) {
				if p.evaluate(policyRequest{Action: a, Resource: ours}) {
					t.Errorf("allows %s on the permissions boundary %s", a, ours)
				}
			}
			for _, a := range []string{"iam:CreateUser", "iam:CreateAccessKey", "iam:CreatePolicy", "iam:PutUserPolicy", "iam:AttachUserPolicy", "sts:AssumeRole", "iam:*", "*"} {
				if p.evaluate(policyRequest{Action: a, Resource: "*"}) {
					t.Errorf("allows %s", a)
				}
			}
			for _, a := range []string{"ec2:DeleteSecurityGroup", "ec2:RevokeSecurityGroupIngress", "elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:ModifyListener", "ecs:DeleteCluster", "logs:DeleteLogGroup"} {
				if p.evaluate(policyRequest{Action: a, Resource: "arn:aws:ec2:us-east-1:123456789012:security-group/sg-other"}) {
					t.Errorf("allows %s directly (not through CloudFormation)", a)
				}
			}

			// What the deploy needs stays allowed.
			if cfg.Managed() && cfg.Task.ExecutionRoleARN == "" {
				role := fix("arn:aws:iam::123456789012:role/facectl/facectl-facectl-web-ExecutionRole-1")
				for _, req := range []policyRequest{
					{Action: "iam:CreateRole", Resource: role, Context: map[string]string{"iam:PermissionsBoundary": ours}},
					{Action: "iam:PutRolePolicy", Resource: role, Context: map[string]string{"iam:PermissionsBoundary": ours}},
					{Action: "iam:AttachRolePolicy", Resource: role, Context: map[string]string{"iam:PermissionsBoundary": ours, "iam:PolicyARN": fix("arn:aws:" + executionRolePolicy)}},
					{Action: "iam:PassRole", Resource: role, Context: map[string]string{"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
					{Action: "iam:DeleteRole", Resource: fix("arn:aws:iam::123456789012:role/facectl-facectl-web-ExecutionRole-OLD")},
					{Action: "ec2:DeleteSecurityGroup", Resource: "*", Context: map[string]string{"aws:CalledVia": "cloudformation.amazonaws.com"}},
				} {
					if !p.evaluate(req) {
						t.Errorf("does not allow %+v", req)
					}
				}
			}
			for _, r := range []string{cfg.Task.ExecutionRoleARN, cfg.Task.TaskRoleARN} {
				if r != "" && !p.evaluate(policyRequest{Action: "iam:PassRole", Resource: r, Context: map[string]string{"iam:PassedToService": "ecs-tasks.amazonaws.com"}}) {
					t.Errorf("does not allow passing the configured role %s to ECS tasks", r)
				}
			}
			if cfg.Region != "" && strings.Contains(Policy(cfg).JSON(), `"arn:aws:`) && part != "aws" {
				t.Errorf("partition %s: the policy still names arn:aws:", part)
			}
		})
	}
}

// TestExecutionRoleBoundedAndTrustScoped: the stack's execution role is created under the
// policy's path, with facectl's boundary, and trusts ECS tasks of this account only.
func TestExecutionRoleBoundedAndTrustScoped(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Service = "web"
	role := mustJSON(resourceProps(t, serviceTemplateOf(t, cfg), "ExecutionRole"))
	for _, want := range []string{`"Path":"/facectl/"`, `"PermissionsBoundary":{"Fn::Sub":"arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/` + cfg.BoundaryName() + `"}`,
		`"aws:SourceAccount":{"Ref":"AWS::AccountId"}`, `"aws:SourceArn":{"Fn::Sub":"arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:*"}`} {
		if !strings.Contains(role, want) {
			t.Errorf("execution role lacks %s:\n%s", want, role)
		}
	}
	// The boundary caps the role at an execution role's needs.
	b := BoundaryPolicy(cfg)
	for _, a := range []string{"iam:PassRole", "secretsmanager:GetSecretValue", "s3:GetObject", "ecs:RunTask"} {
		if b.evaluate(policyRequest{Action: a, Resource: "*"}) {
			t.Errorf("boundary allows %s", a)
		}
	}
	if !b.evaluate(policyRequest{Action: "ecr:BatchGetImage", Resource: "arn:aws:ecr:us-east-1:123456789012:repository/facectl"}) {
		t.Error("boundary does not allow pulling images")
	}
}

// TestPartitions: ARNs and the ECR registry follow the region's partition (issue 15 item 16).
func TestPartitions(t *testing.T) {
	for region, want := range map[string]string{"us-east-1": "aws", "cn-north-1": "aws-cn", "us-gov-west-1": "aws-us-gov", "": "*"} {
		if got := partitionOf(region); got != want {
			t.Errorf("partitionOf(%q) = %q, want %q", region, got, want)
		}
	}
	if got := ecrHost("123456789012", "cn-north-1"); got != "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn" {
		t.Errorf("ecrHost = %s", got)
	}
	if img, ok := parseECRImage(ecrHost("123456789012", "cn-north-1") + "/web:1"); !ok || img.Region != "cn-north-1" {
		t.Errorf("parseECRImage of a China registry = %+v, %v", img, ok)
	}
}
