package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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

// lifecyclePolicy is facectl's ECR lifecycle policy: of the deployed images the newest
// keep_deployed are kept and older ones expire (rule 1 matches every deployed image first,
// and an image a rule matches is never expired by a later one), untagged images expire after
// a day, and of the rest the newest keep_images are kept.
func lifecyclePolicy(c ImageConfig) string {
	rule := func(prio int, desc string, sel map[string]any) map[string]any {
		return map[string]any{"rulePriority": prio, "description": desc + " (facectl deploy)", "selection": sel, "action": map[string]any{"type": "expire"}}
	}
	p := map[string]any{"rules": []any{
		rule(1, fmt.Sprintf("keep the last %d images facectl deployed: task definitions run them by digest", c.KeepDeployed),
			map[string]any{"tagStatus": "tagged", "tagPrefixList": []string{deployedTagPrefix}, "countType": "imageCountMoreThan", "countNumber": c.KeepDeployed}),
		rule(2, "expire untagged images after a day",
			map[string]any{"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1}),
		rule(3, fmt.Sprintf("keep the last %d other images", c.KeepImages),
			map[string]any{"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": c.KeepImages}),
	}}
	b, _ := json.Marshal(p)
	return string(b)
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
	tag := deployedTagPrefix + strings.TrimPrefix(img.Digest, "sha256:")
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
