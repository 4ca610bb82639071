package deploy

import (
	"encoding/json"
	"strings"
	"testing"
)

var testNet = envNetwork{VPC: "vpc-1", Subnets: []string{"subnet-1", "subnet-2"}, LBSubnets: []string{"subnet-1", "subnet-2"}, PublicIP: true}

func serviceTemplateOf(t *testing.T, cfg Config) map[string]any {
	t.Helper()
	d, err := New(cfg, stubDepsForTemplate(t))
	if err != nil {
		t.Fatal(err)
	}
	var tmpl map[string]any
	if err := json.Unmarshal([]byte(d.ServiceTemplate(testNet)), &tmpl); err != nil {
		t.Fatal(err)
	}
	return tmpl
}

// TestNLBWithCertificateHasNoPlaintextListener: an NLB cannot redirect HTTP to HTTPS, so a
// port-80 listener beside the TLS one would carry API keys in clear (issue 15 item 2).
func TestNLBWithCertificateHasNoPlaintextListener(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Service = "api"
	cfg.LoadBalancer.Type = "network"
	cfg.LoadBalancer.CertificateARN = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
	tmpl := serviceTemplateOf(t, cfg)
	for id, r := range tmpl["Resources"].(map[string]any) {
		r := r.(map[string]any)
		if r["Type"] == "AWS::ElasticLoadBalancingV2::Listener" && r["Properties"].(map[string]any)["Port"] != 443.0 {
			t.Errorf("listener %s: %v, want only 443 (TLS)", id, r["Properties"])
		}
	}
	if sg := mustJSON(resourceProps(t, tmpl, "LoadBalancerSecurityGroup")); strings.Contains(sg, `"FromPort":80,`) {
		t.Errorf("load balancer security group opens 80: %s", sg)
	}
	if l := resourceProps(t, tmpl, "SecureListener"); l["Protocol"] != "TLS" {
		t.Errorf("secure listener = %v", l)
	}
}
