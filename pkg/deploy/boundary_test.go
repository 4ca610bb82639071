package deploy

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

const motoAccount = "123456789012"

// boundaryDoc reads the boundary's default version from IAM, decoded.
func boundaryDoc(t *testing.T, c *iam.Client, arn string) (doc string, tags []iamtypes.Tag) {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	pol, err := c.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(arn)})
	if err != nil {
		t.Fatalf("the boundary %s: %v", arn, err)
	}
	ver, err := c.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: aws.String(arn), VersionId: pol.Policy.DefaultVersionId})
	if err != nil {
		t.Fatal(err)
	}
	doc, _ = url.QueryUnescape(aws.ToString(ver.PolicyVersion.Document))
	return doc, pol.Policy.Tags
}

// TestBoundaryDeniedChangesNothing: credentials with only the deploy policy (which cannot write
// IAM policies, on purpose) are stopped at the missing boundary before anything is written, and
// told the two commands an administrator runs; once the administrator has run them (the
// printed document, created as printed), the same deploy goes through and writes no boundary.
func TestBoundaryDeniedChangesNothing(t *testing.T) {
	e := setupManaged(t)
	ctx := ctxT(t, 3*time.Minute)
	cfg := e.config("web", "bnd-1")
	e.faults.Configure(func(p *faultProxy) { p.Script = map[string][]string{"iam.CreatePolicy": {"denied"}} })

	_, err := Run(ctx, cfg, e.deps(t, &lockedBuffer{}), Options{})
	calls := e.calls.take()
	if !errors.Is(err, ErrAccessDenied) {
		t.Fatalf("deploy without the right to create the boundary: %v, want access denied", err)
	}
	arn := "arn:aws:iam::" + motoAccount + ":policy/facectl-facectl-web-boundary"
	for _, want := range []string{"Nothing was changed", "facectl deploy policy --boundary > boundary.json",
		"aws iam create-policy --policy-name facectl-facectl-web-boundary --policy-document file://boundary.json --tags Key=facectl:boundary-for,Value=service/facectl/web"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%v", want, err)
		}
	}
	if w := writeCalls(calls); len(w) > 0 {
		t.Errorf("a refused deploy wrote %v", w)
	}
	if _, err := cloudformation.NewFromConfig(e.awsCfg).DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String("facectl-facectl-cluster")}); err == nil {
		t.Error("the cluster stack exists after a refused deploy")
	}

	// The administrator runs what the error says.
	admin := iam.NewFromConfig(e.awsCfg)
	if _, err := admin.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String(cfg.BoundaryName()), PolicyDocument: aws.String(BoundaryPolicy(cfg).JSON()),
		Tags: []iamtypes.Tag{{Key: aws.String(boundaryTag), Value: aws.String("service/facectl/web")}}}); err != nil {
		t.Fatal(err)
	}
	res, err := Run(ctx, cfg, e.deps(t, &lockedBuffer{}), Options{})
	calls = e.calls.take()
	if err != nil {
		t.Fatalf("deploy after the administrator made the boundary: %v", err)
	}
	if strings.Contains(calls, "CreatePolicy") {
		t.Errorf("the boundary was written again: %s", calls)
	}
	if got := actionOf(res, "permissions boundary"); got != "none" {
		t.Errorf("permissions boundary action %q, want none (up to date)", got)
	}
	if doc, _ := boundaryDoc(t, admin, arn); !sameJSON(doc, BoundaryPolicy(cfg).JSON()) {
		t.Errorf("boundary document changed: %s", doc)
	}
}

func actionOf(res Result, resource string) string {
	for _, a := range res.Actions {
		if a.Resource == resource {
			return a.Verb
		}
	}
	return ""
}

