package deploy

import (
	"strings"
	"testing"
)

// expressVariants are the Express Mode configurations the policy is checked for.
func expressVariants() map[string]Config {
	base := func(edit func(*Config)) Config {
		c := DefaultConfig()
		c.Region, c.Service, c.Mode = "us-east-1", "web", ModeExpress
		edit(&c)
		return c
	}
	return map[string]Config{
		"managed":            base(func(*Config) {}),
		"own infra role":     base(func(c *Config) { c.Express.InfrastructureRoleARN = "arn:aws:iam::123456789012:role/infra" }),
		"own execution role": base(func(c *Config) { c.Task.ExecutionRoleARN = "arn:aws:iam::123456789012:role/exec" }),
		"own network": base(func(c *Config) {
			c.Network.Subnets, c.Network.SecurityGroups = []string{"subnet-1"}, []string{"sg-1"}
			c.Task.ExecutionRoleARN = "arn:aws:iam::123456789012:role/exec"
			c.Express.InfrastructureRoleARN = "arn:aws:iam::123456789012:role/infra"
		}),
	}
}

// TestExpressPolicyCoversTemplates: the policy of every Express variant grants what
// CloudFormation's handlers call for the resources of its stacks, and validates.
func TestExpressPolicyCoversTemplates(t *testing.T) {
	for name, cfg := range expressVariants() {
		t.Run(name, func(t *testing.T) {
			d, err := New(cfg, stubDepsForTemplate(t))
			if err != nil {
				t.Fatal(err)
			}
			if !cfg.Managed() {
				return
			}
			policy := Policy(cfg)
			for _, body := range []string{d.clusterTemplate(), d.ExpressServiceTemplate()} {
				for _, typ := range resourceTypes(t, body) {
					for _, a := range cfnHandlerPermissions[typ] {
						// The infrastructure role's template has no inline policy and a trust
						// policy that never changes: CloudFormation calls neither for it, and the
						// policy grants neither on it (either would let its holder widen the role).
						if a == "iam:PutRolePolicy" || a == "iam:UpdateAssumeRolePolicy" {
							continue
						}
						// Creating it is an administrator's (see TestExpressPolicyCannotEscalate);
						// the execution role's creation is checked by TestPolicyCoversTemplates.
						if a == "iam:CreateRole" || a == "iam:AttachRolePolicy" {
							continue
						}
						if !policy.Allows(a) {
							t.Errorf("%s: the policy does not allow %s", typ, a)
						}
					}
				}
			}
			if strings.Contains(d.ExpressServiceTemplate(), "LoadBalancer") {
				t.Errorf("the Express service stack makes a load balancer: Express makes its own")
			}
		})
	}
}

