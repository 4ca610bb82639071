package deploy

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/facectl/facectl/internal/testenv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
)

// domainEnv is a fresh moto account (with Route 53 and ACM) behind the certificate handler
// moto's CloudFormation lacks (certShim), the fault proxy at its default fault mix and the
// recorder, and a config with --domain faces.example.com.
func domainEnv(t *testing.T) (*managedEnv, Config, *certShim) {
	t.Helper()
	endpoint := startOwnMoto(t)
	testenv.FakeAWS(t)
	awsCfg, err := LoadAWSConfig(ctxT(t, time.Minute), Config{EndpointURL: endpoint})
	if err != nil {
		t.Fatal(err)
	}
	shim := startCertShim(t, endpoint, awsCfg)
	faults := startFaultProxy(t, shim.URL())
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
	return e, cfg, shim
}

// TestDomainWithoutHostedZoneIsRefused: a domain the account has no hosted zone for is refused
// in preflight, with what to do, and nothing is written.
func TestDomainWithoutHostedZoneIsRefused(t *testing.T) {
	e, cfg, _ := domainEnv(t)
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
	e, cfg, _ := domainEnv(t)
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
	// destroy's own deletion of the validation record: a DELETE of a CNAME under _*.<domain>,
	// and nothing else without CloudFormation.
	zoneARN := "arn:aws:route53:::hostedzone/" + zoneID
	for _, c := range []struct {
		name, action, typ string
		want              bool
	}{
		{"_d930b28be6c5927595552b219965053e.faces.example.com", "DELETE", "CNAME", true},
		{"_d930b28be6c5927595552b219965053e.faces.example.com", "UPSERT", "CNAME", false},
		{"_d930b28be6c5927595552b219965053e.faces.example.com", "DELETE", "TXT", false},
		{"faces.example.com", "DELETE", "A", false},
		{"_dmarc.example.com", "DELETE", "CNAME", false},
	} {
		got := p.evaluate(policyRequest{Action: "route53:ChangeResourceRecordSets", Resource: zoneARN, Context: map[string]string{
			"route53:ChangeResourceRecordSetsNormalizedRecordNames": c.name, "route53:ChangeResourceRecordSetsActions": c.action, "route53:ChangeResourceRecordSetsRecordTypes": c.typ}})
		if got != c.want {
			t.Errorf("the policy allows %s %s %s directly: %v, want %v", c.action, c.typ, c.name, got, c.want)
		}
	}
	if missing := e.calls.uncovered(cfg); len(missing) > 0 {
		t.Errorf("facectl deploy policy lacks %v", missing)
	}
}

// zoneRecords lists a hosted zone's records as "name type target".
func zoneRecords(ctx context.Context, t *testing.T, r53 *route53.Client, zoneID string) []string {
	t.Helper()
	out, err := r53.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zoneID)})
	if err != nil {
		t.Fatal(err)
	}
	var recs []string
	for _, rs := range out.ResourceRecordSets {
		target := ""
		switch {
		case rs.AliasTarget != nil:
			target = "alias " + strings.ToLower(strings.TrimSuffix(aws.ToString(rs.AliasTarget.DNSName), "."))
		case rs.Type == r53types.RRTypeNs || rs.Type == r53types.RRTypeSoa:
			target = "(zone's own)"
		case len(rs.ResourceRecords) > 0:
			target = aws.ToString(rs.ResourceRecords[0].Value)
		}
		recs = append(recs, strings.TrimSuffix(aws.ToString(rs.Name), ".")+" "+string(rs.Type)+" "+target)
	}
	slices.Sort(recs)
	return recs
}

