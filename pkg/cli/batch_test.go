package cli

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestParseBatchRun checks what batch run takes from its flags: detect's options (checked as
// detect checks them), the flags the children get (detect's, the detector's, not the outputs or
// the batch settings), the batch section and the image.
func TestParseBatchRun(t *testing.T) {
	isolate(t)
	o, err := parseWith(t, []string{"batch", "run"}, NewCmdBatchRun, IOStreams{},
		"s3://in-photos/raw/", "--blur", "s3://out-photos/b/", "--results", "s3://out-photos/r.jsonl",
		"--pixelate", "--min-confidence", "0.5", "--detection-size", "640", "--skip-existing", "--child-env", "A=B", "--shard-size", "10", "--image", "img")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"--detection-size=640", "--min-confidence=0.5", "--pixelate=true", "--skip-existing=true"}
	if !slices.Equal(o.ChildArgs, want) {
		t.Errorf("children get %q, want %q", o.ChildArgs, want)
	}
	if o.Detect.Outputs.BlurDir != "s3://out-photos/b/" || o.Detect.Results != "s3://out-photos/r.jsonl" || !o.Detect.SkipExisting ||
		o.Config.ShardSize != 10 || !slices.Equal(o.Config.Environment, []string{"A=B"}) || o.Deploy.Image.URI != "img" || !slices.Equal(o.Args, []string{"s3://in-photos/raw/"}) {
		t.Errorf("options %+v, detect %+v", o, o.Detect)
	}
}

func TestParseBatchShard(t *testing.T) {
	isolate(t)
	t.Setenv("FACECTL_BATCH_CHECKPOINT", "5s")
	o, err := parseWith(t, []string{"batch", "shard"}, NewCmdBatchShard, IOStreams{},
		"--work", "s3://out-photos/b/.facectl-batch/run/", "--blur", "s3://out-photos/b/", "--pixelate")
	if err != nil {
		t.Fatal(err)
	}
	if o.Work.String() != "s3://out-photos/b/.facectl-batch/run/" || o.Checkpoint != 5*time.Second || !o.Detect.Pixelate || o.Detect.Outputs.BlurDir != "s3://out-photos/b/" {
		t.Errorf("shard options %+v, detect %+v", o, o.Detect)
	}
	if _, err := parseWith(t, []string{"batch", "shard"}, NewCmdBatchShard, IOStreams{}, "--work", "s3://out-photos/key"); err == nil || !strings.Contains(err.Error(), "--work") {
		t.Errorf("a work key, not a prefix: %v", err)
	}
}

func TestParseBatchJob(t *testing.T) {
	isolate(t)
	o, err := parseWith(t, []string{"batch", "logs"}, NewCmdBatchLogs, IOStreams{}, "job-1", "--shard", "3", "-o", "json", "--name", "cams")
	if err != nil {
		t.Fatal(err)
	}
	if o.JobID != "job-1" || o.Shard != 3 || o.Output != "json" || o.Config.Name != "cams" {
		t.Errorf("logs options %+v", o)
	}
}

func TestBatchRunRefusals(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"batch", "run"}, "no input"},
		{[]string{"batch", "run", "s3://in-photos/raw/", "--blur", "blurred/"}, "--blur blurred/: the children write to S3"},
		{[]string{"batch", "run", "s3://in-photos/raw/", "--blur", "s3://o/b/", "--format", "csv"}, "--format and -q"},
		{[]string{"batch", "run", "s3://in-photos/raw/", "--pixelate"}, "--pixelate needs --blur"},
		{[]string{"batch", "run", "s3://in-photos/raw/", "--blur", "s3://out-photos/b/", "--vcpu", "3"}, "batch.vcpu 3"},
		{[]string{"batch", "status"}, "give the job ID"},
	} {
		isolate(t)
		var stderr bytes.Buffer
		code := Main(context.Background(), tc.args, IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &stderr})
		if code != ExitUsage || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("facectl %s: exit %d, stderr %q; want %d and %q", strings.Join(tc.args, " "), code, stderr.String(), ExitUsage, tc.want)
		}
	}
}

func TestBatchPolicyNarrowsS3(t *testing.T) {
	isolate(t)
	var out bytes.Buffer
	code := Main(context.Background(), []string{"batch", "policy", "s3://in-photos/raw/", "--blur", "s3://out-photos/b", "--results", "s3://out-photos/r.jsonl"},
		IOStreams{In: strings.NewReader(""), Out: &out, Err: &bytes.Buffer{}})
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{`"arn:aws:s3:::in-photos/raw/*"`, `"arn:aws:s3:::out-photos/b/*"`, `"arn:aws:s3:::out-photos/r.jsonl"`, `"arn:aws:cloudformation:*:*:stack/facectl-batch-default/*"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("policy lacks %s:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), `"arn:aws:s3:::*"`) {
		t.Errorf("policy with inputs and outputs still allows every bucket:\n%s", out.String())
	}
}
