package deploy

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const noEndpoints = `<DescribeVpcEndpointsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r1</requestId><vpcEndpointSet/></DescribeVpcEndpointsResponse>`

func vpcEndpointsXML(items ...string) string {
	return `<DescribeVpcEndpointsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r1</requestId><vpcEndpointSet>` +
		strings.Join(items, "") + `</vpcEndpointSet></DescribeVpcEndpointsResponse>`
}

func endpointXML(service, typ, routeTable string) string {
	rt := ""
	if routeTable != "" {
		rt = `<routeTableIdSet><item>` + routeTable + `</item></routeTableIdSet>`
	}
	if typ == "Interface" {
		rt += `<privateDnsEnabled>true</privateDnsEnabled>`
	}
	return `<item><vpcEndpointId>vpce-` + strings.ReplaceAll(service, ".", "") + `</vpcEndpointId><vpcEndpointType>` + typ + `</vpcEndpointType><vpcId>vpc-1</vpcId>` +
		`<serviceName>com.amazonaws.us-east-1.` + service + `</serviceName><state>available</state>` + rt + `</item>`
}

// preflightUpTo returns the preflight script with the route table answer replaced and the
// calls after it given explicitly.
func preflightWith(routeTables string, after ...*stubCall) []*stubCall {
	calls := preflightCalls()[:4]
	calls = append(calls, ok("ec2.DescribeRouteTables", routeTables))
	return append(calls, after...)
}

// A public subnet without a public IP is refused in preflight: nothing is created (the strict
// stub fails on any further call).
func TestPreflightRefusesAPublicSubnetWithoutAPublicIP(t *testing.T) {
	stub := newAWSStub(t)
	stub.expect(preflightWith(routeTablesXML(`<gatewayId>igw-1</gatewayId>`),
		ok("ec2.DescribeVpcEndpoints", noEndpoints),
		ok("iam.GetRole", getRoleXML(ecsTasksTrust)))...)
	cfg := stubConfig()
	stub.coverWithPolicy(cfg)
	_, err := Run(ctxT(t, 10*time.Second), cfg, stub.deps(t, &lockedBuffer{}), Options{})
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("err = %v, want ErrInvalidConfig", err)
	}
	for _, want := range []string{"subnet-0a is a public subnet (route table rtb-1 sends 0.0.0.0/0 to igw-1)", "subnet-0b is a public subnet",
		"CannotPullContainerError", "assign_public_ip: true"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}

	// With a public IP the same subnets deploy.
	stub2 := newAWSStub(t)
	stub2.expect(replaceCall(updateDeployCalls(), "ec2.DescribeRouteTables", false, ok("ec2.DescribeRouteTables", routeTablesXML(`<gatewayId>igw-1</gatewayId>`)))...)
	stub2.expect(completedWait())
	cfg.Network.AssignPublicIP = true
	stub2.coverWithPolicy(cfg)
	if _, err := Run(ctxT(t, 10*time.Second), cfg, stub2.deps(t, &lockedBuffer{}), Options{}); err != nil {
		t.Fatalf("public subnets with a public IP: %v", err)
	}
}