// TestDomainDeployMakesCertificateAndRecord deploys with --domain into a fresh moto account with
// a hosted zone for the domain's parent, through the certificate handler moto's CloudFormation
// lacks (certShim): the stack makes the certificate and validates it in the zone, the alias
// record points at the load balancer, the HTTPS listener serves the stack's certificate and
// HTTP redirects; an unchanged redeploy writes nothing; destroy deletes the record, the
// certificate and its validation record, keeps the validation record while another
// certificate of the name uses it, and leaves the zone's other records alone.
func TestDomainDeployMakesCertificateAndRecord(t *testing.T) {
	e, cfg, shim := domainEnv(t)
	ctx := ctxT(t, 3*time.Minute)
	awsCfg, rec := e.awsCfg, e.calls
	r53 := route53.NewFromConfig(awsCfg)
	acmc := acm.NewFromConfig(awsCfg)
	zone, err := r53.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{Name: aws.String("example.com"), CallerReference: aws.String("t2")})
	if err != nil {
		t.Fatal(err)
	}
	zoneID := strings.TrimPrefix(aws.ToString(zone.HostedZone.Id), "/hostedzone/")
	// The zone's other records, which nothing of facectl's may touch.
	if _, err := r53.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: aws.String(zoneID), ChangeBatch: &r53types.ChangeBatch{Changes: []r53types.Change{
		{Action: r53types.ChangeActionCreate, ResourceRecordSet: &r53types.ResourceRecordSet{Name: aws.String("www.example.com"), Type: r53types.RRTypeA, TTL: aws.Int64(60), ResourceRecords: []r53types.ResourceRecord{{Value: aws.String("192.0.2.10")}}}},
		{Action: r53types.ChangeActionCreate, ResourceRecordSet: &r53types.ResourceRecordSet{Name: aws.String("_other.example.com"), Type: r53types.RRTypeCname, TTL: aws.Int64(60), ResourceRecords: []r53types.ResourceRecord{{Value: aws.String("elsewhere.example.net")}}}},
	}}}); err != nil {
		t.Fatal(err)
	}
	before := zoneRecords(ctx, t, r53, zoneID)

	deploy := func() (Result, *Deployer) {
		t.Helper()
		deps := realDeps(t, e.deployCfg, &lockedBuffer{})
		deps.Docker = nil
		res, err := Run(ctx, cfg, deps, Options{})
		if err != nil {
			t.Fatalf("deploy: %v", err)
		}
		d, err := New(cfg, deps)
		if err != nil {
			t.Fatal(err)
		}
		return res, d
	}
	res, _ := deploy()
	if res.URL != "https://faces.example.com" {
		t.Errorf("URL = %q, want https://faces.example.com", res.URL)
	}
	out := stackOf(ctx, t, cloudformation.NewFromConfig(awsCfg), cfg.ServiceStackName())
	certARN := out["CertificateArn"]
	if shim.requested() != 1 || !strings.HasPrefix(certARN, "arn:aws:acm:") || out["HostedZoneId"] != zoneID {
		t.Fatalf("certificates requested %d; stack outputs %v", shim.requested(), out)
	}
	cert, err := acmc.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(certARN)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(cert.Certificate.DomainName) != "faces.example.com" || len(cert.Certificate.DomainValidationOptions) != 1 {
		t.Fatalf("certificate = %+v", cert.Certificate)
	}
	validation := strings.TrimSuffix(aws.ToString(cert.Certificate.DomainValidationOptions[0].ResourceRecord.Name), ".")
	listeners := listenerSummary(ctx, t, awsCfg, out["LoadBalancerArn"])
	if listeners[80] != "HTTP redirect HTTPS:443" || listeners[443] != "HTTPS forward "+certARN {
		t.Errorf("listeners = %v", listeners)
	}
	deployed := zoneRecords(ctx, t, r53, zoneID)
	for _, want := range []string{
		"faces.example.com A alias " + strings.ToLower(out["LoadBalancerDNSName"]),
		validation + " CNAME " + aws.ToString(cert.Certificate.DomainValidationOptions[0].ResourceRecord.Value),
	} {
		if !slices.Contains(deployed, want) {
			t.Errorf("the zone lacks %q:\n%s", want, strings.Join(deployed, "\n"))
		}
	}
	if len(deployed) != len(before)+2 {
		t.Errorf("the zone after deploy:\n%s\nbefore:\n%s", strings.Join(deployed, "\n"), strings.Join(before, "\n"))
	}
	if missing := rec.uncovered(cfg); len(missing) > 0 {
		t.Errorf("facectl deploy policy lacks %v", missing)
	}

	rec.take()
	_, d := deploy()
	if w := writeCalls(rec.take()); len(w) > 0 {
		t.Errorf("an unchanged redeploy wrote %v", w)
	}

	// The account's own certificate of the same name shares the validation record (ACM gives
	// one record per name and account): destroy keeps it.
	mine, err := acmc.RequestCertificate(ctx, &acm.RequestCertificateInput{DomainName: aws.String("faces.example.com"), ValidationMethod: acmtypes.ValidationMethodDns})
	if err != nil {
		t.Fatal(err)
	}
	dr, err := d.Destroy(ctx, DestroyOptions{})
	if err != nil {
		t.Fatalf("destroy: %v", err)
	}
	if !strings.Contains(strings.Join(dr.Kept, "\n"), "Route 53 record "+validation+". (CNAME): it also validates certificate "+aws.ToString(mine.CertificateArn)) {
		t.Errorf("destroy kept %q, want the shared validation record", dr.Kept)
	}
	if got, want := zoneRecords(ctx, t, r53, zoneID), append(slices.Clone(before), validation+" CNAME "+aws.ToString(cert.Certificate.DomainValidationOptions[0].ResourceRecord.Value)); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Errorf("the zone after destroy:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(slices.Sorted(slices.Values(want)), "\n"))
	}
	if _, err := acmc.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(certARN)}); err == nil || shim.deleted() != 1 {
		t.Errorf("the stack's certificate is still there (deleted %d)", shim.deleted())
	}

	// Without the other certificate, destroy deletes the validation record too: the zone is as
	// it was.
	if _, err := acmc.DeleteCertificate(ctx, &acm.DeleteCertificateInput{CertificateArn: mine.CertificateArn}); err != nil {
		t.Fatal(err)
	}
	_, d = deploy()
	if shim.requested() != 2 {
		t.Fatalf("certificates requested %d, want a second for the second stack", shim.requested())
	}
	rec.take()
	dr, err = d.Destroy(ctx, DestroyOptions{})
	if err != nil {
		t.Fatalf("destroy: %v", err)
	}
	if !slices.Contains(dr.Removed, "Route 53 record "+validation+". (CNAME, the DNS validation of the stack's certificate)") {
		t.Errorf("destroy removed %q, want the validation record", dr.Removed)
	}
	if got := zoneRecords(ctx, t, r53, zoneID); !slices.Equal(got, before) {
		t.Errorf("the zone after destroy:\n%s\nwant it as before the deploy:\n%s", strings.Join(got, "\n"), strings.Join(before, "\n"))
	}
	if missing := rec.uncovered(cfg); len(missing) > 0 {
		t.Errorf("facectl deploy policy lacks %v for destroy", missing)
	}
}
