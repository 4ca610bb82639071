package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// expressStub is the ECS Express Mode control plane, which moto does not have, in front of a
// moto_server that has everything else. It answers the four Express operations itself, with
// the rules of their API reference (each rule below names its page), and passes every other
// call to moto. Like Express, it runs the service as an ordinary ECS service of the same name:
// it creates, updates and deletes that service in moto, so DescribeServices, ListTasks and
// the task definitions the deployer reads are moto's.
//
// Pages (API reference, https://docs.aws.amazon.com/AmazonECS/latest/APIReference/):
//   - [create] API_CreateExpressGatewayService.html
//   - [update] API_UpdateExpressGatewayService.html
//   - [describe] API_DescribeExpressGatewayService.html
//   - [delete] API_DeleteExpressGatewayService.html
//   - [status] API_ExpressGatewayServiceStatus.html (ACTIVE, DRAINING, INACTIVE)
//   - [deploy] developerguide/express-service-update-full.html: canary deployment, 5% of the
//     traffic, 3 minutes' bake, rollback on the 4xx+5xx alarm
//
// What the pages do not say, the stub assumes and says so: the error codes of an unknown
// service (ServiceNotFoundException, ECS's usual one) and how long the canary and the
// draining take (a few Describe calls here).
type expressStub struct {
	t     *testing.T
	srv   *httptest.Server
	proxy *httputil.ReverseProxy
	moto  *ecs.Client
	iam   *iam.Client

	mu       sync.Mutex
	services map[string]*stubExpressService // by ARN
	// RollBackNext makes the next update fail its canary: Express rolls back to the previous
	// configuration ([deploy]: the alarm on the 4xx+5xx rate).
	RollBackNext bool
	// CanaryLooks is how many Describe calls an update stays in its canary phase (two active
	// configurations), DrainLooks how many a deleted service stays DRAINING.
	CanaryLooks, DrainLooks int
	// Calls counts the Express operations received.
	Calls map[string]int
}

type stubExpressService struct {
	arn, name, cluster, infraRole string
	tags                          []map[string]string
	status, reason                string
	active                        []map[string]any // active configurations, oldest first
	looks                         int              // Describe calls since the last change
	rollBack                      bool
	created                       float64
	revision                      int
}

