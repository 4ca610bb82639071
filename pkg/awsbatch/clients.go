package awsbatch

import (
	"context"
	"iter"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsbatch "github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/facectl/facectl/pkg/deploy"
	"github.com/facectl/facectl/pkg/s3io"
)

// BatchAPI is the part of the AWS Batch client facectl batch calls.
type BatchAPI interface {
	SubmitJob(ctx context.Context, in *awsbatch.SubmitJobInput, optFns ...func(*awsbatch.Options)) (*awsbatch.SubmitJobOutput, error)
	DescribeJobs(ctx context.Context, in *awsbatch.DescribeJobsInput, optFns ...func(*awsbatch.Options)) (*awsbatch.DescribeJobsOutput, error)
	ListJobs(ctx context.Context, in *awsbatch.ListJobsInput, optFns ...func(*awsbatch.Options)) (*awsbatch.ListJobsOutput, error)
	TerminateJob(ctx context.Context, in *awsbatch.TerminateJobInput, optFns ...func(*awsbatch.Options)) (*awsbatch.TerminateJobOutput, error)
}

// EC2API finds the default VPC and checks subnets.
type EC2API interface {
	DescribeVpcs(ctx context.Context, in *ec2.DescribeVpcsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVpcsOutput, error)
	DescribeSubnets(ctx context.Context, in *ec2.DescribeSubnetsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error)
}

// LogsAPI reads the children's logs.
type LogsAPI interface {
	GetLogEvents(ctx context.Context, in *cloudwatchlogs.GetLogEventsInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.GetLogEventsOutput, error)
}

// Store is what facectl batch does with S3 (*s3io.Client has it).
type Store interface {
	CheckBucket(ctx context.Context, bucket string) error
	List(ctx context.Context, bucket, prefix string) iter.Seq2[s3io.Object, error]
	Get(ctx context.Context, bucket, key, etag string, maxBytes int64) ([]byte, s3io.Object, error)
	Head(ctx context.Context, bucket, key string) (s3io.Object, error)
	Put(ctx context.Context, p s3io.Put) error
}

// Deps are the collaborators; NewDeps builds the real ones.
type Deps struct {
	Region string
	Batch  BatchAPI
	EC2    EC2API
	Logs   LogsAPI
	CFN    deploy.CFNAPI
	S3     Store
	// Log receives progress messages (stderr in the CLI); nil discards them.
	Log *slog.Logger
	// Now is the clock (tests pin it); nil means time.Now.
	Now func() time.Time
}

// NewDeps builds the AWS clients from awsCfg and the S3 client s3c.
func NewDeps(awsCfg aws.Config, s3c Store) Deps {
	return Deps{
		Region: awsCfg.Region,
		Batch:  awsbatch.NewFromConfig(awsCfg),
		EC2:    ec2.NewFromConfig(awsCfg),
		Logs:   cloudwatchlogs.NewFromConfig(awsCfg),
		CFN:    cloudformation.NewFromConfig(awsCfg),
		S3:     s3c,
	}
}

func (d Deps) log() *slog.Logger {
	if d.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Log
}

func (d Deps) now() time.Time {
	if d.Now == nil {
		return time.Now()
	}
	return d.Now()
}
