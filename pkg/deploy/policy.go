package deploy

import (
	"encoding/json"
	"sort"
	"strings"
)

// PolicyDocument is an IAM policy document, as `facectl deploy policy` prints it.
type PolicyDocument struct {
	Version   string            `json:"Version"`
	Statement []PolicyStatement `json:"Statement"`
}

// PolicyStatement is one statement of a PolicyDocument.
type PolicyStatement struct {
	Sid       string                       `json:"Sid"`
	Effect    string                       `json:"Effect"`
	Action    []string                     `json:"Action"`
	Resource  []string                     `json:"Resource"`
	Condition map[string]map[string]any `json:"Condition,omitempty"`
}

// JSON renders the policy indented, as `aws iam create-policy --policy-document` takes it.
func (p PolicyDocument) JSON() string {
	b, _ := json.MarshalIndent(p, "", "  ")
	return string(b) + "\n"
}

// Allows reports whether a statement of the policy grants action ("ecs:UpdateService").
// Wildcards in the policy's actions ("ecr:Describe*") are honoured.
func (p PolicyDocument) Allows(action string) bool {
	for _, s := range p.Statement {
		for _, a := range s.Action {
			if strings.EqualFold(a, action) {
				return true
			}
			if prefix, ok := strings.CutSuffix(a, "*"); ok && strings.HasPrefix(strings.ToLower(action), strings.ToLower(prefix)) {
				return true
			}
		}
	}
	return false
}

// Actions lists every action of the policy, sorted.
func (p PolicyDocument) Actions() []string {
	seen := map[string]bool{}
	for _, s := range p.Statement {
		for _, a := range s.Action {
			seen[a] = true
		}
	}
	return keys(seen)
}

