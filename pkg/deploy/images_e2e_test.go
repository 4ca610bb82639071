package deploy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/facectl/facectl/internal/testenv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// motoConfig points a config at this run's moto_server with names unique to the test.
func motoConfig(t *testing.T, prefix string) (Config, Deps, aws.Config) {
	t.Helper()
	endpoint := motoEndpoint(t)
	testenv.FakeAWS(t)
	cfg := DefaultConfig()
	cfg.EndpointURL = endpoint
	cfg.Region = "us-east-1"
	cfg.Cluster = fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1e9) // moto is shared by the run
	cfg.Service = "web"
	cfg.Image.Repository = cfg.Cluster
	cfg.Wait.Timeout = time.Minute
	cfg.Wait.PollInterval = 20 * time.Millisecond
	awsCfg, err := LoadAWSConfig(ctxT(t, 10*time.Second), cfg)
	if err != nil {
		t.Fatal(err)
	}
	deps := NewDeps(awsCfg)
	deps.Docker = nil
	return cfg, deps, awsCfg
}

// TestLifecyclePolicyInECR puts facectl's lifecycle policy on a repository in moto, replacing
// an older facectl policy that kept deployed images forever, and reads it back: the last
// keep_deployed deployed images are kept, older ones expire.
func TestLifecyclePolicyInECR(t *testing.T) {
	cfg, deps, _ := motoConfig(t, "lifecycle")
	cfg.Cluster = "lifecycle" // in the golden policy's rule (the repository stays unique to the run)
	ctx := ctxT(t, 30*time.Second)
	old := `{"rules":[{"rulePriority":1,"description":"keep images facectl deployed (facectl deploy)","selection":{"tagStatus":"tagged","tagPrefixList":["facectl-deployed-"],"countType":"imageCountMoreThan","countNumber":9999},"action":{"type":"expire"}}]}`
	if _, err := deps.ECR.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(cfg.Image.Repository)}); err != nil {
		t.Fatal(err)
	}
	if _, err := deps.ECR.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: aws.String(cfg.Image.Repository), LifecyclePolicyText: aws.String(old)}); err != nil {
		t.Fatal(err)
	}
	d, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.newRun(false, nil).repository(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := deps.ECR.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: aws.String(cfg.Image.Repository)})
	if err != nil {
		t.Fatal(err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, []byte(aws.ToString(got.LifecyclePolicyText)), "", "  "); err != nil {
		t.Fatal(err)
	}
	golden(t, "lifecycle_policy.golden.json", pretty.String()+"\n")
}

// purgeFixture is a repository with the images old, shared, current and stage-only, and
// services web (revisions old, shared, current; runs current) and stage (stage-only, shared;
// runs shared) in one cluster.
type purgeFixture struct {
	cfg                             Config
	deps                            Deps
	awsCfg                          aws.Config
	ctx                             context.Context
	repo                            *string
	host                            string
	old, shared, current, stageOnly string
	register                        func(service, digest string) string
}

func newPurgeFixture(t *testing.T) purgeFixture {
	cfg, deps, awsCfg := motoConfig(t, "purge")
	ctx := ctxT(t, time.Minute)
	repo := aws.String(cfg.Image.Repository)
	if _, err := deps.ECR.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: repo}); err != nil {
		t.Fatal(err)
	}
	cr, err := ecs.NewFromConfig(awsCfg).CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cfg.Cluster)})
	if err != nil {
		t.Fatal(err)
	}
	host := "123456789012.dkr.ecr.us-east-1.amazonaws.com/" + cfg.Image.Repository
	push := func(name string) string {
		manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%064x","size":1},"layers":[],"annotations":{"n":%q}}`, len(name), name)
		dg := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(manifest)))
		for _, tag := range []string{name, deployedTagPrefix + strings.TrimPrefix(dg, "sha256:")} {
			if _, err := deps.ECR.PutImage(ctx, &ecr.PutImageInput{RepositoryName: repo, ImageManifest: aws.String(manifest),
				ImageDigest: aws.String(dg), ImageTag: aws.String(tag)}); err != nil {
				t.Fatal(err)
			}
		}
		return dg
	}
	old, shared, current, stageOnly := push("old"), push("shared"), push("current"), push("stage-only")
	var register func(service, digest string) string
	register = func(service, digest string) string {
		out, err := deps.ECS.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
			Family:               aws.String(service),
			ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("facectl"), Image: aws.String(host + "@" + digest), Memory: aws.Int32(512)}},
			Tags:                 []ecstypes.Tag{{Key: aws.String(tagCluster), Value: aws.String(cfg.Cluster)}, {Key: aws.String(tagService), Value: aws.String(service)}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.TaskDefinition.TaskDefinitionArn)
	}
	register("web", old)
	register("web", shared)
	webTD := register("web", current)
	register("stage", stageOnly)
	stageTD := register("stage", shared)
	for name, td := range map[string]string{"web": webTD, "stage": stageTD} {
		if _, err := deps.ECS.CreateService(ctx, &ecs.CreateServiceInput{Cluster: cr.Cluster.ClusterName, ServiceName: aws.String(name), TaskDefinition: aws.String(td), DesiredCount: aws.Int32(1)}); err != nil {
			t.Fatal(err)
		}
	}

	return purgeFixture{cfg, deps, awsCfg, ctx, repo, host, old, shared, current, stageOnly, register}
}

