package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// awsStub is an HTTP server speaking the AWS protocols (JSON and query) for a script of
// expected calls, in order. Any call that is not the next expected one fails the test, and so
// does any expected call left unused. The real SDK clients (serializers, retryer, error
// decoding) talk to it.
type awsStub struct {
	t     *testing.T
	srv   *httptest.Server
	mu    sync.Mutex
	next  []*stubCall
	calls []string
	// policy, when set, must allow every call made (see coverWithPolicy).
	policy *PolicyDocument
}

// coverWithPolicy makes the test fail when the code calls an AWS action that
// `facectl deploy policy` does not grant for cfg.
func (s *awsStub) coverWithPolicy(cfg Config) {
	p := Policy(cfg)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.policy = &p
}

// stubCall is one expected call: "ecs.DescribeServices" etc.
type stubCall struct {
	op     string
	status int
	body   string
	// repeat lets the call match any number (>= 1) of consecutive requests.
	repeat bool
	// check inspects the request body (JSON) or form (query protocols).
	check func(t *testing.T, body string)
	used  int
}

var credentialScopeRE = regexp.MustCompile(`Credential=[^/]+/[0-9]+/[^/]+/([^/]+)/aws4_request`)

func newAWSStub(t *testing.T) *awsStub {
	s := &awsStub{t: t}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.srv.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, c := range s.next {
			if c.used == 0 {
				t.Errorf("expected AWS call %s was never made (calls made: %s)", c.op, strings.Join(s.calls, ", "))
			}
		}
		if s.policy != nil {
			for _, op := range s.calls {
				if action := strings.Replace(op, ".", ":", 1); !s.policy.Allows(action) && !slices.Contains(boundaryAdminActions, action) {
					t.Errorf("the code called %s, which facectl deploy policy does not grant for this configuration", action)
				}
			}
		}
	})
	return s
}

// expect appends calls to the script.
func (s *awsStub) expect(calls ...*stubCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next = append(s.next, calls...)
}

func ok(op, body string) *stubCall { return &stubCall{op: op, status: 200, body: body} }

func fail(op string, status int, code, msg string) *stubCall {
	return &stubCall{op: op, status: status, body: "ERROR " + code + " " + msg}
}

func (s *awsStub) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	body := string(raw)
	m := credentialScopeRE.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		s.t.Errorf("unsigned request %s %s", r.Method, r.URL)
		http.Error(w, "unsigned", 400)
		return
	}
	service := m[1]
	opName := ""
	query := false
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		opName = target[strings.LastIndex(target, ".")+1:]
	} else {
		form, _ := url.ParseQuery(body)
		opName = form.Get("Action")
		query = true
	}
	op := service + "." + opName

	s.mu.Lock()
	s.calls = append(s.calls, op)
	var call *stubCall
	for _, c := range s.next {
		if c.used > 0 && !c.repeat {
			continue
		}
		if c.used > 0 && c.repeat && c.op != op {
			continue // a repeating call ends when the next one starts
		}
		if c.op == op {
			call = c
		}
		break
	}
	if call != nil {
		call.used++
		if call.repeat {
			// Mark earlier repeating calls as finished so they cannot match again.
			for _, c := range s.next {
				if c == call {
					break
				}
				c.repeat = false
			}
		}
	}
	s.mu.Unlock()

	if call == nil {
		s.t.Errorf("unexpected AWS call %s (calls so far: %s); body: %s", op, strings.Join(s.calls, ", "), body)
		writeAWSError(w, query, service, 400, "UnexpectedCall", "the test did not expect "+op)
		return
	}
	if call.check != nil {
		call.check(s.t, body)
	}
	if code, msg, isErr := strings.Cut(strings.TrimPrefix(call.body, "ERROR "), " "); strings.HasPrefix(call.body, "ERROR ") && isErr {
		writeAWSError(w, query, service, call.status, code, msg)
		return
	}
	if query {
		w.Header().Set("Content-Type", "text/xml")
	} else {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	}
	w.WriteHeader(call.status)
	io.WriteString(w, call.body)
}

