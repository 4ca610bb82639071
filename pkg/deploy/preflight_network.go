package deploy

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// egress is how a subnet's route table reaches beyond the VPC.
type egress struct {
	table string // route table ID
	kind  string // "igw", "nat", "other" (transit gateway, instance, peering...) or "" for none
	via   string // the target of the 0.0.0.0/0 route
}

// subnetEgress finds each subnet's route table (its explicit association, else the VPC's main
// table) and what its 0.0.0.0/0 route points at.
func subnetEgress(tables []ec2types.RouteTable, subnets []string) map[string]egress {
	var main *ec2types.RouteTable
	explicit := map[string]*ec2types.RouteTable{}
	for i := range tables {
		for _, a := range tables[i].Associations {
			if aws.ToBool(a.Main) {
				main = &tables[i]
			}
			if id := aws.ToString(a.SubnetId); id != "" {
				explicit[id] = &tables[i]
			}
		}
	}
	out := map[string]egress{}
	for _, s := range subnets {
		rt := explicit[s]
		if rt == nil {
			rt = main
		}
		if rt == nil {
			out[s] = egress{}
			continue
		}
		e := egress{table: aws.ToString(rt.RouteTableId)}
		for _, r := range rt.Routes {
			if aws.ToString(r.DestinationCidrBlock) != "0.0.0.0/0" || r.State == ec2types.RouteStateBlackhole {
				continue
			}
			switch {
			case strings.HasPrefix(aws.ToString(r.GatewayId), "igw-"):
				e.kind, e.via = "igw", aws.ToString(r.GatewayId)
			case aws.ToString(r.NatGatewayId) != "":
				e.kind, e.via = "nat", aws.ToString(r.NatGatewayId)
			default:
				e.kind = "other"
				for _, v := range []*string{r.TransitGatewayId, r.InstanceId, r.NetworkInterfaceId, r.VpcPeeringConnectionId, r.GatewayId} {
					if aws.ToString(v) != "" {
						e.via = aws.ToString(v)
						break
					}
				}
			}
		}
		out[s] = e
	}
	return out
}

// neededEndpoints are the VPC endpoint services (short names) the task needs without a route to
// the internet: ECR (API, registry, and S3 where the layers are) for an ECR image, logs for
// awslogs, SSM or Secrets Manager for secrets.
func (r *run) neededEndpoints() (services []string, internet bool) {
	image := r.cfg.Image.URI
	if image == "" {
		host := r.cfg.Image.Registry
		if host == "" {
			host = r.account + ".dkr.ecr." + r.deps.Region + ".amazonaws.com"
		}
		image = host + "/" + r.cfg.Image.Repository
	}
	if _, ok := parseECRImage(image); ok {
		services = append(services, "ecr.api", "ecr.dkr", "s3")
	} else {
		internet = true // a registry outside AWS: no endpoint reaches it
	}
	services = append(services, "logs") // awslogs, always configured
	ssm, sm := false, false
	for _, s := range r.cfg.Task.Secrets {
		ssm = ssm || strings.Contains(s.ValueFrom, ":ssm:")
		sm = sm || strings.Contains(s.ValueFrom, ":secretsmanager:")
	}
	if ssm {
		services = append(services, "ssm")
	}
	if sm {
		services = append(services, "secretsmanager")
	}
	return services, internet
}

