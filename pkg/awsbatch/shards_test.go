package awsbatch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/facectl/facectl/pkg/batch"
	"github.com/facectl/facectl/pkg/s3io"
)

// pagedBucket stands in for S3 listing: it makes its keys page by page (1,000 a page, as
// ListObjectsV2 does), so a million keys are never held by the stub itself.
type pagedBucket struct {
	keys  int
	pages int
}

func (b *pagedBucket) CheckBucket(context.Context, string) error { return nil }

func (b *pagedBucket) List(ctx context.Context, bucket, prefix string) iter.Seq2[s3io.Object, error] {
	return func(yield func(s3io.Object, error) bool) {
		for start := 0; start < b.keys; start += 1000 {
			b.pages++
			page := make([]s3io.Object, 0, 1000)
			for i := start; i < min(start+1000, b.keys); i++ {
				page = append(page, s3io.Object{Bucket: bucket, Key: fmt.Sprintf("%scam-%04d/2026-12-03/img-%08d.jpg", prefix, i/5000, i),
					ETag: fmt.Sprintf(`"%032x"`, i), Size: 3_500_000})
			}
			for _, o := range page {
				if !yield(o, nil) {
					return
				}
			}
		}
	}
}

func TestPlanShards(t *testing.T) {
	b := &pagedBucket{keys: 2501}
	plan, err := batch.Open(context.Background(), []string{"s3://in-photos/raw/"}, nil, b)
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int
	var first []Entry
	p, err := PlanShards(context.Background(), plan.Inputs, 1000, func(_ context.Context, i int, m []byte) error {
		if i != len(sizes) {
			t.Errorf("shard %d written after %d", i, len(sizes))
		}
		entries, err := ReadManifest(bytes.NewReader(m))
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = entries
		}
		sizes = append(sizes, len(entries))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if p != (ShardPlan{Shards: 3, Images: 2501, Bytes: 2501 * 3_500_000, ShardSize: 1000}) || fmt.Sprint(sizes) != "[1000 1000 501]" {
		t.Fatalf("plan %+v, shard sizes %v", p, sizes)
	}
	want := Entry{File: "s3://in-photos/raw/cam-0000/2026-12-03/img-00000000.jpg", Rel: "raw/cam-0000/2026-12-03/img-00000000.jpg", ETag: `"00000000000000000000000000000000"`, Size: 3_500_000}
	if first[0] != want {
		t.Errorf("first entry %+v, want %+v", first[0], want)
	}
	in, err := first[0].Input()
	if err != nil || in.Object.Bucket != "in-photos" || in.Object.Key != "raw/cam-0000/2026-12-03/img-00000000.jpg" || in.Rel != want.Rel {
		t.Errorf("entry as input: %+v %v", in, err)
	}
}

func TestPlanShardsRefusesBadInputs(t *testing.T) {
	inputs := []batch.Input{
		{Path: "s3://in-photos/raw/", Err: errors.New("no objects under this prefix")},
		{Path: "local.jpg", Rel: "local.jpg"},
	}
	var wrote int
	_, err := PlanShards(context.Background(), func(yield func(batch.Input) bool) {
		for _, in := range inputs {
			if !yield(in) {
				return
			}
		}
	}, 10, func(context.Context, int, []byte) error { wrote++; return nil })
	if err == nil || !strings.Contains(err.Error(), "no objects under this prefix") || !strings.Contains(err.Error(), "local.jpg: facectl batch takes s3:// inputs only") || wrote != 0 {
		t.Fatalf("err %v, %d manifests written", err, wrote)
	}

	many := func(yield func(batch.Input) bool) {
		for i := range MaxArraySize + 1 {
			if !yield(batch.Input{Path: "s3://b/k" + strconv.Itoa(i), Object: &s3io.Object{}}) {
				return
			}
		}
	}
	if _, err := PlanShards(context.Background(), many, 1, nil); !errors.Is(err, ErrTooManyShards) {
		t.Fatalf("%d shards: %v", MaxArraySize+1, err)
	}
}

// TestPlanMillionKeys is the bound: listing and planning 1,000,000 keys in under a
// minute and 200 MB. Peak RSS is the process's own high-water mark (VmHWM), test binary included.
func TestPlanMillionKeys(t *testing.T) {
	b := &pagedBucket{keys: 1_000_000}
	started := time.Now()
	plan, err := batch.Open(context.Background(), []string{"s3://in-photos/raw/"}, []string{"s3://out-photos/blurred/"}, b)
	if err != nil {
		t.Fatal(err)
	}
	var manifestBytes int
	p, err := PlanShards(context.Background(), plan.Inputs, DefaultShardSize, func(_ context.Context, _ int, m []byte) error {
		manifestBytes += len(m)
		return nil
	})
	elapsed := time.Since(started)
	if err != nil {
		t.Fatal(err)
	}
	hwm := peakRSS(t)
	t.Logf("1,000,000 keys, %d pages: %d shards, %.1f MB of manifests, %v, peak RSS %.1f MB", b.pages, p.Shards, float64(manifestBytes)/1e6, elapsed.Round(time.Millisecond), float64(hwm)/(1<<20))
	if p.Images != 1_000_000 || p.Shards != 1_000_000/DefaultShardSize || b.pages != 1000 {
		t.Fatalf("plan %+v after %d pages", p, b.pages)
	}
	if elapsed > time.Minute || hwm > 200<<20 {
		t.Fatalf("%v and %d MB: want under a minute and 200 MB", elapsed, hwm>>20)
	}
}

// peakRSS is VmHWM from /proc/self/status, in bytes.
func peakRSS(t *testing.T) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}
