package awsbatch

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/facectl/facectl/pkg/deploy"
	"github.com/facectl/facectl/pkg/s3io"
)

// Access is what the job role may touch: read the inputs, write the outputs, and both in the
// work prefix (manifests in, shard results out). Nothing else in S3.
type Access struct {
	Read  []s3io.URL
	Write []s3io.URL
	Work  s3io.URL
}

// network is where the children run.
type network struct {
	VPC      string
	Subnets  []string
	PublicIP bool
}

// rolePath is the IAM path of the roles the stack makes; the policy of `facectl batch policy`
// lets CloudFormation create and pass roles under it only.
const rolePath = "/facectl/batch/"

// childCommand is what a child runs (the image's entrypoint is facectl); the shard's settings
// come as arguments at submission.
var childCommand = []string{"batch", "shard"}

// resolveNetwork finds the children's subnets: the configured ones (and their VPC), or the
// default VPC's default subnets, whose tasks get a public IP so they reach ECR, S3 and
// CloudWatch Logs without a NAT gateway.
func resolveNetwork(ctx context.Context, api EC2API, cfg Config) (network, error) {
	if len(cfg.Subnets) == 0 {
		vpcs, err := api.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []ec2types.Filter{{Name: aws.String("is-default"), Values: []string{"true"}}}})
		if err != nil {
			return network{}, fmt.Errorf("finding the default VPC: %w", err)
		}
		if len(vpcs.Vpcs) == 0 {
			return network{}, fmt.Errorf("batch.subnets: this region has no default VPC: set batch.subnets")
		}
		vpc := aws.ToString(vpcs.Vpcs[0].VpcId)
		out, err := api.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{
			{Name: aws.String("vpc-id"), Values: []string{vpc}}, {Name: aws.String("default-for-az"), Values: []string{"true"}},
		}})
		if err != nil {
			return network{}, fmt.Errorf("describing the default VPC's subnets: %w", err)
		}
		n := network{VPC: vpc, PublicIP: true}
		for _, s := range out.Subnets {
			n.Subnets = append(n.Subnets, aws.ToString(s.SubnetId))
		}
		if len(n.Subnets) == 0 {
			return network{}, fmt.Errorf("batch.subnets: the default VPC %s has no default subnets: set batch.subnets", vpc)
		}
		sort.Strings(n.Subnets)
		return n, nil
	}
	out, err := api.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: cfg.Subnets})
	if err != nil {
		return network{}, fmt.Errorf("batch.subnets: describing %s: %w", strings.Join(cfg.Subnets, ", "), err)
	}
	vpcs := map[string]bool{}
	n := network{PublicIP: cfg.PublicIP}
	for _, s := range out.Subnets {
		vpcs[aws.ToString(s.VpcId)] = true
		n.VPC = aws.ToString(s.VpcId)
		n.Subnets = append(n.Subnets, aws.ToString(s.SubnetId))
	}
	if len(vpcs) != 1 || len(n.Subnets) != len(cfg.Subnets) {
		return network{}, fmt.Errorf("batch.subnets: %s must all exist and be in one VPC", strings.Join(cfg.Subnets, ", "))
	}
	sort.Strings(n.Subnets)
	return n, nil
}

// stackSpec is the environment's stack for image, network n and access a.
func stackSpec(cfg Config, image string, n network, a Access) deploy.StackSpec {
	return deploy.StackSpec{Name: cfg.StackName(), For: cfg.stackFor(), Body: Template(cfg, image, n, a), What: "batch stack"}
}

