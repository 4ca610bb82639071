package deploy

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// Tags facectl puts on the task definitions it registers, so that rollback can tell the
// service's own revisions from those of another service sharing the family.
const (
	tagService = "facectl:service"
	tagCluster = "facectl:cluster"
	// tagRepository marks an ECR repository facectl created.
	tagRepository = "facectl:repository"
)

// RollbackOptions select the revision to roll back to.
type RollbackOptions struct {
	// Revision is the task definition revision to return to; 0 means the one before the
	// service's current revision.
	Revision int
}

// Rollback points the service at an earlier task definition revision and waits like Deploy.
func (d *Deployer) Rollback(ctx context.Context, opts RollbackOptions) (Result, error) {
	r := d.newRun(false, nil)
	r.res.ServiceAction = "update"
	err := r.rollback(ctx, opts)
	r.res.Seconds = time.Since(r.startedAt).Round(time.Millisecond).Seconds()
	return *r.res, explain(err)
}

func (r *run) rollback(ctx context.Context, opts RollbackOptions) error {
	res := r.res
	svc, err := r.describeService(ctx)
	if err != nil {
		return err
	}
	if svc == nil {
		return fmt.Errorf("%w: %s in cluster %s", ErrServiceNotFound, r.cfg.Service, r.cfg.Cluster)
	}
	current := aws.ToString(svc.TaskDefinition)
	family, rev := splitRevision(current)
	target, image, err := r.rollbackTarget(ctx, family, rev, opts.Revision)
	if err != nil {
		return err
	}
	res.TaskDefinitionARN, res.Image = target, image
	if err := r.checkImageExists(ctx, image); err != nil {
		return err
	}
	res.add("service", r.cfg.Service, "update", shortARN(current)+" -> "+shortARN(target))
	r.log.Info("rolling back", "service", r.cfg.Service, "from", shortARN(current), "to", shortARN(target), "image", image)
	deploymentID := ""
	if r.cfg.IsExpress() {
		if err := r.rollbackExpress(ctx, svc, target); err != nil {
			return err
		}
	} else {
		// The desired count is never part of a rollback.
		out, err := r.deps.ECS.UpdateService(ctx, &ecs.UpdateServiceInput{
			Cluster: aws.String(r.cfg.Cluster), Service: aws.String(r.cfg.Service), TaskDefinition: aws.String(target),
		})
		if err != nil {
			return fmt.Errorf("updating service %s to %s: %w", r.cfg.Service, shortARN(target), explain(err))
		}
		deploymentID = primaryDeploymentID(out.Service)
	}
	if r.cfg.Wait.Timeout == 0 {
		res.Outcome = OutcomeNotWaited
		return nil
	}
	outcome, stopped, err := r.waitForDeployment(ctx, target, deploymentID)
	res.Outcome, res.StoppedTasks = outcome, stopped
	if err == nil && r.cfg.IsExpress() {
		res.URL, err = r.waitExpressActive(ctx, target)
		if err != nil {
			res.Outcome = OutcomeFailed
		}
	}
	return err
}

// splitRevision turns arn:...:task-definition/facectl:3 into ("facectl", 3).
func splitRevision(arn string) (string, int) {
	s := shortARN(arn)
	i := strings.LastIndex(s, ":")
	if i < 0 {
		return s, 0
	}
	n, _ := strconv.Atoi(s[i+1:])
	return s[:i], n
}

// taskDefinitionTags are the tags of a task definition registered for this service.
func (d *Deployer) taskDefinitionTags() []ecstypes.Tag {
	return []ecstypes.Tag{
		{Key: aws.String(tagCluster), Value: aws.String(clusterName(d.cfg.Cluster))},
		{Key: aws.String(tagService), Value: aws.String(d.cfg.Service)},
	}
}

// owner says whom a task definition was registered for: "" when it carries no facectl tags
// (registered before facectl tagged them, or by someone else).
func owner(tags []ecstypes.Tag) (cluster, service string) {
	for _, t := range tags {
		switch aws.ToString(t.Key) {
		case tagCluster:
			cluster = aws.ToString(t.Value)
		case tagService:
			service = aws.ToString(t.Value)
		}
	}
	return cluster, service
}

// ownRevision reports whether a task definition with these tags in family belongs to this
// service's history. Untagged revisions count only when the family is the service's own (the
// default, task.family empty or the service name): in a shared family they cannot be told apart.
func (d *Deployer) ownRevision(family string, tags []ecstypes.Tag) (bool, string) {
	cluster, service := owner(tags)
	if service == "" {
		if family == d.cfg.Service {
			return true, ""
		}
		return false, fmt.Sprintf("untagged revision of the shared family %s", family)
	}
	if service != d.cfg.Service || (cluster != "" && cluster != clusterName(d.cfg.Cluster)) {
		return false, fmt.Sprintf("registered for service %s in cluster %s", service, cluster)
	}
	return true, ""
}

