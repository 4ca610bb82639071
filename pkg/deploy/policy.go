package deploy

import (
	"encoding/json"
	"fmt"
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
	Sid       string                    `json:"Sid"`
	Effect    string                    `json:"Effect"`
	Action    []string                  `json:"Action"`
	Resource  []string                  `json:"Resource"`
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
// IAM allows it; the account is "*" because the policy is written before any AWS call, and the
// partition is the region's (aws-cn, aws-us-gov; "*" when no region is configured).
//
// Nothing in it lets its holder gain more than it has: roles are passed only to ECS tasks, and
// the one role the managed environment creates (under the path /facectl/) can only be created,
// given inline policies or attached AmazonECSTaskExecutionRolePolicy with the permissions
// boundary BoundaryPolicy, which caps it at what an execution role needs.
func Policy(cfg Config) PolicyDocument {
	region := cfg.Region
	if region == "" {
		region = "*"
	}
	part := partitionOf(cfg.Region)
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
	if cfg.IsExpress() {
		st = append(st, expressPolicyStatements(cfg, part)...)
	}
	// facectl deploy destroy: the scaling settings, then the service (scaled to 0 first);
	// the cluster only when no other service uses it.
	add("DestroyTheService", all,
		"ecs:DeleteService", "ecs:ListServices",
		// --purge-images spares images any service in any cluster or any active revision uses.
		"ecs:ListClusters",
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
		st = append(st, passToECSTasks("PassTheTaskRolesToECS", roles))
	}

	if cfg.Image.URI == "" {
		repo := []string{"arn:" + part + ":ecr:" + region + ":*:repository/" + cfg.Image.Repository}
		add("LogInToECR", all, "ecr:GetAuthorizationToken")
		// docker push needs the layer and image actions; facectl tags deployed images with
		// BatchGetImage + PutImage so that the lifecycle policy keeps them.
		add("BuildAndPushToTheRepository", repo,
			"ecr:DescribeRepositories", "ecr:CreateRepository", "ecr:GetLifecyclePolicy", "ecr:PutLifecyclePolicy",
			"ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload",
			"ecr:PutImage", "ecr:BatchGetImage",
			// CreateRepository with tags (facectl:repository).
			"ecr:TagResource",
			// facectl deploy destroy --purge-images
			"ecr:BatchDeleteImage")
	}

	if cfg.AutoScaling.Enabled && !cfg.IsExpress() { // Express scales with its infrastructure role
		add("ManageServiceAutoScaling", all,
			"application-autoscaling:RegisterScalableTarget", "application-autoscaling:PutScalingPolicy",
			// Target tracking creates and deletes its CloudWatch alarms with the caller's rights.
			"cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms")
		st = append(st, PolicyStatement{Sid: "CreateTheAutoScalingServiceLinkedRole", Effect: "Allow",
			Action: []string{"iam:CreateServiceLinkedRole"}, Resource: all,
			Condition: map[string]map[string]any{"StringEquals": {"iam:AWSServiceName": "ecs.application-autoscaling.amazonaws.com"}}})
	}

	group := []string{"arn:" + part + ":logs:" + region + ":*:log-group:" + cfg.LogGroup() + ":*"}
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
		// stack's tags propagate to every resource, so tagging is part of creating them. Reads
		// have no resource-level permissions; everything that creates, changes or deletes is
		// granted only on CloudFormation's behalf (aws:CalledVia), so the holder cannot delete
		// other security groups, load balancers, clusters or log groups directly.
		reads, writes := splitReads(cfnActions("iam", false))
		add("ReadWhatTheEnvironmentHolds", all, reads...)
		st = append(st, PolicyStatement{Sid: "ChangeTheEnvironmentOnlyThroughCloudFormation", Effect: "Allow",
			Action: writes, Resource: all, Condition: calledViaCloudFormation()})
		if cfg.Task.ExecutionRoleARN == "" {
			st = append(st, executionRoleStatements(cfg, part)...)
		}
		if cfg.LoadBalancer.Domain != "" && cfg.LoadBalancer.CertificateARN == "" {
			st = append(st, domainPolicyStatements(cfg, part)...)
		}
		if c := cfg.LoadBalancer.CertificateARN; c != "" {
			// Preflight checks the certificate's region and status.
			add("CheckTheCertificate", []string{c}, "acm:DescribeCertificate")
		}
		// The first load balancer of an account creates the Elastic Load Balancing
		// service-linked role (the cluster's ECS role is allowed above).
		st = append(st, PolicyStatement{Sid: "CreateTheLoadBalancingServiceLinkedRole", Effect: "Allow",
			Action: []string{"iam:CreateServiceLinkedRole"}, Resource: all,
			Condition: map[string]map[string]any{"StringEquals": {"iam:AWSServiceName": cfnServiceLinkedRoles["AWS::ElasticLoadBalancingV2::LoadBalancer"]}}})
	}
	return PolicyDocument{Version: "2012-10-17", Statement: st}
}

