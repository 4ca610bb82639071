package deploy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

// The managed environment is two CloudFormation stacks: one per cluster (the ECS cluster,
// shared by the services in it) and one per service (execution role, log group, security
// groups, load balancer, target group, listeners). The ECS service stays outside both: it
// changes on every deploy and is driven by facectl's runbook, so a crash-looping service never
// holds a stack in UPDATE_IN_PROGRESS.

// stackTag marks a stack as facectl's and says for what; facectl never touches a stack of
// that name without it.
const stackTag = "facectl:stack"

// stackTimeout bounds one stack operation (an ALB takes a few minutes to create).
const stackTimeout = 30 * time.Minute

// envNetwork is where the managed environment puts the load balancer and the tasks.
type envNetwork struct {
	VPC        string
	Subnets    []string
	LBSubnets  []string
	PublicIP   bool
	DefaultVPC bool
	// HostedZoneID is the Route 53 hosted zone of load_balancer.domain, when the stack makes
	// the domain's certificate and record (see express_domain.go).
	HostedZoneID string
}

// stackSpec is a stack facectl wants to exist with body as its template.
type stackSpec struct {
	Name string
	// For is the stackTag value: cluster/<cluster> or service/<cluster>/<service>.
	For  string
	Body string
	// What names the stack in messages.
	What string
}

var stackNameBadRE = regexp.MustCompile(`[^A-Za-z0-9-]+`)

// stackName makes a valid stack name (letters, digits, '-', at most 128, starting with a
// letter) from facectl- and parts, shortened with a hash when too long.
func stackName(parts ...string) string {
	s := stackNameBadRE.ReplaceAllString("facectl-"+strings.Join(parts, "-"), "-")
	if len(s) > 128 {
		h := sha256.Sum256([]byte(s))
		s = s[:119] + "-" + hex.EncodeToString(h[:4])
	}
	return s
}

// clusterName is the cluster's name when deploy.cluster is an ARN.
func clusterName(c string) string {
	if i := strings.LastIndex(c, "cluster/"); strings.HasPrefix(c, "arn:") && i >= 0 {
		return c[i+len("cluster/"):]
	}
	return c
}

// ClusterStackName is the stack holding the cluster of the managed environment.
func (c Config) ClusterStackName() string {
	return distinctStackName(c.legacyClusterStackName(), "cluster", clusterName(c.Cluster), "")
}

// ServiceStackName is the stack holding the service's environment.
func (c Config) ServiceStackName() string {
	return distinctStackName(c.legacyServiceStackName(), "service", clusterName(c.Cluster), c.Service)
}

// The names of facectl before distinctStackName: kept for a stack that exists under them.
func (c Config) legacyClusterStackName() string { return stackName(clusterName(c.Cluster), "cluster") }
func (c Config) legacyServiceStackName() string { return stackName(clusterName(c.Cluster), c.Service) }

// distinctStackName makes legacy (facectl-<cluster>-<service>, facectl-<cluster>-cluster)
// distinct for every (cluster, service) pair: it is unambiguous only when the cluster has no
// '-' or '_' (so the first '-' after it ends it), the service no '_' (which becomes '-') and
// the service is not "cluster" (the cluster stack's name). Any other pair gets a hash of its
// exact names, so my_svc and my-svc, or a-b/c and a/b-c, never share a stack.
func distinctStackName(legacy, kind, cluster, service string) string {
	if !strings.ContainsAny(cluster, "-_") && !strings.Contains(service, "_") && service != "cluster" {
		return legacy
	}
	h := sha256.Sum256([]byte(kind + "\x00" + cluster + "\x00" + service))
	suffix := "-" + hex.EncodeToString(h[:4])
	if len(legacy)+len(suffix) > 128 {
		legacy = legacy[:128-len(suffix)]
	}
	return legacy + suffix
}

// findStack returns the stack of spec, or, when there is none under spec's name, the one under
// legacy if facectl created it for the same cluster or service (a stack made before names
// became distinct): its name is kept, so an upgrade never orphans a stack.
func (d *Deployer) findStack(ctx context.Context, spec stackSpec, legacy string) (stackSpec, *cfntypes.Stack, error) {
	st, err := d.describeStack(ctx, spec.Name)
	if err != nil || st != nil || legacy == spec.Name {
		return spec, st, err
	}
	old, err := d.describeStack(ctx, legacy)
	if err != nil || old == nil || stackTagValue(old) != spec.For {
		return spec, nil, err
	}
	d.log.Info("keeping the stack's earlier name", "stack", legacy, "new_default", spec.Name)
	spec.Name = legacy
	return spec, old, nil
}

func (c Config) clusterStackFor() string { return "cluster/" + clusterName(c.Cluster) }
func (c Config) serviceStackFor() string {
	return "service/" + clusterName(c.Cluster) + "/" + c.Service
}