// TestExpressPolicyCannotEscalate: the infrastructure role facectl's stack makes can only get
// AWS's managed policy for Express, and is passed only to ECS; no other role is.
func TestExpressPolicyCannotEscalate(t *testing.T) {
	infra := "arn:aws:iam::123456789012:role/facectl-express/facectl-facectl-web-InfrastructureRole-1"
	for name, cfg := range expressVariants() {
		t.Run(name, func(t *testing.T) {
			p := Policy(cfg)
			for _, pol := range []string{"arn:aws:iam::aws:policy/AdministratorAccess", "arn:aws:iam::123456789012:policy/mine", "*"} {
				if p.evaluate(policyRequest{Action: "iam:AttachRolePolicy", Resource: infra, Context: map[string]string{"iam:PolicyARN": pol}}) {
					t.Errorf("allows attaching %s to the infrastructure role", pol)
				}
			}
			for _, a := range []string{"iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:PutRolePermissionsBoundary"} {
				if p.evaluate(policyRequest{Action: a, Resource: infra}) {
					t.Errorf("allows %s on the infrastructure role", a)
				}
			}
			for _, svc := range []string{"ecs-tasks.amazonaws.com", "ec2.amazonaws.com", "lambda.amazonaws.com", ""} {
				ctx := map[string]string{"iam:PassedToService": svc}
				if svc == "" {
					ctx = nil
				}
				for _, r := range []string{infra, "arn:aws:iam::123456789012:role/admin"} {
					if p.evaluate(policyRequest{Action: "iam:PassRole", Resource: r, Context: ctx}) && !(svc == "ecs-tasks.amazonaws.com" && r == cfg.Task.ExecutionRoleARN) {
						t.Errorf("allows passing %s to %q", r, svc)
					}
				}
			}
			if p.evaluate(policyRequest{Action: "iam:PassRole", Resource: "arn:aws:iam::123456789012:role/admin", Context: map[string]string{"iam:PassedToService": infrastructurePrincipal}}) {
				t.Errorf("allows passing any role to ECS")
			}
			// What the deploy needs stays allowed.
			want := cfg.Express.InfrastructureRoleARN
			if want == "" {
				want = infra
				// IAM cannot condition a trust policy: a role its holder may create with the
				// Express policy attached could trust the holder, who would then hold that policy.
				if p.evaluate(policyRequest{Action: "iam:CreateRole", Resource: infra}) ||
					p.evaluate(policyRequest{Action: "iam:AttachRolePolicy", Resource: infra, Context: map[string]string{"iam:PolicyARN": "arn:aws:" + expressInfrastructurePolicy}}) {
					t.Errorf("allows creating the infrastructure role with the Express policy")
				}
			}
			if !p.evaluate(policyRequest{Action: "iam:PassRole", Resource: want, Context: map[string]string{"iam:PassedToService": infrastructurePrincipal}}) {
				t.Errorf("does not allow passing %s to ECS", want)
			}
			for _, a := range []string{"ecs:CreateExpressGatewayService", "ecs:UpdateExpressGatewayService", "ecs:DescribeExpressGatewayService", "ecs:DeleteExpressGatewayService"} {
				if !p.Allows(a) {
					t.Errorf("does not allow %s", a)
				}
			}
			if p.Allows("application-autoscaling:RegisterScalableTarget") {
				t.Errorf("grants Service Auto Scaling writes: Express scales with its infrastructure role")
			}
		})
	}
}

// TestExpressConfigRules: settings Express cannot honour are refused, each naming its key.
func TestExpressConfigRules(t *testing.T) {
	for name, tc := range map[string]struct {
		edit func(*Config)
		want string
	}{
		"certificate": {func(c *Config) { c.LoadBalancer.CertificateARN = "arn:aws:acm:us-east-1:1:certificate/a" }, "load_balancer.certificate_arn"},
		"nlb":         {func(c *Config) { c.LoadBalancer.Type = "network" }, "load_balancer.type"},
		"no scaling":  {func(c *Config) { c.AutoScaling.Enabled = false }, "autoscaling.enabled"},
		"two metrics": {func(c *Config) { c.AutoScaling.RequestsPerTarget = 100 }, "one metric"},
		"own network, no infra role": {func(c *Config) {
			c.Network.Subnets, c.Network.SecurityGroups, c.Task.ExecutionRoleARN = []string{"subnet-1"}, []string{"sg-1"}, "arn:aws:iam::1:role/e"
		}, "express.infrastructure_role_arn"},
		"health check path": {func(c *Config) { c.Express.HealthCheckPath = "readyz" }, "express.health_check_path"},
		"unknown mode":      {func(c *Config) { c.Mode = "lambda" }, "deploy.mode"},
	} {
		t.Run(name, func(t *testing.T) {
			c := DefaultConfig()
			c.Mode = ModeExpress
			tc.edit(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate = %v, want %s", err, tc.want)
			}
		})
	}
	c := DefaultConfig()
	c.Mode = ModeExpress
	if err := c.Validate(); err != nil {
		t.Errorf("the default Express configuration: %v", err)
	}
}
