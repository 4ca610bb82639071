package deploy

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// stackNameOK is CloudFormation's rule for stack names (letters, digits, '-', starting with a
// letter): https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html
var stackNameOK = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*$`)

// TestDefaultNamesAreDistinct (issue 15 item 13): distinct (cluster, service) pairs give
// distinct stack names and log groups, including the pairs that used to collide.
func TestDefaultNamesAreDistinct(t *testing.T) {
	pairs := [][2]string{
		{"facectl", "web"}, {"prod", "web"}, {"facectl", "cluster"}, {"facectl", "my_svc"}, {"facectl", "my-svc"},
		{"a-b", "c"}, {"a", "b-c"}, {"a", "cluster"}, {"a-cluster", "x"}, {"a", "cluster-cluster"}, {"a-cluster", "cluster"},
		{"x_y", "z"}, {"x-y", "z"}, {"facectl", "prod-web"}, {"prod", "facectl-web"},
	}
	names := map[string]string{}
	groups := map[string]string{}
	for _, p := range pairs {
		c := Config{Cluster: p[0], Service: p[1]}
		for kind, n := range map[string]string{"service stack": c.ServiceStackName(), "cluster stack": c.ClusterStackName()} {
			who := kind + " of " + p[0] + "/" + p[1]
			if kind == "cluster stack" {
				who = kind + " of " + p[0]
			}
			if prev, ok := names[n]; ok && prev != who {
				t.Errorf("%s and %s are both %s", prev, who, n)
			}
			names[n] = who
			if len(n) > 128 || !stackNameOK.MatchString(n) {
				t.Errorf("%s: %q is not a valid stack name", who, n)
			}
		}
		if prev, ok := groups[c.LogGroup()]; ok {
			t.Errorf("%s and %s/%s share log group %s", prev, p[0], p[1], c.LogGroup())
		}
		groups[c.LogGroup()] = p[0] + "/" + p[1]
	}
	if (Config{Cluster: "facectl", Service: "web"}).LogGroup() != "/ecs/web" {
		t.Error("the default cluster's log group changed: existing stacks would replace theirs")
	}
}

// TestExistingStackKeepsItsName: a stack created under the old name for the same cluster and
// service is used under that name (not orphaned, no second stack); one of another pair is not.
func TestExistingStackKeepsItsName(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Cluster, cfg.Service = "my-cluster", "web"
	if cfg.ServiceStackName() == cfg.legacyServiceStackName() {
		t.Fatal("the test needs a pair whose name changed")
	}
	for _, tc := range []struct {
		tag, want string
	}{{"service/my-cluster/web", "facectl-my-cluster-web"}, {"service/my/cluster-web", cfg.ServiceStackName()}} {
		stub := newAWSStub(t)
		stub.expect(cfnMissing("cloudformation.DescribeStacks"),
			ok("cloudformation.DescribeStacks", `<DescribeStacksResponse `+cfnNS+`><DescribeStacksResult><Stacks><member><StackName>facectl-my-cluster-web</StackName><StackId>id-1</StackId><StackStatus>CREATE_COMPLETE</StackStatus>`+
				`<Tags><member><Key>facectl:stack</Key><Value>`+tc.tag+`</Value></member></Tags></member></Stacks></DescribeStacksResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DescribeStacksResponse>`))
		d, err := New(cfg, stub.deps(t, &strings.Builder{}))
		if err != nil {
			t.Fatal(err)
		}
		spec, st, err := d.findStack(ctxT(t, 5*time.Second), stackSpec{Name: cfg.ServiceStackName(), For: cfg.serviceStackFor()}, cfg.legacyServiceStackName())
		if err != nil {
			t.Fatal(err)
		}
		if spec.Name != tc.want || (st != nil) != (tc.want == "facectl-my-cluster-web") {
			t.Errorf("tag %s: stack %s (%v), want %s", tc.tag, spec.Name, st != nil, tc.want)
		}
	}
}

// TestLengthLimitsOfDerivedNames (issue 15 item 14): names AWS would reject (stack tag value >
// 256, scaling policy name > 256) are refused by Validate, and the security groups'
// descriptions are cut to 255 for the longest service name accepted.
func TestLengthLimitsOfDerivedNames(t *testing.T) {
	long := strings.Repeat("s", 255)
	c := DefaultConfig()
	c.Service = long
	err := c.Validate()
	for _, want := range []string{"would have 271 characters, AWS takes 256", "policy name <service>-requests would have 264"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("service of 255: %v, want %q", err, want)
		}
	}
	c.Cluster, c.Service, c.AutoScaling.Enabled = "c", strings.Repeat("s", 240), false
	if err := c.Validate(); err != nil {
		t.Fatalf("service of 240 in cluster c: %v", err)
	}
	tmpl := serviceTemplateOf(t, c)
	for _, id := range []string{"LoadBalancerSecurityGroup", "TaskSecurityGroup"} {
		if d := resourceProps(t, tmpl, id)["GroupDescription"].(string); len(d) > 255 {
			t.Errorf("%s description has %d characters, EC2 takes 255", id, len(d))
		}
	}
	if len(c.ServiceStackName()) > 128 || len(c.BoundaryName()) > 128 {
		t.Errorf("names too long: %s, %s", c.ServiceStackName(), c.BoundaryName())
	}
	c.Cluster = "bad name!"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `deploy.cluster: "bad name!" must be`) {
		t.Errorf("bad cluster name: %v", err)
	}
}
