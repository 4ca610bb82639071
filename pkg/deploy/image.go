package deploy

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logstypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

// imageRef is the image the task definition will run.
type imageRef struct {
	// Ref is what goes into the task definition: REGISTRY/REPO@sha256:... when the digest is known.
	Ref string
	// Digest is the manifest digest, when known.
	Digest string
}

// image builds and pushes the image, or resolves deploy.image.uri.
func (r *run) ensureImage(ctx context.Context) (imageRef, error) {
	if uri := r.cfg.Image.URI; uri != "" {
		return r.prebuiltImage(ctx, uri)
	}
	tag := r.cfg.Image.Tag
	if tag == "" {
		t, err := r.deps.GitTag(ctx, r.cfg.Image.Context)
		switch {
		case err != nil && r.dryRun:
			// A dry run builds nothing, so it needs no commit to name the image after.
			r.log.Warn("no git commit to tag the image with: the dry run shows the tag dev", "err", err)
			tag = "dev"
		case err != nil:
			return imageRef{}, err
		default:
			tag = t
		}
	}
	repoURI, err := r.repository(ctx)
	if err != nil {
		return imageRef{}, err
	}
	host, repo, _ := strings.Cut(repoURI, "/")
	if r.cfg.Image.Registry != "" {
		host = r.cfg.Image.Registry
	}
	ref := host + "/" + repo + ":" + tag
	platform := r.cfg.Image.Platform

	if r.dryRun {
		// Show the digest ECR already has for this tag, so an unchanged tree shows no diff.
		if digest := r.ecrDigest(ctx, repo, tag); digest != "" {
			r.res.add("image", ref, "none", "already in ECR as "+digest+" (dry run does not build)")
			return imageRef{Ref: host + "/" + repo + "@" + digest, Digest: digest}, nil
		}
		r.res.add("image", ref, "build", fmt.Sprintf("build %s for %s and push (dry run does not build)", r.cfg.Image.Dockerfile, platform))
		return imageRef{Ref: ref}, nil
	}
	if r.deps.Docker == nil {
		return imageRef{}, errors.New("building the image: no docker runner (set deploy.image.uri to deploy a prebuilt image)")
	}
	r.log.Info("building image", "ref", ref, "platform", platform, "dockerfile", r.cfg.Image.Dockerfile, "context", r.cfg.Image.Context)
	if err := r.deps.Docker.Build(ctx, BuildOptions{
		Dockerfile: r.cfg.Image.Dockerfile, Context: r.cfg.Image.Context, Platform: platform,
		Tags: []string{ref}, BuildArgs: r.cfg.Image.BuildArgs,
	}); err != nil {
		return imageRef{}, fmt.Errorf("building image %s: %w", ref, err)
	}
	r.res.add("image", ref, "build", "built for "+platform)

	info, err := r.deps.Docker.Inspect(ctx, ref)
	if err != nil {
		return imageRef{}, fmt.Errorf("inspecting image %s: %w", ref, err)
	}
	if !samePlatform(info.Platform(), platform) {
		return imageRef{}, fmt.Errorf("%w: image %s is %s but the task runs on %s (deploy.image.platform): "+
			"the base image may exist only for another architecture, or cross-building needs buildx with QEMU (docker run --privileged tonistiigi/binfmt --install all)",
			ErrArchitectureMismatch, ref, info.Platform(), platform)
	}

	r.log.Info("logging in to the registry with an ECR token", "registry", host)
	if err := r.login(ctx, host); err != nil {
		return imageRef{}, err
	}
	r.log.Info("pushing image", "ref", ref)
	digest, err := r.deps.Docker.Push(ctx, ref)
	if err != nil {
		if action := DeniedAction(err.Error()); action != "" {
			return imageRef{}, &AWSError{Action: action, Code: "AccessDenied", Err: fmt.Errorf("pushing image %s: %w", ref, err),
				Hint: fmt.Sprintf("missing IAM permission %s for the caller: grant it (facectl deploy policy prints the policy this configuration needs)", action)}
		}
		return imageRef{}, fmt.Errorf("pushing image %s: %w", ref, err)
	}
	r.res.add("image", ref, "push", digest)
	r.log.Info("pushed image", "ref", ref, "digest", digest)
	return imageRef{Ref: host + "/" + repo + "@" + digest, Digest: digest}, nil
}

func samePlatform(a, b string) bool {
	norm := func(p string) string { return strings.TrimSuffix(p, "/v8") }
	return norm(a) == norm(b)
}

