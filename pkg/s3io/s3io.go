// Package s3io reads and writes the objects `facectl detect` processes in Amazon S3 (or anything
// that speaks its API: MinIO, LocalStack, moto): listing a prefix page by page, getting an object
// with a size limit, putting one with metadata and without overwriting, and reading an object's
// metadata. Errors that callers branch on are sentinels.
package s3io

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/facectl/facectl/pkg/imagecheck"
)

// Scheme starts every S3 argument.
const Scheme = "s3://"

// Sentinel errors.
var (
	// ErrNoBucket: the bucket does not exist.
	ErrNoBucket = errors.New("no such bucket")
	// ErrDenied: the credentials may not do this.
	ErrDenied = errors.New("access denied")
	// ErrNotFound: no object has this key.
	ErrNotFound = errors.New("no such object")
	// ErrExists: an object has this key and overwriting was not asked for.
	ErrExists = errors.New("object exists")
	// ErrChanged: the object changed between listing it and reading it.
	ErrChanged = errors.New("object changed since it was listed")
)

// Config is the `s3:` section of the config file; the credentials, region and endpoint come
// from the AWS SDK's usual chain (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL_S3 and the others).
type Config struct {
	// PathStyle addresses buckets as endpoint/bucket/key rather than bucket.endpoint/key, which
	// MinIO, LocalStack and moto need.
	PathStyle bool `mapstructure:"path_style" flag:"s3-path-style" help:"address buckets as ENDPOINT/BUCKET/KEY (path style), as MinIO, LocalStack and moto need"`
}

// DefaultConfig is virtual-hosted addressing, as AWS recommends.
func DefaultConfig() Config { return Config{} }

// URL is a parsed s3://bucket/key argument. A Key that is empty or ends in "/" is a prefix.
type URL struct {
	Bucket string
	Key    string
}

// IsURL reports whether s names an S3 location.
func IsURL(s string) bool { return strings.HasPrefix(s, Scheme) }

// Parse reads s3://bucket[/key].
func Parse(s string) (URL, error) {
	if !IsURL(s) {
		return URL{}, fmt.Errorf("%q is not an s3:// URL", s)
	}
	bucket, key, _ := strings.Cut(strings.TrimPrefix(s, Scheme), "/")
	// Bucket names are 3 to 63 characters of lower-case letters, digits, dots and hyphens:
	// https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
	if len(bucket) < 3 || len(bucket) > 63 || strings.Trim(bucket, "abcdefghijklmnopqrstuvwxyz0123456789.-") != "" {
		return URL{}, fmt.Errorf("%q: bucket name %q is not valid (3 to 63 lower-case letters, digits, dots, hyphens)", s, bucket)
	}
	return URL{Bucket: bucket, Key: key}, nil
}

// IsPrefix reports whether u names every object under a prefix rather than one object.
func (u URL) IsPrefix() bool { return u.Key == "" || strings.HasSuffix(u.Key, "/") }

// String is the s3:// form.
func (u URL) String() string { return Scheme + u.Bucket + "/" + u.Key }

// Contains reports whether the prefix u holds the key or prefix v (same bucket, v under u).
func (u URL) Contains(v URL) bool { return u.Bucket == v.Bucket && strings.HasPrefix(v.Key, u.Key) }

// Object is one object's listing or metadata.
type Object struct {
	Bucket      string
	Key         string
	ETag        string
	Size        int64
	ContentType string
	// Metadata is the user metadata (x-amz-meta-*), keys in lower case; set by Head only.
	Metadata map[string]string
}

// URL is the object's location.
func (o Object) URL() URL { return URL{Bucket: o.Bucket, Key: o.Key} }

// Client is an S3 client with the operations facectl uses.
type Client struct {
	api *s3.Client
}

// New loads the SDK's configuration the usual way and builds a client.
func New(ctx context.Context, cfg Config) (*Client, error) {
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	return NewFromConfig(awsCfg, cfg), nil
}

// NewFromConfig builds a client from an SDK configuration (tests add middleware to it).
func NewFromConfig(awsCfg aws.Config, cfg Config) *Client {
	return &Client{api: s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = cfg.PathStyle })}
}

// CheckBucket makes sure the bucket exists and the credentials may use it, before any work.
func (c *Client) CheckBucket(ctx context.Context, bucket string) error {
	_, err := c.api.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &bucket})
	if err != nil {
		return fmt.Errorf("s3://%s: %w", bucket, classify(err, ErrNoBucket))
	}
	return nil
}

// List yields every object under prefix in key order (S3 lists keys in UTF-8 binary order:
// https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html), one page of at most
// 1,000 keys in memory at a time. A failed page ends the sequence with its error.
func (c *Client) List(ctx context.Context, bucket, prefix string) iter.Seq2[Object, error] {
	return func(yield func(Object, error) bool) {
		p := s3.NewListObjectsV2Paginator(c.api, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				yield(Object{}, fmt.Errorf("listing s3://%s/%s: %w", bucket, prefix, classify(err, ErrNoBucket)))
				return
			}
			for _, o := range page.Contents {
				obj := Object{Bucket: bucket, Key: aws.ToString(o.Key), ETag: aws.ToString(o.ETag), Size: aws.ToInt64(o.Size)}
				if !yield(obj, nil) {
					return
				}
			}
		}
	}
}