func writeAWSError(w http.ResponseWriter, query bool, service string, status int, code, msg string) {
	switch {
	case service == "ec2":
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>r1</RequestID></Response>`, code, msg)
	case query:
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>r1</RequestId></ErrorResponse>`, code, msg)
	default:
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-Errortype", code)
		w.WriteHeader(status)
		b, _ := json.Marshal(map[string]string{"__type": code, "message": msg})
		w.Write(b)
	}
}

// noBackoff keeps the SDK's standard retryer but without its waits, so throttling tests are fast.
type noBackoff struct{}

func (noBackoff) BackoffDelay(int, error) (time.Duration, error) { return 0, nil }

// stubDeps returns real SDK clients pointed at the stub.
func (s *awsStub) deps(t *testing.T, out io.Writer) Deps {
	awsCfg := aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		BaseEndpoint: aws.String(s.srv.URL),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.Backoff = noBackoff{}; o.MaxAttempts = 3 })
		},
	}
	d := NewDeps(awsCfg)
	d.Docker = nil
	d.GitTag = func(context.Context, string) (string, error) { return "", fmt.Errorf("the test sets the tag") }
	d.Log = testLogger(t)
	d.Events = printEvents(out)
	return d
}

// Canned answers.
const (
	acct        = "123456789012"
	tdARN1      = "arn:aws:ecs:us-east-1:123456789012:task-definition/facectl:1"
	tdARN2      = "arn:aws:ecs:us-east-1:123456789012:task-definition/facectl:2"
	oldImage    = "123456789012.dkr.ecr.us-east-1.amazonaws.com/facectl@sha256:1111111111111111111111111111111111111111111111111111111111111111"
	newImage    = "123456789012.dkr.ecr.us-east-1.amazonaws.com/facectl@sha256:2222222222222222222222222222222222222222222222222222222222222222"
	execRoleARN = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"
)

func stubConfig() Config {
	cfg := DefaultConfig()
	cfg.Region = "us-east-1"
	cfg.Image.URI = newImage
	cfg.Task.ExecutionRoleARN = execRoleARN
	cfg.Network.Subnets = []string{"subnet-0a", "subnet-0b"}
	cfg.Network.SecurityGroups = []string{"sg-0a"}
	cfg.AutoScaling.Enabled = false
	cfg.Wait.Timeout = 5 * time.Second
	cfg.Wait.PollInterval = time.Millisecond
	return cfg
}

func preflightCalls() []*stubCall {
	return []*stubCall{
		ok("sts.GetCallerIdentity", `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/ci</Arn><UserId>AIDAEXAMPLE</UserId><Account>123456789012</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></GetCallerIdentityResponse>`),
		ok("ecs.DescribeClusters", `{"clusters":[{"clusterName":"facectl","clusterArn":"arn:aws:ecs:us-east-1:123456789012:cluster/facectl","status":"ACTIVE"}],"failures":[]}`),
		ok("ec2.DescribeSubnets", `<DescribeSubnetsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r1</requestId><subnetSet><item><subnetId>subnet-0a</subnetId><vpcId>vpc-1</vpcId></item><item><subnetId>subnet-0b</subnetId><vpcId>vpc-1</vpcId></item></subnetSet></DescribeSubnetsResponse>`),
		ok("ec2.DescribeSecurityGroups", `<DescribeSecurityGroupsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r1</requestId><securityGroupInfo><item><groupId>sg-0a</groupId><vpcId>vpc-1</vpcId><groupName>facectl</groupName></item></securityGroupInfo></DescribeSecurityGroupsResponse>`),
		ok("ec2.DescribeRouteTables", routeTablesXML(`<natGatewayId>nat-1</natGatewayId>`)),
		ok("iam.GetRole", getRoleXML(ecsTasksTrust)),
	}
}

