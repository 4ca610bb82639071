//go:build cgo

package cli

// detect with the engine linked into this binary.

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/facectl/facectl/pkg/batch"
	"github.com/facectl/facectl/pkg/face"
	"github.com/facectl/facectl/pkg/imagecheck"
	"github.com/facectl/facectl/pkg/render"
	"github.com/facectl/facectl/pkg/report"
	"github.com/facectl/facectl/pkg/s3io"
	"github.com/facectl/facectl/pkg/vision"
)

// Detect runs detect in this process, with the linked OpenCV.
func (linkedEngine) Detect(ctx context.Context, o *DetectOptions) error {
	// Photos of many sizes otherwise grow RSS by glibc's fragmentation (BENCHMARKS.md).
	vision.TuneAllocator()
	det := o.Detector
	var err error
	if err := det.resolveModel(); err != nil {
		return err
	}
	if err := det.Validate(); err != nil {
		return &usageError{err: fmt.Errorf("detector settings: %w", err)}
	}
	for _, d := range []*string{&o.Outputs.CropDir, &o.Outputs.BlurDir, &o.Outputs.AnnotateDir} {
		if s3io.IsURL(*d) && !strings.HasSuffix(*d, "/") {
			*d += "/" // an output is always a prefix, as a directory is
		}
	}
	var store objectStore
	if o.usesS3() {
		if store, err = o.ObjectStore(ctx, o.S3); err != nil {
			return err
		}
	}
	// Checked before the detector loads, so a wrong bucket fails at once.
	plan, err := batch.Open(ctx, o.Args, append(o.outputDirs(), o.Results), store)
	if errors.Is(err, batch.ErrOverlap) {
		return &usageError{err: err}
	}
	if err != nil {
		return err
	}
	objOut := o.objectOutputs(store)
	results, err := openResults(o.Results)
	if err != nil {
		return err
	}
	eng, err := vision.New(det.Config, o.Log)
	if err != nil {
		results.abort()
		return err
	}
	defer eng.Close()

	var out report.Writer
	if !o.Quiet {
		if out, err = report.New(o.Format, o.IO.Out); err != nil {
			results.abort()
			return err
		}
	}
	progress := o.IO.ErrTTY && !o.Quiet && (plan.Count < 0 || plan.Count >= progressMin)
	total := ""
	if plan.Count >= 0 {
		total = fmt.Sprintf("/%d", plan.Count)
	}
	workers := eng.Workers()
	if store != nil {
		// Twice as many inputs in flight as detectors, so that objects download while others are
		// detected (the engine makes the extra ones wait for a detector).
		workers *= 2
	}
	var done, failed, faces, skipped int
	var writeErr error
	batch.Run(ctx, plan.Inputs, workers, func(ctx context.Context, in batch.Input) report.Result {
		return detectOne(ctx, eng, o, in, det.Limits.MaxBytes, store, objOut)
	}, func(in batch.Input, r report.Result) {
		if errors.Is(r.Err, context.Canceled) {
			return // interrupted mid-file: not a result, reported once below
		}
		done++
		switch {
		case r.Err != nil:
			failed++
			if progress {
				fmt.Fprint(o.IO.Err, "\r\033[K")
			}
			fmt.Fprintf(o.IO.Err, "facectl: %s: %v\n", r.File, r.Err)
		case r.Skipped:
			skipped++
		default:
			faces += len(r.Detection.Faces)
		}
		if out != nil && writeErr == nil {
			writeErr = out.Write(r)
		}
		if writeErr == nil {
			writeErr = results.Write(r)
		}
		if progress {
			fmt.Fprintf(o.IO.Err, "\r\033[K%d%s files, %d faces, %d errors, %d skipped", done, total, faces, failed, skipped)
		}
	})
	if progress {
		fmt.Fprintln(o.IO.Err)
	}
	if out != nil {
		writeErr = errors.Join(writeErr, out.Close())
	}
	// Written even after an interrupt: it is the record of what was done.
	upCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), resultsUploadTimeout)
	defer cancel()
	writeErr = errors.Join(writeErr, results.finish(upCtx, store))
	if total == "" {
		total = fmt.Sprintf(" (%d listed)", done)
		if ctx.Err() != nil {
			total = ""
		}
	}
	switch {
	case writeErr != nil:
		return fmt.Errorf("writing results: %w", writeErr)
	case ctx.Err() != nil:
		fmt.Fprintf(o.IO.Err, "facectl: interrupted after %d%s files\n", done, total)
		return &exitError{code: 130}
	case failed > 0:
		fmt.Fprintf(o.IO.Err, "facectl: %d of %d files failed\n", failed, done)
		return &exitError{code: ExitFailure}
	case o.Quiet && faces == 0:
		return &exitError{code: ExitUsage}
	}
	return nil
}

