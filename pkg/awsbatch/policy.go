package awsbatch

import (
	"github.com/facectl/facectl/pkg/deploy"
	"github.com/facectl/facectl/pkg/s3io"
)

// Policy is the least-privilege IAM policy of the person (or CI role) who runs facectl batch run,
// status, cancel, logs and destroy for cfg, reading inputs and writing outputs (prefixes or keys;
// none: every bucket). It covers the calls facectl makes and what CloudFormation does with the
// caller's credentials to the stack's resources, except AdminActions. The roles live under
// /facectl/batch/ and may be passed only to Batch and ECS tasks.
// AdminActions are what CloudFormation does with the caller's credentials when the stack's roles
// are created or their S3 access changes (a run on other prefixes): an administrator's run.
var AdminActions = []string{"iam:AttachRolePolicy", "iam:CreateRole", "iam:PutRolePolicy"}

func Policy(cfg Config, inputs, outputs []s3io.URL) deploy.PolicyDocument {
	stack := "arn:aws:cloudformation:*:*:stack/" + cfg.StackName() + "/*"
	roles := "arn:aws:iam::*:role" + rolePath + "*"
	logGroup := "arn:aws:logs:*:*:log-group:" + cfg.LogGroup()
	st := []deploy.PolicyStatement{
		{Sid: "Stack", Effect: "Allow", Resource: []string{stack}, Action: []string{
			"cloudformation:CreateChangeSet", "cloudformation:CreateStack", "cloudformation:DeleteChangeSet", "cloudformation:DeleteStack",
			"cloudformation:DescribeChangeSet", "cloudformation:DescribeStackEvents", "cloudformation:DescribeStacks",
			"cloudformation:GetTemplate", "cloudformation:UpdateStack",
		}},
		// Creating the roles and writing their policies (iam:CreateRole, iam:PutRolePolicy,
		// iam:AttachRolePolicy) is left to an administrator's batch run (AdminActions): whoever may
		// create a role and write its policy could make it trust themselves and grant it anything.
		{Sid: "StackRoles", Effect: "Allow", Resource: []string{roles}, Action: []string{
			"iam:DeleteRole", "iam:DeleteRolePolicy", "iam:DetachRolePolicy", "iam:GetRole", "iam:GetRolePolicy",
			"iam:TagRole", "iam:UntagRole", "iam:UpdateRoleDescription",
		}},
		{Sid: "PassStackRoles", Effect: "Allow", Resource: []string{roles}, Action: []string{"iam:PassRole"},
			Condition: map[string]map[string]any{"StringEquals": {"iam:PassedToService": []string{"batch.amazonaws.com", "ecs-tasks.amazonaws.com"}}}},
		{Sid: "BatchServiceLinkedRole", Effect: "Allow", Resource: []string{"arn:aws:iam::*:role/aws-service-role/batch.amazonaws.com/*"}, Action: []string{"iam:CreateServiceLinkedRole"},
			Condition: map[string]map[string]any{"StringEquals": {"iam:AWSServiceName": "batch.amazonaws.com"}}},
		{Sid: "Batch", Effect: "Allow", Resource: []string{"*"}, Action: []string{
			"batch:CreateComputeEnvironment", "batch:CreateJobQueue", "batch:DeleteComputeEnvironment", "batch:DeleteJobQueue",
			"batch:DeregisterJobDefinition", "batch:DescribeComputeEnvironments", "batch:DescribeJobDefinitions", "batch:DescribeJobQueues",
			"batch:DescribeJobs", "batch:ListJobs", "batch:RegisterJobDefinition", "batch:SubmitJob", "batch:TagResource",
			"batch:TerminateJob", "batch:UpdateComputeEnvironment", "batch:UpdateJobQueue",
		}},
		{Sid: "Network", Effect: "Allow", Resource: []string{"*"}, Action: []string{
			"ec2:AuthorizeSecurityGroupEgress", "ec2:CreateSecurityGroup", "ec2:CreateTags", "ec2:DeleteSecurityGroup",
			"ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcs", "ec2:RevokeSecurityGroupEgress",
		}},
		{Sid: "Logs", Effect: "Allow", Resource: []string{logGroup, logGroup + ":*", "arn:aws:logs:*:*:log-group:/aws/batch/job:*"}, Action: []string{
			"logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:DeleteRetentionPolicy", "logs:GetLogEvents", "logs:PutRetentionPolicy", "logs:TagResource",
		}},
		{Sid: "LogGroups", Effect: "Allow", Resource: []string{"*"}, Action: []string{"logs:DescribeLogGroups"}},
	}
	read, write := []string{"arn:aws:s3:::*"}, []string{"arn:aws:s3:::*"}
	buckets := []string{"arn:aws:s3:::*"}
	if len(inputs)+len(outputs) > 0 {
		read, write, buckets = nil, nil, nil
		seen := map[string]bool{}
		for _, u := range append(append([]s3io.URL{}, inputs...), outputs...) {
			if !seen[u.Bucket] {
				seen[u.Bucket] = true
				buckets = append(buckets, "arn:aws:s3:::"+u.Bucket)
			}
		}
		for _, u := range outputs {
			write = append(write, "arn:aws:s3:::"+u.Bucket+"/"+objectPattern(u))
		}
		// Outputs are read too: shard results, and the merged results put from them.
		read = append(read, write...)
		for _, u := range inputs {
			read = append(read, "arn:aws:s3:::"+u.Bucket+"/"+objectPattern(u))
		}
	}
	st = append(st,
		deploy.PolicyStatement{Sid: "ListBuckets", Effect: "Allow", Resource: buckets, Action: []string{"s3:ListBucket"}},
		deploy.PolicyStatement{Sid: "ReadObjects", Effect: "Allow", Resource: read, Action: []string{"s3:GetObject"}},
		deploy.PolicyStatement{Sid: "WriteObjects", Effect: "Allow", Resource: write, Action: []string{"s3:PutObject"}},
	)
	return deploy.PolicyDocument{Version: "2012-10-17", Statement: st}
}
