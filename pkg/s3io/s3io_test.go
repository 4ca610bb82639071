package s3io

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/facectl/facectl/internal/testenv"
	"github.com/facectl/facectl/pkg/imagecheck"
)

// startMoto runs a moto_server on a free 127.0.0.1 port and returns a client for its S3, which
// needs path-style addressing, behind a proxy that answers 403 AccessDenied for the bucket
// "denied-bucket": moto does not evaluate IAM, so denial is made at the HTTP boundary.
func startMoto(t *testing.T) (*Client, *s3.Client) {
	t.Helper()
	target, _ := url.Parse(testenv.StartMoto(t))
	testenv.FakeAWS(t)
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/denied-bucket") {
			// The body S3 sends: https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	awsCfg, err := awsconfig.LoadDefaultConfig(t.Context(), awsconfig.WithBaseEndpoint(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	raw := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = true })
	return NewFromConfig(awsCfg, Config{PathStyle: true}), raw
}

func mkBucket(t *testing.T, raw *s3.Client, name string) {
	t.Helper()
	if _, err := raw.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatal(err)
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in     string
		want   URL
		prefix bool
		bad    bool
	}{
		{in: "s3://photos/raw/", want: URL{"photos", "raw/"}, prefix: true},
		{in: "s3://photos", want: URL{"photos", ""}, prefix: true},
		{in: "s3://photos/raw/a b ü.jpg", want: URL{"photos", "raw/a b ü.jpg"}},
		{in: "s3://ab/x", bad: true},
		{in: "s3://Photos/x", bad: true},
		{in: "photos/x", bad: true},
	} {
		u, err := Parse(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("Parse(%q) = %v, want an error", tc.in, u)
			}
			continue
		}
		if err != nil || u != tc.want || u.IsPrefix() != tc.prefix {
			t.Errorf("Parse(%q) = %+v (prefix %v), %v; want %+v (prefix %v)", tc.in, u, u.IsPrefix(), err, tc.want, tc.prefix)
		}
	}
}

// TestAgainstMoto covers listing past one page (1,000 keys) in key order with spaces and
// non-ASCII characters, missing and denied buckets, the size limit, conditional gets and puts.
func TestAgainstMoto(t *testing.T) {
	c, raw := startMoto(t)
	ctx := t.Context()
	mkBucket(t, raw, "listing")
	var keys []string
	for i := range 1030 {
		keys = append(keys, fmt.Sprintf("p/%04d.jpg", i))
	}
	keys = append(keys, "p/with space.jpg", "p/ünïcødé 写真.jpg", "p/sub/dir/x.png")
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, k := range append(slices.Clone(keys), "other/not-listed.jpg") {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := c.Put(ctx, Put{Bucket: "listing", Key: k, Body: strings.NewReader(k)}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	slices.Sort(keys) // S3's order is UTF-8 byte order, which is Go's string order
	var got []string
	for o, err := range c.List(ctx, "listing", "p/") {
		if err != nil {
			t.Fatal(err)
		}
		if o.ETag == "" || o.Size != int64(len(o.Key)) {
			t.Errorf("listed %+v: want its ETag and size", o)
		}
		got = append(got, o.Key)
	}
	if !slices.Equal(got, keys) {
		t.Errorf("listed %d keys, want %d in key order; first differences: %v", len(got), len(keys), firstDiff(got, keys))
	}

	t.Run("buckets", func(t *testing.T) {
		if err := c.CheckBucket(ctx, "listing"); err != nil {
			t.Errorf("existing bucket: %v", err)
		}
		if err := c.CheckBucket(ctx, "no-such-bucket"); !errors.Is(err, ErrNoBucket) {
			t.Errorf("missing bucket: %v, want ErrNoBucket", err)
		}
		if err := c.CheckBucket(ctx, "denied-bucket"); !errors.Is(err, ErrDenied) {
			t.Errorf("denied bucket: %v, want ErrDenied", err)
		}
		for _, err := range c.List(ctx, "denied-bucket", "") {
			if !errors.Is(err, ErrDenied) {
				t.Errorf("listing a denied bucket: %v, want ErrDenied", err)
			}
		}
	})

	t.Run("get", func(t *testing.T) {
		data, obj, err := c.Get(ctx, "listing", "p/with space.jpg", "", 100)
		if err != nil || string(data) != "p/with space.jpg" || obj.ETag == "" {
			t.Fatalf("Get = %q, %+v, %v", data, obj, err)
		}
		if _, _, err := c.Get(ctx, "listing", "p/with space.jpg", "", 5); !errors.Is(err, imagecheck.ErrTooLarge) {
			t.Errorf("over the limit: %v, want ErrTooLarge", err)
		}
		if _, _, err := c.Get(ctx, "listing", "p/missing.jpg", "", 0); !errors.Is(err, ErrNotFound) {
			t.Errorf("missing key: %v, want ErrNotFound", err)
		}
		if err := c.Put(ctx, Put{Bucket: "listing", Key: "p/with space.jpg", Body: strings.NewReader("replaced"), Overwrite: true}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Get(ctx, "listing", "p/with space.jpg", obj.ETag, 0); !errors.Is(err, ErrChanged) {
			t.Errorf("replaced since listed: %v, want ErrChanged", err)
		}
	})

	t.Run("put", func(t *testing.T) {
		p := Put{Bucket: "listing", Key: "out/a.png", Body: strings.NewReader("one"), ContentType: "image/png", Metadata: map[string]string{"facectl-source-etag": `"abc"`}}
		if err := c.Put(ctx, p); err != nil {
			t.Fatal(err)
		}
		p.Body = strings.NewReader("two")
		if err := c.Put(ctx, p); !errors.Is(err, ErrExists) {
			t.Errorf("second put without overwrite: %v, want ErrExists", err)
		}
		head, err := c.Head(ctx, "listing", "out/a.png")
		if err != nil || head.ContentType != "image/png" || head.Metadata["facectl-source-etag"] != `"abc"` || head.Size != 3 {
			t.Errorf("Head = %+v, %v: want the first put's type, metadata and size", head, err)
		}
		p.Body, p.Overwrite = strings.NewReader("three"), true
		if err := c.Put(ctx, p); err != nil {
			t.Errorf("overwrite: %v", err)
		}
		if _, err := c.Head(ctx, "listing", "out/none.png"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Head of a missing key: %v, want ErrNotFound", err)
		}
		f, err := os.CreateTemp(t.TempDir(), "r")
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(f, "line\n")
		if err := c.PutFile(ctx, "listing", "out/results.jsonl", f, "application/x-ndjson"); err != nil {
			t.Fatal(err)
		}
		if data, _, err := c.Get(ctx, "listing", "out/results.jsonl", "", 0); err != nil || string(data) != "line\n" {
			t.Errorf("PutFile wrote %q, %v", data, err)
		}
	})
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("at %d: %q vs %q", i, a[i], b[i])
		}
	}
	return "one is a prefix of the other"
}
