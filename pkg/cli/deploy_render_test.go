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
