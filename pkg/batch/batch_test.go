package batch

import (
	"context"
	"fmt"
	"iter"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/facectl/facectl/pkg/s3io"
)

func TestRunKeepsInputOrder(t *testing.T) {
	var inputs []Input
	for i := range 200 {
		inputs = append(inputs, Input{Path: fmt.Sprint(i)})
	}
	var running, peak atomic.Int32
	var got []string
	Run(context.Background(), slices.Values(inputs), 4, func(_ context.Context, in Input) string {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond) // shuffle completion order
		running.Add(-1)
		return "r" + in.Path
	}, func(in Input, r string) {
		if r != "r"+in.Path {
			t.Errorf("result %s delivered with input %s", r, in.Path)
		}
		got = append(got, in.Path)
	})
	if len(got) != 200 || !slices.IsSortedFunc(got, func(a, b string) int { return atoi(a) - atoi(b) }) {
		t.Fatalf("order: %v", got)
	}
	if peak.Load() > 4 || peak.Load() < 2 {
		t.Errorf("peak concurrency %d, want 2..4", peak.Load())
	}
}

func atoi(s string) int { var n int; fmt.Sscan(s, &n); return n }

func TestRunStopsOnCancel(t *testing.T) {
	inputs := make([]Input, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	var processed, emitted atomic.Int32
	Run(ctx, slices.Values(inputs), 2, func(context.Context, Input) int {
		if processed.Add(1) == 10 {
			cancel()
		}
		return 0
	}, func(Input, int) { emitted.Add(1) })
	if processed.Load() > 20 || emitted.Load() != processed.Load() {
		t.Fatalf("processed %d, emitted %d after cancel", processed.Load(), emitted.Load())
	}
}

func TestOpenExpandsLocalArguments(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a.jpg", "b.PNG", "notes.txt", "sub/c.webp", "sub/deeper/d.jpeg", "sub/e.bmp"} {
		p := filepath.Join(dir, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("x"), 0o644)
	}
	t.Chdir(dir)
	plan, err := Open(context.Background(), []string{"sub", "*.jpg", "notes.txt", "missing.jpg", "nomatch*.png", "-"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := slices.Collect(plan.Inputs)
	var lines []string
	for _, in := range got {
		l := in.Path + " " + in.Rel
		if in.Err != nil {
			l = in.Path + " error: " + in.Err.Error()
		}
		lines = append(lines, l)
	}
	want := []string{
		"sub/c.webp sub/c.webp",
		"sub/deeper/d.jpeg sub/deeper/d.jpeg",
		"sub/e.bmp sub/e.bmp",
		"a.jpg a.jpg",
		"notes.txt notes.txt", // explicit files are read whatever their name
		"missing.jpg error: no such file or directory",
		"nomatch*.png error: no file matches this pattern",
		"- stdin",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("local arguments:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// fakeLister pages n keys under every prefix, counting how many it has handed out; it fails the
// test on any bucket it was not told about.
type fakeLister struct {
	t       *testing.T
	buckets map[string]error
	n       int
	yielded atomic.Int32
}

func (f *fakeLister) CheckBucket(_ context.Context, bucket string) error {
	err, ok := f.buckets[bucket]
	if !ok {
		f.t.Errorf("unexpected bucket %q", bucket)
	}
	return err
}

func (f *fakeLister) List(_ context.Context, bucket, prefix string) iter.Seq2[s3io.Object, error] {
	return func(yield func(s3io.Object, error) bool) {
		for i := range f.n {
			f.yielded.Add(1)
			if !yield(s3io.Object{Bucket: bucket, Key: fmt.Sprintf("%s%06d.jpg", prefix, i), Size: 1}, nil) {
				return
			}
		}
	}
}

// TestOpenStreamsListing: a prefix is read only as far as the work has got (a bounded lookahead),
// in order, mixed with local arguments in argument order.
func TestOpenStreamsListing(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.jpg"), []byte("x"), 0o644)
	t.Chdir(dir)
	store := &fakeLister{t: t, buckets: map[string]error{"in-bucket": nil, "out-bucket": nil}, n: 100_000}
	plan, err := Open(t.Context(), []string{"a.jpg", "s3://in-bucket/raw/", "s3://in-bucket/one.jpg"}, []string{"s3://out-bucket/x/", ""}, store)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Count != -1 {
		t.Errorf("Count %d, want -1 (a prefix)", plan.Count)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	const workers = 2
	var got []string
	Run(ctx, plan.Inputs, workers, func(context.Context, Input) int { return 0 }, func(in Input, _ int) {
		got = append(got, in.Path+" "+in.Rel)
		if ahead := int(store.yielded.Load()) - (len(got) - 1); ahead > 2*workers+2 {
			t.Fatalf("listed %d objects ahead of the work, want at most %d", ahead, 2*workers+2)
		}
		if len(got) == 1000 {
			cancel()
		}
	})
	if got[0] != "a.jpg a.jpg" || got[1] != "s3://in-bucket/raw/000000.jpg raw/000000.jpg" || got[2] != "s3://in-bucket/raw/000001.jpg raw/000001.jpg" {
		t.Errorf("first inputs %q", got[:3])
	}
	if len(got) > 1000+2*workers {
		t.Errorf("%d inputs after cancelling at 1000", len(got))
	}
}

func TestOpenRefuses(t *testing.T) {
	store := &fakeLister{t: t, buckets: map[string]error{"in-bucket": nil, "gone-bucket": s3io.ErrNoBucket}}
	for _, tc := range []struct {
		args, outs []string
		want       string
	}{
		{[]string{"s3://in-bucket/raw/"}, []string{"s3://in-bucket/raw/out/"}, "output s3://in-bucket/raw/out/ overlaps input s3://in-bucket/raw/"},
		{[]string{"s3://in-bucket/raw/a.jpg"}, []string{"s3://in-bucket/"}, "overlaps input s3://in-bucket/raw/a.jpg"},
		{[]string{"s3://in-bucket/raw/"}, []string{"s3://gone-bucket/x/"}, "no such bucket"},
		{[]string{"s3://x/"}, nil, "not valid"},
	} {
		_, err := Open(t.Context(), tc.args, tc.outs, store)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q, %q) = %v, want %q", tc.args, tc.outs, err, tc.want)
		}
	}
	// Separate buckets, or sibling prefixes, do not overlap.
	if _, err := Open(t.Context(), []string{"s3://in-bucket/raw/"}, []string{"s3://in-bucket/rawblurred/"}, store); err != nil {
		t.Errorf("a sibling prefix with the same start: %v", err)
	}
}
