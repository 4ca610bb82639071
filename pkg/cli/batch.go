package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/facectl/facectl/pkg/awsbatch"
	"github.com/facectl/facectl/pkg/batch"
	"github.com/facectl/facectl/pkg/deploy"
	"github.com/facectl/facectl/pkg/s3io"
)

// batchTarget is what the batch commands share: the batch section, the AWS account and the
// image (deploy's settings), S3's addressing, the logger and --output.
type batchTarget struct {
	IO     IOStreams
	Config awsbatch.Config
	Deploy deploy.Config
	S3     s3io.Config
	Log    *slog.Logger
	Output string
}

// load loads the sections and checks --output (persistent on batch).
func (t *batchTarget) load(f *Factory, cmd *cobra.Command) error {
	t.IO, t.Config, t.Deploy, t.S3 = f.IOStreams, awsbatch.DefaultConfig(), deploy.DefaultConfig(), s3io.DefaultConfig()
	log, err := f.load(cmd, map[string]any{"batch": &t.Config, "deploy": &t.Deploy, "s3": &t.S3}, "text")
	if err != nil {
		return err
	}
	t.Log = log
	if t.Output, err = outputFormat(cmd); err != nil {
		return err
	}
	if err := t.Config.Validate(); err != nil {
		return &usageError{err: err}
	}
	return nil
}

// open builds the runner and its AWS clients.
func (t *batchTarget) open(ctx context.Context) (*awsbatch.Runner, error) {
	awsCfg, err := deploy.LoadAWSConfig(ctx, deploy.Config{Region: t.Deploy.Region, Profile: t.Deploy.Profile, EndpointURL: t.Deploy.EndpointURL})
	if err != nil {
		return nil, &usageError{err: err}
	}
	deps := awsbatch.NewDeps(awsCfg, s3io.NewFromConfig(awsCfg, t.S3))
	deps.Log = t.Log
	return awsbatch.New(t.Config, deps)
}

// NewCmdBatch is facectl batch (root.go adds its subcommands).
func NewCmdBatch(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "batch",
		Short: "Detect or blur the faces of a whole S3 prefix with an AWS Batch array job on Fargate Spot",
		Long: `Run facectl detect over every object under S3 prefixes as one AWS Batch array job on Fargate
(Spot by default): facectl batch run lists the input once, cuts it into shards, writes their
manifests to S3, keeps the Batch environment as the CloudFormation stack facectl-batch-NAME,
submits one child per shard, shows progress and merges the results. See docs/batch.md.`,
		Example: `  facectl batch run s3://my-photos/raw/ --blur s3://my-photos-blurred/ --results s3://my-photos-blurred/results.jsonl
  facectl batch run --dry-run s3://my-photos/raw/ --blur s3://my-photos-blurred/
  facectl batch status 0f6c3e1a-2b0d-4c6e-9a51-3d1c2b7e8f90`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	pf := cmd.PersistentFlags()
	addSettingFlags(pf, "batch", true)
	// The AWS account is deploy's (one declaration each).
	for _, key := range []string{"deploy.region", "deploy.profile", "deploy.endpoint_url"} {
		addSettingFlag(pf, key)
	}
	pf.StringP("output", "o", "text", "output: text or json")
	return cmd
}

// detectFlagsOnly are detect's flags that batch run takes itself instead of passing them to the
// children.
var detectFlagsOnly = []string{"annotate", "crop", "blur", "results", "format", "quiet", "query"}

// withDetect adds detect's flags (the detector's and s3's included) to cmd and returns the
// function that checks them as detect does and gives detect's options for args.
func withDetect(f *Factory, cmd *cobra.Command) func(args []string) (*DetectOptions, error) {
	var got *DetectOptions
	detect := NewCmdDetect(f, func(o *DetectOptions) error { got = o; return nil })
	cmd.Flags().AddFlagSet(detect.Flags())
	return func(args []string) (*DetectOptions, error) {
		got = nil
		if err := detect.RunE(detect, args); err != nil {
			return nil, err
		}
		return got, nil
	}
}

