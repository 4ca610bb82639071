package cli

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/facectl/facectl/pkg/deploy"
)

// TestRenderPlan renders a dry run's result (pkg/deploy's testdata/dry_run.golden.json) as the
// text the deploy package itself printed before the CLI took the
// printing over: testdata/deploy_plan.golden.txt is that output, unchanged.
func TestRenderPlan(t *testing.T) {
	b, err := os.ReadFile("../deploy/testdata/dry_run.golden.json") // pkg/deploy's dry-run golden: the data
	if err != nil {
		t.Fatal(err)
	}
	var res deploy.Result
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	res.DryRun, res.Account, res.Region = true, "123456789012", "us-east-1"
	var got strings.Builder
	renderPlan(&got, res)
	want, err := os.ReadFile("testdata/deploy_plan.golden.txt")
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != string(want) {
		t.Errorf("rendered plan differs from testdata/deploy_plan.golden.txt:\ngot:\n%s\nwant:\n%s", got.String(), want)
	}

	// A finished deploy: no dry-run header, the URL at the end.
	res.DryRun, res.URL, res.TaskDefinitionDiff, res.ServiceDiff = false, "http://web.example", "", ""
	got.Reset()
	renderPlan(&got, res)
	if s := got.String(); !strings.HasPrefix(s, "Deployed for service facectl in cluster facectl (account 123456789012, us-east-1):\n") || !strings.HasSuffix(s, "\nURL: http://web.example\n") {
		t.Errorf("rendered deploy:\n%s", s)
	}
}

// TestRenderStatus and TestRenderDestroy: the text of `deploy status` and `deploy destroy`,
// which the deploy package's end-to-end tests checked while it printed them itself.
func TestRenderStatus(t *testing.T) {
	st := deploy.Status{Cluster: "e2e-nlb", Service: "e2e-nlb", Status: "ACTIVE", URL: "http://lb.example",
		TaskDefinition: "arn:aws:ecs:us-east-1:123456789012:task-definition/e2e-nlb:2", DesiredCount: 5, RunningCount: 5,
		Deployments: []deploy.DeploymentStatus{{ID: "ecs-svc/1", Status: "PRIMARY", RolloutState: "COMPLETED",
			TaskDefinition: "arn:aws:ecs:us-east-1:123456789012:task-definition/e2e-nlb:2", Desired: 5, Running: 5}},
		AutoScaling: &deploy.ScalingStatus{Min: 2, Max: 10, Policies: []deploy.PolicyStatus{{Name: "e2e-nlb-cpu", Metric: "ECSServiceAverageCPUUtilization", Target: 60}}}}
	var out strings.Builder
	renderStatus(&out, st)
	for _, want := range []string{"service e2e-nlb in cluster e2e-nlb: ACTIVE, 5/5 running, 0 pending, task definition e2e-nlb:2\n", "URL: http://lb.example\n",
		"ecs-svc/1   PRIMARY  COMPLETED  e2e-nlb:2", "auto scaling: min 2, max 10; policies: e2e-nlb-cpu (ECSServiceAverageCPUUtilization 60)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status text lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRenderDestroy(t *testing.T) {
	var out strings.Builder
	renderDestroy(&out, deploy.DestroyResult{Cluster: "facectl", Service: "web", Removed: []string{}, Kept: []string{}})
	if out.String() != "nothing left to remove for service web in cluster facectl\n" {
		t.Errorf("nothing removed:\n%s", out.String())
	}
	out.Reset()
	renderDestroy(&out, deploy.DestroyResult{Cluster: "facectl", Service: "web", Removed: []string{"ECS service web"}, Kept: []string{"cluster stack x: still used by stage"}})
	if want := "removed for service web in cluster facectl:\n  ECS service web\nleft alone:\n  cluster stack x: still used by stage\n"; out.String() != want {
		t.Errorf("destroy:\n%s\nwant:\n%s", out.String(), want)
	}
}