// Get reads an object of at most maxBytes (0: no limit). With etag set, an object whose ETag is
// no longer that (it was replaced since it was listed) is refused with ErrChanged.
func (c *Client) Get(ctx context.Context, bucket, key, etag string, maxBytes int64) ([]byte, Object, error) {
	in := &s3.GetObjectInput{Bucket: &bucket, Key: &key}
	if etag != "" {
		in.IfMatch = &etag
	}
	out, err := c.api.GetObject(ctx, in)
	if err != nil {
		var re *smithyhttp.ResponseError
		if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusPreconditionFailed {
			return nil, Object{}, ErrChanged
		}
		return nil, Object{}, classify(err, ErrNotFound)
	}
	defer out.Body.Close()
	obj := Object{Bucket: bucket, Key: key, ETag: aws.ToString(out.ETag), Size: aws.ToInt64(out.ContentLength), ContentType: aws.ToString(out.ContentType)}
	if maxBytes > 0 && obj.Size > maxBytes {
		// Refused from the header, so an oversized object is never downloaded.
		return nil, obj, TooLarge(maxBytes)
	}
	data, err := imagecheck.ReadLimited(out.Body, maxBytes)
	if err != nil {
		return nil, obj, err
	}
	if out.ContentLength != nil && int64(len(data)) != obj.Size {
		return nil, obj, fmt.Errorf("reading object: %w after %d of %d bytes", io.ErrUnexpectedEOF, len(data), obj.Size)
	}
	return data, obj, nil
}

// TooLarge is the error for an object over maxBytes, worded as imagecheck.ReadLimited words it for
// files.
func TooLarge(maxBytes int64) error {
	limit := fmt.Sprintf("%.2f MiB (%d bytes)", float64(maxBytes)/(1<<20), maxBytes)
	if maxBytes%(1<<20) == 0 {
		limit = fmt.Sprintf("%d MiB", maxBytes>>20)
	}
	return fmt.Errorf("%w: input exceeds the %s limit", imagecheck.ErrTooLarge, limit)
}

// Head reads an object's size, ETag, content type and user metadata.
func (c *Client) Head(ctx context.Context, bucket, key string) (Object, error) {
	out, err := c.api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return Object{}, classify(err, ErrNotFound)
	}
	return Object{Bucket: bucket, Key: key, ETag: aws.ToString(out.ETag), Size: aws.ToInt64(out.ContentLength),
		ContentType: aws.ToString(out.ContentType), Metadata: out.Metadata}, nil
}

// Put is one object to write.
type Put struct {
	Bucket, Key string
	// Body is the content; it must be seekable so the SDK can sign and retry it.
	Body        io.ReadSeeker
	ContentType string
	Metadata    map[string]string
	// Overwrite replaces an existing object; without it Put fails with ErrExists.
	Overwrite bool
}

// Put writes an object. Without Overwrite it is a conditional write (If-None-Match: *), so that
// two writers never replace each other's object:
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
func (c *Client) Put(ctx context.Context, p Put) error {
	in := &s3.PutObjectInput{Bucket: &p.Bucket, Key: &p.Key, Body: p.Body, Metadata: p.Metadata}
	if p.ContentType != "" {
		in.ContentType = &p.ContentType
	}
	if !p.Overwrite {
		in.IfNoneMatch = aws.String("*")
	}
	if _, err := c.api.PutObject(ctx, in); err != nil {
		var re *smithyhttp.ResponseError
		// 412: the object exists; 409: a concurrent conditional write to the same key won.
		if errors.As(err, &re) && (re.HTTPStatusCode() == http.StatusPreconditionFailed || re.HTTPStatusCode() == http.StatusConflict) {
			return ErrExists
		}
		return classify(err, ErrNoBucket)
	}
	return nil
}

// PutFile writes the file f (for the results file, spooled on disk while the run goes on).
func (c *Client) PutFile(ctx context.Context, bucket, key string, f *os.File, contentType string) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	return c.Put(ctx, Put{Bucket: bucket, Key: key, Body: f, ContentType: contentType, Overwrite: true})
}

// classify maps the S3 errors callers act on to sentinels: notFound for a 404 (which one depends
// on the operation: HEAD answers carry no error code), ErrDenied for a 403.
func classify(err error, notFound error) error {
	var nsb *types.NoSuchBucket
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	var ae smithy.APIError
	var re *smithyhttp.ResponseError
	switch {
	case errors.As(err, &nsb):
		return ErrNoBucket
	case errors.As(err, &nsk):
		return ErrNotFound
	case errors.As(err, &ae) && ae.ErrorCode() == "NoSuchBucket":
		return ErrNoBucket
	case errors.As(err, &ae) && ae.ErrorCode() == "AccessDenied":
		return ErrDenied
	case errors.As(err, &nf), errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound:
		return notFound
	case errors.As(err, &re) && re.HTTPStatusCode() == http.StatusForbidden:
		return ErrDenied
	}
	return err
}
