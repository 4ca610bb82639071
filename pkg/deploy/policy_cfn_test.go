package deploy

import (
	"encoding/json"
	"slices"
	"sort"
	"testing"
)

// TestPolicyCoversTemplates renders the managed environment's templates for the shapes facectl
// supports and checks that the policy of that configuration grants every action the handlers
// of every resource type in them call (cfnHandlerPermissions), and the service-linked roles
// those resources create. A resource type without an entry in the table fails the test.
func TestPolicyCoversTemplates(t *testing.T) {
	n := envNetwork{VPC: "vpc-1", Subnets: []string{"subnet-1", "subnet-2"}, LBSubnets: []string{"subnet-1", "subnet-2"}, PublicIP: true}
	for _, tc := range []struct {
		name string
		edit func(*Config)
	}{
		{"alb", func(*Config) {}},
		{"alb https", func(c *Config) { c.LoadBalancer.CertificateARN = "arn:aws:acm:us-east-1:123456789012:certificate/abc" }},
		{"nlb", func(c *Config) { c.LoadBalancer.Type = "network" }},
		{"nlb tls", func(c *Config) {
			c.LoadBalancer.Type = "network"
			c.LoadBalancer.CertificateARN = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
		}},
		{"secrets and retention", func(c *Config) {
			c.Task.Secrets = []Secret{{Name: "A", ValueFrom: "arn:aws:ssm:us-east-1:123456789012:parameter/facectl/a"}}
			c.Logs.RetentionDays = 30
		}},
		{"own execution role", func(c *Config) { c.Task.ExecutionRoleARN = "arn:aws:iam::123456789012:role/exec" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Region = "us-east-1"
			cfg.Service = "web"
			tc.edit(&cfg)
			d, err := New(cfg, stubDepsForTemplate(t))
			if err != nil {
				t.Fatal(err)
			}
			policy := Policy(cfg)
			for _, body := range []string{d.clusterTemplate(), d.ServiceTemplate(n)} {
				for _, typ := range resourceTypes(t, body) {
					actions, ok := cfnHandlerPermissions[typ]
					if !ok {
						t.Errorf("%s: no handler permissions in cfnHandlerPermissions", typ)
						continue
					}
					for _, a := range actions {
						if !policy.Allows(a) {
							t.Errorf("%s: the policy does not allow %s", typ, a)
						}
					}
					if svc, ok := cfnServiceLinkedRoles[typ]; ok && !allowsServiceLinkedRole(policy, svc) {
						t.Errorf("%s: the policy does not allow iam:CreateServiceLinkedRole for %s", typ, svc)
					}
				}
			}
		})
	}
}

func resourceTypes(t *testing.T, body string) []string {
	t.Helper()
	var tmpl struct {
		Resources map[string]struct{ Type string }
	}
	if err := json.Unmarshal([]byte(body), &tmpl); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range tmpl.Resources {
		seen[r.Type] = true
	}
	var out []string
	for typ := range seen {
		out = append(out, typ)
	}
	sort.Strings(out)
	return out
}

func allowsServiceLinkedRole(p PolicyDocument, service string) bool {
	for _, s := range p.Statement {
		for _, a := range s.Action {
			if a == "iam:CreateServiceLinkedRole" && s.Condition["StringEquals"]["iam:AWSServiceName"] == service {
				return true
			}
		}
	}
	return false
}

// TestCFNHandlerPermissionsCurrentSchemas pins actions the current registry schemas' handlers
// call that the table once lacked (issue 15, item 15): the LogGroup read and delete handlers,
// the LoadBalancer read handler and the Cluster update handler.
func TestCFNHandlerPermissionsCurrentSchemas(t *testing.T) {
	for typ, actions := range map[string][]string{
		"AWS::ElasticLoadBalancingV2::LoadBalancer": {"elasticloadbalancing:DescribeCapacityReservation"},
		"AWS::Logs::LogGroup": {"logs:GetDataProtectionPolicy", "logs:DescribeIndexPolicies",
			"logs:DescribeResourcePolicies", "logs:DeleteDataProtectionPolicy"},
		"AWS::ECS::Cluster": {"ecs:PutAccountSetting"},
	} {
		for _, a := range actions {
			if !slices.Contains(cfnHandlerPermissions[typ], a) {
				t.Errorf("%s: %s missing from cfnHandlerPermissions", typ, a)
			}
		}
	}
}
