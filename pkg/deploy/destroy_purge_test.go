package deploy

import (
	"encoding/json"
	"fmt"
	"testing"
)

// TestDeleteImagesBatchesOf100 deletes 250 digests: ECR takes at most 100 image IDs a
// BatchDeleteImage call, so it must see 100, 100 and 50.
func TestDeleteImagesBatchesOf100(t *testing.T) {
	stub := newAWSStub(t)
	var sizes []int
	for range 3 {
		stub.expect(&stubCall{op: "ecr.BatchDeleteImage", status: 200, body: `{"imageIds":[],"failures":[]}`, check: func(t *testing.T, body string) {
			var in struct{ ImageIds []map[string]string }
			if err := json.Unmarshal([]byte(body), &in); err != nil {
				t.Fatal(err)
			}
			if len(in.ImageIds) > 100 {
				t.Errorf("BatchDeleteImage with %d image IDs; ECR allows 100", len(in.ImageIds))
			}
			sizes = append(sizes, len(in.ImageIds))
		}})
	}
	d, err := New(stubConfig(), stub.deps(t, &lockedBuffer{}))
	if err != nil {
		t.Fatal(err)
	}
	var digests []string
	for i := range 250 {
		digests = append(digests, fmt.Sprintf("sha256:%064x", i))
	}
	if err := d.deleteImages(ctxT(t, 10e9), digests); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(sizes) != "[100 100 50]" {
		t.Errorf("batches = %v, want [100 100 50]", sizes)
	}
}
