package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/facectl/facectl/pkg/batch"
	"github.com/facectl/facectl/pkg/buildinfo"
	"github.com/facectl/facectl/pkg/face"
	"github.com/facectl/facectl/pkg/render"
	"github.com/facectl/facectl/pkg/report"
	"github.com/facectl/facectl/pkg/s3io"
)

// DetectOptions are facectl detect's inputs: its own flags, the detector and s3 sections and
// the arguments, validated.
type DetectOptions struct {
	IO          IOStreams
	Engine      Engine
	ObjectStore func(ctx context.Context, cfg s3io.Config) (objectStore, error)

	Args         []string
	Format       string
	Filter       face.Filter
	Quiet        bool
	Outputs      render.FileOutputs
	Pixelate     bool
	Results      string
	SkipExisting bool

	Detector *detectorSection
	S3       s3io.Config
	Log      *slog.Logger
	// Flags are the parsed flags, which the portable build hands to detect in the image.
	Flags *pflag.FlagSet
}

// objectStore is what detect does with S3 (*s3io.Client).
type objectStore interface {
	batch.Lister
	batch.ObjectStore
	Get(ctx context.Context, bucket, key, etag string, maxBytes int64) ([]byte, s3io.Object, error)
	PutFile(ctx context.Context, bucket, key string, f *os.File, contentType string) error
}

// resultsUploadTimeout bounds writing the results object after an interrupt cancelled the run.
const resultsUploadTimeout = 2 * time.Minute

// progressMin is the batch size from which a progress line is shown on a terminal.
const progressMin = 20

