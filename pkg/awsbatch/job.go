package awsbatch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsbatch "github.com/aws/aws-sdk-go-v2/service/batch"
	batchtypes "github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/facectl/facectl/pkg/batch"
	"github.com/facectl/facectl/pkg/deploy"
	"github.com/facectl/facectl/pkg/s3io"
)

// Tags a submitted job carries, so that status, cancel and logs need only its ID.
const (
	tagWork   = "facectl:work"
	tagImages = "facectl:images"
	tagShards = "facectl:shards"
	tagVCPU   = "facectl:vcpu"
	tagMemory = "facectl:memory"
	tagSpot   = "facectl:spot"
)

// RunOptions is one `facectl batch run`.
type RunOptions struct {
	// Inputs are s3:// prefixes or keys.
	Inputs []string
	// Outputs maps an output kind (batch.KindBlur…) to its s3:// prefix; none means detect only.
	Outputs map[string]string
	// Results is where the merged results go (s3:// key or a local file; empty: only the shards'
	// results in the work prefix).
	Results string
	// DetectArgs are detect's flags the children get as they are (--min-confidence, --pixelate,
	// --skip-existing, detector settings…).
	DetectArgs []string
	// Image is the facectl image the children run (deploy.image.uri).
	Image string
	// DryRun lists and plans, and changes nothing.
	DryRun bool
	// Progress is called after each look at the job.
	Progress func(Progress)
}

// Progress is the job as one look saw it.
type Progress struct {
	JobID                         string
	Shards, Done, Running, Failed int
	Images, ImagesDone            int
	Elapsed                       time.Duration
	// ImagesPerSecond and ETA are from the shards done so far (0 before the first).
	ImagesPerSecond float64
	ETA             time.Duration
	TaskHours       float64
	CostUSD         float64
}

// RunResult is what a run did.
type RunResult struct {
	JobID   string    `json:"job_id,omitempty"`
	Work    string    `json:"work"`
	Plan    ShardPlan `json:"plan"`
	Stack   []string  `json:"stack_changes,omitempty"`
	DryRun  bool      `json:"dry_run"`
	Summary *Summary  `json:"summary,omitempty"`
	// Estimate is the cost estimate of a dry run (and of the run before it starts).
	Estimate Estimate `json:"estimate"`
}

// Runner runs the verbs of facectl batch for one configuration.
type Runner struct {
	cfg    Config
	deps   Deps
	stacks *deploy.Stacks
}

// New validates cfg and returns a Runner.
func New(cfg Config, deps Deps) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Runner{cfg: cfg, deps: deps, stacks: deploy.NewStacks(deps.CFN, deps.log(), cfg.PollInterval)}, nil
}

// WorkPrefix is where a run's manifests and shard results go: batch.work, or .facectl-batch/
// under the first output prefix (or beside the results object when detecting only).
func (r *Runner) WorkPrefix(o RunOptions) (s3io.URL, error) {
	if r.cfg.Work != "" {
		u, err := s3io.Parse(r.cfg.Work)
		if err == nil && !u.IsPrefix() {
			u.Key += "/"
		}
		return u, err
	}
	for _, k := range []string{batch.KindBlur, batch.KindAnnotate, batch.KindCrop} {
		if o.Outputs[k] != "" {
			u, err := s3io.Parse(o.Outputs[k])
			u.Key = dirKey(u.Key) + ".facectl-batch/"
			return u, err
		}
	}
	if s3io.IsURL(o.Results) {
		u, err := s3io.Parse(o.Results)
		u.Key = dirKey(u.Key[:strings.LastIndex(u.Key, "/")+1]) + ".facectl-batch/"
		return u, err
	}
	return s3io.URL{}, errors.New("batch.work: give an s3:// output, an s3:// --results or batch.work: the children need somewhere in S3 for their manifests and results")
}

func dirKey(k string) string {
	if k != "" && !strings.HasSuffix(k, "/") {
		k += "/"
	}
	return k
}