func newExpressStub(t *testing.T, motoURL string) *expressStub {
	t.Helper()
	target, err := url.Parse(motoURL)
	if err != nil {
		t.Fatal(err)
	}
	awsCfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(motoURL),
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")}
	s := &expressStub{t: t, proxy: httputil.NewSingleHostReverseProxy(target), moto: ecs.NewFromConfig(awsCfg), iam: iam.NewFromConfig(awsCfg),
		services: map[string]*stubExpressService{}, CanaryLooks: 2, DrainLooks: 2, Calls: map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *expressStub) URL() string { return s.srv.URL }

func (s *expressStub) serve(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op := target[strings.LastIndex(target, ".")+1:]
	if !strings.HasSuffix(op, "ExpressGatewayService") {
		s.proxy.ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var in map[string]any
	if err := json.Unmarshal(body, &in); err != nil {
		s.fail(w, 400, "SerializationException", "the body is not JSON")
		return
	}
	s.mu.Lock()
	s.Calls[op]++
	s.mu.Unlock()
	var out any
	var status int
	var code, msg string
	switch op {
	case "CreateExpressGatewayService":
		out, status, code, msg = s.create(r.Context(), in)
	case "UpdateExpressGatewayService":
		out, status, code, msg = s.update(r.Context(), in)
	case "DescribeExpressGatewayService":
		out, status, code, msg = s.describe(r.Context(), in)
	case "DeleteExpressGatewayService":
		out, status, code, msg = s.delete(r.Context(), in)
	default:
		out, status, code, msg = nil, 400, "UnknownOperationException", op
	}
	if code != "" {
		s.fail(w, status, code, msg)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	b, _ := json.Marshal(out)
	w.Write(b)
}

func (s *expressStub) fail(w http.ResponseWriter, status int, code, msg string) {
	writeAWSError(w, false, "ecs", status, code, msg)
}

var stubServiceNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)

// exclusiveWithTaskDefinition are the members [create] and [update] refuse beside
// taskDefinitionArn: "If you provide a task definition ARN, you cannot also specify
// primaryContainer, executionRoleArn, taskRoleArn, cpu, memory, or cpuArchitecture."
var exclusiveWithTaskDefinition = []string{"primaryContainer", "executionRoleArn", "taskRoleArn", "cpu", "memory", "cpuArchitecture"}

// checkConfiguration applies the rules [create] and [update] share to the members of in.
func (s *expressStub) checkConfiguration(ctx context.Context, in map[string]any) (string, string) {
	td, _ := in["taskDefinitionArn"].(string)
	if td != "" {
		for _, k := range exclusiveWithTaskDefinition {
			if _, set := in[k]; set {
				return "InvalidParameterException", fmt.Sprintf("%s cannot be specified together with taskDefinitionArn", k)
			}
		}
		// [create] taskDefinitionArn: "must have a container named Main with a single TCP port
		// mapping that includes a container port and port name", "FARGATE compatibility".
		out, err := s.moto.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(td)})
		if err != nil {
			return "ClientException", "Unable to describe task definition " + td
		}
		var main *ecstypes.ContainerDefinition
		for i, c := range out.TaskDefinition.ContainerDefinitions {
			if aws.ToString(c.Name) == "Main" {
				main = &out.TaskDefinition.ContainerDefinitions[i]
			}
		}
		if main == nil {
			return "InvalidParameterException", "The task definition must have a container named Main"
		}
		if len(main.PortMappings) != 1 || aws.ToInt32(main.PortMappings[0].ContainerPort) == 0 || aws.ToString(main.PortMappings[0].Name) == "" ||
			(main.PortMappings[0].Protocol != "" && main.PortMappings[0].Protocol != ecstypes.TransportProtocolTcp) {
			return "InvalidParameterException", "The Main container must have a single TCP port mapping with a container port and a port name"
		}
		fargate := false
		for _, c := range out.TaskDefinition.RequiresCompatibilities {
			fargate = fargate || c == ecstypes.CompatibilityFargate
		}
		if !fargate {
			return "InvalidParameterException", "The task definition must be compatible with FARGATE"
		}
	} else if pc, ok := in["primaryContainer"].(map[string]any); ok {
		// [create] ExpressGatewayContainer: image is required.
		if img, _ := pc["image"].(string); img == "" {
			return "InvalidParameterException", "primaryContainer.image is required"
		}
	}
	// [create] healthCheckPath: "must start with a forward slash".
	if p, ok := in["healthCheckPath"].(string); ok && !strings.HasPrefix(p, "/") {
		return "InvalidParameterException", "healthCheckPath must start with /"
	}
	if st, ok := in["scalingTarget"].(map[string]any); ok {
		minC, _ := st["minTaskCount"].(float64)
		maxC, _ := st["maxTaskCount"].(float64)
		if _, hasMax := st["maxTaskCount"]; hasMax && minC > maxC {
			return "InvalidParameterException", "minTaskCount must not be greater than maxTaskCount"
		}
		if m, ok := st["autoScalingMetric"].(string); ok && m != "AVERAGE_CPU" && m != "AVERAGE_MEMORY" && m != "REQUEST_COUNT_PER_TARGET" {
			return "InvalidParameterException", "autoScalingMetric " + m
		}
	}
	return "", ""
}

