//go:build cgo

package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/facectl/facectl/pkg/awsbatch"
	"github.com/facectl/facectl/pkg/batch"
	"github.com/facectl/facectl/pkg/report"
	"github.com/facectl/facectl/pkg/s3io"
	"github.com/facectl/facectl/pkg/vision"
)

// batchShardRun is one child of a facectl batch job: detect on its shard's pending images,
// saving the results as it goes.
func batchShardRun(ctx context.Context, o *BatchShardOptions) error {
	d, log := o.Detect, o.Log
	vision.TuneAllocator() // as detect: thousands of photos of many sizes
	if err := d.Detector.resolveModel(); err != nil {
		return err
	}
	if err := d.Detector.Validate(); err != nil {
		return &usageError{err: fmt.Errorf("detector settings: %w", err)}
	}
	for _, dir := range []*string{&d.Outputs.CropDir, &d.Outputs.BlurDir, &d.Outputs.AnnotateDir} {
		if s3io.IsURL(*dir) && !strings.HasSuffix(*dir, "/") {
			*dir += "/" // an output is always a prefix, as in detect
		}
	}
	index, err := awsbatch.ShardIndex(os.Getenv)
	if err != nil {
		return &usageError{err: err}
	}
	store, err := d.ObjectStore(ctx, d.S3)
	if err != nil {
		return err
	}
	sh, err := awsbatch.OpenShard(ctx, store, o.Work, index)
	if err != nil {
		return err
	}
	log.Info("shard", "index", index, "images", len(sh.Entries), "saved_by_earlier_attempts", sh.Saved())
	eng, err := vision.New(d.Detector.Config, log)
	if err != nil {
		return err
	}
	defer eng.Close()
	objOut := d.objectOutputs(store)
	if objOut != nil {
		// An output an earlier attempt wrote from the same source is kept as written.
		objOut.SkipExisting = true
	}
	saveCtx := context.WithoutCancel(ctx)
	var saveErr error
	last := time.Now()
	done := 0
	batch.Run(ctx, sh.Pending(), 2*eng.Workers(), func(ctx context.Context, in batch.Input) report.Result {
		return detectOne(ctx, eng, d, in, d.Detector.Limits.MaxBytes, store, objOut)
	}, func(_ batch.Input, r report.Result) {
		if errors.Is(r.Err, context.Canceled) {
			return // interrupted mid-image: done again by the next attempt
		}
		sh.Record(report.NewRecord(r))
		done++
		if time.Since(last) >= o.Checkpoint && saveErr == nil {
			saveErr = sh.Save(saveCtx)
			last = time.Now()
			log.Info("saved", "index", index, "done", done)
		}
	})
	// Saved even when interrupted (Spot gives two minutes): the next attempt starts from it.
	if err := errors.Join(saveErr, sh.Save(saveCtx)); err != nil {
		return err
	}
	log.Info("shard done", "index", index, "processed", done, "failed", sh.Failed())
	if ctx.Err() != nil {
		return &exitError{code: 130}
	}
	if sh.Failed() > 0 {
		// Failures a retry may fix (S3, an object gone): Batch runs the shard again.
		return &exitError{code: ExitFailure}
	}
	return nil
}
