package awsbatch

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsbatch "github.com/aws/aws-sdk-go-v2/service/batch"
	batchtypes "github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"

	"github.com/facectl/facectl/internal/testenv"
	"github.com/facectl/facectl/pkg/batch"
	"github.com/facectl/facectl/pkg/s3io"
)

// motoEnv is moto with its Batch children on the host network, and clients pointed at it.
type motoEnv struct {
	url    string
	awsCfg aws.Config
	s3     *s3.Client
	store  *s3io.Client
	deps   Deps
	// serviceRole is the compute environments' role (see testConfig).
	serviceRole string
	// calls are the runner's API calls, "Service ID:Operation".
	mu    sync.Mutex
	calls map[string]bool
}

func newMotoEnv(t *testing.T) *motoEnv {
	t.Helper()
	url := testenv.StartMoto(t, "MOTO_DOCKER_NETWORK_MODE=host")
	cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(url), HTTPClient: &http.Client{Transport: testenv.MotoNumbers(http.DefaultTransport)},
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")}
	e := &motoEnv{url: url, awsCfg: cfg, s3: s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }), calls: map[string]bool{}}
	// The runner's clients record every call, for the policy's coverage.
	rec := cfg.Copy()
	rec.APIOptions = append(rec.APIOptions, func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("record", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			e.mu.Lock()
			e.calls[awsmiddleware.GetServiceID(ctx)+":"+awsmiddleware.GetOperationName(ctx)] = true
			e.mu.Unlock()
			return next.HandleInitialize(ctx, in)
		}), middleware.After)
	})
	e.store = s3io.NewFromConfig(rec, s3io.Config{PathStyle: true})
	e.deps = NewDeps(rec, e.store)
	e.deps.Log = slog.New(slog.NewTextHandler(t.Output(), nil))
	return e
}

func (e *motoEnv) bucket(t *testing.T, name string) {
	t.Helper()
	if _, err := e.s3.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatal(err)
	}
}

func (e *motoEnv) put(t *testing.T, bucket, key string, data []byte) {
	t.Helper()
	if _, err := e.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
}

func (e *motoEnv) keys(t *testing.T, bucket, prefix string) []string {
	t.Helper()
	var out []string
	for o, err := range e.store.List(context.Background(), bucket, prefix) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, o.Key)
	}
	return out
}

// stubImage builds a tiny image standing in for facectl: it says which child it is and fails
// as the test asks (FAIL_INDEX) or sleeps (SLEEP_INDEX), so the job's bookkeeping is tested with
// real containers without the minutes of building facectl's image.
func stubImage(t *testing.T) string {
	t.Helper()
	const tag = "facectl-awsbatch-stub:test"
	dockerfile := `FROM debian:bookworm-slim
RUN printf '%s\n' '#!/bin/sh' \
 'i=${AWS_BATCH_JOB_ID##*:}' \
 'echo "stub child $i: $*"' \
 '[ "$i" = "$SLEEP_INDEX" ] && sleep 300' \
 '[ "$i" = "$FAIL_INDEX" ] && { echo "stub child $i fails" >&2; exit 1; }' \
 'exit 0' > /stub && chmod +x /stub
ENTRYPOINT ["/stub"]
`
	cmd := exec.Command("docker", "build", "-q", "-t", tag, "-")
	cmd.Stdin = strings.NewReader(dockerfile)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the stub image (needs debian:bookworm-slim, made by scripts/base-images.sh): %v\n%s", err, out)
	}
	return tag
}