// resolveNetwork finds the managed environment's VPC and subnets: the configured subnets, or
// two of the default VPC's default subnets (public, in two zones), whose tasks get a public IP
// so they reach ECR without a NAT gateway.
func (r *run) resolveNetwork(ctx context.Context) (envNetwork, error) {
	n := envNetwork{PublicIP: r.cfg.Network.AssignPublicIP}
	if len(r.cfg.Network.Subnets) == 0 {
		vpcs, err := r.deps.EC2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{
			Filters: []ec2types.Filter{{Name: aws.String("is-default"), Values: []string{"true"}}},
		})
		if err != nil {
			return envNetwork{}, fmt.Errorf("finding the default VPC: %w", explain(err))
		}
		if len(vpcs.Vpcs) == 0 {
			return envNetwork{}, fmt.Errorf("deploy.network.subnets: region %s has no default VPC: create one (aws ec2 create-default-vpc) or set deploy.network.subnets", r.deps.Region)
		}
		n.VPC, n.DefaultVPC, n.PublicIP = aws.ToString(vpcs.Vpcs[0].VpcId), true, true
		subnets, err := r.deps.EC2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{
			{Name: aws.String("vpc-id"), Values: []string{n.VPC}},
			{Name: aws.String("default-for-az"), Values: []string{"true"}},
		}})
		if err != nil {
			return envNetwork{}, fmt.Errorf("describing the default VPC's subnets: %w", explain(err))
		}
		n.Subnets = twoZones(subnets.Subnets)
		if len(n.Subnets) < 2 {
			return envNetwork{}, fmt.Errorf("deploy.network.subnets: the default VPC %s has %d default subnet(s); a load balancer needs two zones: set deploy.network.subnets", n.VPC, len(n.Subnets))
		}
	} else {
		n.Subnets = sortedCopy(r.cfg.Network.Subnets)
	}
	n.LBSubnets = n.Subnets
	if len(r.cfg.LoadBalancer.Subnets) > 0 {
		n.LBSubnets = sortedCopy(r.cfg.LoadBalancer.Subnets)
	}
	if !n.DefaultVPC || len(r.cfg.LoadBalancer.Subnets) > 0 {
		all := append(append([]string{}, n.Subnets...), n.LBSubnets...)
		out, err := r.deps.EC2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{
			Filters: []ec2types.Filter{{Name: aws.String("subnet-id"), Values: all}},
		})
		if err != nil {
			return envNetwork{}, fmt.Errorf("describing subnets: %w", explain(err))
		}
		vpcs, found, zones := map[string]bool{}, map[string]bool{}, map[string]bool{}
		lb := map[string]bool{}
		for _, s := range n.LBSubnets {
			lb[s] = true
		}
		for _, s := range out.Subnets {
			found[aws.ToString(s.SubnetId)] = true
			vpcs[aws.ToString(s.VpcId)] = true
			if lb[aws.ToString(s.SubnetId)] {
				zones[aws.ToString(s.AvailabilityZone)] = true
			}
		}
		var errs []error
		if missing := notIn(all, found); len(missing) > 0 {
			errs = append(errs, fmt.Errorf("deploy.network.subnets: %s not found in account %s, %s", strings.Join(missing, ", "), r.account, r.deps.Region))
		}
		if len(vpcs) > 1 {
			errs = append(errs, fmt.Errorf("deploy.network.subnets: the subnets are in different VPCs (%s)", strings.Join(keys(vpcs), ", ")))
		}
		if len(zones) < 2 && len(notIn(all, found)) == 0 {
			key := "deploy.network.subnets"
			if len(r.cfg.LoadBalancer.Subnets) > 0 {
				key = "deploy.load_balancer.subnets"
			}
			errs = append(errs, fmt.Errorf("%s: the load balancer needs subnets in at least two availability zones (got %d)", key, len(zones)))
		}
		if len(errs) > 0 {
			return envNetwork{}, errors.Join(errs...)
		}
		for v := range vpcs {
			n.VPC = v
		}
	}
	r.log.Info("preflight: managed environment network", "vpc", n.VPC, "default_vpc", n.DefaultVPC, "subnets", strings.Join(n.Subnets, ","), "public_ip", n.PublicIP)
	return n, nil
}

// twoZones picks the default subnets of the first two availability zones (by name): two zones
// keep the service up when one fails, and each further zone costs the load balancer another
// public IPv4 address (about 3.65 USD a month) without serving more traffic.
func twoZones(subnets []ec2types.Subnet) []string {
	sort.Slice(subnets, func(i, j int) bool {
		return aws.ToString(subnets[i].AvailabilityZone) < aws.ToString(subnets[j].AvailabilityZone)
	})
	var out []string
	zones := map[string]bool{}
	for _, s := range subnets {
		if z := aws.ToString(s.AvailabilityZone); !zones[z] && len(zones) < 2 {
			zones[z] = true
			out = append(out, aws.ToString(s.SubnetId))
		}
	}
	sort.Strings(out)
	return out
}

// clusterTemplate is the cluster stack's template.
func (d *Deployer) clusterTemplate() string {
	name := clusterName(d.cfg.Cluster)
	return templateJSON(map[string]any{
		"AWSTemplateFormatVersion": "2010-09-09",
		"Description":              fmt.Sprintf("facectl: ECS cluster %s, shared by the facectl services in it", name),
		"Resources": map[string]any{
			"Cluster": map[string]any{"Type": "AWS::ECS::Cluster", "Properties": map[string]any{"ClusterName": name}},
		},
		"Outputs": map[string]any{"ClusterName": map[string]any{"Value": map[string]any{"Ref": "Cluster"}}},
	})
}

