package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/facectl/facectl/pkg/deploy"
)

func TestDeployPolicyCommand(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	cfgFile := filepath.Join(t.TempDir(), "facectl.yaml")
	if err := os.WriteFile(cfgFile, []byte(`deploy:
  region: eu-west-1
  image:
    repository: web
  task:
    execution_role_arn: arn:aws:iam::123456789012:role/web-exec
  logs:
    group: /ecs/web
`), 0o644); err != nil {
		t.Fatal(err)
	}
	policy := func(args ...string) deploy.PolicyDocument {
		t.Helper()
		var out, errOut bytes.Buffer
		code := Main(t.Context(), append([]string{"deploy", "policy", "--config", cfgFile}, args...), IOStreams{In: strings.NewReader(""), Out: &out, Err: &errOut})
		if code != 0 {
			t.Fatalf("deploy policy exit %d: %s", code, errOut.String())
		}
		var p deploy.PolicyDocument
		if err := json.Unmarshal(out.Bytes(), &p); err != nil || p.Version != "2012-10-17" {
			t.Fatalf("not a policy document: %v\n%s", err, out.String())
		}
		return p
	}

	p := policy()
	for _, a := range []string{"ecr:PutImage", "ecr:BatchGetImage", "ecr:InitiateLayerUpload", "cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms",
		"cloudwatch:DeleteAlarms", "iam:PassRole", "logs:DeleteRetentionPolicy", "logs:FilterLogEvents", "cloudformation:CreateChangeSet", "ecs:CreateCluster"} {
		if !p.Allows(a) {
			t.Errorf("policy lacks %s", a)
		}
	}
	text, _ := json.Marshal(p)
	for _, want := range []string{`"arn:aws:ecr:eu-west-1:*:repository/web"`, `"arn:aws:iam::123456789012:role/web-exec"`, `"arn:aws:logs:eu-west-1:*:log-group:/ecs/web:*"`,
		`"iam:PassedToService":"ecs-tasks.amazonaws.com"`} {
		if !strings.Contains(string(text), want) {
			t.Errorf("policy lacks %s:\n%s", want, text)
		}
	}

	// A prebuilt image, an existing target group and no auto scaling need less.
	p = policy("--image", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web@sha256:"+strings.Repeat("a", 64),
		"--target-group-arn", "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef", "--autoscaling=false")
	for _, a := range []string{"ecr:PutImage", "ecr:CreateRepository", "cloudwatch:PutMetricAlarm", "cloudformation:CreateStack", "ecs:CreateCluster"} {
		if p.Allows(a) {
			t.Errorf("policy for a prebuilt image, an existing target group and no scaling grants %s", a)
		}
	}
	if !p.Allows("ecs:UpdateService") || !p.Allows("elasticloadbalancing:DescribeTargetGroups") {
		t.Errorf("policy lacks the deploy itself: %v", p.Actions())
	}

	// --domain adds the hosted zone's lookup, the certificate's calls and destroy's deletion of
	// its validation record; --certificate-arn instead only the certificate's check.
	if p := policy(); p.Allows("route53:ListHostedZonesByName") || p.Allows("acm:RequestCertificate") {
		t.Errorf("policy without a domain grants Route 53 or ACM: %v", p.Actions())
	}
	p = policy("--domain", "faces.example.com")
	for _, a := range []string{"route53:ListHostedZonesByName", "acm:RequestCertificate", "acm:ListCertificates", "route53:ChangeResourceRecordSets"} {
		if !p.Allows(a) {
			t.Errorf("policy for --domain lacks %s: %v", a, p.Actions())
		}
	}
	p = policy("--domain", "faces.example.com", "--certificate-arn", "arn:aws:acm:eu-west-1:123456789012:certificate/abc")
	if p.Allows("acm:RequestCertificate") || !p.Allows("acm:DescribeCertificate") {
		t.Errorf("policy for --certificate-arn: %v", p.Actions())
	}
}

// TestDeployPolicyBoundary: --boundary prints the execution role's permissions boundary for the
// config, --boundary-name the name the template refers to.
func TestDeployPolicyBoundary(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	run := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		code := Main(t.Context(), append([]string{"deploy", "policy", "--region", "eu-west-1", "--service", "web"}, args...), IOStreams{In: strings.NewReader(""), Out: &out, Err: &errOut})
		if code != 0 {
			t.Fatalf("deploy policy %v exit %d: %s", args, code, errOut.String())
		}
		return out.String()
	}
	if got := strings.TrimSpace(run("--boundary-name")); got != "facectl-facectl-web-boundary" {
		t.Errorf("--boundary-name = %q", got)
	}
	var b deploy.PolicyDocument
	if err := json.Unmarshal([]byte(run("--boundary")), &b); err != nil {
		t.Fatal(err)
	}
	if !b.Allows("ecr:BatchGetImage") || !b.Allows("logs:PutLogEvents") || b.Allows("iam:PassRole") || b.Allows("ecs:RunTask") {
		t.Errorf("boundary = %v", b.Actions())
	}
}
