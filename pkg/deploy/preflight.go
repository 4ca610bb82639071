package deploy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// preflight checks credentials, the cluster, subnets, security groups and the target group,
// and reports every problem at once. It returns what it established of the service's
// environment: all of it for your own network, the network for the managed environment (whose
// stacks establish the rest).
func (r *run) preflight(ctx context.Context) (serviceEnv, error) {
	env := serviceEnv{}
	if !r.managedEnv {
		env = envFromConfig(r.cfg)
	}
	r.log.Info("preflight: checking credentials, cluster, network and load balancer")
	id, err := r.deps.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		// Nothing else can work without credentials.
		return env, fmt.Errorf("checking AWS credentials: %w", explain(err))
	}
	r.account = aws.ToString(id.Account)
	r.log.Info("preflight: AWS caller", "account", r.account, "arn", aws.ToString(id.Arn), "region", r.deps.Region)

	var errs []error
	if err := r.checkCluster(ctx); err != nil {
		errs = append(errs, err)
	}
	if r.managedEnv {
		net, err := r.resolveNetwork(ctx)
		env.network = net
		if err != nil {
			errs = append(errs, err)
		} else if !net.DefaultVPC || len(r.cfg.LoadBalancer.Subnets) > 0 {
			// Subnets the user chose: their routes decide whether the tasks reach ECR and
			// clients reach the load balancer. The default VPC's default subnets are public,
			// with a public IP: right by construction.
			tasks := net.Subnets
			if net.DefaultVPC {
				tasks = nil
			}
			if err := r.checkEgress(ctx, net.VPC, tasks, net.PublicIP, net.LBSubnets); err != nil {
				errs = append(errs, err)
			}
		}
		if r.cfg.LoadBalancer.CertificateARN != "" {
			if err := r.checkCertificate(ctx); err != nil {
				errs = append(errs, err)
			}
		} else if r.cfg.LoadBalancer.Domain != "" {
			zone, err := r.hostedZone(ctx)
			env.network.HostedZoneID = zone
			if err != nil {
				errs = append(errs, err)
			}
		}
	} else {
		net, err := r.checkNetwork(ctx)
		if err != nil {
			errs = append(errs, err)
		}
		if net.vpc != "" {
			if err := r.checkEgress(ctx, net.vpc, r.cfg.Network.Subnets, r.cfg.Network.AssignPublicIP, nil); err != nil {
				errs = append(errs, err)
			}
		}
		if err := r.checkTargetGroup(ctx, net, &env); err != nil {
			errs = append(errs, err)
		}
	}
	if err := r.checkRoles(ctx); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return env, fmt.Errorf("%w: preflight found %d problem(s):\n%w", ErrInvalidConfig, len(errs), errors.Join(errs...))
	}
	return env, nil
}

func (r *run) checkCluster(ctx context.Context) error {
	out, err := r.deps.ECS.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{r.cfg.Cluster}})
	if err != nil {
		return fmt.Errorf("describing cluster %s: %w", r.cfg.Cluster, explain(err))
	}
	for _, c := range out.Clusters {
		if aws.ToString(c.Status) == "ACTIVE" {
			r.clusterExists = true
			return nil
		}
	}
	if r.managedEnv && !strings.HasPrefix(r.cfg.Cluster, "arn:") {
		return nil // the environment's cluster stack creates it
	}
	return fmt.Errorf("deploy.cluster: cluster %q is not an active cluster in account %s, %s: create it (aws ecs create-cluster --cluster-name %s) or fix deploy.cluster",
		r.cfg.Cluster, r.account, r.deps.Region, r.cfg.Cluster)
}

// networkInfo is what preflight learnt about the tasks' network, for the egress and load
// balancer checks: vpc is empty when the subnets could not be read or span several VPCs.
type networkInfo struct {
	vpc     string
	subnets []ec2types.Subnet
	groups  []ec2types.SecurityGroup
}

func (r *run) checkNetwork(ctx context.Context) (networkInfo, error) {
	var info networkInfo
	var errs []error
	vpcs := map[string]bool{}
	subnets, err := r.deps.EC2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{
		Filters: []ec2types.Filter{{Name: aws.String("subnet-id"), Values: r.cfg.Network.Subnets}},
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("describing subnets: %w", explain(err)))
	} else {
		found := map[string]bool{}
		for _, s := range subnets.Subnets {
			found[aws.ToString(s.SubnetId)] = true
			vpcs[aws.ToString(s.VpcId)] = true
		}
		if missing := notIn(r.cfg.Network.Subnets, found); len(missing) > 0 {
			errs = append(errs, fmt.Errorf("deploy.network.subnets: %s not found in account %s, %s", strings.Join(missing, ", "), r.account, r.deps.Region))
		}
		if len(vpcs) > 1 {
			errs = append(errs, fmt.Errorf("deploy.network.subnets: the subnets are in different VPCs (%s)", strings.Join(keys(vpcs), ", ")))
		} else if len(vpcs) == 1 {
			info.vpc, info.subnets = keys(vpcs)[0], subnets.Subnets
		}
	}
	groups, err := r.deps.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{
		Filters: []ec2types.Filter{{Name: aws.String("group-id"), Values: r.cfg.Network.SecurityGroups}},
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("describing security groups: %w", explain(err)))
	} else {
		found := map[string]bool{}
		info.groups = groups.SecurityGroups
		for _, g := range groups.SecurityGroups {
			found[aws.ToString(g.GroupId)] = true
			if len(vpcs) > 0 && !vpcs[aws.ToString(g.VpcId)] {
				errs = append(errs, fmt.Errorf("deploy.network.security_groups: %s is in %s, not in the subnets' VPC", aws.ToString(g.GroupId), aws.ToString(g.VpcId)))
			}
		}
		if missing := notIn(r.cfg.Network.SecurityGroups, found); len(missing) > 0 {
			errs = append(errs, fmt.Errorf("deploy.network.security_groups: %s not found in account %s, %s", strings.Join(missing, ", "), r.account, r.deps.Region))
		}
	}
	return info, errors.Join(errs...)
}