// ServiceTemplate renders the service stack's template for the network n. Physical names are
// left to CloudFormation (except the log group's, which the task definition names): they are
// unique per stack, so two services never collide, and a replacement never fails on a name
// that is still taken.
func (d *Deployer) ServiceTemplate(n envNetwork) string {
	c := d.cfg
	lb := c.LoadBalancer
	port := c.Task.ContainerPort
	alb := lb.Type == "application"
	tls := lb.CertificateARN != "" || n.HostedZoneID != ""
	ref := func(id string) map[string]any { return map[string]any{"Ref": id} }
	getAtt := func(id, attr string) map[string]any { return map[string]any{"Fn::GetAtt": []string{id, attr}} }
	open := func(p int) map[string]any {
		return map[string]any{"IpProtocol": "tcp", "FromPort": p, "ToPort": p, "CidrIp": "0.0.0.0/0", "Description": fmt.Sprintf("clients on %d", p)}
	}
	forward := []any{map[string]any{"Type": "forward", "TargetGroupArn": ref("TargetGroup")}}

	res := map[string]any{}
	logGroup := map[string]any{"LogGroupName": c.LogGroup()}
	if c.Logs.RetentionDays > 0 {
		logGroup["RetentionInDays"] = c.Logs.RetentionDays
	}
	res["LogGroup"] = map[string]any{"Type": "AWS::Logs::LogGroup", "DeletionPolicy": "Delete", "Properties": logGroup}

	if c.Task.ExecutionRoleARN == "" {
		role := map[string]any{
			"Description": fmt.Sprintf("facectl: ECS task execution role of service %s (image pull, logs, secrets)", c.Service),
			// Only ECS, and only for this account's tasks (the confused-deputy guard of
			// https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_execution_IAM_role.html).
			"AssumeRolePolicyDocument": map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
				"Effect": "Allow", "Principal": map[string]any{"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole",
				"Condition": map[string]any{
					"StringEquals": map[string]any{"aws:SourceAccount": map[string]any{"Ref": "AWS::AccountId"}},
					"ArnLike":      map[string]any{"aws:SourceArn": map[string]any{"Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:*"}},
				},
			}}},
			"ManagedPolicyArns": []any{map[string]any{"Fn::Sub": "arn:${AWS::Partition}:" + executionRolePolicy}},
			// The deploy policy lets CloudFormation create roles only under this path and
			// within this boundary (see Policy).
			"Path":                executionRolePath,
			"PermissionsBoundary": map[string]any{"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/" + c.BoundaryName()},
		}
		if stmts := secretStatements(c.Task.Secrets, c.Task.SecretsKMSKeys); len(stmts) > 0 {
			role["Policies"] = []any{map[string]any{"PolicyName": "read-secrets", "PolicyDocument": map[string]any{"Version": "2012-10-17", "Statement": stmts}}}
		}
		res["ExecutionRole"] = map[string]any{"Type": "AWS::IAM::Role", "Properties": role}
	}

	// An NLB cannot redirect, so with a certificate it listens on 443 only: a plaintext
	// listener on 80 would carry API keys in clear.
	plaintext := alb || !tls
	var ingress []any
	if plaintext {
		ingress = append(ingress, open(80))
	}
	if tls {
		ingress = append(ingress, open(443))
	}
	res["LoadBalancerSecurityGroup"] = map[string]any{"Type": "AWS::EC2::SecurityGroup", "Properties": map[string]any{
		"GroupDescription":     atMost(255, fmt.Sprintf("facectl %s: load balancer", c.Service)),
		"VpcId":                n.VPC,
		"SecurityGroupIngress": ingress,
	}}
	res["TaskSecurityGroup"] = map[string]any{"Type": "AWS::EC2::SecurityGroup", "Properties": map[string]any{
		"GroupDescription": atMost(255, fmt.Sprintf("facectl %s: tasks, reachable only from the load balancer", c.Service)),
		"VpcId":            n.VPC,
		"SecurityGroupIngress": []any{map[string]any{
			"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
			"SourceSecurityGroupId": getAtt("LoadBalancerSecurityGroup", "GroupId"), "Description": "load balancer to the container port",
		}},
		// ECR, CloudWatch Logs, SSM and Secrets Manager are reached over HTTPS from the
		// tasks' public IP (or a NAT gateway / VPC endpoints in private subnets).
		"SecurityGroupEgress": []any{map[string]any{"IpProtocol": "-1", "CidrIp": "0.0.0.0/0", "Description": "ECR, logs, secrets"}},
	}}

	res["LoadBalancer"] = map[string]any{"Type": "AWS::ElasticLoadBalancingV2::LoadBalancer", "Properties": map[string]any{
		"Type": lb.Type, "Scheme": "internet-facing", "Subnets": n.LBSubnets,
		"SecurityGroups": []any{ref("LoadBalancerSecurityGroup")},
	}}
	tg := map[string]any{
		"TargetType": "ip", "Port": port, "VpcId": n.VPC,
		"HealthCheckProtocol": "HTTP", "HealthCheckPath": "/readyz", "HealthCheckIntervalSeconds": 10,
		"HealthyThresholdCount": 2, "UnhealthyThresholdCount": 3,
		"TargetGroupAttributes": []any{map[string]any{"Key": "deregistration_delay.timeout_seconds", "Value": fmt.Sprint(seconds(lb.DeregistrationDelay))}},
	}
	if alb {
		tg["Protocol"] = "HTTP"
		tg["Matcher"] = map[string]any{"HttpCode": "200"}
	} else {
		tg["Protocol"] = "TCP"
	}
	res["TargetGroup"] = map[string]any{"Type": "AWS::ElasticLoadBalancingV2::TargetGroup", "Properties": tg}

	plain := map[string]any{"LoadBalancerArn": ref("LoadBalancer"), "Port": 80, "DefaultActions": forward}
	switch {
	case alb && tls:
		plain["Protocol"] = "HTTP"
		plain["DefaultActions"] = []any{map[string]any{"Type": "redirect", "RedirectConfig": map[string]any{
			"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301",
		}}}
	case alb:
		plain["Protocol"] = "HTTP"
	default:
		plain["Protocol"] = "TCP"
	}
	if plaintext {
		res["Listener"] = map[string]any{"Type": "AWS::ElasticLoadBalancingV2::Listener", "Properties": plain}
	}
	if tls {
		proto := "HTTPS"
		if !alb {
			proto = "TLS"
		}
		res["SecureListener"] = map[string]any{"Type": "AWS::ElasticLoadBalancingV2::Listener", "Properties": map[string]any{
			"LoadBalancerArn": ref("LoadBalancer"), "Port": 443, "Protocol": proto,
			"Certificates":   []any{map[string]any{"CertificateArn": certificateRef(lb.CertificateARN)}},
			"SslPolicy":      "ELBSecurityPolicy-TLS13-1-2-2021-06",
			"DefaultActions": forward,
		}}
	}

	scheme := "http://"
	if tls {
		scheme = "https://"
	}
	var url any = map[string]any{"Fn::Join": []any{"", []any{scheme, getAtt("LoadBalancer", "DNSName")}}}
	if lb.Domain != "" {
		url = scheme + lb.Domain
	}
	if n.HostedZoneID != "" {
		domainResources(res, lb.Domain, n.HostedZoneID)
	}
	outputs := map[string]any{
		"TargetGroupArn":      map[string]any{"Value": ref("TargetGroup")},
		"LoadBalancerArn":     map[string]any{"Value": ref("LoadBalancer")},
		"LoadBalancerDNSName": map[string]any{"Value": getAtt("LoadBalancer", "DNSName")},
		"TaskSecurityGroup":   map[string]any{"Value": getAtt("TaskSecurityGroup", "GroupId")},
		"LogGroup":            map[string]any{"Value": ref("LogGroup")},
		"URL":                 map[string]any{"Value": url},
	}
	if n.HostedZoneID != "" {
		// destroy reads them to delete the certificate's DNS validation record (domain.go).
		outputs["CertificateArn"] = map[string]any{"Value": ref("Certificate")}
		outputs["HostedZoneId"] = map[string]any{"Value": n.HostedZoneID}
	}
	if c.Task.ExecutionRoleARN == "" {
		outputs["ExecutionRoleArn"] = map[string]any{"Value": getAtt("ExecutionRole", "Arn")}
	}
	return templateJSON(map[string]any{
		"AWSTemplateFormatVersion": "2010-09-09",
		"Description":              fmt.Sprintf("facectl: environment of service %s in cluster %s (the ECS service itself is managed by facectl deploy)", c.Service, clusterName(c.Cluster)),
		"Resources":                res,
		"Outputs":                  outputs,
	})
}