func TestPreflightPrivateSubnetNeedsANATGatewayOrEndpoints(t *testing.T) {
	stub := newAWSStub(t)
	stub.expect(preflightWith(routeTablesXML(""),
		// s3 as a gateway on another route table and as an interface without private DNS, logs
		// without private DNS: none of them serves these subnets.
		ok("ec2.DescribeVpcEndpoints", vpcEndpointsXML(endpointXML("ecr.api", "Interface", ""), endpointXML("s3", "Gateway", "rtb-other"),
			strings.Replace(endpointXML("s3", "Interface", ""), "<privateDnsEnabled>true<", "<privateDnsEnabled>false<", 1),
			strings.Replace(endpointXML("logs", "Interface", ""), "<privateDnsEnabled>true<", "<privateDnsEnabled>false<", 1))),
		ok("iam.GetRole", getRoleXML(ecsTasksTrust)))...)
	cfg := stubConfig()
	_, err := Run(ctxT(t, 10*time.Second), cfg, stub.deps(t, &lockedBuffer{}), Options{})
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("err = %v, want ErrInvalidConfig", err)
	}
	for _, want := range []string{"subnet-0a is a private subnet (no route 0.0.0.0/0 to a NAT gateway)",
		"com.amazonaws.us-east-1.ecr.dkr, com.amazonaws.us-east-1.s3, com.amazonaws.us-east-1.logs", "NAT gateway to rtb-1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "ecr.api,") {
		t.Errorf("the existing ecr.api endpoint is reported missing:\n%v", err)
	}

	// Every endpoint the task needs: it deploys.
	stub2 := newAWSStub(t)
	calls := replaceCall(updateDeployCalls(), "ec2.DescribeRouteTables", false, ok("ec2.DescribeRouteTables", routeTablesXML("")),
		ok("ec2.DescribeVpcEndpoints", vpcEndpointsXML(endpointXML("ecr.api", "Interface", ""), endpointXML("ecr.dkr", "Interface", ""),
			endpointXML("logs", "Interface", ""), endpointXML("s3", "Gateway", "rtb-1"))))
	stub2.expect(calls...)
	stub2.expect(completedWait())
	stub2.coverWithPolicy(cfg)
	if _, err := Run(ctxT(t, 10*time.Second), cfg, stub2.deps(t, &lockedBuffer{}), Options{}); err != nil {
		t.Fatalf("private subnets with endpoints: %v", err)
	}
}

func TestPreflightRefusesARoleThatDoesNotTrustECSTasks(t *testing.T) {
	stub := newAWSStub(t)
	stub.expect(preflightWith(routeTablesXML(`<natGatewayId>nat-1</natGatewayId>`), ok("iam.GetRole", getRoleXML(ec2Trust)))...)
	_, err := Run(ctxT(t, 10*time.Second), stubConfig(), stub.deps(t, &lockedBuffer{}), Options{})
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "does not trust ecs-tasks.amazonaws.com") ||
		!strings.Contains(err.Error(), "update-assume-role-policy --role-name ecsTaskExecutionRole") {
		t.Fatalf("err = %v", err)
	}
}

func TestTrustPolicies(t *testing.T) {
	for doc, want := range map[string]bool{
		ecsTasksTrust: true,
		ec2Trust:      false,
		`{"Statement":{"Effect":"Allow","Principal":{"Service":["ec2.amazonaws.com","ecs-tasks.amazonaws.com"]},"Action":["sts:AssumeRole","sts:TagSession"]}}`: true,
		`{"Statement":[{"Effect":"Deny","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`:                                         false,
		`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}`:                                     false,
		"not json": false,
	} {
		if got := trustsECSTasks(doc); got != want {
			t.Errorf("trustsECSTasks(%s) = %v, want %v", doc, got, want)
		}
	}
}

const (
	tgARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/facectl/0123456789abcdef"
	lbARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/facectl/50dc6c495c0c9188"
)

func targetGroupXML(vpc, hcPort, hcPath string) string {
	return `<DescribeTargetGroupsResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><DescribeTargetGroupsResult><TargetGroups><member>` +
		`<TargetGroupArn>` + tgARN + `</TargetGroupArn><TargetGroupName>facectl</TargetGroupName><Protocol>HTTP</Protocol><Port>8080</Port><VpcId>` + vpc + `</VpcId>` +
		`<HealthCheckProtocol>HTTP</HealthCheckProtocol><HealthCheckPort>` + hcPort + `</HealthCheckPort><HealthCheckPath>` + hcPath + `</HealthCheckPath><TargetType>ip</TargetType>` +
		`<LoadBalancerArns><member>` + lbARN + `</member></LoadBalancerArns></member></TargetGroups></DescribeTargetGroupsResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></DescribeTargetGroupsResponse>`
}

const albXML = `<DescribeLoadBalancersResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><DescribeLoadBalancersResult><LoadBalancers><member>` +
	`<LoadBalancerArn>` + lbARN + `</LoadBalancerArn><LoadBalancerName>facectl</LoadBalancerName><Type>application</Type><VpcId>vpc-1</VpcId>` +
	`<SecurityGroups><member>sg-lb</member></SecurityGroups></member></LoadBalancers></DescribeLoadBalancersResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></DescribeLoadBalancersResponse>`