// checkTargetGroup tells NLB from ALB, checks the target type and derives the ALB resource
// label used by the requests-per-target scaling policy; the load balancer's type and label go
// into env.
func (r *run) checkTargetGroup(ctx context.Context, net networkInfo, env *serviceEnv) error {
	arn := r.cfg.LoadBalancer.TargetGroupARN
	if arn == "" {
		return nil
	}
	out, err := r.deps.ELB.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{TargetGroupArns: []string{arn}})
	if err != nil {
		return fmt.Errorf("deploy.load_balancer.target_group_arn: describing target group: %w", explain(err))
	}
	if len(out.TargetGroups) == 0 {
		return fmt.Errorf("deploy.load_balancer.target_group_arn: %s not found", arn)
	}
	tg := out.TargetGroups[0]
	var errs []error
	if tt := string(tg.TargetType); tt != "ip" {
		errs = append(errs, fmt.Errorf("deploy.load_balancer.target_group_arn: target group %s has target type %q; Fargate tasks (awsvpc) need target type ip", aws.ToString(tg.TargetGroupName), tt))
	}
	if len(tg.LoadBalancerArns) == 0 {
		errs = append(errs, fmt.Errorf("deploy.load_balancer.target_group_arn: target group %s is not attached to a load balancer (add a listener forwarding to it)", aws.ToString(tg.TargetGroupName)))
		return errors.Join(errs...)
	}
	errs = append(errs, r.checkTargetGroupMatchesTasks(tg, net)...)
	lbs, err := r.deps.ELB.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerArns: tg.LoadBalancerArns[:1]})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("describing the target group's load balancer: %w", explain(err)))...)
	}
	if len(lbs.LoadBalancers) > 0 {
		env.LoadBalancerType = string(lbs.LoadBalancers[0].Type)
		env.ALBLabel = albResourceLabel(tg.LoadBalancerArns[0], arn)
		if err := r.checkGroupsAdmitLoadBalancer(lbs.LoadBalancers[0], net); err != nil {
			errs = append(errs, err)
		}
	}
	if r.cfg.AutoScaling.Enabled && r.cfg.AutoScaling.RequestsPerTarget > 0 && env.LoadBalancerType != "application" {
		errs = append(errs, fmt.Errorf("deploy.autoscaling.requests_per_target: the target group belongs to a %q load balancer; requests per target needs an Application Load Balancer (use cpu_target only)", env.LoadBalancerType))
	}
	r.log.Info("preflight: load balancer", "type", env.LoadBalancerType, "target_group", aws.ToString(tg.TargetGroupName))
	return errors.Join(errs...)
}

// albResourceLabel builds app/<lb-name>/<lb-id>/targetgroup/<tg-name>/<tg-id> from the ARNs.
func albResourceLabel(lbARN, tgARN string) string {
	_, lb, ok1 := strings.Cut(lbARN, ":loadbalancer/")
	i := strings.LastIndex(tgARN, ":")
	if !ok1 || i < 0 {
		return ""
	}
	return lb + "/" + tgARN[i+1:]
}

func notIn(want []string, found map[string]bool) []string {
	var out []string
	for _, w := range want {
		if !found[w] {
			out = append(out, w)
		}
	}
	return out
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkCertificate refuses a certificate the load balancer cannot use: one of another region
// (a load balancer takes only its own region's ACM certificates), a missing one, or one that
// is not ISSUED (pending validation, expired, revoked...). CloudFormation would fail on it
// minutes into the stack.
func (r *run) checkCertificate(ctx context.Context) error {
	arn := r.cfg.LoadBalancer.CertificateARN
	const key = "deploy.load_balancer.certificate_arn"
	if parts := strings.SplitN(arn, ":", 6); len(parts) == 6 && parts[3] != r.deps.Region {
		return fmt.Errorf("%s: %s is in region %s, but the load balancer is in %s, which only takes its own region's certificates: request or import one in %s", key, arn, parts[3], r.deps.Region, r.deps.Region)
	}
	out, err := r.deps.ACM.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(arn)})
	var nf *acmtypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		return fmt.Errorf("%s: certificate %s not found in account %s, %s", key, arn, r.account, r.deps.Region)
	}
	if err != nil {
		return fmt.Errorf("%s: describing certificate %s: %w", key, arn, explain(err))
	}
	if st := out.Certificate.Status; st != acmtypes.CertificateStatusIssued {
		return fmt.Errorf("%s: certificate %s is %s, not ISSUED: finish its validation (or use another certificate) and deploy again", key, arn, st)
	}
	return nil
}
