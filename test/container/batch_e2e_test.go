package container_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	awsbatch "github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/facectl/facectl/internal/testenv"
	batchrun "github.com/facectl/facectl/pkg/awsbatch"
	"github.com/facectl/facectl/pkg/cli"
	"github.com/facectl/facectl/pkg/report"
)

// batchEnv is moto (its Batch children real containers of the facectl image on the host network)
// with the input bucket filled, and the same photos as local files.
type batchEnv struct {
	image    string
	moto     string
	s3       *s3.Client
	batch    *awsbatch.Client
	local    string // the local copy: local/raw/<rel>
	good     []string
	bad      []string
	childEnv []string
}

// TestBatchEndToEnd runs facectl batch run against moto with the locally built image: a few
// hundred photos in 3 shards, checked against facectl detect on the same files; then a child
// killed mid-shard and its retry; then a second run with --skip-existing.
func TestBatchEndToEnd(t *testing.T) {
	e := newBatchEnv(t)
	started := time.Now()

	// 1. The run, checked image by image.
	var res batchrun.RunResult
	out := e.cli(t, 0, append([]string{"batch", "run", "s3://in-photos/raw/", "--blur", "s3://out-photos/blurred/",
		"--results", "s3://out-photos/results.jsonl", "-o", "json"}, e.runFlags()...)...)
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("run output %q: %v", out, err)
	}
	n := len(e.good) + len(e.bad)
	if res.Plan.Images != n || res.Plan.Shards != 3 || res.Summary == nil || res.Summary.Images != n || res.Summary.BadInput != len(e.bad) || res.Summary.Failed != 0 {
		t.Fatalf("run: plan %+v summary %+v", res.Plan, res.Summary)
	}
	t.Logf("batch run: %d images in %d shards in %v (%d faces)", n, res.Plan.Shards, time.Since(started).Round(time.Second), res.Summary.Faces)
	merged := recordsByRel(t, e.get(t, "out-photos", "results.jsonl"))
	localResults := filepath.Join(t.TempDir(), "local.jsonl")
	e.cliCode(t, 1, "detect", "--format", "jsonl", "--max-bytes=8000000", "--results", localResults, filepath.Join(e.local, "raw"))
	want := recordsByRel(t, must(os.ReadFile(localResults)))
	if len(merged) != n || len(want) != n {
		t.Fatalf("%d merged records, %d local, want %d", len(merged), len(want), n)
	}
	for rel, w := range want {
		g := merged[rel]
		switch {
		case w.Error != "":
			if g.Error == "" || !batchrun.IsBadInput(g.Error) || !slices.Contains(e.bad, rel) {
				t.Errorf("%s: batch %q, local %q", rel, g.Error, w.Error)
			}
		case !sameFaces(g, w):
			t.Errorf("%s: batch found %v, local detect %v", rel, g.Faces, w.Faces)
		case len(g.Outputs) != 1 || g.Outputs[0] != "s3://out-photos/blurred/"+rel:
			t.Errorf("%s: outputs %v", rel, g.Outputs)
		}
	}
	checked := 0
	for _, rel := range e.good {
		blurred := e.get(t, "out-photos", "blurred/"+rel)
		if strings.HasSuffix(rel, ".png") && len(merged[rel].Faces) > 0 {
			checkOnlyFacesChanged(t, rel, must(os.ReadFile(filepath.Join(e.local, rel))), blurred, merged[rel])
			checked++
		}
	}
	if checked < 10 {
		t.Errorf("only %d PNG outputs with faces compared", checked)
	}

	// 2. A child killed mid-shard: moto runs each child once (it has no retry strategy), so the
	// test makes the retry attempt itself, as Batch does: the same image, command, environment
	// and array index.
	e.killedChildRetried(t)

	// 3. A second run with --skip-existing processes nothing.
	before := e.etags(t, "out-photos", "blurred/raw/")
	out = e.cli(t, 0, append([]string{"batch", "run", "s3://in-photos/raw/", "--blur", "s3://out-photos/blurred/", "--skip-existing", "-o", "json"}, e.runFlags()...)...)
	res = batchrun.RunResult{}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if s := res.Summary; s == nil || s.Skipped != len(e.good) || s.Faces != 0 || s.BadInput != len(e.bad) || !s.OK() {
		t.Fatalf("skip-existing run: %+v", res.Summary)
	}
	if after := e.etags(t, "out-photos", "blurred/raw/"); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Error("the --skip-existing run rewrote outputs")
	}
	t.Logf("batch end-to-end: %v in all", time.Since(started).Round(time.Second))
}