// executionRolePath is the IAM path of the execution role the service stack creates: the
// policy's role statements name only this path, so they reach no role facectl did not create.
const executionRolePath = "/facectl/"

// executionRolePolicy is the one managed policy the service stack attaches to its role.
const executionRolePolicy = "iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"

// executionRoleStatements lets CloudFormation create, update and delete the service stack's
// execution role, bounded: CreateRole, PutRolePolicy and AttachRolePolicy require the role's
// permissions boundary to be BoundaryName's policy, attach only AmazonECSTaskExecutionRolePolicy,
// and PassRole only to ECS tasks. Removing permissions and deleting reach the roles of older
// facectl versions too (role/facectl-*, without the path), which never adds a right.
func executionRoleStatements(cfg Config, part string) []PolicyStatement {
	role := []string{"arn:" + part + ":iam::*:role" + executionRolePath + "*"}
	anyFacectlRole := append([]string{"arn:" + part + ":iam::*:role/facectl-*"}, role...)
	boundary := map[string]any{"iam:PermissionsBoundary": "arn:" + part + ":iam::*:policy/" + cfg.BoundaryName()}
	sorted := func(a ...string) []string { sort.Strings(a); return a }
	return []PolicyStatement{
		{Sid: "ReadTheExecutionRole", Effect: "Allow", Resource: anyFacectlRole, Action: sorted(
			"iam:GetRole", "iam:GetRolePolicy", "iam:ListAttachedRolePolicies", "iam:ListRolePolicies",
			"iam:ListInstanceProfilesForRole", "iam:ListRoleTags")},
		{Sid: "CreateTheExecutionRoleOnlyWithinItsBoundary", Effect: "Allow", Resource: role,
			Action:    sorted("iam:CreateRole", "iam:PutRolePolicy"),
			Condition: map[string]map[string]any{"ArnLike": boundary}},
		{Sid: "AttachOnlyTheTaskExecutionPolicyWithinTheBoundary", Effect: "Allow", Resource: role,
			Action: []string{"iam:AttachRolePolicy"},
			Condition: map[string]map[string]any{
				"ArnLike":   boundary,
				"ArnEquals": {"iam:PolicyARN": "arn:" + part + ":" + executionRolePolicy},
			}},
		// Trust, description and tags of a role that is bounded whatever they say.
		{Sid: "UpdateTheExecutionRole", Effect: "Allow", Resource: role, Action: sorted(
			"iam:UpdateRole", "iam:UpdateRoleDescription", "iam:UpdateAssumeRolePolicy", "iam:TagRole", "iam:UntagRole")},
		{Sid: "RemoveTheExecutionRole", Effect: "Allow", Resource: anyFacectlRole, Action: sorted(
			"iam:DeleteRole", "iam:DeleteRolePolicy", "iam:DetachRolePolicy")},
		// The task definition names the role; CloudFormation itself passes it to nothing.
		passToECSTasks("PassTheExecutionRoleToECSTasks", role),
		// Deploy checks the boundary is there and current; destroy removes it. Writing it
		// (boundaryAdminActions) is left to an administrator: it would widen every role within it.
		// Deleting is harmless: IAM refuses while a role uses it, and no version can be made default.
		{Sid: "CheckAndRemoveTheBoundary", Effect: "Allow", Resource: []string{"arn:" + part + ":iam::*:policy/" + cfg.BoundaryName()},
			Action: sorted("iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListPolicyVersions", "iam:DeletePolicy", "iam:DeletePolicyVersion")},
	}
}