// childArgs are the detect flags given on the command line that the children get as they are.
func childArgs(cmd *cobra.Command) []string {
	detect := NewCmdDetect(NewFactory(IOStreams{}), nil).Flags()
	var out []string
	cmd.Flags().Visit(func(fl *pflag.Flag) {
		if detect.Lookup(fl.Name) == nil || slices.Contains(detectFlagsOnly, fl.Name) {
			return
		}
		if sv, ok := fl.Value.(pflag.SliceValue); ok {
			for _, item := range sv.GetSlice() {
				out = append(out, "--"+fl.Name+"="+item)
			}
			return
		}
		out = append(out, "--"+fl.Name+"="+fl.Value.String())
	})
	return out
}

// BatchRunOptions are facectl batch run's inputs.
type BatchRunOptions struct {
	batchTarget
	Args   []string
	Detect *DetectOptions
	// ChildArgs are the detect flags passed on to the children.
	ChildArgs []string
	DryRun    bool
}

// NewCmdBatchRun is facectl batch run; runF, when not nil, runs instead of batchRunRun.
func NewCmdBatchRun(f *Factory, runF func(*BatchRunOptions) error) *cobra.Command {
	opts := &BatchRunOptions{}
	var detect func([]string) (*DetectOptions, error)
	cmd := &cobra.Command{
		Use:   "run [flags] s3://BUCKET/PREFIX/|s3://BUCKET/KEY ...",
		Short: "List S3 inputs, cut them into shards and run facectl detect on each as an AWS Batch array job",
		Long: `Run facectl detect over every object under the given S3 prefixes as one AWS Batch array job:

  1. list the inputs once (the same checks and names as facectl detect) and cut them into shards
     of batch.shard_size images, whose manifests go to the work prefix (batch.work, by default
     .facectl-batch/<run>/ under the first output prefix)
  2. create or update the CloudFormation stack facectl-batch-NAME: Fargate Spot compute
     environment (on-demand behind it with --on-demand-fallback), job queue, job definition of
     the facectl image (--image, or deploy.image.uri), execution role, a job role that may read
     only the inputs and write only the outputs and the work prefix, log group
  3. submit one array job, one child per shard; a child interrupted by Spot or a crash is run
     again (batch.attempts) and redoes only what its earlier attempts did not save
  4. show progress on stderr (shards done/running/failed, images, images/s, elapsed, ETA, cost so
     far), then merge the shards' results into --results and print the summary

detect's flags (--min-confidence, --pixelate, --quality, --skip-existing, the detector's...) are
passed to the children. Exit status 1 when an image failed for a reason other than bad input
(not an image, truncated, too large), or a shard failed every attempt. --dry-run prints the
shard plan and the cost estimate and changes nothing.`,
		Example: `  facectl batch run s3://my-photos/raw/ --blur s3://my-photos-blurred/ --results s3://my-photos-blurred/results.jsonl
  facectl batch run --dry-run --shard-size 500 s3://my-photos/raw/ --blur s3://my-photos-blurred/
  facectl batch run s3://cams/2026/ --results faces.jsonl --min-confidence 0.7 --image 123456789012.dkr.ecr.eu-west-1.amazonaws.com/facectl:v1.4.0`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errors.New("no input: give s3://BUCKET/PREFIX/ or s3://BUCKET/KEY")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.complete(f, cmd, args, detect); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return batchRunRun(cmd.Context(), opts)
		},
	}
	detect = withDetect(f, cmd)
	fs := cmd.Flags()
	// The children's results go to --results; a terminal format has no meaning here.
	for _, name := range []string{"format", "quiet"} {
		if err := fs.MarkHidden(name); err != nil {
			panic(err)
		}
	}
	addSettingFlag(fs, "deploy.image.uri").Usage = "the facectl image the children run (default: deploy.image.uri, the image facectl deploy deploys)"
	fs.BoolVar(&opts.DryRun, "dry-run", false, "list the inputs and print the shard plan and cost estimate; submit nothing, change nothing")
	addSettingFlags(fs, "batch", false)
	return cmd
}