// testConfig is the configuration of the moto tests. moto requires a compute environment's
// ServiceRole and that it exists (AWS uses its service-linked role without one), so the tests
// name a role they make in moto's IAM.
func (e *motoEnv) testConfig(t *testing.T) Config {
	t.Helper()
	if e.serviceRole == "" {
		out, err := iam.NewFromConfig(e.awsCfg).CreateRole(context.Background(), &iam.CreateRoleInput{RoleName: aws.String("batch-service"),
			AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"batch.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)})
		if err != nil {
			t.Fatal(err)
		}
		e.serviceRole = aws.ToString(out.Role.Arn)
	}
	c := DefaultConfig()
	c.ServiceRole = e.serviceRole
	c.ShardSize = 2
	c.PollInterval = 100 * time.Millisecond
	return c
}

func TestRunPlansSubmitsAndFollows(t *testing.T) {
	e := newMotoEnv(t)
	e.bucket(t, "in-photos")
	e.bucket(t, "out-photos")
	for _, k := range []string{"raw/a.jpg", "raw/b c.jpg", "raw/sub/é.png", "raw/d.jpg", "raw/e.jpg", "other/x.jpg"} {
		e.put(t, "in-photos", k, []byte("data of "+k))
	}
	cfg := e.testConfig(t)
	cfg.Environment = []string{"FAIL_INDEX=1"}
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	e.deps.Now = func() time.Time { return now }
	r, err := New(cfg, e.deps)
	if err != nil {
		t.Fatal(err)
	}
	opts := RunOptions{Inputs: []string{"s3://in-photos/raw/"}, Image: stubImage(t), Outputs: map[string]string{batch.KindBlur: "s3://out-photos/blurred"},
		DetectArgs: []string{"--pixelate"}}

	// A dry run plans and touches nothing.
	dry := opts
	dry.DryRun = true
	res, err := r.Run(context.Background(), dry)
	if err != nil {
		t.Fatal(err)
	}
	if res.Plan != (ShardPlan{Shards: 3, Images: 5, Bytes: res.Plan.Bytes, ShardSize: 2}) || res.JobID != "" || len(res.Stack) == 0 || !strings.HasPrefix(res.Stack[0], "create batch stack facectl-batch-default") {
		t.Fatalf("dry run: %+v", res)
	}
	if k := e.keys(t, "out-photos", ""); len(k) != 0 {
		t.Fatalf("dry run wrote %v", k)
	}
	if _, err := cloudformation.NewFromConfig(e.awsCfg).DescribeStacks(context.Background(), &cloudformation.DescribeStacksInput{StackName: aws.String(cfg.StackName())}); err == nil {
		t.Fatal("dry run created the stack")
	}

	var seen []Progress
	opts.Progress = func(p Progress) { seen = append(seen, p) }
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err = r.Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	work := "s3://out-photos/blurred/.facectl-batch/20261203T120000Z/"
	if res.Work != work || res.JobID == "" {
		t.Fatalf("run: %+v", res)
	}
	// The manifests hold the listing in key order, named as detect names them.
	var rels [][]string
	for i := range 3 {
		data, _, err := e.store.Get(ctx, "out-photos", fmt.Sprintf("blurred/.facectl-batch/20261203T120000Z/shards/%05d.jsonl", i), "", 0)
		if err != nil {
			t.Fatal(err)
		}
		entries, err := ReadManifest(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, en := range entries {
			names = append(names, en.Rel)
			if en.ETag == "" || en.Size == 0 || !strings.HasPrefix(en.File, "s3://in-photos/raw/") {
				t.Errorf("entry %+v", en)
			}
		}
		rels = append(rels, names)
	}
	want := [][]string{{"raw/a.jpg", "raw/b c.jpg"}, {"raw/d.jpg", "raw/e.jpg"}, {"raw/sub/é.png"}}
	if fmt.Sprint(rels) != fmt.Sprint(want) {
		t.Fatalf("shards %q, want %q", rels, want)
	}

	// The job: one child per shard, each told where its work is, tagged for status.
	job := describeJob(t, e, res.JobID)
	if aws.ToInt32(job.ArrayProperties.Size) != 3 || job.Tags[tagWork] != work || job.Tags[tagImages] != "5" {
		t.Fatalf("job %+v tags %v", job.ArrayProperties, job.Tags)
	}
	wantCmd := []string{"batch", "shard", "--work", work, "--blur", "s3://out-photos/blurred", "--pixelate"}
	if !slices.Equal(job.Container.Command, wantCmd) {
		t.Errorf("command %q, want %q", job.Container.Command, wantCmd)
	}

	// Followed to the end: child 1 failed, the others succeeded; none wrote results (the stub
	// does no work), so every shard is missing from the summary and the run is not OK.
	st, err := r.Status(ctx, res.JobID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Shards != 3 || st.Done != 2 || st.Failed != 1 || !st.Finished || len(st.FailedShards) != 1 {
		t.Fatalf("status %+v", st)
	}
	if _, ok := st.FailedShards[1]; !ok {
		t.Errorf("failed shards %v, want 1", st.FailedShards)
	}
	if len(seen) == 0 || !seen[len(seen)-1].finished(3) {
		t.Errorf("progress %+v", seen)
	}
	if res.Summary == nil || res.Summary.OK() || fmt.Sprint(res.Summary.MissingShards) != "[0 1 2]" {
		t.Errorf("summary %+v", res.Summary)
	}

	var logs bytes.Buffer
	if err := r.Logs(ctx, res.JobID, 1, &logs); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "stub child 1: batch shard --work "+work) || !strings.Contains(logs.String(), "stub child 1 fails") || strings.Contains(logs.String(), "stub child 0") {
		t.Errorf("logs of shard 1:\n%s", logs.String())
	}

	// The stack is as configured: a second run's look changes nothing.
	_, changes, err := r.stacks.Ensure(ctx, stackSpec(cfg, opts.Image, mustNetwork(t, e, cfg), Access{
		Read: []s3io.URL{{Bucket: "in-photos", Key: "raw/"}}, Write: []s3io.URL{{Bucket: "out-photos", Key: "blurred/"}},
		Work: s3io.URL{Bucket: "out-photos", Key: "blurred/.facectl-batch/20261203T120000Z/"}}), true)
	if err != nil || len(changes) != 0 {
		t.Errorf("stack after the run: changes %q, %v", changes, err)
	}

	if found, err := r.Destroy(ctx); err != nil || !found {
		t.Fatalf("destroy: %v %v", found, err)
	}
	if found, err := r.Destroy(ctx); err != nil || found {
		t.Fatalf("second destroy: %v %v", found, err)
	}
	e.checkPolicyCovers(t, cfg, []s3io.URL{{Bucket: "in-photos", Key: "raw/"}}, []s3io.URL{{Bucket: "out-photos", Key: "blurred/"}})
}

// iamAction is the IAM action behind an SDK call (S3's HEAD and listing calls are authorised as
// GetObject and ListBucket: https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html).
func iamAction(call string) string {
	service, op, _ := strings.Cut(call, ":")
	prefix := map[string]string{"Batch": "batch", "CloudFormation": "cloudformation", "EC2": "ec2", "CloudWatch Logs": "logs", "S3": "s3"}[service]
	if s3op, ok := map[string]string{"HeadBucket": "ListBucket", "ListObjectsV2": "ListBucket", "HeadObject": "GetObject"}[op]; ok && prefix == "s3" {
		op = s3op
	}
	return prefix + ":" + op
}

// checkPolicyCovers fails when the runner made a call `facectl batch policy` does not allow.
func (e *motoEnv) checkPolicyCovers(t *testing.T, cfg Config, in, out []s3io.URL) {
	t.Helper()
	p := Policy(cfg, in, out)
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.calls) < 10 {
		t.Fatalf("only %d calls recorded", len(e.calls))
	}
	for call := range e.calls {
		if a := iamAction(call); !p.Allows(a) {
			t.Errorf("the code calls %s (%s), the policy does not allow it", a, call)
		}
	}
}

func (p Progress) finished(shards int) bool { return p.Shards == shards && p.Done+p.Failed == shards }

func TestCancelStopsRunningChildren(t *testing.T) {
	e := newMotoEnv(t)
	e.bucket(t, "in-photos")
	e.bucket(t, "out-photos")
	for i := range 4 {
		e.put(t, "in-photos", fmt.Sprintf("raw/%d.jpg", i), []byte("x"))
	}
	cfg := e.testConfig(t)
	cfg.Environment = []string{"SLEEP_INDEX=1"}
	r, err := New(cfg, e.deps)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	jobs := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		_, err := r.Run(runCtx, RunOptions{Inputs: []string{"s3://in-photos/raw/"}, Image: stubImage(t), Outputs: map[string]string{batch.KindBlur: "s3://out-photos/b/"},
			Progress: func(p Progress) {
				if p.Done == 1 && p.Running == 1 {
					select {
					case jobs <- p.JobID:
					default:
					}
				}
			}})
		done <- err
	}()
	var id string
	select {
	case id = <-jobs:
	case err := <-done:
		t.Fatalf("run ended before child 1 ran alone: %v", err)
	}
	stop() // the client stops following; the job goes on until cancelled
	if err := <-done; err == nil || !strings.Contains(err.Error(), "facectl batch cancel "+id) {
		t.Fatalf("interrupted run: %v", err)
	}
	if st, err := r.Status(ctx, id); err != nil || st.Running != 1 {
		t.Fatalf("before cancel: %+v %v", st, err)
	}
	if _, err := r.Cancel(ctx, id, "test"); err != nil {
		t.Fatal(err)
	}
	st, err := r.Wait(ctx, id, nil)
	if err != nil || st.Done != 1 || st.Failed != 1 || st.FailedShards[1] == "" {
		t.Fatalf("after cancel: %+v %v", st, err)
	}
}

func describeJob(t *testing.T, e *motoEnv, id string) *batchtypes.JobDetail {
	t.Helper()
	out, err := awsbatch.NewFromConfig(e.awsCfg).DescribeJobs(context.Background(), &awsbatch.DescribeJobsInput{Jobs: []string{id}})
	if err != nil || len(out.Jobs) != 1 {
		t.Fatalf("describe %s: %v", id, err)
	}
	return &out.Jobs[0]
}

func mustNetwork(t *testing.T, e *motoEnv, cfg Config) network {
	n, err := resolveNetwork(context.Background(), e.deps.EC2, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestStackFollowsTheRunsPrefixes: a run on other prefixes updates only the job role, through
// a change set, and an unchanged configuration changes nothing.
func TestStackFollowsTheRunsPrefixes(t *testing.T) {
	e := newMotoEnv(t)
	cfg := e.testConfig(t)
	r, err := New(cfg, e.deps)
	if err != nil {
		t.Fatal(err)
	}
	n := mustNetwork(t, e, cfg)
	access := func(out string) Access {
		return Access{Read: []s3io.URL{{Bucket: "in-photos", Key: "raw/"}}, Write: []s3io.URL{{Bucket: "out-photos", Key: out}},
			Work: s3io.URL{Bucket: "out-photos", Key: out + ".facectl-batch/run/"}}
	}
	var plans [][]string
	var queues []string
	for _, out := range []string{"a/", "b/", "b/"} {
		outputs, plan, err := r.stacks.Ensure(context.Background(), stackSpec(cfg, "img", n, access(out)), false)
		if err != nil {
			t.Fatal(err)
		}
		plans, queues = append(plans, plan), append(queues, outputs["JobQueue"])
	}
	if len(plans[0]) != 8 || !slices.Equal(plans[1], []string{"update batch stack facectl-batch-default with:", "facectl-batch-default modify JobRole (AWS::IAM::Role)"}) || len(plans[2]) != 0 {
		t.Errorf("plans %q", plans)
	}
	if queues[0] == "" || queues[1] != queues[0] || queues[2] != queues[0] {
		t.Errorf("job queues %q", queues)
	}
}