// secretStatements lets the execution role read the configured secrets, and decrypt them with
// the configured customer-managed keys, and nothing else.
func secretStatements(secrets []Secret, kmsKeys []string) []any {
	var ssm, sm []string
	for _, s := range secrets {
		switch {
		case strings.Contains(s.ValueFrom, ":ssm:"):
			ssm = append(ssm, s.ValueFrom)
		case strings.Contains(s.ValueFrom, ":secretsmanager:"):
			sm = append(sm, secretResource(s.ValueFrom))
		}
	}
	var out []any
	if len(ssm) > 0 {
		out = append(out, map[string]any{"Effect": "Allow", "Action": []string{"ssm:GetParameters"}, "Resource": sortedCopy(ssm)})
	}
	if len(sm) > 0 {
		out = append(out, map[string]any{"Effect": "Allow", "Action": []string{"secretsmanager:GetSecretValue"}, "Resource": sortedCopy(sm)})
	}
	if len(kmsKeys) > 0 && len(ssm)+len(sm) > 0 {
		// Only on behalf of the two services that hold the secrets, never a direct decrypt.
		via := []any{}
		if len(ssm) > 0 {
			via = append(via, map[string]any{"Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"})
		}
		if len(sm) > 0 {
			via = append(via, map[string]any{"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"})
		}
		out = append(out, map[string]any{"Effect": "Allow", "Action": []string{"kms:Decrypt"}, "Resource": sortedCopy(kmsKeys),
			"Condition": map[string]any{"StringEquals": map[string]any{"kms:ViaService": via}}})
	}
	return out
}

// secretSuffixRE is the random suffix Secrets Manager appends to a secret's name in its ARN.
var secretSuffixRE = regexp.MustCompile(`-[A-Za-z0-9]{6}$`)

// secretResource is the IAM resource of a Secrets Manager valueFrom: the secret's own ARN (a
// JSON key, version stage or version ID may follow it), with "-??????" for the random suffix
// when the ARN was given without one
// (https://docs.aws.amazon.com/secretsmanager/latest/userguide/auth-and-access_iam-policies.html#auth-and-access_examples_wildcard).
func secretResource(valueFrom string) string {
	parts := strings.SplitN(valueFrom, ":", 8)
	arn := strings.Join(parts[:min(len(parts), 7)], ":")
	if !secretSuffixRE.MatchString(arn) {
		arn += "-??????"
	}
	return arn
}

// atMost cuts s (ASCII, as facectl's names are) to n characters: a security group's
// description takes at most 255
// (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSecurityGroup.html).
func atMost(n int, s string) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func templateJSON(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b) + "\n"
}

// sameJSON compares two JSON documents (stack templates, lifecycle policies) by value,
// ignoring formatting and key order. Text that is not JSON (a template rewritten in YAML, a
// policy someone mangled) is the same only when it is identical.
func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return a == b
	}
	return reflect.DeepEqual(x, y)
}

// planEnvironment looks at the managed environment's stacks and decides what to do with each
// (create, update when a template changed, nothing). Both are looked at first, so that a
// terminal user is asked once about everything that will change.
func (r *run) planEnvironment(ctx context.Context, net envNetwork) ([]stackStep, error) {
	if !r.managedEnv {
		return nil, nil
	}
	r.log.Info("environment: checking the CloudFormation stacks")
	var steps []stackStep
	cs, st, err := r.findStack(ctx, stackSpec{Name: r.cfg.ClusterStackName(), For: r.cfg.clusterStackFor(), Body: r.clusterTemplate(), What: "cluster stack"}, r.cfg.legacyClusterStackName())
	if err != nil {
		return nil, err
	}
	if st == nil && r.clusterExists {
		r.res.add("cluster", clusterName(r.cfg.Cluster), "none", "exists, not created by facectl: used as is")
	} else {
		step, err := r.planStack(ctx, cs, st)
		if err != nil {
			return nil, err
		}
		steps = append(steps, step)
	}
	ss, st, err := r.findStack(ctx, stackSpec{Name: r.cfg.ServiceStackName(), For: r.cfg.serviceStackFor(), Body: r.serviceStackBody(net), What: "service stack"}, r.cfg.legacyServiceStackName())
	if err != nil {
		return nil, err
	}
	if st == nil || st.StackStatus == cfntypes.StackStatusRollbackComplete {
		// The stack will create the log group: one of that name must not exist already
		// (CloudFormation would fail on it minutes later).
		if err := r.checkLogGroupFree(ctx); err != nil {
			return nil, err
		}
	}
	step, err := r.planStack(ctx, ss, st)
	if err != nil {
		return nil, err
	}
	steps = append(steps, step)
	boundary, err := r.planBoundary(ctx)
	if err != nil {
		return nil, err
	}

	if !r.dryRun {
		ask := boundary.describe()
		for _, s := range steps {
			ask = append(ask, s.describe()...)
		}
		if len(ask) > 0 {
			if err := r.ask(ask); err != nil {
				return nil, err
			}
		}
		if err := r.applyBoundary(ctx, boundary); err != nil {
			return nil, err
		}
	}
	return steps, nil
}

// checkLogGroupFree refuses a log group that exists outside the service stack: another
// cluster's service of the same name, or an earlier deploy into your own network.
func (d *Deployer) checkLogGroupFree(ctx context.Context) error {
	group := d.cfg.LogGroup()
	out, err := d.deps.Logs.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String(group)})
	if err != nil {
		return fmt.Errorf("describing log group %s: %w", group, explain(err))
	}
	for _, g := range out.LogGroups {
		if aws.ToString(g.LogGroupName) == group {
			return fmt.Errorf("%w: deploy.logs.group: log group %s already exists and the environment stack would create it: "+
				"set deploy.logs.group to another name (another cluster's service %s may use it), or delete the group if nothing needs its logs",
				ErrInvalidConfig, group, d.cfg.Service)
		}
	}
	return nil
}

// keepLogGroup refuses an update that would replace the stack's log group only because the
// default name changed (/ecs/<service> became /ecs/<cluster>/<service> outside the default
// cluster): CloudFormation would delete the old group with its logs. A name set in
// deploy.logs.group is a choice, and goes through.
func (r *run) keepLogGroup(oldBody, newBody string) error {
	name := func(body string) string {
		var t struct {
			Resources struct {
				LogGroup struct {
					Properties struct{ LogGroupName string }
				}
			}
		}
		_ = json.Unmarshal([]byte(body), &t)
		return t.Resources.LogGroup.Properties.LogGroupName
	}
	was, now := name(oldBody), name(newBody)
	if r.cfg.Logs.Group != "" || was == "" || now == "" || was == now {
		return nil
	}
	return fmt.Errorf("%w: the service stack keeps the service's logs in log group %s, and this version of facectl names it %s by default: "+
		"the update would delete %s and its logs. Nothing was changed: set deploy.logs.group: %s in the configuration to keep it (or to %s to start a new group)",
		ErrInvalidConfig, was, now, was, was, now)
}

