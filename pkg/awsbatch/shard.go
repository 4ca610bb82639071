package awsbatch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"

	"github.com/facectl/facectl/pkg/batch"
	"github.com/facectl/facectl/pkg/report"
	"github.com/facectl/facectl/pkg/s3io"
)

// TestIndexFromJobID is a test-only switch: moto does not set AWS_BATCH_JOB_ARRAY_INDEX (AWS
// always does for array children), so a test's children set it to take the index from
// AWS_BATCH_JOB_ID (<parent>:<index>) instead.
const TestIndexFromJobID = "FACECTL_BATCH_TEST_INDEX_FROM_JOB_ID"

// ShardIndex is this child's shard: AWS_BATCH_JOB_ARRAY_INDEX, which AWS Batch sets in every
// array child (https://docs.aws.amazon.com/batch/latest/userguide/array_jobs.html), or 0 in a
// job of one shard, which is not an array.
func ShardIndex(getenv func(string) string) (int, error) {
	v := getenv("AWS_BATCH_JOB_ARRAY_INDEX")
	if v == "" && getenv(TestIndexFromJobID) == "1" {
		_, v, _ = strings.Cut(getenv("AWS_BATCH_JOB_ID"), ":")
	}
	if v == "" {
		return 0, nil
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 {
		return 0, fmt.Errorf("AWS_BATCH_JOB_ARRAY_INDEX %q: not an index", v)
	}
	return i, nil
}

// Shard is one child's work: its manifest, and the results saved so far by this and earlier
// attempts (a child interrupted by Spot or a crash is run again by Batch).
type Shard struct {
	Index   int
	Work    s3io.URL
	Entries []Entry
	store   Store
	// records are the results by manifest position; nil: not done yet.
	records []*report.Record
	pos     map[string]int
}

// OpenShard reads shard index's manifest and any results an earlier attempt saved.
func OpenShard(ctx context.Context, store Store, work s3io.URL, index int) (*Shard, error) {
	data, _, err := store.Get(ctx, work.Bucket, manifestKey(work, index), "", 0)
	if err != nil {
		return nil, fmt.Errorf("reading the manifest of shard %d (%s): %w", index, work, err)
	}
	entries, err := ReadManifest(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	s := &Shard{Index: index, Work: work, Entries: entries, store: store, records: make([]*report.Record, len(entries)), pos: map[string]int{}}
	for i, e := range entries {
		s.pos[e.File] = i
	}
	saved, _, err := store.Get(ctx, work.Bucket, resultsKey(work, index), "", 0)
	switch {
	case errors.Is(err, s3io.ErrNotFound):
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("reading the saved results of shard %d: %w", index, err)
	}
	recs, err := ReadRecords(bytes.NewReader(saved))
	if err != nil {
		return nil, fmt.Errorf("the saved results of shard %d: %w", index, err)
	}
	for _, rec := range recs {
		// A failure that is not the input's own may pass on a retry: it is done again.
		if rec.Error != "" && !IsBadInput(rec.Error) {
			continue
		}
		if i, ok := s.pos[rec.File]; ok {
			s.records[i] = &rec
		}
	}
	return s, nil
}

// Saved is the number of images an earlier attempt finished.
func (s *Shard) Saved() int {
	n := 0
	for _, r := range s.records {
		if r != nil {
			n++
		}
	}
	return n
}

// Pending yields the images still to do, in manifest order.
func (s *Shard) Pending() iter.Seq[batch.Input] {
	return func(yield func(batch.Input) bool) {
		for i, e := range s.Entries {
			if s.records[i] != nil {
				continue
			}
			in, err := e.Input()
			if err != nil {
				in = batch.Input{Path: e.File, Err: err}
			}
			if !yield(in) {
				return
			}
		}
	}
}

// Record keeps one image's result.
func (s *Shard) Record(rec report.Record) {
	if i, ok := s.pos[rec.File]; ok {
		s.records[i] = &rec
	}
}

// Failed counts the results that failed for a reason other than bad input (a retry may help).
func (s *Shard) Failed() int {
	n := 0
	for _, r := range s.records {
		if r != nil && r.Error != "" && !IsBadInput(r.Error) {
			n++
		}
	}
	return n
}

// Save writes the results so far, in manifest order, as the shard's results object: the
// checkpoint a retry starts from, and at the end the shard's part of the merged results.
func (s *Shard) Save(ctx context.Context) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, r := range s.records {
		if r != nil {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
	}
	err := s.store.Put(ctx, s3io.Put{Bucket: s.Work.Bucket, Key: resultsKey(s.Work, s.Index), Body: bytes.NewReader(buf.Bytes()),
		ContentType: "application/x-ndjson", Overwrite: true})
	if err != nil {
		return fmt.Errorf("saving the results of shard %d: %w", s.Index, err)
	}
	return nil
}
