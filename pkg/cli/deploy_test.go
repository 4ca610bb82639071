package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/facectl/facectl/internal/testenv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/facectl/facectl/pkg/deploy"
)

// startMotoForCLI runs a moto_server for this test whose ECS services reach their running count.
func startMotoForCLI(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("moto_server"); err != nil && os.Getenv("FACECTL_TEST_SKIP_DEPLOY_E2E") == "1" {
		t.Skip("moto_server not found and FACECTL_TEST_SKIP_DEPLOY_E2E=1")
	}
	return testenv.StartMoto(t, "MOTO_ECS_SERVICE_RUNNING=2")
}

// TestDeployCommand runs facectl deploy, deploy status and deploy init in-process against
// moto, with settings from a config file, an environment variable and flags.
func TestDeployCommand(t *testing.T) {
	endpoint := startMotoForCLI(t)
	testenv.FakeAWS(t)
	ctx := t.Context()

	awsCfg, err := config.LoadDefaultConfig(ctx, config.WithBaseEndpoint(endpoint))
	if err != nil {
		t.Fatal(err)
	}
	ec2c := ec2.NewFromConfig(awsCfg)
	vpc, err := ec2c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.2.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	sn, err := ec2c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String("10.2.1.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	sg, err := ec2c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("cli"), Description: aws.String("cli"), VpcId: vpc.Vpc.VpcId})
	if err != nil {
		t.Fatal(err)
	}
	// A public subnet (0.0.0.0/0 to an internet gateway; the config gives tasks a public IP)
	// and an execution role that trusts ECS tasks: preflight checks both.
	igw, err := ec2c.CreateInternetGateway(ctx, &ec2.CreateInternetGatewayInput{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ec2c.AttachInternetGateway(ctx, &ec2.AttachInternetGatewayInput{InternetGatewayId: igw.InternetGateway.InternetGatewayId, VpcId: vpc.Vpc.VpcId}); err != nil {
		t.Fatal(err)
	}
	rts, err := ec2c.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{aws.ToString(vpc.Vpc.VpcId)}}, {Name: aws.String("association.main"), Values: []string{"true"}}}})
	if err != nil || len(rts.RouteTables) != 1 {
		t.Fatalf("main route table: %v", err)
	}
	if _, err := ec2c.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: rts.RouteTables[0].RouteTableId,
		DestinationCidrBlock: aws.String("0.0.0.0/0"), GatewayId: igw.InternetGateway.InternetGatewayId}); err != nil {
		t.Fatal(err)
	}
	if _, err := iam.NewFromConfig(awsCfg).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("ecsTaskExecutionRole"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)}); err != nil {
		t.Fatal(err)
	}
	ecsc := ecs.NewFromConfig(awsCfg)
	if _, err := ecsc.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("cli")}); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "facectl.yaml")
	yaml := fmt.Sprintf(`deploy:
  endpoint_url: %s
  cluster: cli
  service: cli-svc
  task:
    family: cli
    cpu: 1024
    memory: 2048
    execution_role_arn: arn:aws:iam::123456789012:role/ecsTaskExecutionRole
    environment:
      - name: FACECTL_LOG_LEVEL
        value: debug
  logs:
    group: /ecs/cli
  network:
    subnets: [%s]
    security_groups: [%s]
    assign_public_ip: true
  wait:
    timeout: 1m
    poll_interval: 20ms
`, endpoint, aws.ToString(sn.Subnet.SubnetId), aws.ToString(sg.GroupId))
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	image := "127.0.0.1:5000/facectl@sha256:" + strings.Repeat("ab", 32)
	// Precedence: the flag --cpu beats the file; the environment beats the file's memory.
	t.Setenv("FACECTL_DEPLOY_TASK_MEMORY", "4096")

	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := Main(ctx, args, IOStreams{In: strings.NewReader(""), Out: &out, Err: &errOut})
		return code, out.String(), errOut.String()
	}

	code, out, errOut := run("deploy", "--config", cfgFile, "--image", image, "--cpu", "2048", "--output", "json")
	if code != 0 {
		t.Fatalf("deploy exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	var res deploy.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("--output json is not JSON: %v\n%s", err, out)
	}
	if res.Outcome != deploy.OutcomeDeployed || !res.Registered || res.Image != image || res.ServiceAction != "create" {
		t.Errorf("result = %+v", res)
	}
	if !strings.Contains(errOut, "registering task definition") {
		t.Errorf("progress messages are not on stderr:\n%s", errOut)
	}
	td, err := ecsc.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(res.TaskDefinitionARN)})
	if err != nil {
		t.Fatal(err)
	}
	if c, m := aws.ToString(td.TaskDefinition.Cpu), aws.ToString(td.TaskDefinition.Memory); c != "2048" || m != "4096" {
		t.Errorf("task cpu/memory = %s/%s, want 2048 (flag) / 4096 (env)", c, m)
	}
	env := td.TaskDefinition.ContainerDefinitions[0].Environment
	if len(env) != 2 || aws.ToString(env[0].Name) != "FACECTL_LOG_LEVEL" || aws.ToString(env[0].Value) != "debug" ||
		aws.ToString(env[1].Name) != "FACECTL_SERVER_ADDR" || aws.ToString(env[1].Value) != ":8080" {
		t.Errorf("environment = %+v (variable names must keep their case; serve listens on the container port)", env)
	}

	// --env replaces the list; a dry run shows it and changes nothing.
	code, out, errOut = run("deploy", "--config", cfgFile, "--image", image, "--cpu", "2048", "--env", "FACECTL_LOG_LEVEL=warn", "--dry-run")
	if code != 0 || !strings.Contains(out, `+           "value": "warn"`) || !strings.Contains(out, "Plan (dry run") {
		t.Errorf("dry run exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	list, err := ecsc.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String("cli")})
	if err != nil || len(list.TaskDefinitionArns) != 1 {
		t.Errorf("the dry run registered something: %v %v", list, err)
	}

	code, out, errOut = run("deploy", "status", "--config", cfgFile, "--output", "json")
	if code != 0 {
		t.Fatalf("status exit %d: %s", code, errOut)
	}
	var st deploy.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.RunningCount != 2 || st.AutoScaling == nil || st.TaskDefinition != res.TaskDefinitionARN {
		t.Errorf("status = %+v, %v\n%s", st, err, out)
	}

	// A second revision, then rollback: its text output names the image it returns to.
	if code, out, errOut := run("deploy", "--config", cfgFile, "--image", image, "--cpu", "2048", "--env", "FACECTL_LOG_LEVEL=warn"); code != 0 {
		t.Fatalf("second deploy exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	code, out, errOut = run("deploy", "rollback", "--config", cfgFile)
	if code != 0 || !strings.Contains(out, "task definition "+res.TaskDefinitionARN+", image "+image) {
		t.Errorf("rollback exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}

	// deploy init writes a file that loads cleanly, and validation names its placeholders.
	initFile := filepath.Join(dir, "init.yaml")
	if code, _, errOut := run("deploy", "init", "--file", initFile, "--cluster", "cli"); code != 0 {
		t.Fatalf("init exit %d: %s", code, errOut)
	}
	if code, _, _ := run("deploy", "init", "--file", initFile); code != ExitUsage {
		t.Errorf("init over an existing file: exit %d, want %d", code, ExitUsage)
	}
	// The init file as written is the managed environment: a dry run lists the stacks'
	// resources it would create and creates nothing.
	code, out, errOut = run("deploy", "--config", initFile, "--endpoint-url", endpoint, "--image", image, "--dry-run")
	for _, want := range []string{"Environment changes (CloudFormation, described, not executed):",
		"cli                                          unchanged  exists, not created by facectl: used as is", "facectl-cli-facectl add LoadBalancer (AWS::ElasticLoadBalancingV2::LoadBalancer)",
		"facectl-cli-facectl add ExecutionRole (AWS::IAM::Role)"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("dry run with the init file: exit %d, output lacks %q\n%s\n%s", code, want, out, errOut)
		}
	}
	if _, err := cloudformation.NewFromConfig(awsCfg).DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String("facectl-cli-facectl")}); err == nil {
		t.Error("the dry run created the service stack")
	}

	if code, _, errOut := run("deploy", "--config", cfgFile, "--output", "yaml"); code != ExitUsage {
		t.Errorf("--output yaml: exit %d, want %d: %s", code, ExitUsage, errOut)
	}
	if code, _, errOut := run("deploy", "--config", cfgFile, "--cpu", "256", "--image", image); code != ExitUsage || !strings.Contains(errOut, "not valid with 256 CPU units") {
		t.Errorf("invalid cpu/memory: exit %d: %s", code, errOut)
	}
}