func (s *expressStub) create(ctx context.Context, in map[string]any) (any, int, string, string) {
	// [create] infrastructureRoleArn: "This member is required."
	role, _ := in["infrastructureRoleArn"].(string)
	if role == "" {
		return nil, 400, "InvalidParameterException", "infrastructureRoleArn is required"
	}
	name, _ := in["serviceName"].(string)
	// [create] serviceName: "up to 255 letters (uppercase and lowercase), numbers, underscores,
	// and hyphens" (without a name ECS makes one; facectl always names the service).
	if !stubServiceNameRE.MatchString(name) {
		return nil, 400, "InvalidParameterException", "serviceName " + name
	}
	// [create] tags: "up to 50 tags".
	if tags, _ := in["tags"].([]any); len(tags) > 50 {
		return nil, 400, "InvalidParameterException", "too many tags"
	}
	// [create] taskDefinitionArn or primaryContainer ("must specify at minimum a container image").
	if _, td := in["taskDefinitionArn"]; !td {
		if _, pc := in["primaryContainer"]; !pc {
			return nil, 400, "InvalidParameterException", "primaryContainer or taskDefinitionArn is required"
		}
	}
	if code, msg := s.checkConfiguration(ctx, in); code != "" {
		return nil, 400, code, msg
	}
	// The infrastructure role is assumed by ECS ([create] infrastructureRoleArn: "grants Amazon
	// ECS permission"; the trust policy of developerguide/infrastructure_IAM_role.html).
	if code, msg := s.checkAssumable(ctx, role); code != "" {
		return nil, 400, code, msg
	}
	cluster, _ := in["cluster"].(string)
	if cluster == "" {
		cluster = "default" // [create] cluster: "the default cluster is assumed"
	}
	arn := fmt.Sprintf("arn:aws:ecs:us-east-1:123456789012:service/%s/%s", clusterName(cluster), name)
	s.mu.Lock()
	if old := s.services[arn]; old != nil && old.status != "INACTIVE" {
		s.mu.Unlock()
		return nil, 400, "InvalidParameterException", "Creation of service was not idempotent."
	}
	s.mu.Unlock()

	// The ECS service Express runs: in moto.
	td, _ := in["taskDefinitionArn"].(string)
	var tags []ecstypes.Tag
	var stubTags []map[string]string
	for _, t := range asList(in["tags"]) {
		m := t.(map[string]any)
		tags = append(tags, ecstypes.Tag{Key: aws.String(fmt.Sprint(m["key"])), Value: aws.String(fmt.Sprint(m["value"]))})
		stubTags = append(stubTags, map[string]string{"key": fmt.Sprint(m["key"]), "value": fmt.Sprint(m["value"])})
	}
	desired := int32(1)
	if st, ok := in["scalingTarget"].(map[string]any); ok {
		if n, ok := st["minTaskCount"].(float64); ok {
			desired = int32(n)
		}
	}
	if _, err := s.moto.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String(cluster), ServiceName: aws.String(name), TaskDefinition: aws.String(td),
		DesiredCount: aws.Int32(desired), LaunchType: ecstypes.LaunchTypeFargate, Tags: tags}); err != nil {
		var nf *ecstypes.ClusterNotFoundException
		if errors.As(err, &nf) {
			return nil, 400, "ClusterNotFoundException", "Cluster not found."
		}
		return nil, 500, "ServerException", err.Error()
	}
	now := float64(time.Now().UnixNano()) / 1e9
	svc := &stubExpressService{arn: arn, name: name, cluster: cluster, infraRole: role, tags: stubTags, status: "ACTIVE", created: now}
	svc.active = []map[string]any{s.configuration(svc, in, nil)}
	s.mu.Lock()
	s.services[arn] = svc
	s.mu.Unlock()
	return map[string]any{"service": s.view(svc, false)}, 200, "", ""
}

// configuration is a new active configuration from the request's members, the ones not given
// taken from prev.
func (s *expressStub) configuration(svc *stubExpressService, in, prev map[string]any) map[string]any {
	svc.revision++
	c := map[string]any{}
	for k, v := range prev {
		c[k] = v
	}
	for _, k := range []string{"taskDefinitionArn", "healthCheckPath", "scalingTarget", "networkConfiguration"} {
		if v, ok := in[k]; ok {
			c[k] = v
		}
	}
	if _, ok := c["healthCheckPath"]; !ok {
		c["healthCheckPath"] = "/ping" // [create] healthCheckPath: "the default health check path is /ping"
	}
	c["serviceRevisionArn"] = fmt.Sprintf("%s/revision/%d", svc.arn, svc.revision)
	c["createdAt"] = float64(time.Now().UnixNano())/1e9 + float64(svc.revision)/1000
	// The AWS-provided domain ([deploy]; developerguide/express-service-work.html).
	c["ingressPaths"] = []any{map[string]any{"accessType": "PUBLIC", "endpoint": svc.name + ".ecs.us-east-1.on.aws"}}
	return c
}

func (s *expressStub) checkAssumable(ctx context.Context, roleARN string) (string, string) {
	name := roleARN[strings.LastIndex(roleARN, "/")+1:]
	out, err := s.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
	if err != nil || !trustsService(aws.ToString(out.Role.AssumeRolePolicyDocument), infrastructurePrincipal) {
		return "InvalidParameterException", "Unable to assume the infrastructure role " + roleARN + ". Verify that the role exists and trusts ecs.amazonaws.com."
	}
	return "", ""
}

// lookup finds the service of in's serviceArn ([describe], [update], [delete]: "This member is
// required").
func (s *expressStub) lookup(in map[string]any) (*stubExpressService, int, string, string) {
	arn, _ := in["serviceArn"].(string)
	if arn == "" {
		return nil, 400, "InvalidParameterException", "serviceArn is required"
	}
	svc := s.services[arn]
	if svc == nil {
		return nil, 400, "ServiceNotFoundException", "Service not found." // assumed (see expressStub)
	}
	return svc, 0, "", ""
}