// Template renders the environment's CloudFormation template.
func Template(cfg Config, image string, n network, a Access) string {
	ref := func(id string) map[string]any { return map[string]any{"Ref": id} }
	getAtt := func(id, attr string) map[string]any { return map[string]any{"Fn::GetAtt": []string{id, attr}} }
	sub := func(s string) map[string]any { return map[string]any{"Fn::Sub": s} }
	assume := map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
		"Effect": "Allow", "Principal": map[string]any{"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole",
		// Only this account's tasks (the confused-deputy guard of
		// https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-iam-roles.html).
		"Condition": map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": ref("AWS::AccountId")}},
	}}}
	res := map[string]any{}
	res["LogGroup"] = map[string]any{"Type": "AWS::Logs::LogGroup", "DeletionPolicy": "Delete", "Properties": map[string]any{
		"LogGroupName": cfg.LogGroup(), "RetentionInDays": cfg.LogRetentionDays,
	}}
	res["ExecutionRole"] = map[string]any{"Type": "AWS::IAM::Role", "Properties": map[string]any{
		"Description":              "facectl batch " + cfg.Name + ": pulls the image and writes the children's logs",
		"Path":                     rolePath,
		"AssumeRolePolicyDocument": assume,
		"ManagedPolicyArns":        []any{sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy")},
	}}
	res["JobRole"] = map[string]any{"Type": "AWS::IAM::Role", "Properties": map[string]any{
		"Description":              "facectl batch " + cfg.Name + ": reads only the input prefix, writes only the output prefix",
		"Path":                     rolePath,
		"AssumeRolePolicyDocument": assume,
		"Policies":                 []any{map[string]any{"PolicyName": "s3-prefixes", "PolicyDocument": jobRolePolicy(a)}},
	}}
	res["SecurityGroup"] = map[string]any{"Type": "AWS::EC2::SecurityGroup", "Properties": map[string]any{
		"GroupDescription": "facectl batch " + cfg.Name + ": children, no inbound traffic",
		"VpcId":            n.VPC,
		"SecurityGroupEgress": []any{map[string]any{"IpProtocol": "-1", "CidrIp": "0.0.0.0/0",
			"Description": "S3, ECR and CloudWatch Logs over HTTPS"}},
	}}
	compute := func(kind string) map[string]any {
		props := map[string]any{
			"Type": "MANAGED", "State": "ENABLED",
			"ComputeResources": map[string]any{
				"Type": kind, "MaxvCpus": cfg.MaxVCPUs, "Subnets": n.Subnets,
				"SecurityGroupIds": []any{getAtt("SecurityGroup", "GroupId")},
			},
		}
		// Without one, Batch uses (and if need be creates) its service-linked role.
		if cfg.ServiceRole != "" {
			props["ServiceRole"] = cfg.ServiceRole
		}
		return map[string]any{"Type": "AWS::Batch::ComputeEnvironment", "Properties": props}
	}
	var order []any
	if cfg.Spot {
		res["SpotCompute"] = compute("FARGATE_SPOT")
		order = append(order, map[string]any{"Order": 1, "ComputeEnvironment": ref("SpotCompute")})
	}
	if !cfg.Spot || cfg.OnDemandFallback {
		res["OnDemandCompute"] = compute("FARGATE")
		order = append(order, map[string]any{"Order": len(order) + 1, "ComputeEnvironment": ref("OnDemandCompute")})
	}
	res["JobQueue"] = map[string]any{"Type": "AWS::Batch::JobQueue", "Properties": map[string]any{
		"Priority": 1, "State": "ENABLED", "ComputeEnvironmentOrder": order,
	}}
	var env []any
	for _, kv := range cfg.Environment {
		name, value, _ := strings.Cut(kv, "=")
		env = append(env, map[string]any{"Name": name, "Value": value})
	}
	publicIP := "DISABLED"
	if n.PublicIP {
		publicIP = "ENABLED"
	}
	jobDef := map[string]any{
		"Type":                 "container",
		"PlatformCapabilities": []string{"FARGATE"},
		// A reclaimed Spot task or a crash is retried; exit status 2 (bad settings) never
		// succeeds on a retry. With evaluateOnExit, anything else that matches no rule is
		// retried (https://docs.aws.amazon.com/batch/latest/APIReference/API_RetryStrategy.html).
		"RetryStrategy": map[string]any{"Attempts": cfg.Attempts, "EvaluateOnExit": []any{
			map[string]any{"OnExitCode": "2", "Action": "EXIT"},
		}},
		"ContainerProperties": map[string]any{
			"Image":   image,
			"Command": childCommand,
			"ResourceRequirements": []any{
				map[string]any{"Type": "VCPU", "Value": strconv.FormatFloat(cfg.VCPU, 'f', -1, 64)},
				map[string]any{"Type": "MEMORY", "Value": strconv.Itoa(cfg.MemoryMiB)},
			},
			"ExecutionRoleArn":             getAtt("ExecutionRole", "Arn"),
			"JobRoleArn":                   getAtt("JobRole", "Arn"),
			"NetworkConfiguration":         map[string]any{"AssignPublicIp": publicIP},
			"FargatePlatformConfiguration": map[string]any{"PlatformVersion": "LATEST"},
			"Environment":                  env,
			"LogConfiguration": map[string]any{"LogDriver": "awslogs", "Options": map[string]any{
				"awslogs-group": ref("LogGroup"), "awslogs-region": ref("AWS::Region"), "awslogs-stream-prefix": "facectl",
			}},
		},
	}
	if cfg.AttemptTimeout > 0 {
		jobDef["Timeout"] = map[string]any{"AttemptDurationSeconds": int(cfg.AttemptTimeout.Seconds())}
	}
	res["JobDefinition"] = map[string]any{"Type": "AWS::Batch::JobDefinition", "Properties": jobDef}
	b, _ := json.MarshalIndent(map[string]any{
		"AWSTemplateFormatVersion": "2010-09-09",
		"Description":              "facectl batch environment " + cfg.Name + ": Fargate compute, job queue and job definition of facectl batch run",
		"Resources":                res,
		"Outputs": map[string]any{
			"JobQueue":      map[string]any{"Value": ref("JobQueue")},
			"JobDefinition": map[string]any{"Value": ref("JobDefinition")},
			"LogGroup":      map[string]any{"Value": ref("LogGroup")},
		},
	}, "", "  ")
	return string(b) + "\n"
}

