package deploy

import "sort"

// cfnHandlerPermissions lists, per CloudFormation resource type that facectl's templates use,
// the IAM actions its resource handlers (create, read, update, delete) call. CloudFormation
// acts with the caller's credentials, so `facectl deploy policy` must grant all of them: a
// missing one fails the stack (or, worse, its deletion) halfway. Written from the resource
// type schemas (`handlers.*.permissions` in `aws cloudformation describe-type`), leaving out
// what only properties facectl never sets need (KMS keys, permissions boundaries, Cognito
// authentication, IPAM pools, data protection policies). The older logs tag actions stay
// beside the new ones: log group handler versions in the field call either.
//
// Each line names the schema handler(s) it comes from (the registry schema of the type, e.g.
// aws-logs-loggroup.json, `handlers.read.permissions`), so the table can be checked against
// `aws cloudformation describe-type --type RESOURCE --type-name TYPE` one line at a time.
//
// A template that gains a resource type without an entry here fails TestPolicyCoversTemplates.
var cfnHandlerPermissions = map[string][]string{
	"AWS::ECS::Cluster": {
		"ecs:CreateCluster", "ecs:DescribeClusters", "ecs:UpdateCluster", "ecs:UpdateClusterSettings",
		"ecs:PutClusterCapacityProviders", "ecs:DeleteCluster",
		"ecs:TagResource", "ecs:UntagResource", "ecs:ListTagsForResource",
		"ecs:PutAccountSetting", // handlers.update
	},
	"AWS::IAM::Role": {
		"iam:CreateRole", "iam:GetRole", "iam:UpdateRole", "iam:UpdateRoleDescription", "iam:UpdateAssumeRolePolicy",
		"iam:DeleteRole", "iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:ListAttachedRolePolicies",
		"iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy", "iam:ListRolePolicies",
		"iam:ListInstanceProfilesForRole", "iam:TagRole", "iam:UntagRole", "iam:ListRoleTags",
	},
	"AWS::Logs::LogGroup": {
		"logs:CreateLogGroup", "logs:DescribeLogGroups", "logs:DeleteLogGroup",
		"logs:PutRetentionPolicy", "logs:DeleteRetentionPolicy",
		"logs:TagResource", "logs:UntagResource", "logs:ListTagsForResource",
		"logs:TagLogGroup", "logs:UntagLogGroup", "logs:ListTagsLogGroup",
		"logs:GetDataProtectionPolicy", "logs:DescribeIndexPolicies", "logs:DescribeResourcePolicies", // handlers.read
		"logs:DeleteDataProtectionPolicy", // handlers.delete
	},
	"AWS::EC2::SecurityGroup": {
		"ec2:CreateSecurityGroup", "ec2:DescribeSecurityGroups", "ec2:DeleteSecurityGroup", "ec2:DescribeInstances",
		"ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress",
		"ec2:AuthorizeSecurityGroupEgress", "ec2:RevokeSecurityGroupEgress",
		"ec2:CreateTags", "ec2:DeleteTags",
	},
	"AWS::EC2::SecurityGroupIngress": {
		"ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress", "ec2:DescribeSecurityGroupRules",
		"ec2:ModifySecurityGroupRules", "ec2:UpdateSecurityGroupRuleDescriptionsIngress", "ec2:DescribeSecurityGroups",
	},
	"AWS::EC2::SecurityGroupEgress": {
		"ec2:AuthorizeSecurityGroupEgress", "ec2:RevokeSecurityGroupEgress", "ec2:DescribeSecurityGroupRules",
		"ec2:ModifySecurityGroupRules", "ec2:UpdateSecurityGroupRuleDescriptionsEgress", "ec2:DescribeSecurityGroups",
	},
	"AWS::ElasticLoadBalancingV2::LoadBalancer": {
		"elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DeleteLoadBalancer",
		"elasticloadbalancing:DescribeLoadBalancerAttributes", "elasticloadbalancing:ModifyLoadBalancerAttributes",
		"elasticloadbalancing:SetSubnets", "elasticloadbalancing:SetSecurityGroups", "elasticloadbalancing:SetIpAddressType",
		"elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags", "elasticloadbalancing:DescribeTags",
		"ec2:DescribeVpcs", "ec2:DescribeSubnets", "ec2:DescribeAvailabilityZones",
		"elasticloadbalancing:DescribeCapacityReservation", // handlers.read
	},
	"AWS::ElasticLoadBalancingV2::TargetGroup": {
		"elasticloadbalancing:CreateTargetGroup", "elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DeleteTargetGroup",
		"elasticloadbalancing:ModifyTargetGroup", "elasticloadbalancing:DescribeTargetGroupAttributes",
		"elasticloadbalancing:ModifyTargetGroupAttributes", "elasticloadbalancing:DescribeTargetHealth",
		"elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets",
		"elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags", "elasticloadbalancing:DescribeTags",
	},
	"AWS::ElasticLoadBalancingV2::Listener": {
		"elasticloadbalancing:CreateListener", "elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DeleteListener",
		"elasticloadbalancing:ModifyListener", "elasticloadbalancing:DescribeListenerAttributes",
		"elasticloadbalancing:ModifyListenerAttributes",
	},
}

// cfnServiceLinkedRoles names, per resource type, the service whose service-linked role the
// first such resource in an account creates with the caller's credentials
// (iam:CreateServiceLinkedRole, conditioned on iam:AWSServiceName).
var cfnServiceLinkedRoles = map[string]string{
	"AWS::ECS::Cluster":                         "ecs.amazonaws.com",
	"AWS::ElasticLoadBalancingV2::LoadBalancer": "elasticloadbalancing.amazonaws.com",
}

// cfnActions returns the actions of cfnHandlerPermissions whose service prefix is (keep) or
// is not (!keep) service, sorted and without duplicates.
func cfnActions(service string, keep bool) []string {
	seen := map[string]bool{}
	for _, actions := range cfnHandlerPermissions {
		for _, a := range actions {
			if (len(a) > len(service) && a[:len(service)+1] == service+":") == keep {
				seen[a] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for a := range seen {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}
