package awsbatch

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/facectl/facectl/pkg/imagecheck"
	"github.com/facectl/facectl/pkg/report"
	"github.com/facectl/facectl/pkg/s3io"
)

// Summary is what a finished job did, from its shards' results.
type Summary struct {
	Images  int `json:"images"`
	Faces   int `json:"faces"`
	Skipped int `json:"skipped"`
	// BadInput are images that are not valid images (not an image, truncated, too large): the
	// run is still a success with them.
	BadInput int `json:"bad_input"`
	// Failed are images that failed for another reason (S3 access, an object gone).
	Failed int `json:"failed"`
	// Reasons counts the failures by reason (bad input included), most frequent first in text.
	Reasons map[string]int `json:"failure_reasons,omitempty"`
	// Unrecorded are images of the plan with no result (their shard failed before saving them).
	Unrecorded int `json:"unrecorded"`
	// MissingShards are shards with no results (their child failed every attempt).
	MissingShards []int          `json:"missing_shards,omitempty"`
	FailedShards  map[int]string `json:"failed_shards,omitempty"`
	Wall          time.Duration  `json:"wall_ns"`
	TaskHours     float64        `json:"task_hours"`
	CostUSD       float64        `json:"cost_usd"`
	// Results is where the merged results file went.
	Results string `json:"results,omitempty"`
}

// OK reports whether every image was processed or failed only as bad input, and every shard
// succeeded.
func (s Summary) OK() bool {
	return s.Failed == 0 && s.Unrecorded == 0 && len(s.MissingShards) == 0 && len(s.FailedShards) == 0
}

// badInput are the errors of inputs that are not images facectl can read: no retry helps.
var badInput = []error{imagecheck.ErrEmpty, imagecheck.ErrUnsupported, imagecheck.ErrTooLarge, imagecheck.ErrTooManyPixels, imagecheck.ErrCorrupt}

// IsBadInput reports whether a results record's error says the input itself is bad (its text
// carries one of imagecheck's sentinels, which every decode error wraps).
func IsBadInput(msg string) bool {
	for _, e := range badInput {
		if strings.Contains(msg, e.Error()) {
			return true
		}
	}
	return false
}

// reason is a failure's reason without the object's own details (sizes, offsets), for counting.
func reason(msg string) string {
	for _, e := range badInput {
		if strings.Contains(msg, e.Error()) {
			return e.Error()
		}
	}
	if i := strings.Index(msg, ": "); i > 0 && strings.HasPrefix(msg, "s3://") {
		return msg[i+2:]
	}
	return msg
}

// add counts one record.
func (s *Summary) add(rec report.Record) {
	s.Images++
	switch {
	case rec.Error != "":
		if s.Reasons == nil {
			s.Reasons = map[string]int{}
		}
		s.Reasons[reason(rec.Error)]++
		if IsBadInput(rec.Error) {
			s.BadInput++
		} else {
			s.Failed++
		}
	case rec.Skipped:
		s.Skipped++
	default:
		s.Faces += len(rec.Faces)
	}
}

// merge reads every shard's results in shard order, writes them as one file to dst (s3:// or
// local; empty: none) and sums them up.
func (r *Runner) merge(ctx context.Context, st Status, dst string) (Summary, error) {
	sum := Summary{Wall: st.Elapsed, TaskHours: st.TaskHours, CostUSD: st.CostUSD, FailedShards: st.FailedShards, Results: dst}
	work, err := s3io.Parse(st.Work)
	if err != nil {
		return sum, err
	}
	f, err := os.CreateTemp("", "facectl-batch-results-*.jsonl")
	if err != nil {
		return sum, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	w := bufio.NewWriter(f)
	for i := range st.Shards {
		data, _, err := r.deps.S3.Get(ctx, work.Bucket, resultsKey(work, i), "", 0)
		if errors.Is(err, s3io.ErrNotFound) {
			sum.MissingShards = append(sum.MissingShards, i)
			continue
		}
		if err != nil {
			return sum, fmt.Errorf("reading the results of shard %d: %w", i, err)
		}
		recs, err := ReadRecords(bytes.NewReader(data))
		if err != nil {
			return sum, fmt.Errorf("shard %d: %w", i, err)
		}
		for _, rec := range recs {
			sum.add(rec)
		}
		if _, err := w.Write(data); err != nil {
			return sum, err
		}
	}
	if err := w.Flush(); err != nil {
		return sum, err
	}
	switch {
	case dst == "":
	case s3io.IsURL(dst):
		u, err := s3io.Parse(dst)
		if err != nil {
			return sum, err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return sum, err
		}
		if err := r.deps.S3.Put(ctx, s3io.Put{Bucket: u.Bucket, Key: u.Key, Body: f, ContentType: "application/x-ndjson", Overwrite: true}); err != nil {
			return sum, fmt.Errorf("writing the results %s: %w", dst, err)
		}
	default:
		if err := os.Rename(f.Name(), dst); err != nil {
			// Another file system: copy.
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return sum, err
			}
			out, err := os.Create(dst)
			if err != nil {
				return sum, fmt.Errorf("results: %w", err)
			}
			_, err = io.Copy(out, f)
			if err := errors.Join(err, out.Close()); err != nil {
				return sum, fmt.Errorf("results: %w", err)
			}
		}
	}
	sort.Ints(sum.MissingShards)
	sum.Unrecorded = max(0, st.Images-sum.Images)
	return sum, nil
}

// ReadRecords decodes a results file.
func ReadRecords(r io.Reader) ([]report.Record, error) {
	var out []report.Record
	dec := json.NewDecoder(r)
	for {
		var rec report.Record
		err := dec.Decode(&rec)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("results record %d: %w", len(out)+1, err)
		}
		out = append(out, rec)
	}
}