// TestBoundaryKeptCurrent: a boundary facectl made whose document no longer matches (a secret
// was added) gets a new default version, making room when IAM's five are taken; a boundary an
// administrator made without facectl's tag is left as it is.
func TestBoundaryKeptCurrent(t *testing.T) {
	e := setupManaged(t)
	ctx := ctxT(t, time.Minute)
	admin := iam.NewFromConfig(e.awsCfg)
	cfg := e.config("web", "unused")
	cfg.Task.Secrets = []Secret{{Name: "API_KEY", ValueFrom: "arn:aws:secretsmanager:us-east-1:" + motoAccount + ":secret:api-key"}}
	arn := "arn:aws:iam::" + motoAccount + ":policy/" + cfg.BoundaryName()

	old := BoundaryPolicy(e.config("web", "unused")).JSON()
	if _, err := admin.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String(cfg.BoundaryName()), PolicyDocument: aws.String(old),
		Tags: []iamtypes.Tag{{Key: aws.String(boundaryTag), Value: aws.String(cfg.serviceStackFor())}}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ { // IAM's limit of five versions
		if _, err := admin.CreatePolicyVersion(ctx, &iam.CreatePolicyVersionInput{PolicyArn: aws.String(arn), PolicyDocument: aws.String(old)}); err != nil {
			t.Fatal(err)
		}
	}

	d, err := New(cfg, e.deps(t, &lockedBuffer{}))
	if err != nil {
		t.Fatal(err)
	}
	r := d.newRun(false, nil)
	r.account = motoAccount
	step, err := r.planBoundary(ctx)
	if err != nil || step.verb != "update" {
		t.Fatalf("plan = %+v, %v; want update", step, err)
	}
	if err := r.applyBoundary(ctx, step); err != nil {
		t.Fatal(err)
	}
	if doc, _ := boundaryDoc(t, admin, arn); !sameJSON(doc, BoundaryPolicy(cfg).JSON()) || !strings.Contains(doc, "secret:api-key") {
		t.Errorf("the default version is not the current document: %s", doc)
	}
	vers, err := admin.ListPolicyVersions(ctx, &iam.ListPolicyVersionsInput{PolicyArn: aws.String(arn)})
	if err != nil || len(vers.Versions) != 5 {
		t.Errorf("versions = %d, %v; want 5 (the oldest made room)", len(vers.Versions), err)
	}
	if again, err := r.planBoundary(ctx); err != nil || again.verb != "" {
		t.Errorf("second plan = %+v, %v; want up to date", again, err)
	}

	// An administrator's own boundary (no facectl tag) that differs is kept as it is.
	other := cfg
	other.Service = "api"
	mine := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"logs:PutLogEvents","Resource":"*"}]}`
	if _, err := admin.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String(other.BoundaryName()), PolicyDocument: aws.String(mine)}); err != nil {
		t.Fatal(err)
	}
	d2, _ := New(other, e.deps(t, &lockedBuffer{}))
	r2 := d2.newRun(false, nil)
	r2.account = motoAccount
	if step, err := r2.planBoundary(ctx); err != nil || step.verb != "" {
		t.Errorf("plan for an administrator's boundary = %+v, %v; want it kept", step, err)
	}
	if doc, _ := boundaryDoc(t, admin, "arn:aws:iam::"+motoAccount+":policy/"+other.BoundaryName()); !sameJSON(doc, mine) {
		t.Errorf("the administrator's boundary was changed: %s", doc)
	}
}

// TestKeepLogGroupRefusesSilentReplacement: a stack made when the default log group was
// /ecs/<service> is not moved to /ecs/<cluster>/<service> by an upgrade (CloudFormation would
// delete the old group and its logs); naming a group in deploy.logs.group goes through.
func TestKeepLogGroupRefusesSilentReplacement(t *testing.T) {
	body := func(group string) string {
		return fmt.Sprintf(`{"Resources":{"LogGroup":{"Type":"AWS::Logs::LogGroup","Properties":{"LogGroupName":%q}}}}`, group)
	}
	cfg := DefaultConfig()
	cfg.Cluster, cfg.Service = "prod", "web"
	keep := func(cfg Config) error {
		return (&run{Deployer: &Deployer{cfg: cfg}}).keepLogGroup(body("/ecs/web"), body(cfg.LogGroup()))
	}
	if err := keep(cfg); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "set deploy.logs.group: /ecs/web") {
		t.Errorf("moving the log group: %v", err)
	}
	cfg.Logs.Group = "/ecs/prod/web"
	if err := keep(cfg); err != nil {
		t.Errorf("an explicit deploy.logs.group was refused: %v", err)
	}
}
