package deploy

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
)

// TestDryRunInAFreshAccount is the documented first step: `facectl deploy --dry-run` in an
// account with nothing but its default VPC. DescribeServices answers ClusterNotFoundException
// there (the cluster stack has not created the cluster yet), which is no service, not an error.
func TestDryRunInAFreshAccount(t *testing.T) {
	e := setupManaged(t)
	ctx := ctxT(t, 2*time.Minute)
	var out lockedBuffer
	res, err := Run(ctx, e.config("web", "dry-1"), e.deps(t, &out), Options{DryRun: true})
	calls := e.calls.take()
	if err != nil {
		t.Fatalf("dry run in a fresh account: %v\n%s", err, out.String())
	}
	if res.Outcome != OutcomePlanned || res.ServiceAction != "create" {
		t.Errorf("result = %+v", res)
	}
	if w := writeCalls(calls); len(w) > 0 {
		t.Errorf("the dry run made write calls: %v", w)
	}
	for _, want := range []string{"facectl-facectl-cluster add Cluster (AWS::ECS::Cluster)", "facectl-facectl-web add TargetGroup (AWS::ElasticLoadBalancingV2::TargetGroup)"} {
		if !strings.Contains(strings.Join(res.Environment, "\n"), want) {
			t.Errorf("dry run environment lacks %q: %v", want, res.Environment)
		}
	}
}

// TestPollingOutlastsThrottling throttles the polling reads of a dry run's change set and of
// destroy's wait for the service more times in a row than the SDK retries (3 attempts): the
// loops keep looking until their own deadline instead of giving up.
func TestPollingOutlastsThrottling(t *testing.T) {
	e := setupManaged(t)
	ctx := ctxT(t, 3*time.Minute)
	web := e.config("web", "env-1")
	if _, err := Run(ctx, web, e.deps(t, &lockedBuffer{}), Options{}); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	e.faults.Configure(func(p *faultProxy) {
		p.After = map[string]afterRule{
			"cloudformation.CreateChangeSet": {"cloudformation.DescribeChangeSet", 4},
			"ecs.DeleteService":              {"ecs.DescribeServices", 4},
		}
	})
	changed := web
	changed.Logs.RetentionDays = 60
	dry, err := Run(ctx, changed, e.deps(t, &lockedBuffer{}), Options{DryRun: true})
	if err != nil || len(dry.Environment) != 1 {
		t.Fatalf("dry run with DescribeChangeSet throttled 4 times: %v (%v)", err, dry.Environment)
	}
	d, err := Open(web, e.deps(t, &lockedBuffer{}))
	if err != nil {
		t.Fatal(err)
	}
	dr, err := d.Destroy(ctx, DestroyOptions{})
	if err != nil {
		t.Fatalf("destroy with DescribeServices throttled 4 times after DeleteService: %v", err)
	}
	if !strings.Contains(strings.Join(dr.Removed, "\n"), "service stack facectl-facectl-web") {
		t.Errorf("destroy removed %v", dr.Removed)
	}
	if s := e.faults.Stats(); s.Throttled < 8 {
		t.Errorf("the proxy throttled only %d calls (%s): the test did not test", s.Throttled, s)
	}
}

// TestStackUpdateThroughAChangeSet makes a real (not dry) stack update in moto: it is looked
// at through a change set, then made, and the wait is not fooled by the stack's previous
// status, which the fault proxy answers for two reads after UpdateStack.
func TestStackUpdateThroughAChangeSet(t *testing.T) {
	e := setupManaged(t)
	ctx := ctxT(t, 2*time.Minute)
	web := e.config("web", "env-1")
	if _, err := Run(ctx, web, e.deps(t, &lockedBuffer{}), Options{}); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	e.calls.take()
	changed := web
	changed.Logs.RetentionDays = 60
	var asked []string
	if _, err := Run(ctx, changed, e.deps(t, &lockedBuffer{}), Options{Confirm: func(plan []string) (bool, error) { asked = plan; return true, nil }}); err != nil {
		t.Fatalf("deploy with a changed retention: %v", err)
	}
	calls := e.calls.take()
	if w := strings.Join(writeCalls(calls), ","); !strings.Contains(w, "cloudformation:CreateChangeSet,cloudformation:DeleteChangeSet,cloudformation:UpdateStack") {
		t.Errorf("writes = %s, want the change set looked at, then the update", w)
	}
	if strings.Join(asked, "\n") != "update service stack facectl-facectl-web with:\nfacectl-facectl-web modify LogGroup (AWS::Logs::LogGroup)" {
		t.Errorf("confirmation asked %q", asked)
	}
	// moto updates the stack but not its log group's retention: the stack is what is checked.
	tmpl, err := cloudformation.NewFromConfig(e.awsCfg).GetTemplate(ctx, &cloudformation.GetTemplateInput{StackName: aws.String("facectl-facectl-web")})
	if err != nil || !strings.Contains(aws.ToString(tmpl.TemplateBody), `"RetentionInDays": 60`) {
		t.Errorf("stack template after the update: %v\n%s", err, aws.ToString(tmpl.TemplateBody))
	}
}