// Policy returns the least-privilege IAM policy that the caller of `facectl deploy` (and of
// status, rollback, logs and destroy) needs for cfg: the calls the code makes, plus what AWS
// checks on the caller behind them (iam:PassRole for the task roles, ecs:TagResource for tagged
// task definitions, cloudwatch alarms for target tracking, and, for the managed environment,
// what CloudFormation does with the caller's credentials). The tests compare it with every
// action the code calls.
//
// Resources are narrowed to what the configuration names (repository, log group, roles) where
// IAM allows it; the account is "*" because the policy is written before any AWS call.
func Policy(cfg Config) PolicyDocument {
	region := cfg.Region
	if region == "" {
		region = "*"
	}
	all := []string{"*"}
	var st []PolicyStatement
	add := func(sid string, resources []string, actions ...string) {
		sort.Strings(actions)
		st = append(st, PolicyStatement{Sid: sid, Effect: "Allow", Action: actions, Resource: resources})
	}

	// Reads of preflight, status, rollback and the wait. Most of them have no resource-level
	// permissions, hence "*".
	add("ReadForPreflightStatusAndWait", all,
		"sts:GetCallerIdentity",
		"ecs:DescribeClusters", "ecs:DescribeServices", "ecs:DescribeTaskDefinition", "ecs:ListTaskDefinitions",
		"ecs:ListTasks", "ecs:DescribeTasks",
		"ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeRouteTables", "ec2:DescribeVpcEndpoints",
		"elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeLoadBalancers",
		"application-autoscaling:DescribeScalableTargets", "application-autoscaling:DescribeScalingPolicies",
		// Pinning a prebuilt image and checking a rollback's image, wherever the image is.
		"ecr:DescribeImages",
		// The managed environment's stacks (their outputs give status its URL).
		"cloudformation:DescribeStacks",
	)
	// RegisterTaskDefinition with tags needs ecs:TagResource as well (rollback tells the
	// service's own revisions by them).
	add("DeployTheService", all,
		"ecs:RegisterTaskDefinition", "ecs:TagResource", "ecs:CreateService", "ecs:UpdateService")
	// facectl deploy destroy: the scaling settings, then the service (scaled to 0 first);
	// the cluster only when no other service uses it.
	add("DestroyTheService", all,
		"ecs:DeleteService", "ecs:ListServices",
		"application-autoscaling:DeregisterScalableTarget", "application-autoscaling:DeleteScalingPolicy", "cloudwatch:DeleteAlarms")
	// ECS creates its service-linked role on the account's first service.
	st = append(st, PolicyStatement{Sid: "CreateTheECSServiceLinkedRole", Effect: "Allow",
		Action: []string{"iam:CreateServiceLinkedRole"}, Resource: all,
		Condition: map[string]map[string]any{"StringEquals": {"iam:AWSServiceName": "ecs.amazonaws.com"}}})

	var roles []string
	for _, r := range []string{cfg.Task.ExecutionRoleARN, cfg.Task.TaskRoleARN} {
		if r != "" {
			roles = append(roles, r)
		}
	}
	if len(roles) > 0 {
		add("CheckTheTaskRoles", roles, "iam:GetRole")
		st = append(st, PolicyStatement{Sid: "PassTheTaskRolesToECS", Effect: "Allow",
			Action: []string{"iam:PassRole"}, Resource: roles,
			Condition: map[string]map[string]any{"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}})
	}

	if cfg.Image.URI == "" {
		repo := []string{"arn:aws:ecr:" + region + ":*:repository/" + cfg.Image.Repository}
		add("LogInToECR", all, "ecr:GetAuthorizationToken")
		// docker push needs the layer and image actions; facectl tags deployed images with
		// BatchGetImage + PutImage so that the lifecycle policy keeps them.
		add("BuildAndPushToTheRepository", repo,
			"ecr:DescribeRepositories", "ecr:CreateRepository", "ecr:GetLifecyclePolicy", "ecr:PutLifecyclePolicy",
			"ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload",
			"ecr:PutImage", "ecr:BatchGetImage",
			// facectl deploy destroy --purge-images
			"ecr:BatchDeleteImage")
	}

	if cfg.AutoScaling.Enabled {
		add("ManageServiceAutoScaling", all,
			"application-autoscaling:RegisterScalableTarget", "application-autoscaling:PutScalingPolicy",
			// Target tracking creates and deletes its CloudWatch alarms with the caller's rights.
			"cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms")
		st = append(st, PolicyStatement{Sid: "CreateTheAutoScalingServiceLinkedRole", Effect: "Allow",
			Action: []string{"iam:CreateServiceLinkedRole"}, Resource: all,
			Condition: map[string]map[string]any{"StringEquals": {"iam:AWSServiceName": "ecs.application-autoscaling.amazonaws.com"}}})
	}

	group := []string{"arn:aws:logs:" + region + ":*:log-group:" + cfg.LogGroup() + ":*"}
	add("FindTheLogGroup", all, "logs:DescribeLogGroups")
	add("ManageTheLogGroupAndReadIt", group,
		"logs:CreateLogGroup", "logs:PutRetentionPolicy", "logs:DeleteRetentionPolicy",
		// facectl deploy logs
		"logs:FilterLogEvents", "logs:GetLogEvents", "logs:DescribeLogStreams")

	if cfg.Managed() {
		// The managed environment (no security groups and no target group configured): its
		// CloudFormation stacks, and what CloudFormation creates, changes and deletes with the
		// caller's credentials.
		add("ManageTheEnvironmentStack", all,
			"cloudformation:CreateStack", "cloudformation:UpdateStack", "cloudformation:DeleteStack",
			"cloudformation:DescribeStacks", "cloudformation:DescribeStackEvents", "cloudformation:DescribeStackResources",
			"cloudformation:CreateChangeSet", "cloudformation:DescribeChangeSet", "cloudformation:ExecuteChangeSet",
			"cloudformation:DeleteChangeSet", "cloudformation:GetTemplate")
		// What the resource handlers of the templates' types call (cfnHandlerPermissions): the
		// stack's tags propagate to every resource, so tagging is part of creating them.
		add("CreateTheEnvironmentThroughCloudFormation", all, cfnActions("iam", false)...)
		// The stacks' execution role: CloudFormation names it after the stack (facectl-...).
		add("ManageTheEnvironmentsExecutionRole", []string{"arn:aws:iam::*:role/facectl-*"},
			append(cfnActions("iam", true), "iam:PassRole")...)
		// The first load balancer of an account creates the Elastic Load Balancing
		// service-linked role (the cluster's ECS role is allowed above).
		st = append(st, PolicyStatement{Sid: "CreateTheLoadBalancingServiceLinkedRole", Effect: "Allow",
			Action: []string{"iam:CreateServiceLinkedRole"}, Resource: all,
			Condition: map[string]map[string]any{"StringEquals": {"iam:AWSServiceName": cfnServiceLinkedRoles["AWS::ElasticLoadBalancingV2::LoadBalancer"]}}})
	}
	return PolicyDocument{Version: "2012-10-17", Statement: st}
}
