//go:build !cgo

package cli

import (
	"context"
	"errors"
)

// batchShardRun runs only in the facectl image, whose binary links OpenCV: the children of a
// facectl batch job run there.
func batchShardRun(context.Context, *BatchShardOptions) error {
	return errors.New("facectl batch shard runs in the facectl container image (a build with OpenCV): AWS Batch runs it there")
}