// NewCmdDetect is facectl detect; runF, when not nil, runs instead of detectRun.
func NewCmdDetect(f *Factory, runF func(*DetectOptions) error) *cobra.Command {
	o := &DetectOptions{IO: f.IOStreams, Engine: f.Engine, ObjectStore: f.ObjectStore}
	cmd := &cobra.Command{
		Use:   "detect [flags] FILE|DIR|GLOB|s3://BUCKET/PREFIX/|s3://BUCKET/KEY|- ...",
		Short: "Find faces in image files",
		Long: `Find faces in JPEG, PNG, WebP and BMP files. Arguments are files, directories (searched
recursively for image files), glob patterns, s3://BUCKET/PREFIX/ (every object under the prefix, in
key order), s3://BUCKET/KEY, or - for standard input. The outputs (--annotate, --crop, --blur) and
--results may be s3://BUCKET/PREFIX/ too; output objects record their source's ETag, and
--skip-existing keeps those made from the same source, so an interrupted run continues where it
stopped.

A file that cannot be read or is not a valid image is reported on stderr (and as an "error" result
in json, jsonl and csv) and the others are still processed; the exit code is then 1. Usage errors
exit 2. With -q nothing is printed and the exit code says whether any face was found (0) or not (2).`,
		Example: `  facectl detect photo.jpg
  facectl detect --format json ~/Pictures > faces.json
  facectl detect --annotate out/ --crop crops/ 'holiday/*.jpg'
  facectl detect --blur blurred/ --pixelate group.png
  cat photo.jpg | facectl detect -
  facectl detect -q selfie.jpg && echo "someone is there"
  facectl detect --blur s3://photos-blurred/ --results s3://photos-blurred/results.jsonl --skip-existing s3://photos/raw/`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return &usageError{err: errors.New("no input: give files, directories, glob patterns, or - for standard input")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Args, o.Flags = args, cmd.Flags()
			if err := o.complete(f, cmd); err != nil {
				return err
			}
			if runF != nil {
				return runF(o)
			}
			return detectRun(cmd.Context(), o)
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&o.Format, "format", "f", "", "output format: "+strings.Join(report.Formats, ", ")+" (default: text on a terminal, jsonl otherwise)")
	fs.Float64Var(&o.Filter.MinConfidence, "min-confidence", 0, "report only faces with at least this confidence (0..1)")
	fs.IntVar(&o.Filter.MaxFaces, "max-faces", 0, "report at most this many faces per image, most confident first (0: all)")
	fs.BoolVar(&o.Filter.Biggest, "biggest", false, "report only the largest face")
	fs.BoolVar(&o.Filter.Best, "best", false, "report only the most confident face")
	fs.BoolVarP(&o.Quiet, "quiet", "q", false, "print nothing; exit 0 if any face is found, 2 if none")
	// --query was -q's first long name; scripts that spell it so keep working.
	fs.BoolVar(&o.Quiet, "query", false, "the old name of --quiet")
	if err := fs.MarkHidden("query"); err != nil {
		panic(err)
	}
	fs.StringVar(&o.Outputs.AnnotateDir, "annotate", "", "write each image with the faces boxed into `DIR`")
	fs.StringVar(&o.Outputs.CropDir, "crop", "", "write each face as its own image into `DIR`")
	fs.Float64Var(&o.Outputs.CropMargin, "crop-margin", 0.25, "crop margin around the box, as a fraction of its size")
	fs.StringVar(&o.Outputs.BlurDir, "blur", "", "write each image with the faces blurred into `DIR`")
	fs.BoolVar(&o.Pixelate, "pixelate", false, "with --blur: pixelate instead of blurring")
	fs.BoolVar(&o.Outputs.Force, "force", false, "overwrite existing output files (inputs are never overwritten)")
	fs.IntVar(&o.Outputs.Quality, "quality", 90, "JPEG quality of written images (1..100)")
	fs.StringVar(&o.Results, "results", "", "also write one JSON line per input (its ETag, size, faces, outputs or error) to `FILE` or s3://BUCKET/KEY")
	fs.BoolVar(&o.SkipExisting, "skip-existing", false, "skip inputs whose s3:// outputs exist made from the same source ETag, and keep such outputs")
	addDetectorFlags(cmd)
	addSettingFlags(fs, "s3", false)
	return cmd
}

func (o *DetectOptions) validate() error {
	var errs []error
	if !slices.Contains(report.Formats, o.Format) {
		errs = append(errs, fmt.Errorf("--format %q: want one of %s", o.Format, strings.Join(report.Formats, ", ")))
	}
	if o.Filter.MinConfidence < 0 || o.Filter.MinConfidence > 1 {
		errs = append(errs, fmt.Errorf("--min-confidence %v: want a number from 0 to 1", o.Filter.MinConfidence))
	}
	if o.Filter.MaxFaces < 0 {
		errs = append(errs, fmt.Errorf("--max-faces %d: want 0 or more", o.Filter.MaxFaces))
	}
	if o.Outputs.CropMargin < 0 || o.Outputs.CropMargin > 2 {
		errs = append(errs, fmt.Errorf("--crop-margin %v: want a number from 0 to 2", o.Outputs.CropMargin))
	}
	if o.Outputs.Quality < 1 || o.Outputs.Quality > 100 {
		errs = append(errs, fmt.Errorf("--quality %d: want 1 to 100", o.Outputs.Quality))
	}
	if o.Pixelate && o.Outputs.BlurDir == "" {
		errs = append(errs, errors.New("--pixelate needs --blur DIR"))
	}
	if o.SkipExisting {
		// A file records nothing of its source, so only objects can say they are up to date.
		for _, d := range o.outputDirs() {
			if d != "" && !s3io.IsURL(d) {
				errs = append(errs, fmt.Errorf("--skip-existing needs s3:// outputs (%s is a directory)", d))
			}
		}
		if !o.Outputs.Any() {
			errs = append(errs, errors.New("--skip-existing needs an s3:// output (--annotate, --crop or --blur)"))
		}
	}
	return errors.Join(errs...)
}

func (o *DetectOptions) outputDirs() []string {
	return []string{o.Outputs.CropDir, o.Outputs.BlurDir, o.Outputs.AnnotateDir}
}

// objectOutputs is where detect writes outputs in S3, or nil when none is s3://.
func (o *DetectOptions) objectOutputs(store objectStore) *batch.ObjectOutputs {
	det := o.Detector
	prefixes := map[string]s3io.URL{}
	for kind, d := range map[string]string{batch.KindCrop: o.Outputs.CropDir, batch.KindBlur: o.Outputs.BlurDir, batch.KindAnnotate: o.Outputs.AnnotateDir} {
		if u, err := s3io.Parse(d); err == nil {
			prefixes[kind] = u
		}
	}
	if len(prefixes) == 0 {
		return nil
	}
	version, commit, _ := buildinfo.Info()
	if commit != "" {
		version += " " + commit
	}
	model := det.Detector
	if det.Detector == "yunet" {
		model = filepath.Base(det.Model) + " sha256:" + det.ModelSHA256
	}
	return &batch.ObjectOutputs{Store: store, Prefixes: prefixes, Force: o.Outputs.Force, SkipExisting: o.SkipExisting, Version: version, Model: model}
}

// usesS3 reports whether any argument or output is in S3.
func (o *DetectOptions) usesS3() bool {
	return slices.ContainsFunc(append(slices.Clone(o.Args), append(o.outputDirs(), o.Results)...), s3io.IsURL)
}

// complete fills in what the flags leave to the terminal and loads the detector and s3 sections.
func (o *DetectOptions) complete(f *Factory, cmd *cobra.Command) error {
	if o.Format == "" {
		o.Format = "jsonl"
		if o.IO.OutTTY {
			o.Format = "text"
		}
	}
	o.Outputs.Obscure = face.Blur
	if o.Pixelate {
		o.Outputs.Obscure = face.Pixelate
	}
	if n := len(slices.DeleteFunc(slices.Clone(o.Args), func(s string) bool { return s != batch.Stdin })); n > 1 {
		return &usageError{err: errors.New("- (standard input) may be given only once")}
	}
	o.Detector, o.S3 = defaultDetectorSection(), s3io.DefaultConfig()
	log, err := f.load(cmd, map[string]any{"detector": o.Detector, "s3": &o.S3}, "text")
	if err := errors.Join(err, o.validate()); err != nil {
		return &usageError{err: err}
	}
	o.Log = log
	return nil
}

func detectRun(ctx context.Context, o *DetectOptions) error {
	return o.Engine.Detect(ctx, o)
}

// resultsFile is --results: a local file written as results come, or for s3:// a temporary
// file put as one object at the end (S3 has no appends; the disk, not memory, holds it).
type resultsFile struct {
	report.Writer
	f   *os.File
	dst *s3io.URL
}

func openResults(name string) (*resultsFile, error) {
	if name == "" {
		return &resultsFile{Writer: discard{}}, nil
	}
	if s3io.IsURL(name) {
		u, err := s3io.Parse(name)
		if err != nil {
			return nil, err
		}
		if u.IsPrefix() {
			return nil, &usageError{err: fmt.Errorf("--results %s: give an object key, not a prefix", name)}
		}
		f, err := os.CreateTemp("", "facectl-results-*.jsonl")
		if err != nil {
			return nil, fmt.Errorf("results: %w", err)
		}
		return &resultsFile{Writer: report.NewResults(f), f: f, dst: &u}, nil
	}
	f, err := os.Create(name)
	if err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	return &resultsFile{Writer: report.NewResults(f), f: f}, nil
}

// finish closes the file and, for s3://, puts it.
func (r *resultsFile) finish(ctx context.Context, store objectStore) error {
	if r.f == nil {
		return nil
	}
	defer r.abort()
	if r.dst == nil {
		return r.f.Close()
	}
	if err := store.PutFile(ctx, r.dst.Bucket, r.dst.Key, r.f, "application/x-ndjson"); err != nil {
		return fmt.Errorf("%s: %w", r.dst, err)
	}
	return nil
}

// abort releases the file; a temporary one is removed.
func (r *resultsFile) abort() {
	if r.f == nil {
		return
	}
	r.f.Close()
	if r.dst != nil {
		os.Remove(r.f.Name())
	}
}

type discard struct{}

func (discard) Write(report.Result) error { return nil }
func (discard) Close() error              { return nil }
