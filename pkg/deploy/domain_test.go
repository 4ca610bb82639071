package deploy

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/facectl/facectl/internal/testenv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
)

// domainEnv is a fresh moto account (with Route 53) behind the fault proxy and the recorder.
func domainEnv(t *testing.T) (*managedEnv, Config) {
	t.Helper()
	endpoint := startOwnMoto(t)
	testenv.FakeAWS(t)
	awsCfg, err := LoadAWSConfig(ctxT(t, time.Minute), Config{EndpointURL: endpoint})
	if err != nil {
		t.Fatal(err)
	}
	faults := startFaultProxy(t, endpoint)
	faults.Configure(func(p *faultProxy) { p.Rate, p.StaleReads = 0, 0 })
	rec, deployCfg := throughFaults(awsCfg, faults)
	e := &managedEnv{awsCfg: awsCfg, deployCfg: deployCfg, calls: rec, faults: faults}
	cfg := DefaultConfig()
	cfg.Region = "us-east-1"
	cfg.EndpointURL = endpoint
	cfg.Service = "web"
	cfg.Image.URI = "registry.example/prebuilt@sha256:" + strings.Repeat("ab", 32)
	cfg.LoadBalancer.Domain = "faces.example.com"
	cfg.Wait.Timeout = time.Minute
	cfg.Wait.PollInterval = 20 * time.Millisecond
	return e, cfg
}

// TestDomainWithoutHostedZoneIsRefused: a domain the account has no hosted zone for is refused
// in preflight, with what to do, and nothing is written.
func TestDomainWithoutHostedZoneIsRefused(t *testing.T) {
	e, cfg := domainEnv(t)
	deps := realDeps(t, e.deployCfg, &lockedBuffer{})
	deps.Docker = nil
	_, err := Run(ctxT(t, time.Minute), cfg, deps, Options{})
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "no public Route 53 hosted zone for faces.example.com") || !strings.Contains(err.Error(), "--certificate-arn") {
		t.Fatalf("deploy = %v, want the domain refused", err)
	}
	if w := writeCalls(e.calls.take()); len(w) > 0 {
		t.Errorf("a refused deploy wrote %v", w)
	}
}

// TestDomainCertificateAndRecord: with a hosted zone for the domain's parent, the plan makes
// the certificate (validated in that zone), the alias record and an HTTPS listener with HTTP
// redirected, and the URL is https://<domain>.
func TestDomainCertificateAndRecord(t *testing.T) {
	e, cfg := domainEnv(t)
	ctx := ctxT(t, 2*time.Minute)
	r53 := route53.NewFromConfig(e.awsCfg)
	zone, err := r53.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{Name: aws.String("example.com"), CallerReference: aws.String("t1")})
	if err != nil {
		t.Fatal(err)
	}
	zoneID := strings.TrimPrefix(aws.ToString(zone.HostedZone.Id), "/hostedzone/")
	deps := realDeps(t, e.deployCfg, &lockedBuffer{})
	deps.Docker = nil
	plan, err := Run(ctx, cfg, deps, Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	env := strings.Join(plan.Environment, "\n")
	for _, want := range []string{"add Certificate (AWS::CertificateManager::Certificate)", "add DomainRecord (AWS::Route53::RecordSet)", "add SecureListener"} {
		if !strings.Contains(env, want) {
			t.Errorf("the plan lacks %q:\n%s", want, env)
		}
	}
	d, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	body := d.ServiceTemplate(envNetwork{VPC: "vpc-1", Subnets: []string{"subnet-1", "subnet-2"}, LBSubnets: []string{"subnet-1", "subnet-2"}, HostedZoneID: zoneID})
	for _, want := range []string{`"HostedZoneId": "` + zoneID + `"`, `"ValidationMethod": "DNS"`, `"Ref": "Certificate"`, `"StatusCode": "HTTP_301"`,
		`"CanonicalHostedZoneID"`, `"https://faces.example.com"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the service template lacks %s:\n%s", want, body)
		}
	}
	p := Policy(cfg)
	if !p.Allows("route53:ListHostedZonesByName") || !p.Allows("acm:RequestCertificate") ||
		p.evaluate(policyRequest{Action: "route53:ChangeResourceRecordSets", Resource: "arn:aws:route53:::hostedzone/" + zoneID,
			Context: map[string]string{"aws:CalledVia": "cloudformation.amazonaws.com", "route53:ChangeResourceRecordSetsNormalizedRecordNames": "www.example.com"}}) {
		t.Errorf("the policy for --domain: %s", p.JSON())
	}
	if missing := e.calls.uncovered(cfg); len(missing) > 0 {
		t.Errorf("facectl deploy policy lacks %v", missing)
	}
}
