package awsbatch

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"

	"github.com/facectl/facectl/pkg/batch"
	"github.com/facectl/facectl/pkg/s3io"
)

// Entry is one image of a shard manifest (one JSON line): the object as listed, and the name its
// outputs get, the same as `facectl detect` gives it for the same arguments.
type Entry struct {
	File string `json:"file"`
	Rel  string `json:"rel"`
	ETag string `json:"etag,omitempty"`
	Size int64  `json:"size"`
}

// Input is the entry as detect's input.
func (e Entry) Input() (batch.Input, error) {
	u, err := s3io.Parse(e.File)
	if err != nil {
		return batch.Input{}, fmt.Errorf("manifest entry: %w", err)
	}
	return batch.Input{Path: e.File, Rel: e.Rel, Object: &s3io.Object{Bucket: u.Bucket, Key: u.Key, ETag: e.ETag, Size: e.Size}}, nil
}

// ShardPlan is what planning found.
type ShardPlan struct {
	Shards    int   `json:"shards"`
	Images    int   `json:"images"`
	Bytes     int64 `json:"bytes"`
	ShardSize int   `json:"shard_size"`
}

// ErrTooManyShards means the input needs more children than one array job holds.
var ErrTooManyShards = fmt.Errorf("more than %d shards (AWS Batch's largest array job)", MaxArraySize)

// PlanShards cuts inputs, in their order, into shards of size images and hands each shard's
// manifest (JSON lines of Entry) to write as soon as it is full, so that only one shard is ever
// held in memory; write nil plans only (a dry run). An input that could not be listed fails the
// plan before anything is submitted.
func PlanShards(ctx context.Context, inputs iter.Seq[batch.Input], size int, write func(ctx context.Context, index int, manifest []byte) error) (ShardPlan, error) {
	p := ShardPlan{ShardSize: size}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	n := 0
	flush := func() error {
		if n == 0 {
			return nil
		}
		if p.Shards == MaxArraySize {
			return fmt.Errorf("%w: raise batch.shard_size above %d", ErrTooManyShards, size)
		}
		if write != nil {
			if err := write(ctx, p.Shards, buf.Bytes()); err != nil {
				return fmt.Errorf("writing the manifest of shard %d: %w", p.Shards, err)
			}
		}
		p.Shards++
		buf.Reset()
		n = 0
		return nil
	}
	var errs []error
	for in := range inputs {
		if err := ctx.Err(); err != nil {
			return p, err
		}
		switch {
		case in.Err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", in.Path, in.Err))
			continue
		case in.Object == nil:
			errs = append(errs, fmt.Errorf("%s: facectl batch takes s3:// inputs only", in.Path))
			continue
		}
		if err := enc.Encode(Entry{File: in.Path, Rel: in.Rel, ETag: in.Object.ETag, Size: in.Object.Size}); err != nil {
			return p, err
		}
		p.Images++
		p.Bytes += in.Object.Size
		if n++; n == size {
			if err := flush(); err != nil {
				return p, err
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return p, err
	}
	return p, flush()
}

// ReadManifest decodes a shard manifest.
func ReadManifest(r io.Reader) ([]Entry, error) {
	var out []Entry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("manifest line %d: %w", line, err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}