// applyEnvironment carries out the steps and returns the service stack's outputs. It runs
// beside the image build, so it adds nothing to the plan and writes nothing of the run.
//
// Stack operations are started with ctx; waiting for them uses waitCtx, which the caller
// cancels (with cause errStoppedWaiting) to stop waiting without stopping CloudFormation. No
// further stack is started once waitCtx is done.
func (r *run) applyEnvironment(ctx, waitCtx context.Context, steps []stackStep) (map[string]string, error) {
	if !r.managedEnv {
		return nil, nil
	}
	var outputs map[string]string
	for _, s := range steps {
		if waitCtx.Err() != nil {
			return nil, stoppedWaiting(waitCtx, s.spec.Name, "not started")
		}
		var err error
		if outputs, err = r.applyStack(ctx, waitCtx, s); err != nil {
			return nil, err
		}
	}
	return outputs, nil // the service stack's, the last step
}

// describeStack returns the stack, or nil when there is none of that name.
func (d *Deployer) describeStack(ctx context.Context, name string) (*cfntypes.Stack, error) {
	out, err := d.deps.CFN.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
	if isStackMissing(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("describing stack %s: %w", name, explain(err))
	}
	for i := range out.Stacks {
		if out.Stacks[i].StackStatus != cfntypes.StackStatusDeleteComplete {
			return &out.Stacks[i], nil
		}
	}
	return nil, nil
}

// isStackMissing is CloudFormation's answer for an unknown stack name: a ValidationError
// saying it "does not exist".
func isStackMissing(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "ValidationError" && strings.Contains(ae.ErrorMessage(), "does not exist")
}