// checkEgress reads the subnets' route tables and refuses subnets from which the task could
// not pull its image, write its logs or read its secrets: a public subnet (0.0.0.0/0 to an
// internet gateway) without a public IP, or a private one without a NAT gateway or the VPC
// endpoints. ECS would only say so with CannotPullContainerError, minutes later.
//
// lbSubnets, when given, are an internet-facing load balancer's: each must route 0.0.0.0/0 to
// an internet gateway, or the load balancer is created but unreachable.
func (r *run) checkEgress(ctx context.Context, vpc string, subnets []string, publicIP bool, lbSubnets []string) error {
	tables, err := r.deps.EC2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{
		Filters: []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpc}}},
	})
	if err != nil {
		return fmt.Errorf("describing the route tables of %s: %w", vpc, explain(err))
	}
	routes := subnetEgress(tables.RouteTables, subnets)
	needed, internet := r.neededEndpoints()

	// The endpoints are read only when a subnet has no usable route out.
	var have map[string][]ec2types.VpcEndpoint // by service short name, e.g. ecr.dkr
	endpointsMissing := func(table string) ([]string, error) {
		if have == nil {
			out, err := r.deps.EC2.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{
				Filters: []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpc}}},
			})
			if err != nil {
				return nil, fmt.Errorf("describing the VPC endpoints of %s: %w", vpc, explain(err))
			}
			have = map[string][]ec2types.VpcEndpoint{}
			for _, e := range out.VpcEndpoints {
				if st := strings.ToLower(string(e.State)); st != "" && st != "available" {
					continue
				}
				name := aws.ToString(e.ServiceName)
				short := strings.TrimPrefix(name, "com.amazonaws."+r.deps.Region+".")
				have[short] = append(have[short], e)
			}
		}
		var lack []string
		for _, svc := range needed {
			if !slices.ContainsFunc(have[svc], func(e ec2types.VpcEndpoint) bool { return endpointServes(e, table) }) {
				lack = append(lack, "com.amazonaws."+r.deps.Region+"."+svc)
			}
		}
		return lack, nil
	}

	var errs []error
	key := "deploy.load_balancer.subnets"
	if len(r.cfg.LoadBalancer.Subnets) == 0 {
		key += " (empty: the tasks' deploy.network.subnets)"
	}
	for subnet, e := range subnetEgress(tables.RouteTables, lbSubnets) {
		if e.kind != "igw" {
			errs = append(errs, fmt.Errorf("%s: %s has no route 0.0.0.0/0 to an internet gateway (route table %s), so an internet-facing load balancer there is unreachable. "+
				"Fix: set deploy.load_balancer.subnets to public subnets of the VPC (in two zones)", key, subnet, routeTableOr(e.table)))
		}
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	for _, subnet := range subnets {
		e := routes[subnet]
		switch {
		case e.kind == "nat", e.kind == "other":
			continue
		case e.kind == "igw" && publicIP:
			continue
		}
		lack, err := endpointsMissing(e.table)
		if err != nil {
			return err
		}
		if len(lack) == 0 && !internet {
			continue // private, with every endpoint the task needs
		}
		if e.kind == "igw" {
			errs = append(errs, fmt.Errorf("deploy.network.subnets: %s is a public subnet (route table %s sends 0.0.0.0/0 to %s) but deploy.network.assign_public_ip is false: "+
				"tasks without a public IP there cannot reach ECR, CloudWatch Logs or any registry, and fail with CannotPullContainerError. "+
				"Fix: set deploy.network.assign_public_ip: true (--assign-public-ip), or use private subnets that route 0.0.0.0/0 to a NAT gateway",
				subnet, e.table, e.via))
			continue
		}
		what := "no route 0.0.0.0/0 to a NAT gateway"
		if e.table == "" {
			what = "no route table"
		}
		fix := fmt.Sprintf("add a route 0.0.0.0/0 to a NAT gateway to %s", routeTableOr(e.table))
		if internet {
			errs = append(errs, fmt.Errorf("deploy.network.subnets: %s is a private subnet (%s) and the image is in a registry outside AWS, which only a NAT gateway can reach. Fix: %s, "+
				"or use public subnets with deploy.network.assign_public_ip: true", subnet, what, fix))
			continue
		}
		errs = append(errs, fmt.Errorf("deploy.network.subnets: %s is a private subnet (%s) and the VPC lacks the endpoints the task needs without one (interface endpoints with private DNS): %s. "+
			"Fix: %s, or create those VPC endpoints (interface endpoints with private DNS; S3 as a gateway endpoint on %s), or use public subnets with deploy.network.assign_public_ip: true",
			subnet, what, strings.Join(lack, ", "), fix, routeTableOr(e.table)))
	}
	return errors.Join(errs...)
}

// routeTableOr names a route table in a fix, or the subnet's when it has none.
func routeTableOr(s string) string {
	if s == "" {
		return "the subnet's route table"
	}
	return s
}

// healthPaths are the paths facectl serve answers health checks on.
var healthPaths = map[string]bool{"/readyz": true, "/healthz": true}