func (e *batchEnv) killedChildRetried(t *testing.T) {
	t.Helper()
	type ended struct {
		code           int
		stdout, stderr string
	}
	done := make(chan ended, 1)
	go func() {
		var stdout, stderr bytes.Buffer
		code := cli.Main(context.Background(), append([]string{"batch", "run", "s3://in-photos/raw/", "--blur", "s3://out-photos/killed/", "-o", "json"}, e.runFlags()...),
			cli.IOStreams{In: strings.NewReader(""), Out: &stdout, Err: &stderr})
		done <- ended{code, stdout.String(), stderr.String()}
	}()
	// Wait for shard 1's first checkpoint, then kill its container.
	var resultsKey string
	deadline := time.Now().Add(3 * time.Minute)
	for resultsKey == "" && time.Now().Before(deadline) {
		for _, k := range e.keys(t, "out-photos", "killed/.facectl-batch/") {
			if strings.HasSuffix(k, "/results/00001.jsonl") {
				resultsKey = k
			}
		}
		time.Sleep(100 * time.Millisecond) // polling S3, which has no notifications in moto
	}
	if resultsKey == "" {
		t.Fatalf("shard 1 saved nothing in 3 minutes; the run: %+v", <-done)
	}
	var killed string
	for _, name := range strings.Fields(docker(t, "ps", "--filter", "ancestor="+e.image, "--format", "{{.Names}}")) {
		if strings.HasSuffix(name, "-1") {
			killed = name
			docker(t, "kill", name)
		}
	}
	if killed == "" {
		t.Fatal("shard 1's container had finished before it could be killed: give it more images")
	}
	run := <-done
	if run.code != 1 {
		t.Fatalf("the run with a killed child did not fail: %+v", run)
	}
	var res batchrun.RunResult
	if err := json.Unmarshal([]byte(run.stdout), &res); err != nil {
		t.Fatalf("%v: %+v", err, run)
	}
	if _, ok := res.Summary.FailedShards[1]; !ok || res.Summary.OK() {
		t.Fatalf("summary after the kill: %+v", res.Summary)
	}
	manifest := e.get(t, "out-photos", strings.Replace(resultsKey, "/results/", "/shards/", 1))
	entries, err := batchrun.ReadManifest(bytes.NewReader(manifest))
	if err != nil {
		t.Fatal(err)
	}
	saved := len(recordsByRel(t, e.get(t, "out-photos", resultsKey)))
	if saved == 0 || saved >= len(entries) {
		t.Fatalf("shard 1 saved %d of %d images before the kill", saved, len(entries))
	}

	job, err := e.batch.DescribeJobs(context.Background(), &awsbatch.DescribeJobsInput{Jobs: []string{res.JobID + ":1"}})
	if err != nil || len(job.Jobs) != 1 || job.Jobs[0].Container == nil {
		t.Fatalf("describing child 1: %v", err)
	}
	args := []string{"run", "--rm", "--network", "host", "-e", "AWS_BATCH_JOB_ARRAY_INDEX=1"}
	for _, kv := range job.Jobs[0].Container.Environment {
		args = append(args, "-e", aws.ToString(kv.Name)+"="+aws.ToString(kv.Value))
	}
	retry := exec.Command("docker", append(append(args, e.image), job.Jobs[0].Container.Command...)...)
	logs, err := retry.CombinedOutput()
	if err != nil {
		t.Fatalf("the retry attempt: %v\n%s", err, logs)
	}
	for _, want := range []string{fmt.Sprintf("saved_by_earlier_attempts=%d", saved), fmt.Sprintf("processed=%d", len(entries)-saved)} {
		if !strings.Contains(string(logs), want) {
			t.Errorf("the retry's log lacks %q:\n%s", want, logs)
		}
	}
	recs := e.get(t, "out-photos", resultsKey)
	got := recordsByRel(t, recs)
	if lines := bytes.Count(recs, []byte("\n")); lines != len(entries) || len(got) != len(entries) {
		t.Fatalf("after the retry shard 1 has %d records (%d distinct) for %d images", lines, len(got), len(entries))
	}
	for _, en := range entries {
		r, ok := got[en.Rel]
		if !ok {
			t.Errorf("%s lost", en.Rel)
			continue
		}
		if r.Error == "" {
			e.get(t, "out-photos", "killed/"+en.Rel)
		}
	}
}