func stackTagValue(st *cfntypes.Stack) string {
	for _, t := range st.Tags {
		if aws.ToString(t.Key) == stackTag {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

func stackOutputs(st *cfntypes.Stack) map[string]string {
	out := map[string]string{}
	for _, o := range st.Outputs {
		out[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	return out
}

// checkOwner refuses a stack that facectl did not create for this cluster or service.
func checkOwner(st *cfntypes.Stack, spec stackSpec) error {
	if got := stackTagValue(st); got != spec.For {
		return fmt.Errorf("%w: stack %s exists but was not created by facectl for %s (tag %s=%q): refusing to touch it; rename the cluster or service",
			ErrInvalidConfig, spec.Name, spec.For, stackTag, got)
	}
	return nil
}

// stackStep is what a deploy does to one stack: create, update, replace (a rolled-back first
// create: delete, then create), or nothing.
type stackStep struct {
	spec stackSpec
	st   *cfntypes.Stack
	verb string
	// changes are an update's resource changes, from its change set.
	changes []stackChange
}

// describe says what the step will do, for the confirmation; nothing for "none".
func (s stackStep) describe() []string {
	switch s.verb {
	case "create", "replace":
		return append([]string{fmt.Sprintf("%s %s %s with:", s.verb, s.spec.What, s.spec.Name)}, templateResources(s.spec)...)
	case "update":
		if len(s.changes) == 0 {
			return []string{fmt.Sprintf("update %s %s (no resource changes: its outputs or description)", s.spec.What, s.spec.Name)}
		}
		out := []string{fmt.Sprintf("update %s %s with:", s.spec.What, s.spec.Name)}
		for _, c := range s.changes {
			out = append(out, c.line)
		}
		return out
	}
	return nil
}

// planStack decides what to do with the stack named by spec (st is nil when there is none):
// it refuses a stack facectl did not create or one that is busy or broken, and compares the
// templates. A dry run describes the changes here and applies nothing.
func (r *run) planStack(ctx context.Context, spec stackSpec, st *cfntypes.Stack) (stackStep, error) {
	step := stackStep{spec: spec, st: st}
	if st == nil {
		step.verb = "create"
		r.res.add(spec.What, spec.Name, "create", fmt.Sprintf("%d resources", len(resourceIDs(spec.Body))))
		if r.dryRun {
			r.res.Environment = append(r.res.Environment, templateResources(spec)...)
		}
		return step, nil
	}
	if err := checkOwner(st, spec); err != nil {
		return step, err
	}
	status := string(st.StackStatus)
	switch {
	case st.StackStatus == cfntypes.StackStatusRollbackComplete || st.StackStatus == cfntypes.StackStatusReviewInProgress:
		// A first create that failed leaves an empty stack that can only be deleted.
		step.verb = "replace"
		r.res.add(spec.What, spec.Name, "replace", status+": delete and create again")
		if r.dryRun {
			r.res.Environment = append(r.res.Environment, templateResources(spec)...)
		}
		return step, nil
	case strings.HasSuffix(status, "_IN_PROGRESS"):
		return step, fmt.Errorf("stack %s is %s (another deploy or destroy running?): wait until it settles and run again", spec.Name, status)
	case strings.HasSuffix(status, "_FAILED"):
		return step, fmt.Errorf("%w: stack %s is %s: see its events in the CloudFormation console, fix the cause and run again (facectl deploy destroy removes it)", ErrStackFailed, spec.Name, status)
	}

	tmpl, err := r.deps.CFN.GetTemplate(ctx, &cloudformation.GetTemplateInput{StackName: st.StackId, TemplateStage: cfntypes.TemplateStageOriginal})
	if err != nil {
		return step, fmt.Errorf("reading the template of stack %s: %w", spec.Name, explain(err))
	}
	if sameJSON(aws.ToString(tmpl.TemplateBody), spec.Body) {
		step.verb = "none"
		r.res.add(spec.What, spec.Name, "none", status)
		return step, nil
	}
	if err := r.keepLogGroup(aws.ToString(tmpl.TemplateBody), spec.Body); err != nil {
		return step, err
	}
	// Every update is looked at through a change set first: some changes replace what the
	// running service's traffic goes through, and those are refused before anything changes.
	changes, err := r.describeChanges(ctx, spec)
	if err != nil {
		return step, err
	}
	// No resource changes still updates the stack: its outputs (or description) may have
	// changed, and UpdateStack says so when nothing has.
	step.verb, step.changes = "update", changes
	outage := outageChanges(changes)
	detail := fmt.Sprintf("%d resource change(s)", len(changes))
	if len(outage) > 0 {
		detail += "; facectl deploy refuses it: it replaces " + strings.Join(outage, ", ")
	}
	r.res.add(spec.What, spec.Name, "update", detail)
	if r.dryRun { // a deploy asks about them (describe) and makes them; a dry run lists them
		for _, c := range changes {
			r.res.Environment = append(r.res.Environment, c.line)
		}
	}
	if len(outage) > 0 && !r.dryRun {
		return step, refuseOutage(spec, changes)
	}
	return step, nil
}

// stackChange is one resource change of a change set.
type stackChange struct {
	line        string // "<stack> modify TargetGroup (AWS::ElasticLoadBalancingV2::TargetGroup), replaced"
	logicalID   string
	action      cfntypes.ChangeAction
	replacement cfntypes.Replacement
	// properties are the top-level properties a Modify changes.
	properties []string
}

// outageResources are the service stack's resources through which the running service's
// traffic flows, with the settings whose change replaces them. A replaced target group is
// empty (the ECS service still registers its tasks in the old one, which CloudFormation then
// deletes), a replaced load balancer has another DNS name, and a replaced security group or
// one whose ingress rules are rewritten in place cuts the load balancer off the tasks.
// Create-only properties: https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-elasticloadbalancingv2-targetgroup.html
// (Port, Protocol, VpcId, TargetType), .../aws-resource-elasticloadbalancingv2-loadbalancer.html
// (Type, Scheme), .../aws-resource-ec2-securitygroup.html (GroupDescription, VpcId).
var outageResources = map[string]string{
	"TargetGroup":               "deploy.task.container_port, deploy.load_balancer.type",
	"LoadBalancer":              "deploy.load_balancer.type, deploy.network.subnets",
	"TaskSecurityGroup":         "deploy.task.container_port, deploy.network.subnets",
	"LoadBalancerSecurityGroup": "deploy.network.subnets",
}

// outageChanges lists the changes that would drop the running service's traffic.
func outageChanges(changes []stackChange) []string {
	var out []string
	for _, c := range changes {
		if _, ok := outageResources[c.logicalID]; !ok || c.action != cfntypes.ChangeActionModify {
			continue
		}
		switch {
		case c.replacement == cfntypes.ReplacementTrue || c.replacement == cfntypes.ReplacementConditional:
			out = append(out, c.logicalID+" (replaced)")
		case c.logicalID == "TaskSecurityGroup" && containsString(c.properties, "SecurityGroupIngress"):
			out = append(out, c.logicalID+" (ingress rules rewritten in place)")
		}
	}
	return out
}

// refuseOutage is the error for an update that would drop the service's traffic, with what to
// do instead.
func refuseOutage(spec stackSpec, changes []stackChange) error {
	var settings []string
	for _, c := range changes {
		if s, ok := outageResources[c.logicalID]; ok && c.action == cfntypes.ChangeActionModify {
			settings = append(settings, s)
		}
	}
	return fmt.Errorf("%w: updating %s %s would replace %s, and the running service would lose its traffic meanwhile (a new target group has no tasks, a new load balancer has another URL): "+
		"nothing was changed. Keep the previous value of %s, or move without an outage: deploy the new configuration as another service (deploy.service), "+
		"switch clients to its URL, then remove this one with facectl deploy destroy (facectl deploy --dry-run lists the replacements)",
		ErrInvalidConfig, spec.What, spec.Name, strings.Join(outageChanges(changes), ", "), strings.Join(uniqueSettings(settings), ", "))
}

func uniqueSettings(lists []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range lists {
		for _, s := range strings.Split(l, ", ") {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	sort.Strings(out)
	return out
}

// applyStack carries out the step and returns the stack's outputs (nil in a dry run of a
// stack still to be created).
func (r *run) applyStack(ctx, waitCtx context.Context, step stackStep) (map[string]string, error) {
	spec, st := step.spec, step.st
	switch {
	case step.verb == "none":
		return stackOutputs(st), nil
	case r.dryRun && step.verb == "update":
		return stackOutputs(st), nil
	case r.dryRun:
		return nil, nil
	case step.verb == "update":
		r.log.Info("updating stack", "stack", spec.Name)
		started := time.Now()
		if _, err := r.deps.CFN.UpdateStack(ctx, &cloudformation.UpdateStackInput{
			StackName:    st.StackId,
			TemplateBody: aws.String(spec.Body),
			Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityIam},
			Tags:         []cfntypes.Tag{{Key: aws.String(stackTag), Value: aws.String(spec.For)}},
		}); err != nil {
			var ae smithy.APIError
			if errors.As(err, &ae) && strings.Contains(ae.ErrorMessage(), "No updates are to be performed") {
				return stackOutputs(st), nil
			}
			return nil, fmt.Errorf("updating stack %s: %w", spec.Name, explain(err))
		}
		return r.waitStack(waitCtx, aws.ToString(st.StackId), spec.Name, started, st)
	case step.verb == "replace":
		r.log.Info("deleting the stack left by a failed create", "stack", spec.Name, "status", st.StackStatus)
		if err := r.deleteStack(ctx, aws.ToString(st.StackId), spec.Name); err != nil {
			return nil, err
		}
		if waitCtx.Err() != nil {
			return nil, stoppedWaiting(waitCtx, spec.Name, "deleted, not created again")
		}
	}
	r.log.Info("creating stack", "stack", spec.Name, "resources", strings.Join(resourceIDs(spec.Body), ","))
	started := time.Now()
	out, err := r.deps.CFN.CreateStack(ctx, &cloudformation.CreateStackInput{
		StackName:    aws.String(spec.Name),
		TemplateBody: aws.String(spec.Body),
		Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityIam},
		OnFailure:    cfntypes.OnFailureRollback,
		Tags:         []cfntypes.Tag{{Key: aws.String(stackTag), Value: aws.String(spec.For)}},
		// The SDK retries a create whose answer was lost (a 500, a timeout) with the same
		// token, which CloudFormation recognises instead of answering AlreadyExists.
		ClientRequestToken: aws.String(requestToken(spec.Name, r.startedAt)),
	})
	if err != nil {
		return nil, fmt.Errorf("creating stack %s: %w", spec.Name, explain(err))
	}
	return r.waitStack(waitCtx, aws.ToString(out.StackId), spec.Name, started, nil)
}

// requestToken is a CloudFormation ClientRequestToken for one operation on one stack in one run
// (at most 128 of [a-zA-Z0-9-]).
func requestToken(stack string, run time.Time) string {
	h := sha256.Sum256([]byte(stack + "\x00" + run.Format(time.RFC3339Nano)))
	return "facectl-" + hex.EncodeToString(h[:16])
}

// ask confirms a stack change with the user when Options.Confirm is set.
func (r *run) ask(plan []string) error {
	if r.confirm == nil {
		return nil
	}
	yes, err := r.confirm(plan)
	if err != nil {
		return err
	}
	if !yes {
		return ErrCanceled
	}
	return nil
}

// waitStack polls the stack until its operation ends; on failure it reports the first
// resource that failed and CloudFormation's reason. prev is the stack as it was before an
// update (nil after a create): for a while CloudFormation may still answer with it, or, after
// a create, say the stack does not exist.
func (d *Deployer) waitStack(ctx context.Context, id, name string, started time.Time, prev *cfntypes.Stack) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, stackTimeout)
	defer cancel()
	tick := time.NewTicker(d.cfg.Wait.PollInterval)
	defer tick.Stop()
	status := "unknown"
	stale := func() bool { return time.Since(started) < consistencyWindow }
	for {
		out, err := d.deps.CFN.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(id)})
		if err != nil && errors.Is(context.Cause(ctx), errStoppedWaiting) {
			return nil, stoppedWaiting(ctx, name, status)
		}
		switch {
		case err != nil && isStackMissing(err) && prev == nil && stale():
			d.log.Info("CloudFormation does not show the new stack yet: looking again", "stack", name)
		case err != nil && pollFailure(ctx, err) != nil:
			return nil, fmt.Errorf("waiting for stack %s (CloudFormation carries on: see its status in the console or with aws cloudformation describe-stacks): %w", name, explain(err))
		case err != nil:
			// CloudFormation carries on whatever a failed look says: keep looking.
			d.log.Warn("could not read the stack; trying again", "stack", name, "err", explain(err))
		case len(out.Stacks) == 0:
			return nil, fmt.Errorf("waiting for stack %s: it disappeared", name)
		case prev != nil && sameStackState(prev, &out.Stacks[0]) && stale():
			d.log.Info("CloudFormation still shows the stack as before the update: looking again", "stack", name, "status", out.Stacks[0].StackStatus)
		default:
			st := out.Stacks[0]
			status = string(st.StackStatus)
			switch {
			case st.StackStatus == cfntypes.StackStatusCreateComplete || st.StackStatus == cfntypes.StackStatusUpdateComplete:
				d.log.Info("stack ready", "stack", name, "status", status, "seconds", time.Since(started).Round(time.Millisecond).Seconds())
				return stackOutputs(&st), nil
			case st.StackStatus == cfntypes.StackStatusDeleteComplete:
				return nil, nil
			case !strings.HasSuffix(status, "_IN_PROGRESS"):
				return nil, d.stackFailure(ctx, id, name, status, started)
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(context.Cause(ctx), errStoppedWaiting) {
				return nil, stoppedWaiting(ctx, name, status)
			}
			return nil, fmt.Errorf("waiting for stack %s (last status %s): %w", name, status, ctx.Err())
		case <-tick.C:
		}
	}
}

// sameStackState reports whether a look at the stack after an update still shows it as it was
// before: the same status and last update time. A stack never updated before has no update
// time (nor has any stack in moto), so its status alone tells, unless it was UPDATE_COMPLETE
// already.
func sameStackState(prev, cur *cfntypes.Stack) bool {
	if prev.StackStatus != cur.StackStatus || !aws.ToTime(prev.LastUpdatedTime).Equal(aws.ToTime(cur.LastUpdatedTime)) {
		return false
	}
	return cur.LastUpdatedTime != nil || !strings.HasPrefix(string(cur.StackStatus), "UPDATE_")
}

// errStoppedWaiting is the cause with which Run stops waiting for the stacks when the image
// failed.
var errStoppedWaiting = errors.New("stopped waiting")

func stoppedWaiting(ctx context.Context, name, status string) error {
	return fmt.Errorf("stack %s (%s): %w", name, status, context.Cause(ctx))
}

// stackFailure explains a failed stack operation with its root cause: the earliest failed
// resource event of the operation (later ones are mostly "cancelled" follow-ups).
func (d *Deployer) stackFailure(ctx context.Context, id, name, status string, started time.Time) error {
	cause := "no failed resource event found"
	out, err := d.deps.CFN.DescribeStackEvents(ctx, &cloudformation.DescribeStackEventsInput{StackName: aws.String(id)})
	if err != nil {
		cause = "reading the stack events: " + explain(err).Error()
	} else {
		var first *cfntypes.StackEvent
		for i := range out.StackEvents {
			e := &out.StackEvents[i]
			if !strings.HasSuffix(string(e.ResourceStatus), "_FAILED") || aws.ToString(e.LogicalResourceId) == name ||
				aws.ToTime(e.Timestamp).Before(started.Add(-time.Minute)) || strings.Contains(aws.ToString(e.ResourceStatusReason), "cancelled") {
				continue
			}
			if first == nil || !aws.ToTime(e.Timestamp).After(aws.ToTime(first.Timestamp)) {
				first = e
			}
		}
		if first != nil {
			cause = fmt.Sprintf("%s (%s) %s: %s", aws.ToString(first.LogicalResourceId), aws.ToString(first.ResourceType),
				first.ResourceStatus, aws.ToString(first.ResourceStatusReason))
		}
	}
	hint := "fix the cause and run facectl deploy again"
	if status == string(cfntypes.StackStatusRollbackComplete) {
		hint = "the stack was rolled back; the next facectl deploy deletes it and creates it again"
	}
	if a := DeniedAction(cause); a == "iam:CreateRole" || a == "iam:PutRolePolicy" || a == "iam:AttachRolePolicy" {
		// The printed policies leave these out where their holder could choose the new role's
		// trust (the Express infrastructure role, facectl batch's roles).
		hint = "creating this stack's roles takes an administrator's credentials (the printed policy leaves it out on purpose: a role its holder may create could be made to trust them): " +
			"run this once as an administrator, or bring your own role (deploy.express.infrastructure_role_arn, deploy.task.execution_role_arn); " + hint
	}
	return fmt.Errorf("%w: stack %s ended %s: %s; %s", ErrStackFailed, name, status, cause, hint)
}

// deleteStack deletes the stack with the given ID and waits until it is gone.
func (d *Deployer) deleteStack(ctx context.Context, id, name string) error {
	started := time.Now()
	if _, err := d.deps.CFN.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: aws.String(id)}); err != nil {
		return fmt.Errorf("deleting stack %s: %w", name, explain(err))
	}
	ctx, cancel := context.WithTimeout(ctx, stackTimeout)
	defer cancel()
	tick := time.NewTicker(d.cfg.Wait.PollInterval)
	defer tick.Stop()
	for {
		out, err := d.deps.CFN.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(id)})
		if isStackMissing(err) {
			return nil
		}
		if err != nil && pollFailure(ctx, err) != nil {
			return fmt.Errorf("waiting for stack %s to be deleted: %w", name, explain(err))
		}
		switch {
		case err != nil:
			d.log.Warn("could not read the stack; trying again", "stack", name, "err", explain(err))
		case len(out.Stacks) == 0 || out.Stacks[0].StackStatus == cfntypes.StackStatusDeleteComplete:
			return nil
		case !strings.HasPrefix(string(out.Stacks[0].StackStatus), "DELETE_") && time.Since(started) < consistencyWindow:
			// CloudFormation may answer from before the delete for a while.
			d.log.Info("CloudFormation does not show the delete yet: looking again", "stack", name, "status", out.Stacks[0].StackStatus)
		case !strings.HasSuffix(string(out.Stacks[0].StackStatus), "_IN_PROGRESS"):
			return d.stackFailure(ctx, id, name, string(out.Stacks[0].StackStatus), started)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for stack %s to be deleted: %w", name, ctx.Err())
		case <-tick.C:
		}
	}
}