// prebuiltImage pins deploy.image.uri by digest. An ECR image is pinned from its own registry,
// in whatever account and region it is, or refused: a tag left in the task definition lets
// tasks started later (scaling, replacements) run another image than the one deployed.
func (r *run) prebuiltImage(ctx context.Context, uri string) (imageRef, error) {
	if _, digest, ok := strings.Cut(uri, "@"); ok {
		r.res.add("image", uri, "none", "prebuilt, pinned by digest")
		return imageRef{Ref: uri, Digest: digest}, nil
	}
	img, ok := parseECRImage(uri)
	if !ok {
		r.log.Warn("deploying an image outside ECR that is not pinned by digest: tasks started later may run a different image; deploy HOST/REPO@sha256:... to pin it", "image", uri)
		r.res.add("image", uri, "none", "prebuilt, outside ECR, not pinned by digest")
		return imageRef{Ref: uri}, nil
	}
	where := fmt.Sprintf("repository %s of account %s in %s", img.Repository, img.Account, img.Region)
	out, err := r.ecrClient(img.Region).DescribeImages(ctx, &ecr.DescribeImagesInput{
		RegistryId: aws.String(img.Account), RepositoryName: aws.String(img.Repository), ImageIds: []ecrtypes.ImageIdentifier{img.id()},
	})
	var notFound *ecrtypes.ImageNotFoundException
	var noRepo *ecrtypes.RepositoryNotFoundException
	switch {
	case errors.As(err, &notFound), errors.As(err, &noRepo):
		return imageRef{}, fmt.Errorf("%w: image %s: tag %s is not in %s", ErrInvalidConfig, uri, img.Tag, where)
	case err != nil:
		return imageRef{}, fmt.Errorf("%w: image %s cannot be pinned by digest: reading it from %s failed, and a tag alone would let later tasks run another image. "+
			"Deploy it by digest (--image %s/%s@sha256:...), or allow ecr:DescribeImages on it (in that account's repository policy for another account): %w",
			ErrInvalidConfig, uri, where, uri[:strings.Index(uri, "/")], img.Repository, explain(err))
	case len(out.ImageDetails) == 0 || aws.ToString(out.ImageDetails[0].ImageDigest) == "":
		return imageRef{}, fmt.Errorf("%w: image %s: %s returned no digest for tag %s", ErrInvalidConfig, uri, where, img.Tag)
	}
	digest := aws.ToString(out.ImageDetails[0].ImageDigest)
	ref := uri[:strings.Index(uri, "/")] + "/" + img.Repository + "@" + digest
	r.res.add("image", uri, "none", "prebuilt, pinned as "+digest)
	return imageRef{Ref: ref, Digest: digest}, nil
}

// ecrDigest returns the digest ECR holds for repo:tag, or "" when it has none.
func (r *run) ecrDigest(ctx context.Context, repo, tag string) string {
	out, err := r.deps.ECR.DescribeImages(ctx, &ecr.DescribeImagesInput{
		RepositoryName: aws.String(repo),
		ImageIds:       []ecrtypes.ImageIdentifier{{ImageTag: aws.String(tag)}},
	})
	if err != nil || len(out.ImageDetails) == 0 {
		return ""
	}
	return aws.ToString(out.ImageDetails[0].ImageDigest)
}

// repository makes sure the ECR repository exists with a lifecycle policy and returns its URI.
func (r *run) repository(ctx context.Context) (string, error) {
	name := r.cfg.Image.Repository
	out, err := r.deps.ECR.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{name}})
	var notFound *ecrtypes.RepositoryNotFoundException
	var uri string
	created := false
	switch {
	case errors.As(err, &notFound):
		detail := fmt.Sprintf("scan on push %v, %s", r.cfg.Image.ScanOnPush, lifecycleSummary(r.cfg.Image))
		if r.dryRun {
			r.res.add("ecr repository", name, "create", detail)
			return ecrHost(r.account, r.deps.Region) + "/" + name, nil
		}
		r.log.Info("creating ECR repository", "name", name)
		cr, err := r.deps.ECR.CreateRepository(ctx, &ecr.CreateRepositoryInput{
			RepositoryName:             aws.String(name),
			ImageScanningConfiguration: &ecrtypes.ImageScanningConfiguration{ScanOnPush: r.cfg.Image.ScanOnPush},
			ImageTagMutability:         ecrtypes.ImageTagMutabilityMutable,
			Tags:                       []ecrtypes.Tag{{Key: aws.String(tagRepository), Value: aws.String("created by facectl deploy")}},
		})
		if err != nil {
			return "", fmt.Errorf("creating ECR repository %s: %w", name, explain(err))
		}
		uri = aws.ToString(cr.Repository.RepositoryUri)
		created = true
		r.res.add("ecr repository", name, "create", detail)
	case err != nil:
		return "", fmt.Errorf("describing ECR repository %s: %w", name, explain(err))
	case len(out.Repositories) == 0:
		return "", fmt.Errorf("describing ECR repository %s: empty answer", name)
	default:
		uri = aws.ToString(out.Repositories[0].RepositoryUri)
	}

	// A lifecycle policy the user wrote is theirs: only add ours where none exists, and
	// replace only ours (an older facectl's may expire images still deployed).
	verb := "create"
	existing := ""
	if !created {
		cur, err := r.deps.ECR.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: aws.String(name)})
		var noPolicy *ecrtypes.LifecyclePolicyNotFoundException
		switch {
		case err == nil && !ownLifecyclePolicy(aws.ToString(cur.LifecyclePolicyText)):
			r.log.Info("keeping the repository's own lifecycle policy: make sure it keeps images tagged "+deployedTagPrefix+"*, which deployed task definitions use",
				"repository", name)
			r.res.add("ecr repository", name, "none", "exists with its own lifecycle policy")
			return uri, nil
		case err == nil && sameJSON(aws.ToString(cur.LifecyclePolicyText), lifecyclePolicy(r.cfg.Image, r.cfg.Cluster, r.cfg.Service, aws.ToString(cur.LifecyclePolicyText))):
			r.res.add("ecr repository", name, "none", "exists with facectl's lifecycle policy")
			return uri, nil
		case err == nil:
			verb, existing = "update", aws.ToString(cur.LifecyclePolicyText)
		case !errors.As(err, &noPolicy):
			return "", fmt.Errorf("reading the lifecycle policy of %s: %w", name, explain(err))
		}
		if r.dryRun {
			r.res.add("ecr lifecycle policy", name, verb, lifecycleSummary(r.cfg.Image))
			return uri, nil
		}
	}
	r.log.Info("putting ECR lifecycle policy", "repository", name, "keep_images", r.cfg.Image.KeepImages, "keep_deployed", r.cfg.Image.KeepDeployed)
	if _, err := r.deps.ECR.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{
		RepositoryName:      aws.String(name),
		LifecyclePolicyText: aws.String(lifecyclePolicy(r.cfg.Image, r.cfg.Cluster, r.cfg.Service, existing)),
	}); err != nil {
		return "", fmt.Errorf("putting the lifecycle policy of %s: %w", name, explain(err))
	}
	if !created {
		r.res.add("ecr lifecycle policy", name, verb, lifecycleSummary(r.cfg.Image))
	}
	return uri, nil
}

