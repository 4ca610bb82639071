package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/facectl/facectl/internal/testenv"

	"github.com/facectl/facectl/pkg/deploy"
)

// TestDeployManagedEnvironmentCommand runs the commands a new user runs, in-process against a
// fresh moto account with only its default VPC: deploy --yes with no network, load balancer
// or role settings, status, logs, destroy (refused without --yes off a terminal), destroy again.
func TestDeployManagedEnvironmentCommand(t *testing.T) {
	endpoint := startMotoForCLI(t)
	testenv.FakeAWS(t)
	t.Setenv("FACECTL_DEPLOY_WAIT_POLL_INTERVAL", "20ms")
	ctx := t.Context()
	image := "127.0.0.1:5000/facectl@sha256:" + strings.Repeat("cd", 32)
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		args = append(args, "--endpoint-url", endpoint, "--service", "web")
		code := Main(ctx, args, IOStreams{In: strings.NewReader(""), Out: &out, Err: &errOut})
		return code, out.String(), errOut.String()
	}

	// On a terminal, deploy asks before creating the stacks; "n" creates nothing.
	runTTY := func(answer string, args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		args = append(args, "--endpoint-url", endpoint, "--service", "web")
		code := Main(ctx, args, IOStreams{In: strings.NewReader(answer), InTTY: true, Out: &out, Err: &errOut})
		return code, out.String(), errOut.String()
	}
	code, out, errOut := runTTY("n\n", "deploy", "--image", image)
	if code != ExitFailure || !strings.Contains(errOut, "create cluster stack facectl-facectl-cluster with:") ||
		!strings.Contains(errOut, "facectl-facectl-cluster add Cluster (AWS::ECS::Cluster)") || !strings.Contains(errOut, "Proceed? [y/N]") ||
		!strings.Contains(errOut, "canceled") {
		t.Errorf("deploy answered no: exit %d\n%s", code, errOut)
	}
	if code, out, _ := run("deploy", "status"); code == 0 {
		t.Errorf("a service exists after answering no:\n%s", out)
	}

	code, out, errOut = run("deploy", "--yes", "--image", image, "--output", "json")
	if code != 0 {
		t.Fatalf("deploy exit %d\n%s\n%s", code, out, errOut)
	}
	var res deploy.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Outcome != deploy.OutcomeDeployed || !strings.HasPrefix(res.URL, "http://") {
		t.Fatalf("deploy result %+v, %v\n%s", res, err, out)
	}
	code, out, errOut = run("deploy", "status", "--output", "json")
	var st deploy.Status
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.URL != res.URL || st.Status != "ACTIVE" {
		t.Errorf("status exit %d: %+v\n%s", code, st, errOut)
	}
	code, out, errOut = run("deploy", "status")
	if code != 0 || !strings.Contains(out, "URL: "+res.URL) {
		t.Errorf("status text exit %d:\n%s%s", code, out, errOut)
	}
	if code, out, errOut := run("deploy", "logs", "--since", "1h"); code != 0 || out != "" {
		t.Errorf("logs of a service that logged nothing: exit %d %q %s", code, out, errOut)
	}

	if code, _, errOut := runTTY("no\n", "deploy", "destroy"); code != ExitFailure || !strings.Contains(errOut, "ECS service web (ACTIVE") || !strings.Contains(errOut, "canceled") {
		t.Errorf("destroy answered no: exit %d: %s", code, errOut)
	}
	if code, _, errOut := run("deploy", "destroy"); code != ExitUsage || !strings.Contains(errOut, "pass --yes when not on a terminal") {
		t.Errorf("destroy without --yes off a terminal: exit %d: %s", code, errOut)
	}
	code, out, errOut = run("deploy", "destroy", "--yes", "--output", "json")
	var dr deploy.DestroyResult
	if code != 0 || json.Unmarshal([]byte(out), &dr) != nil {
		t.Fatalf("destroy exit %d\n%s\n%s", code, out, errOut)
	}
	removed := strings.Join(dr.Removed, "\n")
	for _, want := range []string{"ECS service web", "service stack facectl-facectl-web", "cluster stack facectl-facectl-cluster"} {
		if !strings.Contains(removed, want) {
			t.Errorf("destroy did not remove %q:\n%s", want, removed)
		}
	}
	code, out, errOut = run("deploy", "destroy", "--yes")
	if code != 0 || !strings.Contains(out, "nothing left to remove for service web in cluster facectl") {
		t.Errorf("second destroy exit %d:\n%s%s", code, out, errOut)
	}
	if code, _, errOut := run("deploy", "status"); code == 0 || !strings.Contains(errOut, "service not found") {
		t.Errorf("status after destroy: exit %d: %s", code, errOut)
	}
}