func securityGroupXML(ingress string) string {
	return `<DescribeSecurityGroupsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r1</requestId><securityGroupInfo><item><groupId>sg-0a</groupId><vpcId>vpc-1</vpcId><groupName>facectl</groupName>` +
		`<ipPermissions>` + ingress + `</ipPermissions></item></securityGroupInfo></DescribeSecurityGroupsResponse>`
}

func TestPreflightChecksTheTargetGroupAgainstTheTasks(t *testing.T) {
	cfg := stubConfig()
	cfg.LoadBalancer.TargetGroupARN = tgARN
	script := func(tg, groups string) []*stubCall {
		calls := preflightCalls()
		calls[3] = ok("ec2.DescribeSecurityGroups", groups)
		// The target group is checked before the roles.
		return append(calls[:len(calls)-1], ok("elasticloadbalancing.DescribeTargetGroups", tg), ok("elasticloadbalancing.DescribeLoadBalancers", albXML), calls[len(calls)-1])
	}
	stub := newAWSStub(t)
	// Another VPC, another health check port, a path serve does not answer, and an HTTPS-only
	// rule from elsewhere in the task security group.
	stub.expect(script(targetGroupXML("vpc-2", "9999", "/"),
		securityGroupXML(`<item><ipProtocol>tcp</ipProtocol><fromPort>443</fromPort><toPort>443</toPort><groups><item><groupId>sg-lb</groupId></item></groups></item>`))...)
	stub.coverWithPolicy(cfg)
	_, err := Run(ctxT(t, 10*time.Second), cfg, stub.deps(t, &lockedBuffer{}), Options{})
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("err = %v, want ErrInvalidConfig", err)
	}
	for _, want := range []string{"target group facectl is in vpc-2 but the subnets are in vpc-1", "checks health on port 9999",
		`checks health on "/", which facectl serve does not answer`, "sg-0a admit nothing from the load balancer facectl on port 8080",
		"--source-group sg-lb"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}

	// Matching target group and a rule from the load balancer's group: preflight passes, and
	// the deploy goes on to the log group.
	stub2 := newAWSStub(t)
	stub2.expect(script(targetGroupXML("vpc-1", "traffic-port", "/readyz"),
		securityGroupXML(`<item><ipProtocol>tcp</ipProtocol><fromPort>8000</fromPort><toPort>9000</toPort><groups><item><groupId>sg-lb</groupId></item></groups></item>`))...)
	stub2.expect(protectedImageCall(), fail("logs.DescribeLogGroups", 400, "AccessDeniedException", "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: logs:DescribeLogGroups"))
	_, err = Run(ctxT(t, 10*time.Second), cfg, stub2.deps(t, &lockedBuffer{}), Options{})
	if errors.Is(err, ErrInvalidConfig) || !errors.Is(err, ErrAccessDenied) {
		t.Fatalf("err = %v, want preflight to pass", err)
	}
}

