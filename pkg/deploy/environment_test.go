package deploy

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	logstypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
)

const cfnNS = `xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"`

func cfnMissing(op string) *stubCall {
	return fail(op, 400, "ValidationError", "Stack with id x does not exist")
}

func stackXML(name, id, status string, outputs string) string {
	return taggedStackXML(name, id, status, "x", outputs)
}

func taggedStackXML(name, id, status, tag, outputs string) string {
	return `<DescribeStacksResponse ` + cfnNS + `><DescribeStacksResult><Stacks><member><StackName>` + name + `</StackName><StackId>` + id +
		`</StackId><StackStatus>` + status + `</StackStatus><CreationTime>2026-11-28T19:00:00Z</CreationTime><Tags><member><Key>facectl:stack</Key><Value>` + tag + `</Value></member></Tags><Outputs>` + outputs +
		`</Outputs></member></Stacks></DescribeStacksResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></DescribeStacksResponse>`
}

func createStackXML(id string) string {
	return `<CreateStackResponse ` + cfnNS + `><CreateStackResult><StackId>` + id + `</StackId></CreateStackResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></CreateStackResponse>`
}

// managedPreflightCalls are the preflight of a managed environment in an account with only its
// default VPC (no cluster yet).
// boundaryCreated answers the permissions boundary check of a managed deploy without its own
// execution role: no such policy, created.
func boundaryCreated() []*stubCall {
	return []*stubCall{
		fail("iam.GetPolicy", 404, "NoSuchEntity", "Policy arn:aws:iam::123456789012:policy/facectl-facectl-facectl-boundary does not exist or is not attachable."),
		ok("iam.CreatePolicy", `<CreatePolicyResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><CreatePolicyResult><Policy><PolicyName>facectl-facectl-facectl-boundary</PolicyName><DefaultVersionId>v1</DefaultVersionId><Arn>arn:aws:iam::123456789012:policy/facectl-facectl-facectl-boundary</Arn></Policy></CreatePolicyResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></CreatePolicyResponse>`),
	}
}

func managedPreflightCalls() []*stubCall {
	return []*stubCall{
		preflightCalls()[0],
		ok("ecs.DescribeClusters", `{"clusters":[],"failures":[{"arn":"arn:aws:ecs:us-east-1:123456789012:cluster/facectl","reason":"MISSING"}]}`),
		ok("ec2.DescribeVpcs", `<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r1</requestId><vpcSet><item><vpcId>vpc-d</vpcId><isDefault>true</isDefault></item></vpcSet></DescribeVpcsResponse>`),
		ok("ec2.DescribeSubnets", `<DescribeSubnetsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r1</requestId><subnetSet><item><subnetId>subnet-d1</subnetId><vpcId>vpc-d</vpcId><availabilityZone>us-east-1a</availabilityZone></item><item><subnetId>subnet-d2</subnetId><vpcId>vpc-d</vpcId><availabilityZone>us-east-1b</availabilityZone></item></subnetSet></DescribeSubnetsResponse>`),
	}
}

// templateOf decodes the TemplateBody of a CreateStack request.
func templateOf(t *testing.T, body string) map[string]any {
	t.Helper()
	form, err := url.ParseQuery(body)
	if err != nil {
		t.Fatal(err)
	}
	var tmpl map[string]any
	if err := json.Unmarshal([]byte(form.Get("TemplateBody")), &tmpl); err != nil {
		t.Fatalf("CreateStack template is not JSON: %v", err)
	}
	return tmpl
}

func resourceProps(t *testing.T, tmpl map[string]any, id string) map[string]any {
	t.Helper()
	r, ok := tmpl["Resources"].(map[string]any)[id].(map[string]any)
	if !ok {
		t.Fatalf("template has no resource %s", id)
	}
	return r["Properties"].(map[string]any)
}

