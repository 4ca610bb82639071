package container_test

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/facectl/facectl/internal/testenv"
)

// generatedID is an ID moto makes up (hexadecimal, as in arn:...:loadbalancer/app/x/0123abcd...).
var generatedID = regexp.MustCompile(`[0-9a-f]{8,}`)

// deployRun is what a new user's deploy, status and destroy said, less what differs between two
// moto accounts (IDs, the load balancer's name) or two runs (the time taken).
type deployRun struct {
	Outcome, ServiceAction, Image string
	Registered, URL               bool
	Status                        string
	Running                       int
	Removed                       []string
	SecondDestroy                 string
	StatusAfterCode               int
}

// deployScenario runs the managed-environment scenario of pkg/cli's
// TestDeployManagedEnvironmentCommand with the binary bin against a fresh moto: deploy --yes,
// status, destroy --yes, destroy again, status.
func deployScenario(t *testing.T, bin string) deployRun {
	t.Helper()
	endpoint := testenv.StartMoto(t, "MOTO_ECS_SERVICE_RUNNING=2")
	dir := t.TempDir()
	image := "127.0.0.1:5000/facectl@sha256:" + strings.Repeat("cd", 32)
	env := []string{"FACECTL_DEPLOY_WAIT_POLL_INTERVAL=20ms"}
	run := func(args ...string) (string, string, int) {
		return runFacectl(t, bin, dir, nil, env, append(args, "--endpoint-url", endpoint, "--service", "web")...)
	}
	var r deployRun
	out, errOut, code := run("deploy", "--yes", "--image", image, "--output", "json")
	var res struct {
		Outcome       string `json:"result"`
		Registered    bool   `json:"registered_task_definition"`
		Image         string `json:"image"`
		ServiceAction string `json:"service_action"`
		URL           string `json:"url"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil {
		t.Fatalf("%s deploy --yes: exit %d\n%s\n%s", bin, code, out, errOut)
	}
	r.Outcome, r.Registered, r.Image, r.ServiceAction, r.URL = res.Outcome, res.Registered, res.Image, res.ServiceAction, strings.HasPrefix(res.URL, "http://")
	out, errOut, code = run("deploy", "status", "--output", "json")
	var st struct {
		Status       string `json:"status"`
		RunningCount int    `json:"running_count"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
		t.Fatalf("%s deploy status: exit %d\n%s\n%s", bin, code, out, errOut)
	}
	r.Status, r.Running = st.Status, st.RunningCount
	out, errOut, code = run("deploy", "destroy", "--yes", "--output", "json")
	var dr struct {
		Removed []string `json:"removed"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &dr) != nil {
		t.Fatalf("%s deploy destroy --yes: exit %d\n%s\n%s", bin, code, out, errOut)
	}
	for _, line := range dr.Removed {
		// What destroy removed, without the IDs moto generated for this account.
		r.Removed = append(r.Removed, generatedID.ReplaceAllString(line, "ID"))
	}
	out, _, _ = run("deploy", "destroy", "--yes")
	r.SecondDestroy, _, _ = strings.Cut(out, "\n")
	_, _, r.StatusAfterCode = run("deploy", "status")
	return r
}

// TestPortableBuildDeploys: the facectl built without cgo runs a new user's deploy, status and
// destroy against moto (the managed environment in the default VPC) with the same results as
// the OpenCV build.
func TestPortableBuildDeploys(t *testing.T) {
	testenv.FakeAWS(t)
	bins := t.TempDir()
	native := deployScenario(t, buildFacectl(t, bins, true))
	portable := deployScenario(t, buildFacectl(t, bins, false))
	want := deployRun{Outcome: "deployed", ServiceAction: "create", Image: "127.0.0.1:5000/facectl@sha256:" + strings.Repeat("cd", 32),
		Registered: true, URL: true, Status: "ACTIVE", Running: 2,
		SecondDestroy: "nothing left to remove for service web in cluster facectl", StatusAfterCode: native.StatusAfterCode}
	want.Removed = native.Removed
	removed := strings.Join(native.Removed, "\n")
	for _, what := range []string{"ECS service web", "service stack facectl-facectl-web", "cluster stack facectl-facectl-cluster"} {
		if !strings.Contains(removed, what) {
			t.Errorf("the OpenCV build's destroy did not remove %q:\n%s", what, removed)
		}
	}
	if !reflect.DeepEqual(native, want) || native.StatusAfterCode == 0 {
		t.Errorf("the OpenCV build's deploy:\n%+v\nwant\n%+v", native, want)
	}
	if !reflect.DeepEqual(portable, native) {
		t.Errorf("the portable build's deploy:\n%+v\nthe OpenCV build's:\n%+v", portable, native)
	}
}