func newBatchEnv(t *testing.T) *batchEnv {
	t.Helper()
	e := &batchEnv{image: buildImage(t)}
	testenv.FakeAWS(t)
	e.moto = testenv.StartMoto(t, "MOTO_DOCKER_NETWORK_MODE=host")
	// facectl batch (in this process) reaches moto through a proxy that turns moto's fractional
	// numbers into AWS's integers; the children only use S3, directly.
	t.Setenv("AWS_ENDPOINT_URL", testenv.MotoNumbersProxy(t, e.moto))
	t.Setenv("FACECTL_S3_PATH_STYLE", "true")
	t.Setenv("FACECTL_BATCH_POLL_INTERVAL", "250ms")
	ctx := context.Background()
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.s3 = s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle, o.DisableLogOutputChecksumValidationSkipped = true, true })
	e.batch = awsbatch.NewFromConfig(awsCfg)
	for _, b := range []string{"in-photos", "out-photos"} {
		if _, err := e.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	// moto requires a compute environment's service role to exist (AWS uses its service-linked
	// role when none is named).
	role, err := iam.NewFromConfig(awsCfg).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("batch-service"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"batch.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("FACECTL_BATCH_SERVICE_ROLE", aws.ToString(role.Role.Arn))
	e.childEnv = []string{"AWS_ENDPOINT_URL=" + e.moto, "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_REGION=us-east-1",
		"FACECTL_S3_PATH_STYLE=true", "FACECTL_BATCH_CHECKPOINT=500ms", batchrun.TestIndexFromJobID + "=1"}

	e.local = t.TempDir()
	put := func(rel string, data []byte) {
		p := filepath.Join(e.local, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("in-photos"), Key: aws.String(rel), Body: bytes.NewReader(data)}); err != nil {
			t.Fatal(err)
		}
	}
	// Variants of every test photo: cropped by a few pixels (so each is another image), as
	// lossless PNG (whose unblurred pixels must come back identical) and as JPEG.
	for _, p := range testenv.Photos(t) {
		img, _, err := image.Decode(bytes.NewReader(testenv.ReadPhoto(t, p.Name)))
		if err != nil {
			t.Fatal(err)
		}
		stem := strings.TrimSuffix(p.Name, path.Ext(p.Name))
		for v := range 18 {
			b := img.Bounds()
			crop := image.NewRGBA(image.Rect(0, 0, b.Dx()-v, b.Dy()-v))
			draw.Draw(crop, crop.Bounds(), img, b.Min.Add(image.Pt(v/2, v/2)), draw.Src)
			var buf bytes.Buffer
			rel := fmt.Sprintf("raw/%s/v%02d", stem, v)
			if v%2 == 0 {
				rel += ".png"
				err = png.Encode(&buf, crop)
			} else {
				rel += ".jpg"
				err = jpeg.Encode(&buf, crop, &jpeg.Options{Quality: 80 + v})
			}
			if err != nil {
				t.Fatal(err)
			}
			put(rel, buf.Bytes())
			e.good = append(e.good, rel)
		}
	}
	jpg := testenv.ReadPhoto(t, "grace_hopper.jpg")
	oversized := append(append([]byte{}, jpg...), make([]byte, 8_100_000)...)
	for rel, data := range map[string][]byte{"raw/bad/notes.jpg": []byte("not an image at all"), "raw/bad/truncated.jpg": jpg[:len(jpg)/3],
		"raw/bad/oversized.jpg": oversized} {
		put(rel, data)
		e.bad = append(e.bad, rel)
	}
	slices.Sort(e.bad)
	return e
}

// runFlags are the flags every run takes: the image, 3 shards, the oversized limit, the
// children's settings (moto's endpoint and credentials; the test-only index switch).
func (e *batchEnv) runFlags() []string {
	shard := (len(e.good) + len(e.bad) + 2) / 3
	flags := []string{"--image", e.image, "--shard-size", fmt.Sprint(shard), "--max-bytes=8000000"}
	for _, kv := range e.childEnv {
		flags = append(flags, "--child-env", kv)
	}
	return flags
}