// TestStackCreateFailure: the service stack of an NLB environment fails to create and is
// rolled back; the user sees the failing resource and CloudFormation's reason, and nothing
// after the stack is attempted (the strict stub fails on any further call).
func TestStackCreateFailure(t *testing.T) {
	stub := newAWSStub(t)
	const clusterID = "arn:aws:cloudformation:us-east-1:123456789012:stack/facectl-facectl-cluster/1"
	const serviceID = "arn:aws:cloudformation:us-east-1:123456789012:stack/facectl-facectl-facectl/2"
	stub.expect(managedPreflightCalls()...)
	stub.expect(
		cfnMissing("cloudformation.DescribeStacks"),
		cfnMissing("cloudformation.DescribeStacks"),
		ok("logs.DescribeLogGroups", `{"logGroups":[]}`),
	)
	stub.expect(boundaryCreated()...)
	stub.expect(
		&stubCall{op: "cloudformation.CreateStack", status: 200, body: createStackXML(clusterID), check: func(t *testing.T, body string) {
			form, _ := url.ParseQuery(body)
			if form.Get("StackName") != "facectl-facectl-cluster" || form.Get("Tags.member.1.Value") != "cluster/facectl" {
				t.Errorf("cluster stack request: %v", form)
			}
		}},
		ok("cloudformation.DescribeStacks", stackXML("facectl-facectl-cluster", clusterID, "CREATE_COMPLETE", `<member><OutputKey>ClusterName</OutputKey><OutputValue>facectl</OutputValue></member>`)),
		&stubCall{op: "cloudformation.CreateStack", status: 200, body: createStackXML(serviceID), check: func(t *testing.T, body string) {
			form, _ := url.ParseQuery(body)
			if form.Get("OnFailure") != "ROLLBACK" || form.Get("Capabilities.member.1") != "CAPABILITY_IAM" || form.Get("Tags.member.1.Value") != "service/facectl/facectl" {
				t.Errorf("service stack request: %v", form)
			}
			// The NLB path (moto's CloudFormation rejects TCP listeners, so it is checked here).
			tmpl := templateOf(t, body)
			if lb := resourceProps(t, tmpl, "LoadBalancer"); lb["Type"] != "network" || len(lb["Subnets"].([]any)) != 2 {
				t.Errorf("load balancer = %v", lb)
			}
			if l := resourceProps(t, tmpl, "Listener"); l["Protocol"] != "TCP" || l["Port"] != 80.0 {
				t.Errorf("listener = %v", l)
			}
			tg := resourceProps(t, tmpl, "TargetGroup")
			if tg["Protocol"] != "TCP" || tg["HealthCheckProtocol"] != "HTTP" || tg["HealthCheckPath"] != "/readyz" || tg["TargetType"] != "ip" || tg["Port"] != 8080.0 {
				t.Errorf("target group = %v", tg)
			}
			if attrs, _ := json.Marshal(tg["TargetGroupAttributes"]); !strings.Contains(string(attrs), `"Value":"25"`) {
				t.Errorf("deregistration delay = %s, want 25 (serve's drain 5s + grace 20s)", attrs)
			}
		}},
		ok("cloudformation.DescribeStacks", stackXML("facectl-facectl-facectl", serviceID, "ROLLBACK_IN_PROGRESS", "")),
		ok("cloudformation.DescribeStacks", stackXML("facectl-facectl-facectl", serviceID, "ROLLBACK_COMPLETE", "")),
		ok("cloudformation.DescribeStackEvents", `<DescribeStackEventsResponse `+cfnNS+`><DescribeStackEventsResult><StackEvents>
		<member><StackId>`+serviceID+`</StackId><EventId>e4</EventId><StackName>facectl-facectl-facectl</StackName><LogicalResourceId>facectl-facectl-facectl</LogicalResourceId><ResourceType>AWS::CloudFormation::Stack</ResourceType><Timestamp>`+time.Now().UTC().Format(time.RFC3339)+`</Timestamp><ResourceStatus>ROLLBACK_COMPLETE</ResourceStatus></member>
		<member><StackId>`+serviceID+`</StackId><EventId>e3</EventId><StackName>facectl-facectl-facectl</StackName><LogicalResourceId>TargetGroup</LogicalResourceId><ResourceType>AWS::ElasticLoadBalancingV2::TargetGroup</ResourceType><Timestamp>`+time.Now().UTC().Format(time.RFC3339)+`</Timestamp><ResourceStatus>CREATE_FAILED</ResourceStatus><ResourceStatusReason>Resource creation cancelled</ResourceStatusReason></member>
		<member><StackId>`+serviceID+`</StackId><EventId>e2</EventId><StackName>facectl-facectl-facectl</StackName><LogicalResourceId>LoadBalancer</LogicalResourceId><ResourceType>AWS::ElasticLoadBalancingV2::LoadBalancer</ResourceType><Timestamp>`+time.Now().UTC().Format(time.RFC3339)+`</Timestamp><ResourceStatus>CREATE_FAILED</ResourceStatus><ResourceStatusReason>You have reached the limit on the number of load balancers for your account</ResourceStatusReason></member>
		<member><StackId>`+serviceID+`</StackId><EventId>e1</EventId><StackName>facectl-facectl-facectl</StackName><LogicalResourceId>LogGroup</LogicalResourceId><ResourceType>AWS::Logs::LogGroup</ResourceType><Timestamp>`+time.Now().UTC().Format(time.RFC3339)+`</Timestamp><ResourceStatus>CREATE_COMPLETE</ResourceStatus></member>
		</StackEvents></DescribeStackEventsResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></DescribeStackEventsResponse>`),
	)
	cfg := DefaultConfig()
	cfg.Region = "us-east-1"
	cfg.Image.URI = newImage
	cfg.LoadBalancer.Type = "network"
	cfg.Wait.PollInterval = time.Millisecond
	stub.coverWithPolicy(cfg)
	res, err := Run(ctxT(t, 10*time.Second), cfg, stub.deps(t, &lockedBuffer{}), Options{})
	if !errors.Is(err, ErrStackFailed) {
		t.Fatalf("err = %v, want ErrStackFailed", err)
	}
	for _, want := range []string{"stack facectl-facectl-facectl ended ROLLBACK_COMPLETE",
		"LoadBalancer (AWS::ElasticLoadBalancingV2::LoadBalancer) CREATE_FAILED: You have reached the limit on the number of load balancers",
		"the next facectl deploy deletes it and creates it again"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	if res.Outcome != OutcomeFailed || res.TaskDefinitionARN != "" {
		t.Errorf("result = %+v", res)
	}
}

func TestServiceTemplateHTTPS(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Service = "api"
	cfg.LoadBalancer.CertificateARN = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
	cfg.LoadBalancer.Domain = "api.example.com"
	cfg.Task.ContainerPort = 9000
	cfg.Task.Secrets = []Secret{
		{Name: "A", ValueFrom: "arn:aws:ssm:us-east-1:123456789012:parameter/facectl/a"},
		{Name: "B", ValueFrom: "arn:aws:secretsmanager:us-east-1:123456789012:secret:facectl-b-AbCdEf:token::"},
	}
	d, err := New(cfg, stubDepsForTemplate(t))
	if err != nil {
		t.Fatal(err)
	}
	body := d.ServiceTemplate(envNetwork{VPC: "vpc-1", Subnets: []string{"subnet-1", "subnet-2"}, LBSubnets: []string{"subnet-1", "subnet-2"}, PublicIP: true})
	golden(t, "service_stack_https.golden.json", body)
	var tmpl map[string]any
	if err := json.Unmarshal([]byte(body), &tmpl); err != nil {
		t.Fatal(err)
	}
	plain := resourceProps(t, tmpl, "Listener")
	if plain["Protocol"] != "HTTP" || !strings.Contains(mustJSON(plain["DefaultActions"]), `"Protocol":"HTTPS"`) {
		t.Errorf("port 80 must redirect to HTTPS: %v", plain)
	}
	if l := resourceProps(t, tmpl, "SecureListener"); l["Protocol"] != "HTTPS" || l["Port"] != 443.0 {
		t.Errorf("secure listener = %v", l)
	}
	task := mustJSON(resourceProps(t, tmpl, "TaskSecurityGroup"))
	if !strings.Contains(task, `"FromPort":9000`) || !strings.Contains(task, `"SourceSecurityGroupId"`) || strings.Contains(task, `"CidrIp":"0.0.0.0/0","Description":"load`) {
		t.Errorf("task security group = %s", task)
	}
	role := mustJSON(resourceProps(t, tmpl, "ExecutionRole"))
	if !strings.Contains(role, `"arn:aws:secretsmanager:us-east-1:123456789012:secret:facectl-b-AbCdEf"`) || !strings.Contains(role, "parameter/facectl/a") {
		t.Errorf("execution role does not read exactly the secrets: %s", role)
	}
	if url := mustJSON(tmpl["Outputs"].(map[string]any)["URL"]); url != `{"Value":"https://api.example.com"}` {
		t.Errorf("URL output = %s", url)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func stubDepsForTemplate(t *testing.T) Deps {
	return newAWSStub(t).deps(t, &bytes.Buffer{})
}

func TestReadableLogLines(t *testing.T) {
	at := time.Date(2026, 11, 28, 19, 0, 0, 0, time.UTC)
	ev := func(msg string) logstypes.FilteredLogEvent {
		return logstypes.FilteredLogEvent{LogStreamName: aws.String("facectl/facectl/0123456789abcdef"), Message: aws.String(msg), Timestamp: aws.Int64(at.UnixMilli())}
	}
	var b bytes.Buffer
	writeLogLine(&b, ev(`{"time":"2026-11-28T19:00:01.5Z","level":"INFO","msg":"request","status":200,"path":"/v1/detect","ua":"curl 8"}`), true)
	writeLogLine(&b, ev("plain text"), true)
	writeLogLine(&b, ev(`{"level":"INFO"}`), false)
	want := "01234567  19:00:01.500  INFO   request path=/v1/detect status=200 ua=\"curl 8\"\n" +
		"01234567  19:00:00.000  plain text\n" +
		"0123456789abcdef\t{\"level\":\"INFO\"}\n"
	if b.String() != want {
		t.Errorf("log lines:\n%s\nwant:\n%s", b.String(), want)
	}
}

// A stack of the environment's name that facectl did not create for this service is never
// touched: the deploy stops before any write.
func TestStackOfSomeoneElseIsRefused(t *testing.T) {
	stub := newAWSStub(t)
	stub.expect(managedPreflightCalls()...)
	stub.expect(ok("cloudformation.DescribeStacks", taggedStackXML("facectl-facectl-cluster", "arn:aws:cloudformation:us-east-1:123456789012:stack/facectl-facectl-cluster/1", "CREATE_COMPLETE", "", "")))
	cfg := DefaultConfig()
	cfg.Image.URI = newImage
	stub.coverWithPolicy(cfg)
	_, err := Run(ctxT(t, 10*time.Second), cfg, stub.deps(t, &lockedBuffer{}), Options{})
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "stack facectl-facectl-cluster exists but was not created by facectl for cluster/facectl") {
		t.Errorf("err = %v", err)
	}
}

// A first create that was rolled back leaves a stack that can only be deleted: the next deploy
// deletes it, waits, and creates it again (here refused, naming the refused action).
func TestRolledBackStackIsReplaced(t *testing.T) {
	stub := newAWSStub(t)
	cfg := DefaultConfig()
	cfg.Image.URI = newImage
	cfg.Wait.PollInterval = time.Millisecond
	stub.coverWithPolicy(cfg)
	deps := stub.deps(t, &lockedBuffer{})
	d, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	const clusterID = "arn:aws:cloudformation:us-east-1:123456789012:stack/facectl-facectl-cluster/1"
	const oldID = "arn:aws:cloudformation:us-east-1:123456789012:stack/facectl-facectl-facectl/old"
	stub.expect(managedPreflightCalls()...)
	stub.expect(
		ok("cloudformation.DescribeStacks", taggedStackXML("facectl-facectl-cluster", clusterID, "CREATE_COMPLETE", "cluster/facectl", "")),
		ok("cloudformation.GetTemplate", `<GetTemplateResponse `+cfnNS+`><GetTemplateResult><TemplateBody>`+xmlEscape(d.clusterTemplate())+`</TemplateBody></GetTemplateResult></GetTemplateResponse>`),
		ok("cloudformation.DescribeStacks", taggedStackXML("facectl-facectl-facectl", oldID, "ROLLBACK_COMPLETE", "service/facectl/facectl", "")),
		ok("logs.DescribeLogGroups", `{"logGroups":[]}`),
	)
	stub.expect(boundaryCreated()...)
	stub.expect(
		&stubCall{op: "cloudformation.DeleteStack", status: 200, body: `<DeleteStackResponse ` + cfnNS + `/>`, check: func(t *testing.T, body string) {
			if form, _ := url.ParseQuery(body); form.Get("StackName") != oldID {
				t.Errorf("deleted %q, want the rolled back stack by its ID", form.Get("StackName"))
			}
		}},
		ok("cloudformation.DescribeStacks", taggedStackXML("facectl-facectl-facectl", oldID, "DELETE_IN_PROGRESS", "service/facectl/facectl", "")),
		ok("cloudformation.DescribeStacks", taggedStackXML("facectl-facectl-facectl", oldID, "DELETE_COMPLETE", "service/facectl/facectl", "")),
		fail("cloudformation.CreateStack", 403, "AccessDenied", "User is not authorized to perform: cloudformation:CreateStack"),
	)
	_, err = Run(ctxT(t, 10*time.Second), cfg, deps, Options{})
	if !errors.Is(err, ErrAccessDenied) || !strings.Contains(err.Error(), "cloudformation:CreateStack") {
		t.Errorf("err = %v", err)
	}
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// Throttling while waiting for a stack does not end the wait: CloudFormation carries on.
func TestStackWaitSurvivesThrottling(t *testing.T) {
	stub := newAWSStub(t)
	const clusterID = "arn:aws:cloudformation:us-east-1:123456789012:stack/facectl-facectl-cluster/1"
	stub.expect(managedPreflightCalls()...)
	stub.expect(
		cfnMissing("cloudformation.DescribeStacks"),
		cfnMissing("cloudformation.DescribeStacks"),
		ok("logs.DescribeLogGroups", `{"logGroups":[]}`),
	)
	stub.expect(boundaryCreated()...)
	stub.expect(
		ok("cloudformation.CreateStack", createStackXML(clusterID)),
	)
	// Two looks fail after the SDK's 3 attempts each (no backoff in the stub's retryer).
	for i := 0; i < 6; i++ {
		stub.expect(fail("cloudformation.DescribeStacks", 400, "Throttling", "Rate exceeded"))
	}
	stub.expect(
		ok("cloudformation.DescribeStacks", stackXML("facectl-facectl-cluster", clusterID, "CREATE_COMPLETE", "")),
		fail("cloudformation.CreateStack", 403, "AccessDenied", "User is not authorized to perform: cloudformation:CreateStack"),
	)
	cfg := DefaultConfig()
	cfg.Image.URI = newImage
	cfg.Wait.PollInterval = time.Millisecond
	stub.coverWithPolicy(cfg)
	var out lockedBuffer
	_, err := Run(ctxT(t, 10*time.Second), cfg, stub.deps(t, &out), Options{})
	// The cluster stack completed despite the throttling (the strict stub checks every call was
	// made); the service stack's create is refused.
	if !errors.Is(err, ErrAccessDenied) || !strings.Contains(err.Error(), "creating stack facectl-facectl-facectl") {
		t.Errorf("err = %v", err)
	}
}

// TestStackFailureOnRoleCreationSaysWhoMay: a stack that fails because the caller may not
// create its roles (the printed policies leave that out on purpose) says to run it once as an
// administrator or bring a role, whichever stack it is.
func TestStackFailureOnRoleCreationSaysWhoMay(t *testing.T) {
	stub := newAWSStub(t)
	const id = "arn:aws:cloudformation:us-east-1:123456789012:stack/facectl-batch-x/1"
	now := time.Now().UTC().Format(time.RFC3339)
	stub.expect(ok("cloudformation.DescribeStackEvents", `<DescribeStackEventsResponse `+cfnNS+`><DescribeStackEventsResult><StackEvents>
		<member><StackId>`+id+`</StackId><EventId>e1</EventId><StackName>facectl-batch-x</StackName><LogicalResourceId>JobRole</LogicalResourceId><ResourceType>AWS::IAM::Role</ResourceType><Timestamp>`+now+`</Timestamp><ResourceStatus>CREATE_FAILED</ResourceStatus><ResourceStatusReason>User: arn:aws:iam::123456789012:user/ci is not authorized to perform: iam:CreateRole on resource: arn:aws:iam::123456789012:role/facectl/batch/x</ResourceStatusReason></member>
		</StackEvents></DescribeStackEventsResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></DescribeStackEventsResponse>`))
	d, err := New(DefaultConfig(), stub.deps(t, &lockedBuffer{}))
	if err != nil {
		t.Fatal(err)
	}
	err = d.stackFailure(ctxT(t, 10*time.Second), id, "facectl-batch-x", "ROLLBACK_COMPLETE", time.Now())
	if !errors.Is(err, ErrStackFailed) || !strings.Contains(err.Error(), "JobRole (AWS::IAM::Role) CREATE_FAILED") ||
		!strings.Contains(err.Error(), "takes an administrator's credentials") {
		t.Errorf("stack failure = %v", err)
	}
}
