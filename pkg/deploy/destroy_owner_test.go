package deploy

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// TestDestroyRefusesAServiceFacectlDidNotCreate (issue 15 item 7): a service of the configured
// name that someone else created (no facectl tags, a task definition facectl did not register)
// is neither scaled down nor deleted; destroy says so and fails. One created by an older
// facectl (untagged, on a revision facectl tagged) is still destroyed.
func TestDestroyRefusesAServiceFacectlDidNotCreate(t *testing.T) {
	cfg, deps, awsCfg := motoConfig(t, "owner")
	cfg.Image.URI = "127.0.0.1:5000/prebuilt@sha256:" + strings.Repeat("ab", 32)
	cfg.Network.Subnets, cfg.Network.SecurityGroups = []string{"subnet-1"}, []string{"sg-1"}
	cfg.LoadBalancer.TargetGroupARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/x/1"
	cfg.Task.ExecutionRoleARN = "arn:aws:iam::123456789012:role/exec"
	ctx := ctxT(t, time.Minute)
	ecsc := ecs.NewFromConfig(awsCfg)
	if _, err := ecsc.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cfg.Cluster)}); err != nil {
		t.Fatal(err)
	}
	create := func(service string, tags []ecstypes.Tag) {
		td, err := ecsc.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String(service + "-" + cfg.Cluster),
			ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("nginx"), Memory: aws.Int32(128)}}, Tags: tags})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ecsc.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String(cfg.Cluster), ServiceName: aws.String(service),
			TaskDefinition: td.TaskDefinition.TaskDefinitionArn, DesiredCount: aws.Int32(3)}); err != nil {
			t.Fatal(err)
		}
	}
	create("theirs", nil)
	create("older", []ecstypes.Tag{{Key: aws.String(tagCluster), Value: aws.String(cfg.Cluster)}, {Key: aws.String(tagService), Value: aws.String("older")}})

	theirs := cfg
	theirs.Service = "theirs"
	d, err := Open(theirs, deps)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Destroy(ctx, DestroyOptions{}); !errors.Is(err, ErrNotOwned) || !strings.Contains(err.Error(), "ECS service theirs in cluster "+cfg.Cluster+" has no facectl tags") {
		t.Errorf("destroy of a service facectl did not create: %v", err)
	}
	out, err := ecsc.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cfg.Cluster), Services: []string{"theirs"}})
	if err != nil || len(out.Services) != 1 || aws.ToString(out.Services[0].Status) != "ACTIVE" || out.Services[0].DesiredCount != 3 {
		t.Errorf("their service was touched: %+v, %v", out.Services, err)
	}

	older := cfg
	older.Service = "older"
	if d, err = Open(older, deps); err != nil {
		t.Fatal(err)
	}
	if res, err := d.Destroy(ctx, DestroyOptions{}); err != nil || !strings.Contains(strings.Join(res.Removed, "\n"), "ECS service older") {
		t.Errorf("destroy of an older facectl's service: %+v, %v", res, err)
	}
}
