package batch

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"path"
	"slices"
	"strings"

	"github.com/facectl/facectl/pkg/s3io"
)

// Lister is what Open needs of object storage (*s3io.Client has it).
type Lister interface {
	CheckBucket(ctx context.Context, bucket string) error
	List(ctx context.Context, bucket, prefix string) iter.Seq2[s3io.Object, error]
}

// ErrOverlap means an output location lies inside an input prefix (the run would read its own
// outputs) or an input inside an output prefix (an output could replace an input).
var ErrOverlap = errors.New("overlaps")

// Plan is a checked set of arguments: their inputs as a sequence, read lazily so that a prefix of
// millions of objects is never held in memory.
type Plan struct {
	// Inputs yields every input in argument order, each prefix's objects in key order.
	Inputs iter.Seq[Input]
	// Count is the number of inputs, or -1 when an S3 prefix makes it unknown until listed.
	Count int
}

// Open checks args before any work: every s3:// argument is well formed, its bucket and the
// bucket of every s3:// output in outputs exists and may be used, and no output overlaps an
// input prefix. Local arguments are expanded: files, directories walked recursively (entries
// sorted), glob patterns and "-", each problem an input with Err set.
func Open(ctx context.Context, args, outputs []string, store Lister) (*Plan, error) {
	var remote []s3io.URL
	var errs []error
	for _, a := range args {
		if s3io.IsURL(a) {
			u, err := s3io.Parse(a)
			errs = append(errs, err)
			remote = append(remote, u)
		}
	}
	var outs []s3io.URL
	for _, o := range outputs {
		if s3io.IsURL(o) {
			u, err := s3io.Parse(o)
			errs = append(errs, err)
			outs = append(outs, u)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, in := range remote {
		for _, out := range outs {
			if (in.IsPrefix() && in.Contains(out)) || (out.IsPrefix() && out.Contains(in)) {
				errs = append(errs, fmt.Errorf("output %s %w input %s: give an output prefix outside the input", out, ErrOverlap, in))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(remote)+len(outs) > 0 {
		if store == nil {
			return nil, errors.New("internal: s3:// arguments without an S3 client")
		}
		var buckets []string
		for _, u := range append(slices.Clone(remote), outs...) {
			if !slices.Contains(buckets, u.Bucket) {
				buckets = append(buckets, u.Bucket)
				errs = append(errs, store.CheckBucket(ctx, u.Bucket))
			}
		}
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
	}

	// Local arguments are expanded now, all together so that their output names stay unique;
	// S3 prefixes are listed as the run reaches them.
	var local []Input
	var spans [][2]int
	for _, a := range args {
		start := len(local)
		if !s3io.IsURL(a) {
			local = append(local, expandArg(a)...)
		}
		spans = append(spans, [2]int{start, len(local)})
	}
	uniqueRels(local)
	count := len(local)
	for _, u := range remote {
		if u.IsPrefix() {
			count = -1
			break
		}
		count++
	}
	seq := func(yield func(Input) bool) {
		ri := 0
		for i, a := range args {
			if !s3io.IsURL(a) {
				for _, in := range local[spans[i][0]:spans[i][1]] {
					if !yield(in) {
						return
					}
				}
				continue
			}
			u := remote[ri]
			ri++
			if !u.IsPrefix() {
				if !yield(Input{Path: u.String(), Rel: path.Base(u.Key), Object: &s3io.Object{Bucket: u.Bucket, Key: u.Key}}) {
					return
				}
				continue
			}
			if !listPrefix(ctx, store, u, yield) {
				return
			}
		}
	}
	return &Plan{Inputs: seq, Count: count}, nil
}

// listPrefix yields the objects under u, named like files found in a directory: the prefix's
// last segment, then the key below it. It returns false when yield asked to stop.
func listPrefix(ctx context.Context, store Lister, u s3io.URL, yield func(Input) bool) bool {
	base := path.Base(strings.TrimSuffix(u.Key, "/"))
	if u.Key == "" {
		base = ""
	}
	n := 0
	for obj, err := range store.List(ctx, u.Bucket, u.Key) {
		if err != nil {
			return yield(Input{Path: u.String(), Err: err})
		}
		if strings.HasSuffix(obj.Key, "/") {
			continue // a folder marker the console makes, not an image
		}
		n++
		o := obj
		if !yield(Input{Path: o.URL().String(), Rel: path.Join(base, strings.TrimPrefix(o.Key, u.Key)), Object: &o}) {
			return false
		}
	}
	if n == 0 {
		// Said out loud, as for an empty directory: usually a wrong prefix, not an empty result.
		return yield(Input{Path: u.String(), Err: errors.New("no objects under this prefix")})
	}
	return true
}