// changeSetXML is a DescribeChangeSet answer with one resource change.
func changeSetXML(action, logicalID, resType, replacement, property string) string {
	return `<DescribeChangeSetResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeChangeSetResult><Status>CREATE_COMPLETE</Status><Changes><member><Type>Resource</Type><ResourceChange>` +
		`<Action>` + action + `</Action><LogicalResourceId>` + logicalID + `</LogicalResourceId><ResourceType>` + resType + `</ResourceType><Replacement>` + replacement + `</Replacement>` +
		`<Details><member><Target><Attribute>Properties</Attribute><Name>` + property + `</Name></Target></member></Details></ResourceChange></member></Changes></DescribeChangeSetResult></DescribeChangeSetResponse>`
}

// TestStackUpdateThatDropsTrafficIsRefused: a change set that replaces the target group
// (Port and Protocol are create-only: https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-elasticloadbalancingv2-targetgroup.html)
// or rewrites the task security group's ingress in place is refused before anything is
// changed, with what to do; a dry run lists it as replaced. moto's change sets never say
// Replacement, so the strict stub answers.
func TestStackUpdateThatDropsTrafficIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name, changeSet, want string
	}{
		{"target group replaced", changeSetXML("Modify", "TargetGroup", "AWS::ElasticLoadBalancingV2::TargetGroup", "True", "Port"), "TargetGroup (replaced)"},
		{"load balancer maybe replaced", changeSetXML("Modify", "LoadBalancer", "AWS::ElasticLoadBalancingV2::LoadBalancer", "Conditional", "Type"), "LoadBalancer (replaced)"},
		{"task ingress in place", changeSetXML("Modify", "TaskSecurityGroup", "AWS::EC2::SecurityGroup", "False", "SecurityGroupIngress"), "TaskSecurityGroup (ingress rules rewritten in place)"},
	} {
		for _, dry := range []bool{false, true} {
			t.Run(tc.name+map[bool]string{true: " (dry run)"}[dry], func(t *testing.T) {
				stub := newAWSStub(t)
				stub.expect(
					ok("cloudformation.GetTemplate", `<GetTemplateResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><GetTemplateResult><TemplateBody>{"Resources":{}}</TemplateBody></GetTemplateResult></GetTemplateResponse>`),
					ok("cloudformation.CreateChangeSet", `<CreateChangeSetResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><CreateChangeSetResult><Id>arn:aws:cloudformation:us-east-1:123456789012:changeSet/c/1</Id><StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/s/1</StackId></CreateChangeSetResult></CreateChangeSetResponse>`),
					ok("cloudformation.DescribeChangeSet", tc.changeSet),
					ok("cloudformation.DeleteChangeSet", `<DeleteChangeSetResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DeleteChangeSetResult/></DeleteChangeSetResponse>`),
				)
				d, err := New(stubConfig(), stub.deps(t, &lockedBuffer{}))
				if err != nil {
					t.Fatal(err)
				}
				r := d.newRun(dry, nil)
				spec := stackSpec{Name: "facectl-facectl-facectl", For: "service/facectl/facectl", Body: `{"Resources":{"X":{}}}`, What: "service stack"}
				st := testStack(spec)
				step, err := r.planStack(ctxT(t, 10*time.Second), spec, st)
				if dry {
					if err != nil {
						t.Fatalf("dry run: %v", err)
					}
					if line := strings.Join(r.res.Environment, "\n"); (tc.want != "TaskSecurityGroup (ingress rules rewritten in place)") != strings.Contains(line, ", replaced") {
						t.Errorf("dry run lines %q", line)
					}
					if a := r.res.Actions; len(a) != 1 || !strings.Contains(a[0].Detail, "facectl deploy refuses it: it replaces "+tc.want) {
						t.Errorf("dry run plan %+v", a)
					}
					return
				}
				if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "nothing was changed") ||
					!strings.Contains(err.Error(), "deploy the new configuration as another service") {
					t.Errorf("err = %v", err)
				}
				if step.verb != "update" {
					t.Errorf("step %+v", step)
				}
			})
		}
	}
}