// A prebuilt ECR image of another account and region is pinned from its own registry.
func TestPrebuiltImageOfAnotherAccountAndRegionIsPinned(t *testing.T) {
	const shared = "210987654321.dkr.ecr.eu-west-1.amazonaws.com/shared/facectl"
	cfg := stubConfig()
	cfg.Image.URI = shared + ":v7"
	stub := newAWSStub(t)
	stub.expect(preflightCalls()...)
	stub.expect(&stubCall{op: "ecr.DescribeImages", status: 200,
		body: `{"imageDetails":[{"registryId":"210987654321","repositoryName":"shared/facectl","imageDigest":"sha256:` + strings.Repeat("7", 64) + `","imageTags":["v7"]}]}`,
		check: func(t *testing.T, body string) {
			if !strings.Contains(body, `"registryId":"210987654321"`) || !strings.Contains(body, `"imageTag":"v7"`) {
				t.Errorf("DescribeImages body = %s", body)
			}
		}})
	stub.expect(fail("logs.DescribeLogGroups", 400, "AccessDeniedException", "stop here"))
	stub.coverWithPolicy(cfg)
	res, err := Run(ctxT(t, 10*time.Second), cfg, stub.deps(t, &lockedBuffer{}), Options{})
	if want := shared + "@sha256:" + strings.Repeat("7", 64); res.Image != want {
		t.Errorf("image = %q, want %q (err %v)", res.Image, want, err)
	}

	// Not readable: refused with the way out, never deployed unpinned.
	stub2 := newAWSStub(t)
	stub2.expect(preflightCalls()...)
	stub2.expect(fail("ecr.DescribeImages", 400, "AccessDeniedException",
		"User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ecr:DescribeImages on resource: arn:aws:ecr:eu-west-1:210987654321:repository/shared/facectl"))
	_, err = Run(ctxT(t, 10*time.Second), cfg, stub2.deps(t, &lockedBuffer{}), Options{})
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "cannot be pinned by digest") || !strings.Contains(err.Error(), "--image "+shared+"@sha256:") {
		t.Fatalf("err = %v", err)
	}
}

// The hint names the action AWS refused, not the operation called.
func TestAccessDeniedNamesTheRefusedAction(t *testing.T) {
	stub := newAWSStub(t)
	stub.expect(replaceCall(updateDeployCalls(), "ecs.RegisterTaskDefinition", true,
		fail("ecs.RegisterTaskDefinition", 400, "AccessDeniedException",
			"User: arn:aws:iam::123456789012:user/ci is not authorized to perform: iam:PassRole on resource: "+execRoleARN))...)
	_, err := Run(ctxT(t, 10*time.Second), stubConfig(), stub.deps(t, &lockedBuffer{}), Options{})
	var ae *AWSError
	if !errors.As(err, &ae) || ae.Action != "iam:PassRole" || !strings.Contains(err.Error(), "missing IAM permission iam:PassRole") {
		t.Fatalf("err = %v", err)
	}
	if got := DeniedAction("denied: User: arn:aws:sts::1:assumed-role/ci/x is not authorized to perform: ecr:InitiateLayerUpload on resource"); got != "ecr:InitiateLayerUpload" {
		t.Errorf("DeniedAction = %q", got)
	}
}

// The managed environment in subnets the user chose gets the same route check: private
// subnets without a NAT gateway or endpoints are refused before any stack is created.
func TestManagedEnvironmentInPrivateSubnetsNeedsANATGateway(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Region = "us-east-1"
	cfg.Image.URI = newImage
	cfg.Network.Subnets = []string{"subnet-0a", "subnet-0b"}
	cfg.Wait.PollInterval = time.Millisecond
	if !cfg.Managed() {
		t.Fatal("a config without security groups and target group is managed")
	}
	stub := newAWSStub(t)
	stub.expect(
		preflightCalls()[0],
		ok("ecs.DescribeClusters", `{"clusters":[],"failures":[{"arn":"arn:aws:ecs:us-east-1:123456789012:cluster/facectl","reason":"MISSING"}]}`),
		ok("ec2.DescribeSubnets", `<DescribeSubnetsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r1</requestId><subnetSet>`+
			`<item><subnetId>subnet-0a</subnetId><vpcId>vpc-1</vpcId><availabilityZone>us-east-1a</availabilityZone></item>`+
			`<item><subnetId>subnet-0b</subnetId><vpcId>vpc-1</vpcId><availabilityZone>us-east-1b</availabilityZone></item></subnetSet></DescribeSubnetsResponse>`),
		ok("ec2.DescribeRouteTables", routeTablesXML("")),
		ok("ec2.DescribeVpcEndpoints", noEndpoints),
	)
	stub.coverWithPolicy(cfg)
	_, err := Run(ctxT(t, 10*time.Second), cfg, stub.deps(t, &lockedBuffer{}), Options{})
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "subnet-0a is a private subnet") || !strings.Contains(err.Error(), "subnet-0b is a private subnet") {
		t.Fatalf("err = %v", err)
	}
}