// describeChanges creates a change set for spec, describes it and deletes it: the view of an
// update before it is made, never executed. No changes (a template that differs only in form)
// is an empty list.
func (d *Deployer) describeChanges(ctx context.Context, spec stackSpec) ([]stackChange, error) {
	name := fmt.Sprintf("facectl-changes-%d", time.Now().UnixNano())
	d.log.Info("creating a change set to see what the update changes (never executed)", "stack", spec.Name, "change_set", name)
	cs, err := d.deps.CFN.CreateChangeSet(ctx, &cloudformation.CreateChangeSetInput{
		StackName:     aws.String(spec.Name),
		ChangeSetName: aws.String(name),
		ChangeSetType: cfntypes.ChangeSetTypeUpdate,
		TemplateBody:  aws.String(spec.Body),
		Capabilities:  []cfntypes.Capability{cfntypes.CapabilityCapabilityIam},
		Tags:          []cfntypes.Tag{{Key: aws.String(stackTag), Value: aws.String(spec.For)}},
	})
	if err != nil {
		return nil, fmt.Errorf("creating change set for stack %s: %w", spec.Name, explain(err))
	}
	defer func() {
		// The change set is only a description; a failure to delete it costs nothing but is said.
		if _, err := d.deps.CFN.DeleteChangeSet(context.WithoutCancel(ctx), &cloudformation.DeleteChangeSetInput{ChangeSetName: cs.Id}); err != nil {
			d.log.Warn("deleting the change set", "change_set", aws.ToString(cs.Id), "err", explain(err))
		}
	}()
	started := time.Now()
	ctx, cancel := context.WithTimeout(ctx, stackTimeout)
	defer cancel()
	tick := time.NewTicker(d.cfg.Wait.PollInterval)
	defer tick.Stop()
	var changes []stackChange
	var token *string
	for {
		out, err := d.deps.CFN.DescribeChangeSet(ctx, &cloudformation.DescribeChangeSetInput{ChangeSetName: cs.Id, NextToken: token})
		switch {
		case err != nil && changeSetNotYet(err) && time.Since(started) < consistencyWindow:
			d.log.Info("CloudFormation does not show the new change set yet: looking again", "stack", spec.Name)
		case err != nil && pollFailure(ctx, err) != nil:
			return nil, fmt.Errorf("describing change set of stack %s: %w", spec.Name, explain(err))
		case err != nil:
			d.log.Warn("could not read the change set; trying again", "stack", spec.Name, "err", explain(err))
		case out.Status == cfntypes.ChangeSetStatusCreateComplete:
			for _, c := range out.Changes {
				if r := c.ResourceChange; r != nil {
					changes = append(changes, newStackChange(spec.Name, r))
				}
			}
			if out.NextToken == nil {
				return changes, nil
			}
			token = out.NextToken
			continue
		case out.Status == cfntypes.ChangeSetStatusFailed:
			if strings.Contains(aws.ToString(out.StatusReason), "didn't contain changes") {
				return nil, nil
			}
			return nil, fmt.Errorf("%w: change set for stack %s failed: %s", ErrStackFailed, spec.Name, aws.ToString(out.StatusReason))
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the change set of stack %s: %w", spec.Name, ctx.Err())
		case <-tick.C:
		}
	}
}