// Run lists the inputs, writes the shard manifests, makes sure the environment stack is as
// configured, submits the array job, follows it to the end and merges the results.
func (r *Runner) Run(ctx context.Context, o RunOptions) (RunResult, error) {
	log := r.deps.log()
	res := RunResult{DryRun: o.DryRun}
	var errs []error
	for _, in := range o.Inputs {
		if !s3io.IsURL(in) {
			errs = append(errs, fmt.Errorf("%s: facectl batch takes s3:// inputs (use facectl detect for local files)", in))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return res, err
	}
	work, err := r.WorkPrefix(o)
	if err != nil {
		return res, err
	}
	runID := r.deps.now().UTC().Format("20060102T150405Z")
	work.Key += runID + "/"
	res.Work = work.String()
	outs := []string{work.String()}
	access := Access{Work: work}
	for _, k := range []string{batch.KindCrop, batch.KindBlur, batch.KindAnnotate} {
		if p := o.Outputs[k]; p != "" {
			u, err := s3io.Parse(p)
			if err != nil {
				return res, err
			}
			u.Key = dirKey(u.Key)
			outs = append(outs, u.String())
			access.Write = append(access.Write, u)
		}
	}
	if s3io.IsURL(o.Results) {
		outs = append(outs, o.Results)
	}
	for _, in := range o.Inputs {
		u, _ := s3io.Parse(in)
		access.Read = append(access.Read, u)
	}
	// The same checks as detect (buckets exist and may be used, no output inside an input), and
	// the listing under the same names.
	plan, err := batch.Open(ctx, o.Inputs, outs, r.deps.S3)
	if err != nil {
		return res, err
	}
	log.Info("listing the inputs and planning shards", "inputs", strings.Join(o.Inputs, " "), "shard_size", r.cfg.ShardSize, "work", work.String())
	var write func(context.Context, int, []byte) error
	if !o.DryRun {
		write = func(ctx context.Context, i int, m []byte) error {
			return r.deps.S3.Put(ctx, s3io.Put{Bucket: work.Bucket, Key: manifestKey(work, i), Body: bytes.NewReader(m), ContentType: "application/x-ndjson"})
		}
	}
	res.Plan, err = PlanShards(ctx, plan.Inputs, r.cfg.ShardSize, write)
	if err != nil {
		return res, err
	}
	res.Estimate = r.cfg.Estimate(res.Plan.Images)
	log.Info("planned", "images", res.Plan.Images, "shards", res.Plan.Shards, "estimated_task_hours", round(res.Estimate.TaskHours, 3), "estimated_cost_usd", round(res.Estimate.CostUSD, 4))

	image := o.Image
	if image == "" {
		return res, errors.New("deploy.image.uri: give the facectl image the children run (--image, or the image facectl deploy deployed)")
	}
	n, err := resolveNetwork(ctx, r.deps.EC2, r.cfg)
	if err != nil {
		return res, err
	}
	outputs, changes, err := r.stacks.Ensure(ctx, stackSpec(r.cfg, image, n, access), o.DryRun)
	res.Stack = changes
	if err != nil || o.DryRun {
		return res, err
	}
	jobID, err := r.submit(ctx, outputs, work, runID, res.Plan, o)
	if err != nil {
		return res, err
	}
	res.JobID = jobID
	log.Info("submitted", "job", jobID, "children", res.Plan.Shards)
	st, err := r.Wait(ctx, jobID, o.Progress)
	if err != nil {
		return res, err
	}
	sum, err := r.merge(ctx, st, o.Results)
	res.Summary = &sum
	return res, err
}

func manifestKey(work s3io.URL, i int) string { return work.Key + fmt.Sprintf("shards/%05d.jsonl", i) }
func resultsKey(work s3io.URL, i int) string  { return work.Key + fmt.Sprintf("results/%05d.jsonl", i) }

// ShardArgs are the arguments after childCommand of one run's children.
func ShardArgs(work s3io.URL, o RunOptions) []string {
	args := []string{"--work", work.String()}
	for _, k := range []string{batch.KindCrop, batch.KindBlur, batch.KindAnnotate} {
		if p := o.Outputs[k]; p != "" {
			args = append(args, "--"+k, p)
		}
	}
	return append(args, o.DetectArgs...)
}

func (r *Runner) submit(ctx context.Context, stack map[string]string, work s3io.URL, runID string, p ShardPlan, o RunOptions) (string, error) {
	in := &awsbatch.SubmitJobInput{
		JobName:       aws.String("facectl-" + r.cfg.Name + "-" + runID),
		JobQueue:      aws.String(stack["JobQueue"]),
		JobDefinition: aws.String(stack["JobDefinition"]),
		ContainerOverrides: &batchtypes.ContainerOverrides{
			Command: append(append([]string{}, childCommand...), ShardArgs(work, o)...),
		},
		Tags: map[string]string{
			tagWork: work.String(), tagImages: strconv.Itoa(p.Images), tagShards: strconv.Itoa(p.Shards),
			tagVCPU: strconv.FormatFloat(r.cfg.VCPU, 'f', -1, 64), tagMemory: strconv.Itoa(r.cfg.MemoryMiB), tagSpot: strconv.FormatBool(r.cfg.Spot),
		},
		PropagateTags: aws.Bool(true),
	}
	// A single shard is a plain job: an array job has at least 2 children.
	if p.Shards > 1 {
		in.ArrayProperties = &batchtypes.ArrayProperties{Size: aws.Int32(int32(p.Shards))}
	}
	out, err := r.deps.Batch.SubmitJob(ctx, in)
	if err != nil {
		return "", fmt.Errorf("submitting the job: %w", err)
	}
	return aws.ToString(out.JobId), nil
}

// Status is a job as facectl batch status shows it.
type Status struct {
	JobID   string `json:"job_id"`
	Name    string `json:"name"`
	Status  string `json:"status"`
	Work    string `json:"work"`
	Shards  int    `json:"shards"`
	Images  int    `json:"images"`
	Done    int    `json:"shards_done"`
	Running int    `json:"shards_running"`
	Failed  int    `json:"shards_failed"`
	Pending int    `json:"shards_pending"`
	// Finished is true when every child has ended.
	Finished bool `json:"finished"`
	// Elapsed is since the job was created; TaskHours and CostUSD count every child's run so far.
	Elapsed   time.Duration `json:"elapsed_ns"`
	TaskHours float64       `json:"task_hours"`
	CostUSD   float64       `json:"cost_usd"`
	// FailedShards are the indexes of the failed children, with their reason.
	FailedShards map[int]string `json:"failed_shards,omitempty"`
	spot         bool
	vcpu         float64
	memory       int
}

// Status looks at a submitted job once.
func (r *Runner) Status(ctx context.Context, jobID string) (Status, error) {
	out, err := r.deps.Batch.DescribeJobs(ctx, &awsbatch.DescribeJobsInput{Jobs: []string{jobID}})
	if err != nil {
		return Status{}, fmt.Errorf("describing job %s: %w", jobID, err)
	}
	if len(out.Jobs) == 0 {
		return Status{}, fmt.Errorf("job %s: %w", jobID, ErrNoJob)
	}
	j := out.Jobs[0]
	st := Status{JobID: jobID, Name: aws.ToString(j.JobName), Status: string(j.Status), Work: j.Tags[tagWork], Shards: 1, FailedShards: map[int]string{}}
	if st.Work == "" {
		return st, fmt.Errorf("job %s was not submitted by facectl batch run (no %s tag)", jobID, tagWork)
	}
	st.Images, _ = strconv.Atoi(j.Tags[tagImages])
	st.vcpu, _ = strconv.ParseFloat(j.Tags[tagVCPU], 64)
	st.memory, _ = strconv.Atoi(j.Tags[tagMemory])
	st.spot = j.Tags[tagSpot] != "false"
	now := r.deps.now()
	st.Elapsed = now.Sub(time.UnixMilli(aws.ToInt64(j.CreatedAt)))
	var children []batchtypes.JobSummary
	if j.ArrayProperties != nil && j.ArrayProperties.Size != nil {
		st.Shards = int(aws.ToInt32(j.ArrayProperties.Size))
		p := awsbatch.NewListJobsPaginator(r.deps.Batch, &awsbatch.ListJobsInput{ArrayJobId: aws.String(jobID)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return st, fmt.Errorf("listing the children of job %s: %w", jobID, err)
			}
			children = append(children, page.JobSummaryList...)
		}
	} else {
		c := batchtypes.JobSummary{JobId: j.JobId, Status: j.Status, StatusReason: j.StatusReason, StartedAt: j.StartedAt, StoppedAt: j.StoppedAt}
		if j.Container != nil {
			c.Container = &batchtypes.ContainerSummary{ExitCode: j.Container.ExitCode}
		}
		children = []batchtypes.JobSummary{c}
	}
	seconds := 0.0
	for i, c := range children {
		idx := i
		if c.ArrayProperties != nil && c.ArrayProperties.Index != nil {
			idx = int(aws.ToInt32(c.ArrayProperties.Index))
		} else if _, s, ok := strings.Cut(aws.ToString(c.JobId), ":"); ok {
			idx, _ = strconv.Atoi(s)
		}
		switch c.Status {
		case batchtypes.JobStatusSucceeded:
			st.Done++
		case batchtypes.JobStatusFailed:
			st.Failed++
			why := aws.ToString(c.StatusReason)
			if c.Container != nil && c.Container.ExitCode != nil {
				why = strings.TrimPrefix(fmt.Sprintf("%s (exit status %d)", why, aws.ToInt32(c.Container.ExitCode)), " ")
			}
			st.FailedShards[idx] = why
		case batchtypes.JobStatusRunning, batchtypes.JobStatusStarting:
			st.Running++
		default:
			st.Pending++
		}
		if s := aws.ToInt64(c.StartedAt); s > 0 {
			end := now
			if e := aws.ToInt64(c.StoppedAt); e > 0 {
				end = time.UnixMilli(e)
			}
			seconds += max(0, end.Sub(time.UnixMilli(s)).Seconds())
		}
	}
	// Children not listed yet (just submitted) are pending.
	st.Pending += max(0, st.Shards-len(children))
	st.Finished = st.Done+st.Failed == st.Shards
	st.TaskHours = seconds / 3600
	st.CostUSD = taskCost(st.TaskHours, st.vcpu, st.memory, st.spot)
	return st, nil
}

// ErrNoJob means AWS Batch does not know the job (or no longer: it forgets jobs after days).
var ErrNoJob = errors.New("no such job")

// Wait looks at the job every poll interval until every child has ended.
func (r *Runner) Wait(ctx context.Context, jobID string, progress func(Progress)) (Status, error) {
	tick := time.NewTicker(r.cfg.PollInterval)
	defer tick.Stop()
	for {
		st, err := r.Status(ctx, jobID)
		if err != nil {
			return st, err
		}
		if progress != nil {
			progress(st.progress(r.cfg.ShardSize))
		}
		if st.Finished {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("following job %s (it goes on: facectl batch status %s, facectl batch cancel %s): %w", jobID, jobID, jobID, ctx.Err())
		case <-tick.C:
		}
	}
}

func (st Status) progress(shardSize int) Progress {
	p := Progress{JobID: st.JobID, Shards: st.Shards, Done: st.Done, Running: st.Running, Failed: st.Failed,
		Images: st.Images, Elapsed: st.Elapsed, TaskHours: st.TaskHours, CostUSD: st.CostUSD}
	// Every shard holds shardSize images but the last; finished shards' images are done.
	p.ImagesDone = min(st.Images, st.Done*shardSize)
	if st.Finished {
		p.ImagesDone = st.Images
	}
	if p.ImagesDone > 0 && st.Elapsed > 0 {
		p.ImagesPerSecond = float64(p.ImagesDone) / st.Elapsed.Seconds()
		p.ETA = time.Duration(float64(st.Images-p.ImagesDone) / p.ImagesPerSecond * float64(time.Second))
	}
	return p
}

// Cancel ends a job: children not started are cancelled and running ones stopped.
func (r *Runner) Cancel(ctx context.Context, jobID, reason string) (Status, error) {
	st, err := r.Status(ctx, jobID)
	if err != nil {
		return st, err
	}
	ids := []string{jobID}
	if st.Shards > 1 {
		p := awsbatch.NewListJobsPaginator(r.deps.Batch, &awsbatch.ListJobsInput{ArrayJobId: aws.String(jobID)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return st, fmt.Errorf("listing the children of job %s: %w", jobID, err)
			}
			for _, c := range page.JobSummaryList {
				if c.Status != batchtypes.JobStatusSucceeded && c.Status != batchtypes.JobStatusFailed {
					ids = append(ids, aws.ToString(c.JobId))
				}
			}
		}
	}
	for _, id := range ids {
		// TerminateJob cancels a child not started and stops a running one.
		if _, err := r.deps.Batch.TerminateJob(ctx, &awsbatch.TerminateJobInput{JobId: aws.String(id), Reason: aws.String(reason)}); err != nil {
			return st, fmt.Errorf("terminating %s: %w", id, err)
		}
	}
	return r.Status(ctx, jobID)
}

// Logs writes the children's log lines, child by child (shard, if given, picks one).
func (r *Runner) Logs(ctx context.Context, jobID string, shard int, w io.Writer) error {
	st, err := r.Status(ctx, jobID)
	if err != nil {
		return err
	}
	var ids []string
	for i := range st.Shards {
		if shard >= 0 && i != shard {
			continue
		}
		if st.Shards == 1 {
			ids = append(ids, jobID)
		} else {
			ids = append(ids, fmt.Sprintf("%s:%d", jobID, i))
		}
	}
	for len(ids) > 0 {
		chunk := ids[:min(100, len(ids))]
		ids = ids[len(chunk):]
		out, err := r.deps.Batch.DescribeJobs(ctx, &awsbatch.DescribeJobsInput{Jobs: chunk})
		if err != nil {
			return fmt.Errorf("describing the children of %s: %w", jobID, err)
		}
		for _, j := range out.Jobs {
			if j.Container == nil || aws.ToString(j.Container.LogStreamName) == "" {
				fmt.Fprintf(w, "== %s: no log yet (%s)\n", aws.ToString(j.JobId), j.Status)
				continue
			}
			// Batch's own default group unless the job definition names one (facectl's does).
			group := "/aws/batch/job"
			if lc := j.Container.LogConfiguration; lc != nil && lc.Options["awslogs-group"] != "" {
				group = lc.Options["awslogs-group"]
			}
			fmt.Fprintf(w, "== %s (%s)\n", aws.ToString(j.JobId), j.Status)
			var token *string
			for {
				ev, err := r.deps.Logs.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String(group),
					LogStreamName: j.Container.LogStreamName, StartFromHead: aws.Bool(true), NextToken: token})
				if err != nil {
					return fmt.Errorf("reading log stream %s: %w", aws.ToString(j.Container.LogStreamName), err)
				}
				for _, e := range ev.Events {
					fmt.Fprintf(w, "%s %s\n", time.UnixMilli(aws.ToInt64(e.Timestamp)).UTC().Format(time.RFC3339), aws.ToString(e.Message))
				}
				if len(ev.Events) == 0 || aws.ToString(ev.NextForwardToken) == aws.ToString(token) {
					break
				}
				token = ev.NextForwardToken
			}
		}
	}
	return nil
}

// Destroy deletes the environment's stack; false when there was none.
func (r *Runner) Destroy(ctx context.Context) (bool, error) {
	return r.stacks.Delete(ctx, deploy.StackSpec{Name: r.cfg.StackName(), For: r.cfg.stackFor(), What: "batch stack"})
}

func round(v float64, places int) float64 {
	p := 1.0
	for range places {
		p *= 10
	}
	return float64(int64(v*p+0.5)) / p
}
