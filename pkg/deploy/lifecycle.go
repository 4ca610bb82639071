package deploy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

// deployedTagPrefix marks the images facectl deployed: it tags each with
// facectl-deployed-<digest hex>, which never moves to another image. A task definition pins its
// image by digest, so a running service or a rollback target may use an image whose ordinary
// tag was moved or which is older than the last keep_images pushes: the lifecycle policy keeps
// the last keep_deployed of these apart from the others.
const deployedTagPrefix = "facectl-deployed-"

// deployedPrefix is the deployed-tag prefix of one (cluster, service): facectl-deployed-,
// 8 hex digits of a hash of the exact names, '-'. A digest's hex has no '-', so no other
// service's prefix, and no tag of an older facectl (facectl-deployed-<64 hex>), starts with it.
func deployedPrefix(cluster, service string) string {
	h := sha256.Sum256([]byte(clusterName(cluster) + "/" + service))
	return deployedTagPrefix + hex.EncodeToString(h[:4]) + "-"
}

// lifecycleRule is one rule of an ECR lifecycle policy.
type lifecycleRule struct {
	RulePriority int               `json:"rulePriority"`
	Description  string            `json:"description"`
	Selection    lifecycleSelect   `json:"selection"`
	Action       map[string]string `json:"action"`
}

type lifecycleSelect struct {
	TagStatus     string   `json:"tagStatus"`
	TagPrefixList []string `json:"tagPrefixList,omitempty"`
	CountType     string   `json:"countType"`
	CountUnit     string   `json:"countUnit,omitempty"`
	CountNumber   int      `json:"countNumber"`
}

// lifecyclePolicy is facectl's ECR lifecycle policy for the service, merged with the
// per-service rules of the other facectl services in existing (the repository's current
// policy, "" for none): each service's deployed images (its own tag prefix) keep their own
// last keep_deployed, so no service's deploys can expire another's running image or rollback
// targets (an image a rule matches is never expired by a lower-priority rule, and a prefix
// never matches another service's tags). Then images tagged by older facectl versions (one
// shared prefix), untagged images after a day, and of the rest the newest keep_images.
//
// It takes the image settings and names rather than the Config: the build reads them beside the
// environment stage, which changes other settings (applyOutputs).
func lifecyclePolicy(c ImageConfig, cluster, service, existing string) string {
	mine := deployedPrefix(cluster, service)
	byPrefix := map[string]lifecycleRule{}
	var cur struct {
		Rules []lifecycleRule `json:"rules"`
	}
	if ownLifecyclePolicy(existing) && json.Unmarshal([]byte(existing), &cur) == nil {
		for _, r := range cur.Rules {
			if p := r.Selection.TagPrefixList; len(p) == 1 && len(p[0]) > len(deployedTagPrefix) && strings.HasPrefix(p[0], deployedTagPrefix) && p[0] != mine {
				byPrefix[p[0]] = r
			}
		}
	}
	byPrefix[mine] = lifecycleRule{
		Description: fmt.Sprintf("keep the last %d images facectl deployed for service %s in cluster %s: task definitions run them by digest (facectl deploy)", c.KeepDeployed, service, clusterName(cluster)),
		Selection:   lifecycleSelect{TagStatus: "tagged", TagPrefixList: []string{mine}, CountType: "imageCountMoreThan", CountNumber: c.KeepDeployed},
	}
	var rules []lifecycleRule
	for _, p := range keysOf(byPrefix) {
		rules = append(rules, byPrefix[p])
	}
	rules = append(rules,
		lifecycleRule{Description: fmt.Sprintf("keep the last %d images an older facectl deployed (facectl deploy)", c.KeepDeployed),
			Selection: lifecycleSelect{TagStatus: "tagged", TagPrefixList: []string{deployedTagPrefix}, CountType: "imageCountMoreThan", CountNumber: c.KeepDeployed}},
		lifecycleRule{Description: "expire untagged images after a day (facectl deploy)",
			Selection: lifecycleSelect{TagStatus: "untagged", CountType: "sinceImagePushed", CountUnit: "days", CountNumber: 1}},
		lifecycleRule{Description: fmt.Sprintf("keep the last %d other images (facectl deploy)", c.KeepImages),
			Selection: lifecycleSelect{TagStatus: "any", CountType: "imageCountMoreThan", CountNumber: c.KeepImages}},
	)
	for i := range rules {
		rules[i].RulePriority = i + 1
		rules[i].Action = map[string]string{"type": "expire"}
	}
	b, _ := json.Marshal(map[string]any{"rules": rules})
	return string(b)
}

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func lifecycleSummary(c ImageConfig) string {
	return fmt.Sprintf("keep the last %d deployed images, expire untagged ones after a day, keep the last %d others", c.KeepDeployed, c.KeepImages)
}

// ownLifecyclePolicy reports whether a lifecycle policy was written by facectl.
func ownLifecyclePolicy(text string) bool { return strings.Contains(text, "(facectl deploy)") }

// protectImage tags the image about to be deployed facectl-deployed-<digest> in facectl's
// repository, before any task definition uses it, so the lifecycle policy keeps it. Images
// elsewhere (another repository, account or registry) are not under facectl's policy.
func (r *run) protectImage(ctx context.Context, img imageRef) error {
	ecrImg, ok := parseECRImage(img.Ref)
	if !ok || img.Digest == "" || ecrImg.Account != r.account || ecrImg.Region != r.deps.Region || ecrImg.Repository != r.cfg.Image.Repository {
		return nil
	}
	tag := deployedPrefix(r.cfg.Cluster, r.cfg.Service) + strings.TrimPrefix(img.Digest, "sha256:")
	repo := aws.String(ecrImg.Repository)
	id := []ecrtypes.ImageIdentifier{{ImageDigest: aws.String(img.Digest)}}
	desc, err := r.deps.ECR.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: repo, ImageIds: id})
	var notFound *ecrtypes.ImageNotFoundException
	switch {
	case errors.As(err, &notFound) && r.dryRun:
		return nil // not pushed yet
	case err != nil:
		return fmt.Errorf("reading image %s to tag it as deployed: %w", img.Digest, explain(err))
	case len(desc.ImageDetails) > 0 && slices.Contains(desc.ImageDetails[0].ImageTags, tag):
		return nil
	}
	r.res.add("image tag", tag, "create", "kept by the lifecycle policy while deployed")
	if r.dryRun {
		return nil
	}
	r.log.Info("tagging the image as deployed, so the lifecycle policy keeps it", "tag", tag)
	got, err := r.deps.ECR.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: repo, ImageIds: id,
		AcceptedMediaTypes: []string{
			"application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
			"application/vnd.docker.distribution.manifest.list.v2+json", "application/vnd.docker.distribution.manifest.v2+json",
		}})
	if err != nil {
		return fmt.Errorf("reading the manifest of %s to tag it as deployed: %w", img.Digest, explain(err))
	}
	if len(got.Images) == 0 {
		return fmt.Errorf("reading the manifest of %s to tag it as deployed: not in repository %s", img.Digest, ecrImg.Repository)
	}
	m := got.Images[0]
	_, err = r.deps.ECR.PutImage(ctx, &ecr.PutImageInput{RepositoryName: repo, ImageManifest: m.ImageManifest,
		ImageManifestMediaType: m.ImageManifestMediaType, ImageDigest: aws.String(img.Digest), ImageTag: aws.String(tag)})
	var exists *ecrtypes.ImageAlreadyExistsException
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("tagging image %s as %s: %w", img.Digest, tag, explain(err))
	}
	return nil
}