// checkTargetGroupMatchesTasks compares the target group with the tasks: same VPC, health
// checks on the container port and on a path serve answers.
func (r *run) checkTargetGroupMatchesTasks(tg elbtypes.TargetGroup, net networkInfo) []error {
	var errs []error
	name := aws.ToString(tg.TargetGroupName)
	port := r.cfg.Task.ContainerPort
	if v := aws.ToString(tg.VpcId); net.vpc != "" && v != "" && v != net.vpc {
		errs = append(errs, fmt.Errorf("deploy.load_balancer.target_group_arn: target group %s is in %s but the subnets are in %s: ECS cannot register the tasks with it", name, v, net.vpc))
	}
	if hp := aws.ToString(tg.HealthCheckPort); hp != "" && hp != "traffic-port" && hp != strconv.Itoa(port) {
		errs = append(errs, fmt.Errorf("deploy.load_balancer.target_group_arn: target group %s checks health on port %s but serve listens on deploy.task.container_port %d: "+
			"set its health check port to traffic-port (aws elbv2 modify-target-group --health-check-port traffic-port)", name, hp, port))
	}
	if p := aws.ToInt32(tg.Port); p != 0 && int(p) != port {
		r.log.Warn("the target group's port differs from the container port; ECS registers the tasks on the container port, so traffic still arrives",
			"target_group", name, "target_group_port", p, "container_port", port)
	}
	switch tg.HealthCheckProtocol {
	case elbtypes.ProtocolEnumHttp, elbtypes.ProtocolEnumHttps:
		path := aws.ToString(tg.HealthCheckPath)
		if q := strings.IndexByte(path, '?'); q >= 0 {
			path = path[:q]
		}
		if !healthPaths[path] {
			errs = append(errs, fmt.Errorf("deploy.load_balancer.target_group_arn: target group %s checks health on %q, which facectl serve does not answer: "+
				"set its health check path to /readyz (aws elbv2 modify-target-group --health-check-path /readyz)", name, aws.ToString(tg.HealthCheckPath)))
		}
	}
	return errs
}

// checkGroupsAdmitLoadBalancer makes sure one of the task security groups lets the load
// balancer reach the container port: from the load balancer's security group, or from an
// address range overlapping the tasks' subnets (an NLB without security groups).
func (r *run) checkGroupsAdmitLoadBalancer(lb elbtypes.LoadBalancer, net networkInfo) error {
	if len(net.groups) == 0 {
		return nil // reported by checkNetwork
	}
	port := int32(r.cfg.Task.ContainerPort)
	lbGroups := map[string]bool{}
	for _, g := range lb.SecurityGroups {
		lbGroups[g] = true
	}
	var subnetRanges []netip.Prefix
	for _, s := range net.subnets {
		if p, err := netip.ParsePrefix(aws.ToString(s.CidrBlock)); err == nil {
			subnetRanges = append(subnetRanges, p)
		}
	}
	for _, g := range net.groups {
		for _, perm := range g.IpPermissions {
			proto := aws.ToString(perm.IpProtocol)
			if proto != "-1" && proto != "tcp" && proto != "6" {
				continue
			}
			if proto != "-1" && (aws.ToInt32(perm.FromPort) > port || aws.ToInt32(perm.ToPort) < port) {
				continue
			}
			for _, pair := range perm.UserIdGroupPairs {
				if lbGroups[aws.ToString(pair.GroupId)] {
					return nil
				}
			}
			if len(perm.PrefixListIds) > 0 {
				return nil // cannot be resolved here: trust it
			}
			for _, r := range perm.IpRanges {
				p, err := netip.ParsePrefix(aws.ToString(r.CidrIp))
				if err != nil {
					continue
				}
				for _, s := range subnetRanges {
					if p.Overlaps(s) {
						return nil
					}
				}
				if len(subnetRanges) == 0 {
					return nil
				}
			}
		}
	}
	var ids []string
	for _, g := range net.groups {
		ids = append(ids, aws.ToString(g.GroupId))
	}
	source := "--cidr <the VPC's CIDR>"
	if len(lb.SecurityGroups) > 0 {
		source = "--source-group " + lb.SecurityGroups[0]
	}
	return fmt.Errorf("deploy.network.security_groups: %s admit nothing from the load balancer %s on port %d, so its health checks fail and ECS keeps replacing the tasks. "+
		"Fix: aws ec2 authorize-security-group-ingress --group-id %s --protocol tcp --port %d %s",
		strings.Join(ids, ", "), aws.ToString(lb.LoadBalancerName), port, ids[0], port, source)
}

// endpointServes reports whether a VPC endpoint serves tasks whose subnet uses the route table
// table: a gateway endpoint (S3) only through the route tables it is on, an interface endpoint
// only with private DNS, since the task's image pull and log driver call the service's public
// name.
func endpointServes(e ec2types.VpcEndpoint, table string) bool {
	switch e.VpcEndpointType {
	case ec2types.VpcEndpointTypeGateway:
		return slices.Contains(e.RouteTableIds, table)
	case ec2types.VpcEndpointTypeInterface:
		return aws.ToBool(e.PrivateDnsEnabled)
	}
	return true
}