// passToECSTasks allows iam:PassRole on roles, only to ECS tasks.
func passToECSTasks(sid string, roles []string) PolicyStatement {
	return PolicyStatement{Sid: sid, Effect: "Allow", Action: []string{"iam:PassRole"}, Resource: roles,
		Condition: map[string]map[string]any{"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}}
}

// calledViaCloudFormation is the condition of a call CloudFormation makes with the caller's
// credentials (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-calledvia).
func calledViaCloudFormation() map[string]map[string]any {
	return map[string]map[string]any{"ForAnyValue:StringEquals": {"aws:CalledVia": "cloudformation.amazonaws.com"}}
}

// splitReads separates Describe/List/Get actions from the rest.
func splitReads(actions []string) (reads, writes []string) {
	for _, a := range actions {
		_, name, _ := strings.Cut(a, ":")
		if strings.HasPrefix(name, "Describe") || strings.HasPrefix(name, "List") || strings.HasPrefix(name, "Get") {
			reads = append(reads, a)
		} else {
			writes = append(writes, a)
		}
	}
	return reads, writes
}

// partitionOf is the ARN partition of a region: aws-cn for China, aws-us-gov for GovCloud,
// aws elsewhere, and "*" when the region is not known yet.
func partitionOf(region string) string {
	switch {
	case region == "":
		return "*"
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

// BoundaryName is the name of the customer-managed policy that bounds the service stack's
// execution role; create it once per service with BoundaryPolicy (facectl deploy policy --boundary).
func (c Config) BoundaryName() string {
	return stackName(clusterName(c.Cluster), c.Service, "boundary")
}

// BoundaryPolicy is the permissions boundary of the service stack's execution role: what ECS
// needs to start the task (pull from ECR, write the log group, read exactly the configured
// secrets, decrypt them with the configured keys through SSM / Secrets Manager). A role bounded
// by it holds no more than that, whatever policies are attached to it.
func BoundaryPolicy(cfg Config) PolicyDocument {
	region := cfg.Region
	if region == "" {
		region = "*"
	}
	part := partitionOf(cfg.Region)
	st := []PolicyStatement{
		{Sid: "PullImages", Effect: "Allow", Resource: []string{"*"}, Action: []string{
			"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetAuthorizationToken", "ecr:GetDownloadUrlForLayer"}},
		{Sid: "WriteTheLogGroup", Effect: "Allow", Action: []string{"logs:CreateLogStream", "logs:PutLogEvents"},
			Resource: []string{"arn:" + part + ":logs:" + region + ":*:log-group:" + cfg.LogGroup() + ":*"}},
	}
	for i, s := range secretStatements(cfg.Task.Secrets, cfg.Task.SecretsKMSKeys) {
		m := s.(map[string]any)
		ps := PolicyStatement{Sid: fmt.Sprintf("ReadTheSecrets%d", i+1), Effect: "Allow", Action: m["Action"].([]string), Resource: m["Resource"].([]string)}
		if m["Condition"] != nil {
			via := []string{}
			for _, v := range m["Condition"].(map[string]any)["StringEquals"].(map[string]any)["kms:ViaService"].([]any) {
				svc := strings.Split(v.(map[string]any)["Fn::Sub"].(string), ".")[0]
				via = append(via, svc+"."+region+".amazonaws.com")
			}
			ps.Condition = map[string]map[string]any{"StringLike": {"kms:ViaService": via}}
		}
		st = append(st, ps)
	}
	return PolicyDocument{Version: "2012-10-17", Statement: st}
}