// login logs the docker client in to host with an ECR authorization token.
func (r *run) login(ctx context.Context, host string) error {
	out, err := r.deps.ECR.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		return fmt.Errorf("getting an ECR login token: %w", explain(err))
	}
	if len(out.AuthorizationData) == 0 {
		return errors.New("getting an ECR login token: empty answer")
	}
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(out.AuthorizationData[0].AuthorizationToken))
	if err != nil {
		return fmt.Errorf("decoding the ECR login token: %w", err)
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return errors.New("decoding the ECR login token: no user:password")
	}
	if err := r.deps.Docker.Login(ctx, host, user, pass); err != nil {
		return fmt.Errorf("logging in to %s: %w", host, err)
	}
	return nil
}

// logGroup creates the awslogs group when missing and keeps its retention as configured.
func (r *run) ensureLogGroup(ctx context.Context) error {
	group := r.cfg.LogGroup()
	out, err := r.deps.Logs.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String(group)})
	if err != nil {
		return fmt.Errorf("describing log group %s: %w", group, explain(err))
	}
	var found *logstypes.LogGroup
	for i := range out.LogGroups {
		if aws.ToString(out.LogGroups[i].LogGroupName) == group {
			found = &out.LogGroups[i]
		}
	}
	want := int32(r.cfg.Logs.RetentionDays)
	if found == nil {
		detail := "retention " + retentionText(want)
		r.res.add("log group", group, "create", detail)
		if r.dryRun {
			return nil
		}
		r.log.Info("creating log group", "name", group, "retention_days", want)
		if _, err := r.deps.Logs.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(group)}); err != nil {
			return fmt.Errorf("creating log group %s: %w", group, explain(err))
		}
	} else if aws.ToInt32(found.RetentionInDays) == want {
		r.res.add("log group", group, "none", "")
		return nil
	} else {
		r.res.add("log group", group, "update", fmt.Sprintf("retention %s -> %s", retentionText(aws.ToInt32(found.RetentionInDays)), retentionText(want)))
		if r.dryRun {
			return nil
		}
	}
	if want == 0 {
		if found == nil {
			return nil // a new group never expires
		}
		// retention_days 0 is "never expire": an existing group's retention must be removed.
		r.log.Info("removing log retention (never expire)", "name", group)
		if _, err := r.deps.Logs.DeleteRetentionPolicy(ctx, &cloudwatchlogs.DeleteRetentionPolicyInput{LogGroupName: aws.String(group)}); err != nil {
			return fmt.Errorf("removing the retention of log group %s: %w", group, explain(err))
		}
		return nil
	}
	r.log.Info("setting log retention", "name", group, "retention_days", want)
	if _, err := r.deps.Logs.PutRetentionPolicy(ctx, &cloudwatchlogs.PutRetentionPolicyInput{
		LogGroupName: aws.String(group), RetentionInDays: aws.Int32(want),
	}); err != nil {
		return fmt.Errorf("setting the retention of log group %s: %w", group, explain(err))
	}
	return nil
}

// retentionText says a log retention in days; 0 is CloudWatch's "never expire".
func retentionText(days int32) string {
	if days == 0 {
		return "never expire"
	}
	return fmt.Sprintf("%d days", days)
}

// ecrHost is the registry of an account's ECR in region; China's regions use amazonaws.com.cn
// (https://docs.amazonaws.cn/en_us/aws/latest/userguide/endpoints-Beijing.html).
func ecrHost(account, region string) string {
	h := fmt.Sprintf("%s.dkr.ecr.%s.amazonaws.com", account, region)
	if partitionOf(region) == "aws-cn" {
		h += ".cn"
	}
	return h
}