// jobRolePolicy lets a child list and read the inputs, read and write its outputs (reading an
// output's metadata is how a retry keeps what an earlier attempt wrote; listing is what makes
// S3 answer 404 rather than 403 for one not written yet), and the same in the work prefix.
func jobRolePolicy(a Access) map[string]any {
	objects := func(us []s3io.URL) []any {
		var out []any
		for _, u := range us {
			out = append(out, map[string]any{"Fn::Sub": "arn:${AWS::Partition}:s3:::" + u.Bucket + "/" + objectPattern(u)})
		}
		return out
	}
	var stmts []any
	list := map[string][]string{}
	for _, u := range append(append(append([]s3io.URL{}, a.Read...), a.Write...), a.Work) {
		p := u.Key
		if u.IsPrefix() {
			p += "*"
		}
		list[u.Bucket] = append(list[u.Bucket], p)
	}
	buckets := make([]string, 0, len(list))
	for b := range list {
		buckets = append(buckets, b)
	}
	sort.Strings(buckets)
	for _, b := range buckets {
		stmts = append(stmts, map[string]any{
			"Effect": "Allow", "Action": "s3:ListBucket",
			"Resource":  map[string]any{"Fn::Sub": "arn:${AWS::Partition}:s3:::" + b},
			"Condition": map[string]any{"StringLike": map[string]any{"s3:prefix": list[b]}},
		})
	}
	stmts = append(stmts,
		map[string]any{"Effect": "Allow", "Action": "s3:GetObject", "Resource": objects(append(append(append([]s3io.URL{}, a.Read...), a.Write...), a.Work))},
		map[string]any{"Effect": "Allow", "Action": "s3:PutObject", "Resource": objects(append(append([]s3io.URL{}, a.Write...), a.Work))},
	)
	return map[string]any{"Version": "2012-10-17", "Statement": stmts}
}

// objectPattern is the IAM resource pattern of u's objects: the key itself, or everything
// under the prefix.
func objectPattern(u s3io.URL) string {
	if u.IsPrefix() {
		return u.Key + "*"
	}
	return u.Key
}
