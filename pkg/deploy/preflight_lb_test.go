package deploy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/facectl/facectl/internal/testenv"
)

// TestInternetFacingLoadBalancerNeedsPublicSubnets (issue 15 item 10): the managed load
// balancer defaults to the tasks' subnets; private ones (0.0.0.0/0 to a NAT gateway, fine for
// the tasks) would give an unreachable internet-facing load balancer. Preflight refuses it,
// naming deploy.load_balancer.subnets, and creates nothing; public LB subnets pass.
func TestInternetFacingLoadBalancerNeedsPublicSubnets(t *testing.T) {
	endpoint := motoEndpoint(t)
	testenv.FakeAWS(t)
	ctx := ctxT(t, 2*time.Minute)
	name := fmt.Sprintf("privlb-%d", time.Now().UnixNano()%1e9)
	cfg := DefaultConfig()
	cfg.EndpointURL = endpoint
	cfg.Cluster, cfg.Service = name, "api"
	cfg.Image.URI = "127.0.0.1:5000/prebuilt@sha256:" + strings.Repeat("ef", 32)
	awsCfg, err := LoadAWSConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ec2c := ec2.NewFromConfig(awsCfg)
	vpc, err := ec2c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.9.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	igw, err := ec2c.CreateInternetGateway(ctx, &ec2.CreateInternetGatewayInput{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ec2c.AttachInternetGateway(ctx, &ec2.AttachInternetGatewayInput{InternetGatewayId: igw.InternetGateway.InternetGatewayId, VpcId: vpc.Vpc.VpcId}); err != nil {
		t.Fatal(err)
	}
	subnetsWith := func(third int, route func(*ec2.CreateRouteInput)) []string {
		rt, err := ec2c.CreateRouteTable(ctx, &ec2.CreateRouteTableInput{VpcId: vpc.Vpc.VpcId})
		if err != nil {
			t.Fatal(err)
		}
		in := &ec2.CreateRouteInput{RouteTableId: rt.RouteTable.RouteTableId, DestinationCidrBlock: aws.String("0.0.0.0/0")}
		route(in)
		if _, err := ec2c.CreateRoute(ctx, in); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for i, az := range []string{"us-east-1a", "us-east-1b"} {
			sn, err := ec2c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String(fmt.Sprintf("10.9.%d.0/24", third+i)), AvailabilityZone: aws.String(az)})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ec2c.AssociateRouteTable(ctx, &ec2.AssociateRouteTableInput{RouteTableId: rt.RouteTable.RouteTableId, SubnetId: sn.Subnet.SubnetId}); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, aws.ToString(sn.Subnet.SubnetId))
		}
		return ids
	}
	public := subnetsWith(0, func(in *ec2.CreateRouteInput) { in.GatewayId = igw.InternetGateway.InternetGatewayId })
	eip, err := ec2c.AllocateAddress(ctx, &ec2.AllocateAddressInput{})
	if err != nil {
		t.Fatal(err)
	}
	nat, err := ec2c.CreateNatGateway(ctx, &ec2.CreateNatGatewayInput{SubnetId: aws.String(public[0]), AllocationId: eip.AllocationId})
	if err != nil {
		t.Fatal(err)
	}
	private := subnetsWith(2, func(in *ec2.CreateRouteInput) { in.NatGatewayId = nat.NatGateway.NatGatewayId })

	cfg.Network.Subnets = private
	_, err = Run(ctx, cfg, NewDeps(awsCfg), Options{})
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "deploy.load_balancer.subnets (empty: the tasks' deploy.network.subnets): "+private[0]+" has no route 0.0.0.0/0 to an internet gateway") {
		t.Fatalf("private load balancer subnets: %v", err)
	}
	cfn := cloudformation.NewFromConfig(awsCfg)
	for _, stack := range []string{cfg.ClusterStackName(), cfg.ServiceStackName()} {
		if _, err := cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(stack)}); !isStackMissing(err) {
			t.Errorf("stack %s was created for a refused config: %v", stack, err)
		}
	}

	// Preflight alone: a dry run in a cluster that does not exist yet is another item's.
	cfg.LoadBalancer.Subnets = public
	d, err := New(cfg, NewDeps(awsCfg))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.newRun(true, nil).preflight(ctx); err != nil {
		t.Fatalf("public load balancer subnets, private task subnets: %v", err)
	}
}

// TestCertificateCheckedInPreflight (issue 15 item 12): a certificate of another region, or
// one not ISSUED (moto issues every requested certificate, so the strict stub gives the
// status), is refused in preflight, before any stack.
// Statuses: https://docs.aws.amazon.com/acm/latest/APIReference/API_CertificateDetail.html
func TestCertificateCheckedInPreflight(t *testing.T) {
	for _, tc := range []struct {
		name, arn string
		acm       []*stubCall
		want      string
	}{
		{"pending", "arn:aws:acm:us-east-1:123456789012:certificate/p", []*stubCall{ok("acm.DescribeCertificate",
			`{"Certificate":{"CertificateArn":"arn:aws:acm:us-east-1:123456789012:certificate/p","Status":"PENDING_VALIDATION"}}`)},
			"certificate arn:aws:acm:us-east-1:123456789012:certificate/p is PENDING_VALIDATION, not ISSUED"},
		{"missing", "arn:aws:acm:us-east-1:123456789012:certificate/m", []*stubCall{fail("acm.DescribeCertificate", 400, "ResourceNotFoundException", "no such certificate")},
			"certificate arn:aws:acm:us-east-1:123456789012:certificate/m not found"},
		{"other region", "arn:aws:acm:eu-west-1:123456789012:certificate/e", nil,
			"is in region eu-west-1, but the load balancer is in us-east-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stub := newAWSStub(t)
			stub.expect(managedPreflightCalls()...)
			stub.expect(tc.acm...)
			cfg := DefaultConfig()
			cfg.Region = "us-east-1"
			cfg.Image.URI = newImage
			cfg.LoadBalancer.CertificateARN = tc.arn
			stub.coverWithPolicy(cfg)
			_, err := Run(ctxT(t, 10*time.Second), cfg, stub.deps(t, &lockedBuffer{}), Options{})
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "deploy.load_balancer.certificate_arn: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
