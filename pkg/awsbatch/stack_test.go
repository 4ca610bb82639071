package awsbatch

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/facectl/facectl/pkg/s3io"
)

func TestValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	c := DefaultConfig()
	c.Name, c.VCPU, c.MaxVCPUs, c.ShardSize, c.Attempts = "a b", 3, 0, 0, 11
	c.Environment = []string{"NOVALUE"}
	c.AttemptTimeout = time.Second
	err := c.Validate()
	for _, want := range []string{"batch.name", "batch.vcpu 3", "batch.max_vcpus", "batch.shard_size", "batch.attempts", "batch.environment \"NOVALUE\"", "batch.attempt_timeout"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q in %v", want, err)
		}
	}
	c = DefaultConfig()
	c.MemoryMiB = 1024
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "2048 to 8192 MiB in steps of 1024") {
		t.Errorf("1 vCPU, 1024 MiB: %v", err)
	}
	c = DefaultConfig()
	c.Spot, c.OnDemandFallback = false, true
	if err := c.Validate(); err == nil {
		t.Error("on-demand fallback without spot accepted")
	}
}

type template struct {
	Resources map[string]struct {
		Type       string         `json:"Type"`
		Properties map[string]any `json:"Properties"`
	} `json:"Resources"`
}

func render(t *testing.T, cfg Config) template {
	t.Helper()
	body := Template(cfg, "123456789012.dkr.ecr.us-east-1.amazonaws.com/facectl:v1", network{VPC: "vpc-1", Subnets: []string{"subnet-a", "subnet-b"}, PublicIP: true}, Access{
		Read:  []s3io.URL{{Bucket: "in-photos", Key: "raw/"}},
		Write: []s3io.URL{{Bucket: "out-photos", Key: "blurred/"}},
		Work:  s3io.URL{Bucket: "out-photos", Key: "blurred/.facectl-batch/run/"},
	})
	var tpl template
	if err := json.Unmarshal([]byte(body), &tpl); err != nil {
		t.Fatal(err)
	}
	return tpl
}

func TestTemplateCapacity(t *testing.T) {
	for _, tc := range []struct {
		spot, fallback bool
		want           []string
	}{
		{true, false, []string{"SpotCompute"}},
		{true, true, []string{"SpotCompute", "OnDemandCompute"}},
		{false, false, []string{"OnDemandCompute"}},
	} {
		cfg := DefaultConfig()
		cfg.Spot, cfg.OnDemandFallback = tc.spot, tc.fallback
		tpl := render(t, cfg)
		var order []string
		for _, o := range tpl.Resources["JobQueue"].Properties["ComputeEnvironmentOrder"].([]any) {
			order = append(order, o.(map[string]any)["ComputeEnvironment"].(map[string]any)["Ref"].(string))
		}
		if !slices.Equal(order, tc.want) {
			t.Errorf("spot %v fallback %v: queue order %v, want %v", tc.spot, tc.fallback, order, tc.want)
		}
		for _, id := range tc.want {
			kind := tpl.Resources[id].Properties["ComputeResources"].(map[string]any)["Type"]
			if want := map[string]string{"SpotCompute": "FARGATE_SPOT", "OnDemandCompute": "FARGATE"}[id]; kind != want {
				t.Errorf("%s type %v, want %s", id, kind, want)
			}
		}
	}
	jd := render(t, DefaultConfig()).Resources["JobDefinition"].Properties
	rs := jd["RetryStrategy"].(map[string]any)
	if rs["Attempts"] != 3.0 || fmt.Sprint(rs["EvaluateOnExit"]) != "[map[Action:EXIT OnExitCode:2]]" {
		t.Errorf("retry strategy %v", rs)
	}
	cp := jd["ContainerProperties"].(map[string]any)
	if fmt.Sprint(cp["ResourceRequirements"]) != "[map[Type:VCPU Value:1] map[Type:MEMORY Value:2048]]" || fmt.Sprint(cp["Command"]) != "[batch shard]" {
		t.Errorf("container %v", cp)
	}
}

// TestJobRoleTouchesOnlyItsPrefixes checks the job role's policy: inputs read-only, outputs and
// the work prefix writable, nothing else in S3.
func TestJobRoleTouchesOnlyItsPrefixes(t *testing.T) {
	props := render(t, DefaultConfig()).Resources["JobRole"].Properties
	doc := props["Policies"].([]any)[0].(map[string]any)["PolicyDocument"].(map[string]any)
	got := map[string][]string{}
	for _, s := range doc["Statement"].([]any) {
		st := s.(map[string]any)
		if st["Effect"] != "Allow" {
			t.Errorf("statement %v", st)
		}
		action := st["Action"].(string)
		var res []any
		if r, ok := st["Resource"].([]any); ok {
			res = r
		} else {
			res = []any{st["Resource"]}
		}
		for _, r := range res {
			arn := strings.TrimPrefix(r.(map[string]any)["Fn::Sub"].(string), "arn:${AWS::Partition}:s3:::")
			if action == "s3:ListBucket" {
				arn += fmt.Sprint(st["Condition"].(map[string]any)["StringLike"].(map[string]any)["s3:prefix"])
			}
			got[action] = append(got[action], arn)
		}
	}
	want := map[string][]string{
		"s3:ListBucket": {"in-photos[raw/*]", "out-photos[blurred/* blurred/.facectl-batch/run/*]"},
		"s3:GetObject":  {"in-photos/raw/*", "out-photos/blurred/*", "out-photos/blurred/.facectl-batch/run/*"},
		"s3:PutObject":  {"out-photos/blurred/*", "out-photos/blurred/.facectl-batch/run/*"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("job role\n got %v\nwant %v", got, want)
	}
}

func TestEstimate(t *testing.T) {
	c := DefaultConfig()
	e := c.Estimate(1_000_000)
	// 1,000,000 images at 5.4 a second per vCPU plus 45 s for each of 250 shard starts: 54.6 task-hours.
	if e.TaskHours < 54.5 || e.TaskHours > 54.7 {
		t.Errorf("task hours %v", e.TaskHours)
	}
	perHour := 0.3 * (0.04048 + 2*0.004445)
	if d := e.CostUSD - e.TaskHours*perHour; d > 1e-9 || d < -1e-9 {
		t.Errorf("cost %v for %v task-hours at %v", e.CostUSD, e.TaskHours, perHour)
	}
	c.Spot = false
	if od := c.Estimate(1_000_000); od.CostUSD < 3.3*e.CostUSD || od.CostUSD > 3.4*e.CostUSD {
		t.Errorf("on-demand %v vs spot %v", od.CostUSD, e.CostUSD)
	}
}