func (e *batchEnv) cli(t *testing.T, want int, args ...string) string {
	t.Helper()
	return e.cliCode(t, want, args...)
}

func (e *batchEnv) cliCode(t *testing.T, want int, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Main(context.Background(), args, cli.IOStreams{In: strings.NewReader(""), Out: &stdout, Err: &stderr})
	if code != want {
		t.Fatalf("facectl %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func (e *batchEnv) get(t *testing.T, bucket, key string) []byte {
	t.Helper()
	out, err := e.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatalf("s3://%s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(out.Body); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// objects lists the objects under prefix.
func (e *batchEnv) objects(t *testing.T, bucket, prefix string) []s3types.Object {
	t.Helper()
	var out []s3types.Object
	p := s3.NewListObjectsV2Paginator(e.s3, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page.Contents...)
	}
	return out
}

func (e *batchEnv) keys(t *testing.T, bucket, prefix string) []string {
	t.Helper()
	var out []string
	for _, o := range e.objects(t, bucket, prefix) {
		out = append(out, aws.ToString(o.Key))
	}
	return out
}

// etags are the objects' ETags and modification times, to see whether anything was written.
func (e *batchEnv) etags(t *testing.T, bucket, prefix string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, o := range e.objects(t, bucket, prefix) {
		out[aws.ToString(o.Key)] = aws.ToString(o.ETag) + aws.ToTime(o.LastModified).String()
	}
	return out
}

// recordsByRel reads a results file keyed by the image's name under the input (raw/...).
func recordsByRel(t *testing.T, data []byte) map[string]report.Record {
	t.Helper()
	recs, err := batchrun.ReadRecords(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]report.Record{}
	for _, r := range recs {
		rel := r.File
		if i := strings.Index(rel, "/raw/"); i >= 0 {
			rel = rel[i+1:]
		}
		out[rel] = r
	}
	return out
}

func sameFaces(a, b report.Record) bool {
	if len(a.Faces) != len(b.Faces) {
		return false
	}
	for i := range a.Faces {
		f, g := a.Faces[i], b.Faces[i]
		if abs(f.X-g.X) > 1 || abs(f.Y-g.Y) > 1 || abs(f.W-g.W) > 1 || abs(f.H-g.H) > 1 {
			return false
		}
	}
	return true
}

// checkOnlyFacesChanged compares a PNG input with its blurred output: every pixel away from
// the faces (the box enlarged by a fifth, more than the 10 % the blur covers) is unchanged, and
// each face's box changed.
func checkOnlyFacesChanged(t *testing.T, rel string, in, out []byte, rec report.Record) {
	t.Helper()
	a, err := png.Decode(bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	b, err := png.Decode(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("%s: output: %v", rel, err)
	}
	if a.Bounds() != b.Bounds() {
		t.Fatalf("%s: size %v, output %v", rel, a.Bounds(), b.Bounds())
	}
	var near []image.Rectangle
	for _, f := range rec.Faces {
		dx, dy := f.W/5+2, f.H/5+2
		near = append(near, image.Rect(f.X-dx, f.Y-dy, f.X+f.W+dx, f.Y+f.H+dy))
	}
	rgb := func(c color.Color) [3]uint32 { r, g, bl, _ := c.RGBA(); return [3]uint32{r >> 8, g >> 8, bl >> 8} }
	changedOutside := 0
	bounds := a.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			if slices.ContainsFunc(near, func(r image.Rectangle) bool { return image.Pt(x, y).In(r) }) {
				continue
			}
			if rgb(a.At(x, y)) != rgb(b.At(x, y)) {
				changedOutside++
			}
		}
	}
	if changedOutside > 0 {
		t.Errorf("%s: %d pixels changed away from the faces", rel, changedOutside)
	}
	for _, f := range rec.Faces {
		var diff, n float64
		for y := f.Y; y < f.Y+f.H; y++ {
			for x := f.X; x < f.X+f.W; x++ {
				p, q := rgb(a.At(x, y)), rgb(b.At(x, y))
				for c := range 3 {
					diff += float64(abs(int(p[c]) - int(q[c])))
				}
				n += 3
			}
		}
		if n == 0 || diff/n < 2 {
			t.Errorf("%s: face %+v barely changed (mean difference %.2f)", rel, f, diff/max(n, 1))
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
