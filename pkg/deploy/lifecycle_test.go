package deploy

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// The lifecycle policy keeps the last keep_deployed deployed images first (an image a rule
// matches is never expired by a later rule), and follows ECR's rules: "any" last, tagged rules
// with a prefix list.
func TestLifecyclePolicyKeepsDeployedImages(t *testing.T) {
	var p struct {
		Rules []struct {
			RulePriority int `json:"rulePriority"`
			Selection    struct {
				TagStatus     string   `json:"tagStatus"`
				TagPrefixList []string `json:"tagPrefixList"`
				CountType     string   `json:"countType"`
				CountUnit     string   `json:"countUnit"`
				CountNumber   int      `json:"countNumber"`
			} `json:"selection"`
		} `json:"rules"`
	}
	if err := json.Unmarshal([]byte(lifecyclePolicy(ImageConfig{KeepImages: 30, KeepDeployed: 12})), &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Rules) != 3 {
		t.Fatalf("rules = %+v", p.Rules)
	}
	first, untagged, rest := p.Rules[0].Selection, p.Rules[1].Selection, p.Rules[2].Selection
	if p.Rules[0].RulePriority != 1 || first.TagStatus != "tagged" || len(first.TagPrefixList) != 1 || first.TagPrefixList[0] != deployedTagPrefix ||
		first.CountType != "imageCountMoreThan" || first.CountNumber != 12 {
		t.Errorf("the last keep_deployed deployed images are not kept first: %+v", p.Rules[0])
	}
	if untagged.TagStatus != "untagged" || untagged.CountType != "sinceImagePushed" || untagged.CountUnit != "days" || len(untagged.TagPrefixList) > 0 {
		t.Errorf("untagged rule = %+v", untagged)
	}
	if rest.TagStatus != "any" || rest.CountNumber != 30 || p.Rules[2].RulePriority <= p.Rules[1].RulePriority {
		t.Errorf("the any rule must be last and keep keep_images: %+v", p.Rules[2])
	}
	if !ownLifecyclePolicy(lifecyclePolicy(DefaultConfig().Image)) || ownLifecyclePolicy(`{"rules":[]}`) {
		t.Error("facectl's policy is not told from the user's")
	}
}

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
			want := `"imageTag":"` + deployedTagPrefix + strings.TrimPrefix(builtDigest, "sha256:") + `"`
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