// TestDestroyPurgeSparesImagesUsedAnywhere: --purge-images keeps the service's images that a
// service of another cluster runs or another service's active revision keeps for rollback.
func TestDestroyPurgeSparesImagesUsedAnywhere(t *testing.T) {
	f := newPurgeFixture(t)
	cfg, deps, awsCfg, ctx, repo, host, register := f.cfg, f.deps, f.awsCfg, f.ctx, f.repo, f.host, f.register
	old, current := f.old, f.current

	// Issue 15 item 4: the repository is shared by every cluster. Service web of another
	// cluster runs old (same family, its own tags), and an active revision of another
	// service (a rollback target, running nowhere) uses current: both stay.
	other, err := ecs.NewFromConfig(awsCfg).CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cfg.Cluster + "-b")})
	if err != nil {
		t.Fatal(err)
	}
	otherTD, err := deps.ECS.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family:               aws.String("web"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("facectl"), Image: aws.String(host + "@" + old), Memory: aws.Int32(512)}},
		Tags:                 []ecstypes.Tag{{Key: aws.String(tagCluster), Value: aws.String(cfg.Cluster + "-b")}, {Key: aws.String(tagService), Value: aws.String("web")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := deps.ECS.CreateService(ctx, &ecs.CreateServiceInput{Cluster: other.Cluster.ClusterName, ServiceName: aws.String("web"), TaskDefinition: otherTD.TaskDefinition.TaskDefinitionArn, DesiredCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	register("stage", current) // stage's newest revision, not deployed yet: a rollback target of stage

	d, err := Open(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.Destroy(ctx, DestroyOptions{PurgeImages: true})
	if err != nil {
		t.Fatal(err)
	}
	if kept := strings.Join(res.Kept, "\n"); !strings.Contains(kept, "3 image(s) in ECR repository "+cfg.Image.Repository+": still run by service web in cluster "+cfg.Cluster+"-b, stage, task definition stage:") {
		t.Errorf("kept:\n%s", kept)
	}
	left, err := deps.ECR.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: repo, Filter: &ecrtypes.DescribeImagesFilter{TagStatus: ecrtypes.TagStatusAny}})
	if err != nil {
		t.Fatal(err)
	}
	if len(left.ImageDetails) != 4 {
		t.Errorf("%d images left, want all 4 (old, shared and current are used elsewhere; stage-only is stage's)", len(left.ImageDetails))
	}
}

// TestDestroyPurgesTheServicesDeployedImagesInOneCluster: --purge-images deletes the images of
// every revision the service registered (older deploys too), except one another service of the
// cluster still runs; images of other families stay.
func TestDestroyPurgesTheServicesDeployedImagesInOneCluster(t *testing.T) {
	f := newPurgeFixture(t)
	cfg, deps, ctx, repo := f.cfg, f.deps, f.ctx, f.repo
	old, shared, current, stageOnly := f.old, f.shared, f.current, f.stageOnly
	d, err := Open(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.Destroy(ctx, DestroyOptions{PurgeImages: true})
	if err != nil {
		t.Fatal(err)
	}
	if removed := strings.Join(res.Removed, "\n"); !strings.Contains(removed, "2 image(s) in ECR repository "+cfg.Image.Repository) {
		t.Errorf("removed:\n%s", removed)
	}
	if kept := strings.Join(res.Kept, "\n"); !strings.Contains(kept, "1 image(s) in ECR repository "+cfg.Image.Repository+": still run by stage") {
		t.Errorf("kept:\n%s", kept)
	}
	left, err := deps.ECR.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: repo, Filter: &ecrtypes.DescribeImagesFilter{TagStatus: ecrtypes.TagStatusAny}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, img := range left.ImageDetails {
		got = append(got, aws.ToString(img.ImageDigest))
	}
	sort.Strings(got)
	want := []string{shared, stageOnly}
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("images left %v, want shared %s and stage-only %s (old %s, current %s deleted)", got, shared, stageOnly, old, current)
	}
}