// rollbackTarget finds the revision to roll back to: want when given, else the newest revision
// below current that this service registered. The revisions are sorted here, by number: the
// API's sort order is not relied on (moto, for one, ignores it). It returns the target's ARN
// and image.
func (d *Deployer) rollbackTarget(ctx context.Context, family string, current, want int) (string, string, error) {
	describe := func(ref string) (*ecstypes.TaskDefinition, []ecstypes.Tag, error) {
		out, err := d.deps.ECS.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{
			TaskDefinition: aws.String(ref), Include: []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags},
		})
		if err != nil {
			return nil, nil, fmt.Errorf("describing task definition %s: %w", ref, explain(err))
		}
		return out.TaskDefinition, out.Tags, nil
	}
	if want > 0 {
		if want == current {
			return "", "", fmt.Errorf("the service already runs %s:%d", family, want)
		}
		td, tags, err := describe(fmt.Sprintf("%s:%d", family, want))
		if err != nil {
			return "", "", err
		}
		if ok, why := d.ownRevision(family, tags); !ok {
			return "", "", fmt.Errorf("%s:%d is not a revision of service %s (%s)", family, want, d.cfg.Service, why)
		}
		return aws.ToString(td.TaskDefinitionArn), containerImage(td), nil
	}

	type revision struct {
		arn string
		n   int
	}
	var older []revision
	var token *string
	for {
		out, err := d.deps.ECS.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{
			FamilyPrefix: aws.String(family), Status: ecstypes.TaskDefinitionStatusActive, NextToken: token,
		})
		if err != nil {
			return "", "", fmt.Errorf("listing revisions of %s: %w", family, explain(err))
		}
		for _, arn := range out.TaskDefinitionArns {
			if f, r := splitRevision(arn); f == family && r < current {
				older = append(older, revision{arn, r})
			}
		}
		if out.NextToken == nil {
			break
		}
		token = out.NextToken
	}
	sort.Slice(older, func(i, j int) bool { return older[i].n > older[j].n })
	var skipped []string
	for _, r := range older {
		td, tags, err := describe(r.arn)
		if err != nil {
			return "", "", err
		}
		if ok, why := d.ownRevision(family, tags); !ok {
			skipped = append(skipped, fmt.Sprintf("%s:%d (%s)", family, r.n, why))
			continue
		}
		return aws.ToString(td.TaskDefinitionArn), containerImage(td), nil
	}
	msg := fmt.Sprintf("service %s has no active revision of %s before %d", d.cfg.Service, family, current)
	if len(skipped) > 0 {
		msg += "; not its own: " + strings.Join(skipped, ", ")
	}
	return "", "", fmt.Errorf("%w: %s", ErrNoPreviousRevision, msg)
}

// containerImage is the image of the task definition's first container.
func containerImage(td *ecstypes.TaskDefinition) string {
	if td == nil || len(td.ContainerDefinitions) == 0 {
		return ""
	}
	return aws.ToString(td.ContainerDefinitions[0].Image)
}

var ecrHostRE = regexp.MustCompile(`^([0-9]{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$`)

// ecrImage splits an image reference in ECR into its registry account, region, repository and
// tag or digest; ok is false for an image in another registry.
type ecrImage struct {
	Account, Region, Repository, Tag, Digest string
}

func parseECRImage(ref string) (ecrImage, bool) {
	host, rest, ok := strings.Cut(ref, "/")
	if !ok {
		return ecrImage{}, false
	}
	m := ecrHostRE.FindStringSubmatch(host)
	if m == nil {
		return ecrImage{}, false
	}
	img := ecrImage{Account: m[1], Region: m[2]}
	if repo, digest, ok := strings.Cut(rest, "@"); ok {
		img.Repository, img.Digest = repo, digest
	} else if i := strings.LastIndex(rest, ":"); i >= 0 {
		img.Repository, img.Tag = rest[:i], rest[i+1:]
	} else {
		img.Repository, img.Tag = rest, "latest"
	}
	return img, true
}

func (i ecrImage) id() ecrtypes.ImageIdentifier {
	if i.Digest != "" {
		return ecrtypes.ImageIdentifier{ImageDigest: aws.String(i.Digest)}
	}
	return ecrtypes.ImageIdentifier{ImageTag: aws.String(i.Tag)}
}

// ecrClient returns an ECR client for region: the deployer's own, or one for another region.
func (d *Deployer) ecrClient(region string) ECRAPI {
	if region == d.deps.Region || d.deps.ECRFor == nil {
		return d.deps.ECR
	}
	return d.deps.ECRFor(region)
}

// checkImageExists makes sure the image a rollback returns to is still in ECR: a task
// definition outlives its image when a lifecycle policy or a person deleted it, and ECS would
// only find out when the new tasks fail to pull.
func (d *Deployer) checkImageExists(ctx context.Context, ref string) error {
	img, ok := parseECRImage(ref)
	if !ok {
		d.log.Warn("cannot check that the rollback's image still exists: it is not in ECR", "image", ref)
		return nil
	}
	_, err := d.ecrClient(img.Region).DescribeImages(ctx, &ecr.DescribeImagesInput{
		RegistryId: aws.String(img.Account), RepositoryName: aws.String(img.Repository), ImageIds: []ecrtypes.ImageIdentifier{img.id()},
	})
	var notFound *ecrtypes.ImageNotFoundException
	var noRepo *ecrtypes.RepositoryNotFoundException
	switch {
	case errors.As(err, &notFound), errors.As(err, &noRepo):
		return fmt.Errorf("the rollback target's image %s is no longer in ECR (deleted, or expired by a lifecycle policy): "+
			"roll back with --revision N to a revision whose image exists, or deploy it again: %w", ref, explain(err))
	case err != nil:
		return fmt.Errorf("checking that image %s still exists: %w", ref, explain(err))
	}
	return nil
}