func (s *expressStub) update(ctx context.Context, in map[string]any) (any, int, string, string) {
	s.mu.Lock()
	svc, status, code, msg := s.lookup(in)
	s.mu.Unlock()
	if code != "" {
		return nil, status, code, msg
	}
	// [update]: "Some parameters like the infrastructure role cannot be modified after service
	// creation" (the request has no such member).
	if _, ok := in["infrastructureRoleArn"]; ok {
		return nil, 400, "InvalidParameterException", "infrastructureRoleArn cannot be updated"
	}
	if code, msg := s.checkConfiguration(ctx, in); code != "" {
		return nil, 400, code, msg
	}
	s.mu.Lock()
	if svc.status != "ACTIVE" {
		s.mu.Unlock()
		return nil, 400, "ServiceNotActiveException", "Service is not ACTIVE."
	}
	prev := svc.active[len(svc.active)-1]
	next := s.configuration(svc, in, prev)
	// [deploy]: the new configuration takes 5% of the traffic beside the old one.
	svc.active = []map[string]any{prev, next}
	svc.looks, svc.rollBack, s.RollBackNext = 0, s.RollBackNext, false
	s.mu.Unlock()
	if td, _ := next["taskDefinitionArn"].(string); td != "" {
		if _, err := s.moto.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(svc.cluster), Service: aws.String(svc.name), TaskDefinition: aws.String(td)}); err != nil {
			return nil, 500, "ServerException", err.Error()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.view(svc, false)
	delete(v, "activeConfigurations")
	delete(v, "infrastructureRoleArn")
	v["targetConfiguration"] = next // [update] response: UpdatedExpressGatewayService
	return map[string]any{"service": v}, 200, "", ""
}

func (s *expressStub) describe(ctx context.Context, in map[string]any) (any, int, string, string) {
	s.mu.Lock()
	svc, status, code, msg := s.lookup(in)
	if code != "" {
		s.mu.Unlock()
		return nil, status, code, msg
	}
	svc.looks++
	var revertTo string
	switch {
	case len(svc.active) == 2 && svc.looks > s.CanaryLooks && svc.rollBack:
		// The alarm fired: the old configuration takes all the traffic back.
		svc.active = svc.active[:1]
		svc.reason = "Deployment rolled back: the alarm on the canary's 4xx and 5xx rate went into ALARM"
		svc.rollBack = false
		revertTo, _ = svc.active[0]["taskDefinitionArn"].(string)
	case len(svc.active) == 2 && svc.looks > s.CanaryLooks:
		svc.active = svc.active[1:] // after the bake time all the traffic is on the new one
	case svc.status == "DRAINING" && svc.looks > s.DrainLooks:
		svc.status = "INACTIVE" // [status]; [delete]: "After all tasks stop, the service ... removed"
	}
	tags := false
	for _, i := range asList(in["include"]) {
		tags = tags || i == "TAGS" // [describe] include: "TAGS to include resource tags"
	}
	v := s.view(svc, tags)
	cluster, name := svc.cluster, svc.name
	s.mu.Unlock()
	if revertTo != "" {
		if _, err := s.moto.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(cluster), Service: aws.String(name), TaskDefinition: aws.String(revertTo)}); err != nil {
			return nil, 500, "ServerException", err.Error()
		}
	}
	return map[string]any{"service": v}, 200, "", ""
}

func (s *expressStub) delete(ctx context.Context, in map[string]any) (any, int, string, string) {
	s.mu.Lock()
	svc, status, code, msg := s.lookup(in)
	if code == "" && svc.status != "ACTIVE" {
		code, status, msg = "ServiceNotActiveException", 400, "Service is not ACTIVE."
	}
	if code != "" {
		s.mu.Unlock()
		return nil, status, code, msg
	}
	// [delete]: "The service enters a DRAINING state where existing tasks complete current
	// requests without starting new tasks."
	svc.status, svc.looks = "DRAINING", 0
	cluster, name := svc.cluster, svc.name
	v := s.view(svc, false)
	s.mu.Unlock()
	if _, err := s.moto.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String(cluster), Service: aws.String(name), Force: aws.Bool(true)}); err != nil {
		return nil, 500, "ServerException", err.Error()
	}
	return map[string]any{"service": v}, 200, "", ""
}

// view is the ECSExpressGatewayService of svc; s.mu is held.
func (s *expressStub) view(svc *stubExpressService, tags bool) map[string]any {
	st := map[string]any{"statusCode": svc.status}
	if svc.reason != "" {
		st["statusReason"] = svc.reason
	}
	active := []any{}
	if svc.status == "ACTIVE" {
		for _, c := range svc.active {
			active = append(active, c)
		}
	}
	v := map[string]any{"serviceArn": svc.arn, "serviceName": svc.name, "cluster": svc.cluster, "infrastructureRoleArn": svc.infraRole,
		"status": st, "activeConfigurations": active, "createdAt": svc.created, "updatedAt": float64(time.Now().Unix())}
	if tags {
		v["tags"] = svc.tags
	}
	return v
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}