// TestDeleteServiceWaitsForStoppingTasks: ECS reports the service INACTIVE while a task is
// still DEPROVISIONING (its network interface holds the tasks' security group, and the stack's
// delete would fail with "has a dependent object"): deleteService waits until it is STOPPED.
func TestDeleteServiceWaitsForStoppingTasks(t *testing.T) {
	stub := newAWSStub(t)
	task := func(status string) string {
		return `{"tasks":[{"taskArn":"arn:aws:ecs:us-east-1:123456789012:task/facectl/aaa","group":"service:facectl","lastStatus":"` + status + `","desiredStatus":"STOPPED"},` +
			`{"taskArn":"arn:aws:ecs:us-east-1:123456789012:task/facectl/bbb","group":"service:other","lastStatus":"RUNNING"}],"failures":[]}`
	}
	list := `{"taskArns":["arn:aws:ecs:us-east-1:123456789012:task/facectl/aaa","arn:aws:ecs:us-east-1:123456789012:task/facectl/bbb"]}`
	stub.expect(
		ok("ecs.UpdateService", `{"service":{"serviceName":"facectl","status":"ACTIVE"}}`),
		ok("ecs.DeleteService", `{"service":{"serviceName":"facectl","status":"DRAINING"}}`),
		ok("ecs.DescribeServices", describeServicesJSON(`{"serviceName":"facectl","status":"INACTIVE"}`)),
		ok("ecs.ListTasks", `{"taskArns":[]}`), ok("ecs.ListTasks", list), ok("ecs.DescribeTasks", task("DEPROVISIONING")),
		ok("ecs.ListTasks", `{"taskArns":[]}`), ok("ecs.ListTasks", list), ok("ecs.DescribeTasks", task("STOPPED")),
	)
	d, err := New(stubConfig(), stub.deps(t, &lockedBuffer{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.deleteService(ctxT(t, 10*time.Second), false); err != nil {
		t.Fatal(err)
	}
	stub.mu.Lock()
	defer stub.mu.Unlock()
	if n := len(stub.calls); n != 9 {
		t.Errorf("%d calls, want 9 (it returned before the task stopped?): %v", n, stub.calls)
	}
}

// testStack is a settled stack facectl created for spec.
func testStack(spec stackSpec) *cfntypes.Stack {
	return &cfntypes.Stack{StackName: aws.String(spec.Name), StackId: aws.String("arn:aws:cloudformation:us-east-1:123456789012:stack/" + spec.Name + "/1"),
		StackStatus: cfntypes.StackStatusCreateComplete, Tags: []cfntypes.Tag{{Key: aws.String(stackTag), Value: aws.String(spec.For)}}}
}

// TestStaleLookAfterUpdateIsNotARollback: the first DescribeServices after UpdateService still
// shows the old deployment on revision 1 (ECS is eventually consistent). That is not "rolled
// back": the wait looks again and sees the new deployment complete.
func TestStaleLookAfterUpdateIsNotARollback(t *testing.T) {
	stub := newAWSStub(t)
	stub.expect(updateDeployCalls()...)
	stub.expect(
		ok("ecs.DescribeServices", describeServicesJSON(serviceJSON(tdARN1, 2, 2, deploymentJSON("ecs-svc/1", "PRIMARY", "COMPLETED", tdARN1, 2, 2, 0, ""), ""))),
		ok("ecs.DescribeServices", describeServicesJSON(serviceJSON(tdARN2, 2, 2, deploymentJSON("ecs-svc/2", "PRIMARY", "COMPLETED", tdARN2, 2, 2, 0, ""), ""))),
	)
	res, err := Run(ctxT(t, 10*time.Second), stubConfig(), stub.deps(t, &lockedBuffer{}), Options{})
	if err != nil || res.Outcome != OutcomeDeployed {
		t.Fatalf("deploy = %+v, %v", res, err)
	}
}

// TestStaleLookAfterCreateIsNotDisappeared: right after CreateService, DescribeServices may
// not know the service yet (failure MISSING); the wait looks again.
func TestStaleLookAfterCreateIsNotDisappeared(t *testing.T) {
	stub := newAWSStub(t)
	calls := updateDeployCalls()
	for i, c := range calls {
		switch c.op {
		case "ecs.DescribeServices":
			calls[i] = ok("ecs.DescribeServices", `{"services":[],"failures":[{"arn":"arn:aws:ecs:us-east-1:123456789012:service/facectl/facectl","reason":"MISSING"}]}`)
		case "ecs.DescribeTaskDefinition":
			calls[i] = fail("ecs.DescribeTaskDefinition", 400, "ClientException", "Unable to describe task definition.")
		case "ecs.UpdateService":
			calls[i] = ok("ecs.CreateService", `{"service":`+serviceJSON(tdARN2, 2, 0, deploymentJSON("ecs-svc/2", "PRIMARY", "IN_PROGRESS", tdARN2, 2, 0, 0, ""), "")+`}`)
		}
	}
	// The family has no revision yet: one DescribeTaskDefinition, not two.
	for i, c := range calls {
		if c.op == "ecs.DescribeTaskDefinition" {
			calls = append(calls[:i], calls[i+1:]...)
			break
		}
	}
	stub.expect(calls...)
	stub.expect(
		ok("ecs.DescribeServices", `{"services":[],"failures":[{"arn":"arn:aws:ecs:us-east-1:123456789012:service/facectl/facectl","reason":"MISSING"}]}`),
		ok("ecs.DescribeServices", describeServicesJSON(serviceJSON(tdARN2, 2, 2, deploymentJSON("ecs-svc/2", "PRIMARY", "COMPLETED", tdARN2, 2, 2, 0, ""), ""))),
	)
	res, err := Run(ctxT(t, 10*time.Second), stubConfig(), stub.deps(t, &lockedBuffer{}), Options{})
	if err != nil || res.Outcome != OutcomeDeployed || res.ServiceAction != "create" {
		t.Fatalf("deploy = %+v, %v", res, err)
	}
}

// TestScalableTargetRetriedUntilAutoScalingSeesTheService: Application Auto Scaling answers
// "ECS service doesn't exist" right after CreateService; RegisterScalableTarget is tried again.
func TestScalableTargetRetriedUntilAutoScalingSeesTheService(t *testing.T) {
	stub := newAWSStub(t)
	stub.expect(
		fail("application-autoscaling.RegisterScalableTarget", 400, "ValidationException", "ECS service doesn't exist: service/facectl/facectl"),
		fail("application-autoscaling.RegisterScalableTarget", 400, "ValidationException", "ECS service doesn't exist: service/facectl/facectl"),
		ok("application-autoscaling.RegisterScalableTarget", `{}`),
	)
	cfg := stubConfig()
	d, err := New(cfg, stub.deps(t, &lockedBuffer{}))
	if err != nil {
		t.Fatal(err)
	}
	err = d.untilConsistent(ctxT(t, 10*time.Second), "RegisterScalableTarget", scalingServiceNotYet, func(ctx context.Context) error {
		_, err := d.deps.Scaling.RegisterScalableTarget(ctx, d.RegisterScalableTargetInput())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Any other validation error is the caller's to fix: no retry.
	stub.expect(fail("application-autoscaling.RegisterScalableTarget", 400, "ValidationException", "Maximum capacity cannot be less than minimum capacity"))
	err = d.untilConsistent(ctxT(t, 10*time.Second), "RegisterScalableTarget", scalingServiceNotYet, func(ctx context.Context) error {
		_, err := d.deps.Scaling.RegisterScalableTarget(ctx, d.RegisterScalableTargetInput())
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "Maximum capacity") {
		t.Errorf("err = %v", err)
	}
}

// TestManagedFirstDeployThroughFaults makes five first deploys of the managed environment (a
// new cluster each: cluster stack, service stack, image, service, auto scaling) through the
// fault proxy, each with another seed, so five different patterns of throttles, 500s and stale
// reads. Each must succeed; the log reports the calls, the retries they cost and the median
// wall time (the figures in the deploy note).
func TestManagedFirstDeployThroughFaults(t *testing.T) {
	e := setupManaged(t)
	ctx := ctxT(t, 5*time.Minute)
	t.Cleanup(func() {
		for i := 1; i <= 5; i++ {
			_ = exec.Command("docker", "image", "rm", "-f", fmt.Sprintf("%s/facectl-env-e2e:fig-%d", e.registry, i)).Run()
		}
	})
	var took []time.Duration
	var calls, retries []int
	for i := 1; i <= 5; i++ {
		e.faults.Configure(func(p *faultProxy) { p.Seed = uint64(i) })
		e.faults.Stats()
		cfg := e.config("web", fmt.Sprintf("fig-%d", i)) // a tag of its own: each deploy builds and pushes
		cfg.Cluster = fmt.Sprintf("fig-%d", i)
		cfg.Logs.Group = "/ecs/" + cfg.Cluster + "/web" // /ecs/web is the first cluster's
		start := time.Now()
		res, err := Run(ctx, cfg, e.deps(t, &lockedBuffer{}), Options{})
		d := time.Since(start)
		s := e.faults.Stats()
		e.calls.take()
		if err != nil || res.Outcome != OutcomeDeployed || res.URL == "" {
			t.Fatalf("first deploy with seed %d (%s): %+v, %v", i, s, res, err)
		}
		if s.Retries() == 0 {
			t.Errorf("seed %d: the proxy injected nothing (%s)", i, s)
		}
		t.Logf("seed %d: %v; %s", i, d.Round(time.Millisecond), s)
		took, calls, retries = append(took, d), append(calls, s.Calls), append(retries, s.Retries())
	}
	slices.Sort(took)
	t.Logf("managed first deploy through the fault proxy, 5 runs: wall time median %v (min %v, max %v); AWS calls per deploy %v; retries per deploy %v",
		took[2].Round(time.Millisecond), took[0].Round(time.Millisecond), took[4].Round(time.Millisecond), calls, retries)
}

// TestOneDeployerServesConcurrentCalls: a Deployer holds no per-call state, so one can serve
// two dry runs and a status at once (go test -race checks nothing is shared); each dry run
// gets its own, complete plan.
func TestOneDeployerServesConcurrentCalls(t *testing.T) {
	e := setupManaged(t)
	ctx := ctxT(t, 2*time.Minute)
	web := e.config("web", "env-1")
	first, err := Run(ctx, web, e.deps(t, &lockedBuffer{}), Options{})
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	d, err := New(web, e.deps(t, &lockedBuffer{}))
	if err != nil {
		t.Fatal(err)
	}
	alone, err := d.Deploy(ctx, Options{DryRun: true})
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	var wg sync.WaitGroup
	results := make([]Result, 2)
	errs := make([]error, 3)
	for i := range results {
		wg.Go(func() { results[i], errs[i] = d.Deploy(ctx, Options{DryRun: true}) })
	}
	var st Status
	wg.Go(func() { st, errs[2] = d.Status(ctx) })
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for i, res := range results {
		if res.Outcome != OutcomePlanned || !reflect.DeepEqual(res.Actions, alone.Actions) || res.URL != first.URL {
			t.Errorf("dry run %d beside another: URL %q, actions\n%+v\nwant (a dry run alone)\n%+v", i, res.URL, res.Actions, alone.Actions)
		}
	}
	if st.URL != first.URL {
		t.Errorf("status URL %q, want %q", st.URL, first.URL)
	}
}

// TestTemplateChangeWithoutResourceChangesStillUpdates: a change set with no resource changes
// (a new output, another description) still makes an update, or the stack would never get
// the outputs a newer facectl reads.
func TestTemplateChangeWithoutResourceChangesStillUpdates(t *testing.T) {
	stub := newAWSStub(t)
	stub.expect(
		ok("cloudformation.GetTemplate", `<GetTemplateResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><GetTemplateResult><TemplateBody>{"Resources":{}}</TemplateBody></GetTemplateResult></GetTemplateResponse>`),
		ok("cloudformation.CreateChangeSet", `<CreateChangeSetResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><CreateChangeSetResult><Id>arn:aws:cloudformation:us-east-1:123456789012:changeSet/c/1</Id></CreateChangeSetResult></CreateChangeSetResponse>`),
		ok("cloudformation.DescribeChangeSet", `<DescribeChangeSetResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeChangeSetResult><Status>CREATE_COMPLETE</Status><Changes/></DescribeChangeSetResult></DescribeChangeSetResponse>`),
		ok("cloudformation.DeleteChangeSet", `<DeleteChangeSetResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DeleteChangeSetResult/></DeleteChangeSetResponse>`),
	)
	d, err := New(stubConfig(), stub.deps(t, &lockedBuffer{}))
	if err != nil {
		t.Fatal(err)
	}
	spec := stackSpec{Name: "facectl-facectl-facectl", For: "service/facectl/facectl", Body: `{"Resources":{},"Outputs":{"URL":{"Value":"x"}}}`, What: "service stack"}
	step, err := d.newRun(false, nil).planStack(ctxT(t, 10*time.Second), spec, testStack(spec))
	if err != nil || step.verb != "update" {
		t.Fatalf("step %q, %v; want an update", step.verb, err)
	}
	if got := strings.Join(step.describe(), "\n"); !strings.Contains(got, "no resource changes") {
		t.Errorf("confirmation: %q", got)
	}
}