func newStackChange(stack string, r *cfntypes.ResourceChange) stackChange {
	c := stackChange{logicalID: aws.ToString(r.LogicalResourceId), action: r.Action, replacement: r.Replacement}
	c.line = fmt.Sprintf("%s %s %s (%s)", stack, strings.ToLower(string(r.Action)), c.logicalID, aws.ToString(r.ResourceType))
	switch r.Replacement {
	case cfntypes.ReplacementTrue:
		c.line += ", replaced"
	case cfntypes.ReplacementConditional:
		c.line += ", replaced (conditionally: CloudFormation decides while updating)"
	}
	for _, det := range r.Details {
		if t := det.Target; t != nil && t.Attribute == cfntypes.ResourceAttributeProperties && !containsString(c.properties, aws.ToString(t.Name)) {
			c.properties = append(c.properties, aws.ToString(t.Name))
		}
	}
	return c
}

// resourceIDs lists the template's logical resource IDs, sorted.
func resourceIDs(body string) []string {
	var t struct {
		Resources map[string]json.RawMessage `json:"Resources"`
	}
	_ = json.Unmarshal([]byte(body), &t)
	ids := make([]string, 0, len(t.Resources))
	for id := range t.Resources {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// templateResources describes a stack to be created: every resource is added.
func templateResources(spec stackSpec) []string {
	var t struct {
		Resources map[string]struct {
			Type string `json:"Type"`
		} `json:"Resources"`
	}
	_ = json.Unmarshal([]byte(spec.Body), &t)
	var out []string
	for _, id := range resourceIDs(spec.Body) {
		out = append(out, fmt.Sprintf("%s add %s (%s)", spec.Name, id, t.Resources[id].Type))
	}
	return out
}