// routeTablesXML is a VPC whose main route table sends 0.0.0.0/0 to target (e.g.
// <gatewayId>igw-1</gatewayId>); an empty target leaves only the local route.
func routeTablesXML(target string) string {
	def := ""
	if target != "" {
		def = `<item><destinationCidrBlock>0.0.0.0/0</destinationCidrBlock>` + target + `<state>active</state><origin>CreateRoute</origin></item>`
	}
	return `<DescribeRouteTablesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r1</requestId><routeTableSet><item>` +
		`<routeTableId>rtb-1</routeTableId><vpcId>vpc-1</vpcId><routeSet><item><destinationCidrBlock>10.0.0.0/16</destinationCidrBlock><gatewayId>local</gatewayId><state>active</state></item>` + def + `</routeSet>` +
		`<associationSet><item><routeTableAssociationId>rtbassoc-1</routeTableAssociationId><routeTableId>rtb-1</routeTableId><main>true</main></item></associationSet></item></routeTableSet></DescribeRouteTablesResponse>`
}

const (
	ecsTasksTrust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	ec2Trust      = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
)

// getRoleXML is IAM's GetRole answer for the execution role with a trust policy (URL-encoded,
// as IAM sends it).
func getRoleXML(trust string) string {
	return `<GetRoleResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><GetRoleResult><Role><Path>/</Path><RoleName>ecsTaskExecutionRole</RoleName>` +
		`<RoleId>AROAEXAMPLE</RoleId><Arn>` + execRoleARN + `</Arn><CreateDate>2024-01-01T00:00:00Z</CreateDate>` +
		`<AssumeRolePolicyDocument>` + url.QueryEscape(trust) + `</AssumeRolePolicyDocument></Role></GetRoleResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></GetRoleResponse>`
}

// taskDefJSON is a described task definition as ECS returns it (with the fields ECS adds).
func taskDefJSON(arn, image string, env string) string {
	return fmt.Sprintf(`{"taskDefinition":{"taskDefinitionArn":%q,"family":"facectl","revision":1,"status":"ACTIVE",
	"requiresCompatibilities":["FARGATE"],"compatibilities":["EC2","FARGATE"],"networkMode":"awsvpc","cpu":"1024","memory":"2048",
	"runtimePlatform":{"cpuArchitecture":"X86_64","operatingSystemFamily":"LINUX"},"executionRoleArn":%q,
	"containerDefinitions":[{"name":"facectl","image":%q,"cpu":0,"essential":true,
	"portMappings":[{"containerPort":8080,"hostPort":8080,"protocol":"tcp"}],"environment":[%s],"mountPoints":[],"volumesFrom":[],
	"logConfiguration":{"logDriver":"awslogs","options":{"awslogs-group":"/ecs/facectl","awslogs-region":"us-east-1","awslogs-stream-prefix":"facectl"}},
	"healthCheck":{"command":["CMD","facectl","health"],"interval":15,"timeout":5,"retries":3,"startPeriod":20},"stopTimeout":30}]}}`, arn, execRoleARN, image, env)
}

// taggedTaskDefJSON is a task definition described with its facectl tags.
func taggedTaskDefJSON(arn, image, cluster, service string) string {
	td := taskDefJSON(arn, image, "")
	return strings.TrimSuffix(td, "}") + fmt.Sprintf(`,"tags":[{"key":"facectl:cluster","value":%q},{"key":"facectl:service","value":%q}]}`, cluster, service)
}

// imageDetailsJSON is ECR's DescribeImages answer for an image reference pinned by digest.
func imageDetailsJSON(ref string) string {
	repo, digest, _ := strings.Cut(ref[strings.Index(ref, "/")+1:], "@")
	return fmt.Sprintf(`{"imageDetails":[{"registryId":"123456789012","repositoryName":%q,"imageDigest":%q,"imageTags":["v1"]}]}`, repo, digest)
}