// detectOne reads one input and detects faces in it, writing any requested output images.
func detectOne(ctx context.Context, eng *vision.Engine, o *DetectOptions, in batch.Input, maxBytes int64, store objectStore, objOut *batch.ObjectOutputs) report.Result {
	name := in.Path
	if in.Err != nil {
		return report.Result{File: name, Err: in.Err}
	}
	src := batch.Source{Name: name, Object: in.Object}
	var data []byte
	var err error
	if in.Object != nil {
		var skip []string
		data, skip, err = readObject(ctx, o, in, maxBytes, store, objOut, &src)
		if errors.Is(err, errSkipped) {
			return report.Result{File: name, Skipped: true, ETag: src.ETag, Size: in.Object.Size, Outputs: skip}
		}
	} else {
		data, err = readInput(o.IO, in, maxBytes)
		if err == nil {
			sum := md5.Sum(data)
			src.ETag = `"` + hex.EncodeToString(sum[:]) + `"`
			if objOut != nil && o.SkipExisting {
				keys, done, derr := objOut.Done(ctx, in.Rel, src.ETag)
				if derr == nil && done {
					return report.Result{File: name, Skipped: true, ETag: src.ETag, Size: int64(len(data)), Outputs: keys}
				}
				err = derr
			}
		}
	}
	res := report.Result{File: name, ETag: src.ETag, Size: int64(len(data)), Err: err}
	if err != nil {
		return res
	}
	if !o.Outputs.Any() {
		res.Detection, res.Err = eng.Detect(ctx, data, o.Filter)
		return res
	}
	src.Format, _ = imagecheck.Sniff(data)
	local := in.Path
	if local == batch.Stdin || in.Object != nil {
		local = ""
	}
	res.Detection, res.Err = eng.RenderOutputs(ctx, data, o.Filter, o.Outputs, src.Format, func(d face.Detection, r render.Rendered) error {
		kind := string(r.Kind)
		if objOut != nil {
			if _, ok := objOut.Prefixes[kind]; ok {
				u, err := objOut.Put(ctx, src, in.Rel, kind, r.Face, len(d.Faces), r.Data, r.Format)
				res.Outputs = append(res.Outputs, u)
				return err
			}
		}
		p := o.Outputs.Path(in.Rel, r)
		res.Outputs = append(res.Outputs, p)
		return o.Outputs.Save(p, local, r.Data)
	})
	if res.Err != nil {
		res.Detection = face.Detection{}
	}
	return res
}

// errSkipped is readObject's answer for an input whose outputs are up to date.
var errSkipped = errors.New("outputs exist")

// readObject reads an S3 input, or finds with --skip-existing that it need not be read (then
// it returns errSkipped and the outputs' keys).
func readObject(ctx context.Context, o *DetectOptions, in batch.Input, maxBytes int64, store objectStore, objOut *batch.ObjectOutputs, src *batch.Source) ([]byte, []string, error) {
	obj := in.Object
	if maxBytes > 0 && obj.Size > maxBytes {
		// Known from the listing: an oversized object is never downloaded.
		return nil, nil, s3io.TooLarge(maxBytes)
	}
	if objOut != nil && o.SkipExisting {
		etag := obj.ETag
		if etag == "" {
			head, err := store.Head(ctx, obj.Bucket, obj.Key)
			if err != nil {
				return nil, nil, err
			}
			etag = head.ETag
			obj.Size = head.Size
		}
		keys, done, err := objOut.Done(ctx, in.Rel, etag)
		if err != nil {
			return nil, nil, err
		}
		if done {
			src.ETag = etag
			return nil, keys, errSkipped
		}
	}
	data, got, err := store.Get(ctx, obj.Bucket, obj.Key, obj.ETag, maxBytes)
	if errors.Is(err, s3io.ErrNotFound) && obj.ETag != "" {
		err = fmt.Errorf("%w (deleted since it was listed)", err)
	}
	if err != nil {
		return nil, nil, err
	}
	src.ETag, src.ContentType = got.ETag, got.ContentType
	return data, nil, nil
}

func readInput(streams IOStreams, in batch.Input, maxBytes int64) ([]byte, error) {
	if in.Path == batch.Stdin {
		return imagecheck.ReadLimited(streams.In, maxBytes)
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
	return imagecheck.ReadLimited(f, maxBytes)
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
