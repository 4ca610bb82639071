package deploy

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// A deploy of an image not yet tagged as deployed tags it (before the task definition uses
// it), and replaces an older facectl lifecycle policy that expired by count alone.
func TestDeployProtectsItsImageFromTheLifecyclePolicy(t *testing.T) {
	const builtDigest = "sha256:3333333333333333333333333333333333333333333333333333333333333333"
	stub := newAWSStub(t)
	stub.expect(preflightCalls()...)
	oldPolicy := `{"rules":[{"rulePriority":1,"description":"keep the last 30 images (facectl deploy)","selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":30},"action":{"type":"expire"}}]}`
	stub.expect(
		ok("ecr.DescribeRepositories", `{"repositories":[{"repositoryName":"facectl","repositoryUri":"123456789012.dkr.ecr.us-east-1.amazonaws.com/facectl"}]}`),
		ok("ecr.GetLifecyclePolicy", `{"repositoryName":"facectl","lifecyclePolicyText":`+jsonString(oldPolicy)+`}`),
		&stubCall{op: "ecr.PutLifecyclePolicy", status: 200, body: `{"repositoryName":"facectl"}`, check: func(t *testing.T, body string) {
			if !strings.Contains(body, deployedTagPrefix) {
				t.Errorf("PutLifecyclePolicy body = %s", body)
			}
		}},
		ok("ecr.GetAuthorizationToken", `{"authorizationData":[{"authorizationToken":"QVdTOnNlY3JldA==","proxyEndpoint":"https://123456789012.dkr.ecr.us-east-1.amazonaws.com"}]}`),
		ok("ecr.DescribeImages", `{"imageDetails":[{"repositoryName":"facectl","imageDigest":"`+builtDigest+`","imageTags":["abc123"]}]}`),
		ok("ecr.BatchGetImage", `{"images":[{"repositoryName":"facectl","imageId":{"imageDigest":"`+builtDigest+`"},"imageManifest":"{\"schemaVersion\":2}","imageManifestMediaType":"application/vnd.oci.image.manifest.v1+json"}],"failures":[]}`),
		&stubCall{op: "ecr.PutImage", status: 200, body: `{"image":{"repositoryName":"facectl"}}`, check: func(t *testing.T, body string) {
			want := `"imageTag":"` + deployedPrefix("facectl", "facectl") + strings.TrimPrefix(builtDigest, "sha256:") + `"`
			if !strings.Contains(body, want) || !strings.Contains(body, `"imageManifest":"{\"schemaVersion\":2}"`) {
				t.Errorf("PutImage body = %s, want %s", body, want)
			}
		}},
		// Stop here: the rest of the deploy is tested elsewhere.
		fail("logs.DescribeLogGroups", 400, "AccessDeniedException", "stop"),
	)
	cfg := stubConfig()
	cfg.Image.URI = ""
	cfg.Image.Tag = "abc123"
	deps := stub.deps(t, &lockedBuffer{})
	deps.Docker = &pushingDocker{digest: builtDigest}
	stub.coverWithPolicy(cfg)
	res, _ := Run(ctxT(t, 10*time.Second), cfg, deps, Options{})
	var tagged bool
	for _, a := range res.Actions {
		tagged = tagged || (a.Resource == "image tag" && a.Verb == "create")
	}
	if !tagged {
		t.Errorf("actions = %+v", res.Actions)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
