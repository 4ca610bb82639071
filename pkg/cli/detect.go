package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/facectl/facectl/pkg/batch"
	"github.com/facectl/facectl/pkg/face"
	"github.com/facectl/facectl/pkg/imageio"
	"github.com/facectl/facectl/pkg/render"
	"github.com/facectl/facectl/pkg/report"
	"github.com/facectl/facectl/pkg/vision"
)

func init() { commands = append(commands, newDetectCmd) }

// detectOptions are detect's own flags (the detector's are in the config's detector section).
type detectOptions struct {
	format  string
	filter  face.Filter
	quiet   bool
	outputs render.FileOutputs
	pixel   bool
}

// progressMin is the batch size from which a progress line is shown on a terminal.
const progressMin = 20

func newDetectCmd(a *app) *cobra.Command {
	o := &detectOptions{}
	cmd := &cobra.Command{
		Use:   "detect [flags] FILE|DIR|GLOB|- ...",
		Short: "Find faces in image files",
		Long: `Find faces in JPEG, PNG, WebP and BMP files. Arguments are files, directories (searched
recursively for image files), glob patterns, or - for standard input.

A file that cannot be read or is not a valid image is reported on stderr (and as an "error" result
in json, jsonl and csv) and the others are still processed; the exit code is then 1. Usage errors
exit 2. With -q nothing is printed and the exit code says whether any face was found (0) or not (2).`,
		Example: `  facectl detect photo.jpg
  facectl detect --format json ~/Pictures > faces.json
  facectl detect --annotate out/ --crop crops/ 'holiday/*.jpg'
  facectl detect --blur blurred/ --pixelate group.png
  cat photo.jpg | facectl detect -
  facectl detect -q selfie.jpg && echo "someone is there"`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return &usageError{err: errors.New("no input: give files, directories, glob patterns, or - for standard input")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runDetect(cmd, o, args)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.format, "format", "f", "", "output format: "+strings.Join(report.Formats, ", ")+" (default: text on a terminal, jsonl otherwise)")
	f.Float64Var(&o.filter.MinConfidence, "min-confidence", 0, "report only faces with at least this confidence (0..1)")
	f.IntVar(&o.filter.MaxFaces, "max-faces", 0, "report at most this many faces per image, most confident first (0: all)")
	f.BoolVar(&o.filter.Biggest, "biggest", false, "report only the largest face")
	f.BoolVar(&o.filter.Best, "best", false, "report only the most confident face")
	f.BoolVarP(&o.quiet, "query", "q", false, "print nothing; exit 0 if any face is found, 2 if none")
	f.StringVar(&o.outputs.AnnotateDir, "annotate", "", "write each image with the faces boxed into `DIR`")
	f.StringVar(&o.outputs.CropDir, "crop", "", "write each face as its own image into `DIR`")
	f.Float64Var(&o.outputs.CropMargin, "crop-margin", 0.25, "crop margin around the box, as a fraction of its size")
	f.StringVar(&o.outputs.BlurDir, "blur", "", "write each image with the faces blurred into `DIR`")
	f.BoolVar(&o.pixel, "pixelate", false, "with --blur: pixelate instead of blurring")
	f.BoolVar(&o.outputs.Force, "force", false, "overwrite existing output files (inputs are never overwritten)")
	f.IntVar(&o.outputs.Quality, "quality", 90, "JPEG quality of written images (1..100)")
	addDetectorFlags(cmd)
	return cmd
}

func (o *detectOptions) validate() error {
	var errs []error
	if !slices.Contains(report.Formats, o.format) {
		errs = append(errs, fmt.Errorf("--format %q: want one of %s", o.format, strings.Join(report.Formats, ", ")))
	}
	if o.filter.MinConfidence < 0 || o.filter.MinConfidence > 1 {
		errs = append(errs, fmt.Errorf("--min-confidence %v: want a number from 0 to 1", o.filter.MinConfidence))
	}
	if o.filter.MaxFaces < 0 {
		errs = append(errs, fmt.Errorf("--max-faces %d: want 0 or more", o.filter.MaxFaces))
	}
	if o.outputs.CropMargin < 0 || o.outputs.CropMargin > 2 {
		errs = append(errs, fmt.Errorf("--crop-margin %v: want a number from 0 to 2", o.outputs.CropMargin))
	}
	if o.outputs.Quality < 1 || o.outputs.Quality > 100 {
		errs = append(errs, fmt.Errorf("--quality %d: want 1 to 100", o.outputs.Quality))
	}
	if o.pixel && o.outputs.BlurDir == "" {
		errs = append(errs, errors.New("--pixelate needs --blur DIR"))
	}
	return errors.Join(errs...)
}

func (a *app) runDetect(cmd *cobra.Command, o *detectOptions, args []string) error {
	if o.format == "" {
		o.format = "jsonl"
		if a.streams.OutTTY {
			o.format = "text"
		}
	}
	o.outputs.Obscure = face.Blur
	if o.pixel {
		o.outputs.Obscure = face.Pixelate
	}
	if n := len(slices.DeleteFunc(slices.Clone(args), func(s string) bool { return s != batch.Stdin })); n > 1 {
		return &usageError{err: errors.New("- (standard input) may be given only once")}
	}
	det := defaultDetectorSection()
	log, err := a.setup(cmd, map[string]any{"detector": det}, "text")
	if err := errors.Join(err, o.validate()); err != nil {
		return &usageError{err: err}
	}
	if err := det.resolveModel(); err != nil {
		return err
	}
	if err := det.Validate(); err != nil {
		return &usageError{err: fmt.Errorf("detector settings: %w", err)}
	}
	eng, err := vision.New(det.Config, log)
	if err != nil {
		return err
	}
	defer eng.Close()

	inputs := batch.Expand(args)
	var out report.Writer
	if !o.quiet {
		if out, err = report.New(o.format, a.streams.Out); err != nil {
			return err
		}
	}
	ctx := cmd.Context()
	progress := a.streams.ErrTTY && !o.quiet && len(inputs) >= progressMin
	var done, failed, faces int
	var writeErr error
	batch.Run(ctx, inputs, eng.Workers(), func(ctx context.Context, in batch.Input) report.Result {
		return a.detectOne(ctx, eng, o, in, det.Limits.MaxBytes)
	}, func(in batch.Input, r report.Result) {
		if errors.Is(r.Err, context.Canceled) {
			return // interrupted mid-file: not a result, reported once below
		}
		done++
		if r.Err != nil {
			failed++
			if progress {
				fmt.Fprint(a.streams.Err, "\r\033[K")
			}
			fmt.Fprintf(a.streams.Err, "facectl: %s: %v\n", r.File, r.Err)
		} else {
			faces += len(r.Detection.Faces)
		}
		if out != nil && writeErr == nil {
			writeErr = out.Write(r)
		}
		if progress {
			fmt.Fprintf(a.streams.Err, "\r\033[K%d/%d files, %d faces, %d errors", done, len(inputs), faces, failed)
		}
	})
	if progress {
		fmt.Fprintln(a.streams.Err)
	}
	if out != nil {
		writeErr = errors.Join(writeErr, out.Close())
	}
	switch {
	case writeErr != nil:
		return fmt.Errorf("writing results: %w", writeErr)
	case ctx.Err() != nil:
		fmt.Fprintf(a.streams.Err, "facectl: interrupted after %d of %d files\n", done, len(inputs))
		return &exitError{code: 130}
	case failed > 0:
		fmt.Fprintf(a.streams.Err, "facectl: %d of %d files failed\n", failed, len(inputs))
		return &exitError{code: ExitFailure}
	case o.quiet && faces == 0:
		return &exitError{code: ExitUsage}
	}
	return nil
}

// detectOne reads one input and detects faces in it, writing any requested output images.
func (a *app) detectOne(ctx context.Context, eng *vision.Engine, o *detectOptions, in batch.Input, maxBytes int64) report.Result {
	name := in.Path
	if in.Err != nil {
		return report.Result{File: name, Err: in.Err}
	}
	data, err := a.readInput(in, maxBytes)
	if err != nil {
		return report.Result{File: name, Err: err}
	}
	if !o.outputs.Any() {
		d, err := eng.Detect(ctx, data, o.filter)
		return report.Result{File: name, Detection: d, Err: err}
	}
	format, _ := imageio.Sniff(data)
	src := in.Path
	if src == batch.Stdin {
		src = ""
	}
	d, err := eng.WriteFiles(ctx, data, o.filter, o.outputs, in.Rel, src, format)
	return report.Result{File: name, Detection: d, Err: err}
}

func (a *app) readInput(in batch.Input, maxBytes int64) ([]byte, error) {
	if in.Path == batch.Stdin {
		return imageio.ReadLimited(a.streams.In, maxBytes)
	}
	// O_NONBLOCK: opening a FIFO for reading would otherwise block until a writer appears, and
	// no signal would stop it. It changes nothing for regular files.
	f, err := os.OpenFile(in.Path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, pe.Err
		}
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading input: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s); use - to read standard input", fileKind(st.Mode()))
	}
	return imageio.ReadLimited(f, maxBytes)
}

// fileKind names a non-regular file's type for messages.
func fileKind(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a directory"
	}
	return "mode " + m.String()
}