// protectedImageCall is ECR's answer for newImage, already tagged as deployed.
func protectedImageCall() *stubCall {
	digest := newImage[strings.Index(newImage, "@")+1:]
	return ok("ecr.DescribeImages", fmt.Sprintf(`{"imageDetails":[{"registryId":"123456789012","repositoryName":"facectl","imageDigest":%q,"imageTags":["v2",%q]}]}`,
		digest, deployedPrefix("facectl", "facectl")+strings.TrimPrefix(digest, "sha256:")))
}

// serviceJSON renders a service with deployments given as JSON objects.
func serviceJSON(td string, desired, running int, deployments string, events string) string {
	return fmt.Sprintf(`{"serviceName":"facectl","serviceArn":"arn:aws:ecs:us-east-1:123456789012:service/facectl/facectl","status":"ACTIVE",
	"taskDefinition":%q,"desiredCount":%d,"runningCount":%d,"pendingCount":0,"launchType":"FARGATE",
	"deploymentConfiguration":{"deploymentCircuitBreaker":{"enable":true,"rollback":true},"minimumHealthyPercent":100,"maximumPercent":200},
	"networkConfiguration":{"awsvpcConfiguration":{"subnets":["subnet-0a","subnet-0b"],"securityGroups":["sg-0a"],"assignPublicIp":"DISABLED"}},
	"deployments":[%s],"events":[%s]}`, td, desired, running, deployments, events)
}

func deploymentJSON(id, status, rollout, td string, desired, running, failed int, reason string) string {
	return fmt.Sprintf(`{"id":%q,"status":%q,"rolloutState":%q,"rolloutStateReason":%q,"taskDefinition":%q,"desiredCount":%d,"runningCount":%d,"pendingCount":0,"failedTasks":%d,"createdAt":1.7e9}`,
		id, status, rollout, reason, td, desired, running, failed)
}

// updateDeployCalls is the script of a deploy that registers revision 2 and updates a service
// running revision 1, up to and including UpdateService.
func updateDeployCalls() []*stubCall {
	calls := preflightCalls()
	calls = append(calls,
		protectedImageCall(),
		ok("logs.DescribeLogGroups", `{"logGroups":[{"logGroupName":"/ecs/facectl","retentionInDays":30}]}`),
		ok("ecs.DescribeServices", `{"services":[`+serviceJSON(tdARN1, 2, 2, deploymentJSON("ecs-svc/1", "PRIMARY", "COMPLETED", tdARN1, 2, 2, 0, ""), "")+`],"failures":[]}`),
		ok("ecs.DescribeTaskDefinition", taskDefJSON(tdARN1, oldImage, "")),
		ok("ecs.DescribeTaskDefinition", taskDefJSON(tdARN1, oldImage, "")),
		&stubCall{op: "ecs.RegisterTaskDefinition", status: 200, body: strings.Replace(taskDefJSON(tdARN2, newImage, ""), `"revision":1`, `"revision":2`, 1),
			check: func(t *testing.T, body string) {
				if !strings.Contains(body, newImage) {
					t.Errorf("RegisterTaskDefinition without the new image: %s", body)
				}
			}},
		ok("application-autoscaling.DescribeScalableTargets", `{"scalableTargets":[]}`),
		&stubCall{op: "ecs.UpdateService", status: 200,
			body: `{"service":` + serviceJSON(tdARN2, 2, 2, deploymentJSON("ecs-svc/2", "PRIMARY", "IN_PROGRESS", tdARN2, 2, 0, 0, "")+","+deploymentJSON("ecs-svc/1", "ACTIVE", "COMPLETED", tdARN1, 2, 2, 0, ""), "") + `}`,
			check: func(t *testing.T, body string) {
				if !strings.Contains(body, `"desiredCount":2`) || !strings.Contains(body, tdARN2) {
					t.Errorf("UpdateService body = %s", body)
				}
			}},
	)
	return calls
}

func describeServicesJSON(svc string) string { return `{"services":[` + svc + `],"failures":[]}` }