func (o *BatchRunOptions) complete(f *Factory, cmd *cobra.Command, args []string, detect func([]string) (*DetectOptions, error)) error {
	var errs []error
	if cmd.Flags().Changed("format") || cmd.Flags().Changed("quiet") || cmd.Flags().Changed("query") {
		errs = append(errs, errors.New("--format and -q: facectl batch writes its results with --results"))
	}
	d, err := detect(args)
	if err != nil {
		var ue *usageError
		if !errors.As(err, &ue) {
			return err
		}
		errs = append(errs, ue.err)
	}
	if d != nil {
		for k, dir := range map[string]string{batch.KindBlur: d.Outputs.BlurDir, batch.KindAnnotate: d.Outputs.AnnotateDir, batch.KindCrop: d.Outputs.CropDir} {
			if dir != "" && !s3io.IsURL(dir) {
				errs = append(errs, fmt.Errorf("--%s %s: the children write to S3: give an s3:// prefix", k, dir))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return &usageError{err: err}
	}
	o.Args, o.Detect, o.ChildArgs = args, d, childArgs(cmd)
	return o.load(f, cmd)
}

func batchRunRun(ctx context.Context, o *BatchRunOptions) error {
	r, err := o.open(ctx)
	if err != nil {
		return err
	}
	d := o.Detect
	outs := map[string]string{}
	for k, dir := range map[string]string{batch.KindBlur: d.Outputs.BlurDir, batch.KindAnnotate: d.Outputs.AnnotateDir, batch.KindCrop: d.Outputs.CropDir} {
		if dir != "" {
			outs[k] = dir
		}
	}
	started := time.Now()
	progress := func(p awsbatch.Progress) {
		line := progressLine(p)
		if o.IO.ErrTTY {
			fmt.Fprintf(o.IO.Err, "\r\033[K%s", line)
		} else {
			fmt.Fprintln(o.IO.Err, line)
		}
	}
	res, err := r.Run(ctx, awsbatch.RunOptions{Inputs: o.Args, Outputs: outs, Results: d.Results, Image: o.Deploy.Image.URI,
		DetectArgs: o.ChildArgs, DryRun: o.DryRun, Progress: progress})
	if o.IO.ErrTTY && res.JobID != "" {
		fmt.Fprintln(o.IO.Err)
	}
	if errors.Is(err, batch.ErrOverlap) {
		return &usageError{err: err}
	}
	if err != nil && res.Plan.Images == 0 {
		return err
	}
	if o.Output == "json" {
		if err := writeJSON(o.IO.Out, res); err != nil {
			return err
		}
	} else {
		writeRunText(o.IO.Out, res, time.Since(started))
	}
	if err != nil {
		return err
	}
	if res.Summary != nil && !res.Summary.OK() {
		return &exitError{code: ExitFailure}
	}
	return nil
}

func progressLine(p awsbatch.Progress) string {
	eta := "?"
	if p.ETA > 0 {
		eta = p.ETA.Round(time.Second).String()
	}
	return fmt.Sprintf("job %s: shards %d/%d done, %d running, %d failed; images %d/%d, %.1f/s; %s elapsed, ETA %s; %.2f task-hours, $%.4f so far",
		p.JobID, p.Done, p.Shards, p.Running, p.Failed, p.ImagesDone, p.Images, p.ImagesPerSecond, p.Elapsed.Round(time.Second), eta, p.TaskHours, p.CostUSD)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func writeRunText(w io.Writer, res awsbatch.RunResult, wall time.Duration) {
	p, e := res.Plan, res.Estimate
	fmt.Fprintf(w, "plan: %d images (%.1f MB) in %d shards of up to %d; work prefix %s\n", p.Images, float64(p.Bytes)/1e6, p.Shards, p.ShardSize, res.Work)
	fmt.Fprintf(w, "estimate: %.2f task-hours, $%.4f ($%.4f per 1,000 images), about %s with max_vcpus busy\n", e.TaskHours, e.CostUSD, e.Per1000USD, e.Wall.Round(time.Second))
	for _, c := range res.Stack {
		fmt.Fprintf(w, "stack: %s\n", c)
	}
	s := res.Summary
	if s == nil {
		return
	}
	fmt.Fprintf(w, "job %s: %d images, %d faces, %d skipped, %d bad input, %d failed; wall %s, %.3f task-hours, $%.4f\n",
		res.JobID, s.Images, s.Faces, s.Skipped, s.BadInput, s.Failed, wall.Round(time.Second), s.TaskHours, s.CostUSD)
	reasons := make([]string, 0, len(s.Reasons))
	for r := range s.Reasons {
		reasons = append(reasons, r)
	}
	sort.Slice(reasons, func(i, j int) bool {
		return s.Reasons[reasons[i]] > s.Reasons[reasons[j]] || s.Reasons[reasons[i]] == s.Reasons[reasons[j]] && reasons[i] < reasons[j]
	})
	for _, r := range reasons {
		fmt.Fprintf(w, "  %d× %s\n", s.Reasons[r], r)
	}
	for _, i := range slices.Sorted(maps.Keys(s.FailedShards)) {
		fmt.Fprintf(w, "  shard %d failed every attempt: %s\n", i, s.FailedShards[i])
	}
	if s.Unrecorded > 0 {
		fmt.Fprintf(w, "  %d images have no result (run again with --skip-existing to do only those)\n", s.Unrecorded)
	}
	if s.Results != "" {
		fmt.Fprintf(w, "results: %s\n", s.Results)
	}
}

func jobArg(_ *cobra.Command, args []string) error {
	if len(args) != 1 {
		return errors.New("give the job ID (facectl batch run prints it)")
	}
	return nil
}

// BatchJobOptions are the inputs of facectl batch status, cancel and logs.
type BatchJobOptions struct {
	batchTarget
	JobID string
	// Shard is logs' --shard (-1: every child).
	Shard int
}

// newCmdBatchJob is a command on one submitted job.
func newCmdBatchJob(f *Factory, runF func(*BatchJobOptions) error, run func(context.Context, *BatchJobOptions) error, cmd *cobra.Command) (*cobra.Command, *BatchJobOptions) {
	opts := &BatchJobOptions{Shard: -1}
	cmd.Args = jobArg
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		opts.JobID = args[0]
		if err := opts.load(f, cmd); err != nil {
			return err
		}
		if runF != nil {
			return runF(opts)
		}
		return run(cmd.Context(), opts)
	}
	return cmd, opts
}

// NewCmdBatchStatus is facectl batch status; runF, when not nil, runs instead of batchStatusRun.
func NewCmdBatchStatus(f *Factory, runF func(*BatchJobOptions) error) *cobra.Command {
	cmd, _ := newCmdBatchJob(f, runF, batchStatusRun, &cobra.Command{
		Use:     "status [flags] JOB",
		Short:   "Show a submitted job's shards, images, elapsed time and cost so far",
		Example: "  facectl batch status 0f6c3e1a-2b0d-4c6e-9a51-3d1c2b7e8f90 --output json",
	})
	return cmd
}

func batchStatusRun(ctx context.Context, o *BatchJobOptions) error {
	r, err := o.open(ctx)
	if err != nil {
		return err
	}
	st, err := r.Status(ctx, o.JobID)
	if err != nil {
		return err
	}
	return o.printStatus(st)
}

func (t *batchTarget) printStatus(st awsbatch.Status) error {
	if t.Output == "json" {
		return writeJSON(t.IO.Out, st)
	}
	fmt.Fprintf(t.IO.Out, "%s (%s) %s: %d shards: %d done, %d running, %d pending, %d failed; %d images; %s elapsed, %.3f task-hours, $%.4f; work %s\n",
		st.JobID, st.Name, st.Status, st.Shards, st.Done, st.Running, st.Pending, st.Failed, st.Images, st.Elapsed.Round(time.Second), st.TaskHours, st.CostUSD, st.Work)
	for _, i := range slices.Sorted(maps.Keys(st.FailedShards)) {
		fmt.Fprintf(t.IO.Out, "  shard %d failed: %s\n", i, st.FailedShards[i])
	}
	return nil
}

// NewCmdBatchCancel is facectl batch cancel; runF, when not nil, runs instead of batchCancelRun.
func NewCmdBatchCancel(f *Factory, runF func(*BatchJobOptions) error) *cobra.Command {
	cmd, _ := newCmdBatchJob(f, runF, batchCancelRun, &cobra.Command{
		Use:     "cancel [flags] JOB",
		Short:   "Cancel a submitted job: children not started are cancelled, running ones stopped",
		Example: "  facectl batch cancel 0f6c3e1a-2b0d-4c6e-9a51-3d1c2b7e8f90",
	})
	return cmd
}

func batchCancelRun(ctx context.Context, o *BatchJobOptions) error {
	r, err := o.open(ctx)
	if err != nil {
		return err
	}
	st, err := r.Cancel(ctx, o.JobID, "cancelled with facectl batch cancel")
	if err != nil {
		return err
	}
	return o.printStatus(st)
}

// NewCmdBatchLogs is facectl batch logs; runF, when not nil, runs instead of batchLogsRun.
func NewCmdBatchLogs(f *Factory, runF func(*BatchJobOptions) error) *cobra.Command {
	cmd, opts := newCmdBatchJob(f, runF, batchLogsRun, &cobra.Command{
		Use:     "logs [flags] JOB",
		Short:   "Print the children's logs from CloudWatch Logs",
		Example: "  facectl batch logs 0f6c3e1a-2b0d-4c6e-9a51-3d1c2b7e8f90 --shard 7",
	})
	cmd.Flags().IntVar(&opts.Shard, "shard", -1, "only this shard's child (-1: every child)")
	return cmd
}

func batchLogsRun(ctx context.Context, o *BatchJobOptions) error {
	r, err := o.open(ctx)
	if err != nil {
		return err
	}
	return r.Logs(ctx, o.JobID, o.Shard, o.IO.Out)
}

// BatchDestroyOptions are facectl batch destroy's inputs.
type BatchDestroyOptions struct {
	batchTarget
}

// NewCmdBatchDestroy is facectl batch destroy; runF, when not nil, runs instead of
// batchDestroyRun.
func NewCmdBatchDestroy(f *Factory, runF func(*BatchDestroyOptions) error) *cobra.Command {
	opts := &BatchDestroyOptions{}
	return &cobra.Command{
		Use:   "destroy [flags]",
		Short: "Delete the batch environment's CloudFormation stack",
		Long: `Delete the stack facectl-batch-NAME (compute environments, job queue, job definition, roles,
security group, log group with the children's logs). Outputs, manifests and results in S3 stay.`,
		Example: "  facectl batch destroy --name default",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.load(f, cmd); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return batchDestroyRun(cmd.Context(), opts)
		},
	}
}

func batchDestroyRun(ctx context.Context, o *BatchDestroyOptions) error {
	r, err := o.open(ctx)
	if err != nil {
		return err
	}
	found, err := r.Destroy(ctx)
	if err != nil {
		return err
	}
	what := "deleted"
	if !found {
		what = "does not exist: nothing to delete"
	}
	fmt.Fprintf(o.IO.Out, "stack %s %s\n", o.Config.StackName(), what)
	return nil
}

// BatchPolicyOptions are facectl batch policy's inputs.
type BatchPolicyOptions struct {
	IO      IOStreams
	Config  awsbatch.Config
	Inputs  []s3io.URL
	Outputs []s3io.URL
}

// NewCmdBatchPolicy is facectl batch policy; runF, when not nil, runs instead of batchPolicyRun.
func NewCmdBatchPolicy(f *Factory, runF func(*BatchPolicyOptions) error) *cobra.Command {
	opts := &BatchPolicyOptions{IO: f.IOStreams}
	var outputs [4]string // --blur, --annotate, --crop, --results
	cmd := &cobra.Command{
		Use:   "policy [flags] [s3://INPUT/PREFIX/ ...]",
		Short: "Print the least-privilege IAM policy for the person who runs facectl batch",
		Long: `Print, as JSON, the IAM policy the identity running facectl batch run, status, cancel, logs and
destroy needs: the environment's stack and what CloudFormation creates with the caller's
credentials, passing its roles to Batch and ECS tasks only, submitting and following jobs, the
children's logs, and S3: listing and reading the given inputs, writing the given outputs. Without
inputs and outputs, S3 access is to every bucket.`,
		Example: `  facectl batch policy s3://my-photos/raw/ --blur s3://my-photos-blurred/ --results s3://my-photos-blurred/results.jsonl`,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Config = awsbatch.DefaultConfig()
			if _, err := f.load(cmd, map[string]any{"batch": &opts.Config}, "text"); err != nil {
				return err
			}
			var errs []error
			for _, arg := range args {
				u, err := s3io.Parse(arg)
				errs = append(errs, err)
				opts.Inputs = append(opts.Inputs, u)
			}
			for i, d := range append(outputs[:], opts.Config.Work) {
				if d == "" {
					continue
				}
				u, err := s3io.Parse(d)
				if err == nil && i != 3 && !u.IsPrefix() {
					u.Key += "/" // an output is a prefix, except --results
				}
				errs = append(errs, err)
				opts.Outputs = append(opts.Outputs, u)
			}
			if err := errors.Join(errs...); err != nil {
				return &usageError{err: err}
			}
			if runF != nil {
				return runF(opts)
			}
			_, err := fmt.Fprint(opts.IO.Out, awsbatch.Policy(opts.Config, opts.Inputs, opts.Outputs).JSON())
			return err
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&outputs[0], "blur", "", "the run's --blur prefix")
	fs.StringVar(&outputs[1], "annotate", "", "the run's --annotate prefix")
	fs.StringVar(&outputs[2], "crop", "", "the run's --crop prefix")
	fs.StringVar(&outputs[3], "results", "", "the run's --results object")
	return cmd
}

// BatchShardOptions are facectl batch shard's inputs (a child of a job runs it).
type BatchShardOptions struct {
	Detect *DetectOptions
	Work   s3io.URL
	// Checkpoint is batch.checkpoint.
	Checkpoint time.Duration
	Log        *slog.Logger
}

// NewCmdBatchShard is facectl batch shard; runF, when not nil, runs instead of batchShardRun.
func NewCmdBatchShard(f *Factory, runF func(*BatchShardOptions) error) *cobra.Command {
	opts := &BatchShardOptions{}
	var work string
	var detect func([]string) (*DetectOptions, error)
	cmd := &cobra.Command{
		Use:    "shard --work s3://WORK/PREFIX/ [detect flags]",
		Short:  "Run one shard of a facectl batch job (the children run this)",
		Hidden: true,
		Long: `Run facectl detect on the shard whose index AWS Batch gives this child
(AWS_BATCH_JOB_ARRAY_INDEX; 0 in a job of one shard), read from the work prefix's manifest.
Results are saved every batch.checkpoint and at the end; images saved by an earlier attempt are
not done again, and outputs an earlier attempt wrote from the same source are kept. Exit status 1
when an image failed for a reason other than bad input, so that Batch retries the shard.`,
		Example: "  facectl batch shard --work s3://out/.facectl-batch/20261203T120000Z/ --blur s3://out/",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			u, err := s3io.Parse(work)
			if err != nil || !u.IsPrefix() {
				return &usageError{err: fmt.Errorf("--work %q: want the s3:// work prefix of the run", work)}
			}
			d, err := detect(nil)
			if err != nil {
				return err
			}
			cfg := awsbatch.DefaultConfig()
			log, err := f.load(cmd, map[string]any{"batch": &cfg}, "text")
			if err != nil {
				return err
			}
			opts.Detect, opts.Work, opts.Checkpoint, opts.Log = d, u, cfg.Checkpoint, log
			if runF != nil {
				return runF(opts)
			}
			return batchShardRun(cmd.Context(), opts)
		},
	}
	detect = withDetect(f, cmd)
	cmd.Flags().StringVar(&work, "work", "", "the run's s3:// work prefix (manifests and results)")
	return cmd
}
